package clientctx

import (
	"crypto/tls"
	"crypto/x509"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/sekisho/sekisho/internal/policy"
)

var cfg = NewConfig(
	[]netip.Prefix{netip.MustParsePrefix("10.0.0.0/24"), netip.MustParsePrefix("fd00:1::/64")},
	[]netip.Prefix{netip.MustParsePrefix("40.92.0.0/15"), netip.MustParsePrefix("2a01:111::/32")},
)

type hdr [][2]string

func TestResolve(t *testing.T) {
	tests := []struct {
		name      string
		remote    string
		endpoint  Endpoint
		headers   hdr
		effective string // "" means zero (unknown)
		source    IPSource
		forged    []string
		fwdIP     string
		fwdTrust  bool
		ct        ClientType
		legacyApp string
		ua        string
	}{
		{name: "plain IPv4 browser", remote: "192.0.2.10:5555", effective: "192.0.2.10", source: SourcePeer, ct: Browser},
		{name: "plain IPv6", remote: "[2001:db8::7]:443", effective: "2001:db8::7", source: SourcePeer, ct: Browser},
		{name: "IPv4-mapped IPv6 peer is unmapped", remote: "[::ffff:192.0.2.5]:443", effective: "192.0.2.5", source: SourcePeer, ct: Browser},
		{name: "zone dropped", remote: "[fe80::1%eth0]:443", effective: "fe80::1", source: SourcePeer, ct: Browser},
		{name: "garbage peer", remote: "not-an-address", effective: "", source: SourcePeer, ct: Browser},
		{name: "XFF from untrusted peer ignored", remote: "192.0.2.10:1", headers: hdr{{"X-Forwarded-For", "203.0.113.9"}},
			effective: "192.0.2.10", source: SourcePeer, forged: []string{HeaderXFF}, ct: Browser},
		{name: "Forwarded from untrusted peer ignored", remote: "192.0.2.10:1", headers: hdr{{"Forwarded", "for=203.0.113.9"}},
			effective: "192.0.2.10", source: SourcePeer, forged: []string{HeaderForwarded}, ct: Browser},
		{name: "XFF from trusted proxy", remote: "10.0.0.2:1", headers: hdr{{"X-Forwarded-For", "203.0.113.9"}},
			effective: "203.0.113.9", source: SourceProxy, ct: Browser},
		{name: "XFF spoofed left hop skipped: right-most untrusted wins", remote: "10.0.0.2:1",
			headers:   hdr{{"X-Forwarded-For", "203.0.113.1, 198.51.100.7"}},
			effective: "198.51.100.7", source: SourceProxy, ct: Browser},
		{name: "XFF trusted chain", remote: "10.0.0.2:1", headers: hdr{{"X-Forwarded-For", "6.6.6.6, 198.51.100.7, 10.0.0.3, 10.0.0.4"}},
			effective: "198.51.100.7", source: SourceProxy, ct: Browser},
		{name: "XFF several header lines", remote: "10.0.0.2:1", headers: hdr{{"X-Forwarded-For", "6.6.6.6"}, {"X-Forwarded-For", "198.51.100.8"}},
			effective: "198.51.100.8", source: SourceProxy, ct: Browser},
		{name: "XFF IPv6 and mapped", remote: "[fd00:1::5]:1", headers: hdr{{"X-Forwarded-For", "::ffff:198.51.100.9"}},
			effective: "198.51.100.9", source: SourceProxy, ct: Browser},
		{name: "XFF with port", remote: "10.0.0.2:1", headers: hdr{{"X-Forwarded-For", "[2001:db8::9]:4711"}},
			effective: "2001:db8::9", source: SourceProxy, ct: Browser},
		{name: "XFF garbage hop: unknown, not the proxy", remote: "10.0.0.2:1", headers: hdr{{"X-Forwarded-For", "198.51.100.7, garbage"}},
			effective: "", source: SourceProxy, ct: Browser},
		{name: "XFF all trusted: left-most", remote: "10.0.0.2:1", headers: hdr{{"X-Forwarded-For", "10.0.0.9, 10.0.0.3"}},
			effective: "10.0.0.9", source: SourceProxy, ct: Browser},
		{name: "Forwarded preferred over XFF", remote: "10.0.0.2:1",
			headers:   hdr{{"X-Forwarded-For", "6.6.6.6"}, {"Forwarded", `for=192.0.2.60;proto=https, for="[2001:db8:cafe::17]:4711"`}},
			effective: "2001:db8:cafe::17", source: SourceProxy, ct: Browser},
		{name: "Forwarded unknown node", remote: "10.0.0.2:1", headers: hdr{{"Forwarded", "for=unknown"}},
			effective: "", source: SourceProxy, ct: Browser},
		{name: "Forwarded malformed", remote: "10.0.0.2:1", headers: hdr{{"Forwarded", `for="192.0.2.1`}},
			effective: "", source: SourceProxy, ct: Browser},
		{name: "Exchange Online relays basic auth", remote: "40.93.1.2:1", endpoint: EndpointActive,
			headers:   hdr{{"X-MS-Forwarded-Client-IP", "198.51.100.20"}, {"X-MS-Client-Application", "Microsoft.Exchange.ActiveSync"}, {"X-MS-Client-User-Agent", "Apple-iPhone3C1/811.2"}},
			effective: "198.51.100.20", source: SourceExchangeForwarded, fwdIP: "198.51.100.20", fwdTrust: true,
			ct: LegacyProxied, legacyApp: "ActiveSync", ua: "Apple-iPhone3C1/811.2"},
		{name: "Exchange Online via trusted proxy, list takes first valid", remote: "10.0.0.2:1", endpoint: EndpointActive,
			headers:   hdr{{"X-Forwarded-For", "40.92.3.4"}, {"X-MS-Forwarded-Client-IP", "bogus, 198.51.100.21, 198.51.100.22"}, {"X-MS-Client-Application", "microsoft.exchange.imap"}},
			effective: "198.51.100.21", source: SourceExchangeForwarded, fwdIP: "198.51.100.21", fwdTrust: true, ct: LegacyProxied, legacyApp: "Imap"},
		{name: "Exchange Online IPv6 egress", remote: "[2a01:111:f400::1]:1", endpoint: EndpointActive,
			headers:   hdr{{"X-MS-Forwarded-Client-IP", "2001:db8::44"}, {"X-MS-Client-Application", "Microsoft.Exchange.Powershell"}},
			effective: "2001:db8::44", source: SourceExchangeForwarded, fwdIP: "2001:db8::44", fwdTrust: true, ct: LegacyProxied, legacyApp: "Powershell"},
		{name: "Exchange Online, forwarded IP garbage: caller's address", remote: "40.93.1.2:1", endpoint: EndpointActive,
			headers:   hdr{{"X-MS-Forwarded-Client-IP", "nope"}, {"X-MS-Client-Application", "Microsoft.Exchange.SMTP"}},
			effective: "40.93.1.2", source: SourcePeer, ct: LegacyProxied, legacyApp: "SMTP"},
		{name: "Exchange Online without client app is active-direct", remote: "40.93.1.2:1", endpoint: EndpointActive,
			effective: "40.93.1.2", source: SourcePeer, ct: ActiveDirect},
		{name: "X-MS forged by outsider on active endpoint", remote: "192.0.2.10:1", endpoint: EndpointActive,
			headers:   hdr{{"X-MS-Forwarded-Client-IP", "203.0.113.5"}, {"X-MS-Client-Application", "Microsoft.Exchange.ActiveSync"}, {"X-MS-Client-User-Agent", "x"}},
			effective: "192.0.2.10", source: SourcePeer, forged: []string{HeaderMSForwardedIP, HeaderMSClientApp, HeaderMSClientUserAgent},
			fwdIP: "203.0.113.5", ct: ActiveDirect, ua: "Go-http-client/1.1"},
		{name: "X-MS via trusted proxy from outsider", remote: "10.0.0.2:1", endpoint: EndpointActive,
			headers:   hdr{{"X-Forwarded-For", "192.0.2.11"}, {"X-MS-Forwarded-Client-IP", "203.0.113.5"}},
			effective: "192.0.2.11", source: SourceProxy, forged: []string{HeaderMSForwardedIP}, fwdIP: "203.0.113.5", ct: ActiveDirect},
		{name: "spoofed XFF claiming Exchange does not unlock X-MS", remote: "192.0.2.10:1", endpoint: EndpointActive,
			headers:   hdr{{"X-Forwarded-For", "40.92.1.1"}, {"X-MS-Forwarded-Client-IP", "203.0.113.5"}, {"X-MS-Client-Application", "Microsoft.Exchange.Imap"}},
			effective: "192.0.2.10", source: SourcePeer, forged: []string{HeaderXFF, HeaderMSForwardedIP, HeaderMSClientApp}, fwdIP: "203.0.113.5", ct: ActiveDirect},
		{name: "X-MS from Exchange range on passive endpoint ignored", remote: "40.93.1.2:1", endpoint: EndpointPassive,
			headers:   hdr{{"X-MS-Forwarded-Client-IP", "203.0.113.5"}},
			effective: "40.93.1.2", source: SourcePeer, forged: []string{HeaderMSForwardedIP}, fwdIP: "203.0.113.5", ct: Browser},
		{name: "Outlook web view is rich client", remote: "192.0.2.10:1", headers: hdr{{"User-Agent", "Mozilla/4.0 (compatible; ms-office; MSOffice 16)"}},
			effective: "192.0.2.10", source: SourcePeer, ct: RichClient, ua: "Mozilla/4.0 (compatible; ms-office; MSOffice 16)"},
		{name: "OIDC endpoint", remote: "192.0.2.10:1", endpoint: EndpointOIDC, effective: "192.0.2.10", source: SourcePeer, ct: OIDC},
		{name: "bridge IMAP", remote: "192.0.2.10:1", endpoint: EndpointBridgeIMAP, effective: "192.0.2.10", source: SourcePeer, ct: BridgeIMAP},
		{name: "bridge POP", remote: "192.0.2.10:1", endpoint: EndpointBridgePOP, effective: "192.0.2.10", source: SourcePeer, ct: BridgePOP},
		{name: "bridge SMTP", remote: "192.0.2.10:1", endpoint: EndpointBridgeSMTP, effective: "192.0.2.10", source: SourcePeer, ct: BridgeSMTP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "https://idp.example/adfs/services/trust/13/usernamemixed", nil)
			r.RemoteAddr = tt.remote
			r.Header.Set("User-Agent", "Go-http-client/1.1")
			for _, h := range tt.headers {
				if h[0] == "User-Agent" {
					r.Header.Set(h[0], h[1])
				} else {
					r.Header.Add(h[0], h[1])
				}
			}
			c := Resolve(r, cfg, tt.endpoint)
			var want netip.Addr
			if tt.effective != "" {
				want = netip.MustParseAddr(tt.effective)
			}
			if c.EffectiveIP != want {
				t.Errorf("EffectiveIP = %v, want %v (%s)", c.EffectiveIP, want, c.Reason)
			}
			if c.IPSource != tt.source {
				t.Errorf("IPSource = %q, want %q", c.IPSource, tt.source)
			}
			if c.ForgedHeaders != (len(tt.forged) > 0) || !slices.Equal(c.IgnoredHeaders, tt.forged) {
				t.Errorf("forged %v %v, want %v", c.ForgedHeaders, c.IgnoredHeaders, tt.forged)
			}
			var fwd netip.Addr
			if tt.fwdIP != "" {
				fwd = netip.MustParseAddr(tt.fwdIP)
			}
			if c.ForwardedIP != fwd || c.ForwardedTrusted != tt.fwdTrust {
				t.Errorf("ForwardedIP %v trusted %v, want %v %v", c.ForwardedIP, c.ForwardedTrusted, fwd, tt.fwdTrust)
			}
			if c.ClientType != tt.ct || c.LegacyApp != tt.legacyApp {
				t.Errorf("ClientType %q LegacyApp %q, want %q %q", c.ClientType, c.LegacyApp, tt.ct, tt.legacyApp)
			}
			if tt.ua != "" && c.UserAgent != tt.ua {
				t.Errorf("UserAgent %q, want %q", c.UserAgent, tt.ua)
			}
			if c.Reason == "" {
				t.Error("empty Reason")
			}
			if c.PeerIP.Is4In6() || c.EffectiveIP.Is4In6() || c.EffectiveIP.Zone() != "" {
				t.Errorf("addresses not normalised: %v %v", c.PeerIP, c.EffectiveIP)
			}
		})
	}
}

