package web

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/sekisho/sekisho/internal/admin"
	"github.com/sekisho/sekisho/internal/authn"
	"github.com/sekisho/sekisho/internal/bridge/apppassword"
	"github.com/sekisho/sekisho/internal/bridge/oauthtokens"
	"github.com/sekisho/sekisho/internal/directory"
	"github.com/sekisho/sekisho/internal/secrets"
	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/store/sqlite"
)

const (
	mailAlice = "alice@example.com"
	mailBob   = "bob@example.com"
)

var cliActor = admin.Actor{Name: "os:test", Via: "cli"}

// fakeFactors is SecondFactors with fixed methods per user.
type fakeFactors map[string][]string

func (f fakeFactors) Methods(_ context.Context, userID string) ([]string, error) {
	return f[userID], nil
}
func (fakeFactors) VerifyCode(context.Context, string, string, time.Time) (string, error) {
	return "", fmt.Errorf("not here")
}

// syncBuffer is a log sink the background flows write to while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type mailEnv struct {
	t      *testing.T
	ctx    context.Context
	st     store.Store
	sealer *secrets.Sealer
	adm    *admin.Service
	pages  *MailPages
	mux    *http.ServeMux
	log    *syncBuffer
	users  map[string]store.User
	// sessions: a password-only and a multi-factor session cookie per user.
	pwd, mfa map[string]*http.Cookie
}

func newMailEnv(t *testing.T) *mailEnv {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	key, _ := secrets.GenerateKey()
	sealer, _ := secrets.New(key)
	logBuf := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d := directory.New(st, directory.Params{}, directory.PasswordPolicy{})
	adm := admin.New(st, d)
	if adm.BridgeCredentials, err = apppassword.NewHasher(sealer.Derive("test-app-passwords")); err != nil {
		t.Fatal(err)
	}
	sessions := authn.NewManager(st, time.Hour, 8*time.Hour, log)
	e := &mailEnv{t: t, ctx: ctx, st: st, sealer: sealer, adm: adm, mux: http.NewServeMux(), log: logBuf,
		users: map[string]store.User{}, pwd: map[string]*http.Cookie{}, mfa: map[string]*http.Cookie{}}
	for _, upn := range []string{mailAlice, mailBob} {
		u, err := d.AddUser(ctx, directory.NewUser{UPN: upn, DisplayName: upn})
		if err != nil {
			t.Fatal(err)
		}
		e.users[upn] = u
		for _, mfa := range []bool{false, true} {
			rec := httptest.NewRecorder()
			if _, err := sessions.Create(ctx, rec, u, []string{"pwd"}, mfa, ""); err != nil {
				t.Fatal(err)
			}
			if mfa {
				e.mfa[upn] = rec.Result().Cookies()[0]
			} else {
				e.pwd[upn] = rec.Result().Cookies()[0]
			}
		}
	}
	e.pages = &MailPages{Users: st, Sessions: sessions, Admin: adm, Factors: fakeFactors{}, Base: t.Context(), Log: log}
	e.pages.Mount(e.mux)
	return e
}

// do sends a request as the browser with session (nil: none), the CSRF binding cookie and,
// for a POST, the form with the right token unless form already has a csrf field.
func (e *mailEnv) do(method, path string, session *http.Cookie, form url.Values, mutate func(*http.Request)) *httptest.ResponseRecorder {
	e.t.Helper()
	var body io.Reader
	if method == http.MethodPost {
		if form == nil {
			form = url.Values{}
		}
		if _, ok := form["csrf"]; !ok {
			form.Set("csrf", testCSRF)
		}
		body = strings.NewReader(form.Encode())
	}
	r := httptest.NewRequest(method, "https://idp.example.com"+path, body)
	if method == http.MethodPost {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Origin", "https://idp.example.com")
	}
	r.AddCookie(&http.Cookie{Name: csrfCookie, Value: testBinding})
	if session != nil {
		r.AddCookie(session)
	}
	if mutate != nil {
		mutate(r)
	}
	w := httptest.NewRecorder()
	e.mux.ServeHTTP(w, r)
	return w
}

