package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sekisho/sekisho/internal/config"
	"github.com/sekisho/sekisho/internal/protocol/oidc"
	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/store"
)

// NewOIDCClient is what AddOIDCClient is asked for; zero values take the defaults
// (confidential, the authorization code grant, the user scopes, the default lifetimes).
// Grants are authorization_code, refresh_token (with the code grant: offline_access is then
// allowed) and client_credentials (confidential clients; without the code grant the client
// has no redirect URI).
type NewOIDCClient struct {
	Public               bool // a browser or native app: no secret, PKCE required
	RedirectURIs         []string
	Scopes               []string
	Grants               []string
	AccessTokenLifetime  time.Duration
	IDTokenLifetime      time.Duration
	RefreshTokenLifetime time.Duration // with the refresh_token grant only (default 30 days)
	SubjectType          string        // public (default) or pairwise
	// PostLogoutRedirectURIs: where RP-initiated logout may return the browser (exact match).
	PostLogoutRedirectURIs []string
	// BackchannelLogoutURI receives logout tokens (confidential clients).
	BackchannelLogoutURI string
	SigningAlg           string // the tokens' algorithm: RS256 (default) or ES256
}

// AddedOIDCClient is a registered client: its stored settings and, for a confidential
// client, the secret, shown once and never again (only its keyed hash is stored).
type AddedOIDCClient struct {
	Name   string
	Client oidc.ClientConfig
	Secret string
}

// AddOIDCClient registers an OpenID Connect client as the application name ("app.add"):
// Sekisho makes the client_id and, unless the client is public, a 256-bit secret. The
// settings are validated exactly as the provider reads them.
func (s *Service) AddOIDCClient(ctx context.Context, a Actor, name string, nc NewOIDCClient) (AddedOIDCClient, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return AddedOIDCClient{}, errors.New("an application needs a name")
	case strings.EqualFold(name, signin.AppAdmin) || strings.EqualFold(name, signin.AppAccount):
		return AddedOIDCClient{}, fmt.Errorf("%s is one of Sekisho's own applications; choose another name", name)
	case !nc.Public && s.ClientSecrets == nil:
		return AddedOIDCClient{}, fmt.Errorf("oidc client secrets: %w", errNotConfigured)
	}
	id, err := oidc.NewClientID()
	if err != nil {
		return AddedOIDCClient{}, err
	}
	out := AddedOIDCClient{Name: name}
	c := oidc.ClientConfig{ClientID: id, Type: oidc.Confidential, RedirectURIs: nc.RedirectURIs, Scopes: nc.Scopes,
		Grants: nc.Grants, AccessTokenLifetime: config.Duration(nc.AccessTokenLifetime), IDTokenLifetime: config.Duration(nc.IDTokenLifetime),
		RefreshTokenLifetime: config.Duration(nc.RefreshTokenLifetime), SubjectType: nc.SubjectType,
		PostLogoutRedirectURIs: nc.PostLogoutRedirectURIs, BackchannelLogoutURI: nc.BackchannelLogoutURI, SigningAlg: nc.SigningAlg}
	if nc.Public {
		c.Type = oidc.Public
	} else if out.Secret, c.SecretHash, err = s.ClientSecrets.New(id); err != nil {
		return AddedOIDCClient{}, err
	}
	if c, err = c.Complete(); err != nil {
		return AddedOIDCClient{}, err
	}
	raw, err := json.Marshal(c)
	if err != nil {
		return AddedOIDCClient{}, err
	}
	out.Client = c
	return changeTo(ctx, s, a, "app.add", name, func(t tx) (AddedOIDCClient, any, any, error) {
		now := t.s.Now().UTC()
		app := store.Application{Name: name, Protocol: oidc.Protocol, EntityID: id, Config: raw, CreatedAt: now, UpdatedAt: now}
		err := t.CreateApplication(ctx, app)
		if errors.Is(err, store.ErrConflict) {
			return out, nil, nil, fmt.Errorf("an application named %s exists already", name)
		}
		if err != nil {
			return out, nil, nil, err
		}
		return out, nil, appView(app), nil
	})
}

// oidcClientOf reads application name as an OpenID Connect client inside t.
func (t tx) oidcClientOf(ctx context.Context, name string) (store.Application, oidc.ClientConfig, error) {
	app, err := t.GetApplication(ctx, name)
	if err != nil {
		return app, oidc.ClientConfig{}, fmt.Errorf("application %s: %w", name, err)
	}
	if app.Protocol != oidc.Protocol {
		return app, oidc.ClientConfig{}, fmt.Errorf("application %s is not an OpenID Connect client (it is %s)", name, app.Protocol)
	}
	c, err := oidc.ParseClientConfig(app.Config)
	if err != nil {
		return app, c, fmt.Errorf("application %s: stored settings: %w", name, err)
	}
	return app, c, nil
}

// storeOIDCClient completes and validates c exactly as the provider reads it, and stores it as
// application app's settings; it returns the stored settings and the row.
func (t tx) storeOIDCClient(ctx context.Context, app store.Application, c oidc.ClientConfig) (oidc.ClientConfig, store.Application, error) {
	c, err := c.Complete()
	if err != nil {
		return c, app, err
	}
	raw, err := json.Marshal(c)
	if err != nil {
		return c, app, err
	}
	updated, err := t.UpdateApplication(ctx, app.Name, func(x store.Application) (store.Application, error) {
		x.Config, x.UpdatedAt = raw, t.s.Now().UTC()
		return x, nil
	})
	if err != nil {
		return c, app, fmt.Errorf("application %s: %w", app.Name, err)
	}
	return c, updated, nil
}

