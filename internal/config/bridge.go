package config

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
)

// Bridge configures the legacy mail bridge (docs/mail-bridge.md): IMAP, POP3 and SMTP
// listeners that take app passwords from devices and log in to the upstream mail server
// with OAuth 2.0. It is off while no listener is set.
type Bridge struct {
	IMAP BridgeListener `yaml:"imap"` // tls_listen :993, starttls_listen :143
	POP  BridgeListener `yaml:"pop"`  // tls_listen :995, starttls_listen :110
	SMTP BridgeListener `yaml:"smtp"` // tls_listen :465, starttls_listen :587
	// Application is the application name the policy judges bridge logins as (default
	// sekisho-mail-bridge; "microsoft365" puts them under the Microsoft 365 rules).
	Application string `yaml:"application"`
	// AllowCleartextLogin lets devices log in without TLS: only for old devices on a
	// trusted network, the app password then crosses it in clear text.
	AllowCleartextLogin bool     `yaml:"allow_cleartext_login"`
	MaxConnections      int      `yaml:"max_connections"` // per listener (default 1000)
	Recheck             Duration `yaml:"recheck"`         // open connections' logins checked again (default 30s)
	// MaxMessageBytes bounds one message sent through the SMTP door (default 35 MiB, as
	// Exchange Online's limit).
	MaxMessageBytes int64          `yaml:"max_message_bytes"`
	Upstream        BridgeUpstream `yaml:"upstream"`
	// SelfService lets users issue their own app passwords in the portal (/account/mail).
	// Off by default: an app password opens a door without a second factor, so the
	// administrator decides whether users may make them. Listing and revoking one's own, and
	// connecting one's mailbox, need no setting.
	SelfService bool `yaml:"self_service"`
	// ProxyProtocol: the doors sit behind a TCP load balancer listed in
	// network.trusted_proxies, which begins every connection with a PROXY protocol header
	// (v1 or v2) naming the device; the device's address is then judged and recorded, the
	// balancer's as the peer. Connections from other addresses are served as they come.
	ProxyProtocol bool `yaml:"proxy_protocol"`
}

// BridgeListener is the two ports of one protocol; "" leaves one off.
type BridgeListener struct {
	TLSListen      string `yaml:"tls_listen"`      // TLS from the first byte
	StartTLSListen string `yaml:"starttls_listen"` // cleartext greeting, STARTTLS offered
}

func (l BridgeListener) on() bool { return l.TLSListen != "" || l.StartTLSListen != "" }

// BridgeUpstream is the real mail server and how the bridge gets its tokens.
type BridgeUpstream struct {
	IMAP string `yaml:"imap"` // host:port, e.g. outlook.office365.com:993
	POP  string `yaml:"pop"`  // outlook.office365.com:995
	SMTP string `yaml:"smtp"` // smtp.office365.com:587
	// IMAPTLS, POPTLS, SMTPTLS: "implicit" or "starttls"; default implicit on 993, 995 and
	// 465, else starttls. There is no cleartext upstream: the token must not cross in clear.
	IMAPTLS string `yaml:"imap_tls"`
	POPTLS  string `yaml:"pop_tls"`
	SMTPTLS string `yaml:"smtp_tls"`
	CAFile  string `yaml:"ca_file"` // PEM roots for the upstream's certificate (default: the system's)
	// Mechanism: xoauth2 (default; Microsoft 365, Gmail, Dovecot) or oauthbearer (RFC 7628).
	Mechanism string `yaml:"mechanism"`
	// Tokens is where the access tokens come from (docs/mail-bridge-upstream.md):
	//   - sekisho (default): Sekisho's own OpenID Connect provider mints one per login for
	//     the registered client ClientID (an upstream that trusts Sekisho, e.g. Dovecot with
	//     token introspection);
	//   - oauth: a generic OAuth 2.0 server (the OAuth block): per user, connected once with
	//     the device authorization grant, or app-only client credentials;
	//   - microsoft365: Microsoft Entra ID for Exchange Online (OAuth.Tenant; the endpoints,
	//     the scopes and the upstream addresses are filled in).
	Tokens   string      `yaml:"tokens"`
	ClientID string      `yaml:"client_id"` // tokens: sekisho
	Scopes   []string    `yaml:"scopes"`    // tokens: sekisho
	OAuth    BridgeOAuth `yaml:"oauth"`     // tokens: oauth, microsoft365
}

