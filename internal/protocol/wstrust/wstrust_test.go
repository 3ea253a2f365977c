package wstrust_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/sekisho/sekisho/internal/m365"
	"github.com/sekisho/sekisho/internal/m365/m365test"
	"github.com/sekisho/sekisho/internal/protocol/wstrust"
	"github.com/sekisho/sekisho/internal/saml11token"
	"github.com/sekisho/sekisho/internal/saml11token/saml11test"
	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/store"
)

// rstOpts shapes a test request; zero values give an MSAL-style WS-Trust 1.3 request.
type rstOpts struct {
	v2005          bool
	user, pass     string
	appliesTo      string // "-" omits AppliesTo
	created        time.Time
	expires        time.Time
	passwordType   string
	noTimestamp    bool
	prefix, suffix string // raw text before <s:Envelope> / extra header blocks
}

func rst(o rstOpts) string {
	ns, action, keyType, reqType := wstrust.NSTrust13, wstrust.NSTrust13+"/RST/Issue", wstrust.NSTrust13+"/Bearer", wstrust.NSTrust13+"/Issue"
	if o.v2005 {
		ns, action, keyType, reqType = wstrust.NSTrust2005, wstrust.NSTrust2005+"/RST/Issue", "http://schemas.xmlsoap.org/ws/2005/05/identity/NoProofKey", wstrust.NSTrust2005+"/Issue"
	}
	if o.created.IsZero() {
		o.created = time.Now().UTC()
	}
	if o.expires.IsZero() {
		o.expires = o.created.Add(10 * time.Minute)
	}
	ts := fmt.Sprintf(`<wsu:Timestamp wsu:Id="_0"><wsu:Created>%s</wsu:Created><wsu:Expires>%s</wsu:Expires></wsu:Timestamp>`,
		o.created.Format("2006-01-02T15:04:05.000Z"), o.expires.Format("2006-01-02T15:04:05.000Z"))
	if o.noTimestamp {
		ts = ""
	}
	pwType := ""
	if o.passwordType != "" {
		pwType = ` Type="` + o.passwordType + `"`
	}
	at := `<wsp:AppliesTo xmlns:wsp="http://schemas.xmlsoap.org/ws/2004/09/policy"><wsa:EndpointReference><wsa:Address>` + o.appliesTo + `</wsa:Address></wsa:EndpointReference></wsp:AppliesTo>`
	if o.appliesTo == "" {
		at = strings.Replace(at, "></wsa:Address>", ">"+m365.Realm+"</wsa:Address>", 1)
	} else if o.appliesTo == "-" {
		at = ""
	}
	return o.prefix + `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://www.w3.org/2005/08/addressing" xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd">` +
		`<s:Header><wsa:Action s:mustUnderstand="1">` + action + `</wsa:Action><wsa:messageID>urn:uuid:1234</wsa:messageID>` +
		`<wsa:ReplyTo><wsa:Address>http://www.w3.org/2005/08/addressing/anonymous</wsa:Address></wsa:ReplyTo>` +
		`<wsse:Security s:mustUnderstand="1" xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd">` + ts +
		`<wsse:UsernameToken wsu:Id="u1"><wsse:Username>` + o.user + `</wsse:Username><wsse:Password` + pwType + `>` + o.pass + `</wsse:Password></wsse:UsernameToken></wsse:Security>` + o.suffix +
		`</s:Header><s:Body><wst:RequestSecurityToken xmlns:wst="` + ns + `">` + at +
		`<wst:KeyType>` + keyType + `</wst:KeyType><wst:RequestType>` + reqType + `</wst:RequestType></wst:RequestSecurityToken></s:Body></s:Envelope>`
}

