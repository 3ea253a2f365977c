package oidc

import (
	"context"
	"net/http"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/sekisho/sekisho/internal/admin"
	"github.com/sekisho/sekisho/internal/keys"
	"github.com/sekisho/sekisho/internal/setup"
	"github.com/sekisho/sekisho/internal/testutil/idptest"
)

// TestES256WithGoOIDC: clients set to ES256 (signingAlg) get ID and access tokens signed by
// the P-256 token key; go-oidc, taking the algorithms from discovery, verifies the ID token
// (and its at_hash) and the client_credentials access token against the JWKS; a relying party
// that accepts only RS256 refuses them; userinfo and introspection accept the ES256 access
// tokens; an RS256 client on the same server is unchanged.
func TestES256WithGoOIDC(t *testing.T) {
	e := &env{}
	var es, esBatch admin.AddedOIDCClient
	actor := admin.Actor{Name: "os:test", Via: "cli"}
	e.idp = idptest.Start(t, idptest.Options{Prepare: func(ctx context.Context, in *setup.Instance) error {
		var err error
		if es, err = in.Admin.AddOIDCClient(ctx, actor, "es-intranet", admin.NewOIDCClient{RedirectURIs: []string{rpCallback},
			SigningAlg: "ES256"}); err != nil {
			return err
		}
		if esBatch, err = in.Admin.AddOIDCClient(ctx, actor, "es-batch", admin.NewOIDCClient{Grants: []string{"client_credentials"},
			SigningAlg: "ES256"}); err != nil {
			return err
		}
		e.conf, err = in.Admin.AddOIDCClient(ctx, actor, "intranet", admin.NewOIDCClient{RedirectURIs: []string{rpCallback}})
		return err
	}})
	e.ctx = gooidc.ClientContext(context.Background(), &http.Client{Transport: e.idp.Client().Transport})
	var err error
	if e.provider, err = gooidc.NewProvider(e.ctx, e.idp.URL); err != nil {
		t.Fatalf("discovery: %v", err)
	}
	var d struct {
		Algs []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := e.provider.Claims(&d); err != nil || len(d.Algs) != 2 || d.Algs[0] != "RS256" || d.Algs[1] != "ES256" {
		t.Fatalf("discovery algorithms %v %v", d.Algs, err)
	}
	cur, err := e.idp.Services.Instance.Keys.Current(context.Background(), keys.PurposeTokenES256)
	if err != nil {
		t.Fatal(err)
	}
	rsaCur, err := e.idp.Services.Instance.Keys.Current(context.Background(), keys.PurposeToken)
	if err != nil {
		t.Fatal(err)
	}
	header := func(jwt string) (h struct{ Kid, Alg string }) {
		jwtPart(t, jwt, 0, &h)
		return h
	}

	code := func(c admin.AddedOIDCClient, state string) (*oauth2.Config, *oauth2.Token) {
		ep := e.provider.Endpoint()
		ep.AuthStyle = oauth2.AuthStyleInHeader
		cfg := &oauth2.Config{ClientID: c.Client.ClientID, ClientSecret: c.Secret, Endpoint: ep, RedirectURL: rpCallback,
			Scopes: []string{gooidc.ScopeOpenID, "email"}}
		v := oauth2.GenerateVerifier()
		b := e.browser(t)
		resp, body := b.authorize(cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(v)), "alice@example.com", e.idp.Password("alice@example.com"))
		tok, err := cfg.Exchange(e.ctx, codeFrom(t, resp, body, rpCallback, state), oauth2.VerifierOption(v))
		if err != nil {
			t.Fatalf("%s: exchange: %v", c.Name, err)
		}
		return cfg, tok
	}

	t.Run("code flow: the ID token verified by go-oidc, at_hash, userinfo", func(t *testing.T) {
		cfg, tok := code(es, "es-1")
		raw, _ := tok.Extra("id_token").(string)
		if h := header(raw); h.Alg != "ES256" || h.Kid != cur.ID {
			t.Fatalf("ID token header %+v, want ES256 by %s", h, cur.ID)
		}
		if h := header(tok.AccessToken); h.Alg != "ES256" || h.Kid != cur.ID {
			t.Fatalf("access token header %+v", h)
		}
		idt, err := e.provider.Verifier(&gooidc.Config{ClientID: cfg.ClientID}).Verify(e.ctx, raw)
		if err != nil {
			t.Fatalf("go-oidc verify: %v", err)
		}
		if idt.Subject != e.user(t, "alice@example.com").ID {
			t.Errorf("sub %q", idt.Subject)
		}
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			t.Errorf("at_hash: %v", err)
		}
		es256Only := e.provider.Verifier(&gooidc.Config{ClientID: cfg.ClientID, SupportedSigningAlgs: []string{"ES256"}})
		if _, err := es256Only.Verify(e.ctx, raw); err != nil {
			t.Errorf("an ES256-only relying party: %v", err)
		}
		rs256Only := e.provider.Verifier(&gooidc.Config{ClientID: cfg.ClientID, SupportedSigningAlgs: []string{"RS256"}})
		if _, err := rs256Only.Verify(e.ctx, raw); err == nil {
			t.Error("a relying party accepting only RS256 verified an ES256 token")
		}
		ui, err := e.provider.UserInfo(e.ctx, oauth2.StaticTokenSource(tok))
		if err != nil || ui.Email != "alice@example.com" {
			t.Fatalf("userinfo with an ES256 access token: %v %+v", err, ui)
		}
	})
	t.Run("client_credentials: the ES256 access token verifies and introspects", func(t *testing.T) {
		cc := clientcredentials.Config{ClientID: esBatch.Client.ClientID, ClientSecret: esBatch.Secret, TokenURL: e.provider.Endpoint().TokenURL,
			AuthStyle: oauth2.AuthStyleInHeader}
		tok, err := cc.Token(e.ctx)
		if err != nil {
			t.Fatalf("client_credentials: %v", err)
		}
		if h := header(tok.AccessToken); h.Alg != "ES256" || h.Kid != cur.ID {
			t.Fatalf("access token header %+v", h)
		}
		at, err := e.provider.Verifier(&gooidc.Config{ClientID: esBatch.Client.ClientID}).Verify(e.ctx, tok.AccessToken)
		if err != nil || at.Subject != esBatch.Client.ClientID {
			t.Fatalf("go-oidc verify of the access token: %v", err)
		}
		if m := e.introspect(t, e.conf.Client.ClientID, e.conf.Secret, tok.AccessToken); m["active"] != true || m["sub"] != esBatch.Client.ClientID {
			t.Errorf("introspection: %v", m)
		}
	})
	t.Run("an RS256 client on the same server is unchanged", func(t *testing.T) {
		cfg, tok := code(e.conf, "rs-1")
		raw, _ := tok.Extra("id_token").(string)
		if h := header(raw); h.Alg != "RS256" || h.Kid != rsaCur.ID {
			t.Fatalf("ID token header %+v, want RS256 by %s", h, rsaCur.ID)
		}
		rs256Only := e.provider.Verifier(&gooidc.Config{ClientID: cfg.ClientID, SupportedSigningAlgs: []string{"RS256"}})
		if _, err := rs256Only.Verify(e.ctx, raw); err != nil {
			t.Fatalf("go-oidc verify (RS256 only): %v", err)
		}
	})
}
