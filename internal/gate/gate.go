// Package gate is the one checkpoint every sign-in passes, whatever the protocol: it works
// out who is really calling (clientctx), authenticates (password or SSO session), evaluates
// the policy, and writes the sign-in record before the adapter may answer.
package gate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/sekisho/sekisho/internal/audit"
	"github.com/sekisho/sekisho/internal/authn"
	"github.com/sekisho/sekisho/internal/clientctx"
	"github.com/sekisho/sekisho/internal/directory"
	"github.com/sekisho/sekisho/internal/policy"
	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/store"
)

// Reason codes of outcomes that the policy did not decide.
const (
	ReasonWrongPassword = "wrong_password"
	ReasonUnknownUser   = "unknown_user"
	ReasonDisabled      = "disabled"
	ReasonNoSession     = "no_session"
	ReasonNoPolicy      = "no_policy"
	ReasonPolicy        = "policy"
	ReasonRejected      = "rejected_request"
)

// Gate implements signin.Gate.
type Gate struct {
	Store     store.Store
	Directory *directory.Directory
	Sessions  *authn.Manager // may be nil (no browser sessions, e.g. in tests of the active path)
	Audit     *audit.Recorder
	Policies  *PolicySource
	// ClientConfig returns the trusted proxies and the Exchange Online ranges; called per
	// request so that edits to the stored network take effect.
	ClientConfig func(ctx context.Context) clientctx.Config
	// Eligible, when set, names why user cannot be issued a token for attempt a (a
	// Microsoft 365 user without ImmutableID, a UPN outside every federated domain…), or ""
	// when nothing stands in the way. The gate then denies with that reason, so the sign-in
	// record states the true cause instead of an "allow" that the adapter refuses afterwards.
	Eligible func(ctx context.Context, a signin.Attempt, user store.User) string
	Now      func() time.Time
	Log      *slog.Logger
}

var _ signin.Gate = (*Gate)(nil)

func endpointOf(a signin.Attempt) clientctx.Endpoint {
	switch {
	case a.Endpoint == signin.Active:
		return clientctx.EndpointActive
	case a.Protocol == "oidc":
		return clientctx.EndpointOIDC
	case a.Protocol == "bridge-imap":
		return clientctx.EndpointBridgeIMAP
	case a.Protocol == "bridge-pop":
		return clientctx.EndpointBridgePOP
	case a.Protocol == "bridge-smtp":
		return clientctx.EndpointBridgeSMTP
	}
	return clientctx.EndpointPassive
}

// Client resolves the client context of r for an endpoint.
func (g *Gate) Client(ctx context.Context, r *http.Request, ep clientctx.Endpoint) clientctx.Client {
	return clientctx.Resolve(r, g.ClientConfig(ctx), ep)
}

func baseEvent(a signin.Attempt, c clientctx.Client) store.SignInEvent {
	e := store.SignInEvent{Username: a.Username, Application: a.Application, Protocol: a.Protocol,
		ClientType: string(c.ClientType), LegacyApp: c.LegacyApp, ForwardedTrusted: c.ForwardedTrusted,
		ForgedHeaders: c.ForgedHeaders, UserAgent: limit(c.UserAgent, 512)}
	if c.EffectiveIP.IsValid() {
		e.EffectiveIP = c.EffectiveIP.String()
	}
	if c.PeerIP.IsValid() {
		e.PeerIP = c.PeerIP.String()
	}
	if c.ForwardedIP.IsValid() {
		e.ForwardedIP = c.ForwardedIP.String()
	}
	if c.ClientCert != nil {
		e.DeviceSerial = fmt.Sprintf("%x", c.ClientCert.SerialNumber)
	}
	return e
}

