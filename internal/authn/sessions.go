// Package authn holds browser SSO sessions: server-side rows in the store (so any node can
// serve any request) referenced by a Secure, HttpOnly, SameSite cookie whose value is never
// stored — only its SHA-256.
package authn

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/store"
)

// CookieName is the SSO session cookie.
const CookieName = "sekisho_session"

// freshWindow is how long a just-completed sign-in satisfies a ForceAuthn request for the
// page that asked for it.
const freshWindow = 2 * time.Minute

// SessionData is the JSON kept in store.Session.Data.
type SessionData struct {
	Ref          string    `json:"ref"` // public session reference (SessionIndex); not the cookie
	Methods      []string  `json:"methods"`
	Apps         []string  `json:"apps,omitempty"`
	FreshFor     string    `json:"freshFor,omitempty"` // ReturnTo that a forced sign-in was made for
	FreshAt      time.Time `json:"freshAt,omitempty"`
	AuthnInstant time.Time `json:"authnInstant"`
	// Grants are the gate's recorded "allow" for Sekisho's own applications (console,
	// portal), each for the client address it was judged at.
	Grants []Grant `json:"grants,omitempty"`
}

// Grant is one recorded admission of the session to one of Sekisho's own applications.
type Grant struct {
	App string    `json:"app"`
	IP  string    `json:"ip"`
	At  time.Time `json:"at"`
}

// Granted reports whether the session was admitted to app from ip.
func (d SessionData) Granted(app string, ip netip.Addr) bool {
	for _, g := range d.Grants {
		if g.App == app && g.IP == ip.String() {
			return true
		}
	}
	return false
}

// maxGrants bounds the grants kept per session (a roaming laptop changes address often).
const maxGrants = 16

// Grant records that the session (store ID) was admitted to app from ip (and app for single
// logout).
func (m *Manager) Grant(ctx context.Context, sessionID, app string, ip netip.Addr) error {
	now := m.Now().UTC()
	_, err := m.Store.UpdateSession(ctx, sessionID, func(old store.Session) (store.Session, error) {
		var d SessionData
		_ = json.Unmarshal(old.Data, &d)
		if d.Granted(app, ip) {
			return old, nil
		}
		d.Grants = append(d.Grants, Grant{App: app, IP: ip.String(), At: now})
		if len(d.Grants) > maxGrants {
			d.Grants = d.Grants[len(d.Grants)-maxGrants:]
		}
		if !slices.Contains(d.Apps, app) {
			d.Apps = append(d.Apps, app)
		}
		old.Data, _ = json.Marshal(d)
		return old, nil
	})
	if err != nil {
		return fmt.Errorf("grant %s to session: %w", app, err)
	}
	return nil
}

// Manager implements signin.Sessions on the store.
type Manager struct {
	Store     store.Store
	Idle      time.Duration
	Absolute  time.Duration
	LoginPath string // sign-in page, default /login
	Now       func() time.Time
	Log       *slog.Logger
	// StepUp reports whether the policy will demand a second factor from this user for this
	// application at this request; Require then sends the browser to the second-factor step
	// before the adapter runs (so the adapter's own single-use state is not spent).
	StepUp func(r *http.Request, userID, application string) bool
	// OnEnd, if set, hears of every session End ends, after it is deleted (the OpenID Connect
	// provider's back-channel logout to the session's clients). It must not block.
	OnEnd func(ctx context.Context, ended signin.EndedSession)
}

var _ signin.Sessions = (*Manager)(nil)

// NewManager returns a Manager with the given lifetimes.
func NewManager(s store.Store, idle, absolute time.Duration, log *slog.Logger) *Manager {
	return &Manager{Store: s, Idle: idle, Absolute: absolute, LoginPath: "/login", Now: time.Now, Log: log}
}

func hashToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// Create starts a session for user after a successful sign-in and sets the cookie.
// freshFor names the ReturnTo a forced re-authentication was made for ("" if none).
func (m *Manager) Create(ctx context.Context, w http.ResponseWriter, user store.User, methods []string, mfa bool, freshFor string) (store.Session, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return store.Session{}, fmt.Errorf("session token: %w", err)
	}
	tok := base64.RawURLEncoding.EncodeToString(raw)
	now := m.Now().UTC()
	d := SessionData{Ref: "_" + strings.ReplaceAll(uuid.NewString(), "-", ""), Methods: methods, AuthnInstant: now}
	if freshFor != "" {
		d.FreshFor, d.FreshAt = freshFor, now
	}
	data, _ := json.Marshal(d)
	s := store.Session{ID: hashToken(tok), UserID: user.ID, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(m.Absolute), MFA: mfa, Data: data}
	if err := m.Store.CreateSession(ctx, s); err != nil {
		return store.Session{}, fmt.Errorf("create session: %w", err)
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: tok, Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteNoneMode, Expires: s.ExpiresAt})
	return s, nil
}

// Current returns the request's valid session, refreshing its idle timer.
// SameSite=None is needed because SAML/WS-Fed POSTs arrive cross-site; CSRF tokens protect
// our own forms.
func (m *Manager) Current(r *http.Request) (store.Session, SessionData, bool) {
	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" || len(c.Value) > 100 {
		return store.Session{}, SessionData{}, false
	}
	ctx := r.Context()
	id := hashToken(c.Value)
	s, err := m.Store.GetSession(ctx, id)
	if err != nil {
		return store.Session{}, SessionData{}, false
	}
	now := m.Now()
	if !now.Before(s.ExpiresAt) || now.Sub(s.LastSeenAt) > m.Idle {
		_ = m.Store.DeleteSession(ctx, id)
		return store.Session{}, SessionData{}, false
	}
	var d SessionData
	_ = json.Unmarshal(s.Data, &d)
	// Refresh the idle timer at most once a minute to keep writes off the hot path.
	if now.Sub(s.LastSeenAt) > time.Minute {
		if ns, err := m.Store.UpdateSession(ctx, id, func(old store.Session) (store.Session, error) {
			old.LastSeenAt = now.UTC()
			return old, nil
		}); err == nil {
			s = ns
		}
	}
	return s, d, true
}

// Require implements signin.Sessions.
func (m *Manager) Require(w http.ResponseWriter, r *http.Request, opts signin.SessionOptions) (*signin.Session, bool) {
	s, d, ok := m.Current(r)
	if ok && opts.ForceAuthn {
		// Accept only a sign-in made just now for this very request, and only once.
		ok = d.FreshFor != "" && d.FreshFor == opts.ReturnTo && m.Now().Sub(d.FreshAt) < freshWindow
	}
	if ok && !s.MFA && (opts.RequireMFA || m.StepUp != nil && m.StepUp(r, s.UserID, opts.Application)) {
		// The policy will ask this session for a second factor: ask for it now, then come back.
		q := url.Values{"return_to": {SafeReturnTo(opts.ReturnTo)}}
		if opts.Application != "" {
			q.Set("app", opts.Application)
		}
		http.Redirect(w, r, m.LoginPath+"/mfa?"+q.Encode(), http.StatusSeeOther)
		return nil, false
	}
	if ok && opts.ForceAuthn {
		_, _ = m.Store.UpdateSession(r.Context(), s.ID, func(old store.Session) (store.Session, error) {
			var od SessionData
			_ = json.Unmarshal(old.Data, &od)
			od.FreshFor = ""
			old.Data, _ = json.Marshal(od)
			return old, nil
		})
	}
	if ok {
		return &signin.Session{ID: d.Ref, UserID: s.UserID, AuthnInstant: d.AuthnInstant, MFA: s.MFA, Methods: d.Methods}, true
	}
	q := url.Values{}
	q.Set("return_to", SafeReturnTo(opts.ReturnTo))
	if opts.LoginHint != "" {
		q.Set("login_hint", opts.LoginHint)
	}
	if opts.ForceAuthn {
		q.Set("force", "1")
	}
	if opts.Application != "" {
		q.Set("app", opts.Application)
	}
	if c, err := r.Cookie(CookieName); err == nil && c.Value != "" && s.ID == "" {
		q.Set("expired", "1") // the browser had a session that has ended: say so on the page
	}
	http.Redirect(w, r, m.LoginPath+"?"+q.Encode(), http.StatusSeeOther)
	return nil, false
}

