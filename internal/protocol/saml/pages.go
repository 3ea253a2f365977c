package saml

import (
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
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

{{define "post"}}{{template "head" "Continue / 続行"}}
<form id="f" method="post" action="{{.URL}}">
<input type="hidden" name="{{.Param}}" value="{{.Value}}">
{{if .RelayState}}<input type="hidden" name="RelayState" value="{{.RelayState}}">{{end}}
<noscript><p>JavaScript is off: press the button to continue.<br><span lang="ja">JavaScript が無効です。ボタンを押して続行してください。</span></p></noscript>
<button type="submit">Continue / 続行</button>
</form>
<script>` + autoSubmit + `</script>
</body></html>{{end}}
`))

const autoSubmit = `document.getElementById('f').submit();`

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

// writePostForm answers with an auto-submitting form to target (a registered endpoint). The
// CSP allows only this page's own script and form submission only to target's origin.
func writePostForm(w http.ResponseWriter, target, param, value, relayState string) {
	noStore(w)
	origin := target
	if u, err := url.Parse(target); err == nil {
		origin = u.Scheme + "://" + u.Host
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; script-src "+autoSubmitHash+"; form-action "+origin+"; frame-ancestors 'none'")
	w.WriteHeader(http.StatusOK)
	_ = pages.ExecuteTemplate(w, "post", struct{ URL, Param, Value, RelayState string }{target, param, value, relayState})
}