// Token sources of the bridge (BridgeUpstream.Tokens).
const (
	BridgeTokensSekisho      = "sekisho"
	BridgeTokensOAuth        = "oauth"
	BridgeTokensMicrosoft365 = "microsoft365"
)

// BridgeOAuth is the upstream OAuth 2.0 server the bridge gets the mailboxes' tokens from.
type BridgeOAuth struct {
	// Profile names the users' grants in the store (default: the tokens kind); a new name
	// starts every user unconnected, as for another server.
	Profile string `yaml:"profile"`
	// Tenant (microsoft365): the Entra ID tenant of the mailboxes, contoso.onmicrosoft.com or
	// its GUID.
	Tenant                 string `yaml:"tenant"`
	TokenURL               string `yaml:"token_url"`
	DeviceAuthorizationURL string `yaml:"device_authorization_url"` // RFC 8628; delegated only
	ClientID               string `yaml:"client_id"`
	// ClientSecretFile holds the client secret (a path relative to the data folder); none for
	// a public client. The secret itself is never in this file.
	ClientSecretFile string   `yaml:"client_secret_file"`
	Scopes           []string `yaml:"scopes"`
	// AppOnly: the client credentials grant, one token for every mailbox (Microsoft:
	// https://outlook.office365.com/.default with IMAP.AccessAsApp and the service principal
	// given mailbox permissions in Exchange), instead of one delegated grant per user.
	AppOnly bool   `yaml:"app_only"`
	CAFile  string `yaml:"ca_file"` // PEM roots for the token service's certificate (default: the system's)
}

// Microsoft 365's upstream addresses, resources and scopes for the mail protocols.
const (
	M365IMAP             = "outlook.office365.com:993"
	M365POP              = "outlook.office365.com:995"
	M365SMTP             = "smtp.office365.com:587"
	M365ScopeIMAP        = "https://outlook.office.com/IMAP.AccessAsUser.All"
	M365ScopePOP         = "https://outlook.office.com/POP.AccessAsUser.All"
	M365ScopeSMTP        = "https://outlook.office.com/SMTP.Send"
	M365ScopeAppOnly     = "https://outlook.office365.com/.default"
	m365LoginAuthority   = "https://login.microsoftonline.com/"
	bridgeProfileMaxName = 64
)

// WithDefaults fills in what the token kind implies: the profile name and, for
// microsoft365, the tenant's v2.0 endpoints, the scopes for the doors configured (all three
// when none is) and Exchange Online's addresses for the upstream servers not given.
func (b Bridge) WithDefaults() Bridge {
	u := &b.Upstream
	o := &u.OAuth
	kind := strings.ToLower(strings.TrimSpace(u.Tokens))
	if kind != BridgeTokensOAuth && kind != BridgeTokensMicrosoft365 {
		return b
	}
	if o.Profile == "" {
		o.Profile = kind
	}
	if kind != BridgeTokensMicrosoft365 {
		return b
	}
	tenant := strings.TrimSpace(o.Tenant)
	if o.TokenURL == "" && tenant != "" {
		o.TokenURL = m365LoginAuthority + tenant + "/oauth2/v2.0/token"
	}
	if o.DeviceAuthorizationURL == "" && tenant != "" && !o.AppOnly {
		o.DeviceAuthorizationURL = m365LoginAuthority + tenant + "/oauth2/v2.0/devicecode"
	}
	if len(o.Scopes) == 0 {
		if o.AppOnly {
			o.Scopes = []string{M365ScopeAppOnly}
		} else {
			all := !b.Enabled()
			if all || b.IMAP.on() {
				o.Scopes = append(o.Scopes, M365ScopeIMAP)
			}
			if all || b.POP.on() {
				o.Scopes = append(o.Scopes, M365ScopePOP)
			}
			if all || b.SMTP.on() {
				o.Scopes = append(o.Scopes, M365ScopeSMTP)
			}
			// offline_access: the refresh token; openid profile: the ID token that names who
			// approved the device code, checked against the mailbox's user.
			o.Scopes = append(o.Scopes, "offline_access", "openid", "profile")
		}
	}
	if u.IMAP == "" {
		u.IMAP = M365IMAP
	}
	if u.POP == "" {
		u.POP = M365POP
	}
	if u.SMTP == "" {
		u.SMTP = M365SMTP
	}
	return b
}

