package report

import "fmt"

// msgs holds every text a person reads, in English and Japanese: key → {en, ja}.
var msgs = map[string][2]string{
	// protocol families
	"fam.outlook":      {"Outlook (RPC/MAPI)", "Outlook (RPC/MAPI)"},
	"fam.eas":          {"Exchange ActiveSync", "Exchange ActiveSync (EAS)"},
	"fam.ews":          {"Exchange Web Services", "Exchange Web Services (EWS)"},
	"fam.imap":         {"IMAP", "IMAP"},
	"fam.pop":          {"POP", "POP"},
	"fam.smtp":         {"SMTP AUTH", "SMTP AUTH"},
	"fam.powershell":   {"Remote PowerShell", "リモート PowerShell"},
	"fam.autodiscover": {"Autodiscover / OAB", "自動検出 (Autodiscover) / OAB"},
	"fam.other-legacy": {"Other legacy clients", "その他のレガシークライアント"},
	"fam.browser":      {"Modern (browser)", "先進認証(ブラウザー)"},
	"fam.modern-app":   {"Modern (app)", "先進認証(アプリ)"},
	"fam.bridge":       {"Sekisho mail bridge", "Sekisho メールブリッジ"},

	// retirement status
	"status.modern":  {"Not affected", "影響なし"},
	"status.blocked": {"Basic auth blocked since 1 Oct 2022", "基本認証は2022年10月1日からブロック済み"},
	"status.blocked_ews_retire": {"Basic auth blocked since 1 Oct 2022; EWS itself is blocked by default from 1 Oct 2026 and shut down on 1 Apr 2027",
		"基本認証は2022年10月1日からブロック済み。EWS 自体も2026年10月1日から既定でブロックされ、2027年4月1日に停止されます"},
	"status.ews_blocked":  {"EWS blocked by default since 1 Oct 2026; shut down on 1 Apr 2027", "EWS は2026年10月1日から既定でブロック。2027年4月1日に停止されます"},
	"status.ews_shutdown": {"EWS shut down since 1 Apr 2027", "EWS は2027年4月1日に停止済み"},
	"status.smtp_scheduled": {"Basic auth still works; disabled by default at the end of December 2026, final removal date to be announced in 2027",
		"基本認証はまだ利用可能。2026年12月末に既定で無効化され、最終的な廃止日は2027年に発表予定です"},
	"status.smtp_off_default": {"Basic auth disabled by default since the end of December 2026 (admins can re-enable it until the final removal)",
		"2026年12月末から基本認証は既定で無効(最終廃止までは管理者が再有効化できます)"},
	"status.legacy_other": {"Legacy authentication, protocol not identified: check the client", "レガシー認証(プロトコル不明)。クライアントを確認してください"},

	// migrations
	"mig.outlook_modern": {"Outlook with modern authentication (tenant switch OAuth2ClientProfileEnabled; Outlook 2016 or later)",
		"先進認証の Outlook(テナント設定 OAuth2ClientProfileEnabled を有効化。Outlook 2016 以降)"},
	"mig.outlook_mobile":    {"Outlook mobile (OAuth)", "Outlook モバイル(OAuth)"},
	"mig.native_mail_oauth": {"iOS/Android mail app with OAuth", "OAuth 対応の iOS/Android 標準メールアプリ"},
	"mig.graph_delegated":   {"Microsoft Graph with OAuth, delegated permissions", "Microsoft Graph(OAuth、委任されたアクセス許可)"},
	"mig.graph_app_only":    {"Microsoft Graph app-only (client credentials)", "Microsoft Graph のアプリ専用アクセス(クライアント資格情報)"},
	"mig.oauth_mail_client": {"OAuth-capable mail client (Outlook, Thunderbird)", "OAuth 対応メールクライアント(Outlook、Thunderbird など)"},
	"mig.mail_bridge": {"Sekisho mail bridge: give the device an app password (sekisho bridge credential issue; docs/mail-bridge.md). It keeps sending a user name and password; the bridge checks the policy on every connection and uses XOAUTH2 towards Microsoft",
		"Sekisho メールブリッジ: 機器にアプリパスワードを発行します(sekisho bridge credential issue、docs/mail-bridge.md)。機器はユーザー名とパスワードのまま。ブリッジが接続ごとにポリシーを判定し、Microsoft へは XOAUTH2 で接続します"},
	"mig.smtp_oauth":      {"SMTP AUTH with OAuth (XOAUTH2)", "OAuth による SMTP AUTH (XOAUTH2)"},
	"mig.smtp_app_only":   {"SMTP with app-only OAuth (SMTP.SendAsApp)", "アプリ専用 OAuth による SMTP (SMTP.SendAsApp)"},
	"mig.connector_relay": {"Connector relay (mail flow connector by IP address or certificate; no user sign-in)", "コネクタ経由のリレー(IP アドレスまたは証明書で認証するコネクタ。ユーザーのサインインなし)"},
	"mig.exo_v3":          {"Exchange Online PowerShell module (v3) with modern authentication", "先進認証の Exchange Online PowerShell モジュール (v3)"},
	"mig.identify_client": {"Identify the client from its user agent, then move it to modern authentication", "ユーザーエージェントからクライアントを特定し、先進認証へ移行してください"},
	"mig.none":            {"No migration needed", "移行不要"},

	// enforcement
	"enf.every-connection": {"Every connection", "接続ごと"},
	"enf.sign-in-only":     {"Sign-in only", "サインイン時のみ"},
	"enf.never":            {"Never (bypasses the IdP)", "適用されない(IdP を経由しない)"},

	// risks
	"sev.high":   {"High", "高"},
	"sev.medium": {"Medium", "中"},
	"sev.info":   {"Info", "情報"},
	"risk.token_outlives_network": {"Today the IdP judges every connection with the client's address (%d%% of these sign-ins come from outside the named networks). After the move it judges the sign-in only: a token obtained inside the office keeps refreshing outside it.",
		"現在は IdP が接続ごとにクライアントのアドレスで判定しています(このうち %d%% は社内ネットワーク外から)。移行後はサインイン時にしか判定されないため、社内で取得したトークンは社外でも更新され続けます。"},
	"risk.blocked_outside_opens": {"%d address(es) outside the named networks are blocked today; after the move this access would be allowed once the user has signed in inside, because tokens refresh without the IdP.",
		"社内ネットワーク外の %d 個のアドレスからのアクセスは現在ブロックされていますが、移行後は社内で一度サインインすれば許可されてしまいます(トークンは IdP を経由せずに更新されるため)。"},
	"risk.app_only_bypass": {"App-only access (client credentials) never reaches the IdP, so IP rules at the IdP stop applying; limit the app with Exchange RBAC for Applications and Conditional Access for workload identities.",
		"アプリ専用アクセス(クライアント資格情報)は IdP を経由しないため、IdP の IP 制限は適用されなくなります。Exchange の RBAC for Applications とワークロード ID 向けの条件付きアクセスでアプリを制限してください。"},
	"risk.cloud_sync": {"Outlook mobile syncs mail through Microsoft's cloud: after the one sign-in the IdP no longer sees the device's address.",
		"Outlook モバイルは Microsoft のクラウド経由でメールを同期するため、最初のサインイン後は IdP からデバイスのアドレスが見えなくなります。"},
	"risk.interactive_needed": {"After the move the client must complete an interactive sign-in in a web view, where the rules for rich clients (MFA, device certificate) apply: access allowed today may then be refused. Devices and apps that cannot show a sign-in window stop working.",
		"移行後はクライアントが Web ビューで対話型サインインを行う必要があり、リッチクライアント向けのルール(多要素認証、デバイス証明書)が適用されます。現在許可されているアクセスが拒否される場合があります。サインイン画面を表示できない機器やアプリは動作しなくなります。"},
	"risk.newly_blocked": {"%d address(es) allowed today would be refused (or need MFA or a device certificate) at the new sign-in under the current policy.",
		"現在許可されている %d 個のアドレスは、現行ポリシーでは移行後のサインインで拒否(または多要素認証・デバイス証明書が必要)になります。"},
	"risk.newly_allowed": {"%d address(es) blocked today would be allowed at the new sign-in under the current policy.",
		"現在ブロックされている %d 個のアドレスは、現行ポリシーでは移行後のサインインで許可されます。"},
	"risk.mfa_now_possible": {"Sekisho asks this user for MFA, which a basic-auth client cannot answer, so access is refused today; after the move the user can complete MFA and get access.",
		"Sekisho はこのユーザーに多要素認証を求めていますが、基本認証のクライアントは応答できないため現在は拒否されています。移行後は多要素認証を完了すればアクセスできるようになります。"},
	"risk.cannot_migrate": {"The user agent looks like a device or app that cannot use OAuth (multifunction printer, old app): use the Sekisho mail bridge or a connector relay.",
		"ユーザーエージェントから、OAuth を使えない機器・アプリ(複合機、古いアプリなど)と推定されます。Sekisho メールブリッジまたはコネクタ経由のリレーを使ってください。"},
	"risk.cannot_migrate_other": {"The user agent looks like a device or app that cannot use OAuth: it has to be updated or replaced.",
		"ユーザーエージェントから、OAuth を使えない機器・アプリと推定されます。更新または置き換えが必要です。"},
	"risk.already_broken": {"Exchange Online already refuses basic auth for this protocol, yet the client was still trying on %s: it is still set up for basic auth and does not work.",
		"Exchange Online ではこのプロトコルの基本認証はすでに拒否されていますが、%s にも試行がありました。クライアントは基本認証の設定のままで、動作していない可能性があります。"},
	"risk.ews_retiring": {"EWS itself is being retired (blocked by default from 1 Oct 2026, shut down on 1 Apr 2027): EWS with OAuth is not enough, move to Microsoft Graph.",
		"EWS 自体が廃止されます(2026年10月1日から既定でブロック、2027年4月1日に停止)。EWS の OAuth 化では不十分なため、Microsoft Graph へ移行してください。"},

	// milestones
	"ms.basic_off_2022":        {"Basic auth retired for EWS, EAS, POP, IMAP, Remote PowerShell, Outlook (RPC/MAPI), Autodiscover and OAB", "EWS、EAS、POP、IMAP、リモート PowerShell、Outlook (RPC/MAPI)、自動検出、OAB の基本認証を廃止"},
	"ms.ews_block_2026":        {"EWS blocked by default in Exchange Online (apps on the allow list excepted)", "Exchange Online で EWS を既定でブロック(許可リストのアプリを除く)"},
	"ms.smtp_off_default_2026": {"SMTP AUTH basic auth disabled by default for existing tenants (admins can re-enable it)", "既存テナントで SMTP AUTH の基本認証を既定で無効化(管理者は再有効化可能)"},
	"ms.ews_shutdown_2027":     {"EWS shut down in Exchange Online", "Exchange Online の EWS を停止"},
	"ms.smtp_removal_tba":      {"Final removal of SMTP AUTH basic auth (date to be announced in the second half of 2027)", "SMTP AUTH 基本認証の最終廃止(日付は2027年後半に発表予定)"},
	"ms.tba":                   {"to be announced", "未発表"},

	// page
	"ui.title":          {"Basic authentication retirement: impact report", "基本認証の廃止: 影響レポート"},
	"ui.lead":           {"Which users and devices still use legacy authentication, what the retirement breaks, what each should move to, and how an IP-restricted policy behaves after the move.", "レガシー認証を使い続けているユーザーとデバイス、廃止によって動かなくなるもの、それぞれの移行先、そして IP アドレスで制限しているポリシーが移行後にどう働くかをまとめたレポートです。"},
	"ui.generated":      {"Generated", "作成日時"},
	"ui.period":         {"Period", "対象期間"},
	"ui.unbounded":      {"all records", "全期間"},
	"ui.period_exports": {"the span of the Entra exports", "Entra エクスポートの期間"},
	"ui.outside_notice": {"Not counted: %[2]d of the %[3]d rows of %[1]s, which fall outside the report period (%[4]s). Widen the period with --since (in the console: the since parameter, e.g. ?since=90d).",
		"%[1]s の %[3]d 行のうち %[2]d 行は対象期間 (%[4]s) の外にあるため、集計していません。期間を広げるには --since を指定してください(管理コンソールでは since パラメーター。例: ?since=90d)。"},
	"ui.summary":        {"Executive summary", "概要"},
	"ui.users_affected": {"Users with legacy authentication", "レガシー認証を使用しているユーザー"},
	"ui.of_users":       {"of %d users", "全 %d 人中"},
	"ui.of_users.one":   {"of %d user", "全 %d 人中"},
	"ui.legacy_signins": {"Legacy sign-ins", "レガシー認証のサインイン"},
	"ui.of_signins":     {"of %d sign-ins", "全 %d 件中"},
	"ui.of_signins.one": {"of %d sign-in", "全 %d 件中"},
	"ui.cannot":         {"Clients that likely cannot migrate", "移行できない可能性が高いクライアント"},
	"ui.outside_share":  {"Legacy sign-ins from outside named networks", "社内ネットワーク外からのレガシー認証"},
	"ui.by_protocol":    {"By protocol", "プロトコル別"},
	"ui.protocol_mix":   {"Protocol mix (sign-ins)", "プロトコル別の内訳(サインイン数)"},
	"ui.daily":          {"Daily legacy sign-ins", "日別のレガシー認証サインイン数"},
	"ui.inout":          {"Inside vs outside named networks (legacy sign-ins)", "社内ネットワーク内外の比較(レガシー認証)"},
	"ui.inside":         {"Inside", "社内"},
	"ui.outside":        {"Outside", "社外"},
	"ui.noip":           {"No address", "アドレスなし"},
	"ui.users":          {"Users", "ユーザー数"},
	"ui.signins":        {"Sign-ins", "サインイン数"},
	"ui.legacy":         {"Legacy", "レガシー"},
	"ui.modern":         {"Modern", "先進認証"},
	"ui.timeline":       {"Retirement timeline", "廃止スケジュール"},
	"ui.date":           {"Date", "日付"},
	"ui.what":           {"What happens", "内容"},
	"ui.source":         {"Source", "出典"},
	"ui.key_points":     {"What changes for IP-based access control", "IP アドレスによるアクセス制御で変わること"},
	"ui.key_points_text": {"With basic authentication the IdP judged every connection, with the client's address forwarded by Exchange Online. After the move it judges sign-ins only, with the device's own address; tokens then refresh without the IdP, and app-only access never reaches it.",
		"基本認証では、Exchange Online が転送したクライアントのアドレスで IdP が接続ごとに判定していました。移行後は、デバイス自身のアドレスでサインイン時にのみ判定されます。その後トークンは IdP を経由せずに更新され、アプリ専用アクセスは IdP をまったく経由しません。"},
	"ui.per_user":                 {"Users and clients", "ユーザー・クライアント別一覧"},
	"ui.sort_hint":                {"Click a column heading to sort.", "列見出しをクリックすると並べ替えられます。"},
	"ui.col.user":                 {"User", "ユーザー"},
	"ui.col.client":               {"Client", "クライアント"},
	"ui.col.family":               {"Protocol", "プロトコル"},
	"ui.col.status":               {"Status after retirement", "廃止後の状態"},
	"ui.col.count":                {"Sign-ins", "サインイン数"},
	"ui.col.first":                {"First seen", "初回"},
	"ui.col.last":                 {"Last seen", "最終"},
	"ui.col.ips":                  {"Distinct IPs", "送信元 IP 数"},
	"ui.col.inside":               {"Inside share", "社内比率"},
	"ui.col.agents":               {"User agents / devices", "ユーザーエージェント/デバイス"},
	"ui.col.decision":             {"Current decision", "現在の判定"},
	"ui.col.migration":            {"Recommended migration", "推奨される移行先"},
	"ui.col.after":                {"IdP policy after migration", "移行後の IdP ポリシー適用"},
	"ui.col.risks":                {"Risk for IP-restricted tenants", "IP 制限テナントへのリスク"},
	"ui.more":                     {"%d+ (capped)", "%d 以上(上限)"},
	"ui.none":                     {"None", "なし"},
	"ui.checklist":                {"Migration checklist", "移行チェックリスト"},
	"ui.malformed":                {"Rows that could not be read", "読み取れなかった行"},
	"ui.malformed_n":              {"%d row(s) could not be read; the first %d are listed.", "%d 行を読み取れませんでした(先頭 %d 行を表示)。"},
	"ui.line":                     {"Line", "行"},
	"ui.reason":                   {"Reason", "理由"},
	"ui.sources":                  {"Sources", "データソース"},
	"ui.rows":                     {"Rows", "行数"},
	"ui.used":                     {"Used", "集計対象"},
	"ui.outside_win":              {"Outside the period", "期間外"},
	"ui.bad":                      {"Unreadable", "読み取り不可"},
	"ui.no_legacy":                {"No legacy sign-ins in this period.", "この期間にレガシー認証のサインインはありません。"},
	"ui.decision.allow":           {"allow", "許可"},
	"ui.decision.deny":            {"deny", "拒否"},
	"ui.decision.mfa_required":    {"MFA required", "多要素認証が必要"},
	"ui.decision.device_required": {"device certificate required", "デバイス証明書が必要"},
	"ui.decision.error":           {"error", "エラー"},
	"ui.decision.":                {"— (Entra only)", "—(Entra のみ)"},

	// checklist
	"chk.1": {"Check the tenant switch: Get-OrganizationConfig | Format-Table Name,OAuth2ClientProfileEnabled — enable it with Set-OrganizationConfig -OAuth2ClientProfileEnabled $true.",
		"テナント設定を確認します: Get-OrganizationConfig | Format-Table Name,OAuth2ClientProfileEnabled。有効にするには Set-OrganizationConfig -OAuth2ClientProfileEnabled $true を実行します。"},
	"chk.2": {"Tell users before the switch: Outlook will show a new sign-in window (the IdP's page in a web view). Show what it looks like and that it is genuine.",
		"切り替えの前に利用者へ周知します: Outlook に新しいサインイン画面(Web ビュー内の IdP のページ)が表示されます。画面の見た目と、正規の画面であることを伝えてください。"},
	"chk.3": {"Outlook 2013 needs registry keys (better: upgrade). Outlook 2016 and later, Outlook mobile, Outlook for Mac 2016 and later and iOS 11+ Mail use modern authentication by default.",
		"Outlook 2013 はレジストリ設定が必要です(更新を推奨)。Outlook 2016 以降、Outlook モバイル、Outlook for Mac 2016 以降、iOS 11 以降の標準メールは既定で先進認証を使います。"},
	"chk.4": {"Move phones from ActiveSync with basic auth to Outlook mobile or a mail app with OAuth (remove and add the account again).",
		"スマートフォンは基本認証の ActiveSync から、Outlook モバイルまたは OAuth 対応のメールアプリへ移行します(アカウントを削除して追加し直します)。"},
	"chk.5": {"Move EWS applications and scripts to Microsoft Graph before 1 Oct 2026; restrict app-only access with RBAC for Applications.",
		"EWS を使うアプリやスクリプトは2026年10月1日までに Microsoft Graph へ移行し、アプリ専用アクセスは RBAC for Applications で制限します。"},
	"chk.6": {"Printers, scanners and apps that cannot do OAuth: point SMTP/IMAP/POP at the Sekisho mail bridge, or send through a connector relay — before SMTP AUTH basic auth is disabled at the end of December 2026.",
		"OAuth に対応していない複合機・スキャナー・アプリは、SMTP/IMAP/POP の接続先を Sekisho メールブリッジに変更するか、コネクタ経由のリレーで送信します。SMTP AUTH の基本認証が既定で無効になる2026年12月末までに対応してください。"},
	"chk.7": {"Review the policy for rich clients and browsers: after the move the IdP judges sign-ins only. Where an IP restriction must hold for every connection, shorten the sign-in frequency or use location-based Conditional Access with Continuous Access Evaluation.",
		"リッチクライアント・ブラウザー向けのポリシーを見直します。移行後、IdP はサインイン時にしか判定しません。接続ごとに IP 制限を効かせる必要がある場合は、サインイン頻度を短くするか、場所ベースの条件付きアクセスと継続的アクセス評価 (CAE) を併用します。"},
	"chk.8": {"When this report shows no more legacy sign-ins, block legacy authentication in Sekisho's policy and run the report again.",
		"このレポートでレガシー認証のサインインがなくなったことを確認したら、Sekisho のポリシーでレガシー認証をブロックし、レポートを再実行します。"},
}

// TN returns the text for key about n things, formatted with n. English uses the key's ".one"
// form when n is 1 ("of 1 user"); Japanese has no plural, so its counter form ("全 %d 人中")
// serves every n.
func TN(lang, key string, n int) string {
	if n == 1 && lang != "ja" {
		if _, ok := msgs[key+".one"]; ok {
			key += ".one"
		}
	}
	return T(lang, key, n)
}

// T returns the text for key in lang ("ja" or anything else for English), formatted with args.
// A missing key returns the key itself so a gap is visible rather than blank.
func T(lang, key string, args ...any) string {
	m, ok := msgs[key]
	if !ok {
		return key
	}
	s := m[0]
	if lang == "ja" {
		s = m[1]
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}
