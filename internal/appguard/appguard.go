// Package appguard puts Sekisho's own pages behind the same gate as every other application:
// the admin console and admin API are the application "sekisho-admin", the user portal
// "sekisho-account". A browser session is proof of a password (and maybe a second factor),
// not a licence to every door: each of these applications is judged by the gate for the
// session, the client's address and the time, under the policy in force.
//
// Every request is re-judged without a record (gate.Evaluate: a user read and a policy
// evaluation), so a policy change or a disabled account takes effect on the next request.
// The gate's recorded judgment (gate.Check) runs the first time a session uses an
// application from an address, and again whenever the unrecorded verdict is not "allow":
// one sign-in record per session, application and client address, not one per page view.
package appguard

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/sekisho/sekisho/internal/authn"
	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/store"
)

// Judge is what the guard needs from the gate.
type Judge interface {
	// Check judges and writes the sign-in record.
	Check(ctx context.Context, a signin.Attempt) (signin.Outcome, error)
	// Evaluate judges like Check but records nothing.
	Evaluate(ctx context.Context, a signin.Attempt) (signin.Outcome, error)
}

// Guard admits sessions to Sekisho's own applications.
type Guard struct {
	Gate     Judge
	Sessions *authn.Manager
	// Deny renders a refusal: status, the policy's text for the user, the record's ID.
	Deny func(w http.ResponseWriter, r *http.Request, status int, message, reference string)
	Log  *slog.Logger
}

type userKey struct{}

// User returns the user the guard admitted for this request.
func User(ctx context.Context) (store.User, bool) {
	u, ok := ctx.Value(userKey{}).(store.User)
	return u, ok
}

func safeMethod(r *http.Request) bool {
	return r.Method == http.MethodGet || r.Method == http.MethodHead
}

// Protect serves next only to sessions the gate admits to app.
func (g *Guard) Protect(app string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		s, d, ok := g.Sessions.Current(r)
		if !ok {
			if !safeMethod(r) {
				g.Deny(w, r, http.StatusUnauthorized, "", "")
				return
			}
			q := url.Values{"return_to": {authn.SafeReturnTo(r.URL.RequestURI())}, "app": {app}}
			http.Redirect(w, r, "/login?"+q.Encode(), http.StatusSeeOther)
			return
		}
		a := signin.Attempt{Protocol: "web", Application: app, Endpoint: signin.Passive, HTTP: r,
			Session: &signin.Session{ID: d.Ref, UserID: s.UserID, AuthnInstant: d.AuthnInstant, MFA: s.MFA}}
		if o, err := g.Gate.Evaluate(ctx, a); err == nil && o.Allowed && d.Granted(app, o.ClientIP) {
			next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, userKey{}, o.User)))
			return
		}
		o, err := g.Gate.Check(ctx, a)
		if err != nil {
			g.Log.ErrorContext(ctx, "gate unavailable for "+app, "err", err)
			g.Deny(w, r, http.StatusServiceUnavailable, "", o.EventID)
			return
		}
		if o.Allowed {
			// The gate's RememberApp hook has granted the session this application from this
			// address (one session write); without it the next request is judged again.
			next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, userKey{}, o.User)))
			return
		}
		if o.StepUpMFA && !s.MFA && safeMethod(r) {
			q := url.Values{"return_to": {authn.SafeReturnTo(r.URL.RequestURI())}, "app": {app}}
			http.Redirect(w, r, "/login/mfa?"+q.Encode(), http.StatusSeeOther)
			return
		}
		g.Deny(w, r, http.StatusForbidden, o.Message, o.EventID)
	})
}

// StepUp is the session manager's hook: whether the policy in force will ask this user for a
// second factor for application at this request (judged without a record), so the browser
// goes to the second-factor step before an adapter spends its single-use state.
func StepUp(j Judge) func(r *http.Request, userID, application string) bool {
	return func(r *http.Request, userID, application string) bool {
		o, err := j.Evaluate(r.Context(), signin.Attempt{Application: application, Endpoint: signin.Passive,
			HTTP: r, Session: &signin.Session{UserID: userID}})
		return err == nil && o.StepUpMFA
	}
}

// EnrolAllowed is the enrolment pages' hook: whether the policy lets this user into the portal
// (sekisho-account) outright at this request, the condition for setting up a first second
// factor on the strength of the password alone.
func EnrolAllowed(j Judge) func(r *http.Request, userID string) bool {
	return func(r *http.Request, userID string) bool {
		o, err := j.Evaluate(r.Context(), signin.Attempt{Application: signin.AppAccount, Endpoint: signin.Passive,
			HTTP: r, Session: &signin.Session{UserID: userID}})
		return err == nil && o.Allowed
	}
}
