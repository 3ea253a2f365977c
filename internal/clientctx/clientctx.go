// Package clientctx works out who is really calling: the client address behind trusted
// proxies and (on the active endpoint) behind Exchange Online, the client type, the legacy
// Exchange client application and the TLS client certificate. It is pure: no I/O, no clock.
//
// Trust rules (M365.md §5):
//   - X-Forwarded-For and Forwarded are read only when the TCP peer is a configured trusted
//     proxy; the client is the right-most hop that is not itself a trusted proxy.
//   - X-MS-Forwarded-Client-IP, X-MS-Client-Application and X-MS-Client-User-Agent are read
//     only on the active (WS-Trust) endpoint and only when the caller, after trusted proxies,
//     is inside the configured Exchange Online ranges.
//   - Headers that were sent but not trusted are ignored, named in IgnoredHeaders and flagged
//     with ForgedHeaders, and the peer's own address is used.
package clientctx

import (
	"crypto/x509"
	"net/http"
	"net/netip"
	"strings"

	"github.com/sekisho/sekisho/internal/ipset"
)

// Endpoint says which door the request came through; it decides which headers can be
// trusted and how the client type is judged.
type Endpoint uint8

const (
	EndpointPassive    Endpoint = iota // browser-facing: WS-Fed passive, SAML, login pages
	EndpointActive                     // WS-Trust active endpoints (Exchange Online proxies basic auth here)
	EndpointOIDC                       // OpenID Connect provider endpoints
	EndpointBridgeIMAP                 // mail bridge: IMAP
	EndpointBridgePOP                  // mail bridge: POP3
	EndpointBridgeSMTP                 // mail bridge: SMTP submission
	EndpointAPI                        // the admin REST API (bearer tokens)
)

// ClientType is the stable client classification used by policies and the sign-in log.
type ClientType string

const (
	Browser       ClientType = "browser"
	RichClient    ClientType = "rich-client"    // Office/Outlook/Teams modern auth in a web view
	LegacyProxied ClientType = "legacy-proxied" // basic auth relayed by Exchange Online
	ActiveDirect  ClientType = "active-direct"  // active endpoint called by anyone else
	OIDC          ClientType = "oidc"
	BridgeIMAP    ClientType = "bridge-imap"
	BridgePOP     ClientType = "bridge-pop"
	BridgeSMTP    ClientType = "bridge-smtp"
	API           ClientType = "api" // a script with an admin API token
)

// IPSource is a stable code for where EffectiveIP came from.
type IPSource string

const (
	SourcePeer              IPSource = "peer"               // the TCP peer
	SourceProxy             IPSource = "proxy"              // X-Forwarded-For / Forwarded from a trusted proxy
	SourceExchangeForwarded IPSource = "exchange-forwarded" // X-MS-Forwarded-Client-IP from Exchange Online
)

// Header names.
const (
	HeaderXFF               = "X-Forwarded-For"
	HeaderForwarded         = "Forwarded"
	HeaderMSForwardedIP     = "X-MS-Forwarded-Client-IP"
	HeaderMSClientApp       = "X-MS-Client-Application"
	HeaderMSClientUserAgent = "X-MS-Client-User-Agent"
)

// Config is the network trust configuration. Both sets are administrator-edited named
// networks (no Microsoft list is built in: Exchange Online egress ranges change).
type Config struct {
	TrustedProxies *ipset.Set
	ExchangeOnline *ipset.Set
}

// NewConfig builds a Config from prefixes.
func NewConfig(trustedProxies, exchangeOnline []netip.Prefix) Config {
	return Config{TrustedProxies: ipset.New(trustedProxies), ExchangeOnline: ipset.New(exchangeOnline)}
}

// Client is the resolved view of the caller.
type Client struct {
	Endpoint    Endpoint
	PeerIP      netip.Addr // TCP peer, unmapped
	ProxiedIP   netip.Addr // client address reported by trusted proxies, if any
	EffectiveIP netip.Addr // the address policies judge; zero when it cannot be known
	// ForwardedIP is the X-MS-Forwarded-Client-IP address. It is recorded even when not
	// trusted (ForwardedTrusted false), as evidence of the attempt, but never used then.
	ForwardedIP      netip.Addr
	ForwardedTrusted bool
	IPSource         IPSource
	Reason           string   // one line of English on how EffectiveIP was chosen
	ForgedHeaders    bool     // forwarding headers were sent by a caller not trusted to send them
	IgnoredHeaders   []string // which ones (canonical names)
	LegacyApp        string   // normalised X-MS-Client-Application (ActiveSync, Imap…) when trusted
	UserAgent        string
	ClientCert       *x509.Certificate // the TLS client certificate, if any (not yet verified)
	ClientType       ClientType
}