func (e *mailEnv) issueAs(a admin.Actor, upn, name string, scopes, from []string) {
	e.t.Helper()
	if _, err := e.adm.IssueBridgeCredential(e.ctx, a, admin.NewBridgeCredential{User: upn, Name: name, Scopes: scopes, From: from}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *mailEnv) credential(upn, name string) admin.BridgeCredentialView {
	e.t.Helper()
	vs, err := e.adm.ListBridgeCredentials(e.ctx, upn)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, v := range vs {
		if v.Name == name && v.RevokedAt.IsZero() {
			return v
		}
	}
	for _, v := range vs {
		if v.Name == name {
			return v
		}
	}
	e.t.Fatalf("%s has no app password %q", upn, name)
	return admin.BridgeCredentialView{}
}

func (e *mailEnv) audit(prefix string) []store.AdminEvent {
	e.t.Helper()
	evs, err := e.adm.Log(e.ctx, store.AdminEventFilter{Action: prefix})
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}

// rowNames are the app passwords the page lists.
var rowRe = regexp.MustCompile(`<tr class="mail-password" data-name="([^"]*)">`)

func rowNames(body string) []string {
	var out []string
	for _, m := range rowRe.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

// TestMailPasswordsAreTheUsersOwn: the page lists the signed-in user's app passwords only, with
// their details; revoking acts on the signed-in user's credentials only (another user's name
// is unknown here, whatever the form says); each revocation is an audit entry via the portal.
func TestMailPasswordsAreTheUsersOwn(t *testing.T) {
	e := newMailEnv(t)
	e.issueAs(cliActor, mailAlice, "printer-3f", []string{"smtp-send"}, []string{"scans@example.com"})
	e.issueAs(cliActor, mailAlice, "laptop", []string{"imap", "smtp-send"}, nil)
	e.issueAs(cliActor, mailBob, "phone", []string{"imap"}, nil)
	e.issueAs(cliActor, mailBob, "laptop", []string{"pop"}, nil)

	w := e.do("GET", "/account/mail", e.pwd[mailAlice], nil, nil)
	body := w.Body.String()
	if w.Code != 200 || w.Header().Get("Cache-Control") != "no-store" || !strings.Contains(w.Header().Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("page: %d %v", w.Code, w.Header())
	}
	if got := strings.Join(rowNames(body), " "); got != "laptop printer-3f" {
		t.Fatalf("alice's page lists %q", got)
	}
	for _, want := range []string{"scans@example.com", T("en", "mail_senders_own"), T("en", "mail_scope_smtp_send"), T("en", "mail_scope_imap"),
		T("en", "mail_state_active"), T("en", "mail_never"), `href="/"`} {
		if !strings.Contains(body, want) {
			t.Errorf("page without %q", want)
		}
	}
	if strings.Contains(body, "phone") || strings.Contains(body, T("en", "mail_scope_pop")) || strings.Contains(body, "http-equiv") {
		t.Fatalf("alice's page shows bob's credentials or refreshes:\n%s", body)
	}
	if w := e.do("GET", "/account/mail", e.pwd[mailBob], nil, nil); strings.Join(rowNames(w.Body.String()), " ") != "laptop phone" {
		t.Fatalf("bob's page lists %q", rowNames(w.Body.String()))
	}

	for _, tc := range []struct {
		name, form string
		want       int
		wantText   string
	}{
		{"another user's credential", "phone", 404, T("en", "mail_unknown")},
		{"an unknown name", "nothing", 404, T("en", "mail_unknown")},
		{"her own", "laptop", 200, T("en", "mail_revoked")},
		{"her own again", "laptop", 404, T("en", "mail_unknown")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := e.do("POST", "/account/mail/revoke", e.pwd[mailAlice], url.Values{"name": {tc.form}, "user": {mailBob}}, nil)
			if w.Code != tc.want || !strings.Contains(w.Body.String(), html.EscapeString(tc.wantText)) {
				t.Fatalf("revoke %q: %d\n%s", tc.form, w.Code, w.Body.String())
			}
		})
	}
	if v := e.credential(mailBob, "phone"); v.State(time.Now()) != "active" {
		t.Fatalf("bob's phone: %s", v.State(time.Now()))
	}
	if v := e.credential(mailBob, "laptop"); v.State(time.Now()) != "active" {
		t.Fatalf("bob's laptop was revoked by alice's form")
	}
	if v := e.credential(mailAlice, "laptop"); v.State(time.Now()) != "revoked" {
		t.Fatalf("alice's laptop: %s", v.State(time.Now()))
	}
	evs := e.audit("bridge.credential.revoke")
	if len(evs) != 1 || evs[0].Actor != mailAlice || evs[0].Via != ViaPortal || evs[0].Target != mailAlice+"/laptop" {
		t.Fatalf("revocations in the audit log: %+v", evs)
	}
	// The revoked one stays listed, revoked, without a revoke button.
	body = e.do("GET", "/account/mail", e.pwd[mailAlice], nil, nil).Body.String()
	if !strings.Contains(body, T("en", "mail_state_revoked")) || strings.Count(body, `action="/account/mail/revoke"`) != 1 {
		t.Fatalf("after the revocation:\n%s", body)
	}
	// In Japanese.
	body = e.do("GET", "/account/mail", e.pwd[mailAlice], nil, func(r *http.Request) { r.Header.Set("Accept-Language", "ja") }).Body.String()
	if !strings.Contains(body, "メール機器") || !strings.Contains(body, T("ja", "mail_state_revoked")) {
		t.Fatalf("Japanese page:\n%s", body)
	}
}

// TestMailFormsNeedCSRFAndASession: every form is refused without its token (403, the message
// of every other form), with a forged one or from another origin; without a session the page
// sends to the sign-in page and a form to the expired sign-in.
func TestMailFormsNeedCSRFAndASession(t *testing.T) {
	e := newMailEnv(t)
	e.pages.SelfService = true
	e.issueAs(cliActor, mailAlice, "laptop", []string{"imap"}, nil) // the one audit entry
	forms := map[string]url.Values{
		"/account/mail/issue":      {"name": {"tablet"}, "scope": {"imap"}},
		"/account/mail/revoke":     {"name": {"laptop"}},
		"/account/mail/connect":    {},
		"/account/mail/disconnect": {},
	}
	for path, form := range forms {
		for _, tc := range []struct {
			name   string
			csrf   []string
			mutate func(*http.Request)
		}{
			{"no token", []string{}, nil},
			{"a forged token", []string{strings.Repeat("A", 43)}, nil},
			{"from another origin", nil, func(r *http.Request) { r.Header.Set("Origin", "https://evil.example") }},
		} {
			f := url.Values{}
			for k, v := range form {
				f[k] = v
			}
			if tc.csrf != nil {
				f["csrf"] = tc.csrf
			}
			w := e.do("POST", path, e.mfa[mailAlice], f, tc.mutate)
			if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "sent from another page") {
				t.Errorf("POST %s, %s: %d\n%.300s", path, tc.name, w.Code, w.Body.String())
			}
		}
		if w := e.do("POST", path, nil, form, nil); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/login?expired=1&return_to=%2Faccount%2Fmail" {
			t.Errorf("POST %s without a session: %d %s", path, w.Code, w.Header().Get("Location"))
		}
	}
	if w := e.do("GET", "/account/mail", nil, nil, nil); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/login?return_to=%2Faccount%2Fmail" {
		t.Errorf("GET without a session: %d %s", w.Code, w.Header().Get("Location"))
	}
	if len(e.audit("bridge.")) != 1 || e.credential(mailAlice, "laptop").State(time.Now()) != "active" {
		t.Fatal("a refused form changed something")
	}
}

