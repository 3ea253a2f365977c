package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
		PostLogoutRedirectURIs: nc.PostLogoutRedirectURIs, BackchannelLogoutURI: nc.BackchannelLogoutURI}
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
