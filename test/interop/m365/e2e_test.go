package m365_test

// End-to-end tests through the REAL Sekisho (idptest: demo tenant, real gate, real policy,
// real sign-in log) with the fake Entra ID of fakeentra, which trusts Sekisho through its
// federation metadata as Entra does.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"html"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"
	"github.com/beevik/etree"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/sekisho/sekisho/internal/keys"
	"github.com/sekisho/sekisho/internal/m365"
	"github.com/sekisho/sekisho/internal/protocol/wsfed"
	"github.com/sekisho/sekisho/internal/protocol/wstrust"
	"github.com/sekisho/sekisho/internal/saml11token"
	"github.com/sekisho/sekisho/internal/saml11token/saml11test"
	"github.com/sekisho/sekisho/internal/setup"
	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/testutil/chromium"
	"github.com/sekisho/sekisho/internal/testutil/idptest"
	"github.com/sekisho/sekisho/test/interop/m365/fakeentra"
)

// e2e is a running Sekisho with a fake Entra federated to it.
type e2e struct {
	p     *idptest.IdP
	entra *fakeentra.Entra
	st    store.Store
}

func newE2E(t *testing.T, prepare func(ctx context.Context, in *setup.Instance) error) *e2e {
	t.Helper()
	p := idptest.Start(t, idptest.Options{Prepare: prepare})
	ctx := context.Background()
	st := p.Services.Instance.Store
	ds, err := m365.LoadDomains(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	client := p.Client()
	e := fakeentra.New(t, fakeentra.Config{
		Domains: m365.Plain(ds),
		Certs: func(ctx context.Context) ([]*x509.Certificate, error) {
			return fakeentra.MetadataCerts(ctx, client, p.URL+wsfed.PathMetadata)
		},
		User: func(ctx context.Context, id string) (string, bool) {
			u, err := st.GetUserByImmutableID(ctx, id)
			return u.UPN, err == nil
		},
		MEXURL:     p.URL + wstrust.PathMEX,
		PassiveURL: p.URL + wsfed.PathPassive,
	})
	if err := p.Services.M365.SetReplyURL(ctx, e.URL+"/login.srf"); err != nil {
		t.Fatal(err)
	}
	return &e2e{p: p, entra: e, st: st}
}

func (e *e2e) signIns(t *testing.T) []store.SignInEvent {
	t.Helper()
	evs, err := e.st.ListSignIns(context.Background(), store.SignInFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func (e *e2e) user(t *testing.T, upn string) store.User {
	t.Helper()
	u, err := e.st.GetUserByUPN(context.Background(), upn)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// tokenKey is Sekisho's current token-signing certificate, as a saml11test.Key for the
// xmlsec1/samlsign checks.
func (e *e2e) tokenKey(t *testing.T) saml11test.Key {
	t.Helper()
	k, err := e.p.Services.Instance.Keys.Current(context.Background(), keys.PurposeToken)
	if err != nil {
		t.Fatal(err)
	}
	return saml11test.Key{Cert: k.Cert, CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.Cert.Raw})}
}

// want is the part of a sign-in record a case asserts.
type want struct {
	Username, Protocol, ClientType, LegacyApp, EffectiveIP, ForwardedIP string
	ForwardedTrusted, ForgedHeaders                                     bool
	Decision, Rule, Reason                                              string
}

func got(ev store.SignInEvent) want {
	return want{Username: ev.Username, Protocol: ev.Protocol, ClientType: ev.ClientType, LegacyApp: ev.LegacyApp,
		EffectiveIP: ev.EffectiveIP, ForwardedIP: ev.ForwardedIP, ForwardedTrusted: ev.ForwardedTrusted,
		ForgedHeaders: ev.ForgedHeaders, Decision: ev.Decision, Rule: ev.Rule, Reason: ev.Reason}
}

// ---------------------------------------------------------------------------------------
// 1. WS-Federation passive in Chromium.

type browser struct {
	t   *testing.T
	ctx context.Context

	mu   sync.Mutex
	reqs []string // "METHOD URL" of every request the page made
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	b := &browser{t: t, ctx: chromium.Start(t, chromium.Command(t), chromedp.IgnoreCertErrors)}
	// Listen starts the browser on the long-lived context (a step's timeout must not end it).
	if err := chromedp.Listen(b.ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok && !strings.HasPrefix(e.Request.URL, "data:") {
			b.mu.Lock()
			b.reqs = append(b.reqs, e.Request.Method+" "+e.Request.URL)
			b.mu.Unlock()
		}
	}); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return b
}

// do runs actions with a timeout; on failure it reports where the browser is.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		sctx, scancel := context.WithTimeout(b.ctx, 3*time.Second)
		defer scancel()
		loc, _ := chromedp.Run(sctx, chromedp.Location())
		body, _ := chromedp.Run(sctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		b.t.Fatalf("%s: %v\nat %s\n%.2000s\nrequests: %v", what, err, loc, body, b.requests())
	}
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(v)
}

