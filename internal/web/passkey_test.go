package web

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/authn"
	"github.com/sekisho/sekisho/internal/authn/factors"
	"github.com/sekisho/sekisho/internal/authn/passkey"
	"github.com/sekisho/sekisho/internal/directory"
	"github.com/sekisho/sekisho/internal/secrets"
	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/store/sqlite"
)

type pkEnv struct {
	pages   *PasskeyPages
	mux     *http.ServeMux
	factors *factors.Manager
	user    store.User
	cookie  *http.Cookie // password-only session of user
}

func newPkEnv(t *testing.T) *pkEnv {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	key, _ := secrets.GenerateKey()
	sealer, _ := secrets.New(key)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	d := directory.New(st, directory.Params{}, directory.PasswordPolicy{})
	u, err := d.AddUser(ctx, directory.NewUser{UPN: "alice@example.com", DisplayName: "Alice"})
	if err != nil {
		t.Fatal(err)
	}
	sessions := authn.NewManager(st, time.Hour, 8*time.Hour, log)
	rec := httptest.NewRecorder()
	if _, err := sessions.Create(ctx, rec, u, []string{"pwd"}, false, ""); err != nil {
		t.Fatal(err)
	}
	f := factors.New(factors.NewMemoryStore(), st, sealer, "")
	pk, err := passkey.New(passkey.Config{BaseURL: "https://idp.example.com", Credentials: f, Once: st, Sealer: sealer})
	if err != nil {
		t.Fatal(err)
	}
	e := &pkEnv{pages: NewPasskeyPages(d, sessions, pk, f, nil, log), mux: http.NewServeMux(), factors: f, user: u,
		cookie: rec.Result().Cookies()[0]}
	e.pages.Mount(e.mux)
	return e
}

// testBinding is a browser's CSRF binding cookie; testCSRF the token Sekisho signed for it.
const testBinding = "0123456789012345678901234567890123456789abc"

var testCSRF = csrfTokenFor(testBinding)

// call sends a JSON POST the way passkey.js does; mutate adjusts it for a case.
func (e *pkEnv) call(path string, mutate func(r *http.Request)) (int, map[string]json.RawMessage) {
	r := httptest.NewRequest("POST", "https://idp.example.com"+path, strings.NewReader(`{}`))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Origin", "https://idp.example.com")
	r.Header.Set("X-CSRF-Token", testCSRF)
	r.AddCookie(&http.Cookie{Name: csrfCookie, Value: testBinding})
	r.AddCookie(e.cookie)
	if mutate != nil {
		mutate(r)
	}
	w := httptest.NewRecorder()
	e.mux.ServeHTTP(w, r)
	var body map[string]json.RawMessage
	_ = json.Unmarshal(w.Body.Bytes(), &body)
	return w.Code, body
}

func errText(b map[string]json.RawMessage) string {
	var s string
	_ = json.Unmarshal(b["error"], &s)
	return s
}

func TestPasskeyEndpointsGuard(t *testing.T) {
	e := newPkEnv(t)
	noSession := func(r *http.Request) {
		r.Header.Del("Cookie")
		r.AddCookie(&http.Cookie{Name: csrfCookie, Value: testBinding})
	}
	cases := []struct {
		name, path string
		mutate     func(*http.Request)
		allow      bool // EnrolAllowed
		want       int
		wantErr    string
	}{
		{"no CSRF header", "/login/passkey/begin", func(r *http.Request) { r.Header.Del("X-CSRF-Token") }, false, 403, T("en", "csrf")},
		{"wrong CSRF header", "/login/passkey/begin", func(r *http.Request) { r.Header.Set("X-CSRF-Token", strings.Repeat("x", 43)) }, false, 403, T("en", "csrf")},
		{"form post", "/login/passkey/begin", func(r *http.Request) { r.Header.Set("Content-Type", "application/x-www-form-urlencoded") }, false, 403, T("en", "csrf")},
		{"cross-origin", "/account/passkey/register/begin", func(r *http.Request) { r.Header.Set("Origin", "https://evil.example") }, true, 403, T("en", "csrf")},
		{"no session", "/login/passkey/begin", noSession, false, 401, T("en", "expired")},
		{"no passkey yet", "/login/passkey/begin", nil, false, 400, T("en", "passkey_none")},
		{"first factor where the policy forbids it", "/account/passkey/register/begin", nil, false, 403, T("en", "passkey_not_here")},
		{"message in Japanese", "/account/passkey/register/begin", func(r *http.Request) { r.Header.Set("Accept-Language", "ja") }, false, 403, T("ja", "passkey_not_here")},
		{"first factor where the policy allows it", "/account/passkey/register/begin", nil, true, 200, ""},
		{"finish without state", "/login/passkey/finish", nil, false, 400, T("en", "passkey_expired")},
		{"finish with a broken body", "/account/passkey/register/finish", func(r *http.Request) { r.Body = io.NopCloser(strings.NewReader("{")) }, true, 400, T("en", "error")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.pages.EnrolAllowed = func(*http.Request, string) bool { return c.allow }
			code, body := e.call(c.path, c.mutate)
			if code != c.want || errText(body) != c.wantErr {
				t.Fatalf("got %d %q, want %d %q", code, errText(body), c.want, c.wantErr)
			}
			if c.want == 200 && (len(body["options"]) == 0 || len(body["state"]) == 0) {
				t.Fatalf("begin answer %v", body)
			}
		})
	}

	// With a passkey registered, another one needs a multi-factor session.
	if err := e.factors.AddWebAuthn(context.Background(), e.user.ID, factors.Credential{ID: []byte("k1"), PublicKey: []byte("pk"), Name: "Desk key"}); err != nil {
		t.Fatal(err)
	}
	e.pages.EnrolAllowed = func(*http.Request, string) bool { return true }
	if code, body := e.call("/account/passkey/register/begin", nil); code != 403 || errText(body) != T("en", "passkey_mfa_first") {
		t.Fatalf("second passkey on a password session: %d %v", code, body)
	}
	code, body := e.call("/login/passkey/begin", nil)
	if code != 200 || !strings.Contains(string(body["options"]), `"allowCredentials":[{"type":"public-key","id":"azE"`) {
		t.Fatalf("login begin: %d %s", code, body["options"])
	}
}