// Resolve works out the caller of r arriving through endpoint.
func Resolve(r *http.Request, cfg Config, endpoint Endpoint) Client {
	c := Client{Endpoint: endpoint, UserAgent: r.UserAgent(), IPSource: SourcePeer}
	c.PeerIP = parseNode(r.RemoteAddr)
	c.EffectiveIP = c.PeerIP
	c.Reason = "TCP peer"
	if !c.PeerIP.IsValid() {
		c.Reason = "TCP peer address unparseable"
	}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		c.ClientCert = r.TLS.PeerCertificates[0]
	}

	// 1. Trusted proxies.
	fwd := r.Header.Values(HeaderForwarded)
	xff := r.Header.Values(HeaderXFF)
	if len(fwd) > 0 || len(xff) > 0 {
		if cfg.TrustedProxies.Contains(c.PeerIP) {
			c.resolveProxies(cfg, fwd, xff)
		} else {
			if len(fwd) > 0 {
				c.ignore(HeaderForwarded)
			}
			if len(xff) > 0 {
				c.ignore(HeaderXFF)
			}
			c.Reason = "TCP peer (forwarding headers from an untrusted peer ignored)"
		}
	}
	caller := c.EffectiveIP // the address that connected to us, after trusted proxies

	// 2. Exchange Online client access headers.
	msIP, hasIP := header(r, HeaderMSForwardedIP)
	msApp, hasApp := header(r, HeaderMSClientApp)
	msUA, hasUA := header(r, HeaderMSClientUserAgent)
	if hasIP {
		c.ForwardedIP = parseFirst(msIP)
	}
	trusted := endpoint == EndpointActive && cfg.ExchangeOnline.Contains(caller)
	switch {
	case trusted:
		if hasApp {
			c.LegacyApp = NormalizeLegacyApp(msApp)
		}
		if hasUA {
			c.UserAgent = msUA
		}
		if c.ForwardedIP.IsValid() {
			c.ForwardedTrusted = true
			c.EffectiveIP, c.IPSource = c.ForwardedIP, SourceExchangeForwarded
			c.Reason = "X-MS-Forwarded-Client-IP from Exchange Online"
		} else if hasIP {
			c.Reason = "Exchange Online caller; X-MS-Forwarded-Client-IP unparseable, using the caller's address"
		} else {
			c.Reason = "Exchange Online caller without X-MS-Forwarded-Client-IP"
		}
	default:
		for _, h := range []struct {
			name string
			has  bool
		}{{HeaderMSForwardedIP, hasIP}, {HeaderMSClientApp, hasApp}, {HeaderMSClientUserAgent, hasUA}} {
			if h.has {
				c.ignore(h.name)
			}
		}
		if hasIP || hasApp || hasUA {
			c.Reason += "; X-MS-* headers ignored (not from Exchange Online on the active endpoint)"
		}
	}

	// 3. Client type.
	switch endpoint {
	case EndpointOIDC:
		c.ClientType = OIDC
	case EndpointBridgeIMAP:
		c.ClientType = BridgeIMAP
	case EndpointBridgePOP:
		c.ClientType = BridgePOP
	case EndpointBridgeSMTP:
		c.ClientType = BridgeSMTP
	case EndpointAPI:
		c.ClientType = API
	case EndpointActive:
		c.ClientType = ActiveDirect
		if trusted && hasApp {
			c.ClientType = LegacyProxied
		}
	default:
		c.ClientType = Browser
		if IsRichClientUA(c.UserAgent) {
			c.ClientType = RichClient
		}
	}
	return c
}

func (c *Client) ignore(h string) {
	c.ForgedHeaders = true
	c.IgnoredHeaders = append(c.IgnoredHeaders, h)
}

// header returns the header's value (several lines joined by ", ") and whether it was sent.
func header(r *http.Request, name string) (string, bool) {
	vs := r.Header.Values(name)
	if len(vs) == 0 {
		return "", false
	}
	return strings.TrimSpace(strings.Join(vs, ", ")), true
}

