package oidc

import (
	"errors"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/sekisho/sekisho/internal/store"
)

var deviceCSRFRe = regexp.MustCompile(`<input type="hidden" name="csrf" value="([^"]*)">`)

// TestDeviceGrantWithOAuth2 runs the device authorization grant (RFC 8628) with
// golang.org/x/oauth2's own implementation (DeviceAuth, then DeviceAccessToken polling at the
// interval Sekisho gives) against a complete Sekisho: a browser signs in at the verification
// URI, sees the code and the application, approves; the gate's record names the tokens; the
// ID token verifies with go-oidc; a second device that the user refuses gets access_denied.
func TestDeviceGrantWithOAuth2(t *testing.T) {
	e := start(t)
	conf := &oauth2.Config{ClientID: e.tv.Client.ClientID, Endpoint: e.provider.Endpoint(),
		Scopes: []string{gooidc.ScopeOpenID, "email", gooidc.ScopeOfflineAccess}}
	conf.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	if conf.Endpoint.DeviceAuthURL != e.idp.URL+"/oidc/device_authorization" {
		t.Fatalf("discovery's device endpoint: %q", conf.Endpoint.DeviceAuthURL)
	}
	da, err := conf.DeviceAuth(e.ctx)
	if err != nil {
		t.Fatalf("device authorization: %v", err)
	}
	if da.VerificationURI != e.idp.URL+"/oidc/device" || len(da.UserCode) != 9 || da.Interval != 5 {
		t.Fatalf("device authorization: %+v", da)
	}
	type result struct {
		tok *oauth2.Token
		err error
	}
	polled := make(chan result, 1)
	go func() {
		tok, err := conf.DeviceAccessToken(e.ctx, da)
		polled <- result{tok, err}
	}()

	alice := e.browser(t)
	resp, body := alice.authorize(da.VerificationURIComplete, "alice@example.com", e.idp.Password("alice@example.com"))
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, da.UserCode) || !strings.Contains(body, "television") {
		t.Fatalf("confirmation page: %d\n%.800s", resp.StatusCode, body)
	}
	approve := func(b *browser, page, action string) (*http.Response, string) {
		m := deviceCSRFRe.FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no CSRF field:\n%.500s", page)
		}
		return b.do(http.MethodPost, e.idp.URL+"/oidc/device", url.Values{"csrf": {html.UnescapeString(m[1])},
			"user_code": {da.UserCode}, "action": {action}})
	}
	if resp, body := approve(alice, body, "approve"); resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="device-done"`) {
		t.Fatalf("approve: %d\n%.500s", resp.StatusCode, body)
	}
	res := <-polled
	if res.err != nil {
		t.Fatalf("DeviceAccessToken: %v", res.err)
	}
	raw, _ := res.tok.Extra("id_token").(string)
	idt, err := e.provider.Verifier(&gooidc.Config{ClientID: e.tv.Client.ClientID}).Verify(e.ctx, raw)
	if err != nil {
		t.Fatalf("ID token: %v", err)
	}
	var claims struct {
		Email string `json:"email"`
		JTI   string `json:"jti"`
	}
	if err := idt.Claims(&claims); err != nil || claims.Email != "alice@example.com" || res.tok.RefreshToken == "" {
		t.Fatalf("claims %+v refresh %q: %v", claims, res.tok.RefreshToken, err)
	}
	// The token names the gate's record of the approval.
	rec, err := e.idp.Services.Instance.Store.GetSignIn(e.ctx, strings.TrimPrefix(claims.JTI, "_"))
	if err != nil || rec.Application != "television" || rec.Username != "alice@example.com" || rec.Decision != "allow" {
		t.Fatalf("the approval's record %+v: %v", rec, err)
	}
	// The refresh token renews through the same client library.
	if _, err := conf.TokenSource(e.ctx, &oauth2.Token{RefreshToken: res.tok.RefreshToken}).Token(); err != nil {
		t.Fatalf("refresh: %v", err)
	}

	// A second device: the user refuses, the device hears access_denied.
	da2, err := conf.DeviceAuth(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		tok, err := conf.DeviceAccessToken(e.ctx, da2)
		polled <- result{tok, err}
	}()
	_, page := alice.do(http.MethodGet, da2.VerificationURIComplete, nil)
	da.UserCode = da2.UserCode
	if resp, body := approve(alice, page, "deny"); resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="device-done"`) {
		t.Fatalf("deny: %d\n%.500s", resp.StatusCode, body)
	}
	res = <-polled
	var re *oauth2.RetrieveError
	if res.err == nil || !errors.As(res.err, &re) || re.ErrorCode != "access_denied" {
		t.Fatalf("refused device: %v", res.err)
	}
	found := false
	for _, r := range e.records(t, store.SignInFilter{Username: "alice@example.com", Application: "television"}) {
		found = found || strings.Contains(r.Reason, "refused by the user")
	}
	if !found {
		t.Fatal("the refusal has no record")
	}
}