func (b *browser) location() string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		b.t.Fatal(err)
	}
	return v
}

// requests returns the requests made since the last call.
func (b *browser) requests() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.reqs
	b.reqs = nil
	return r
}

func findRequest(reqs []string, prefix string) (string, bool) {
	for _, r := range reqs {
		if strings.HasPrefix(r, prefix) {
			return r, true
		}
	}
	return "", false
}

func TestE2EWSFedPassiveChromium(t *testing.T) {
	e := newE2E(t, nil)
	b := newBrowser(t)
	ctx := context.Background()
	alice := e.user(t, "alice@example.com")
	domain, err := m365.GetDomain(ctx, e.st, "example.com")
	if err != nil {
		t.Fatal(err)
	}

	// Entra trusts the certificate it read from the metadata: Sekisho's token key.
	certs, err := fakeentra.MetadataCerts(ctx, e.p.Client(), e.p.URL+wsfed.PathMetadata)
	if err != nil || !certs[0].Equal(e.tokenKey(t).Cert) {
		t.Fatalf("metadata certificates %v (err %v) do not start with the current token key", len(certs), err)
	}

	// signedIn waits for the fake Entra's result page and returns the post it accepted.
	signedIn := func(step string, posts int) fakeentra.Post {
		t.Helper()
		b.do(step+": wait for login.srf", chromedp.WaitVisible(chromedp.CSS("#status")))
		if st := b.text("#status"); st != "signed-in" {
			t.Fatalf("%s: fake Entra says %q: %s", step, st, b.text("#error"))
		}
		if loc := b.location(); loc != e.entra.URL+"/login.srf" {
			t.Fatalf("%s: browser ended at %s", step, loc)
		}
		ps := e.entra.Posts()
		if len(ps) != posts {
			t.Fatalf("%s: fake Entra got %d posts, want %d", step, len(ps), posts)
		}
		return ps[len(ps)-1]
	}
	checkRecord := func(step string, before int) {
		t.Helper()
		evs := e.signIns(t)[before:]
		if len(evs) != 1 {
			t.Fatalf("%s: %d new sign-in records, want 1: %+v", step, len(evs), evs)
		}
		w := want{Username: alice.UPN, Protocol: "wsfed", ClientType: "browser", EffectiveIP: "127.0.0.1", Decision: "allow", Rule: "office", Reason: "policy"}
		if g := got(evs[0]); g != w || evs[0].Application != m365.DefaultApplication || evs[0].UserID != alice.ID ||
			!strings.Contains(evs[0].UserAgent, "Chrome") {
			t.Errorf("%s: record %+v (app %q, UA %q), want %+v", step, g, evs[0].Application, evs[0].UserAgent, w)
		}
	}

	// a. Entra sends the browser with a user name hint (and a wreply that must be ignored);
	// the sign-in page asks only for the password.
	n := len(e.signIns(t))
	b.do("start", chromedp.Navigate(e.entra.StartURL(alice.UPN, false, url.Values{"wreply": {"https://evil.example/"}})),
		chromedp.WaitVisible(chromedp.CSS("#password")))
	if who := b.text("#who"); who != alice.UPN {
		t.Errorf("password page is for %q", who)
	}
	reqs := b.requests()
	adfs, ok := findRequest(reqs, "GET "+e.p.URL+wsfed.PathPassive+"?")
	if !ok {
		t.Fatalf("browser never reached the passive endpoint: %v", reqs)
	}
	u, _ := url.Parse(strings.TrimPrefix(adfs, "GET "))
	q := u.Query()
	if q.Get("wtrealm") != m365.Realm || !strings.HasPrefix(q.Get("wctx"), "LoginOptions=3&estsredirect=2&estsrequest=") ||
		q.Get("username") != alice.UPN || q.Get("client-request-id") == "" || q.Get("wreply") != "https://evil.example/" {
		t.Errorf("Entra's redirect has the wrong shape: %s", adfs)
	}
	login, ok := findRequest(reqs, "GET "+e.p.URL+"/login?")
	if !ok || !strings.Contains(login, "login_hint=alice%40example.com") {
		t.Errorf("no sign-in page with the user name hint: %v", reqs)
	}
	b.do("password", chromedp.SendKeys(chromedp.CSS("#password"), e.p.Password("alice@example.com")), chromedp.Click(chromedp.CSS("#signin")))
	first := signedIn("first sign-in", 1)
	reqs = b.requests()
	for _, r := range reqs {
		if u, err := url.Parse(r[strings.IndexByte(r, ' ')+1:]); err != nil || u.Hostname() == "evil.example" {
			t.Errorf("browser went to wreply: %s", r)
		}
	}
	if _, ok := findRequest(reqs, "POST "+e.entra.URL+"/login.srf"); !ok {
		t.Errorf("no POST to the registered login.srf: %v", reqs)
	}
	c := first.Claims
	if c.UPN != alice.UPN || c.ImmutableID != alice.ImmutableID || c.Issuer != domain.IssuerURI ||
		c.InsideCorporateNetwork != "true" || c.AuthnMethod != saml11token.PasswordMethod || c.AuthnMethodsReferences != "" {
		t.Errorf("claims %+v", c)
	}
	if first.WCtx != q.Get("wctx") {
		t.Errorf("wctx came back as %q, sent %q", first.WCtx, q.Get("wctx"))
	}
	checkRecord("first sign-in", n)

	// The same wresult satisfies independent relying-party implementations.
	t.Run("passport-wsfed-saml2", func(t *testing.T) {
		dir, node := nodeDir(t)
		in, _ := json.Marshal(map[string]string{"wresult": first.WResult, "cert": string(e.tokenKey(t).CertPEM), "realm": m365.Realm})
		r := runNode(t, &stack{caFile: e.p.CAFile}, dir, node, in, "wsfed-validate.js")
		if !r.OK {
			t.Fatalf("passport-wsfed-saml2 rejects the wresult: %s", r.Error)
		}
		if r.Profile[saml11token.ClaimsNS+"/UPN"] != alice.UPN || r.Profile[saml11token.LiveIDNS+"/ImmutableID"] != alice.ImmutableID ||
			r.Profile["http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier"] != alice.ImmutableID ||
			r.Profile[saml11token.CorpNetNS+"/insidecorporatenetwork"] != "true" {
			t.Errorf("profile %v", r.Profile)
		}
		bad := strings.Replace(first.WResult, alice.ImmutableID, "A"+alice.ImmutableID[1:], 1)
		if bad == first.WResult {
			bad = strings.Replace(first.WResult, alice.ImmutableID, "B"+alice.ImmutableID[1:], 1)
		}
		in, _ = json.Marshal(map[string]string{"wresult": bad, "cert": string(e.tokenKey(t).CertPEM), "realm": m365.Realm})
		if r := runNode(t, &stack{caFile: e.p.CAFile}, dir, node, in, "wsfed-validate.js"); r.OK {
			t.Error("passport-wsfed-saml2 accepts a tampered wresult")
		}
	})
	t.Run("xmlsec1 and samlsign", func(t *testing.T) {
		saml11test.CheckPeers(t, first.Assertion, e.tokenKey(t))
	})

	// b. A second sign-in rides on the SSO session: no sign-in page.
	n = len(e.signIns(t))
	b.do("SSO", chromedp.Navigate(e.entra.StartURL(alice.UPN, false, nil)))
	second := signedIn("SSO sign-in", 2)
	if r, ok := findRequest(b.requests(), "GET "+e.p.URL+"/login"); ok {
		t.Errorf("SSO sign-in showed the sign-in page: %s", r)
	}
	if !second.Claims.AuthnInstant.Equal(c.AuthnInstant) {
		t.Errorf("SSO authentication instant %v, want the session's %v", second.Claims.AuthnInstant, c.AuthnInstant)
	}
	checkRecord("SSO sign-in", n)

	// c. prompt=login (wfresh=0, wauth=…/password) asks for the password again despite the
	// session; a wrong password is refused on the page and recorded.
	b.do("fresh", chromedp.Navigate(e.entra.StartURL(alice.UPN, true, nil)), chromedp.WaitVisible(chromedp.CSS("#password")))
	if r, ok := findRequest(b.requests(), "GET "+e.p.URL+"/login?"); !ok || !strings.Contains(r, "force=1") {
		t.Errorf("forced sign-in page not marked force=1: %q", r)
	}
	n = len(e.signIns(t))
	b.do("wrong password", chromedp.SendKeys(chromedp.CSS("#password"), "not-the-password"), chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS(".error")))
	evs := e.signIns(t)[n:]
	if len(evs) != 1 || evs[0].Decision != "deny" || evs[0].Reason != "wrong_password" || evs[0].UserID != alice.ID ||
		evs[0].Application != m365.DefaultApplication {
		t.Errorf("wrong password records %+v", evs)
	}
	n = len(e.signIns(t))
	b.do("fresh password", chromedp.SendKeys(chromedp.CSS("#password"), e.p.Password("alice@example.com")), chromedp.Click(chromedp.CSS("#signin")))
	third := signedIn("fresh sign-in", 3)
	if !third.Claims.AuthnInstant.After(c.AuthnInstant) {
		t.Errorf("fresh sign-in authentication instant %v is not after %v", third.Claims.AuthnInstant, c.AuthnInstant)
	}
	checkRecord("fresh sign-in", n)

	// d. wsignout1.0 ends the session: the next sign-in needs the password.
	b.do("sign out", chromedp.Navigate(e.p.URL+wsfed.PathPassive+"?wa=wsignout1.0"), chromedp.WaitVisible(chromedp.CSS("h1")))
	if h := b.text("h1"); !strings.Contains(h, "Signed out") {
		t.Errorf("sign-out page says %q", h)
	}
	b.do("after sign-out", chromedp.Navigate(e.entra.StartURL(alice.UPN, false, nil)), chromedp.WaitVisible(chromedp.CSS("#password")))

	// e. Outside the office (the office network no longer holds loopback) the real policy
	// refuses bob (staff only: default deny); the page's reference is the sign-in record,
	// and Entra gets nothing.
	if err := setNetwork(ctx, e.st, "office", "203.0.113.0/24"); err != nil {
		t.Fatal(err)
	}
	e.p.Services.Policies.Invalidate()
	n = len(e.signIns(t))
	b.do("bob outside", chromedp.Navigate(e.entra.StartURL("bob@example.com", false, nil)), chromedp.WaitVisible(chromedp.CSS("#password")),
		chromedp.SendKeys(chromedp.CSS("#password"), e.p.Password("bob@example.com")), chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS("code")))
	if h := b.text("h1"); !strings.Contains(h, "Access denied") {
		t.Errorf("denial page says %q", h)
	}
	ref := b.text("code")
	ev, err := e.st.GetSignIn(ctx, ref)
	if err != nil {
		t.Fatalf("denial page reference %q: %v", ref, err)
	}
	w := want{Username: "bob@example.com", Protocol: "wsfed", ClientType: "browser", EffectiveIP: "127.0.0.1", Decision: "deny", Rule: "default", Reason: "policy"}
	if g := got(ev); g != w {
		t.Errorf("denial record %+v, want %+v", g, w)
	}
	if len(e.signIns(t)) != n+1 || len(e.entra.Posts()) != 3 {
		t.Errorf("denied sign-in: %d records (want 1), fake Entra posts %d (want 3)", len(e.signIns(t))-n, len(e.entra.Posts()))
	}
}