var passwordRe = regexp.MustCompile(`<code class="secret" id="app-password">([^<]*)</code>`)

// TestMailIssue: a user issues an app password only when the administrator allows it
// (bridge.self_service) and, having a second factor, after using it in this session (or,
// without one, where the policy allows a first enrolment); the senders are never the user's
// choice; the password is shown once and only its hash is kept; the audit entry names the
// user and the portal, and the log never has the password.
func TestMailIssue(t *testing.T) {
	e := newMailEnv(t)
	aliceID := e.users[mailAlice].ID
	cases := []struct {
		name        string
		selfService bool
		hasFactor   bool
		mfaSession  bool
		enrolHere   bool
		form        url.Values
		want        int
		wantKey     string // the error shown; "" for an issued password
	}{
		{"self-service off", false, true, true, true, url.Values{"name": {"tablet"}, "scope": {"imap"}}, 403, "mail_self_service_off"},
		{"a second factor not used in this session", true, true, false, true, url.Values{"name": {"tablet"}, "scope": {"imap"}}, 403, "mail_issue_mfa_first"},
		{"no second factor, not where the policy allows enrolment", true, false, false, false, url.Values{"name": {"tablet"}, "scope": {"imap"}}, 403, "mail_issue_not_here"},
		{"a bad name", true, true, true, false, url.Values{"name": {"My Tablet!"}, "scope": {"imap"}}, 400, "mail_bad_name"},
		{"no scope", true, true, true, false, url.Values{"name": {"tablet"}, "scope": {"everything"}}, 400, "mail_no_scope"},
		{"with the second factor", true, true, true, false, url.Values{"name": {"Tablet"}, "scope": {"imap", "smtp-send"}, "from": {"ceo@example.com"}}, 200, ""},
		{"the same name again", true, true, true, false, url.Values{"name": {"tablet"}, "scope": {"pop"}}, 409, "mail_name_taken"},
		{"no second factor, where the policy allows enrolment", true, false, false, true, url.Values{"name": {"scanner"}, "scope": {"smtp-send"}}, 200, ""},
	}
	issued := 0
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.pages.SelfService = tc.selfService
			if tc.hasFactor {
				e.pages.Factors = fakeFactors{aliceID: {"totp"}}
			} else {
				e.pages.Factors = fakeFactors{}
			}
			e.pages.EnrolAllowed = func(*http.Request, string) bool { return tc.enrolHere }
			session := e.pwd[mailAlice]
			if tc.mfaSession {
				session = e.mfa[mailAlice]
			}
			// The page offers the form exactly when the POST would be let through.
			page := e.do("GET", "/account/mail", session, nil, nil).Body.String()
			offered := strings.Contains(page, `action="/account/mail/issue"`)
			blocked := tc.want == 403
			if offered == blocked || blocked && !strings.Contains(page, html.EscapeString(T("en", tc.wantKey))) {
				t.Fatalf("form offered %v, want %v:\n%s", offered, !blocked, page)
			}
			w := e.do("POST", "/account/mail/issue", session, tc.form, nil)
			body := w.Body.String()
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d\n%s", w.Code, tc.want, body)
			}
			if w.Header().Get("Cache-Control") != "no-store" || w.Header().Get("Location") != "" {
				t.Fatalf("headers %v", w.Header())
			}
			m := passwordRe.FindStringSubmatch(body)
			if tc.wantKey != "" {
				if m != nil || !strings.Contains(body, `id="form-error"`) || !strings.Contains(body, html.EscapeString(T("en", tc.wantKey))) {
					t.Fatalf("refusal without %s:\n%s", tc.wantKey, body)
				}
				if n := len(e.audit("bridge.credential.issue")); n != issued {
					t.Fatalf("%d issue entries after a refusal, want %d", n, issued)
				}
				return
			}
			issued++
			if m == nil || !strings.Contains(body, html.EscapeString(T("en", "mail_issued_once"))) || !strings.Contains(body, `href="/account/mail?lang=ja"`) {
				t.Fatalf("no password shown once:\n%s", body)
			}
			pw := m[1]
			name := strings.ToLower(tc.form.Get("name"))
			v := e.credential(mailAlice, name)
			row, err := e.st.GetBridgeCredential(e.ctx, v.ID)
			if err != nil || !bytes.Equal(row.Hash, e.adm.BridgeCredentials.Hash(pw)) || len(v.From) != 0 || v.CreatedBy != mailAlice {
				t.Fatalf("stored credential %+v (%v): not the password shown, or senders chosen by the user", v, err)
			}
			evs := e.audit("bridge.credential.issue")
			if len(evs) != issued || evs[len(evs)-1].Actor != mailAlice || evs[len(evs)-1].Via != ViaPortal ||
				bytes.Contains(evs[len(evs)-1].After, []byte(pw)) {
				t.Fatalf("audit entries %+v", evs)
			}
			if strings.Contains(e.log.String(), pw) {
				t.Fatal("the password is in the log")
			}
			// Shown once: the page afterwards lists it without the password.
			again := e.do("GET", "/account/mail", session, nil, nil).Body.String()
			if strings.Contains(again, pw) || !strings.Contains(again, `data-name="`+name+`"`) {
				t.Fatalf("the page afterwards:\n%s", again)
			}
		})
	}
}

