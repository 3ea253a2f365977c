package admin

import (
	"context"
	"fmt"
	"time"

	"github.com/sekisho/sekisho/internal/directory"
	"github.com/sekisho/sekisho/internal/scimtoken"
	"github.com/sekisho/sekisho/internal/store"
)

// SCIMTokenView is a SCIM connector's token as the audit log and the CLI show it: never its hash.
type SCIMTokenView struct {
	Connector  string    `json:"connector"`
	ID         string    `json:"id"`
	CreatedBy  string    `json:"createdBy"`
	CreatedAt  time.Time `json:"createdAt"`
	LastUsedAt time.Time `json:"lastUsedAt,omitzero"`
	LastIP     string    `json:"lastIp,omitempty"`
	RevokedAt  time.Time `json:"revokedAt,omitzero"`
}

func viewOfSCIMToken(t store.SCIMToken) SCIMTokenView {
	return SCIMTokenView{Connector: t.Connector, ID: t.ID, CreatedBy: t.CreatedBy, CreatedAt: t.CreatedAt,
		LastUsedAt: t.LastUsedAt, LastIP: t.LastIP, RevokedAt: t.RevokedAt}
}

// IssuedSCIMToken is a new connector token: the bearer value is shown once and never again.
type IssuedSCIMToken struct {
	SCIMTokenView
	Token string `json:"token"`
}

// IssueSCIMToken makes the bearer token of SCIM connector name ("scim.token.issue"), replacing
// the one it had: the old token stops working when this one is committed.
func (s *Service) IssueSCIMToken(ctx context.Context, a Actor, name string) (IssuedSCIMToken, error) {
	if s.SCIMTokens == nil {
		return IssuedSCIMToken{}, fmt.Errorf("scim tokens: %w", errNotConfigured)
	}
	if err := scimtoken.CheckName(name); err != nil {
		return IssuedSCIMToken{}, err
	}
	return changeTo(ctx, s, a, "scim.token.issue", scimtoken.Source(name), func(t tx) (IssuedSCIMToken, any, any, error) {
		var before any
		for _, old := range mustList(t.ListSCIMTokens(ctx)) {
			if old.Connector == name {
				before = viewOfSCIMToken(old)
			}
		}
		row, secret, err := s.SCIMTokens.New(name)
		if err != nil {
			return IssuedSCIMToken{}, nil, nil, err
		}
		row.CreatedBy, row.CreatedAt = a.Name, s.Now().UTC()
		if err := t.PutSCIMToken(ctx, row); err != nil {
			return IssuedSCIMToken{}, nil, nil, err
		}
		v := viewOfSCIMToken(row)
		return IssuedSCIMToken{SCIMTokenView: v, Token: secret}, before, v, nil
	})
}

func mustList(ts []store.SCIMToken, err error) []store.SCIMToken {
	if err != nil {
		return nil
	}
	return ts
}

// RevokeSCIMToken ends a connector's token at once ("scim.token.revoke"); the connector's
// users and groups stay as they are.
func (s *Service) RevokeSCIMToken(ctx context.Context, a Actor, name string) (SCIMTokenView, error) {
	return changeTo(ctx, s, a, "scim.token.revoke", scimtoken.Source(name), func(t tx) (SCIMTokenView, any, any, error) {
		var old store.SCIMToken
		row, err := t.UpdateSCIMToken(ctx, name, func(x store.SCIMToken) (store.SCIMToken, error) {
			old = x
			if !x.RevokedAt.IsZero() {
				return x, fmt.Errorf("the token of SCIM connector %s is already revoked", name)
			}
			x.RevokedAt = s.Now().UTC()
			return x, nil
		})
		if err != nil {
			return SCIMTokenView{}, nil, nil, fmt.Errorf("SCIM connector %s: %w", name, err)
		}
		return viewOfSCIMToken(row), viewOfSCIMToken(old), viewOfSCIMToken(row), nil
	})
}

// ListSCIMTokens lists every SCIM connector's token, revoked ones included.
func (s *Service) ListSCIMTokens(ctx context.Context) ([]SCIMTokenView, error) {
	rows, err := s.Store.ListSCIMTokens(ctx)
	if err != nil {
		return nil, fmt.Errorf("scim tokens: %w", err)
	}
	out := make([]SCIMTokenView, 0, len(rows))
	for _, r := range rows {
		out = append(out, viewOfSCIMToken(r))
	}
	return out, nil
}

// Provision makes one change a provisioning connector (SCIM) asked for, in one transaction
// with its admin-audit entry: fn works on the transaction's store and directory and returns
// the target's state before and after. The connector's own rules (which users it owns, its
// schema) live in its package; the transaction and the entry are this one's.
func (s *Service) Provision(ctx context.Context, a Actor, action, target string, fn func(st store.Store, dir *directory.Directory) (before, after any, err error)) error {
	return s.change(ctx, a, action, target, func(t tx) (any, any, error) { return fn(t.Store, t.dir) })
}
