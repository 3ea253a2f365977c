package wsfed_test

import (
	"crypto/x509"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/sekisho/sekisho/internal/m365"
	"github.com/sekisho/sekisho/internal/m365/m365test"
	"github.com/sekisho/sekisho/internal/protocol/wsfed"
	"github.com/sekisho/sekisho/internal/saml11token"
	"github.com/sekisho/sekisho/internal/saml11token/saml11test"
	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/testutil/peers"
	"github.com/sekisho/sekisho/internal/testutil/sessiontest"
)

const replyURL = "https://login.example.test/login.srf"

var domains = m365.Domains{
	{Name: "example.com", IssuerURI: "http://example.com/adfs/services/trust/", EmitMFA: true, InsideNetworks: []string{"office"}},
	{Name: "example.org", IssuerURI: "http://example.org/adfs/services/trust/"},
}

type env struct {
	srv     *httptest.Server
	gate    *m365test.Gate
	sess    *sessiontest.Sessions
	key     saml11test.Key
	next    saml11test.Key
	rejects m365test.Rejections
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{key: saml11test.NewKey(t, "current"), next: saml11test.NewKey(t, "next"), sess: &sessiontest.Sessions{}}
	e.gate = m365test.NewGate(
		m365test.Account{User: store.User{ID: "u1", UPN: "alice@example.com", ImmutableID: "aWQtYWxpY2U="}},
		m365test.Account{User: store.User{ID: "u2", UPN: "noid@example.com"}},
		m365test.Account{User: store.User{ID: "u3", UPN: "denied@example.com", ImmutableID: "x"}, Deny: signin.ReasonPolicy},
		m365test.Account{User: store.User{ID: "u4", UPN: "carol@elsewhere.net", ImmutableID: "y"}},
	)
	e.srv = m365test.Server(t)
	h, err := wsfed.New(wsfed.Config{
		BaseURL: e.srv.URL, Domains: domains, Keys: saml11token.StaticKeys{Current: e.key.Signer, Next: e.next.Cert},
		Gate: e.gate, Sessions: e.sess, ReplyURL: replyURL,
		OnReject: e.rejects.Record,
	})
	if err != nil {
		t.Fatal(err)
	}
	m365test.Mount(e.srv, h)
	return e
}

func (e *env) Rejects() []m365.Rejection { return e.rejects.List() }

func (e *env) login(userID string, mfa bool) {
	e.sess.Current = &signin.Session{ID: "s-" + userID, UserID: userID, AuthnInstant: time.Now().Add(-30 * time.Second), MFA: mfa}
}

func (e *env) get(t *testing.T, q url.Values) (*http.Response, string) {
	t.Helper()
	c := e.srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(e.srv.URL + wsfed.PathPassive + "?" + q.Encode())
	return resp, m365test.Body(t, resp, err)
}

func signinQuery(extra ...string) url.Values {
	q := url.Values{"wa": {"wsignin1.0"}, "wtrealm": {m365.Realm}, "wctx": {"LoginOptions=3&estsredirect=2&x=<&>\""}}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return q
}

var inputRE = regexp.MustCompile(`<input type="hidden" name="(\w+)" value="([^"]*)">`)
var actionRE = regexp.MustCompile(`<form id="wsfed" method="post" action="([^"]*)">`)

// form reads the auto-posting form the way a browser would submit it.
func form(t *testing.T, body string) (action string, fields map[string]string) {
	t.Helper()
	m := actionRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no POST form in %s", body)
	}
	fields = map[string]string{}
	for _, f := range inputRE.FindAllStringSubmatch(body, -1) {
		fields[f[1]] = html.UnescapeString(f[2])
	}
	return html.UnescapeString(m[1]), fields
}

func assertionIn(t *testing.T, wresult string) string {
	t.Helper()
	i := strings.Index(wresult, "<saml:Assertion")
	j := strings.Index(wresult, "</saml:Assertion>")
	if i < 0 || j < 0 {
		t.Fatalf("no assertion in wresult %s", wresult)
	}
	return wresult[i : j+len("</saml:Assertion>")]
}