// Enabled reports whether any bridge listener is configured.
func (b Bridge) Enabled() bool { return b.IMAP.on() || b.POP.on() || b.SMTP.on() }

// UpstreamTLS is the TLS mode of an upstream address: the configured one, or implicit on
// the well-known implicit-TLS ports.
func UpstreamTLS(mode, addr string) string {
	if mode != "" {
		return mode
	}
	if _, port, err := net.SplitHostPort(addr); err == nil && (port == "993" || port == "995" || port == "465") {
		return "implicit"
	}
	return "starttls"
}

func (c *Config) validateBridge() Errors {
	if !c.Bridge.Enabled() && strings.TrimSpace(c.Bridge.Upstream.Tokens) == "" {
		return nil
	}
	// Checked with the defaults filled in: microsoft365 brings the upstream addresses.
	b := c.Bridge.WithDefaults()
	var errs Errors
	bad := func(path, format string, args ...any) {
		errs = append(errs, Error{Path: "bridge." + path, Msg: fmt.Sprintf(format, args...)})
	}
	if b.ProxyProtocol && len(c.Network.TrustedProxies) == 0 {
		bad("proxy_protocol", "needs the load balancers' addresses in network.trusted_proxies: only they may name a client")
	}
	for _, l := range []struct {
		name     string
		listen   BridgeListener
		upstream string
		mode     string
	}{{"imap", b.IMAP, b.Upstream.IMAP, b.Upstream.IMAPTLS}, {"pop", b.POP, b.Upstream.POP, b.Upstream.POPTLS},
		{"smtp", b.SMTP, b.Upstream.SMTP, b.Upstream.SMTPTLS}} {
		for key, addr := range map[string]string{"tls_listen": l.listen.TLSListen, "starttls_listen": l.listen.StartTLSListen} {
			if addr == "" {
				continue
			}
			if _, _, err := net.SplitHostPort(addr); err != nil {
				bad(l.name+"."+key, "%q is not host:port (e.g. :993)", addr)
			}
		}
		if l.listen.on() {
			if _, _, err := net.SplitHostPort(l.upstream); err != nil {
				bad("upstream."+l.name, "the %s listener needs the upstream %s server as host:port, got %q", l.name, l.name, l.upstream)
			}
		}
		switch l.mode {
		case "", "implicit", "starttls":
		default:
			bad("upstream."+l.name+"_tls", "use implicit or starttls, got %q", l.mode)
		}
	}
	switch strings.ToLower(b.Upstream.Mechanism) {
	case "", "xoauth2", "oauthbearer":
	default:
		bad("upstream.mechanism", "use xoauth2 or oauthbearer, got %q", b.Upstream.Mechanism)
	}
	u := b.Upstream
	switch kind := strings.ToLower(strings.TrimSpace(u.Tokens)); kind {
	case "", BridgeTokensSekisho:
		if b.Enabled() && strings.TrimSpace(u.ClientID) == "" {
			bad("upstream.client_id", "name the OpenID Connect client registered for the upstream mail server (sekisho app add … --protocol oidc): its tokens are what the server accepts")
		}
		if !c.Bridge.Upstream.OAuth.zero() {
			bad("upstream.oauth", "is for tokens: oauth or microsoft365; tokens: sekisho mints Sekisho's own (upstream.client_id, upstream.scopes)")
		}
	case BridgeTokensOAuth, BridgeTokensMicrosoft365:
		if u.ClientID != "" {
			bad("upstream.client_id", "is for tokens: sekisho; the client registered at the token service is upstream.oauth.client_id")
		}
		if len(u.Scopes) > 0 {
			bad("upstream.scopes", "is for tokens: sekisho; the scopes asked of the token service are upstream.oauth.scopes")
		}
		validateBridgeOAuth(kind, u.OAuth, func(key, format string, args ...any) { bad("upstream.oauth."+key, format, args...) })
	default:
		bad("upstream.tokens", "use sekisho, oauth or microsoft365, got %q", u.Tokens)
	}
	if b.MaxConnections < 0 {
		bad("max_connections", "must be positive")
	}
	if b.MaxMessageBytes < 0 {
		bad("max_message_bytes", "must be positive")
	}
	return errs
}