// fakeDevice is an OAuth 2.0 server with the device authorization grant (RFC 8628): each code
// is pending until the test approves it (as some user) or refuses it.
type fakeDevice struct {
	srv      *httptest.Server
	mu       sync.Mutex
	asked    int               // device authorizations
	outcome  map[string]string // user code → "" pending, "approve:UPN", "deny"
	lifetime int               // expires_in of a code, seconds
}

func newFakeDevice(t *testing.T) *fakeDevice {
	f := &fakeDevice{outcome: map[string]string{}, lifetime: 600}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /devicecode", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.asked++
		uc := fmt.Sprintf("CODE-%04d", f.asked)
		f.outcome[uc] = ""
		life := f.lifetime
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"device_code": "dc-" + uc, "user_code": uc,
			"verification_uri": "https://login.example.net/device", "verification_uri_complete": "https://login.example.net/device?user_code=" + uc,
			"expires_in": life, "interval": 1})
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		f.mu.Lock()
		out, ok := f.outcome[strings.TrimPrefix(r.PostForm.Get("device_code"), "dc-")]
		f.mu.Unlock()
		fail := func(code string) {
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": code})
		}
		switch {
		case r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:device_code" || !ok:
			fail("invalid_grant")
		case out == "":
			fail("authorization_pending")
		case out == "deny":
			fail("access_denied")
		default:
			who := strings.TrimPrefix(out, "approve:")
			claims, _ := json.Marshal(map[string]string{"preferred_username": who})
			idToken := "e30." + base64.RawURLEncoding.EncodeToString(claims) + ".sig"
			_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "at-" + who, "refresh_token": "rt-" + who, "token_type": "Bearer",
				"expires_in": 3600, "scope": "IMAP.AccessAsUser.All offline_access", "id_token": idToken})
		}
	})
	f.srv = httptest.NewTLSServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeDevice) set(userCode, outcome string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.outcome[userCode] = outcome
}