func TestTLSClientCert(t *testing.T) {
	cert := &x509.Certificate{SerialNumber: nil}
	r := httptest.NewRequest("GET", "https://idp.example/", nil)
	r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert, {}}}
	c := Resolve(r, cfg, EndpointPassive)
	if c.ClientCert != cert {
		t.Fatal("leaf certificate not returned")
	}
}

func TestNormalizeLegacyApp(t *testing.T) {
	for in, want := range map[string]string{
		"Microsoft.Exchange.ActiveSync": "ActiveSync", "Microsoft.Exchange.WebServices": "WebServices",
		"Microsoft.Exchange.Imap": "Imap", "Microsoft.Exchange.Pop": "Pop", "Microsoft.Exchange.PopImap": "PopImap",
		"Microsoft.Exchange.SMTP": "SMTP", "Microsoft.Exchange.RPC": "RPC", "Microsoft.Exchange.Mapi": "Mapi",
		"Microsoft.Exchange.Powershell": "Powershell", "Microsoft.Exchange.Autodiscover": "Autodiscover",
		"Microsoft.Exchange.OfflineAddressBook": "OfflineAddressBook", " microsoft.exchange.activesync ": "ActiveSync",
		"Something.Else": "Other", "": "",
	} {
		if got := NormalizeLegacyApp(in); got != want {
			t.Errorf("NormalizeLegacyApp(%q) = %q, want %q", in, got, want)
		}
	}
}

