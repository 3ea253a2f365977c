package admin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/sekisho/sekisho/internal/bridge/apppassword"
	"github.com/sekisho/sekisho/internal/store"
)

// BridgeCredentialView is a mail bridge app password as the audit log and the interfaces
// show it: never its hash.
type BridgeCredentialView struct {
	ID         string    `json:"id"`
	User       string    `json:"user"`
	Name       string    `json:"name"`
	Scopes     []string  `json:"scopes"`
	From       []string  `json:"from,omitempty"`
	CreatedBy  string    `json:"createdBy"`
	CreatedAt  time.Time `json:"createdAt"`
	ExpiresAt  time.Time `json:"expiresAt"`
	LastUsedAt time.Time `json:"lastUsedAt,omitzero"`
	LastIP     string    `json:"lastIp,omitempty"`
	RevokedAt  time.Time `json:"revokedAt,omitzero"`
}

// State is "active", "revoked" or "expired" at now.
func (v BridgeCredentialView) State(now time.Time) string {
	switch {
	case !v.RevokedAt.IsZero():
		return "revoked"
	case !now.Before(v.ExpiresAt):
		return "expired"
	}
	return "active"
}

func viewOfBridgeCredential(c store.BridgeCredential, upn string) BridgeCredentialView {
	return BridgeCredentialView{ID: c.ID, User: upn, Name: c.Name, Scopes: c.Scopes, From: c.From, CreatedBy: c.CreatedBy,
		CreatedAt: c.CreatedAt, ExpiresAt: c.ExpiresAt, LastUsedAt: c.LastUsedAt, LastIP: c.LastIP, RevokedAt: c.RevokedAt}
}

// NewBridgeCredential is what IssueBridgeCredential is asked for.
type NewBridgeCredential struct {
	User     string   // UPN of the mailbox's user
	Name     string   // the device or program ("printer-3f")
	Scopes   []string // imap, pop, smtp-send
	From     []string // sender addresses for smtp-send; empty: the user's own
	Lifetime time.Duration
}

// IssuedBridgeCredential is a new app password: shown once and never again.
type IssuedBridgeCredential struct {
	BridgeCredentialView
	Password string `json:"password"`
}

// IssueBridgeCredential makes an app password for the mail bridge ("bridge.credential.issue").
func (s *Service) IssueBridgeCredential(ctx context.Context, a Actor, n NewBridgeCredential) (IssuedBridgeCredential, error) {
	if s.BridgeCredentials == nil {
		return IssuedBridgeCredential{}, fmt.Errorf("bridge credentials: %w", errNotConfigured)
	}
	if err := apppassword.CheckName(n.Name); err != nil {
		return IssuedBridgeCredential{}, err
	}
	scopes, err := apppassword.CheckScopes(n.Scopes)
	if err != nil {
		return IssuedBridgeCredential{}, err
	}
	from, err := apppassword.CheckFrom(n.From)
	if err != nil {
		return IssuedBridgeCredential{}, err
	}
	if len(from) > 0 && !strings.Contains(" "+strings.Join(scopes, " ")+" ", " "+apppassword.ScopeSMTPSend+" ") {
		return IssuedBridgeCredential{}, fmt.Errorf("sender addresses are for the %s scope only", apppassword.ScopeSMTPSend)
	}
	switch {
	case n.Lifetime < 0 || n.Lifetime > apppassword.MaxLifetime:
		return IssuedBridgeCredential{}, fmt.Errorf("lifetime %s: must be at most %d days", n.Lifetime, int(apppassword.MaxLifetime.Hours()/24))
	case n.Lifetime == 0:
		n.Lifetime = apppassword.DefaultLifetime
	}
	return changeTo(ctx, s, a, "bridge.credential.issue", n.User, func(t tx) (IssuedBridgeCredential, any, any, error) {
		u, err := t.user(ctx, n.User)
		if err != nil {
			return IssuedBridgeCredential{}, nil, nil, err
		}
		if u.Status != store.UserActive {
			return IssuedBridgeCredential{}, nil, nil, fmt.Errorf("user %s is %s: an app password needs an active user", u.UPN, u.Status)
		}
		pw, err := apppassword.NewSecret()
		if err != nil {
			return IssuedBridgeCredential{}, nil, nil, err
		}
		now := s.Now().UTC()
		row := store.BridgeCredential{ID: uuid.NewString(), UserID: u.ID, Name: n.Name, Scopes: scopes, From: from,
			Hash: s.BridgeCredentials.Hash(pw), CreatedBy: a.Name, CreatedAt: now, ExpiresAt: now.Add(n.Lifetime)}
		if err := t.CreateBridgeCredential(ctx, row); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return IssuedBridgeCredential{}, nil, nil, fmt.Errorf("%s already has an app password named %q: revoke it first or choose another name: %w", u.UPN, n.Name, store.ErrConflict)
			}
			return IssuedBridgeCredential{}, nil, nil, fmt.Errorf("app password %q of %s: %w", n.Name, u.UPN, err)
		}
		v := viewOfBridgeCredential(row, u.UPN)
		return IssuedBridgeCredential{BridgeCredentialView: v, Password: pw}, nil, v, nil
	})
}

