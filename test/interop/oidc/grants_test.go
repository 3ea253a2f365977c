package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/sekisho/sekisho/internal/admin"
	"github.com/sekisho/sekisho/internal/store"
)

// The second increment's grants and endpoints against golang.org/x/oauth2 (refresh through
// its TokenSource, client_credentials through its clientcredentials package) and coreos/go-oidc
// (every ID token and the client_credentials access token verified from discovery and JWKS);
// introspection (RFC 7662) and revocation (RFC 7009) as the RFCs' plain form posts, since
// neither library speaks them.

var actor = admin.Actor{Name: "os:test", Via: "cli"}

func (e *env) portalConfig() *oauth2.Config {
	ep := e.provider.Endpoint()
	ep.AuthStyle = oauth2.AuthStyleInHeader
	return &oauth2.Config{ClientID: e.portal.Client.ClientID, ClientSecret: e.portal.Secret, Endpoint: ep, RedirectURL: portalCallback,
		Scopes: []string{gooidc.ScopeOpenID, "email", "profile", gooidc.ScopeOfflineAccess}}
}

// signInPortal runs the code flow for user at the portal and returns its tokens.
func (e *env) signInPortal(t *testing.T, user string) *oauth2.Token {
	t.Helper()
	cfg := e.portalConfig()
	v := oauth2.GenerateVerifier()
	resp, body := e.browser(t).authorize(cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(v)), user, e.idp.Password(user))
	tok, err := cfg.Exchange(e.ctx, codeFrom(t, resp, body, portalCallback, "st"), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if tok.RefreshToken == "" {
		t.Fatalf("no refresh token for offline_access: %+v", tok)
	}
	return tok
}

// refresh renews with refreshToken through x/oauth2's TokenSource (a token with no access
// token is renewed at once).
func (e *env) refresh(refreshToken string) (*oauth2.Token, error) {
	return e.portalConfig().TokenSource(e.ctx, &oauth2.Token{RefreshToken: refreshToken}).Token()
}

func (e *env) verifyID(t *testing.T, clientID string, tok *oauth2.Token) *gooidc.IDToken {
	t.Helper()
	raw, _ := tok.Extra("id_token").(string)
	idt, err := e.provider.Verifier(&gooidc.Config{ClientID: clientID}).Verify(e.ctx, raw)
	if err != nil {
		t.Fatalf("go-oidc verify: %v", err)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Fatalf("at_hash: %v", err)
	}
	return idt
}

// post sends an RFC 7662 or 7009 request with HTTP Basic client authentication.
func (e *env) post(t *testing.T, path, clientID, secret string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.idp.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if secret != "" {
		req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	}
	resp, err := e.idp.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func (e *env) introspect(t *testing.T, clientID, secret, token string) map[string]any {
	t.Helper()
	status, m := e.post(t, "/oidc/introspect", clientID, secret, url.Values{"token": {token}})
	if status != http.StatusOK {
		t.Fatalf("introspection: %d %v", status, m)
	}
	return m
}

func (e *env) userinfoStatus(t *testing.T, tok *oauth2.Token) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.idp.URL+"/oidc/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := e.idp.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func accessJTI(t *testing.T, tok *oauth2.Token) string {
	t.Helper()
	var c map[string]any
	jwtPart(t, tok.AccessToken, 1, &c)
	jti, _ := c["jti"].(string)
	return jti
}

