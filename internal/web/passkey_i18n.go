package web

// passkeyMessages are the texts of the passkey pages. They join messages at init so that
// TestEveryMessageTranslated checks them with the rest.
var passkeyMessages = map[string]map[string]string{
	"en": {
		"account_title":      "Sign-in security",
		"account_methods":    "Ways to sign in",
		"factor_password":    "Password",
		"factor_totp":        "Authenticator app",
		"factor_emergency":   "Emergency codes left",
		"factor_passkeys":    "Passkeys and security keys",
		"factor_set":         "Set up",
		"factor_not_set":     "Not set up",
		"passkey_none":       "No passkey is registered yet.",
		"passkey_unnamed":    "Passkey",
		"passkey_created":    "registered",
		"passkey_last_used":  "last used",
		"passkey_never":      "never",
		"passkey_name":       "Name for the new passkey (optional)",
		"passkey_register":   "Register a passkey",
		"passkey_registered": "The passkey was registered. It can be used when your organisation asks for a second factor.",
		"passkey_rename":     "Rename", "passkey_remove": "Remove", "passkey_renamed": "The passkey was renamed.", "passkey_removed": "The passkey was removed.",
		"passkey_mfa_first":   "Before adding a passkey, confirm it is you with a second factor you already have.",
		"passkey_verify_now":  "Confirm with a second factor",
		"passkey_not_here":    "Your organisation does not allow setting up a first second factor from here (for example, outside the office). Contact your administrator.",
		"passkey_use":         "Use a passkey",
		"passkey_working":     "Follow the instructions of your browser or security key…",
		"passkey_cancelled":   "The passkey operation was cancelled or timed out. Try again.",
		"passkey_unsupported": "This browser does not support passkeys.",
		"passkey_failed":      "The passkey could not be verified. Use a passkey registered for this account.",
		"passkey_expired":     "The request expired. Try again.",
		"passkey_duplicate":   "This passkey is already registered.",
		"passkey_too_many":    "You have registered the maximum number of passkeys. Ask your administrator to remove one.",
		"passkey_cloned":      "This passkey was refused because its use counter went backwards, which can mean it was copied. Contact your administrator.",
		"mfa_prompt_passkey":  "Your organisation asks for a second factor for this sign-in. Use your passkey or security key.",
	},
	"ja": {
		"account_title":      "サインインのセキュリティ",
		"account_methods":    "サインインの方法",
		"factor_password":    "パスワード",
		"factor_totp":        "認証アプリ",
		"factor_emergency":   "残りの緊急用コード",
		"factor_passkeys":    "パスキーとセキュリティ キー",
		"factor_set":         "設定済み",
		"factor_not_set":     "未設定",
		"passkey_none":       "パスキーはまだ登録されていません。",
		"passkey_unnamed":    "パスキー",
		"passkey_created":    "登録日時",
		"passkey_last_used":  "最終使用",
		"passkey_never":      "未使用",
		"passkey_name":       "新しいパスキーの名前 (任意)",
		"passkey_register":   "パスキーを登録",
		"passkey_registered": "パスキーを登録しました。組織が 2 段階目の認証を求めるときに使用できます。",
		"passkey_rename":     "名前を変更", "passkey_remove": "削除", "passkey_renamed": "パスキーの名前を変更しました。", "passkey_removed": "パスキーを削除しました。",
		"passkey_mfa_first":   "パスキーを追加する前に、登録済みの 2 段階目の認証で本人確認を行ってください。",
		"passkey_verify_now":  "2 段階目の認証で確認",
		"passkey_not_here":    "組織のポリシーにより、ここ (社外など) からは最初の 2 段階目の認証を設定できません。管理者にお問い合わせください。",
		"passkey_use":         "パスキーを使用",
		"passkey_working":     "ブラウザーまたはセキュリティ キーの指示に従ってください…",
		"passkey_cancelled":   "パスキーの操作がキャンセルされたか、タイムアウトしました。もう一度お試しください。",
		"passkey_unsupported": "このブラウザーはパスキーに対応していません。",
		"passkey_failed":      "パスキーを確認できませんでした。このアカウントに登録したパスキーを使用してください。",
		"passkey_expired":     "要求の有効期限が切れました。もう一度お試しください。",
		"passkey_duplicate":   "このパスキーは既に登録されています。",
		"passkey_too_many":    "登録できるパスキーの上限に達しています。不要なものの削除を管理者に依頼してください。",
		"passkey_cloned":      "使用回数カウンターが巻き戻ったため、このパスキーは拒否されました (複製された可能性があります)。管理者にお問い合わせください。",
		"mfa_prompt_passkey":  "このサインインには 2 段階目の認証が必要です。パスキーまたはセキュリティ キーを使用してください。",
	},
}

func init() {
	for lang, m := range passkeyMessages {
		for k, v := range m {
			if _, dup := messages[lang][k]; dup {
				panic("web: duplicate message key " + k) // a key must have one owner
			}
			messages[lang][k] = v
		}
	}
}