// The policy engine validates names against its own lists; they must agree with ours.
func TestNamesAgreeWithPolicy(t *testing.T) {
	known := policy.KnownClientTypes()
	for _, ct := range []ClientType{Browser, RichClient, LegacyProxied, ActiveDirect, OIDC, BridgeIMAP, BridgePOP, BridgeSMTP} {
		if !slices.Contains(known, string(ct)) {
			t.Errorf("client type %q unknown to policy", ct)
		}
	}
	apps := policy.KnownLegacyApps()
	for _, a := range legacyApps {
		if !slices.Contains(apps, a) {
			t.Errorf("legacy app %q unknown to policy", a)
		}
	}
}

func TestRichClientUA(t *testing.T) {
	for ua, want := range map[string]bool{
		"Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17328; Pro)":                                         true,
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64; WebView/3.0) AppleWebKit/537.36 (KHTML, like Gecko)":                      true,
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Teams/1.6.00.4472 Chrome/80 Electron/8":                true,
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64; MSAuthHost/1.0/In-Domain; ms-office; MSOffice 16)":                        true,
		"Outlook-iOS/709.2189947.prod.iphone (4.8.0)":                                                                        true,
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126 Safari/537.36 Edg/126":  false,
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15": false,
		"": false,
	} {
		if got := IsRichClientUA(ua); got != want {
			t.Errorf("IsRichClientUA(%q) = %v, want %v", ua, got, want)
		}
	}
}