// TestRefreshTokens: a refresh token from the code flow renews through x/oauth2 and rotates,
// each refresh judged by the gate and recorded; the rotated token presented again is refused,
// ends the whole grant (the new token stops working too, and so do its access tokens) and is
// recorded; a user the gate refuses is not renewed (and the token survives); deleting a user
// or removing the client ends their grants.
func TestRefreshTokens(t *testing.T) {
	e := start(t)
	id := e.portal.Client.ClientID
	first := e.signInPortal(t, "alice@example.com")
	idt := e.verifyID(t, id, first)
	if s, _ := first.Extra("scope").(string); s != "openid email profile offline_access" {
		t.Errorf("granted scope %q", s)
	}

	second, err := e.refresh(first.RefreshToken)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	rec := e.last(t)
	if rec.Decision != "allow" || rec.Application != "portal" || rec.Protocol != "oidc" || rec.Username != "alice@example.com" {
		t.Fatalf("the refresh's record: %+v", rec)
	}
	if second.RefreshToken == "" || second.RefreshToken == first.RefreshToken || second.AccessToken == first.AccessToken {
		t.Fatalf("not rotated: %+v", second)
	}
	idt2 := e.verifyID(t, id, second)
	var c1, c2 idClaims
	_ = idt.Claims(&c1)
	_ = idt2.Claims(&c2)
	if idt2.Subject != idt.Subject || c2.AuthTime != c1.AuthTime || c2.ACR != c1.ACR || c2.SID != c1.SID || c2.Email != "alice@example.com" {
		t.Errorf("refreshed ID token %s %+v, first %s %+v", idt2.Subject, c2, idt.Subject, c1)
	}
	if jti := accessJTI(t, second); jti != "_"+rec.ID {
		t.Errorf("access token jti %q, want _%s (the refresh's record)", jti, rec.ID)
	}
	if ui, err := e.provider.UserInfo(e.ctx, oauth2.StaticTokenSource(second)); err != nil || ui.Email != "alice@example.com" {
		t.Fatalf("userinfo with the refreshed token: %v %+v", err, ui)
	}
	if m := e.introspect(t, id, e.portal.Secret, second.RefreshToken); m["active"] != true || m["client_id"] != id ||
		m["username"] != "alice@example.com" {
		t.Errorf("introspection of the new refresh token: %v", m)
	}
	if m := e.introspect(t, id, e.portal.Secret, first.RefreshToken); m["active"] != false {
		t.Errorf("introspection of the rotated refresh token: %v", m)
	}

	t.Run("a rotated token presented again ends the grant, recorded", func(t *testing.T) {
		_, err := e.refresh(first.RefreshToken)
		wantGrantError(t, err, "invalid_grant")
		ev := e.refusedRecord(t, "portal", "alice@example.com", "refresh token reused")
		if !strings.Contains(ev.Reason, "every token of its grant is revoked") {
			t.Errorf("record %q", ev.Reason)
		}
		_, err = e.refresh(second.RefreshToken)
		wantGrantError(t, err, "invalid_grant")
		e.refusedRecord(t, "portal", "alice@example.com", "refresh token revoked")
		if m := e.introspect(t, id, e.portal.Secret, second.AccessToken); m["active"] != false || len(m) != 1 {
			t.Errorf("an access token of the revoked grant: %v", m)
		}
		if s := e.userinfoStatus(t, second); s != http.StatusUnauthorized {
			t.Errorf("userinfo with an access token of the revoked grant: %d", s)
		}
	})

	t.Run("the gate refuses a disabled user: recorded, not renewed", func(t *testing.T) {
		tok := e.signInPortal(t, "alice@example.com")
		in := e.idp.Services.Instance
		if err := in.Admin.SetStatus(context.Background(), actor, "alice@example.com", store.UserDisabled); err != nil {
			t.Fatal(err)
		}
		_, err := e.refresh(tok.RefreshToken)
		wantGrantError(t, err, "invalid_grant")
		if ev := e.last(t); ev.Decision != "deny" || ev.Reason != "disabled" || ev.Username != "alice@example.com" || ev.Application != "portal" {
			t.Fatalf("record %+v", ev)
		}
		if err := in.Admin.SetStatus(context.Background(), actor, "alice@example.com", store.UserActive); err != nil {
			t.Fatal(err)
		}
		if _, err := e.refresh(tok.RefreshToken); err != nil {
			t.Fatalf("the refused token was spent: %v", err)
		}
	})

	t.Run("deleting the user ends their grants", func(t *testing.T) {
		tok := e.signInPortal(t, "bob@example.com")
		if err := e.idp.Services.Instance.Admin.DeleteUser(context.Background(), actor, "bob@example.com"); err != nil {
			t.Fatal(err)
		}
		_, err := e.refresh(tok.RefreshToken)
		wantGrantError(t, err, "invalid_grant")
		e.refusedRecord(t, "portal", "", "unknown refresh token")
	})

	t.Run("revocation (RFC 7009) ends the grant", func(t *testing.T) {
		tok := e.signInPortal(t, "alice@example.com")
		form := url.Values{"token": {tok.RefreshToken}, "token_type_hint": {"refresh_token"}}
		if status, m := e.post(t, "/oidc/revoke", id, e.portal.Secret, form); status != http.StatusOK {
			t.Fatalf("revoke: %d %v", status, m)
		}
		_, err := e.refresh(tok.RefreshToken)
		wantGrantError(t, err, "invalid_grant")
		if m := e.introspect(t, id, e.portal.Secret, tok.AccessToken); m["active"] != false {
			t.Errorf("an access token of the revoked grant: %v", m)
		}
		// Another client may not revoke the portal's tokens; an unknown token is fine.
		other := e.signInPortal(t, "alice@example.com")
		status, m := e.post(t, "/oidc/revoke", e.conf.Client.ClientID, e.conf.Secret, url.Values{"token": {other.RefreshToken}})
		if status != http.StatusBadRequest || m["error"] != "unauthorized_client" {
			t.Fatalf("another client's revocation: %d %v", status, m)
		}
		e.refusedRecord(t, "intranet", "alice@example.com", "issued to another client")
		if status, _ := e.post(t, "/oidc/revoke", id, e.portal.Secret, url.Values{"token": {"no-such-token"}}); status != http.StatusOK {
			t.Errorf("an unknown token: %d", status)
		}
		if status, m := e.post(t, "/oidc/revoke", id, "wrong", url.Values{"token": {other.RefreshToken}}); status != http.StatusUnauthorized ||
			m["error"] != "invalid_client" {
			t.Errorf("a wrong secret: %d %v", status, m)
		}
		if _, err := e.refresh(other.RefreshToken); err != nil {
			t.Fatalf("a refused revocation revoked: %v", err)
		}
	})

	t.Run("removing the client ends its grants", func(t *testing.T) {
		tok := e.signInPortal(t, "alice@example.com")
		if err := e.idp.Services.Instance.Admin.RemoveApplication(context.Background(), actor, "portal"); err != nil {
			t.Fatal(err)
		}
		_, err := e.refresh(tok.RefreshToken)
		wantGrantError(t, err, "invalid_client")
		if n, err := e.idp.Services.Instance.Store.PruneOIDCTokens(context.Background(), tok.Expiry.AddDate(1, 0, 0)); err != nil || n != 0 {
			t.Errorf("refresh tokens of the removed client left in the store: %d %v", n, err)
		}
	})
}