func TestSignIn(t *testing.T) {
	e := newEnv(t)
	e.login("u1", true)
	e.gate.Networks = []string{"office"}
	q := signinQuery("username", "alice@example.com", "wreply", "https://evil.example/steal", "client-request-id", "abc")
	resp, body := e.get(t, q)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'sha256-") || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("headers: CSP %q, Cache-Control %q", csp, resp.Header.Get("Cache-Control"))
	}
	action, f := form(t, body)
	if action != replyURL || strings.Contains(body, "evil.example") {
		t.Errorf("form posts to %q (wreply must be ignored)", action)
	}
	if f["wa"] != "wsignin1.0" || f["wctx"] != q.Get("wctx") {
		t.Errorf("wa %q, wctx %q (want echoed %q)", f["wa"], f["wctx"], q.Get("wctx"))
	}
	if !strings.Contains(body, "<noscript>") || !strings.Contains(body, `<button type="submit">`) {
		t.Error("no button for browsers without JavaScript")
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromString(f["wresult"]); err != nil {
		t.Fatal(err)
	}
	rstr := doc.Root()
	if rstr.Tag != "RequestSecurityTokenResponse" || rstr.NamespaceURI() != "http://schemas.xmlsoap.org/ws/2005/02/trust" {
		t.Fatalf("wresult root %s in %s", rstr.Tag, rstr.NamespaceURI())
	}
	for path, want := range map[string]string{
		"./AppliesTo/EndpointReference/Address": m365.Realm,
		"./TokenType":                           "urn:oasis:names:tc:SAML:1.0:assertion",
		"./RequestType":                         "http://schemas.xmlsoap.org/ws/2005/02/trust/Issue",
		"./KeyType":                             "http://schemas.xmlsoap.org/ws/2005/05/identity/NoProofKey",
	} {
		if el := rstr.FindElement(path); el == nil || el.Text() != want {
			t.Errorf("%s missing or not %q", path, want)
		}
	}
	if rstr.FindElement("./Lifetime/Created") == nil || rstr.FindElement("./Lifetime/Expires") == nil {
		t.Error("no Lifetime")
	}
	a := assertionIn(t, f["wresult"])
	c, err := saml11test.Validate(a, e.key.Cert, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if c.Issuer != domains[0].IssuerURI || c.NameID != "aWQtYWxpY2U=" || c.AuthnMethod != saml11token.MFAMethod ||
		c.Attributes[saml11token.CorpNetNS+"|insidecorporatenetwork"] != "true" || c.Attributes[saml11token.ClaimsNS+"|UPN"] != "alice@example.com" {
		t.Errorf("claims %+v", c)
	}
	saml11test.CheckPeers(t, a, e.key)

	req := e.sess.Required()
	if len(req) != 1 || req[0].ReturnTo != wsfed.PathPassive+"?"+q.Encode() || req[0].LoginHint != "alice@example.com" || req[0].ForceAuthn || req[0].Application != "microsoft365" {
		t.Errorf("Require options %+v", req)
	}
	calls := e.gate.Calls()
	if len(calls) != 1 || calls[0].Attempt.Protocol != "wsfed" || calls[0].Attempt.Endpoint != signin.Passive || calls[0].Attempt.Session == nil || calls[0].Attempt.Password != "" {
		t.Errorf("gate calls %+v", calls)
	}
}

func TestSignInRedirectsToLogin(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra []string
		force bool
	}{
		{"no session", nil, false},
		{"wfresh=0 and wauth password", []string{"wfresh", "0", "wauth", wsfed.PasswordWAuth}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if tc.force {
				e.sess.Current = &signin.Session{ID: "s", UserID: "u1", AuthnInstant: time.Now().Add(-time.Hour)}
			}
			resp, _ := e.get(t, signinQuery(tc.extra...))
			if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), "/login?return=") {
				t.Fatalf("status %d location %q", resp.StatusCode, resp.Header.Get("Location"))
			}
			if req := e.sess.Required(); len(req) != 1 || req[0].ForceAuthn != tc.force {
				t.Errorf("ForceAuthn = %+v, want %v", req, tc.force)
			}
			if n := len(e.gate.Calls()); n != 0 {
				t.Errorf("gate called %d times before authentication", n)
			}
		})
	}
}

func TestSignInRefusals(t *testing.T) {
	cases := []struct {
		name    string
		user    string
		q       url.Values
		status  int
		text    string
		reject  signin.Reason
		eventID bool
	}{
		{"policy deny", "u3", signinQuery(), http.StatusForbidden, "Access denied", "", true},
		{"no immutable id", "u2", signinQuery(), http.StatusForbidden, "ImmutableID", "no_immutable_id", true},
		{"domain not federated", "u4", signinQuery(), http.StatusForbidden, "Microsoft 365", "domain_not_federated", true},
		{"unknown realm", "u1", signinQuery("wtrealm", "urn:evil"), http.StatusBadRequest, "Unknown application", "unknown_realm", false},
		{"missing wa", "u1", url.Values{"wtrealm": {m365.Realm}}, http.StatusBadRequest, "Invalid sign-in request", "bad_request", false},
		{"unknown wa", "u1", url.Values{"wa": {"wattr1.0"}}, http.StatusBadRequest, "Invalid sign-in request", "bad_request", false},
		{"repeated wctx", "u1", url.Values{"wa": {"wsignin1.0"}, "wtrealm": {m365.Realm}, "wctx": {"a", "b"}}, http.StatusBadRequest, "Invalid sign-in request", "bad_request", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.login(tc.user, false)
			resp, body := e.get(t, tc.q)
			if resp.StatusCode != tc.status || !strings.Contains(body, tc.text) {
				t.Fatalf("status %d, body %s", resp.StatusCode, body)
			}
			if strings.Contains(body, "wresult") || strings.Contains(body, "Assertion") {
				t.Fatal("a refusal carries a token")
			}
			if tc.eventID && !strings.Contains(body, "evt-1") {
				t.Errorf("page lacks the sign-in reference: %s", body)
			}
			// A request refused before the gate names its record too (never the reason).
			if !tc.eventID && tc.reject != "" && (!strings.Contains(body, `<code id="reference">rej-1</code>`) || strings.Contains(body, string(tc.reject))) {
				t.Errorf("refusal page without its reference, or with the reason: %s", body)
			}
			rj := e.Rejects()
			if tc.reject == "" && len(rj) != 0 || tc.reject != "" && (len(rj) != 1 || rj[0].Reason != tc.reject) {
				t.Errorf("rejections %+v, want %q", rj, tc.reject)
			}
			if tc.reject == "no_immutable_id" && rj[0].EventID != "evt-1" {
				t.Errorf("rejection not linked to the sign-in record: %+v", rj[0])
			}
		})
	}
}