func TestParseForwarded(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  bool
	}{
		{`for=192.0.2.60;proto=http;by=203.0.113.43`, []string{"192.0.2.60"}, false},
		{`for="[2001:db8:cafe::17]:4711"`, []string{"[2001:db8:cafe::17]:4711"}, false},
		{`For="_gazonk", for=192.0.2.43, for=198.51.100.17`, []string{"_gazonk", "192.0.2.43", "198.51.100.17"}, false},
		{`proto=https, for=unknown`, []string{"", "unknown"}, false},
		{`for="a\"b"`, []string{`a"b`}, false},
		{`for=`, nil, true},
		{`for="unterminated`, nil, true},
		{`for=1.2.3.4 x`, nil, true},
		{`=x`, nil, true},
		{`for=1;for=2`, nil, true},
		{``, nil, false},
	}
	for _, tt := range tests {
		got, err := ParseForwarded(tt.in)
		if (err != nil) != tt.err || !slices.Equal(got, tt.want) {
			t.Errorf("ParseForwarded(%q) = %q, %v; want %q, err=%v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func FuzzParseForwarded(f *testing.F) {
	for _, s := range []string{`for=192.0.2.60;proto=http`, `for="[2001:db8::1]:80", for=unknown`, `for="\"`, `;;,,`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		nodes, err := ParseForwarded(h)
		if err == nil && strings.TrimSpace(h) != "" && len(nodes) == 0 {
			t.Fatalf("no elements and no error for %q", h)
		}
	})
}

// FuzzResolve throws arbitrary header values at Resolve: it must not panic, must keep
// addresses normalised, and must never trust X-MS headers from outside Exchange Online.
func FuzzResolve(f *testing.F) {
	f.Add("192.0.2.1:1", "1.2.3.4, 5.6.7.8", "for=1.2.3.4", "203.0.113.1", "Microsoft.Exchange.Imap", true)
	f.Add("10.0.0.2:1", "40.92.0.1", "", "198.51.100.1,bad", "x", true)
	f.Add("[::ffff:40.92.0.1]:1", "", `for="[::1]"`, "::ffff:1.2.3.4", "", false)
	f.Fuzz(func(t *testing.T, remote, xff, fwd, msIP, msApp string, active bool) {
		r := httptest.NewRequest("POST", "https://idp.example/x", nil)
		r.RemoteAddr = remote
		for k, v := range map[string]string{HeaderXFF: xff, HeaderForwarded: fwd, HeaderMSForwardedIP: msIP, HeaderMSClientApp: msApp} {
			if v != "" {
				r.Header.Set(k, v)
			}
		}
		ep := EndpointPassive
		if active {
			ep = EndpointActive
		}
		c := Resolve(r, cfg, ep)
		for _, a := range []netip.Addr{c.PeerIP, c.ProxiedIP, c.EffectiveIP, c.ForwardedIP} {
			if a.Is4In6() || a.Zone() != "" {
				t.Fatalf("not normalised: %v", a)
			}
		}
		if c.ForwardedTrusted && (!active || !cfg.ExchangeOnline.Contains(callerOf(c))) {
			t.Fatalf("trusted X-MS header from %v (peer %v)", callerOf(c), c.PeerIP)
		}
		if c.IPSource == SourceProxy && !cfg.TrustedProxies.Contains(c.PeerIP) {
			t.Fatalf("proxy source from untrusted peer %v", c.PeerIP)
		}
	})
}

func callerOf(c Client) netip.Addr {
	if c.ProxiedIP.IsValid() {
		return c.ProxiedIP
	}
	return c.PeerIP
}