// RevokeBridgeCredential ends user's app password name at once ("bridge.credential.revoke"):
// new connections are refused and open ones are closed within the bridge's recheck interval.
func (s *Service) RevokeBridgeCredential(ctx context.Context, a Actor, user, name string) (BridgeCredentialView, error) {
	return changeTo(ctx, s, a, "bridge.credential.revoke", user+"/"+name, func(t tx) (BridgeCredentialView, any, any, error) {
		u, err := t.user(ctx, user)
		if err != nil {
			return BridgeCredentialView{}, nil, nil, err
		}
		all, err := t.ListBridgeCredentials(ctx, u.ID)
		if err != nil {
			return BridgeCredentialView{}, nil, nil, err
		}
		revoked := false
		for _, old := range all {
			if old.Name != name {
				continue
			}
			if !old.RevokedAt.IsZero() {
				revoked = true
				continue
			}
			row, err := t.UpdateBridgeCredential(ctx, old.ID, func(x store.BridgeCredential) (store.BridgeCredential, error) {
				x.RevokedAt = s.Now().UTC()
				return x, nil
			})
			if err != nil {
				return BridgeCredentialView{}, nil, nil, err
			}
			return viewOfBridgeCredential(row, u.UPN), viewOfBridgeCredential(old, u.UPN), viewOfBridgeCredential(row, u.UPN), nil
		}
		if revoked {
			return BridgeCredentialView{}, nil, nil, alreadyRevoked{name, u.UPN}
		}
		return BridgeCredentialView{}, nil, nil, fmt.Errorf("app password %q of %s: %w", name, u.UPN, store.ErrNotFound)
	})
}

// alreadyRevoked refuses to revoke an app password again. Nothing by that name is in force,
// so it is store.ErrNotFound to the interfaces (the API's 404), with the sentence that says why.
type alreadyRevoked struct{ name, upn string }

func (e alreadyRevoked) Error() string {
	return fmt.Sprintf("app password %q of %s: already revoked", e.name, e.upn)
}
func (alreadyRevoked) Unwrap() error { return store.ErrNotFound }

// ListBridgeCredentials lists the app passwords of user (every user's when ""), revoked and
// expired ones included.
func (s *Service) ListBridgeCredentials(ctx context.Context, user string) ([]BridgeCredentialView, error) {
	id := ""
	if user != "" {
		u, err := s.Store.GetUserByUPN(ctx, user)
		if err != nil {
			return nil, fmt.Errorf("user %s: %w", user, err)
		}
		id = u.ID
	}
	rows, err := s.Store.ListBridgeCredentials(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("bridge credentials: %w", err)
	}
	upns := map[string]string{}
	out := make([]BridgeCredentialView, 0, len(rows))
	for _, r := range rows {
		upn, ok := upns[r.UserID]
		if !ok {
			upn = r.UserID
			if u, err := s.Store.GetUser(ctx, r.UserID); err == nil {
				upn = u.UPN
			}
			upns[r.UserID] = upn
		}
		out = append(out, viewOfBridgeCredential(r, upn))
	}
	return out, nil
}
