package web

import (
	"html/template"
	"log/slog"
	"net/http"

	"github.com/sekisho/sekisho/internal/protocol/oidc"
)

var deviceTmpl = template.Must(template.New("").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/device.html"))

// RenderDevice renders the OpenID Connect device grant's page for the user (entering the code
// shown on the device, confirming the application, the outcome); the form posts back with the
// page's CSRF token.
func RenderDevice(w http.ResponseWriter, r *http.Request, status int, v oidc.DeviceView) {
	h := &Handler{Log: slog.Default()}
	h.render(w, r, deviceTmpl, status, page{TitleKey: "device_title", ErrorKey: v.ErrorKey, Device: &v})
}

// deviceMessages are the device page's texts; they join messages at init.
var deviceMessages = map[string]map[string]string{
	"en": {
		"device_title":    "Sign in on a device",
		"device_enter":    "Enter the code shown on your device or in your command-line tool.",
		"device_code":     "Code",
		"device_continue": "Continue",
		"device_confirm":  "A device asks to sign in to this application as you. Approve only if you started this sign-in yourself and the code below is the one your device shows.",
		"device_app":      "Application",
		"device_scopes":   "Access asked for",
		"device_approve":  "Approve",
		"device_deny":     "Refuse",
		"device_approved": "Done. Go back to your device: it is signed in within a few seconds. You can close this page.",
		"device_refused":  "The sign-in was refused. The device will not be signed in.",
		"bad_code":        "This code is unknown, has expired or was used already. Check the code on your device, or start again there.",
	},
	"ja": {
		"device_title":    "デバイスでのサインイン",
		"device_enter":    "デバイスまたはコマンドライン ツールに表示されたコードを入力してください。",
		"device_code":     "コード",
		"device_continue": "次へ",
		"device_confirm":  "デバイスがあなたとしてこのアプリケーションへのサインインを求めています。ご自身で開始したサインインで、下のコードがデバイスの表示と同じ場合にのみ承認してください。",
		"device_app":      "アプリケーション",
		"device_scopes":   "要求されたアクセス",
		"device_approve":  "承認する",
		"device_deny":     "拒否する",
		"device_approved": "完了しました。デバイスに戻ってください。数秒でサインインします。このページは閉じてかまいません。",
		"device_refused":  "サインインを拒否しました。デバイスはサインインされません。",
		"bad_code":        "このコードは不明か、期限切れか、使用済みです。デバイスのコードを確認するか、デバイスでやり直してください。",
	},
}

func init() {
	for lang, m := range deviceMessages {
		for k, v := range m {
			if _, dup := messages[lang][k]; dup {
				panic("web: duplicate message key " + k)
			}
			messages[lang][k] = v
		}
	}
}