// TestClientCredentials: a confidential client registered for client_credentials obtains an
// access token through x/oauth2's clientcredentials package, judged by the gate as the client
// (its application, address and the policy) and recorded; the token verifies with go-oidc
// and introspects as active; the policy refusing the client is refused and recorded.
func TestClientCredentials(t *testing.T) {
	e := start(t)
	cc := clientcredentials.Config{ClientID: e.batch.Client.ClientID, ClientSecret: e.batch.Secret, TokenURL: e.provider.Endpoint().TokenURL,
		Scopes: []string{"email"}, AuthStyle: oauth2.AuthStyleInHeader}
	tok, err := cc.Token(e.ctx)
	if err != nil {
		t.Fatalf("client_credentials: %v", err)
	}
	rec := e.last(t)
	if rec.Decision != "allow" || rec.Application != "batch" || rec.Protocol != "oidc" || rec.ClientType != "oidc" ||
		rec.Username != e.batch.Client.ClientID || rec.UserID != "" || rec.Rule != "office" {
		t.Fatalf("the grant's record: %+v", rec)
	}
	if tok.RefreshToken != "" || tok.Extra("id_token") != nil || tok.TokenType != "Bearer" {
		t.Errorf("token %+v", tok)
	}
	// The access token is a JWT signed by the published keys, about the client itself.
	at, err := e.provider.Verifier(&gooidc.Config{ClientID: e.batch.Client.ClientID}).Verify(e.ctx, tok.AccessToken)
	if err != nil {
		t.Fatalf("go-oidc verify of the access token: %v", err)
	}
	var claims map[string]any
	_ = at.Claims(&claims)
	if at.Subject != e.batch.Client.ClientID || claims["jti"] != "_"+rec.ID || claims["scope"] != "email" {
		t.Errorf("access token claims %v", claims)
	}
	if m := e.introspect(t, e.conf.Client.ClientID, e.conf.Secret, tok.AccessToken); m["active"] != true || m["sub"] != e.batch.Client.ClientID ||
		m["client_id"] != e.batch.Client.ClientID || m["token_type"] != "Bearer" || m["jti"] != "_"+rec.ID {
		t.Errorf("introspection: %v", m)
	}
	if s := e.userinfoStatus(t, tok); s != http.StatusForbidden {
		t.Errorf("userinfo with a client's token: %d", s)
	}

	t.Run("the policy refuses the client: recorded", func(t *testing.T) {
		bot := cc
		bot.ClientID, bot.ClientSecret = e.bot.Client.ClientID, e.bot.Secret
		_, err := bot.Token(e.ctx)
		wantGrantError(t, err, "unauthorized_client")
		ev := e.last(t)
		if ev.Decision != "deny" || ev.Rule != "no-reports-bot" || ev.Application != "reports-bot" || ev.Username != e.bot.Client.ClientID {
			t.Fatalf("record %+v", ev)
		}
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || !strings.Contains(re.ErrorDescription, ev.ID) {
			t.Errorf("the refusal does not name the record %s: %v", ev.ID, err)
		}
	})
	t.Run("a wrong secret: recorded", func(t *testing.T) {
		bad := cc
		bad.ClientSecret = strings.Repeat("x", 43)
		_, err := bad.Token(e.ctx)
		wantGrantError(t, err, "invalid_client")
		e.refusedRecord(t, "batch", e.batch.Client.ClientID, "wrong client secret")
	})
	t.Run("a client not registered for the grant: recorded", func(t *testing.T) {
		conf := cc
		conf.ClientID, conf.ClientSecret = e.conf.Client.ClientID, e.conf.Secret
		_, err := conf.Token(e.ctx)
		wantGrantError(t, err, "unauthorized_client")
		e.refusedRecord(t, "intranet", e.conf.Client.ClientID, "not registered for the client_credentials grant")
	})
	t.Run("a revoked access token is inactive (RFC 7009, 7662)", func(t *testing.T) {
		tok, err := cc.Token(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if status, m := e.post(t, "/oidc/revoke", e.batch.Client.ClientID, e.batch.Secret, url.Values{"token": {tok.AccessToken},
			"token_type_hint": {"access_token"}}); status != http.StatusOK {
			t.Fatalf("revoke: %d %v", status, m)
		}
		if m := e.introspect(t, e.batch.Client.ClientID, e.batch.Secret, tok.AccessToken); m["active"] != false || len(m) != 1 {
			t.Errorf("a revoked token: %v", m)
		}
		// Introspection needs a confidential client's credentials.
		if status, m := e.post(t, "/oidc/introspect", e.batch.Client.ClientID, "", url.Values{"token": {tok.AccessToken},
			"client_id": {e.batch.Client.ClientID}}); status != http.StatusUnauthorized || m["error"] != "invalid_client" {
			t.Errorf("introspection without a secret: %d %v", status, m)
		}
	})
}