// ---------------------------------------------------------------------------------------
// 2.–4. WS-Trust through the real gate.

const (
	soapNS  = "http://www.w3.org/2003/05/soap-envelope"
	wsseNS  = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
	wsuNS   = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
	trust13 = "http://docs.oasis-open.org/ws-sx/ws-trust/200512"
)

// usernameMixed13 is a WS-Trust 1.3 Issue request shaped as MSAL and Exchange Online send it.
func usernameMixed13(to, user, pass, messageID string, now time.Time) string {
	esc := html.EscapeString
	ts := func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
	return `<s:Envelope xmlns:s="` + soapNS + `" xmlns:wsa="http://www.w3.org/2005/08/addressing" xmlns:wsu="` + wsuNS + `">` +
		`<s:Header><wsa:Action s:mustUnderstand="1">` + trust13 + `/RST/Issue</wsa:Action>` +
		`<wsa:messageID>` + messageID + `</wsa:messageID>` +
		`<wsa:ReplyTo><wsa:Address>http://www.w3.org/2005/08/addressing/anonymous</wsa:Address></wsa:ReplyTo>` +
		`<wsa:To s:mustUnderstand="1">` + esc(to) + `</wsa:To>` +
		`<wsse:Security s:mustUnderstand="1" xmlns:wsse="` + wsseNS + `">` +
		`<wsu:Timestamp wsu:Id="MSATimeStamp"><wsu:Created>` + ts(now) + `</wsu:Created><wsu:Expires>` + ts(now.Add(10*time.Minute)) + `</wsu:Expires></wsu:Timestamp>` +
		`<wsse:UsernameToken wsu:Id="UnPwSecTok13_1"><wsse:Username>` + esc(user) + `</wsse:Username><wsse:Password>` + esc(pass) + `</wsse:Password></wsse:UsernameToken>` +
		`</wsse:Security></s:Header><s:Body><wst:RequestSecurityToken xmlns:wst="` + trust13 + `">` +
		`<wsp:AppliesTo xmlns:wsp="http://schemas.xmlsoap.org/ws/2004/09/policy"><wsa:EndpointReference><wsa:Address>` + m365.Realm + `</wsa:Address></wsa:EndpointReference></wsp:AppliesTo>` +
		`<wst:KeyType>` + trust13 + `/Bearer</wst:KeyType><wst:RequestType>` + trust13 + `/Issue</wst:RequestType>` +
		`</wst:RequestSecurityToken></s:Body></s:Envelope>`
}

