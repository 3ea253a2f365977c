package console

import "fmt"

// messages holds every string of the console in English and Japanese. A key missing in a
// language renders as ⟦key⟧, which the page walk in the tests fails on.
var messages = map[string]map[string]string{
	"en": {
		"product": "Sekisho", "nav": "Console", "language": "日本語", "signout": "Sign out",
		"nav_dashboard": "Dashboard", "nav_users": "Users", "nav_signins": "Sign-in log", "nav_audit": "Admin audit log", "nav_report": "Legacy-auth report",
		"title_dashboard": "Dashboard", "title_users": "Users", "title_user": "User", "title_signins": "Sign-in log",
		"title_signin": "Sign-in record", "title_audit": "Admin audit log", "title_error": "Something went wrong",
		"dash_total": "sign-ins in the last 24 hours", "dash_denied": "refused or failed", "dash_legacy": "through Exchange Online (legacy clients)",
		"dash_peak": "busiest minute (sign-ins)", "dash_per_minute": "Sign-ins per minute, last 24 hours", "dash_24h_ago": "24 h ago", "dash_now": "now",
		"dash_by_reason": "Refusals by reason, last 24 hours", "dash_no_denials": "No refusals in the last 24 hours.",
		"dash_expiring": "Expiring within 30 days", "dash_nothing_expiring": "No signing key or device certificate expires within 30 days.",
		"kind_signing_key": "token-signing key", "kind_device": "device certificate",
		"col_decision": "Decision", "col_reason": "Reason / rule", "col_count": "Count", "col_kind": "Kind", "col_name": "Name", "col_expires": "Expires",
		"col_upn": "User name (UPN)", "col_display": "Display name", "col_email": "Email", "col_status": "Status", "col_groups": "Groups",
		"col_serial": "Serial", "col_user": "User", "col_app": "Application", "col_client": "Client", "col_time": "Time",
		"col_reference": "Reference ID", "col_device": "Device", "col_actor": "Who", "col_action": "Action", "col_target": "Target",
		"col_via": "Via", "col_change": "Change",
		"search": "Search", "filter": "Filter", "any": "any", "since": "Since",
		"users_shown": "users shown", "users_truncated": "refine the search to see the others",
		"user_add": "Add a user", "user_create": "Create", "user_add_help": "Sekisho chooses a one-time password; the user picks their own at the first sign-in.",
		"user_created": "Created", "one_time_password": "One-time password:", "shown_once": "(shown once: hand it over now)",
		"active": "active", "disabled": "disabled", "must_change": "must choose a new password at the next sign-in",
		"actions": "Actions", "user_disable": "Disable (ends sessions)", "user_enable": "Enable", "user_reset_password": "Reset password (one-time)",
		"user_delete_confirm": "To delete, type the user name", "user_delete": "Delete user",
		"devices": "Device certificates", "no_devices": "No device certificates.", "recent_signins": "Recent sign-ins",
		"signins_shown": "records shown", "signins_truncated": "the newest are shown; narrow the filters or export to see all",
		"no_signins": "No sign-ins match.", "peer": "peer", "forwarded": "forwarded", "forged": "forged forwarding headers (ignored)",
		"rule": "rule", "policy_version": "policy version", "trace": "Why: the policy's trace",
		"audit_shown": "entries shown", "audit_truncated": "the newest are shown; narrow the filters to see older ones",
		"before_after": "before / after", "no_audit": "No changes match.",
		"err_csrf":      "The form expired or was sent from another page. Please try again.",
		"err_not_found": "There is no such record.", "err_delete_confirm": "Type the user name exactly to delete the user.",
		"err_internal":   "The request could not be completed. The details are in the server log.",
		"flash_disabled": "The user is disabled and their sessions have ended.", "flash_enabled": "The user is enabled.",
		"flash_deleted": "The user is deleted.", "flash_password": "The password was reset.",
	},
	"ja": {
		"product": "関所 Sekisho", "nav": "管理コンソール", "language": "English", "signout": "サインアウト",
		"nav_dashboard": "ダッシュボード", "nav_users": "ユーザー", "nav_signins": "サインインログ", "nav_audit": "管理操作ログ", "nav_report": "レガシー認証レポート",
		"title_dashboard": "ダッシュボード", "title_users": "ユーザー", "title_user": "ユーザー", "title_signins": "サインインログ",
		"title_signin": "サインイン記録", "title_audit": "管理操作ログ", "title_error": "エラーが発生しました",
		"dash_total": "過去 24 時間のサインイン", "dash_denied": "拒否・失敗", "dash_legacy": "Exchange Online 経由 (レガシークライアント)",
		"dash_peak": "最も多かった 1 分間 (件)", "dash_per_minute": "1 分あたりのサインイン (過去 24 時間)", "dash_24h_ago": "24 時間前", "dash_now": "現在",
		"dash_by_reason": "拒否の理由 (過去 24 時間)", "dash_no_denials": "過去 24 時間に拒否はありません。",
		"dash_expiring": "30 日以内に期限切れ", "dash_nothing_expiring": "30 日以内に期限切れになる署名鍵・デバイス証明書はありません。",
		"kind_signing_key": "トークン署名鍵", "kind_device": "デバイス証明書",
		"col_decision": "判定", "col_reason": "理由 / ルール", "col_count": "件数", "col_kind": "種類", "col_name": "名前", "col_expires": "有効期限",
		"col_upn": "ユーザー名 (UPN)", "col_display": "表示名", "col_email": "メール", "col_status": "状態", "col_groups": "グループ",
		"col_serial": "シリアル", "col_user": "ユーザー", "col_app": "アプリケーション", "col_client": "クライアント", "col_time": "日時",
		"col_reference": "参照 ID", "col_device": "デバイス", "col_actor": "操作者", "col_action": "操作", "col_target": "対象",
		"col_via": "経路", "col_change": "変更内容",
		"search": "検索", "filter": "絞り込み", "any": "すべて", "since": "期間",
		"users_shown": "人を表示", "users_truncated": "残りを表示するには検索条件を絞ってください",
		"user_add": "ユーザーの追加", "user_create": "作成", "user_add_help": "Sekisho が一時パスワードを発行します。ユーザーは初回サインイン時に自分のパスワードを設定します。",
		"user_created": "作成しました:", "one_time_password": "一時パスワード:", "shown_once": "(表示は一度だけです。今すぐ本人に渡してください)",
		"active": "有効", "disabled": "無効", "must_change": "次回サインイン時にパスワードの変更が必要",
		"actions": "操作", "user_disable": "無効化 (セッションを終了)", "user_enable": "有効化", "user_reset_password": "パスワードをリセット (一時パスワード)",
		"user_delete_confirm": "削除するにはユーザー名を入力", "user_delete": "ユーザーを削除",
		"devices": "デバイス証明書", "no_devices": "デバイス証明書はありません。", "recent_signins": "最近のサインイン",
		"signins_shown": "件を表示", "signins_truncated": "新しいものから表示しています。すべて見るには条件を絞るかエクスポートしてください",
		"no_signins": "該当するサインインはありません。", "peer": "接続元", "forwarded": "転送元", "forged": "偽装された転送ヘッダー (無視)",
		"rule": "ルール", "policy_version": "ポリシー バージョン", "trace": "判定の根拠 (ポリシーのトレース)",
		"audit_shown": "件を表示", "audit_truncated": "新しいものから表示しています。古いものは条件を絞ってください",
		"before_after": "変更前 / 変更後", "no_audit": "該当する変更はありません。",
		"err_csrf":      "フォームの有効期限が切れたか、別のページから送信されました。もう一度お試しください。",
		"err_not_found": "該当する記録はありません。", "err_delete_confirm": "ユーザーを削除するには、ユーザー名を正確に入力してください。",
		"err_internal":   "要求を完了できませんでした。詳細はサーバーのログにあります。",
		"flash_disabled": "ユーザーを無効にし、セッションを終了しました。", "flash_enabled": "ユーザーを有効にしました。",
		"flash_deleted": "ユーザーを削除しました。", "flash_password": "パスワードをリセットしました。",
	},
}

// T returns key in lang; a missing key is visible (⟦key⟧) rather than silently English.
func T(lang, key string) string {
	if m, ok := messages[lang][key]; ok {
		return m
	}
	return fmt.Sprintf("⟦%s⟧", key)
}