// UpdateOIDCClient changes the settings of the OpenID Connect client name ("app.update", the
// settings before and after without the secret's hash): edit receives the stored settings and
// changes them; the result is validated by ClientConfig.Complete exactly as on registration and
// stored in the same transaction as the entry. The client_id, the type (public or confidential)
// and the secret cannot change here (register the client anew; RotateOIDCSecret). The provider
// reads the row at every request, so the change is in force on every node within the change
// poll.
//
// What Complete derives from the refresh_token grant follows it when an edit takes the grant
// away and leaves them as they were: the offline_access scope and the refresh token lifetime.
func (s *Service) UpdateOIDCClient(ctx context.Context, a Actor, name string, edit func(*oidc.ClientConfig) error) (oidc.ClientConfig, error) {
	return changeTo(ctx, s, a, "app.update", name, func(t tx) (oidc.ClientConfig, any, any, error) {
		app, c, err := t.oidcClientOf(ctx, name)
		if err != nil {
			return c, nil, nil, err
		}
		was := c
		was.RedirectURIs, was.Grants, was.Scopes = slices.Clone(c.RedirectURIs), slices.Clone(c.Grants), slices.Clone(c.Scopes)
		was.PostLogoutRedirectURIs = slices.Clone(c.PostLogoutRedirectURIs)
		if err := edit(&c); err != nil {
			return c, nil, nil, err
		}
		switch {
		case c.ClientID != was.ClientID:
			return c, nil, nil, fmt.Errorf("application %s: the client_id cannot change (register the client anew)", name)
		case c.Type != was.Type:
			return c, nil, nil, fmt.Errorf("application %s: a client cannot change between public and confidential (register it anew)", name)
		case !bytes.Equal(c.SecretHash, was.SecretHash) || !bytes.Equal(c.PreviousSecretHash, was.PreviousSecretHash) ||
			!c.PreviousSecretExpires.Equal(was.PreviousSecretExpires):
			return c, nil, nil, fmt.Errorf("application %s: the secret changes only by rotation (sekisho app rotate-secret)", name)
		}
		if was.Allows(oidc.GrantRefreshToken) && !slices.Contains(c.Grants, oidc.GrantRefreshToken) {
			if slices.Equal(c.Scopes, was.Scopes) {
				c.Scopes = slices.DeleteFunc(slices.Clone(c.Scopes), func(s string) bool { return s == oidc.ScopeOfflineAccess })
			}
			if c.RefreshTokenLifetime == was.RefreshTokenLifetime {
				c.RefreshTokenLifetime = 0
			}
		}
		c, updated, err := t.storeOIDCClient(ctx, app, c)
		if err != nil {
			return c, nil, nil, err
		}
		return c, appView(app), appView(updated), nil
	})
}

// RotatedSecret is a confidential client's new secret, shown once and never again.
type RotatedSecret struct {
	Name   string
	Client oidc.ClientConfig
	Secret string
	// PreviousExpires is when the replaced secret stops working; zero: it stopped at once.
	PreviousExpires time.Time
}

// RotateOIDCSecret gives the confidential client name a new 256-bit secret
// ("app.rotate-secret"; the entry holds neither secret nor hash). With keepOld > 0 the secret
// it replaces keeps working that long (at most oidc.MaxPreviousSecretLifetime), so the
// application can be given the new one without downtime; otherwise it stops at once. Only one
// previous secret is kept: an earlier one still in its grace period stops now.
func (s *Service) RotateOIDCSecret(ctx context.Context, a Actor, name string, keepOld time.Duration) (RotatedSecret, error) {
	switch {
	case s.ClientSecrets == nil:
		return RotatedSecret{}, fmt.Errorf("oidc client secrets: %w", errNotConfigured)
	case keepOld < 0 || keepOld > oidc.MaxPreviousSecretLifetime:
		return RotatedSecret{}, fmt.Errorf("keep the old secret from 0 (it stops at once) to %s, not %s", oidc.MaxPreviousSecretLifetime, keepOld)
	}
	return changeTo(ctx, s, a, "app.rotate-secret", name, func(t tx) (RotatedSecret, any, any, error) {
		out := RotatedSecret{Name: name}
		app, c, err := t.oidcClientOf(ctx, name)
		if err != nil {
			return out, nil, nil, err
		}
		if c.IsPublic() {
			return out, nil, nil, fmt.Errorf("application %s is a public client: it has no secret to rotate", name)
		}
		c.PreviousSecretHash, c.PreviousSecretExpires = nil, time.Time{}
		if keepOld > 0 {
			out.PreviousExpires = t.s.Now().UTC().Add(keepOld).Truncate(time.Second)
			c.PreviousSecretHash, c.PreviousSecretExpires = c.SecretHash, out.PreviousExpires
		}
		if out.Secret, c.SecretHash, err = s.ClientSecrets.New(c.ClientID); err != nil {
			return out, nil, nil, err
		}
		var updated store.Application
		if out.Client, updated, err = t.storeOIDCClient(ctx, app, c); err != nil {
			return out, nil, nil, err
		}
		return out, appView(app), appView(updated), nil
	})
}