func TestParseRST(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	good := rst(rstOpts{user: "alice@example.com", pass: "p&<ss", created: now})
	good = strings.Replace(good, "p&<ss", "p&amp;&lt;ss", 1)
	req, err := wstrust.ParseRST([]byte(good))
	if err != nil {
		t.Fatalf("valid request refused: %v", err)
	}
	want := wstrust.Request{Version: wstrust.Trust13, Action: wstrust.NSTrust13 + "/RST/Issue", MessageID: "urn:uuid:1234",
		Username: "alice@example.com", Password: "p&<ss", AppliesTo: m365.Realm, KeyType: wstrust.NSTrust13 + "/Bearer",
		RequestType: wstrust.NSTrust13 + "/Issue", Created: now, Expires: now.Add(10 * time.Minute)}
	if req != want {
		t.Errorf("parsed\n%+v\nwant\n%+v", req, want)
	}
	if r2, err := wstrust.ParseRST([]byte(rst(rstOpts{v2005: true, user: "a@b", pass: "x", noTimestamp: true, passwordType: "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText"}))); err != nil || r2.Version != wstrust.Trust2005 || !r2.Created.IsZero() {
		t.Errorf("2005 request without timestamp, typed password: %+v, %v", r2, err)
	}

	bad := map[string]string{
		"not xml":           "<s:Envelope",
		"empty":             "",
		"soap 1.1":          strings.ReplaceAll(good, "http://www.w3.org/2003/05/soap-envelope", "http://schemas.xmlsoap.org/soap/envelope/"),
		"doctype":           rst(rstOpts{user: "a@b", pass: "x", prefix: `<?xml version="1.0"?><!DOCTYPE s:Envelope [<!ELEMENT x ANY>]>`}),
		"billion laughs":    `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>` + strings.Replace(rst(rstOpts{user: "&lol2;", pass: "x"}), "", "", 1),
		"external entity":   `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>` + rst(rstOpts{user: "&xxe;", pass: "x"}),
		"digest password":   rst(rstOpts{user: "a@b", pass: "x", passwordType: "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"}),
		"missing appliesto": rst(rstOpts{user: "a@b", pass: "x", appliesTo: "-"}),
		"empty username":    rst(rstOpts{user: " ", pass: "x"}),
		"two tokens":        rst(rstOpts{user: "a@b", pass: "x", suffix: ""}) + "",
		"two security":      rst(rstOpts{user: "a@b", pass: "x", suffix: `<wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"/>`}),
		"bad timestamp":     strings.Replace(good, now.Format("2006-01-02T15:04:05.000Z"), "yesterday", 1),
		"two rst":           strings.Replace(good, "</s:Body>", `<wst:RequestSecurityToken xmlns:wst="`+wstrust.NSTrust13+`"/></s:Body>`, 1),
		"unknown trust ns":  strings.ReplaceAll(good, wstrust.NSTrust13, "urn:other"),
		"two usernames":     strings.Replace(good, "<wsse:Password>", "<wsse:Username>b@c</wsse:Username><wsse:Password>", 1),
	}
	bad["two tokens"] = strings.Replace(good, "</wsse:Security>", `<wsse:UsernameToken><wsse:Username>b@c</wsse:Username><wsse:Password>y</wsse:Password></wsse:UsernameToken></wsse:Security>`, 1)
	for name, body := range bad {
		if _, err := wstrust.ParseRST([]byte(body)); !errors.Is(err, wstrust.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}

func FuzzParseRST(f *testing.F) {
	f.Add([]byte(rst(rstOpts{user: "alice@example.com", pass: "pw"})))
	f.Add([]byte(rst(rstOpts{v2005: true, user: "a@b", pass: "x", noTimestamp: true})))
	f.Add([]byte(`<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>`))
	f.Add([]byte(`<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header/><s:Body/></s:Envelope>`))
	f.Add([]byte(strings.Repeat("<a>", 2000) + strings.Repeat("</a>", 2000))) // deep nesting within the size limit
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := wstrust.ParseRST(data)
		if err != nil {
			if !errors.Is(err, wstrust.ErrInvalid) {
				t.Fatalf("error not marked invalid: %v", err)
			}
			return
		}
		if req.Username == "" || req.AppliesTo == "" || (req.Version != wstrust.Trust13 && req.Version != wstrust.Trust2005) {
			t.Fatalf("accepted an incomplete request: %+v", req)
		}
	})
}

type env struct {
	srv     *httptest.Server
	gate    *m365test.Gate
	key     saml11test.Key
	rejects m365test.Rejections
	now     time.Time
}

func (e *env) Rejects() []m365.Rejection { return e.rejects.List() }

