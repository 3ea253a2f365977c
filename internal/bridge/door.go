// Package bridge is the legacy mail bridge's checkpoint and its way to the real mail server
// (docs/mail-bridge.md): a device's login with an app password is judged at the gate like
// every other sign-in (client type bridge-imap, bridge-pop or bridge-smtp, the source
// address, time, user and groups; smart lockout; a sign-in record per login), and an allowed
// login is carried to the upstream server with an OAuth 2.0 access token for the user's
// mailbox (SASL XOAUTH2 or OAUTHBEARER). The protocol listeners (imapproxy, popproxy,
// smtpproxy) speak to the device until it has logged in, then relay.
package bridge

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/sekisho/sekisho/internal/bridge/apppassword"
	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/store"
)

// DefaultApplication is the application name bridge logins are judged as when the
// configuration names none.
const DefaultApplication = "sekisho-mail-bridge"

// DefaultRecheck is how often an open connection's login is checked again (credential
// revoked or expired, user disabled): the bound within which a revocation closes it.
const DefaultRecheck = 30 * time.Second

// Checker is the part of the gate the door uses.
type Checker interface {
	Check(ctx context.Context, a signin.Attempt) (signin.Outcome, error)
}

// Evaluator judges an attempt under the policy in force without a record (the gate's
// Evaluate): how an open connection is checked again.
type Evaluator interface {
	Evaluate(ctx context.Context, a signin.Attempt) (signin.Outcome, error)
}

// Recorder writes a record for a login that failed after the gate allowed it (the upstream
// refused or could not be reached), so the sign-in log shows why the device was turned away.
type Recorder interface {
	RecordRejectedFor(ctx context.Context, r *http.Request, protocol, app, username, reason string) string
}

// Door judges mail logins.
type Door struct {
	Gate        Checker
	Evaluator   Evaluator // optional: open connections are then re-judged under the policy in force
	Recorder    Recorder
	Store       store.Store // credentials' last use, and the recheck of open connections
	Application string
	Log         *slog.Logger
	Now         func() time.Time
}

// Conn is what the door knows of a device's connection (ConnOf).
type Conn struct {
	Remote net.Addr
	// Client is the device's address a trusted load balancer (Remote) named in its PROXY
	// protocol header; nil when the device connected directly.
	Client net.Addr
	TLS    *tls.ConnectionState // nil on a cleartext connection
}

// request is the gate's view of a mail connection: the peer address and TLS state. A mail
// connection has no HTTP headers, so no forwarding header can be forged through it; the
// client a trusted load balancer named is handed over as that proxy's X-Forwarded-For, so
// that the gate judges and records it as for an HTTP reverse proxy (the peer is the proxy).
func (c Conn) request() *http.Request {
	r := &http.Request{Method: "MAIL", Header: http.Header{}, TLS: c.TLS}
	if c.Remote != nil {
		r.RemoteAddr = c.Remote.String()
	}
	if c.Client != nil {
		if ap, err := netip.ParseAddrPort(c.Client.String()); err == nil {
			r.Header.Set("X-Forwarded-For", ap.Addr().Unmap().String())
		}
	}
	return r
}

// Login is an allowed login.
type Login struct {
	Protocol   string
	User       store.User
	Credential store.BridgeCredential
	EventID    string // the sign-in record
	conn       Conn
	at         time.Time
}

// Refusal is a login the door turned away. Temporary means Sekisho (or the upstream) failed,
// not the device: it may try again.
type Refusal struct {
	Reason    signin.Reason
	EventID   string
	Temporary bool
	Policy    bool // the access policy refused (the credential was good)
}

// Login judges username and password (an app password) at protocol's door: the allowed
// login, or why it was refused (a failure of Sekisho's own is a Temporary refusal).
func (d *Door) Login(ctx context.Context, c Conn, protocol, username, password string) (Login, *Refusal) {
	if len(username) > 254 {
		username = username[:254]
	}
	o, err := d.Gate.Check(ctx, signin.Attempt{Protocol: protocol, Application: d.app(), HTTP: c.request(),
		Username: username, Password: password, AppPassword: true})
	if err != nil {
		d.Log.ErrorContext(ctx, "mail bridge: gate", "protocol", protocol, "err", err)
	}
	if !o.Allowed {
		return Login{}, &Refusal{Reason: o.Reason, EventID: o.EventID, Temporary: o.Decision == signin.Error,
			Policy: o.Reason == signin.ReasonPolicy || o.Reason == signin.ReasonNoPolicy}
	}
	now := d.now()
	l := Login{Protocol: protocol, User: o.User, Credential: o.Credential, EventID: o.EventID, conn: c, at: now}
	if _, err := d.Store.UpdateBridgeCredential(ctx, l.Credential.ID, func(x store.BridgeCredential) (store.BridgeCredential, error) {
		x.LastUsedAt, x.LastIP = now, o.ClientIP.String()
		return x, nil
	}); err != nil {
		d.Log.WarnContext(ctx, "mail bridge: note credential use", "credential", l.Credential.ID, "err", err)
	}
	return l, nil
}