func TestSecurityPage(t *testing.T) {
	e := newPkEnv(t)
	get := func(cookie *http.Cookie) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "https://idp.example.com/account/security?return_to=%2Fapp", nil)
		if cookie != nil {
			r.AddCookie(cookie)
		}
		w := httptest.NewRecorder()
		e.mux.ServeHTTP(w, r)
		return w
	}
	if w := get(nil); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/login?return_to=%2Faccount%2Fsecurity%3Freturn_to%3D%252Fapp" {
		t.Fatalf("signed out: %d %s", w.Code, w.Header().Get("Location"))
	}
	e.pages.EnrolAllowed = func(*http.Request, string) bool { return true }
	w := get(e.cookie)
	body := w.Body.String()
	if w.Code != 200 || !strings.Contains(w.Header().Get("Content-Security-Policy"), "script-src 'self'; connect-src 'self'") ||
		!strings.Contains(body, `id="passkey-register"`) || !strings.Contains(body, `<script src="/static/passkey.js" defer>`) ||
		!strings.Contains(body, `id="passkeys-none"`) || !strings.Contains(body, `href="/app"`) {
		t.Fatalf("security page %d %s\n%s", w.Code, w.Header().Get("Content-Security-Policy"), body)
	}
	_ = e.factors.AddWebAuthn(context.Background(), e.user.ID, factors.Credential{ID: []byte("k1"), PublicKey: []byte("pk"), Name: "Desk <key>"})
	w = get(e.cookie)
	body = w.Body.String()
	if strings.Contains(w.Header().Get("Content-Security-Policy"), "script-src") || strings.Contains(body, `id="passkey-register"`) ||
		!strings.Contains(body, "Desk &lt;key&gt;") || !strings.Contains(body, `id="verify-first" href="/login/mfa?return_to=%2Faccount%2Fsecurity%3Freturn_to%3D%252Fapp"`) {
		t.Fatalf("security page with a passkey on a password session:\n%s", body)
	}
}

func TestOfferPasskey(t *testing.T) {
	cases := []struct {
		methods        []string
		step, body     string
		passkey, codes bool
	}{
		{[]string{"totp"}, "code", "mfa_prompt", false, true},
		{[]string{"totp", "webauthn"}, "code", "mfa_prompt", true, true},
		{[]string{"emergency", "webauthn"}, "code", "mfa_prompt", true, true},
		{[]string{"webauthn"}, "passkey", "mfa_prompt_passkey", true, false},
	}
	for _, c := range cases {
		p := page{TitleKey: "mfa_title", BodyKey: "mfa_prompt", Step: "code", ReturnTo: "/x"}
		offerPasskey(&p, c.methods)
		if p.Step != c.step || p.BodyKey != c.body || p.Passkey != c.passkey || (p.Script != "") != c.passkey {
			t.Errorf("%v: %+v", c.methods, p)
		}
		w := httptest.NewRecorder()
		(&Handler{Log: slog.Default()}).render(w, httptest.NewRequest("GET", "/login/mfa", nil), mfaTmpl, 200, p)
		html := w.Body.String()
		if strings.Contains(html, `id="passkey-login"`) != c.passkey || strings.Contains(html, `id="code"`) != c.codes ||
			strings.Contains(w.Header().Get("Content-Security-Policy"), "script-src 'self'") != c.passkey {
			t.Errorf("%v: page\n%s", c.methods, html)
		}
	}
}
