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
	"net/netip"
	"strings"
	"time"

	"github.com/sekisho/sekisho/internal/audit"
	"github.com/sekisho/sekisho/internal/clientctx"
	"github.com/sekisho/sekisho/internal/devicecert"
	"github.com/sekisho/sekisho/internal/directory"
	"github.com/sekisho/sekisho/internal/lockout"
	"github.com/sekisho/sekisho/internal/policy"
	"github.com/sekisho/sekisho/internal/published"
	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/store"
)

// Gate implements signin.Gate.
type Gate struct {
	Store     store.Store
	Directory *directory.Directory
	Audit     *audit.Recorder
	Policies  *published.Source
	// RememberApp, when set, is told of every application a browser session is allowed into
	// (the session manager keeps them for single logout).
	RememberApp func(r *http.Request, application string, ip netip.Addr) error
	// ClientConfig returns the trusted proxies and the Exchange Online ranges; called per
	// request so that edits to the stored network take effect.
	ClientConfig func(ctx context.Context) clientctx.Config
	// Lockout, when set, applies smart lockout to every password attempt.
	Lockout *lockout.Lockout
	// Devices, when set, verifies TLS client certificates as device certificates; without it
	// a presented certificate counts as present but never valid.
	Devices *devicecert.CA
	// Eligible, when set, names why user cannot be issued a token for attempt a (a
	// Microsoft 365 user without ImmutableID, a UPN outside every federated domain…), or ""
	// when nothing stands in the way. The gate then denies with that reason, so the sign-in
	// record states the true cause instead of an "allow" that the adapter refuses afterwards.
	Eligible func(ctx context.Context, a signin.Attempt, user store.User) signin.Reason
	// AppPasswords, when set, checks the mail bridge's app passwords (Attempt.AppPassword);
	// without it such attempts are refused.
	AppPasswords AppPasswordVerifier
	Now          func() time.Time
	Log          *slog.Logger
}

var _ signin.Gate = (*Gate)(nil)

// AppPasswordVerifier checks an app password of user for a bridge door (protocol): the
// credential when recognised, and "" or why it does not open the door (internal/bridge/apppassword).
type AppPasswordVerifier interface {
	Verify(ctx context.Context, user store.User, password, protocol string, now time.Time) (store.BridgeCredential, signin.Reason, error)
}

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
	case a.Protocol == "api" || a.Protocol == "scim":
		return clientctx.EndpointAPI
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
	return g.judge(ctx, a, true)
}

// Evaluate judges a session attempt exactly as Check would, at this request and under the
// policy in force, but writes no record and changes nothing. Sekisho's own pages use it to
// re-judge every request cheaply, and call Check (which records) when the verdict or the
// client's address changes. A client acting in its own name (Attempt.Client, authenticated by
// its adapter) may be evaluated too. Password attempts are refused: they must be counted and
// recorded.
func (g *Gate) Evaluate(ctx context.Context, a signin.Attempt) (signin.Outcome, error) {
	if a.Session == nil && a.Client == "" {
		return signin.Outcome{Decision: signin.Error, Reason: signin.ReasonNoSession}, errors.New("gate: Evaluate needs a session")
	}
	return g.judge(ctx, a, false)
}

