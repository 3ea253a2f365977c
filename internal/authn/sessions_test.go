package authn

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/testutil/sqlitetest"
)

func TestSafeReturnTo(t *testing.T) {
	cases := map[string]string{
		"/saml/sso?x=1":           "/saml/sso?x=1",
		"/adfs/ls/?wa=wsignin1.0": "/adfs/ls/?wa=wsignin1.0",
		"":                        "/",
		"https://evil.example/":   "/",
		"//evil.example/":         "/",
		"/\\evil.example":         "/",
		"javascript:alert(1)":     "/",
		"/ok\r\nSet-Cookie: x=1":  "/",
		"relative/path":           "/",
	}
	for in, want := range cases {
		if got := SafeReturnTo(in); got != want {
			t.Errorf("SafeReturnTo(%q) = %q, want %q", in, got, want)
		}
	}
}

type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

func setup(t *testing.T) (*Manager, *clock, store.User) {
	t.Helper()
	ctx := context.Background()
	s := sqlitetest.Open(t)
	u := store.User{ID: "u1", UPN: "alice@example.com", ImmutableID: "x", Status: store.UserActive}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	c := &clock{now: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)}
	m := NewManager(s, time.Hour, 8*time.Hour, slog.New(slog.NewTextHandler(io.Discard, nil)))
	m.Now = c.Now
	return m, c, u
}

// cookieFrom creates a session and returns a request carrying its cookie.
func login(t *testing.T, m *Manager, u store.User, freshFor string) *http.Cookie {
	t.Helper()
	w := httptest.NewRecorder()
	if _, err := m.Create(context.Background(), w, u, []string{"pwd"}, false, freshFor); err != nil {
		t.Fatal(err)
	}
	for _, c := range w.Result().Cookies() {
		if c.Name == CookieName {
			if !c.HttpOnly || !c.Secure {
				t.Fatalf("cookie flags %+v", c)
			}
			return c
		}
	}
	t.Fatal("no session cookie")
	return nil
}

