package web

import (
	"net/http"
	"strconv"
	"strings"
)

// messages holds every string a person sees, in English and Japanese.
var messages = map[string]map[string]string{
	"en": {
		"title":            "Sign in",
		"product":          "Sekisho",
		"username":         "User name",
		"username_help":    "Your work account, such as alice@example.com",
		"password":         "Password",
		"next":             "Next",
		"signin":           "Sign in",
		"back":             "Use another account",
		"bad_credentials":  "The user name or password is incorrect. After repeated failures, sign-in is paused for a while: try again later or contact your administrator.",
		"change_note":      "Your password was set by an administrator. Choose a new password to continue.",
		"new_password":     "New password",
		"confirm_password": "New password again",
		"change_password":  "Change password and continue",
		"change_expired":   "The password change took too long or was already made. Sign in again.",
		"pw_mismatch":      "The two new passwords differ.",
		"pw_too_short":     "The new password is too short.",
		"pw_min":           "Minimum length:",
		"pw_too_long":      "The new password is too long (at most 1024 bytes).",
		"pw_common":        "The new password is on the list of commonly used passwords. Choose another.",
		"pw_contains_user": "The new password must not contain your user name.",
		"pw_same_as_old":   "The new password must differ from the current one.",
		"disabled":         "This account is disabled. Contact your administrator.",
		"expired":          "Your sign-in session expired. Please sign in again.",
		"csrf":             "The form expired or was sent from another page. Please try again.",
		"denied_title":     "Access denied",
		"denied":           "Your organisation's access policy does not allow this sign-in.",
		"reference":        "Reference ID",
		"reference_help":   "Give this ID to your administrator; it identifies this sign-in in the log.",
		"signed_out_title": "Signed out",
		"signed_out":       "You have signed out.",
		"signed_in_title":  "Signed in",
		"signed_in":        "You are signed in as",
		"signout":          "Sign out",
		"language":         "日本語",
		"error_title":      "Something went wrong",
		"error":            "The request could not be processed.",
		"force_note":       "The application asks you to enter your password again.",
		"mfa_title":        "Second factor",
		"mfa_prompt":       "Your organisation asks for a second factor for this sign-in. Enter the 6-digit code from your authenticator app, or an emergency code.",
		"mfa_code":         "Code",
		"mfa_verify":       "Verify",
		"mfa_wrong":        "The code is incorrect or was already used.",
		"mfa_limited":      "Too many attempts. Wait a few minutes and try again.",
		"mfa_none":         "A second factor is required, but none is enrolled for your account. Contact your administrator.",
		"mfa_enrol":        "Set up an authenticator app now",
		"portal_title":     "My account", "portal_apps": "My applications", "portal_security": "Second factors and passkeys", "portal_password": "Change password",
		"portal_signins": "My recent sign-ins", "portal_time": "Time", "portal_app": "Application", "portal_decision": "Decision",
		"portal_no_signins": "No sign-ins in the last 30 days.", "portal_signins_help": "A sign-in you do not recognise? Change your password and tell your administrator the time.",
		"portal_devices": "My device certificates", "portal_device": "Device", "portal_status": "Status", "portal_expires": "Expires",
		"portal_no_devices": "No device certificates.", "current_password": "Current password", "portal_back": "Back to my account",
		"portal_password_done": "Your password is changed. Every session has ended: sign in again with the new password.",
		"totp_title":           "Set up an authenticator app",
		"totp_prompt":          "Scan the QR code with an authenticator app (Microsoft Authenticator, Google Authenticator, 1Password…), then enter the 6-digit code it shows.",
		"totp_secret":          "Or type this key",
		"totp_done":            "Your authenticator app is set up. It will be asked for when your organisation's policy requires a second factor.",
		"totp_verify_first":    "Verify with your current second factor before setting up another one.",
		"continue":             "Continue",
	},
	"ja": {
		"title":            "サインイン",
		"product":          "関所 Sekisho",
		"username":         "ユーザー名",
		"username_help":    "職場のアカウント（例: alice@example.com）",
		"password":         "パスワード",
		"next":             "次へ",
		"signin":           "サインイン",
		"back":             "別のアカウントを使用",
		"bad_credentials":  "ユーザー名またはパスワードが正しくありません。失敗が続くと、しばらくサインインできなくなります。時間をおいて再度お試しいただくか、管理者にお問い合わせください。",
		"change_note":      "このパスワードは管理者が設定したものです。続行するには新しいパスワードを設定してください。",
		"new_password":     "新しいパスワード",
		"confirm_password": "新しいパスワード (確認)",
		"change_password":  "パスワードを変更して続行",
		"change_expired":   "パスワード変更の有効期限が切れたか、既に変更済みです。もう一度サインインしてください。",
		"pw_mismatch":      "2 つの新しいパスワードが一致しません。",
		"pw_too_short":     "新しいパスワードが短すぎます。",
		"pw_min":           "最小文字数:",
		"pw_too_long":      "新しいパスワードが長すぎます (最大 1024 バイト)。",
		"pw_common":        "新しいパスワードはよく使われるパスワードの一覧に含まれています。別のパスワードを選んでください。",
		"pw_contains_user": "新しいパスワードにユーザー名を含めることはできません。",
		"pw_same_as_old":   "新しいパスワードは現在のパスワードと異なる必要があります。",
		"disabled":         "このアカウントは無効になっています。管理者にお問い合わせください。",
		"expired":          "サインインの有効期限が切れました。もう一度サインインしてください。",
		"csrf":             "フォームの有効期限が切れたか、別のページから送信されました。もう一度お試しください。",
		"denied_title":     "アクセスが拒否されました",
		"denied":           "組織のアクセスポリシーにより、このサインインは許可されていません。",
		"reference":        "参照 ID",
		"reference_help":   "この ID を管理者にお伝えください。サインイン ログでこのサインインを特定できます。",
		"signed_out_title": "サインアウトしました",
		"signed_out":       "サインアウトしました。",
		"signed_in_title":  "サインイン済み",
		"signed_in":        "サインイン中のユーザー:",
		"signout":          "サインアウト",
		"language":         "English",
		"error_title":      "エラーが発生しました",
		"error":            "要求を処理できませんでした。",
		"force_note":       "アプリケーションがパスワードの再入力を求めています。",
		"mfa_title":        "2 段階目の認証",
		"mfa_prompt":       "このサインインには 2 段階目の認証が必要です。認証アプリに表示される 6 桁のコード、または緊急用コードを入力してください。",
		"mfa_code":         "コード",
		"mfa_verify":       "確認",
		"mfa_wrong":        "コードが正しくないか、既に使用されています。",
		"mfa_limited":      "試行回数が上限に達しました。数分待ってから再度お試しください。",
		"mfa_none":         "2 段階目の認証が必要ですが、このアカウントには登録されていません。管理者にお問い合わせください。",
		"mfa_enrol":        "今すぐ認証アプリを設定する",
		"portal_title":     "マイアカウント", "portal_apps": "マイアプリケーション", "portal_security": "2 段階目の認証とパスキー", "portal_password": "パスワードの変更",
		"portal_signins": "最近のサインイン", "portal_time": "日時", "portal_app": "アプリケーション", "portal_decision": "判定",
		"portal_no_signins": "過去 30 日間のサインインはありません。", "portal_signins_help": "心当たりのないサインインがありますか？パスワードを変更し、その日時を管理者に伝えてください。",
		"portal_devices": "デバイス証明書", "portal_device": "デバイス", "portal_status": "状態", "portal_expires": "有効期限",
		"portal_no_devices": "デバイス証明書はありません。", "current_password": "現在のパスワード", "portal_back": "マイアカウントに戻る",
		"portal_password_done": "パスワードを変更しました。すべてのセッションを終了しました。新しいパスワードでサインインし直してください。",
		"totp_title":           "認証アプリの設定",
		"totp_prompt":          "認証アプリ (Microsoft Authenticator、Google Authenticator、1Password など) で QR コードを読み取り、表示された 6 桁のコードを入力してください。",
		"totp_secret":          "または次のキーを入力",
		"totp_done":            "認証アプリの設定が完了しました。組織のポリシーで 2 段階目の認証が必要なときに使用されます。",
		"totp_verify_first":    "別の認証方法を設定する前に、現在の 2 段階目の認証で確認してください。",
		"continue":             "続行",
	},
}