// Silent implements signin.SilentSessions (prompt=none): the session if it can be used as it
// is, without a sign-in page, a second-factor step or a forced re-authentication.
func (m *Manager) Silent(r *http.Request, opts signin.SessionOptions) (*signin.Session, string) {
	s, d, ok := m.Current(r)
	if !ok || opts.ForceAuthn {
		return nil, signin.LoginRequired
	}
	if !s.MFA && (opts.RequireMFA || m.StepUp != nil && m.StepUp(r, s.UserID, opts.Application)) {
		return nil, signin.InteractionRequired
	}
	return &signin.Session{ID: d.Ref, UserID: s.UserID, AuthnInstant: d.AuthnInstant, MFA: s.MFA, Methods: d.Methods}, ""
}

var _ signin.SilentSessions = (*Manager)(nil)

// Admit records on the request's session that the gate allowed it into application from ip:
// the application (for single logout) and the grant Sekisho's own pages look for, in one
// write. The gate calls it (wired as gate.RememberApp) for every allowed session attempt.
func (m *Manager) Admit(r *http.Request, application string, ip netip.Addr) error {
	s, d, ok := m.Current(r)
	if !ok {
		return nil
	}
	if d.Granted(application, ip) {
		return nil // the steady state of an SSO session: no write
	}
	return m.Grant(r.Context(), s.ID, application, ip)
}

// End implements signin.Sessions: deletes the session and clears the cookie.
func (m *Manager) End(ctx context.Context, w http.ResponseWriter, r *http.Request) ([]string, error) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteNoneMode, MaxAge: -1})
	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	id := hashToken(c.Value)
	s, err := m.Store.GetSession(ctx, id)
	if err != nil {
		return nil, nil
	}
	var d SessionData
	_ = json.Unmarshal(s.Data, &d)
	if err := m.Store.DeleteSession(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
		return d.Apps, fmt.Errorf("end session: %w", err)
	}
	if m.OnEnd != nil {
		m.OnEnd(ctx, signin.EndedSession{ID: d.Ref, UserID: s.UserID, Apps: d.Apps})
	}
	return d.Apps, nil
}

// SafeReturnTo keeps only local absolute paths: no scheme, no host, no "//" or "/\" tricks,
// no control characters — so the sign-in page can never become an open redirect.
func SafeReturnTo(s string) string {
	if s == "" || s[0] != '/' || strings.HasPrefix(s, "//") || strings.HasPrefix(s, "/\\") || len(s) > 8192 {
		return "/"
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f || c == '\\' {
			return "/"
		}
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/"
	}
	return s
}

// MarkMFA records on the request's session that a second factor was used now.
func (m *Manager) MarkMFA(r *http.Request, method string) error {
	s, _, ok := m.Current(r)
	if !ok {
		return errors.New("no session")
	}
	now := m.Now().UTC()
	_, err := m.Store.UpdateSession(r.Context(), s.ID, func(old store.Session) (store.Session, error) {
		var d SessionData
		_ = json.Unmarshal(old.Data, &d)
		if !slices.Contains(d.Methods, method) {
			d.Methods = append(d.Methods, method)
		}
		if d.FreshFor != "" {
			d.FreshAt = now // the forced sign-in is completed by this step
		}
		old.Data, _ = json.Marshal(d)
		old.MFA = true
		return old, nil
	})
	return err
}