func (f *fakeDevice) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.asked
}

var userCodeRe = regexp.MustCompile(`<code class="secret" id="user-code">([^<]*)</code>`)

// waitFor polls the page until it stops refreshing itself (the flow ended), returning it.
func (e *mailEnv) waitFor(t *testing.T, session *http.Cookie) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		body := e.do("GET", "/account/mail", session, nil, nil).Body.String()
		if !strings.Contains(body, `http-equiv="refresh"`) {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("the connection did not end:\n%s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestMailConnect: the connect button starts the device code flow in the background and
// answers at once with the page, which shows the address and code and refreshes itself while
// pending; a second click shows the same code (no second flow); the flow completes when the
// code is approved — as the user: connected, an audit entry via the portal; refused, expired or
// approved by someone else: the page says so and nothing is stored. Disconnect forgets the
// grant, and stops a connection under way.
func TestMailConnect(t *testing.T) {
	e := newMailEnv(t)
	dev := newFakeDevice(t)
	src := &oauthtokens.Source{Profile: "oauth", Store: e.st, Sealer: e.sealer, HTTP: dev.srv.Client(),
		OAuth: oauth2.Config{ClientID: "mail-bridge", Scopes: []string{"IMAP.AccessAsUser.All", "offline_access", "openid", "profile"},
			Endpoint: oauth2.Endpoint{TokenURL: dev.srv.URL + "/token", DeviceAuthURL: dev.srv.URL + "/devicecode", AuthStyle: oauth2.AuthStyleInParams}}}

	// Tokens from Sekisho itself (no source): nothing to connect, the section is not shown.
	if body := e.do("GET", "/account/mail", e.pwd[mailAlice], nil, nil).Body.String(); strings.Contains(body, `action="/account/mail/connect"`) {
		t.Fatal("connect offered without delegated upstream tokens")
	}
	if w := e.do("POST", "/account/mail/connect", e.pwd[mailAlice], nil, nil); w.Code != 404 || dev.count() != 0 {
		t.Fatalf("connect without delegated tokens: %d", w.Code)
	}
	e.adm.BridgeUpstream = src

	cases := []struct {
		name     string
		approve  func(code string)
		lifetime int
		wantKey  string
		stored   bool
	}{
		{"approved by the user", func(c string) { dev.set(c, "approve:"+mailAlice) }, 600, "mail_connect_done", true},
		{"refused at the token service", func(c string) { dev.set(c, "deny") }, 600, "mail_connect_refused", false},
		{"approved by someone else", func(c string) { dev.set(c, "approve:"+mailBob) }, 600, "mail_connect_other_user", false},
		{"nobody approves in time", func(string) {}, 2, "mail_connect_expired", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := e.adm.DisconnectBridgeUpstream(e.ctx, cliActor, mailAlice); err != nil && !strings.Contains(err.Error(), "not connected") {
				t.Fatal(err)
			}
			dev.mu.Lock()
			dev.lifetime = tc.lifetime
			dev.mu.Unlock()
			before := dev.count()
			page := e.do("GET", "/account/mail", e.pwd[mailAlice], nil, nil).Body.String()
			if !strings.Contains(page, `action="/account/mail/connect"`) || !strings.Contains(page, `id="mail-grant-none"`) {
				t.Fatalf("not connected, no connect button:\n%s", page)
			}
			start := time.Now()
			w := e.do("POST", "/account/mail/connect", e.pwd[mailAlice], nil, nil)
			if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/account/mail" || time.Since(start) > 5*time.Second {
				t.Fatalf("connect: %d %q after %s", w.Code, w.Header().Get("Location"), time.Since(start))
			}
			w = e.do("GET", "/account/mail", e.pwd[mailAlice], nil, nil)
			body := w.Body.String()
			m := userCodeRe.FindStringSubmatch(body)
			if w.Code != 200 || m == nil || !strings.Contains(body, `<meta http-equiv="refresh" content="5">`) ||
				!strings.Contains(body, `href="https://login.example.net/device"`) || strings.Contains(body, `action="/account/mail/connect"`) ||
				!strings.Contains(w.Header().Get("Content-Security-Policy"), "default-src 'none'") || strings.Contains(w.Header().Get("Content-Security-Policy"), "script-src") {
				t.Fatalf("pending page: %d %v\n%s", w.Code, w.Header(), body)
			}
			code := m[1]
			// A second click: the same flow.
			if w := e.do("POST", "/account/mail/connect", e.pwd[mailAlice], nil, nil); w.Code != http.StatusSeeOther {
				t.Fatalf("second click: %d", w.Code)
			}
			if n := dev.count() - before; n != 1 {
				t.Fatalf("%d device authorizations for two clicks", n)
			}
			if m := userCodeRe.FindStringSubmatch(e.do("GET", "/account/mail", e.pwd[mailAlice], nil, nil).Body.String()); m == nil || m[1] != code {
				t.Fatalf("second click shows %v, want %s", m, code)
			}
			// A form answer never refreshes itself (it would be sent again).
			if w := e.do("POST", "/account/mail/revoke", e.pwd[mailAlice], url.Values{"name": {"x"}}, nil); strings.Contains(w.Body.String(), "http-equiv") {
				t.Fatal("a form's answer refreshes itself")
			}

			tc.approve(code)
			body = e.waitFor(t, e.pwd[mailAlice])
			if !strings.Contains(body, html.EscapeString(T("en", tc.wantKey))) {
				t.Fatalf("outcome without %s:\n%s", tc.wantKey, body)
			}
			g, err := e.adm.BridgeUpstreamOf(e.ctx, mailAlice)
			if !tc.stored {
				if err == nil || !strings.Contains(body, `id="mail-grant-none"`) {
					t.Fatalf("a failed connection stored a grant: %+v %v", g, err)
				}
				if tc.wantKey == "mail_connect_other_user" && !strings.Contains(body, mailBob) {
					t.Fatalf("the other account is not named:\n%s", body)
				}
				return
			}
			if err != nil || g.ConnectedBy != mailAlice || g.State() != "connected" {
				t.Fatalf("grant %+v %v", g, err)
			}
			if !strings.Contains(body, `id="mail-connected-by">`+mailAlice+`<`) || !strings.Contains(body, html.EscapeString(T("en", "mail_reconnect"))) {
				t.Fatalf("connected page:\n%s", body)
			}
			evs := e.audit("bridge.upstream.connect")
			if len(evs) == 0 || evs[len(evs)-1].Actor != mailAlice || evs[len(evs)-1].Via != ViaPortal || bytes.Contains(evs[len(evs)-1].After, []byte("rt-")) {
				t.Fatalf("audit entries %+v", evs)
			}
			// Disconnect.
			w = e.do("POST", "/account/mail/disconnect", e.pwd[mailAlice], nil, nil)
			if w.Code != 200 || !strings.Contains(w.Body.String(), html.EscapeString(T("en", "mail_disconnected"))) {
				t.Fatalf("disconnect: %d\n%s", w.Code, w.Body.String())
			}
			if _, err := e.adm.BridgeUpstreamOf(e.ctx, mailAlice); err == nil {
				t.Fatal("the grant is still there")
			}
			if evs := e.audit("bridge.upstream.disconnect"); len(evs) == 0 || evs[len(evs)-1].Actor != mailAlice || evs[len(evs)-1].Via != ViaPortal {
				t.Fatalf("disconnect audit entries %+v", evs)
			}
			if w := e.do("POST", "/account/mail/disconnect", e.pwd[mailAlice], nil, nil); w.Code != 404 {
				t.Fatalf("disconnect twice: %d", w.Code)
			}
		})
	}

	t.Run("cancel a connection under way", func(t *testing.T) {
		dev.mu.Lock()
		dev.lifetime = 600
		dev.mu.Unlock()
		e.do("POST", "/account/mail/connect", e.pwd[mailAlice], nil, nil)
		m := userCodeRe.FindStringSubmatch(e.do("GET", "/account/mail", e.pwd[mailAlice], nil, nil).Body.String())
		if m == nil {
			t.Fatal("no code")
		}
		w := e.do("POST", "/account/mail/disconnect", e.pwd[mailAlice], nil, nil)
		if w.Code != 200 || !strings.Contains(w.Body.String(), html.EscapeString(T("en", "mail_connect_cancelled"))) {
			t.Fatalf("cancel: %d\n%s", w.Code, w.Body.String())
		}
		dev.set(m[1], "approve:"+mailAlice) // too late: the flow is stopped
		time.Sleep(1500 * time.Millisecond)
		if _, err := e.adm.BridgeUpstreamOf(e.ctx, mailAlice); err == nil {
			t.Fatal("a cancelled connection was stored")
		}
		if body := e.do("GET", "/account/mail", e.pwd[mailAlice], nil, nil).Body.String(); strings.Contains(body, "http-equiv") {
			t.Fatal("still pending after the cancel")
		}
	})

	// Another user's flow is their own.
	t.Run("flows are per user", func(t *testing.T) {
		e.do("POST", "/account/mail/connect", e.pwd[mailAlice], nil, nil)
		e.do("POST", "/account/mail/connect", e.pwd[mailBob], nil, nil)
		a := userCodeRe.FindStringSubmatch(e.do("GET", "/account/mail", e.pwd[mailAlice], nil, nil).Body.String())
		b := userCodeRe.FindStringSubmatch(e.do("GET", "/account/mail", e.pwd[mailBob], nil, nil).Body.String())
		if a == nil || b == nil || a[1] == b[1] {
			t.Fatalf("codes %v %v", a, b)
		}
		dev.set(b[1], "approve:"+mailBob)
		e.waitFor(t, e.pwd[mailBob])
		if g, err := e.adm.BridgeUpstreamOf(e.ctx, mailBob); err != nil || g.ConnectedBy != mailBob {
			t.Fatalf("bob's grant %+v %v", g, err)
		}
		if _, err := e.adm.BridgeUpstreamOf(e.ctx, mailAlice); err == nil {
			t.Fatal("bob's approval connected alice")
		}
	})
}

