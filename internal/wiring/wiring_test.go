package wiring_test

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/directory"
	"github.com/sekisho/sekisho/internal/m365"
	"github.com/sekisho/sekisho/internal/setup"
	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/wiring"
)

type env struct {
	svc    *wiring.Services
	ts     *httptest.Server
	res    setup.InitResult
	client *http.Client
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	res, err := setup.Init(ctx, dir, setup.InitOptions{Demo: true}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	in, err := setup.Open(ctx, dir, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close() })
	svc, err := wiring.Build(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewTLSServer(svc.Server.Handler())
	t.Cleanup(ts.Close)
	jar, _ := cookiejar.New(nil)
	c := ts.Client()
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &env{svc: svc, ts: ts, res: res, client: c}
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (e *env) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := e.client.Get(e.ts.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (e *env) post(t *testing.T, path string, form url.Values) *http.Response {
	t.Helper()
	resp, err := e.client.PostForm(e.ts.URL+path, form)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func (e *env) lastSignIn(t *testing.T) store.SignInEvent {
	t.Helper()
	evs, err := e.svc.Instance.Store.ListSignIns(context.Background(), store.SignInFilter{})
	if err != nil || len(evs) == 0 {
		t.Fatalf("no sign-in records: %v", err)
	}
	return evs[len(evs)-1]
}

func TestLoginPages(t *testing.T) {
	e := newEnv(t)
	_, body := e.get(t, "/login?return_to=%2Fsaml%2Fsso%3Fx%3D1")
	m := csrfRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token in login page:\n%s", body)
	}
	csrf := m[1]
	form := func(user, pw, ret string) url.Values {
		return url.Values{"csrf": {csrf}, "step": {"password"}, "username": {user}, "password": {pw}, "return_to": {ret}}
	}

	t.Run("missing CSRF token is refused", func(t *testing.T) {
		f := form("alice@example.com", e.res.Password("alice@example.com"), "/")
		f.Del("csrf")
		if r := e.post(t, "/login", f); r.StatusCode != http.StatusForbidden {
			t.Fatalf("status %d", r.StatusCode)
		}
	})
	t.Run("wrong password is refused and recorded", func(t *testing.T) {
		r := e.post(t, "/login", form("alice@example.com", "not the password", "/"))
		b, _ := io.ReadAll(r.Body)
		if r.StatusCode != http.StatusUnauthorized || !strings.Contains(string(b), "incorrect") {
			t.Fatalf("status %d body %s", r.StatusCode, b)
		}
		ev := e.lastSignIn(t)
		if ev.Decision != "deny" || ev.Reason != "wrong_password" || ev.Username != "alice@example.com" || ev.EffectiveIP != "127.0.0.1" {
			t.Fatalf("record %+v", ev)
		}
	})
	t.Run("open redirect is neutralised", func(t *testing.T) {
		r := e.post(t, "/login", form("alice@example.com", e.res.Password("alice@example.com"), "https://evil.example/"))
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/" {
			t.Fatalf("status %d location %q", r.StatusCode, r.Header.Get("Location"))
		}
	})
	t.Run("right password starts a session and returns", func(t *testing.T) {
		r := e.post(t, "/login", form("alice@example.com", e.res.Password("alice@example.com"), "/saml/sso?x=1"))
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/saml/sso?x=1" {
			t.Fatalf("status %d location %q", r.StatusCode, r.Header.Get("Location"))
		}
		var sess *http.Cookie
		for _, c := range r.Cookies() {
			if c.Name == "sekisho_session" && c.Value != "" {
				sess = c
			}
		}
		if sess == nil || !sess.HttpOnly || !sess.Secure {
			t.Fatalf("session cookie %+v", sess)
		}
		code, body := e.get(t, "/")
		if code != 200 || !strings.Contains(body, "alice@example.com") {
			t.Fatalf("home %d %s", code, body)
		}
	})
	t.Run("japanese by Accept-Language", func(t *testing.T) {
		req, _ := http.NewRequest("GET", e.ts.URL+"/login", nil)
		req.Header.Set("Accept-Language", "ja-JP,ja;q=0.9,en;q=0.8")
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), `lang="ja"`) || !strings.Contains(string(b), "ユーザー名") {
			t.Fatalf("not Japanese: %s", b)
		}
	})
}

// activeRequest builds a WS-Trust-like request arriving from peer with headers.
func activeRequest(peer string, hdr map[string]string) *http.Request {
	r := httptest.NewRequest("POST", "https://idp.example/adfs/services/trust/13/usernamemixed", nil)
	r.RemoteAddr = peer
	r.TLS = &tls.ConnectionState{}
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	return r
}

