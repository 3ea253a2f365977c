package directory

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/sekisho/sekisho/internal/store"
)

// Connector is a source of users outside Sekisho (LDAP / Active Directory today). It is one
// small interface; what a connector can do is said by the capability interfaces it also
// implements (Syncer, PasswordVerifier), as Dex's connectors do.
type Connector interface {
	// ID names the connector: the Source of every user and group it brings.
	ID() string
}

// Syncer is a connector whose users and groups Sekisho reads as a whole.
type Syncer interface {
	Connector
	// Snapshot reads every user and group in the connector's scope. An error (the
	// directory unreachable, a refused bind, a failed search) means nothing was read: the
	// sync then changes nothing.
	Snapshot(ctx context.Context) (Snapshot, error)
}

// PasswordVerifier is a connector that checks its users' passwords itself.
type PasswordVerifier interface {
	Connector
	// VerifyPassword returns nil for the right password, an error wrapping
	// ErrBadCredentials when the directory refused it, and any other error when it could
	// not be asked (unreachable).
	VerifyPassword(ctx context.Context, u store.User, password string) error
}

// Snapshot is what a Syncer read.
type Snapshot struct {
	Users   []ExternalUser
	Groups  []ExternalGroup
	Skipped []Skip // entries that could not be mapped (no ID attribute, …)
}

// ExternalUser is one user as the directory has it.
type ExternalUser struct {
	DN          string
	ImmutableID string // stable across renames (AD: base64 of objectGUID)
	UPN         string
	DisplayName string
	Email       string
	Disabled    bool
	Groups      []string // DNs of every group the user is in, nested ones included
}

// ExternalGroup is one group as the directory has it.
type ExternalGroup struct {
	DN          string
	Name        string
	Description string
}

// Skip is an entry a connector (or the sync) left out, and why.
type Skip struct {
	DN     string `json:"dn"`
	Reason string `json:"reason"`
}

// ConnectorSettings is a connector with what Sekisho does with it.
type ConnectorSettings struct {
	Connector Connector
	// Interval between scheduled syncs; 0 = only `sekisho directory sync`.
	Interval time.Duration
	// DisableGrace is how long a user may be missing from the directory before the sync
	// disables it (it is never deleted).
	DisableGrace time.Duration
	// MaxDisablePercent: a sync that would disable (or start the grace period of) more than
	// this share of the connector's active users stops and changes nothing.
	MaxDisablePercent float64
	// LocalFallback lets a synced user sign in with the last password the directory
	// accepted (kept as an argon2id hash) while the directory cannot be reached.
	LocalFallback bool
}

// AddConnector registers a connector: its users' passwords are then checked by it (when it
// is a PasswordVerifier) and Sync and RunScheduledSyncs can use it.
func (d *Directory) AddConnector(cs ConnectorSettings) error {
	if cs.Connector == nil || cs.Connector.ID() == "" {
		return errors.New("directory connector without an ID")
	}
	if d.connectors == nil {
		d.connectors = map[string]ConnectorSettings{}
	}
	if _, dup := d.connectors[cs.Connector.ID()]; dup {
		return fmt.Errorf("directory connector %q registered twice", cs.Connector.ID())
	}
	d.connectors[cs.Connector.ID()] = cs
	return nil
}

// Connectors returns the registered connectors ordered by ID.
func (d *Directory) Connectors() []ConnectorSettings {
	out := make([]ConnectorSettings, 0, len(d.connectors))
	for _, cs := range d.connectors {
		out = append(out, cs)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Connector.ID() < out[j].Connector.ID() })
	return out
}

// Connector returns the registered connector id.
func (d *Directory) Connector(id string) (ConnectorSettings, bool) {
	cs, ok := d.connectors[id]
	return cs, ok
}

// authenticateExternal checks the password of a user synchronised from a connector that
// verifies passwords: by the directory (an LDAP bind), never by an empty password, and by
// the locally kept hash only when the directory cannot be reached and LocalFallback is on.
func (d *Directory) authenticateExternal(ctx context.Context, u store.User, cs ConnectorSettings, v PasswordVerifier, password string) (store.User, error) {
	if password == "" {
		// An LDAP bind with a DN and no password is an "unauthenticated bind" that many
		// servers answer with success: it must never reach the directory.
		d.burn(password)
		return u, fmt.Errorf("empty password: %w", ErrBadCredentials)
	}
	// One verification's worth of time first, as for unknown and local users: a bind alone is
	// much quicker than argon2id, which would tell an attacker which names are synced users.
	d.burn(password)
	err := v.VerifyPassword(ctx, u, password)
	switch {
	case err == nil:
		if cs.LocalFallback {
			if same, _, verr := d.Params.Verify(password, u.PasswordHash); verr != nil || !same {
				if h, herr := d.Params.Hash(password); herr == nil {
					if nu, uerr := d.Store.UpdateUser(ctx, u.ID, func(old store.User) (store.User, error) {
						old.PasswordHash = h
						return old, nil
					}); uerr == nil {
						u = nu
					}
				}
			}
		}
	case errors.Is(err, ErrBadCredentials):
		return u, fmt.Errorf("directory %s: %w", cs.Connector.ID(), err)
	default:
		if !cs.LocalFallback || u.PasswordHash == "" {
			return u, fmt.Errorf("directory %s cannot check the password of %s: %w", cs.Connector.ID(), u.UPN, err)
		}
		ok, _, verr := d.Params.Verify(password, u.PasswordHash)
		if verr != nil {
			return u, fmt.Errorf("stored hash of %s: %w", u.UPN, verr)
		}
		if !ok {
			return u, fmt.Errorf("wrong password (local fallback, directory %s unreachable): %w", cs.Connector.ID(), ErrBadCredentials)
		}
	}
	if u.Status != store.UserActive {
		return u, ErrDisabled
	}
	return u, nil
}

// normDN is the form DNs are compared in: attribute types and values lower-cased, no spaces
// around separators. It is not a full RFC 4514 normalisation (escapes are kept as written),
// which is enough for DNs that come from the same directory.
func normDN(dn string) string {
	parts := strings.Split(dn, ",")
	for i, p := range parts {
		k, v, _ := strings.Cut(p, "=")
		parts[i] = strings.ToLower(strings.TrimSpace(k)) + "=" + strings.ToLower(strings.TrimSpace(v))
	}
	return strings.Join(parts, ",")
}