var domains = m365.Domains{
	{Name: "example.com", IssuerURI: "http://example.com/adfs/services/trust/", InsideNetworks: []string{"office"}, EmitMFA: true},
	{Name: "example.org", IssuerURI: "http://example.org/adfs/services/trust/"},
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{key: saml11test.NewKey(t, "sts.example.com"), now: time.Now()}
	e.gate = m365test.NewGate(
		m365test.Account{User: store.User{ID: "u1", UPN: "alice@example.com", ImmutableID: "aWQtYWxpY2U="}, Password: "correct horse", MFA: true},
		m365test.Account{User: store.User{ID: "u2", UPN: "bob@sub.example.org", ImmutableID: "aWQtYm9i"}, Password: "pw-bob"},
		m365test.Account{User: store.User{ID: "u3", UPN: "noid@example.com"}, Password: "pw"},
		m365test.Account{User: store.User{ID: "u4", UPN: "gone@example.com", ImmutableID: "x", Status: store.UserDisabled}, Password: "pw"},
		m365test.Account{User: store.User{ID: "u5", UPN: "denied@example.com", ImmutableID: "y"}, Password: "pw", Deny: signin.ReasonPolicy},
		m365test.Account{User: store.User{ID: "u6", UPN: "carol@elsewhere.net", ImmutableID: "z"}, Password: "pw"},
	)
	e.gate.Networks = []string{"Office"}
	e.srv = m365test.Server(t)
	h, err := wstrust.New(wstrust.Config{
		BaseURL: e.srv.URL, Domains: domains, Keys: saml11token.StaticKeys{Current: e.key.Signer}, Gate: e.gate,
		Now:      func() time.Time { return e.now },
		OnReject: e.rejects.Record,
	})
	if err != nil {
		t.Fatal(err)
	}
	m365test.Mount(e.srv, h)
	return e
}

func (e *env) post(t *testing.T, path, body string, hdr map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/soap+xml; charset=utf-8")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := e.srv.Client().Do(req)
	b := m365test.Body(t, resp, err)
	return resp.StatusCode, b
}

// assertionOf extracts the assertion text from an RSTR(C) exactly as MSAL does (inner XML).
func assertionOf(t *testing.T, body string) string {
	t.Helper()
	const open, end = "RequestedSecurityToken>", "</trust:RequestedSecurityToken>"
	i := strings.Index(body, open)
	j := strings.LastIndex(body, ":RequestedSecurityToken>")
	if i < 0 || j < 0 {
		t.Fatalf("no RequestedSecurityToken in %s", body)
	}
	inner := body[i+len(open) : j]
	return inner[:strings.LastIndex(inner, "</")]
}

func TestIssue(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name, path, user, pass string
		v2005                  bool
		issuer                 string
		wantMFA, wantInside    bool
		insideEmitted          bool
	}{
		{name: "1.3 mfa inside", path: wstrust.Path13, user: "alice@example.com", pass: "correct horse", issuer: domains[0].IssuerURI, wantMFA: true, wantInside: true, insideEmitted: true},
		{name: "2005 subdomain", path: wstrust.Path2005, v2005: true, user: "BOB@sub.example.org", pass: "pw-bob", issuer: domains[1].IssuerURI},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := e.post(t, tc.path, rst(rstOpts{v2005: tc.v2005, user: tc.user, pass: tc.pass}), nil)
			if code != http.StatusOK {
				t.Fatalf("status %d: %s", code, body)
			}
			doc := etree.NewDocument()
			if err := doc.ReadFromString(body); err != nil {
				t.Fatal(err)
			}
			rstrPath := "./Body/RequestSecurityTokenResponseCollection/RequestSecurityTokenResponse"
			ns := wstrust.NSTrust13
			if tc.v2005 {
				rstrPath, ns = "./Body/RequestSecurityTokenResponse", wstrust.NSTrust2005
			}
			rstr := doc.Root().FindElement(rstrPath)
			if rstr == nil || rstr.NamespaceURI() != ns {
				t.Fatalf("no RSTR in %s namespace: %s", ns, body)
			}
			for _, p := range []string{"./Lifetime/Created", "./Lifetime/Expires", "./AppliesTo/EndpointReference/Address", "./TokenType", "./RequestType", "./KeyType"} {
				if rstr.FindElement(p) == nil {
					t.Errorf("RSTR lacks %s", p)
				}
			}
			if got := rstr.FindElement("./TokenType").Text(); got != saml11token.TokenType {
				t.Errorf("TokenType %q", got)
			}
			if got := doc.Root().FindElement("./Header/RelatesTo"); got == nil || got.Text() != "urn:uuid:1234" {
				t.Errorf("RelatesTo missing or wrong")
			}
			a := assertionOf(t, body)
			c, err := saml11test.Validate(a, e.key.Cert, time.Now())
			if err != nil {
				t.Fatalf("assertion: %v\n%s", err, a)
			}
			wantMethod := saml11token.PasswordMethod
			if tc.wantMFA {
				wantMethod = saml11token.MFAMethod
			}
			if c.Issuer != tc.issuer || c.Audience != m365.Realm || c.AuthnMethod != wantMethod || c.NameID == "" ||
				c.Attributes[saml11token.ClaimsNS+"|UPN"] != strings.ToLower(tc.user) {
				t.Errorf("claims %+v", c)
			}
			v, ok := c.Attributes[saml11token.CorpNetNS+"|insidecorporatenetwork"]
			if ok != tc.insideEmitted || (ok && v != fmt.Sprint(tc.wantInside)) {
				t.Errorf("insidecorporatenetwork = %q (present %v)", v, ok)
			}
			saml11test.CheckPeers(t, a, e.key)
		})
	}
}

