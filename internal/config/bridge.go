package config

import (
	"fmt"
	"net"
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
	// Tokens: "sekisho" — access tokens from Sekisho's own OpenID Connect provider for the
	// registered client ClientID (an upstream that trusts Sekisho, e.g. Dovecot with token
	// introspection).
	Tokens   string   `yaml:"tokens"`
	ClientID string   `yaml:"client_id"`
	Scopes   []string `yaml:"scopes"`
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
	b := c.Bridge
	if !b.Enabled() {
		return nil
	}
	var errs Errors
	bad := func(path, format string, args ...any) {
		errs = append(errs, Error{Path: "bridge." + path, Msg: fmt.Sprintf(format, args...)})
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
	switch b.Upstream.Tokens {
	case "", "sekisho":
		if strings.TrimSpace(b.Upstream.ClientID) == "" {
			bad("upstream.client_id", "name the OpenID Connect client registered for the upstream mail server (sekisho app add … --protocol oidc): its tokens are what the server accepts")
		}
	default:
		bad("upstream.tokens", "use sekisho, got %q", b.Upstream.Tokens)
	}
	if b.MaxConnections < 0 {
		bad("max_connections", "must be positive")
	}
	if b.MaxMessageBytes < 0 {
		bad("max_message_bytes", "must be positive")
	}
	return errs
}