// resolveProxies walks the forwarding chain right to left, skipping trusted proxies; the
// first hop that is not a trusted proxy is the client. Forwarded (RFC 7239) is preferred
// over X-Forwarded-For when both are sent. An unparseable hop where the client should be
// makes the client address unknown (zero) rather than falling back to a proxy's address,
// which may sit inside a trusted network.
func (c *Client) resolveProxies(cfg Config, fwd, xff []string) {
	var hops []string
	if len(fwd) > 0 {
		nodes, err := ParseForwarded(strings.Join(fwd, ", "))
		if err != nil {
			c.EffectiveIP, c.IPSource = netip.Addr{}, SourceProxy
			c.Reason = "trusted proxy sent a malformed Forwarded header; client address unknown"
			return
		}
		hops = nodes
	} else {
		for _, v := range xff {
			for _, h := range strings.Split(v, ",") {
				hops = append(hops, strings.TrimSpace(h))
			}
		}
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a := parseNode(hops[i])
		if !a.IsValid() {
			c.EffectiveIP, c.IPSource = netip.Addr{}, SourceProxy
			c.Reason = "trusted proxy reported an unparseable client hop; client address unknown"
			return
		}
		if cfg.TrustedProxies.Contains(a) && i > 0 {
			continue
		}
		c.ProxiedIP, c.EffectiveIP, c.IPSource = a, a, SourceProxy
		c.Reason = "client address from trusted proxy"
		return
	}
	c.Reason = "trusted proxy sent an empty forwarding header; using the TCP peer"
}

// parseNode parses one address as it appears in RemoteAddr, X-Forwarded-For, Forwarded or
// X-MS-Forwarded-Client-IP: "192.0.2.1", "192.0.2.1:443", "2001:db8::1",
// "[2001:db8::1]:443", "[2001:db8::1]". Zones are dropped, IPv4-mapped addresses unmapped.
func parseNode(s string) netip.Addr {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 64 {
		return netip.Addr{}
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return norm(ap.Addr())
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		s = s[1 : len(s)-1]
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return norm(a)
}

func norm(a netip.Addr) netip.Addr { return a.WithZone("").Unmap() }

// parseFirst returns the first valid address of a comma-separated X-MS-Forwarded-Client-IP.
// Exchange Online writes the client it saw first; the header is only used when the caller is
// Exchange Online itself, so later or malformed entries are skipped rather than distrusted.
func parseFirst(s string) netip.Addr {
	for _, part := range strings.Split(s, ",") {
		if a := parseNode(part); a.IsValid() {
			return a
		}
	}
	return netip.Addr{}
}

// legacyApps maps X-MS-Client-Application values to the names policies use.
var legacyApps = map[string]string{
	"microsoft.exchange.activesync":         "ActiveSync",
	"microsoft.exchange.webservices":        "WebServices",
	"microsoft.exchange.imap":               "Imap",
	"microsoft.exchange.pop":                "Pop",
	"microsoft.exchange.popimap":            "PopImap",
	"microsoft.exchange.smtp":               "SMTP",
	"microsoft.exchange.rpc":                "RPC",
	"microsoft.exchange.mapi":               "Mapi",
	"microsoft.exchange.powershell":         "Powershell",
	"microsoft.exchange.autodiscover":       "Autodiscover",
	"microsoft.exchange.offlineaddressbook": "OfflineAddressBook",
}

// NormalizeLegacyApp maps "Microsoft.Exchange.ActiveSync" to "ActiveSync" (case-insensitive).
// Unknown values become "Other" so a rule can still see that some legacy client called.
func NormalizeLegacyApp(v string) string {
	v = strings.TrimSpace(v)
	if v == "" {
		return ""
	}
	if n, ok := legacyApps[strings.ToLower(v)]; ok {
		return n
	}
	return "Other"
}

// richClientMarkers are user-agent substrings (matched case-insensitively) of Microsoft
// desktop and mobile apps that show the IdP's sign-in page in an embedded web view
// (modern authentication), as opposed to a stand-alone browser:
//
//	"microsoft outlook"   Outlook for Windows/Mac ("Microsoft Outlook 16.0.…")
//	"msoffice", "ms-office" Office desktop apps ("Mozilla/4.0 (compatible; ms-office; MSOffice 16)")
//	"microsoft office/"   Office apps' own UA ("Microsoft Office/16.0 (Windows NT 10.0; …)")
//	"teams/"              Teams desktop ("… Teams/1.6.00.… Electron/…")
//	"outlook-ios", "outlook-android" Outlook mobile
//	"msauthhost"          Windows Web Account Manager (WAM) sign-in host
//	"webview"             generic embedded web views ("…; WebView/3.0", Android "; wv)" is not used: too broad)
//
// Anything else on the passive endpoint is a browser. The client type is a hint for policy,
// not a security boundary: a user agent can be forged by the user's own device.
var richClientMarkers = []string{"microsoft outlook", "msoffice", "ms-office", "microsoft office/", "teams/", "outlook-ios", "outlook-android", "msauthhost", "webview"}

// IsRichClientUA reports whether ua looks like an Office/Outlook/Teams modern-auth web view.
func IsRichClientUA(ua string) bool {
	if ua == "" {
		return false
	}
	l := strings.ToLower(ua)
	for _, m := range richClientMarkers {
		if strings.Contains(l, m) {
			return true
		}
	}
	return false
}
