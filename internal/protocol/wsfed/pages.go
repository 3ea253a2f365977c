package wsfed

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"io"
	"net/http"
)

// autoSubmit is the only script on the POST page; CSP allows exactly it by hash.
const autoSubmit = `document.getElementById("wsfed").submit();`

var autoSubmitHash = func() string {
	s := sha256.Sum256([]byte(autoSubmit))
	return "'sha256-" + base64.StdEncoding.EncodeToString(s[:]) + "'"
}()

// postHead is the sign-in page up to its fields; the form's action goes through
// html/template (URL context). It is rendered once per handler (renderPostHead: the reply
// URL is configuration); the fields are written by writePostForm.
var postHead = template.Must(template.New("post").Parse(`<!DOCTYPE html>
<html lang="ja"><head><meta charset="utf-8"><title>Microsoft 365 へサインイン中 / Signing in to Microsoft 365</title></head>
<body>
<form id="wsfed" method="post" action="{{.}}">
`))

func renderPostHead(action string) ([]byte, error) {
	var b bytes.Buffer
	if err := postHead.Execute(&b, action); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

const postTail = `<noscript><p>JavaScript が無効です。続行するにはボタンを押してください。 / JavaScript is off: press the button to continue.</p>
<button type="submit">続行 / Continue</button></noscript>
</form>
<script>` + autoSubmit + `</script>
</body></html>
`

// writePostForm writes the auto-posting sign-in page. The fields are HTML-escaped by the
// standard library (template.HTMLEscape, the escaper html/template's own HTMLEscapeString is)
// and written directly: html/template's per-rune escaping of a 6 KB wresult cost as much as
// building it.
func writePostForm(w io.Writer, head, wresult []byte, wctx string) error {
	var b bytes.Buffer
	b.Grow(len(head) + len(wresult)*3/2 + len(wctx) + 600)
	b.Write(head)
	b.WriteString("<input type=\"hidden\" name=\"wa\" value=\"wsignin1.0\">\n<input type=\"hidden\" name=\"wresult\" value=\"")
	template.HTMLEscape(&b, wresult)
	b.WriteString("\">\n")
	if wctx != "" {
		b.WriteString(`<input type="hidden" name="wctx" value="`)
		b.WriteString(template.HTMLEscapeString(wctx))
		b.WriteString(`">`)
	}
	b.WriteString("\n")
	b.WriteString(postTail)
	_, err := w.Write(b.Bytes())
	return err
}

var messagePage = template.Must(template.New("msg").Parse(`<!DOCTYPE html>
<html lang="ja"><head><meta charset="utf-8"><title>{{.TitleJA}} / {{.TitleEN}}</title></head>
<body>
<h1>{{.TitleJA}}<br>{{.TitleEN}}</h1>
<p>{{.TextJA}}</p>
<p>{{.TextEN}}</p>
{{if .Message}}<p>{{.Message}}</p>{{end}}
{{if .EventID}}<p>参照番号 / Reference: <code id="reference">{{.EventID}}</code></p>{{end}}
</body></html>
`))

type message struct {
	TitleJA, TitleEN, TextJA, TextEN string
	Message                          string // admin-provided text from the gate
	EventID                          string
}

// securityHeaders sets CSP and caching. The POST page has no form-action directive:
// browsers apply it to the redirects that follow the POST at login.srf too.
func securityHeaders(w http.ResponseWriter, script bool) {
	csp := "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'"
	if script {
		csp += "; script-src " + autoSubmitHash
	} else {
		csp += "; form-action 'none'"
	}
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Type", "text/html; charset=utf-8")
}

func writeMessage(w http.ResponseWriter, status int, m message) {
	securityHeaders(w, false)
	w.WriteHeader(status)
	_ = messagePage.Execute(w, m)
}