// TestPortalLinksMailDevices: the portal's home links the page when the mail bridge is
// configured.
func TestPortalLinksMailDevices(t *testing.T) {
	e := newMailEnv(t)
	d := directory.New(e.st, directory.Params{}, directory.PasswordPolicy{})
	h := NewHandler(d, e.pages.Sessions, nil, slog.New(slog.DiscardHandler))
	for _, on := range []bool{false, true} {
		h.MailDevices = on
		r := httptest.NewRequest("GET", "https://idp.example.com/", nil)
		r.AddCookie(e.pwd[mailAlice])
		for _, lang := range []string{"en", "ja"} {
			r.Header.Set("Accept-Language", lang)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			link := `<a href="/account/mail" id="mail-devices">` + T(lang, "mail_title") + `</a>`
			if w.Code != 200 || strings.Contains(w.Body.String(), link) != on {
				t.Fatalf("portal home (%s), mail bridge configured %v: %d\n%s", lang, on, w.Code, w.Body.String())
			}
		}
	}
}

// TestMailMessageKeys: every key the page computes (scopes, states) exists in both languages.
func TestMailMessageKeys(t *testing.T) {
	keys := []string{"mail_state_active", "mail_state_revoked", "mail_state_expired"}
	for _, sc := range apppassword.AllScopes {
		keys = append(keys, scopeKey(sc))
	}
	for _, k := range keys {
		for _, lang := range []string{"en", "ja"} {
			if _, ok := messages[lang][k]; !ok {
				t.Errorf("no %s message %q", lang, k)
			}
		}
	}
}
