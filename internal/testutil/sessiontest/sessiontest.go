// Package sessiontest is a fake signin.Sessions for the tests of the protocol adapters (SAML,
// WS-Federation) and their interop tests: at most one browser session, set by the test, and
// a record of what the adapter asked of it.
package sessiontest

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/sekisho/sekisho/internal/signin"
)

// Sessions is a fake signin.Sessions holding at most one browser session.
type Sessions struct {
	mu sync.Mutex
	// Current is the session Require returns; nil sends the browser to LoginURL.
	Current  *signin.Session
	LoginURL string // default "/login"
	// Apps is what End returns: the applications the session had signed in to.
	Apps []string
	// Now is the clock a ForceAuthn request's freshness is judged by; nil is time.Now.
	Now func() time.Time

	required []signin.SessionOptions
	ended    int
}

// Require implements signin.Sessions. A ForceAuthn request without a session signed in
// within the last minute is treated as "no session" (the real sign-in page asks for the
// password again). A ReturnTo that is not a path on this server panics: the sign-in page
// would refuse it, so an adapter must never ask for one.
func (s *Sessions) Require(w http.ResponseWriter, r *http.Request, opts signin.SessionOptions) (*signin.Session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.required = append(s.required, opts)
	if !strings.HasPrefix(opts.ReturnTo, "/") || strings.HasPrefix(opts.ReturnTo, "//") {
		panic("ReturnTo is not a local path: " + opts.ReturnTo)
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	if s.Current == nil || (opts.ForceAuthn && now().Sub(s.Current.AuthnInstant) > time.Minute) {
		login := s.LoginURL
		if login == "" {
			login = "/login"
		}
		http.Redirect(w, r, login+"?return="+url.QueryEscape(opts.ReturnTo), http.StatusFound)
		return nil, false
	}
	cp := *s.Current
	return &cp, true
}

// End implements signin.Sessions: the session is gone, and Apps with it.
func (s *Sessions) End(context.Context, http.ResponseWriter, *http.Request) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ended++
	apps := s.Apps
	s.Current, s.Apps = nil, nil
	return apps, nil
}

// Required returns the options of every Require call.
func (s *Sessions) Required() []signin.SessionOptions {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]signin.SessionOptions(nil), s.required...)
}

// Ended reports how many times End was called.
func (s *Sessions) Ended() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended
}

var _ signin.Sessions = (*Sessions)(nil)
