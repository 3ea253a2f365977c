package saml

import (
	"html/template"
	"net/http/httptest"
	"strings"
	"testing"
)

// postPage is the auto-post page as one html/template, as it was before writePostForm wrote
// its fields directly; the page must stay the same but for the escaping of '+' (&#43; there).
var postPage = template.Must(template.Must(pages.Clone()).Parse(`{{define "post"}}{{template "head" "Continue / 続行"}}
<form id="f" method="post" action="{{.URL}}">
<input type="hidden" name="{{.Param}}" value="{{.Value}}">
{{if .RelayState}}<input type="hidden" name="RelayState" value="{{.RelayState}}">{{end}}
<noscript><p>JavaScript is off: press the button to continue.<br><span lang="ja">JavaScript が無効です。ボタンを押して続行してください。</span></p></noscript>
<button type="submit">Continue / 続行</button>
</form>
<script>` + autoSubmit + `</script>
</body></html>{{end}}`))

func TestPostFormAsTemplate(t *testing.T) {
	for _, tc := range []struct{ target, value, rs string }{
		{spACS, `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/>` + "\xfb\xff", "ss:mem:abc"},
		{spACS + "?a=1&b=<x>", `a"b'c&d<e>f` + "\x00g", `r"s'&<>` + "\x00"},
		{"https://sp.example.com/日本/acs", "v", ""},
		{"javascript:alert(1)", "v", "rs"},
	} {
		rec := httptest.NewRecorder()
		writePostForm(rec, tc.target, "SAMLResponse", []byte(tc.value), tc.rs)
		var want strings.Builder
		if err := postPage.ExecuteTemplate(&want, "post", struct{ URL, Param, Value, RelayState string }{tc.target, "SAMLResponse", b64([]byte(tc.value)), tc.rs}); err != nil {
			t.Fatal(err)
		}
		if got, w := rec.Body.String(), strings.ReplaceAll(want.String(), "&#43;", "+"); got != w {
			t.Errorf("page differs:\n got %q\nwant %q", got, w)
		}
	}
}
