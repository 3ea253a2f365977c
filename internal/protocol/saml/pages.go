package saml

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
	"sync"
)

// Pages a person sees: English and Japanese, no external resources.
var pages = template.Must(template.New("").Parse(`
{{define "head"}}<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>{{.}}</title>
<style>body{font-family:sans-serif;max-width:40em;margin:3em auto;padding:0 1em;color:#222}code{background:#eee;padding:0 .3em}</style></head><body>{{end}}

{{define "error"}}{{template "head" "Sign-in error / サインインエラー"}}
{{if .Internal}}<h1>Sign-in could not be completed</h1>
<p>Sekisho could not complete this sign-in. Please try again in a moment.</p>
<h1 lang="ja">サインインを完了できませんでした</h1>
<p lang="ja">Sekisho でこのサインインを完了できませんでした。しばらくしてから再度お試しください。</p>
{{else}}<h1>Sign-in request rejected</h1>
<p>The application sent a sign-in or sign-out request that Sekisho cannot accept.</p>
<h1 lang="ja">サインイン要求を受け付けられません</h1>
<p lang="ja">アプリケーションから送られた要求を Sekisho は受け付けられませんでした。</p>{{end}}
{{if .Reference}}<p>Reference / 参照番号: <code id="reference">{{.Reference}}</code></p>{{end}}
<p>Please return to the application and try again, or give the reference to your administrator.<br>
<span lang="ja">アプリケーションに戻ってやり直すか、参照番号を管理者に伝えてください。</span></p>
</body></html>{{end}}

{{define "denied"}}{{template "head" "Access denied / アクセス拒否"}}
<h1>Access denied</h1>
<h1 lang="ja">アクセスが拒否されました</h1>
{{if .Message}}<p>{{.Message}}</p>{{end}}
<p>Your sign-in to <code>{{.App}}</code> was not allowed.<br><span lang="ja"><code>{{.App}}</code> へのサインインは許可されませんでした。</span></p>
{{if .EventID}}<p>Reference / 参照番号: <code id="reference">{{.EventID}}</code></p>{{end}}
<p>Give this reference to your administrator if you need help.<br><span lang="ja">お問い合わせの際は、この参照番号を管理者にお伝えください。</span></p>
</body></html>{{end}}

{{define "signedout"}}{{template "head" "Signed out / サインアウト"}}
<h1>You are signed out</h1>
<h1 lang="ja">サインアウトしました</h1>
</body></html>{{end}}

{{define "post-head"}}{{template "head" "Continue / 続行"}}
<form id="f" method="post" action="{{.}}">
{{end}}
`))

const autoSubmit = `document.getElementById('f').submit();`

// postTail ends the auto-post page after its fields.
const postTail = `
<noscript><p>JavaScript is off: press the button to continue.<br><span lang="ja">JavaScript が無効です。ボタンを押して続行してください。</span></p></noscript>
<button type="submit">Continue / 続行</button>
</form>
<script>` + autoSubmit + `</script>
</body></html>`

var autoSubmitHash = func() string {
	h := sha256.Sum256([]byte(autoSubmit))
	return "'sha256-" + base64.StdEncoding.EncodeToString(h[:]) + "'"
}()

func noStore(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
}

func renderPage(w http.ResponseWriter, status int, name string, data any) {
	noStore(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	w.WriteHeader(status)
	_ = pages.ExecuteTemplate(w, name, data)
}

// postHeads caches the rendered page head per target: the same registered endpoints are
// answered again and again, and executing the template costs as much as building the
// response. Bounded: when full it is emptied (targets are registered endpoints, a handful).
var postHeads struct {
	sync.Mutex
	m map[string][]byte
}

func postHead(target string) []byte {
	postHeads.Lock()
	head, ok := postHeads.m[target]
	postHeads.Unlock()
	if ok {
		return head
	}
	var b bytes.Buffer
	_ = pages.ExecuteTemplate(&b, "post-head", target)
	head = b.Bytes()
	postHeads.Lock()
	if postHeads.m == nil || len(postHeads.m) >= 256 {
		postHeads.m = map[string][]byte{}
	}
	postHeads.m[target] = head
	postHeads.Unlock()
	return head
}

// writePostForm answers with an auto-submitting form to target (a registered endpoint) whose
// field param carries message in base64. The CSP allows only this page's own script and form
// submission only to target's origin.
func writePostForm(w http.ResponseWriter, target, param string, message []byte, relayState string) {
	noStore(w)
	origin := target
	if u, err := url.Parse(target); err == nil {
		origin = u.Scheme + "://" + u.Host
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; script-src "+autoSubmitHash+"; form-action "+origin+"; frame-ancestors 'none'")
	w.WriteHeader(http.StatusOK)
	// The page head and the form's action go through html/template (URL context); the fields
	// are written directly: html/template's reflection and per-rune escaping of a 10 KB value
	// cost more than the rest of the page. Base64 needs no HTML escaping; RelayState is
	// escaped by the standard library.
	head := postHead(target)
	b := make([]byte, 0, len(head)+base64.StdEncoding.EncodedLen(len(message))+len(relayState)+600)
	b = append(b, head...)
	b = append(b, `<input type="hidden" name="`...)
	b = append(b, template.HTMLEscapeString(param)...)
	b = append(b, `" value="`...)
	b = base64.StdEncoding.AppendEncode(b, message)
	b = append(b, "\">\n"...)
	if relayState != "" {
		b = append(b, `<input type="hidden" name="RelayState" value="`...)
		b = append(b, template.HTMLEscapeString(relayState)...)
		b = append(b, `">`...)
	}
	b = append(b, postTail...)
	_, _ = w.Write(b)
}