func (o BridgeOAuth) zero() bool {
	return o.Profile == "" && o.Tenant == "" && o.TokenURL == "" && o.DeviceAuthorizationURL == "" && o.ClientID == "" &&
		o.ClientSecretFile == "" && len(o.Scopes) == 0 && !o.AppOnly && o.CAFile == ""
}

var (
	bridgeProfileRe = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)
	tenantGUIDRe    = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	tenantDomainRe  = regexp.MustCompile(`^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]{2,63}$`)
)

// validateBridgeOAuth checks the upstream OAuth server of kind (oauth or microsoft365), its
// defaults filled in.
func validateBridgeOAuth(kind string, o BridgeOAuth, bad func(key, format string, args ...any)) {
	if len(o.Profile) > bridgeProfileMaxName || !bridgeProfileRe.MatchString(o.Profile) {
		bad("profile", "use lower-case letters, digits, '.', '_' and '-' (at most %d), got %q", bridgeProfileMaxName, o.Profile)
	}
	tenant := strings.TrimSpace(o.Tenant)
	switch {
	case kind != BridgeTokensMicrosoft365:
		if tenant != "" {
			bad("tenant", "is for tokens: microsoft365; for a generic OAuth server give token_url and device_authorization_url")
		}
	case tenant == "":
		bad("tenant", "name the Entra ID tenant of the mailboxes: its domain (contoso.onmicrosoft.com) or its tenant ID (a GUID)")
	case strings.EqualFold(tenant, "common") || strings.EqualFold(tenant, "organizations") || strings.EqualFold(tenant, "consumers"):
		bad("tenant", "%q is not one tenant: name the tenant of the mailboxes (contoso.onmicrosoft.com or its tenant ID)", tenant)
	case !tenantGUIDRe.MatchString(tenant) && !tenantDomainRe.MatchString(tenant):
		bad("tenant", "%q is neither a domain (contoso.onmicrosoft.com) nor a tenant ID (a GUID)", tenant)
	}
	checkURL := func(key, v, what string) {
		if v == "" {
			bad(key, "give %s", what)
			return
		}
		if u, err := url.Parse(v); err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.Fragment != "" {
			bad(key, "must be an absolute https URL (%s), got %q", what, v)
		}
	}
	if kind == BridgeTokensOAuth || o.TokenURL != "" {
		checkURL("token_url", o.TokenURL, "the token endpoint of the OAuth server, e.g. https://sso.example.com/oauth2/token")
	}
	if !o.AppOnly && (kind == BridgeTokensOAuth || o.DeviceAuthorizationURL != "") {
		checkURL("device_authorization_url", o.DeviceAuthorizationURL,
			"the device authorization endpoint (RFC 8628), e.g. https://sso.example.com/oauth2/device_authorization: each user's mailbox is connected once with a device code")
	}
	if strings.TrimSpace(o.ClientID) == "" {
		bad("client_id", "give the client (application) ID registered at the token service for the bridge")
	}
	if o.AppOnly && strings.TrimSpace(o.ClientSecretFile) == "" {
		bad("client_secret_file", "app_only (the client credentials grant) needs the client's secret: put it in a file in the data folder and name the file here")
	}
	for i, sc := range o.Scopes {
		switch {
		case sc == "" || strings.ContainsAny(sc, " \t\r\n\"\\"):
			bad(fmt.Sprintf("scopes[%d]", i), "%q is not a scope (one scope per entry, no spaces)", sc)
		case kind == BridgeTokensMicrosoft365 && o.AppOnly && !strings.HasSuffix(sc, "/.default"):
			bad(fmt.Sprintf("scopes[%d]", i), "app-only tokens from Microsoft name the resource's .default scope (%s), got %q", M365ScopeAppOnly, sc)
		}
	}
}