func TestRefusals(t *testing.T) {
	e := newEnv(t)
	now := time.Now().UTC()
	okBody := func(user, pass string) string { return rst(rstOpts{user: user, pass: pass}) }
	cases := []struct {
		name, path, body string
		subcode          string
		reject           signin.Reason // expected OnReject reason, "" = none
		gateCalled       bool
	}{
		{"wrong password", wstrust.Path13, okBody("alice@example.com", "nope"), "FailedAuthentication", "", true},
		{"unknown user", wstrust.Path13, okBody("mallory@example.com", "x"), "FailedAuthentication", "", true},
		{"disabled", wstrust.Path13, okBody("gone@example.com", "pw"), "FailedAuthentication", "", true},
		{"policy deny", wstrust.Path13, okBody("denied@example.com", "pw"), "FailedAuthentication", "", true},
		{"no immutable id", wstrust.Path13, okBody("noid@example.com", "pw"), "FailedAuthentication", "no_immutable_id", true},
		{"domain not federated", wstrust.Path13, okBody("carol@elsewhere.net", "pw"), "FailedAuthentication", "domain_not_federated", true},
		{"expired timestamp", wstrust.Path13, rst(rstOpts{user: "alice@example.com", pass: "correct horse", created: now.Add(-time.Hour)}), "InvalidRequest", "stale_request", false},
		{"future timestamp", wstrust.Path13, rst(rstOpts{user: "alice@example.com", pass: "correct horse", created: now.Add(time.Hour)}), "InvalidRequest", "stale_request", false},
		{"oversize", wstrust.Path13, rst(rstOpts{user: "alice@example.com", pass: strings.Repeat("x", 70<<10)}), "InvalidRequest", "bad_request", false},
		{"dtd", wstrust.Path13, rst(rstOpts{user: "alice@example.com", pass: "correct horse", prefix: `<!DOCTYPE x [<!ENTITY a "b">]>`}), "InvalidRequest", "bad_request", false},
		{"missing appliesto", wstrust.Path13, rst(rstOpts{user: "alice@example.com", pass: "correct horse", appliesTo: "-"}), "InvalidRequest", "bad_request", false},
		{"unknown realm", wstrust.Path13, rst(rstOpts{user: "alice@example.com", pass: "correct horse", appliesTo: "urn:evil"}), "InvalidRequest", "unknown_realm", false},
		{"2005 request at 1.3 endpoint", wstrust.Path13, rst(rstOpts{v2005: true, user: "alice@example.com", pass: "correct horse"}), "InvalidRequest", "bad_request", false},
	}
	var authFaults []string
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, rejBefore := len(e.gate.Calls()), len(e.Rejects())
			code, body := e.post(t, tc.path, tc.body, nil)
			if code != http.StatusInternalServerError {
				t.Errorf("status %d", code)
			}
			if !strings.Contains(body, "<s:Fault>") || !strings.Contains(body, "wst:"+tc.subcode+"</s:Value>") {
				t.Fatalf("want fault %s, got %s", tc.subcode, body)
			}
			if strings.Contains(body, "Assertion") {
				t.Fatal("a fault carries an assertion")
			}
			if got := len(e.gate.Calls()) > before; got != tc.gateCalled {
				t.Errorf("gate called = %v, want %v", got, tc.gateCalled)
			}
			rj := e.Rejects()[rejBefore:]
			if tc.reject == "" && len(rj) != 0 {
				t.Errorf("unexpected rejection %+v", rj)
			}
			if tc.reject != "" && (len(rj) != 1 || rj[0].Reason != tc.reject || rj[0].Detail == "") {
				t.Errorf("rejections %+v, want one %s with detail", rj, tc.reject)
			}
			if tc.subcode == "FailedAuthentication" {
				authFaults = append(authFaults, body)
			}
		})
	}
	// Every authentication failure looks the same to the caller.
	for i := 1; i < len(authFaults); i++ {
		if authFaults[i] != authFaults[0] {
			t.Errorf("fault %d differs from fault 0:\n%s\n%s", i, authFaults[i], authFaults[0])
		}
	}
	// The gate has the truth.
	reasons := map[signin.Reason]bool{}
	for _, c := range e.gate.Calls() {
		reasons[c.Outcome.Reason] = true
	}
	for _, r := range []signin.Reason{"wrong_password", "unknown_user", "disabled", "policy"} {
		if !reasons[r] {
			t.Errorf("gate never recorded %s", r)
		}
	}
}