func limit(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// Check implements signin.Gate.
func (g *Gate) Check(ctx context.Context, a signin.Attempt) (signin.Outcome, error) {
	start := g.Now()
	c := g.Client(ctx, a.HTTP, endpointOf(a))
	ev := baseEvent(a, c)
	ev.Time = start

	finish := func(o signin.Outcome) (signin.Outcome, error) {
		ev.Decision, ev.Reason = o.Decision, o.Reason
		ev.LatencyMicros = g.Now().Sub(start).Microseconds()
		rec, err := g.Audit.Record(ctx, ev)
		if err != nil {
			// No record, no access: the log must be complete.
			return signin.Outcome{Decision: "error", Reason: "audit_unavailable"}, err
		}
		o.EventID = rec.ID
		if o.Allowed && a.Session != nil && g.Sessions != nil && a.HTTP != nil {
			if err := g.Sessions.TouchRequest(a.HTTP, a.Application); err != nil {
				g.Log.WarnContext(ctx, "remember application on session", "err", err)
			}
		}
		return o, nil
	}

	// 1. Who: password or session.
	var user store.User
	var mfa bool
	authnInstant := start
	switch {
	case a.Session != nil:
		u, err := g.Store.GetUser(ctx, a.Session.UserID)
		if err != nil {
			return finish(signin.Outcome{Decision: "deny", Reason: ReasonNoSession})
		}
		user, mfa, authnInstant = u, a.Session.MFA, a.Session.AuthnInstant
		if user.Status != store.UserActive {
			ev.UserID, ev.Username = user.ID, user.UPN
			return finish(signin.Outcome{Decision: "deny", Reason: ReasonDisabled, User: user})
		}
	default:
		u, err := g.Directory.Authenticate(ctx, a.Username, a.Password)
		if err != nil {
			o := signin.Outcome{Decision: "deny", Reason: ReasonWrongPassword}
			if u.ID != "" {
				ev.UserID = u.ID
			}
			if errors.Is(err, directory.ErrBadCredentials) && u.ID == "" {
				o.Reason = ReasonUnknownUser // the directory returns the user for every other failure
			}
			if errors.Is(err, directory.ErrDisabled) {
				o.Reason = ReasonDisabled
			} else if !errors.Is(err, directory.ErrBadCredentials) {
				g.Log.ErrorContext(ctx, "authenticate", "err", err)
				o.Decision, o.Reason = "error", "directory_error"
			}
			return finish(o)
		}
		user = u
	}
	ev.UserID, ev.Username = user.ID, user.UPN
	if g.Eligible != nil {
		if reason := g.Eligible(ctx, a, user); reason != "" {
			return finish(signin.Outcome{Decision: "deny", Reason: reason, User: user})
		}
	}

	// 2. Policy.
	comp, err := g.Policies.Current(ctx)
	if err != nil {
		g.Log.ErrorContext(ctx, "policy unavailable", "err", err)
		return finish(signin.Outcome{Decision: "error", Reason: "policy_unavailable", User: user})
	}
	var inside []string
	if c.EffectiveIP.IsValid() {
		inside = comp.Inside(c.EffectiveIP)
	}
	if comp.Policy == nil {
		return finish(signin.Outcome{Decision: "deny", Reason: ReasonNoPolicy, User: user, InsideNetworks: inside})
	}
	in := c.PolicyInput(policy.Input{User: user.UPN, Groups: user.Groups, Application: a.Application, Protocol: a.Protocol,
		MFA: mfa, Time: start})
	in.Device = policy.Device{Present: c.ClientCert != nil}
	d := comp.Policy.Evaluate(in)
	ev.Rule, ev.PolicyVersion, ev.MFA = d.Rule, comp.Version, mfa
	if tr, err := json.Marshal(d.Trace); err == nil {
		ev.Trace = tr
	}
	o := signin.Outcome{User: user, MFA: mfa, AuthnInstant: authnInstant, InsideNetworks: inside, Reason: ReasonPolicy}
	switch d.Action {
	case policy.Allow:
		o.Allowed, o.Decision = true, "allow"
		if d.BreakGlass {
			o.Reason = "break_glass"
			g.Log.WarnContext(ctx, "break-glass account used", "user", user.UPN, "app", a.Application, "ip", ev.EffectiveIP)
		}
	case policy.RequireMFA:
		o.Decision = "mfa_required"
	case policy.RequireDevice, policy.RequireMFAAndDevice:
		o.Decision = "device_required"
	default:
		o.Decision = "deny"
	}
	if !o.Allowed {
		o.Message = d.Trace.Text(langOf(a.HTTP))
	}
	return finish(o)
}

func langOf(r *http.Request) string {
	if r != nil && strings.HasPrefix(strings.ToLower(r.Header.Get("Accept-Language")), "ja") {
		return "ja"
	}
	return "en"
}

// RecordPasswordFailure implements web.FailureRecorder.
func (g *Gate) RecordPasswordFailure(ctx context.Context, r *http.Request, username, app, reason string) string {
	c := g.Client(ctx, r, clientctx.EndpointPassive)
	ev := baseEvent(signin.Attempt{Username: limit(username, 254), Application: limit(app, 200), Protocol: "web"}, c)
	ev.Decision, ev.Reason = "deny", reason
	if u, err := g.Store.GetUserByUPN(ctx, username); err == nil {
		ev.UserID = u.ID
	}
	rec, err := g.Audit.Record(ctx, ev)
	if err != nil {
		return ""
	}
	return rec.ID
}

// RecordRejectedFor writes a record for a protocol message rejected before authentication
// (malformed, unsigned, replayed, unknown application) and returns its reference ID.
func (g *Gate) RecordRejectedFor(ctx context.Context, r *http.Request, protocol, app, username, reason string) string {
	ep := clientctx.EndpointPassive
	if protocol == "wstrust" {
		ep = clientctx.EndpointActive
	}
	c := g.Client(ctx, r, ep)
	ev := baseEvent(signin.Attempt{Application: limit(app, 200), Protocol: protocol, Username: limit(username, 254)}, c)
	ev.Decision, ev.Reason = "error", ReasonRejected+": "+limit(reason, 300)
	rec, err := g.Audit.Record(ctx, ev)
	if err != nil {
		return ""
	}
	return rec.ID
}

// NeedsMFA reports whether the policy in force would ask this user for a second factor for
// application at this request (client context, time), judged without writing a record. The
// session manager uses it to run the second-factor step before the adapter resumes.
func (g *Gate) NeedsMFA(r *http.Request, userID, application string) bool {
	ctx := r.Context()
	u, err := g.Store.GetUser(ctx, userID)
	if err != nil {
		return false
	}
	comp, err := g.Policies.Current(ctx)
	if err != nil || comp.Policy == nil {
		return false
	}
	c := g.Client(ctx, r, clientctx.EndpointPassive)
	in := c.PolicyInput(policy.Input{User: u.UPN, Groups: u.Groups, Application: application, Time: g.Now()})
	in.Device = policy.Device{Present: c.ClientCert != nil}
	return comp.Policy.Evaluate(in).Action.NeedsMFA()
}
