package wsfed

import (
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/http"
)

// autoSubmit is the only script on the POST page; CSP allows exactly it by hash.
const autoSubmit = `document.getElementById("wsfed").submit();`

var autoSubmitHash = func() string {
	s := sha256.Sum256([]byte(autoSubmit))
	return "'sha256-" + base64.StdEncoding.EncodeToString(s[:]) + "'"
}()

var postForm = template.Must(template.New("post").Parse(`<!DOCTYPE html>
<html lang="ja"><head><meta charset="utf-8"><title>Microsoft 365 へサインイン中 / Signing in to Microsoft 365</title></head>
<body>
<form id="wsfed" method="post" action="{{.Action}}">
<input type="hidden" name="wa" value="wsignin1.0">
<input type="hidden" name="wresult" value="{{.WResult}}">
{{if .WCtx}}<input type="hidden" name="wctx" value="{{.WCtx}}">{{end}}
<noscript><p>JavaScript が無効です。続行するにはボタンを押してください。 / JavaScript is off: press the button to continue.</p>
<button type="submit">続行 / Continue</button></noscript>
</form>
<script>` + autoSubmit + `</script>
</body></html>
`))

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