func TestGateFailureIsRequestFailed(t *testing.T) {
	e := newEnv(t)
	e.gate.Err = errors.New("database down")
	_, body := e.post(t, wstrust.Path13, rst(rstOpts{user: "alice@example.com", pass: "correct horse"}), nil)
	if !strings.Contains(body, "wst:RequestFailed") || strings.Contains(body, "database") {
		t.Fatalf("gate failure answered with %s", body)
	}
}

// A refusal the gate recorded as an error of Sekisho (its directory unreachable) is a server
// fault too, not "wrong credentials".
func TestGateErrorDecisionIsRequestFailed(t *testing.T) {
	e := newEnv(t)
	e.gate.Fixed = &signin.Outcome{Decision: signin.Error, Reason: "directory_error", EventID: "evt-9"}
	_, body := e.post(t, wstrust.Path13, rst(rstOpts{user: "alice@example.com", pass: "correct horse"}), nil)
	if !strings.Contains(body, "wst:RequestFailed") || strings.Contains(body, "FailedAuthentication") {
		t.Fatalf("an error decision answered with %s", body)
	}
}

// Exchange Online proxies basic-auth clients with X-MS-* headers; the adapter passes the
// request to the gate untouched (the gate decides whether to trust them).
func TestExchangeOnlineHeadersReachGate(t *testing.T) {
	e := newEnv(t)
	hdr := map[string]string{
		"X-MS-Client-Application":  "Microsoft.Exchange.ActiveSync",
		"X-MS-Forwarded-Client-IP": "203.0.113.7, 198.51.100.2",
		"X-MS-Client-User-Agent":   "Apple-iPhone3C1/811.2",
	}
	code, _ := e.post(t, wstrust.Path2005, rst(rstOpts{v2005: true, user: "alice@example.com", pass: "correct horse"}), hdr)
	if code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	calls := e.gate.Calls()
	c := calls[len(calls)-1]
	if c.Attempt.Protocol != "wstrust" || c.Attempt.Endpoint != "active" || c.Attempt.Application != "microsoft365" ||
		c.Attempt.Username != "alice@example.com" || c.Attempt.Password != "correct horse" || c.RemoteAddr == "" {
		t.Errorf("attempt %+v from %q", c.Attempt, c.RemoteAddr)
	}
	for k, v := range hdr {
		if got := c.Header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
}

func TestMEX(t *testing.T) {
	e := newEnv(t)
	resp, err := e.srv.Client().Get(e.srv.URL + wstrust.PathMEX)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	doc := etree.NewDocument()
	if _, err := doc.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	root := doc.Root()
	if root.Tag != "definitions" || root.NamespaceURI() != "http://schemas.xmlsoap.org/wsdl/" {
		t.Fatalf("root %s:%s", root.Space, root.Tag)
	}
	addrs := map[string]bool{}
	for _, a := range root.FindElements("./service/port/EndpointReference/Address") {
		addrs[a.Text()] = true
	}
	for _, p := range []string{wstrust.Path13, wstrust.Path2005} {
		if !addrs[e.srv.URL+p] || !strings.HasPrefix(e.srv.URL, "https://") {
			t.Errorf("MEX lacks https address for %s: %v", p, addrs)
		}
	}
	for _, tb := range root.FindElements("./Policy/ExactlyOne/All/TransportBinding") {
		if tb.SelectAttr("xmlns:sp") == nil {
			t.Error("sp:TransportBinding must declare xmlns:sp on itself (MSAL reads it)")
		}
	}
	if _, err := wstrust.New(wstrust.Config{BaseURL: "http://sts.example.com", Domains: domains, Keys: saml11token.StaticKeys{}, Gate: e.gate}); err == nil {
		t.Error("http base URL accepted")
	}
}
