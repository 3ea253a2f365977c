// Package m365test provides in-memory fakes of the sign-in gate and of the rejection hook for
// tests of the Microsoft 365 adapters (wsfed, wstrust) and their interop tests; the SSO
// session's fake is internal/testutil/sessiontest.
package m365test

import (
	"context"
	"crypto/subtle"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/m365"
	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/store"
)

// Account is a user the fake gate knows.
type Account struct {
	User     store.User
	Password string
	MFA      bool          // the gate reports a second factor
	Deny     signin.Reason // non-empty: the policy denies with this reason
}

// Call is one gate call as the gate saw it (the request's headers and peer are copied,
// since the request is gone once the handler returns).
type Call struct {
	Attempt    signin.Attempt
	Header     http.Header
	RemoteAddr string
	Path       string // the endpoint the request arrived at
	Outcome    signin.Outcome
}

// Gate is a fake signin.Gate: passwords from an in-memory map, a fixed network list.
type Gate struct {
	mu       sync.Mutex
	accounts map[string]Account // lower-case UPN → account
	byID     map[string]Account
	// Networks is reported as Outcome.InsideNetworks for every allowed attempt.
	Networks []string
	// Err, when set, makes Check fail as a broken gate would.
	Err error
	// Fixed, when set, is the outcome of every attempt (e.g. an error decision the gate
	// recorded).
	Fixed *signin.Outcome
	calls []Call
	seq   int
}

// NewGate returns a gate knowing accounts.
func NewGate(accounts ...Account) *Gate {
	g := &Gate{accounts: map[string]Account{}, byID: map[string]Account{}}
	for _, a := range accounts {
		if a.User.Status == "" {
			a.User.Status = store.UserActive
		}
		g.accounts[strings.ToLower(a.User.UPN)] = a
		g.byID[a.User.ID] = a
	}
	return g
}

// Check implements signin.Gate.
func (g *Gate) Check(_ context.Context, a signin.Attempt) (signin.Outcome, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.Err != nil {
		return signin.Outcome{}, g.Err
	}
	if g.Fixed != nil {
		return *g.Fixed, nil
	}
	g.seq++
	out := signin.Outcome{EventID: fmt.Sprintf("evt-%d", g.seq), Decision: signin.Deny}
	var acc Account
	var ok bool
	if a.Session != nil {
		acc, ok = g.byID[a.Session.UserID]
		out.MFA = a.Session.MFA
		out.AuthnInstant = a.Session.AuthnInstant
	} else {
		acc, ok = g.accounts[strings.ToLower(a.Username)]
		if ok && subtle.ConstantTimeCompare([]byte(acc.Password), []byte(a.Password)) != 1 {
			out.Reason = signin.ReasonWrongPassword
			ok = false
		}
		out.MFA = acc.MFA
		out.AuthnInstant = time.Now()
	}
	switch {
	case !ok && out.Reason == "":
		out.Reason = signin.ReasonUnknownUser
	case !ok:
	case acc.User.Status == store.UserDisabled:
		out.Reason = signin.ReasonDisabled
	case acc.Deny != "":
		out.Reason = acc.Deny
	default:
		out.Allowed, out.Decision, out.Reason = true, signin.Allow, signin.ReasonPolicy
		out.User = acc.User
		out.InsideNetworks = g.Networks
	}
	c := Call{Attempt: a, Outcome: out}
	if a.HTTP != nil {
		c.Header = a.HTTP.Header.Clone()
		c.RemoteAddr = a.HTTP.RemoteAddr
		c.Path = a.HTTP.URL.Path
	}
	c.Attempt.HTTP = nil
	g.calls = append(g.calls, c)
	return out, nil
}

// Calls returns the calls so far.
func (g *Gate) Calls() []Call {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]Call(nil), g.calls...)
}

var _ signin.Gate = (*Gate)(nil)

// Server starts a TLS test server without a handler yet, closed when t ends: an adapter's
// config needs the server's URL before the adapter exists. Mount gives it the adapters.
func Server(t testing.TB) *httptest.Server {
	srv := httptest.NewUnstartedServer(nil)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// Mount serves the adapters' paths on srv.
func Mount(srv *httptest.Server, adapters ...interface {
	Register(mux interface{ Handle(string, http.Handler) })
}) {
	mux := http.NewServeMux()
	for _, a := range adapters {
		a.Register(mux)
	}
	srv.Config.Handler = mux
}

// Body returns the body of a test server's response, failing t when the request (err) or
// the read failed.
func Body(t testing.TB, resp *http.Response, err error) string {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Rejections records what an adapter refused outside the gate (its OnReject hook).
type Rejections struct {
	mu   sync.Mutex
	list []m365.Rejection
}

// Record is an m365.RejectFunc.
func (r *Rejections) Record(_ context.Context, rj m365.Rejection) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.list = append(r.list, rj)
	if rj.EventID != "" {
		return rj.EventID
	}
	return fmt.Sprintf("rej-%d", len(r.list))
}

// List returns a copy of the rejections so far.
func (r *Rejections) List() []m365.Rejection {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]m365.Rejection(nil), r.list...)
}