func (g *Gate) judge(ctx context.Context, a signin.Attempt, record bool) (signin.Outcome, error) {
	start := g.Now()
	c := g.Client(ctx, a.HTTP, endpointOf(a))
	ev := baseEvent(a, c)
	ev.Time = start

	finish := func(o signin.Outcome) (signin.Outcome, error) {
		o.ClientIP = c.EffectiveIP
		if !record {
			return o, nil
		}
		ev.Decision, ev.Reason = string(o.Decision), string(o.Reason)
		ev.LatencyMicros = g.Now().Sub(start).Microseconds()
		rec, err := g.Audit.Record(ctx, ev)
		if err != nil {
			// No record, no access: the log must be complete.
			return signin.Outcome{Decision: signin.Error, Reason: signin.ReasonAuditUnavailable, ClientIP: c.EffectiveIP}, err
		}
		o.EventID = rec.ID
		if o.Allowed && a.Session != nil && g.RememberApp != nil && a.HTTP != nil {
			if err := g.RememberApp(a.HTTP, a.Application, c.EffectiveIP); err != nil {
				g.Log.WarnContext(ctx, "remember application on session", "err", err)
			}
		}
		return o, nil
	}

	// 1. Who: password, session, or a client in its own name (authenticated by its adapter).
	var user store.User
	var credential store.BridgeCredential
	var mfa bool
	authnInstant := start
	switch {
	case a.Client != "":
		if a.Session != nil || a.Username != "" || a.Password != "" {
			return finish(signin.Outcome{Decision: signin.Error, Reason: signin.ReasonRejected})
		}
		ev.Username = limit(a.Client, 254)
	case a.Session != nil:
		u, err := g.Store.GetUser(ctx, a.Session.UserID)
		if err != nil {
			return finish(signin.Outcome{Decision: signin.Deny, Reason: signin.ReasonNoSession})
		}
		user, mfa, authnInstant = u, a.Session.MFA, a.Session.AuthnInstant
		if user.Status != store.UserActive {
			ev.UserID, ev.Username = user.ID, user.UPN
			return finish(signin.Outcome{Decision: signin.Deny, Reason: signin.ReasonDisabled, User: user})
		}
	case a.AppPassword:
		u, cred, reason, err := g.appPassword(ctx, c, a)
		if cred.ID != "" {
			ev.DeviceName = limit(cred.Name, 200) + " (app password)"
		}
		if err != nil {
			g.Log.ErrorContext(ctx, "authenticate app password", "err", err)
			ev.UserID = u.ID
			return finish(signin.Outcome{Decision: signin.Error, Reason: reason, Credential: cred})
		}
		if reason != "" {
			ev.UserID = u.ID
			return finish(signin.Outcome{Decision: signin.Deny, Reason: reason, Credential: cred})
		}
		user, credential = u, cred
	default:
		u, reason, err := g.Password(ctx, c, a.Username, a.Password)
		if err != nil {
			g.Log.ErrorContext(ctx, "authenticate", "err", err)
			ev.UserID = u.ID
			return finish(signin.Outcome{Decision: signin.Error, Reason: reason})
		}
		if reason != "" {
			ev.UserID = u.ID
			return finish(signin.Outcome{Decision: signin.Deny, Reason: reason})
		}
		user = u
	}
	if a.Client == "" {
		ev.UserID, ev.Username = user.ID, user.UPN
	}
	if g.Eligible != nil && a.Client == "" {
		if reason := g.Eligible(ctx, a, user); reason != "" {
			return finish(signin.Outcome{Decision: signin.Deny, Reason: reason, User: user})
		}
	}

	// 2. Policy.
	comp, err := g.Policies.Current(ctx)
	if err != nil {
		g.Log.ErrorContext(ctx, "policy unavailable", "err", err)
		return finish(signin.Outcome{Decision: signin.Error, Reason: signin.ReasonPolicyUnavailable, User: user})
	}
	var inside []string
	if c.EffectiveIP.IsValid() {
		inside = comp.Inside(c.EffectiveIP)
	}
	if comp.Policy == nil {
		return finish(signin.Outcome{Decision: signin.Deny, Reason: signin.ReasonNoPolicy, User: user, InsideNetworks: inside})
	}
	in := policy.Input{User: user.UPN, Groups: user.Groups, Application: a.Application, Protocol: a.Protocol,
		MFA: mfa, Time: start, IP: c.EffectiveIP, ClientType: string(c.ClientType), LegacyApp: c.LegacyApp}
	dev, err := g.device(ctx, c, user.ID, start)
	if err != nil {
		g.Log.ErrorContext(ctx, "device certificate check", "err", err)
		return finish(signin.Outcome{Decision: signin.Error, Reason: signin.ReasonDeviceCheckUnavailable, User: user})
	}
	in.Device = policy.Device{Present: dev.Present, Valid: dev.Valid, BoundToUser: dev.BoundToUser, Serial: dev.Serial}
	if dev.Present {
		ev.DeviceName = dev.DeviceName
		if dev.Reason != "" && !strings.HasPrefix(dev.Reason, "ok") {
			// A certificate that does not count (another user's, revoked, foreign) is flagged.
			ev.DeviceName = strings.TrimSpace(dev.DeviceName + " [" + dev.Reason + "]")
			g.Log.WarnContext(ctx, "device certificate not accepted", "user", user.UPN, "serial", dev.Serial, "reason", dev.Reason)
		}
	}
	d := comp.Policy.Evaluate(in)
	ev.Rule, ev.PolicyVersion, ev.MFA = d.Rule, comp.Version, mfa
	if tr, err := json.Marshal(d.Trace); err == nil {
		ev.Trace = tr
	}
	o := signin.Outcome{User: user, MFA: mfa, AuthnInstant: authnInstant, InsideNetworks: inside, Reason: signin.ReasonPolicy,
		StepUpMFA: d.Action.NeedsMFA(), Decision: signin.Decision(d.Action.Decision()), Credential: credential}
	o.Allowed = o.Decision == signin.Allow
	if o.Allowed && d.BreakGlass {
		o.Reason = signin.ReasonBreakGlass
		g.Log.WarnContext(ctx, "break-glass account used", "user", user.UPN, "app", a.Application, "ip", ev.EffectiveIP)
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

// RecordPasswordFailure implements web.FailureRecorder: a refused step at the sign-in pages
// (wrong second-factor code, nothing enrolled) after the password.
func (g *Gate) RecordPasswordFailure(ctx context.Context, r *http.Request, username, app string, reason signin.Reason) string {
	c := g.Client(ctx, r, clientctx.EndpointPassive)
	ev := baseEvent(signin.Attempt{Username: limit(username, 254), Application: limit(app, 200), Protocol: "web"}, c)
	ev.Decision, ev.Reason = string(signin.Deny), string(reason)
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
	a := signin.Attempt{Protocol: protocol}
	if protocol == "wstrust" {
		a.Endpoint = signin.Active
	}
	return g.RecordRejected(ctx, g.Client(ctx, r, endpointOf(a)), protocol, app, username, reason)
}

// RecordRejected is RecordRejectedFor for a client the caller already resolved (so the
// record carries the real client address an adapter saw, not a proxy's).
func (g *Gate) RecordRejected(ctx context.Context, c clientctx.Client, protocol, app, username, reason string) string {
	ev := baseEvent(signin.Attempt{Application: limit(app, 200), Protocol: protocol, Username: limit(username, 254)}, c)
	ev.Time = g.Now()
	ev.Decision, ev.Reason = string(signin.Error), string(signin.ReasonRejected)+": "+limit(reason, 300)
	rec, err := g.Audit.Record(ctx, ev)
	if err != nil {
		return ""
	}
	return rec.ID
}

// Password checks a password attempt for the client c with smart lockout. It returns the user
// (known even on most failures, for the record) and "" on success, or a reason code:
// wrong_password, unknown_user, disabled, locked. An error means a component failed (fail
// closed); reason is then a code for the record.
func (g *Gate) Password(ctx context.Context, c clientctx.Client, username, password string) (store.User, signin.Reason, error) {
	now := g.Now()
	if g.Lockout != nil {
		if u, err := g.Store.GetUserByUPN(ctx, username); err == nil {
			locked, err := g.Lockout.Check(ctx, u.ID, c.EffectiveIP, now)
			if err != nil {
				return u, signin.ReasonLockoutUnavailable, err
			}
			if locked {
				// Spend what a password check costs, so a lock cannot be told from a wrong
				// password by timing; the answer to the caller is the same too.
				_, _ = g.Directory.Authenticate(ctx, "", password)
				return u, signin.ReasonLocked, nil
			}
		}
	}
	u, err := g.Directory.Authenticate(ctx, username, password)
	switch {
	case err == nil:
		if g.Lockout != nil {
			if err := g.Lockout.Success(ctx, u.ID, c.EffectiveIP, now); err != nil {
				g.Log.WarnContext(ctx, "lockout: record success", "err", err)
			}
		}
		return u, "", nil
	case errors.Is(err, directory.ErrDisabled):
		return u, signin.ReasonDisabled, nil
	case errors.Is(err, directory.ErrBadCredentials):
		if u.ID == "" {
			return u, signin.ReasonUnknownUser, nil // the directory returns the user for every other failure
		}
		if g.Lockout != nil {
			if err := g.Lockout.Failure(ctx, u.ID, c.EffectiveIP, now); err != nil {
				g.Log.WarnContext(ctx, "lockout: record failure", "err", err)
			}
		}
		return u, signin.ReasonWrongPassword, nil
	}
	return u, signin.ReasonDirectoryError, err
}

// appPassword checks an app-password attempt with the same smart lockout as a password: a
// lock refuses it, an unknown secret counts as a failure, and a recognised credential that
// does not open this door (revoked, expired, out of scope) is refused without counting — it
// is a known device misconfigured, not a guess.
func (g *Gate) appPassword(ctx context.Context, c clientctx.Client, a signin.Attempt) (store.User, store.BridgeCredential, signin.Reason, error) {
	var none store.BridgeCredential
	if g.AppPasswords == nil {
		return store.User{}, none, signin.ReasonRejected, nil
	}
	now := g.Now()
	u, err := g.Store.GetUserByUPN(ctx, a.Username)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, none, signin.ReasonUnknownUser, nil
	}
	if err != nil {
		return store.User{}, none, signin.ReasonDirectoryError, err
	}
	if g.Lockout != nil {
		locked, err := g.Lockout.Check(ctx, u.ID, c.EffectiveIP, now)
		if err != nil {
			return u, none, signin.ReasonLockoutUnavailable, err
		}
		if locked {
			return u, none, signin.ReasonLocked, nil
		}
	}
	if u.Status != store.UserActive {
		return u, none, signin.ReasonDisabled, nil
	}
	cred, reason, err := g.AppPasswords.Verify(ctx, u, a.Password, a.Protocol, now)
	if err != nil {
		return u, cred, reason, err
	}
	if g.Lockout != nil {
		var lerr error
		switch reason {
		case "":
			lerr = g.Lockout.Success(ctx, u.ID, c.EffectiveIP, now)
		case signin.ReasonWrongPassword:
			lerr = g.Lockout.Failure(ctx, u.ID, c.EffectiveIP, now)
		}
		if lerr != nil {
			g.Log.WarnContext(ctx, "lockout: record app password attempt", "err", lerr)
		}
	}
	return u, cred, reason, nil
}

// CheckPassword is the sign-in page's password check (web.PasswordChecker): the same
// lockout and reasons as every other door, and a sign-in record for each failure.
func (g *Gate) CheckPassword(ctx context.Context, r *http.Request, username, password, app string) (store.User, signin.Reason, string) {
	c := g.Client(ctx, r, clientctx.EndpointPassive)
	u, reason, err := g.Password(ctx, c, username, password)
	if err != nil {
		g.Log.ErrorContext(ctx, "authenticate", "err", err)
	}
	if reason == "" {
		return u, "", ""
	}
	ev := baseEvent(signin.Attempt{Username: limit(username, 254), Application: limit(app, 200), Protocol: "web"}, c)
	ev.Time = g.Now()
	ev.UserID, ev.Decision, ev.Reason = u.ID, string(signin.Deny), string(reason)
	if err != nil {
		ev.Decision = string(signin.Error)
	}
	rec, rerr := g.Audit.Record(ctx, ev)
	if rerr != nil {
		return u, signin.ReasonAuditUnavailable, ""
	}
	return u, reason, rec.ID
}

// device verifies the client's TLS certificate as a device certificate of userID.
func (g *Gate) device(ctx context.Context, c clientctx.Client, userID string, now time.Time) (devicecert.Result, error) {
	if c.ClientCert == nil {
		return devicecert.Result{}, nil
	}
	if g.Devices == nil {
		return devicecert.Result{Present: true, Serial: fmt.Sprintf("%x", c.ClientCert.SerialNumber), Reason: "not_verified"}, nil
	}
	return g.Devices.Verify(ctx, c.ClientCert, nil, userID, now)
}