// postTrust sends a usernamemixed 1.3 request with extra headers and returns status and body.
func (e *e2e) postTrust(t *testing.T, user, pass string, hdr map[string]string) (int, string) {
	t.Helper()
	to := e.p.URL + wstrust.Path13
	req, err := http.NewRequest(http.MethodPost, to, strings.NewReader(usernameMixed13(to, user, pass, "urn:uuid:7a1c3e9e-0000-4000-8000-000000000001", time.Now())))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/soap+xml; charset=utf-8")
	req.Header.Set("SOAPAction", trust13+"/RST/Issue")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := e.p.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// assertionIn returns the assertion of an RSTR, serialised on its own.
func assertionIn(t *testing.T, body string) string {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromString(body); err != nil {
		t.Fatalf("response: %v\n%s", err, body)
	}
	tok := doc.FindElement("//RequestSecurityTokenResponse/RequestedSecurityToken")
	if tok == nil || len(tok.ChildElements()) != 1 {
		t.Fatalf("no RequestedSecurityToken in\n%.1500s", body)
	}
	ad := etree.NewDocument()
	ad.SetRoot(tok.ChildElements()[0].Copy())
	s, _ := ad.WriteToString()
	return s
}

func isFault(body, subcode string) bool {
	return strings.Contains(body, "<s:Fault>") && strings.Contains(body, "wst:"+subcode+"<")
}

func setNetwork(ctx context.Context, s store.Store, name string, cidrs ...string) error {
	return s.PutNetwork(ctx, store.Network{Name: name, CIDRs: cidrs, UpdatedAt: time.Now()})
}

// Exchange Online proxying basic auth: X-MS-* headers trusted only from its ranges.
func TestE2EExchangeOnlineThroughGate(t *testing.T) {
	ctx := context.Background()
	// The test client connects from 127.0.0.1: that is "Exchange Online"; the office is a
	// documentation range only, so loopback is outside.
	e := newE2E(t, func(ctx context.Context, in *setup.Instance) error {
		if err := setNetwork(ctx, in.Store, "exchange-online", "127.0.0.0/8"); err != nil {
			return err
		}
		return setNetwork(ctx, in.Store, "office", "203.0.113.0/24")
	})
	alice := e.user(t, "alice@example.com")
	exo := func(ip string) map[string]string {
		return map[string]string{"X-MS-Client-Application": "Microsoft.Exchange.ActiveSync",
			"X-MS-Client-User-Agent": "Apple-iPhone3C1/811.2", "X-MS-Forwarded-Client-IP": ip}
	}
	cases := []struct {
		name     string
		exchange []string // exchange-online ranges for this case
		hdr      map[string]string
		ok       bool
		rec      want
	}{
		{"Exchange Online, client in the office", []string{"127.0.0.0/8"}, exo("203.0.113.5"), true,
			want{Username: alice.UPN, Protocol: "wstrust", ClientType: "legacy-proxied", LegacyApp: "ActiveSync", EffectiveIP: "203.0.113.5",
				ForwardedIP: "203.0.113.5", ForwardedTrusted: true, Decision: "allow", Rule: "legacy-in-office", Reason: "policy"}},
		{"Exchange Online, client outside", []string{"127.0.0.0/8"}, exo("198.51.100.7"), false,
			want{Username: alice.UPN, Protocol: "wstrust", ClientType: "legacy-proxied", LegacyApp: "ActiveSync", EffectiveIP: "198.51.100.7",
				ForwardedIP: "198.51.100.7", ForwardedTrusted: true, Decision: "deny", Rule: "block-legacy-outside", Reason: "policy"}},
		{"forged X-MS headers from outside Exchange Online", []string{"40.92.0.0/15"}, exo("203.0.113.5"), false,
			want{Username: alice.UPN, Protocol: "wstrust", ClientType: "active-direct", EffectiveIP: "127.0.0.1",
				ForwardedIP: "203.0.113.5", ForgedHeaders: true, Decision: "deny", Rule: "block-legacy-outside", Reason: "policy"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := setNetwork(ctx, e.st, "exchange-online", tc.exchange...); err != nil {
				t.Fatal(err)
			}
			e.p.Services.Policies.Invalidate()
			n := len(e.signIns(t))
			code, body := e.postTrust(t, alice.UPN, e.p.Password(alice.UPN), tc.hdr)
			if tc.ok {
				if code != http.StatusOK {
					t.Fatalf("status %d: %.1500s", code, body)
				}
				c, err := e.entra.CheckAssertion(ctx, assertionIn(t, body))
				if err != nil {
					t.Fatalf("fake Entra rejects the assertion: %v", err)
				}
				if c.UPN != alice.UPN || c.InsideCorporateNetwork != "true" {
					t.Errorf("claims %+v", c)
				}
			} else if code != http.StatusInternalServerError || !isFault(body, wstrust.FailedAuthentication) {
				t.Fatalf("want a FailedAuthentication fault, got %d: %.1500s", code, body)
			}
			evs := e.signIns(t)[n:]
			if len(evs) != 1 {
				t.Fatalf("%d records, want 1: %+v", len(evs), evs)
			}
			if g := got(evs[0]); g != tc.rec || evs[0].PeerIP != "127.0.0.1" || evs[0].Application != m365.DefaultApplication {
				t.Errorf("record %+v (peer %s, app %s)\nwant   %+v", g, evs[0].PeerIP, evs[0].Application, tc.rec)
			}
			if ua := evs[0].UserAgent; (tc.rec.ClientType == "legacy-proxied") != (ua == "Apple-iPhone3C1/811.2") {
				t.Errorf("user agent %q", ua)
			}
		})
	}
}

// MSAL for Go against the real server: user realm → Sekisho's MEX → WS-Trust 1.3 → grant.
func TestE2EMSALGoUsernamePassword(t *testing.T) {
	e := newE2E(t, nil)
	pool := e.p.CAPool.Clone()
	pool.AddCert(e.entra.Srv.Certificate())
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	client, err := public.New("00000000-0000-0000-0000-00000000c11e",
		public.WithAuthority(e.entra.URL+"/organizations"), public.WithInstanceDiscovery(false), public.WithHTTPClient(hc))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := len(e.signIns(t))
	//lint:ignore SA1019 the username/password flow is what federated legacy clients use; pinned to v1.10.1.
	res, err := client.AcquireTokenByUsernamePassword(ctx, []string{"User.Read"}, "alice@example.com", e.p.Password("alice@example.com"))
	if err != nil {
		t.Fatalf("MSAL: %v", err)
	}
	if res.AccessToken != "entra-token-for:alice@example.com" {
		t.Errorf("access token %q", res.AccessToken)
	}
	assertions, grants := e.entra.Received()
	if len(assertions) != 1 || grants[0] != fakeentra.Grant {
		t.Fatalf("fake Entra got %d assertions, grants %v", len(assertions), grants)
	}
	saml11test.CheckPeers(t, assertions[0], e.tokenKey(t))
	evs := e.signIns(t)[n:]
	w := want{Username: "alice@example.com", Protocol: "wstrust", ClientType: "active-direct", EffectiveIP: "127.0.0.1",
		Decision: "allow", Rule: "legacy-in-office", Reason: "policy"}
	if len(evs) != 1 || got(evs[0]) != w {
		t.Fatalf("records %+v, want one %+v", evs, w)
	}
}

// Refusals through the real server: one fault, byte for byte, whatever the cause; the
// sign-in log has the cause.
func TestE2EWSTrustRefusals(t *testing.T) {
	ctx := context.Background()
	e := newE2E(t, nil)
	bob, carol := e.user(t, "bob@example.com"), e.user(t, "carol@example.com")
	if _, err := e.st.UpdateUser(ctx, bob.ID, func(u store.User) (store.User, error) { u.ImmutableID = ""; return u, nil }); err != nil {
		t.Fatal(err)
	}
	if err := e.p.Services.Instance.Directory.SetStatus(ctx, carol.UPN, store.UserDisabled); err != nil {
		t.Fatal(err)
	}
	alice := e.user(t, "alice@example.com")
	cases := []struct {
		name, user, pass, userID, reason string
	}{
		{"wrong password", alice.UPN, "not-the-password", alice.ID, "wrong_password"},
		{"unknown user", "nobody@example.com", e.p.Password("alice@example.com"), "", "unknown_user"},
		{"no ImmutableID", bob.UPN, e.p.Password(bob.UPN), bob.ID, "no_immutable_id"},
		{"disabled", carol.UPN, e.p.Password(carol.UPN), carol.ID, "disabled"},
	}
	var first string
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := len(e.signIns(t))
			code, body := e.postTrust(t, tc.user, tc.pass, nil)
			if code != http.StatusInternalServerError || !isFault(body, wstrust.FailedAuthentication) {
				t.Fatalf("status %d: %.1500s", code, body)
			}
			if first == "" {
				first = body
			} else if body != first {
				t.Errorf("fault differs from the first case's:\n%s\n%s", body, first)
			}
			evs := e.signIns(t)[n:]
			if len(evs) != 1 {
				t.Fatalf("%d records, want 1: %+v", len(evs), evs)
			}
			ev := evs[0]
			if ev.Decision != "deny" || ev.Reason != tc.reason || ev.UserID != tc.userID || ev.Username != tc.user ||
				ev.Protocol != "wstrust" || ev.ClientType != "active-direct" || ev.Rule != "" {
				t.Errorf("record %+v", got(ev))
			}
		})
	}
	if a, _ := e.entra.Received(); len(a) != 0 {
		t.Errorf("fake Entra received %d assertions", len(a))
	}
}
