package admin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sekisho/sekisho/internal/apitoken"
	"github.com/sekisho/sekisho/internal/console/roles"
	"github.com/sekisho/sekisho/internal/store"
)

// DefaultTokenLifetime is a new API token's validity when none is asked for.
const DefaultTokenLifetime = 90 * 24 * time.Hour

// TokenView is an API token as the audit log and the interfaces show it: never its hash.
type TokenView struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	Owner      string    `json:"owner"`
	Role       string    `json:"role"`
	CreatedBy  string    `json:"createdBy"`
	CreatedAt  time.Time `json:"createdAt"`
	ExpiresAt  time.Time `json:"expiresAt"`
	LastUsedAt time.Time `json:"lastUsedAt,omitzero"`
	LastIP     string    `json:"lastIp,omitempty"`
	RevokedAt  time.Time `json:"revokedAt,omitzero"`
}

// ViewOfToken returns the public view of t, whose owner's UPN is owner.
func ViewOfToken(t store.APIToken, owner string) TokenView {
	return TokenView{ID: t.ID, Name: t.Name, Owner: owner, Role: t.Role, CreatedBy: t.CreatedBy, CreatedAt: t.CreatedAt,
		ExpiresAt: t.ExpiresAt, LastUsedAt: t.LastUsedAt, LastIP: t.LastIP, RevokedAt: t.RevokedAt}
}

// NewToken is what CreateToken is asked for.
type NewToken struct {
	Owner    string        // the UPN the token acts as
	Role     roles.Role    // admin, helpdesk or auditor
	Name     string        // what it is for
	Lifetime time.Duration // 0: DefaultTokenLifetime
}

// CreatedToken is a new token: the bearer value is shown once and never again.
type CreatedToken struct {
	TokenView
	Token string `json:"token"`
}

// CreateToken makes an API token ("token.create"). The token acts as its owner and can do
// no more than role allows and no more than the owner's own role allows, so a token cannot
// lift a helpdesk account to an administrator's rights.
func (s *Service) CreateToken(ctx context.Context, a Actor, nt NewToken) (CreatedToken, error) {
	if s.Tokens == nil {
		return CreatedToken{}, fmt.Errorf("api tokens: %w", errNotConfigured)
	}
	nt.Name = strings.TrimSpace(nt.Name)
	switch {
	case nt.Role != roles.Admin && nt.Role != roles.Helpdesk && nt.Role != roles.Auditor:
		return CreatedToken{}, fmt.Errorf("role %q: must be admin, helpdesk or auditor", nt.Role)
	case nt.Name == "":
		return CreatedToken{}, errors.New("a token needs a name that says what it is for")
	case len(nt.Name) > 200:
		return CreatedToken{}, errors.New("a token's name has at most 200 characters")
	case nt.Lifetime < 0 || nt.Lifetime > apitoken.MaxLifetime:
		return CreatedToken{}, fmt.Errorf("lifetime %s: must be at most %d days", nt.Lifetime, int(apitoken.MaxLifetime.Hours()/24))
	case nt.Lifetime == 0:
		nt.Lifetime = DefaultTokenLifetime
	}
	return changeTo(ctx, s, a, "token.create", nt.Owner, func(t tx) (CreatedToken, any, any, error) {
		u, err := t.user(ctx, nt.Owner)
		if err != nil {
			return CreatedToken{}, nil, nil, err
		}
		if u.Status != store.UserActive {
			return CreatedToken{}, nil, nil, fmt.Errorf("user %s is %s: a token needs an active owner", u.UPN, u.Status)
		}
		if own := roles.Of(u.Groups); own != roles.Admin && own != nt.Role {
			if own == roles.None {
				return CreatedToken{}, nil, nil, fmt.Errorf("user %s has no console role (groups %s, %s, %s)", u.UPN,
					roles.AdminGroup, roles.HelpdeskGroup, roles.AuditorGroup)
			}
			return CreatedToken{}, nil, nil, fmt.Errorf("user %s is %s: a token of theirs cannot be %s", u.UPN, own, nt.Role)
		}
		row, secret, err := s.Tokens.New()
		if err != nil {
			return CreatedToken{}, nil, nil, err
		}
		now := s.Now().UTC()
		row.Name, row.UserID, row.Role, row.CreatedBy, row.CreatedAt, row.ExpiresAt = nt.Name, u.ID, string(nt.Role), a.Name, now, now.Add(nt.Lifetime)
		if err := t.CreateAPIToken(ctx, row); err != nil {
			return CreatedToken{}, nil, nil, err
		}
		v := ViewOfToken(row, u.UPN)
		return CreatedToken{TokenView: v, Token: secret}, nil, v, nil
	})
}

// RevokeToken ends a token at once ("token.revoke"); it stays listed with its revocation time.
func (s *Service) RevokeToken(ctx context.Context, a Actor, id string) (TokenView, error) {
	return changeTo(ctx, s, a, "token.revoke", id, func(t tx) (TokenView, any, any, error) {
		old, err := t.GetAPIToken(ctx, id)
		if err != nil {
			return TokenView{}, nil, nil, fmt.Errorf("api token %s: %w", id, err)
		}
		owner := ownerOf(ctx, t.Store, old)
		if !old.RevokedAt.IsZero() {
			return TokenView{}, nil, nil, fmt.Errorf("api token %s: already revoked", id)
		}
		row, err := t.UpdateAPIToken(ctx, id, func(x store.APIToken) (store.APIToken, error) {
			x.RevokedAt = s.Now().UTC()
			return x, nil
		})
		if err != nil {
			return TokenView{}, nil, nil, err
		}
		return ViewOfToken(row, owner), ViewOfToken(old, owner), ViewOfToken(row, owner), nil
	})
}

// ListTokens lists every API token, revoked and expired ones included.
func (s *Service) ListTokens(ctx context.Context) ([]TokenView, error) {
	rows, err := s.Store.ListAPITokens(ctx)
	if err != nil {
		return nil, fmt.Errorf("api tokens: %w", err)
	}
	out := make([]TokenView, 0, len(rows))
	for _, r := range rows {
		out = append(out, ViewOfToken(r, ownerOf(ctx, s.Store, r)))
	}
	return out, nil
}

// ownerOf is the UPN of the token's owner (its user ID if the user cannot be read).
func ownerOf(ctx context.Context, st store.Store, r store.APIToken) string {
	if u, err := st.GetUser(ctx, r.UserID); err == nil {
		return u.UPN
	}
	return r.UserID
}