// UpstreamFailed records that the upstream turned an allowed login away (or could not be
// reached), and logs it; it returns the record's reference.
func (d *Door) UpstreamFailed(ctx context.Context, l Login, err error) string {
	d.Log.WarnContext(ctx, "mail bridge: upstream refused", "protocol", l.Protocol, "user", l.User.UPN, "record", l.EventID, "err", err)
	if d.Recorder == nil {
		return ""
	}
	return d.Recorder.RecordRejectedFor(ctx, l.conn.request(), l.Protocol, d.app(), l.User.UPN, "upstream: "+err.Error())
}

// Refuse records that the door refused something an allowed login asked for after it had
// logged in (the SMTP door: a sender address outside the credential's scope), and logs it;
// reason is a code and its detail ("sender_not_allowed: envelope sender <a@example.com>").
// It returns the record's reference, for the device's answer.
func (d *Door) Refuse(ctx context.Context, l Login, reason string) string {
	d.Log.WarnContext(ctx, "mail bridge: refused", "protocol", l.Protocol, "user", l.User.UPN,
		"credential", l.Credential.Name, "record", l.EventID, "reason", reason)
	if d.Recorder == nil {
		return ""
	}
	return d.Recorder.RecordRejectedFor(ctx, l.conn.request(), l.Protocol, d.app(), l.User.UPN, reason)
}

// ErrLoginEnded is why an open connection is closed by the recheck.
var ErrLoginEnded = errors.New("mail bridge: the login is no longer good")

// StillGood checks an open connection's login again: the credential neither revoked nor
// expired, the user still active, and (with an Evaluator) the policy in force still allowing
// the user through this door from this address — judged as the user's session, without a
// record. An error other than ErrLoginEnded is Sekisho's (the connection stays: a database
// hiccup must not drop every device).
func (d *Door) StillGood(ctx context.Context, l Login) error {
	c, err := d.Store.GetBridgeCredential(ctx, l.Credential.ID)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: credential deleted", ErrLoginEnded)
	}
	if err != nil {
		return err
	}
	if reason := apppassword.Opens(c, l.Protocol, d.now()); reason != "" {
		return fmt.Errorf("%w: %s", ErrLoginEnded, reason)
	}
	u, err := d.Store.GetUser(ctx, l.User.ID)
	if errors.Is(err, store.ErrNotFound) || err == nil && u.Status != store.UserActive {
		return fmt.Errorf("%w: user disabled or deleted", ErrLoginEnded)
	}
	if err != nil || d.Evaluator == nil {
		return err
	}
	o, err := d.Evaluator.Evaluate(ctx, signin.Attempt{Protocol: l.Protocol, Application: d.app(), HTTP: l.conn.request(),
		Session: &signin.Session{ID: l.EventID, UserID: l.User.ID, AuthnInstant: l.at}})
	switch {
	case err != nil && o.Decision == signin.Error:
		return err
	case !o.Allowed:
		return fmt.Errorf("%w: the policy in force refuses it (%s)", ErrLoginEnded, o.Decision)
	}
	return nil
}

// Watch runs StillGood every interval until ctx ends, and calls end when the login is over.
func (d *Door) Watch(ctx context.Context, l Login, interval time.Duration, end func(error)) {
	if interval <= 0 {
		interval = DefaultRecheck
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			err := d.StillGood(ctx, l)
			if errors.Is(err, ErrLoginEnded) {
				d.Log.InfoContext(ctx, "mail bridge: connection closed", "protocol", l.Protocol, "user", l.User.UPN,
					"credential", l.Credential.Name, "why", err)
				end(err)
				return
			}
			if err != nil {
				d.Log.WarnContext(ctx, "mail bridge: recheck", "err", err)
			}
		}
	}
}

func (d *Door) app() string {
	if d.Application == "" {
		return DefaultApplication
	}
	return d.Application
}

func (d *Door) now() time.Time {
	if d.Now == nil {
		return time.Now()
	}
	return d.Now()
}
