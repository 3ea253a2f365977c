// Package report builds the Basic-authentication retirement impact report: who still signs in
// with legacy protocols, what the retirement breaks, what each client should move to and how an
// IP-based policy at the IdP behaves after the move. Inputs are Sekisho's own sign-in log and
// Entra ID sign-in exports (CSV or JSON, streamed); outputs are HTML, CSV and JSON.
package report

import (
	"strings"
	"time"
)

// Family is the protocol family a sign-in belongs to.
type Family string

const (
	FamOutlook      Family = "outlook"      // Outlook RPC over HTTP / MAPI over HTTP
	FamEAS          Family = "eas"          // Exchange ActiveSync
	FamEWS          Family = "ews"          // Exchange Web Services
	FamIMAP         Family = "imap"         // IMAP4 (and the older combined PopImap)
	FamPOP          Family = "pop"          // POP3
	FamSMTP         Family = "smtp"         // SMTP AUTH client submission
	FamPowerShell   Family = "powershell"   // Remote PowerShell
	FamAutodiscover Family = "autodiscover" // Autodiscover and Offline Address Book
	FamOtherLegacy  Family = "other-legacy" // other legacy clients
	FamBrowser      Family = "browser"      // modern authentication in a browser
	FamModernApp    Family = "modern-app"   // modern authentication in an app (MSAL, OIDC)
	FamBridge       Family = "bridge"       // Sekisho's mail bridge (basic in, XOAUTH2 out)
)

// Families lists every family in display order.
var Families = []Family{FamOutlook, FamEAS, FamEWS, FamIMAP, FamPOP, FamSMTP, FamPowerShell,
	FamAutodiscover, FamOtherLegacy, FamBridge, FamModernApp, FamBrowser}

// Legacy reports whether the family authenticates with a password on every connection.
func (f Family) Legacy() bool {
	switch f {
	case FamBrowser, FamModernApp, FamBridge, "":
		return false
	}
	return true
}

// ClientApp is one value of Entra's "Client app" column (Graph clientAppUsed), the canonical
// client name the report groups by.
type ClientApp struct {
	Name   string
	Family Family
}

// EntraClientApps are the documented clientAppUsed values (M365.md §6) with their family.
// "Universal Outlook" and "Outlook Service" are the Windows Mail and Calendar app; Microsoft
// lists them as legacy clients, we group them with other legacy clients.
var EntraClientApps = []ClientApp{
	{"Browser", FamBrowser},
	{"Mobile Apps and Desktop clients", FamModernApp},
	{"Authenticated SMTP", FamSMTP},
	{"Autodiscover", FamAutodiscover},
	{"Exchange ActiveSync", FamEAS},
	{"Exchange Online PowerShell", FamPowerShell},
	{"Exchange Web Services", FamEWS},
	{"IMAP4", FamIMAP},
	{"MAPI Over HTTP", FamOutlook},
	{"Offline Address Book", FamAutodiscover},
	{"Outlook Anywhere (RPC over HTTP)", FamOutlook},
	{"POP3", FamPOP},
	{"Reporting Web Services", FamOtherLegacy},
	{"Universal Outlook", FamOtherLegacy},
	{"Outlook Service", FamOtherLegacy},
	{"Other clients", FamOtherLegacy},
}

var entraByLower = func() map[string]ClientApp {
	m := make(map[string]ClientApp, len(EntraClientApps)+4)
	for _, c := range EntraClientApps {
		m[strings.ToLower(c.Name)] = c
	}
	// Spellings seen in older exports and the Graph documentation.
	m["mapi over http"] = ClientApp{"MAPI Over HTTP", FamOutlook}
	m["exchange online powershell"] = ClientApp{"Exchange Online PowerShell", FamPowerShell}
	m["imap"] = ClientApp{"IMAP4", FamIMAP}
	m["pop"] = ClientApp{"POP3", FamPOP}
	m["smtp"] = ClientApp{"Authenticated SMTP", FamSMTP}
	m["mapi"] = ClientApp{"MAPI Over HTTP", FamOutlook}
	m["other clients;"] = ClientApp{"Other clients", FamOtherLegacy}
	return m
}()

// entraExact holds the documented values as the portal writes them.
var entraExact = func() map[string]ClientApp {
	m := make(map[string]ClientApp, len(EntraClientApps))
	for _, c := range EntraClientApps {
		m[c.Name] = entraByLower[strings.ToLower(c.Name)]
	}
	return m
}()

// ClassifyEntra maps an Entra "Client app" value to its canonical name and family. Unknown
// values are kept as they are and counted as other legacy clients (Entra files everything it
// cannot name under legacy "Other clients"); ok is false for them.
func ClassifyEntra(v string) (c ClientApp, ok bool) {
	if c, ok := entraExact[v]; ok { // the portal's own spelling: no trimming, no lower-casing
		return c, true
	}
	v = strings.TrimSpace(v)
	if c, ok := entraByLower[strings.ToLower(v)]; ok {
		return c, true
	}
	if v == "" {
		return ClientApp{"Other clients", FamOtherLegacy}, false
	}
	return ClientApp{v, FamOtherLegacy}, false
}