const langCookie = "sekisho_lang"

// Lang picks the page language: ?lang= (remembered in a cookie), the cookie, then
// Accept-Language (first of ja/en by q order), else English.
func Lang(w http.ResponseWriter, r *http.Request) string {
	if l := r.URL.Query().Get("lang"); l == "ja" || l == "en" {
		if w != nil {
			http.SetCookie(w, &http.Cookie{Name: langCookie, Value: l, Path: "/", Secure: true, HttpOnly: true,
				SameSite: http.SameSiteLaxMode, MaxAge: 365 * 24 * 3600})
		}
		return l
	}
	if c, err := r.Cookie(langCookie); err == nil && (c.Value == "ja" || c.Value == "en") {
		return c.Value
	}
	return FromAcceptLanguage(r.Header.Get("Accept-Language"))
}

// FromAcceptLanguage returns "ja" or "en" from an Accept-Language header.
func FromAcceptLanguage(h string) string {
	best, bestQ := "en", -1.0
	for _, part := range strings.Split(h, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		base := strings.ToLower(strings.SplitN(tag, "-", 2)[0])
		if (base == "ja" || base == "en") && q > bestQ {
			best, bestQ = base, q
		}
	}
	return best
}

// T returns the message key in lang.
func T(lang, key string) string {
	if m, ok := messages[lang][key]; ok {
		return m
	}
	return messages["en"][key]
}
