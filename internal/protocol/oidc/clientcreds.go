package oidc

import (
	"context"
	"errors"
	"fmt"
	"slices"

	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/store"
)

// The client_credentials grant: a confidential client registered for it obtains an access
// token in its own name, with no user. There is no session to judge, so the gate judges the
// client itself (signin.Attempt.Client): its application, the protocol and client type oidc,
// the caller's address, device certificate and the time under the policy in force — a rule
// naming users or groups never matches it, and require_mfa or require_device refuses it. The
// gate's record names the client_id and no user, and the token's jti names the record. The
// token's subject is the client_id (RFC 9068 section 2.2), so userinfo refuses it; it carries
// the scopes asked for that the client is allowed, except openid and offline_access (there is
// no user to identify and nothing to refresh).

// clientRequest implements op.TokenRequest for a client acting in its own name.
type clientRequest struct {
	client  ClientConfig
	scopes  []string
	tokenID string // the gate's record of this grant
}

var _ op.TokenRequest = clientRequest{}

func (r clientRequest) GetSubject() string    { return r.client.ClientID }
func (r clientRequest) GetAudience() []string { return []string{r.client.ClientID} }
func (r clientRequest) GetScopes() []string   { return r.scopes }

// ClientCredentials authenticates a client for the client_credentials grant (the library
// then checks that it is registered for the grant).
func (s storage) ClientCredentials(ctx context.Context, clientID, secret string) (op.Client, error) {
	at := attemptOf(ctx)
	c, app, err := LookupClient(ctx, s.h.cfg.Apps, clientID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			at.detail = fmt.Sprintf("unknown client_id %q", limit(clientID, 100))
			return nil, err
		}
		at.detail, at.fault = err.Error(), err
		return nil, oidcServerError(err)
	}
	at.app, at.client = app, &c
	switch {
	case c.IsPublic():
		at.detail = "a public client cannot use client_credentials (it has no secret)"
		return nil, errors.New(at.detail)
	case !c.SecretMatches(s.h.cfg.Secrets, secret, s.h.cfg.Clock()):
		at.detail = "wrong client secret"
		return nil, errors.New(at.detail)
	case !c.Allows(GrantClientCredentials):
		at.detail = "the client is not registered for the client_credentials grant"
	}
	return client{c}, nil
}

// ClientCredentialsTokenRequest asks the gate about the client and grants the scopes.
func (s storage) ClientCredentialsTokenRequest(ctx context.Context, clientID string, scopes []string) (op.TokenRequest, error) {
	at := attemptOf(ctx)
	if at.client == nil || at.client.ClientID != clientID {
		return nil, zoidc.ErrInvalidClient()
	}
	c := *at.client
	var granted []string
	for _, sc := range scopes {
		if sc != ScopeOpenID && sc != ScopeOfflineAccess && c.IsAllowedScope(sc) && !slices.Contains(granted, sc) {
			granted = append(granted, sc)
		}
	}
	out, err := s.h.cfg.Gate.Check(ctx, signin.Attempt{Protocol: Protocol, Application: at.app, Endpoint: signin.Passive, HTTP: at.r,
		Client: c.ClientID})
	if err != nil {
		at.fault = fmt.Errorf("gate: %w", err)
		at.recorded = out.EventID != ""
		return nil, oidcServerError(err)
	}
	if !out.Allowed {
		at.recorded = true
		desc := "the access policy refuses this client here (reference " + out.EventID + ")"
		if out.Message != "" {
			desc += ": " + out.Message
		}
		return nil, zoidc.ErrUnauthorizedClient().WithDescription("%s", desc)
	}
	id := signin.AssertionID(out.EventID)
	if id == "" {
		id = "_" + oneTimeID()
	}
	return clientRequest{client: c, scopes: granted, tokenID: id}, nil
}