func TestSignOut(t *testing.T) {
	e := newEnv(t)
	e.login("u1", false)
	resp, body := e.get(t, url.Values{"wa": {"wsignout1.0"}, "wreply": {"https://evil.example/"}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Signed out") || strings.Contains(body, "evil") || e.sess.Ended() != 1 {
		t.Fatalf("signout: %d ended=%d %s", resp.StatusCode, e.sess.Ended(), body)
	}
	resp, body = e.get(t, url.Values{"wa": {"wsignoutcleanup1.0"}})
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/gif" || !strings.HasPrefix(body, "GIF89a") || e.sess.Ended() != 2 {
		t.Fatalf("cleanup: %d %q ended=%d", resp.StatusCode, resp.Header.Get("Content-Type"), e.sess.Ended())
	}
}

func TestMetadata(t *testing.T) {
	e := newEnv(t)
	resp, err := e.srv.Client().Get(e.srv.URL + wsfed.PathMetadata)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil {
		t.Fatal(err)
	}
	root := doc.Root()
	if root.Tag != "EntityDescriptor" || root.SelectAttrValue("entityID", "") != domains[0].IssuerURI {
		t.Fatalf("root %s entityID %q", root.Tag, root.SelectAttrValue("entityID", ""))
	}
	if first := root.ChildElements()[0]; first.Tag != "Signature" {
		t.Errorf("first child is %s, want Signature", first.Tag)
	}
	vc := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{e.key.Cert}})
	vc.IdAttribute = "ID"
	signed, err := vc.Validate(root)
	if err != nil {
		t.Fatalf("metadata signature: %v", err)
	}
	rd := signed.FindElement("./RoleDescriptor")
	if rd == nil || rd.SelectAttrValue("xsi:type", "") != "fed:SecurityTokenServiceType" {
		t.Fatal("no SecurityTokenServiceType RoleDescriptor")
	}
	var certs []string
	for _, c := range rd.FindElements("./KeyDescriptor[@use='signing']/KeyInfo/X509Data/X509Certificate") {
		certs = append(certs, c.Text())
	}
	if len(certs) != 2 {
		t.Fatalf("want current and next signing certificates, got %d", len(certs))
	}
	for tag, want := range map[string]string{
		"./PassiveRequestorEndpoint/EndpointReference/Address":     e.srv.URL + wsfed.PathPassive,
		"./SecurityTokenServiceEndpoint/EndpointReference/Address": e.srv.URL + "/adfs/services/trust/2005/usernamemixed",
	} {
		if el := rd.FindElement(tag); el == nil || el.Text() != want {
			t.Errorf("%s missing or not %s", tag, want)
		}
	}
	// Independent check of the metadata signature.
	xmlsec := peers.Command(t, "xmlsec1", "apt-get install -y xmlsec1")
	dir := t.TempDir()
	mdPath, certPath := filepath.Join(dir, "md.xml"), e.key.WritePEM(t, dir, "idp.pem")
	if err := os.WriteFile(mdPath, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(xmlsec, "--verify", "--pubkey-cert-pem", certPath, "--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor", mdPath).CombinedOutput(); err != nil {
		t.Fatalf("xmlsec1 rejects the metadata: %v\n%s", err, out)
	}
	// ?domain= selects that domain's issuer URI.
	resp, err = e.srv.Client().Get(e.srv.URL + wsfed.PathMetadata + "?domain=sub.example.org")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(raw), `entityID="`+domains[1].IssuerURI+`"`) {
		t.Errorf("domain metadata: %s", raw)
	}
}

func FuzzWSFedRequest(f *testing.F) {
	f.Add("wa=wsignin1.0&wtrealm=urn%3Afederation%3AMicrosoftOnline&wctx=abc&username=a%40b&wfresh=0")
	f.Add("wa=wsignout1.0")
	f.Add("wa=wsignin1.0&wa=wsignout1.0")
	f.Add("%zz")
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		p, err := wsfed.ParseValues(v)
		if err != nil {
			return
		}
		switch p.Action {
		case "wsignin1.0":
			if p.Realm == "" {
				t.Fatal("sign-in accepted without realm")
			}
		case "wsignout1.0", "wsignoutcleanup1.0":
		default:
			t.Fatalf("accepted wa %q", p.Action)
		}
	})
}