// sekishoLegacyApps maps the Exchange client application of a legacy-proxied sign-in
// (X-MS-Client-Application without the "Microsoft.Exchange." prefix) to Entra's name, so that
// both sources group under the same client.
var sekishoLegacyApps = map[string]ClientApp{
	"activesync":         {"Exchange ActiveSync", FamEAS},
	"webservices":        {"Exchange Web Services", FamEWS},
	"imap":               {"IMAP4", FamIMAP},
	"pop":                {"POP3", FamPOP},
	"popimap":            {"IMAP4", FamIMAP}, // older combined name; migration is the same
	"smtp":               {"Authenticated SMTP", FamSMTP},
	"rpc":                {"Outlook Anywhere (RPC over HTTP)", FamOutlook},
	"mapi":               {"MAPI Over HTTP", FamOutlook},
	"powershell":         {"Exchange Online PowerShell", FamPowerShell},
	"autodiscover":       {"Autodiscover", FamAutodiscover},
	"offlineaddressbook": {"Offline Address Book", FamAutodiscover},
}

// ClassifySekisho maps a Sekisho sign-in's client type and legacy application to a client.
func ClassifySekisho(clientType, legacyApp string) ClientApp {
	ct := strings.ToLower(clientType)
	switch {
	case ct == "legacy-proxied":
		a := strings.ToLower(strings.TrimSpace(legacyApp))
		a = strings.TrimPrefix(a, "microsoft.exchange.")
		if c, ok := sekishoLegacyApps[a]; ok {
			return c
		}
		if legacyApp == "" {
			return ClientApp{"Other clients", FamOtherLegacy}
		}
		return ClientApp{"Other clients (" + legacyApp + ")", FamOtherLegacy}
	case ct == "browser":
		return ClientApp{"Browser", FamBrowser}
	case strings.HasPrefix(ct, "bridge"):
		return ClientApp{"Sekisho mail bridge (" + strings.TrimPrefix(strings.TrimPrefix(ct, "bridge"), "-") + ")", FamBridge}
	case ct == "active-direct":
		// MSAL username/password (WS-Trust) straight from the device: a password on the wire,
		// but the IdP sees the device itself and the result is a refreshable token.
		return ClientApp{"Mobile Apps and Desktop clients", FamModernApp}
	default: // rich-client, oidc and anything newer
		return ClientApp{"Mobile Apps and Desktop clients", FamModernApp}
	}
}

// Milestone is one dated step of the Basic-authentication retirement in Exchange Online.
// The table is the single place the report takes dates from; Source says where each is from.
type Milestone struct {
	Key      string    `json:"key"`
	Date     time.Time `json:"date"` // zero: not yet announced
	Families []Family  `json:"families"`
	Source   string    `json:"source"`
}

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// Milestones are the retirement dates (M365.md §6), oldest first.
var Milestones = []Milestone{
	{Key: "basic_off_2022", Date: day(2022, time.October, 1),
		Families: []Family{FamEWS, FamEAS, FamPOP, FamIMAP, FamPowerShell, FamOutlook, FamAutodiscover},
		Source:   "https://learn.microsoft.com/exchange/clients-and-mobile-in-exchange-online/deprecation-of-basic-authentication-exchange-online"},
	{Key: "ews_block_2026", Date: day(2026, time.October, 1), Families: []Family{FamEWS},
		Source: "Exchange Team Blog, techcommunity.microsoft.com/blog/exchange (EWS retirement in Exchange Online: blocked by default from 1 Oct 2026)"},
	{Key: "smtp_off_default_2026", Date: day(2026, time.December, 31), Families: []Family{FamSMTP},
		Source: "https://techcommunity.microsoft.com/blog/exchange/updated-exchange-online-smtp-auth-basic-authentication-deprecation-timeline/4489835"},
	{Key: "ews_shutdown_2027", Date: day(2027, time.April, 1), Families: []Family{FamEWS},
		Source: "Exchange Team Blog, techcommunity.microsoft.com/blog/exchange (EWS shut down in Exchange Online on 1 Apr 2027)"},
	{Key: "smtp_removal_tba", Families: []Family{FamSMTP},
		Source: "https://techcommunity.microsoft.com/blog/exchange/updated-exchange-online-smtp-auth-basic-authentication-deprecation-timeline/4489835 (final date to be announced in the second half of 2027)"},
}

func milestone(key string) Milestone {
	for _, m := range Milestones {
		if m.Key == key {
			return m
		}
	}
	panic("report: unknown milestone " + key) // programming error: keys are constants below
}

