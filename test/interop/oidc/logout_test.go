package oidc

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/sekisho/sekisho/internal/admin"
)

// TestLogoutEndToEnd: a client registered with a post-logout URI and a back-channel logout
// URI, and a pairwise subject. Alice signs in through the code flow; the client sends her
// browser to the end-session endpoint with the ID token as hint; the session ends (the next
// authorization asks for the password again), the browser goes to the registered URI with the
// state, and the client's back channel receives a logout token that go-oidc verifies, naming
// the ID token's sid and (pairwise) sub. An unregistered post-logout URI is refused without
// a redirect.
func TestLogoutEndToEnd(t *testing.T) {
	e := start(t)
	tokens := make(chan string, 2)
	bc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		q, _ := url.ParseQuery(string(b))
		tokens <- q.Get("logout_token")
	}))
	defer bc.Close()
	const bye = "https://intranet.example.com/bye"
	c, err := e.idp.Services.Instance.Admin.AddOIDCClient(context.Background(), admin.Actor{Name: "os:test", Via: "cli"}, "signing-out",
		admin.NewOIDCClient{RedirectURIs: []string{rpCallback}, PostLogoutRedirectURIs: []string{bye}, BackchannelLogoutURI: bc.URL + "/bc",
			SubjectType: "pairwise"})
	if err != nil {
		t.Fatal(err)
	}
	ep := e.provider.Endpoint()
	ep.AuthStyle = oauth2.AuthStyleInHeader
	cfg := &oauth2.Config{ClientID: c.Client.ClientID, ClientSecret: c.Secret, Endpoint: ep, RedirectURL: rpCallback, Scopes: []string{gooidc.ScopeOpenID}}
	alice := e.browser(t)
	v := oauth2.GenerateVerifier()
	resp, body := alice.authorize(cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(v)), "alice@example.com", e.idp.Password("alice@example.com"))
	tok, err := cfg.Exchange(e.ctx, codeFrom(t, resp, body, rpCallback, "st"), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	verifier := e.provider.Verifier(&gooidc.Config{ClientID: c.Client.ClientID})
	idt, err := verifier.Verify(e.ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	var idc struct {
		SID string `json:"sid"`
	}
	_ = idt.Claims(&idc)
	if idt.Subject == e.user(t, "alice@example.com").ID || idc.SID == "" {
		t.Fatalf("pairwise sub %q (the user's ID is %q), sid %q", idt.Subject, e.user(t, "alice@example.com").ID, idc.SID)
	}

	logout := func(post string) (*http.Response, string) {
		return alice.do(http.MethodGet, e.idp.URL+"/oidc/logout?"+url.Values{"id_token_hint": {raw}, "post_logout_redirect_uri": {post}, "state": {"bye-1"}}.Encode(), nil)
	}
	if resp, _ := logout("https://evil.example/"); resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
		t.Fatalf("unregistered post-logout URI: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = logout(bye)
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != bye+"?state=bye-1" {
		t.Fatalf("logout: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	lt, err := verifier.Verify(e.ctx, <-tokens)
	if err != nil {
		t.Fatalf("logout token: %v", err)
	}
	var ltc struct {
		SID    string         `json:"sid"`
		Events map[string]any `json:"events"`
		Nonce  *string        `json:"nonce"`
	}
	if err := lt.Claims(&ltc); err != nil || lt.Subject != idt.Subject || ltc.SID != idc.SID || ltc.Nonce != nil ||
		ltc.Events["http://schemas.openid.net/event/backchannel-logout"] == nil {
		t.Fatalf("logout token sub %q claims %+v: %v", lt.Subject, ltc, err)
	}
	// The session is gone: the next authorization goes to the sign-in page.
	next, _ := alice.do(http.MethodGet, cfg.AuthCodeURL("st-2", oauth2.S256ChallengeOption(v)), nil)
	if next.StatusCode != http.StatusSeeOther || !strings.HasPrefix(next.Header.Get("Location"), "/login?") {
		t.Fatalf("after logout: %d %s", next.StatusCode, next.Header.Get("Location"))
	}
}

// TestPromptNoneAndStepUp: with a session, prompt=none gives a code without any page; a browser
// without one hears login_required at the redirect URI (recorded); acr_values asking for the
// multi-factor class sends a password-only session to the second-factor step, and under
// prompt=none is interaction_required.
func TestPromptNoneAndStepUp(t *testing.T) {
	e := start(t)
	cfg := e.confidential()
	v := oauth2.GenerateVerifier()
	none := oauth2.SetAuthURLParam("prompt", "none")
	stranger := e.browser(t)
	resp, body := stranger.do(http.MethodGet, cfg.AuthCodeURL("st-0", oauth2.S256ChallengeOption(v), none), nil)
	loc := mustParse(t, resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc.String(), rpCallback) || loc.Query().Get("error") != "login_required" || loc.Query().Get("state") != "st-0" {
		t.Fatalf("no session: %d %s\n%.300s", resp.StatusCode, loc, body)
	}
	if rec := e.last(t); !strings.Contains(rec.Reason, "login_required") || rec.Application != "intranet" {
		t.Fatalf("record %+v", rec)
	}
	alice := e.browser(t)
	resp, body = alice.authorize(cfg.AuthCodeURL("st-1", oauth2.S256ChallengeOption(v)), "alice@example.com", e.idp.Password("alice@example.com"))
	codeFrom(t, resp, body, rpCallback, "st-1")
	resp, body = alice.do(http.MethodGet, cfg.AuthCodeURL("st-2", oauth2.S256ChallengeOption(v), none), nil)
	codeFrom(t, resp, body, rpCallback, "st-2")

	mfa := oauth2.SetAuthURLParam("acr_values", "https://refeds.org/profile/mfa")
	resp, _ = alice.do(http.MethodGet, cfg.AuthCodeURL("st-3", oauth2.S256ChallengeOption(v), none, mfa), nil)
	if loc := mustParse(t, resp.Header.Get("Location")); loc.Query().Get("error") != "interaction_required" {
		t.Fatalf("prompt=none with a step-up: %d %s", resp.StatusCode, loc)
	}
	resp, _ = alice.do(http.MethodGet, cfg.AuthCodeURL("st-4", oauth2.S256ChallengeOption(v), mfa), nil)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login/mfa?") {
		t.Fatalf("step-up: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}