func require(m *Manager, c *http.Cookie, opts signin.SessionOptions) (*signin.Session, *httptest.ResponseRecorder) {
	r := httptest.NewRequest("GET", "https://idp.example"+opts.ReturnTo, nil)
	if c != nil {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	s, _ := m.Require(w, r, opts)
	return s, w
}

func TestRequireLifetimesAndForceAuthn(t *testing.T) {
	m, clk, u := setup(t)
	opts := signin.SessionOptions{ReturnTo: "/saml/sso?resume=abc", LoginHint: "alice@example.com"}

	if s, w := require(m, nil, opts); s != nil || w.Code != http.StatusSeeOther ||
		!strings.HasPrefix(w.Header().Get("Location"), "/login?") || !strings.Contains(w.Header().Get("Location"), "login_hint=alice%40example.com") {
		t.Fatalf("no session: %v %d %s", s, w.Code, w.Header().Get("Location"))
	}
	c := login(t, m, u, "")
	if s, _ := require(m, c, opts); s == nil || s.UserID != "u1" || s.ID == "" || strings.Contains(s.ID, c.Value) {
		t.Fatalf("valid session refused or exposes the cookie: %+v", s)
	}
	// ForceAuthn: an older sign-in does not count; a sign-in made for this very request does, once.
	force := opts
	force.ForceAuthn = true
	if s, w := require(m, c, force); s != nil || !strings.Contains(w.Header().Get("Location"), "force=1") {
		t.Fatal("ForceAuthn accepted an existing session")
	}
	fresh := login(t, m, u, force.ReturnTo)
	if s, _ := require(m, fresh, force); s == nil {
		t.Fatal("fresh sign-in for this request refused")
	}
	if s, _ := require(m, fresh, force); s != nil {
		t.Fatal("fresh sign-in accepted twice")
	}
	other := login(t, m, u, "/another")
	if s, _ := require(m, other, force); s != nil {
		t.Fatal("sign-in made for another request satisfied ForceAuthn")
	}
	// Idle timeout: refreshed by use; absolute lifetime: not extendable.
	clk.now = clk.now.Add(50 * time.Minute)
	if s, _ := require(m, c, opts); s == nil {
		t.Fatal("session expired before the idle timeout")
	}
	clk.now = clk.now.Add(61 * time.Minute)
	if s, w := require(m, c, opts); s != nil || !strings.Contains(w.Header().Get("Location"), "expired=1") {
		t.Fatal("session outlived the idle timeout, or the sign-in page is not told it expired")
	}
	c2 := login(t, m, u, "")
	for i := 0; i < 9; i++ { // keep it busy past the absolute lifetime
		clk.now = clk.now.Add(55 * time.Minute)
		if s, _ := require(m, c2, opts); (s != nil) != (i < 8) {
			t.Fatalf("step %d: session alive=%v", i, s != nil)
		}
	}
}

func TestSilentAndRequireMFA(t *testing.T) {
	m, _, u := setup(t)
	stepUp := false
	m.StepUp = func(*http.Request, string, string) bool { return stepUp }
	c := login(t, m, u, "")
	silent := func(c *http.Cookie, o signin.SessionOptions) (*signin.Session, string, *httptest.ResponseRecorder) {
		r := httptest.NewRequest("GET", "https://idp.example/oidc/authorize", nil)
		if c != nil {
			r.AddCookie(c)
		}
		s, why := m.Silent(r, o)
		return s, why, httptest.NewRecorder()
	}
	cases := []struct {
		name    string
		cookie  *http.Cookie
		opts    signin.SessionOptions
		stepUp  bool
		wantWhy string
	}{
		{name: "a session", cookie: c},
		{name: "no session", wantWhy: signin.LoginRequired},
		{name: "forced authentication cannot be silent", cookie: c, opts: signin.SessionOptions{ForceAuthn: true}, wantWhy: signin.LoginRequired},
		{name: "a second factor asked for", cookie: c, opts: signin.SessionOptions{RequireMFA: true}, wantWhy: signin.InteractionRequired},
		{name: "the policy will ask for a second factor", cookie: c, stepUp: true, wantWhy: signin.InteractionRequired},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stepUp = tc.stepUp
			s, why, w := silent(tc.cookie, tc.opts)
			if why != tc.wantWhy || (s != nil) != (tc.wantWhy == "") || w.Code != http.StatusOK || w.Header().Get("Location") != "" {
				t.Fatalf("session %v why %q", s, why)
			}
		})
	}
	stepUp = false
	// Interactive: RequireMFA sends a session without a second factor to the step, then accepts it.
	opts := signin.SessionOptions{ReturnTo: "/oidc/authorize?resume=x", RequireMFA: true}
	if s, w := require(m, c, opts); s != nil || !strings.HasPrefix(w.Header().Get("Location"), "/login/mfa?") {
		t.Fatalf("RequireMFA: %v %s", s, w.Header().Get("Location"))
	}
	r := httptest.NewRequest("GET", "https://idp.example/", nil)
	r.AddCookie(c)
	if err := m.MarkMFA(r, "totp"); err != nil {
		t.Fatal(err)
	}
	if s, _ := require(m, c, opts); s == nil || !s.MFA {
		t.Fatalf("after the second factor: %+v", s)
	}
}

func TestEndRemovesSession(t *testing.T) {
	m, _, u := setup(t)
	c := login(t, m, u, "")
	r := httptest.NewRequest("GET", "https://idp.example/", nil)
	r.AddCookie(c)
	if err := m.Admit(r, "shibboleth", netip.MustParseAddr("192.0.2.1")); err != nil {
		t.Fatal(err)
	}
	apps, err := m.End(context.Background(), httptest.NewRecorder(), r)
	if err != nil || len(apps) != 1 || apps[0] != "shibboleth" {
		t.Fatalf("End = %v, %v", apps, err)
	}
	if s, _ := require(m, c, signin.SessionOptions{ReturnTo: "/"}); s != nil {
		t.Fatal("session survived End")
	}
}

// FuzzSafeReturnTo: whatever comes in, the result is a local path a browser cannot read as
// another origin.
func FuzzSafeReturnTo(f *testing.F) {
	for _, s := range []string{"/", "//evil", "/\\evil", "https://evil", "/a?b=//c", "/%2F%2Fevil", "\t/x", "/x\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := SafeReturnTo(s)
		if got == "" || got[0] != '/' || strings.HasPrefix(got, "//") || strings.HasPrefix(got, "/\\") || strings.ContainsAny(got, "\r\n\t\\") {
			t.Fatalf("SafeReturnTo(%q) = %q", s, got)
		}
		if u, err := url.Parse(got); err != nil || u.Host != "" || u.Scheme != "" {
			t.Fatalf("SafeReturnTo(%q) = %q parses with a host or scheme", s, got)
		}
	})
}
