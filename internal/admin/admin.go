// Package admin is the one service layer under every administrative interface: the CLI
// today, the console and the API tomorrow. Each operation is one transaction that makes the
// change and writes one entry of the admin audit log (who, when, through which interface,
// what, the state before and after), so a change is never in force without its entry nor
// logged without being made. Interfaces parse and print; the rules live here and in the
// packages this one calls (directory for users and passwords, policy for documents, saml and
// m365 for applications and domains, devicecert, keys, factors and lockout), each bound to
// the change's transaction.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sekisho/sekisho/internal/apitoken"
	"github.com/sekisho/sekisho/internal/audit"
	"github.com/sekisho/sekisho/internal/authn/factors"
	"github.com/sekisho/sekisho/internal/bridge/apppassword"
	"github.com/sekisho/sekisho/internal/bridge/oauthtokens"
	"github.com/sekisho/sekisho/internal/devicecert"
	"github.com/sekisho/sekisho/internal/directory"
	"github.com/sekisho/sekisho/internal/keys"
	"github.com/sekisho/sekisho/internal/lockout"
	"github.com/sekisho/sekisho/internal/protocol/oidc"
	"github.com/sekisho/sekisho/internal/scimtoken"
	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/userdocs"
)

// Actor is who makes a change and through which interface.
type Actor struct {
	Name string // the administrator's UPN, or "os:<user>" for the CLI on the server
	Via  string // "cli", "console" or "api"
}

// Service performs administrative changes.
//
// The managers below are the instance's, configured as the server runs them; an operation
// never uses them directly but a copy bound to its transaction (WithStore, or the same
// struct on the transaction's store), so that their writes and the entry commit together.
// An operation whose manager is not set fails before it changes anything.
type Service struct {
	Store     store.Store
	Directory *directory.Directory
	Keys      *keys.Manager    // token-signing keys (keys.*)
	Devices   *devicecert.CA   // device certificates (device.*)
	Factors   *factors.Manager // second factors (factors.*)
	Lockout   *lockout.Lockout // smart lockout (lockout.*); nil when it is switched off
	Tokens    *apitoken.Hasher // admin API tokens (token.*)
	// SCIMTokens hashes SCIM connectors' bearer tokens (scim.token.*).
	SCIMTokens *scimtoken.Hasher
	// BridgeCredentials hashes the mail bridge's app passwords (bridge.credential.*).
	BridgeCredentials *apppassword.Hasher
	// BridgeUpstream is the mail bridge's upstream token source when its tokens come from an
	// OAuth server (bridge.upstream.*: connecting and disconnecting users' mailboxes).
	BridgeUpstream *oauthtokens.Source
	Now            func() time.Time

	// ClientSecrets hashes OpenID Connect client secrets (app.add of a confidential client).
	ClientSecrets *oidc.SecretHasher
	// Changed, if set, runs after every change this service committed, so that this node's
	// caches drop it at once (other nodes' within the change poll).
	Changed func()
}

// New returns the service on an instance's store and directory; set Keys, Devices, Factors
// and Lockout for the operations that need them.
func New(s store.Store, d *directory.Directory) *Service {
	return &Service{Store: s, Directory: d, Now: time.Now}
}

// tx is what an operation works with inside its transaction.
type tx struct {
	store.Store
	dir *directory.Directory
	s   *Service
}

// errNotConfigured is returned by an operation whose manager the service was not given.
var errNotConfigured = errors.New("not configured in the admin service")

// keys returns the token-signing key manager on the transaction's store.
func (t tx) keys() (*keys.Manager, error) {
	if t.s.Keys == nil {
		return nil, fmt.Errorf("token-signing keys: %w", errNotConfigured)
	}
	return t.s.Keys.WithStore(t.Store), nil
}

// devices returns the device CA on the transaction's store.
func (t tx) devices() (*devicecert.CA, error) {
	if t.s.Devices == nil {
		return nil, fmt.Errorf("device CA: %w", errNotConfigured)
	}
	return t.s.Devices.WithStore(t.Store), nil
}

// factors returns the second-factor manager on the transaction's store.
func (t tx) factors() (*factors.Manager, error) {
	if t.s.Factors == nil {
		return nil, fmt.Errorf("second factors: %w", errNotConfigured)
	}
	m := *t.s.Factors
	m.Factors, m.Once = userdocs.Factors(t.Store), t.Store
	return &m, nil
}

// lockout returns smart lockout on the transaction's store.
func (t tx) lockout() (*lockout.Lockout, error) {
	if t.s.Lockout == nil {
		return nil, errors.New("smart lockout is switched off (lockout.enabled in sekisho.yaml)")
	}
	l := *t.s.Lockout
	l.Store = userdocs.Lockout(t.Store)
	return &l, nil
}

// change runs fn in one transaction and records its entry there: fn returns the state of the
// target before and after (nil for "did not exist" / "no longer exists").
func (s *Service) change(ctx context.Context, a Actor, action, target string, fn func(t tx) (before, after any, err error)) error {
	if a.Name == "" || a.Via == "" {
		return fmt.Errorf("%s %s: no actor (every change names who made it and how)", action, target)
	}
	err := s.Store.InTx(ctx, func(st store.Store) error {
		before, after, err := fn(tx{Store: st, dir: s.Directory.WithStore(st), s: s})
		if err != nil {
			return err
		}
		e := store.AdminEvent{ID: audit.NewID(), Time: s.Now().UTC(), Actor: a.Name, Via: a.Via, Action: action, Target: target}
		if e.Before, err = doc(before); err != nil {
			return err
		}
		if e.After, err = doc(after); err != nil {
			return err
		}
		if err := st.AddAdminEvent(ctx, e); err != nil {
			return fmt.Errorf("%s %s: admin audit entry: %w", action, target, err)
		}
		return nil
	})
	if err == nil && s.Changed != nil {
		s.Changed()
	}
	return err
}

// changeTo is change for an operation that also hands a result back to its caller (the
// stored row, a one-time secret to show once): out is what fn returned when the transaction
// committed, the zero value otherwise.
func changeTo[T any](ctx context.Context, s *Service, a Actor, action, target string, fn func(t tx) (out T, before, after any, err error)) (T, error) {
	var res T
	err := s.change(ctx, a, action, target, func(t tx) (any, any, error) {
		out, before, after, err := fn(t)
		res = out
		return before, after, err
	})
	if err != nil {
		var zero T
		return zero, err
	}
	return res, nil
}

func doc(v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("admin audit entry: %w", err)
	}
	return b, nil
}

// Log lists admin audit entries.
func (s *Service) Log(ctx context.Context, f store.AdminEventFilter) ([]store.AdminEvent, error) {
	evs, err := s.Store.ListAdminEvents(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("admin audit log: %w", err)
	}
	return evs, nil
}