func TestGateClientContextAndPolicy(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	st := e.svc.Instance.Store
	if err := st.PutNetwork(ctx, store.Network{Name: "exchange-online", CIDRs: []string{"40.92.0.0/15"}, UpdatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	e.svc.Policies.Invalidate()
	exo := map[string]string{"X-MS-Client-Application": "Microsoft.Exchange.ActiveSync", "X-MS-Client-User-Agent": "Apple-iPhone3C1/811.2"}
	cases := []struct {
		name                    string
		peer                    string
		fwd                     string
		user, pw                string
		wantDecision, wantRule  string
		wantClient, wantIP      string
		wantForged, wantTrusted bool
		wantLegacy              string
	}{
		{name: "exchange proxied from the office is allowed", peer: "40.92.1.2:443", fwd: "203.0.113.5", user: "bob@example.com",
			wantDecision: "allow", wantRule: "legacy-in-office", wantClient: "legacy-proxied", wantIP: "203.0.113.5", wantTrusted: true, wantLegacy: "ActiveSync"},
		{name: "exchange proxied from outside is denied", peer: "40.92.1.2:443", fwd: "198.51.100.7", user: "bob@example.com",
			wantDecision: "deny", wantRule: "block-legacy-outside", wantClient: "legacy-proxied", wantIP: "198.51.100.7", wantTrusted: true, wantLegacy: "ActiveSync"},
		{name: "forged headers from an outside caller are ignored", peer: "198.51.100.9:5555", fwd: "203.0.113.5", user: "bob@example.com",
			wantDecision: "deny", wantRule: "block-legacy-outside", wantClient: "active-direct", wantIP: "198.51.100.9", wantForged: true},
		{name: "wrong password", peer: "40.92.1.2:443", fwd: "203.0.113.5", user: "bob@example.com", pw: "wrong password!",
			wantDecision: "deny", wantClient: "legacy-proxied", wantIP: "203.0.113.5", wantTrusted: true, wantLegacy: "ActiveSync"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := map[string]string{"X-MS-Forwarded-Client-IP": c.fwd}
			for k, v := range exo {
				h[k] = v
			}
			pw := c.pw
			if pw == "" {
				pw = e.res.Password(c.user)
			}
			o, err := e.svc.Gate.Check(ctx, signin.Attempt{Protocol: "wstrust", Application: "microsoft365", Endpoint: signin.Active,
				HTTP: activeRequest(c.peer, h), Username: c.user, Password: pw})
			if err != nil {
				t.Fatal(err)
			}
			if string(o.Decision) != c.wantDecision || o.Allowed != (c.wantDecision == "allow") || o.EventID == "" {
				t.Fatalf("outcome %+v", o)
			}
			ev, err := st.GetSignIn(ctx, o.EventID)
			if err != nil {
				t.Fatal(err)
			}
			if ev.Rule != c.wantRule || ev.ClientType != c.wantClient || ev.EffectiveIP != c.wantIP || ev.ForgedHeaders != c.wantForged ||
				ev.ForwardedTrusted != c.wantTrusted || ev.LegacyApp != c.wantLegacy || ev.Decision != c.wantDecision {
				t.Fatalf("record %+v", ev)
			}
			if c.wantRule != "" && (ev.PolicyVersion != 1 || !strings.Contains(string(ev.Trace), c.wantRule)) {
				t.Fatalf("record lacks policy version/trace: %+v", ev)
			}
		})
	}
}

func storeFilterApp(app string) store.SignInFilter { return store.SignInFilter{Application: app} }

// TestDomainSignInMethods: a domain that allows only passive sign-in refuses WS-Trust (MSAL
// username/password and Exchange-proxied basic auth) at the gate, with a record that says why.
func TestDomainSignInMethods(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	st := e.svc.Instance.Store
	d, err := m365.GetDomain(ctx, st, "example.com")
	if err != nil {
		t.Fatal(err)
	}
	d.Methods = []string{m365.MethodPassive}
	if err := m365.PutDomain(ctx, st, d); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.M365.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	o, err := e.svc.Gate.Check(ctx, signin.Attempt{Protocol: "wstrust", Application: "microsoft365", Endpoint: signin.Active,
		HTTP: activeRequest("203.0.113.5:443", nil), Username: "bob@example.com", Password: e.res.Password("bob@example.com")})
	if err != nil {
		t.Fatal(err)
	}
	if o.Allowed || o.Reason != "method_not_allowed" {
		t.Fatalf("outcome %+v", o)
	}
	d.Methods = []string{"carrier-pigeon"}
	if err := m365.PutDomain(ctx, st, d); err == nil {
		t.Fatal("unknown sign-in method accepted")
	}
}

// TestSAMLNameIDValueMissing: an SP keyed by email and a user without one is refused at the
// gate (and recorded so), instead of an "allow" record followed by a failed response.
func TestSAMLNameIDValueMissing(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	st := e.svc.Instance.Store
	cfg := []byte(`{"entityId":"https://wiki.example.com/sp","acs":[{"binding":"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST","location":"https://wiki.example.com/acs","isDefault":true}],"nameIdFormat":"urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress","nameIdSource":"email"}`)
	if err := st.CreateApplication(ctx, store.Application{Name: "wiki", Protocol: "saml", EntityID: "https://wiki.example.com/sp", Config: cfg}); err != nil {
		t.Fatal(err)
	}
	u, err := e.svc.Instance.Directory.AddUser(ctx, directory.NewUser{UPN: "noemail@example.com", Groups: []string{"staff"}})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "https://idp.example/saml/sso", nil)
	r.RemoteAddr = "203.0.113.9:1234"
	o, err := e.svc.Gate.Check(ctx, signin.Attempt{Protocol: "saml", Application: "wiki", Endpoint: signin.Passive, HTTP: r,
		Session: &signin.Session{ID: "_s", UserID: u.ID, AuthnInstant: time.Now()}})
	if err != nil {
		t.Fatal(err)
	}
	if o.Allowed || o.Reason != "no_nameid_value" {
		t.Fatalf("outcome %+v", o)
	}
	if ev, _ := st.GetSignIn(ctx, o.EventID); ev.Decision != "deny" || ev.Reason != "no_nameid_value" {
		t.Fatalf("record %+v", ev)
	}
	// alice has an email: the same SP lets her in from the office.
	alice, _ := st.GetUserByUPN(ctx, "alice@example.com")
	o, err = e.svc.Gate.Check(ctx, signin.Attempt{Protocol: "saml", Application: "wiki", Endpoint: signin.Passive, HTTP: r,
		Session: &signin.Session{ID: "_s", UserID: alice.ID, AuthnInstant: time.Now()}})
	if err != nil || !o.Allowed {
		t.Fatalf("alice: %+v %v", o, err)
	}
}