// Retirement status codes of a family at a point in time.
const (
	StatusModern           = "modern"             // not affected
	StatusBlocked          = "blocked"            // basic auth blocked since 1 Oct 2022
	StatusBlockedEWSRetire = "blocked_ews_retire" // blocked, and EWS itself is being retired
	StatusEWSBlocked       = "ews_blocked"        // EWS blocked by default (Oct 2026 – Mar 2027)
	StatusEWSShutdown      = "ews_shutdown"       // EWS shut down (from Apr 2027)
	StatusSMTPScheduled    = "smtp_scheduled"     // SMTP AUTH basic still works; off by default end of Dec 2026
	StatusSMTPOffDefault   = "smtp_off_default"   // SMTP AUTH basic disabled by default; admin may re-enable
	StatusLegacyOther      = "legacy_other"       // legacy, protocol unknown: check the client
)

// RetirementStatus says what the retirement means for a family at now.
func RetirementStatus(f Family, now time.Time) string {
	switch f {
	case FamBrowser, FamModernApp, FamBridge:
		return StatusModern
	case FamSMTP:
		if now.Before(milestone("smtp_off_default_2026").Date) {
			return StatusSMTPScheduled
		}
		return StatusSMTPOffDefault
	case FamEWS:
		switch {
		case !now.Before(milestone("ews_shutdown_2027").Date):
			return StatusEWSShutdown
		case !now.Before(milestone("ews_block_2026").Date):
			return StatusEWSBlocked
		}
		return StatusBlockedEWSRetire
	case FamOtherLegacy:
		return StatusLegacyOther
	}
	return StatusBlocked
}

// Enforcement is how often the IdP's policy is applied to a client's access.
type Enforcement string

const (
	EveryConnection Enforcement = "every-connection" // basic auth via federation, Sekisho's bridge
	SignInOnly      Enforcement = "sign-in-only"     // OAuth: interactive sign-in, then refresh tokens
	Never           Enforcement = "never"            // app-only tokens, connector relay
)

// Migration is one replacement for a legacy client and what the IdP enforces after it.
type Migration struct {
	Key   string      `json:"key"`
	After Enforcement `json:"after"`
}

// migrations are the replacement paths per family (M365.md §6 table), best first.
var migrations = map[Family][]Migration{
	FamOutlook:      {{"outlook_modern", SignInOnly}},
	FamAutodiscover: {{"outlook_modern", SignInOnly}},
	FamEAS:          {{"outlook_mobile", SignInOnly}, {"native_mail_oauth", SignInOnly}},
	FamEWS:          {{"graph_delegated", SignInOnly}, {"graph_app_only", Never}},
	FamIMAP:         {{"oauth_mail_client", SignInOnly}, {"mail_bridge", EveryConnection}},
	FamPOP:          {{"oauth_mail_client", SignInOnly}, {"mail_bridge", EveryConnection}},
	FamSMTP:         {{"smtp_oauth", SignInOnly}, {"smtp_app_only", Never}, {"connector_relay", Never}, {"mail_bridge", EveryConnection}},
	FamPowerShell:   {{"exo_v3", SignInOnly}},
	FamOtherLegacy:  {{"identify_client", SignInOnly}},
	FamBrowser:      {{"none", SignInOnly}},
	FamModernApp:    {{"none", SignInOnly}},
	FamBridge:       {{"none", EveryConnection}},
}

// MigrationsFor returns the replacement paths of a family, best first.
func MigrationsFor(f Family) []Migration { return migrations[f] }

// cannotMigrateUA matches user agents of devices that typically cannot do OAuth (scanners,
// multifunction printers, appliances) and old mail clients. Lower-case substrings.
var cannotMigrateUA = []string{"printer", "scanner", "scan", "mfp", "ricoh", "xerox", "konica",
	"kyocera", "canon", "sharp", "brother", "epson", "lexmark", "toshiba tec", "fujifilm",
	"bizhub", "imagerunner", "laserjet", "officejet", "develop ineo", "outlook 2010", "outlook/14.",
	"microsoft office/14.", "thunderbird/2", "thunderbird/3", "apple-iphone3", "apple-iphone4"}

// likelyCannotMigrate reports whether a user agent belongs to a device or app that usually
// cannot use OAuth, so the report points to the mail bridge or a connector relay instead.
func likelyCannotMigrate(ua string) bool {
	l := strings.ToLower(ua)
	for _, s := range cannotMigrateUA {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

// deviceModel extracts a device model from an Exchange ActiveSync user agent such as
// "Apple-iPhone9C1/1602.92" → "Apple iPhone9C1"; "" if the agent does not look like one.
func deviceModel(ua string) string {
	ua = strings.TrimSpace(ua)
	if ua == "" || strings.ContainsAny(ua, " ()") {
		return ""
	}
	tok, _, _ := strings.Cut(ua, "/")
	vendor, model, ok := strings.Cut(tok, "-")
	if !ok || vendor == "" || model == "" {
		return tok
	}
	return vendor + " " + model
}
