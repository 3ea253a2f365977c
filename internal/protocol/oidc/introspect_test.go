package oidc

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/store"
)

func (hs *harness) svc() clientAuth { return clientAuth{"svc", hs.svcSecret, ""} }
func (hs *harness) rp() clientAuth  { return clientAuth{"rp", hs.secret, callback} }

func (hs *harness) clientCredentials(c clientAuth, scope string) (int, tokenResponse) {
	form := url.Values{"grant_type": {"client_credentials"}}
	if scope != "" {
		form.Set("scope", scope)
	}
	return hs.tokenRequest(c, form)
}

func TestClientCredentials(t *testing.T) {
	t.Run("the gate judges the client itself; the token names its record", func(t *testing.T) {
		hs := newHarness(t)
		hs.allowEach()
		status, tr := hs.clientCredentials(hs.svc(), "openid email groups offline_access")
		if status != 200 || tr.AccessToken == "" || tr.IDToken != "" || tr.RefreshToken != "" || tr.TokenType != "Bearer" ||
			tr.Scope != "email" || tr.ExpiresIn <= 0 {
			t.Fatalf("%d %+v", status, tr)
		}
		a := hs.gate.attempts[0]
		if a.Client != "svc" || a.Session != nil || a.Username != "" || a.Application != "batch" || a.Protocol != "oidc" || a.HTTP == nil {
			t.Fatalf("gate attempt %+v", a)
		}
		c := claims(t, tr.AccessToken)
		if c["sub"] != "svc" || c["client_id"] != "svc" || c["jti"] != "_EV1" || c["scope"] != "email" || c["iss"] != issuer {
			t.Fatalf("claims %v", c)
		}
		if _, ok := c[ClaimGrantID]; ok {
			t.Error("a client_credentials token names a grant")
		}
		// It describes no user: userinfo refuses it.
		req := httptest.NewRequest(http.MethodGet, issuer+UserinfoPath, nil)
		req.Header.Set("Authorization", "Bearer "+tr.AccessToken)
		rec := httptest.NewRecorder()
		hs.mux.ServeHTTP(rec, req)
		if rec.Code != http.StatusForbidden || !strings.Contains(rec.Header().Get("WWW-Authenticate"), "insufficient_scope") {
			t.Fatalf("userinfo: %d %q", rec.Code, rec.Header().Get("WWW-Authenticate"))
		}
	})
	t.Run("without a scope", func(t *testing.T) {
		hs := newHarness(t)
		hs.allowEach()
		status, tr := hs.clientCredentials(hs.svc(), "")
		if status != 200 || tr.Scope != "" {
			t.Fatalf("%d %+v", status, tr)
		}
		if _, ok := claims(t, tr.AccessToken)["scope"]; ok {
			t.Error("an empty scope claim")
		}
	})
	cases := []struct {
		name    string
		prepare func(hs *harness) clientAuth
		status  int
		errCode string
		record  string // "" when the gate's own record is the refusal
	}{
		{"the policy refuses", func(hs *harness) clientAuth {
			hs.gate.judge = func(signin.Attempt) signin.Outcome {
				return signin.Outcome{Decision: signin.MFARequired, EventID: "EV-NO", Message: "not from here"}
			}
			return hs.svc()
		}, 400, "unauthorized_client", ""},
		{"wrong secret", func(hs *harness) clientAuth {
			c := hs.svc()
			c.secret = "wrong"
			return c
		}, 401, "invalid_client", "batch|svc|token request: invalid_client: wrong client secret"},
		{"unknown client", func(hs *harness) clientAuth {
			return clientAuth{"nobody", "x", ""}
		}, 401, "invalid_client", `||token request: invalid_client`},
		{"not registered for the grant", func(hs *harness) clientAuth {
			return hs.rp()
		}, 400, "unauthorized_client", "relying-party|rp|token request: unauthorized_client: the client is not registered for the client_credentials grant"},
		{"a public client", func(hs *harness) clientAuth {
			return hs.rapp()
		}, 401, "invalid_client", "a public client cannot use client_credentials"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hs := newHarness(t)
			client := c.prepare(hs)
			records := len(hs.audit.records)
			status, tr := hs.clientCredentials(client, "email")
			if status != c.status || tr.Error != c.errCode || tr.AccessToken != "" {
				t.Fatalf("%d %+v, want %d %s", status, tr, c.status, c.errCode)
			}
			if c.record == "" {
				if len(hs.audit.records) != records || !strings.Contains(tr.Description, "EV-NO") || !strings.Contains(tr.Description, "not from here") {
					t.Fatalf("records %v, description %q", hs.audit.records[records:], tr.Description)
				}
				return
			}
			if r := hs.audit.last(); !strings.Contains(r, c.record) {
				t.Fatalf("record %q, want %q", r, c.record)
			}
			if len(hs.gate.attempts) != 0 {
				t.Fatal("a client that did not authenticate reached the gate")
			}
		})
	}
}

type introspected struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope"`
	ClientID  string   `json:"client_id"`
	Username  string   `json:"username"`
	TokenType string   `json:"token_type"`
	Exp       int64    `json:"exp"`
	Sub       string   `json:"sub"`
	Aud       []string `json:"aud"`
	Iss       string   `json:"iss"`
	Jti       string   `json:"jti"`
	GrantID   string   `json:"grant_id"`
}

func (hs *harness) introspect(c clientAuth, tok, hint string) (int, introspected, *httptest.ResponseRecorder) {
	form := url.Values{"token": {tok}}
	if hint != "" {
		form.Set("token_type_hint", hint)
	}
	var basic []string
	if c.secret != "" {
		basic = []string{c.id, c.secret}
	} else if c.id != "" {
		form.Set("client_id", c.id)
	}
	rec := hs.post(IntrospectPath, form, basic...)
	var out introspected
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	if rec.Code == 200 {
		var raw map[string]any
		_ = json.Unmarshal(rec.Body.Bytes(), &raw)
		if !out.Active && len(raw) != 1 {
			hs.t.Errorf("an inactive answer says more than active=false: %s", rec.Body.String())
		}
	}
	return rec.Code, out, rec
}

func (hs *harness) revoke(c clientAuth, tok, hint string) *httptest.ResponseRecorder {
	form := url.Values{"token": {tok}}
	if hint != "" {
		form.Set("token_type_hint", hint)
	}
	var basic []string
	if c.secret != "" {
		basic = []string{c.id, c.secret}
	} else if c.id != "" {
		form.Set("client_id", c.id)
	}
	return hs.post(RevokePath, form, basic...)
}

func TestIntrospection(t *testing.T) {
	t.Run("active tokens", func(t *testing.T) {
		hs := newHarness(t)
		tr := hs.offline(hs.rrp(), "openid email offline_access")
		for _, hint := range []string{"", hintAccess, hintRefresh, "something_else"} {
			// Any confidential client may introspect an access token (a resource server is a client).
			for _, caller := range []clientAuth{hs.rrp(), hs.svc()} {
				status, got, _ := hs.introspect(caller, tr.AccessToken, hint)
				if status != 200 || !got.Active || got.Sub != "u1" || got.Username != "alice@example.com" || got.ClientID != "rrp" ||
					got.Scope != "openid email offline_access" || got.TokenType != "Bearer" || got.Jti != "_EV1" || got.Iss != issuer ||
					got.GrantID == "" || got.Exp <= time.Now().Unix() || !slices.Equal(got.Aud, []string{"rrp"}) {
					t.Fatalf("access token, hint %q, by %s: %d %+v", hint, caller.id, status, got)
				}
			}
			status, got, _ := hs.introspect(hs.rrp(), tr.RefreshToken, hint)
			if status != 200 || !got.Active || got.Sub != "u1" || got.ClientID != "rrp" || got.Scope != "openid email offline_access" ||
				got.TokenType != "" || got.GrantID == "" || got.Exp <= time.Now().Add(29*24*time.Hour).Unix() {
				t.Fatalf("refresh token, hint %q: %d %+v", hint, status, got)
			}
		}
		hs.allowEach()
		_, cc := hs.clientCredentials(hs.svc(), "email")
		if _, got, _ := hs.introspect(hs.rrp(), cc.AccessToken, ""); !got.Active || got.Sub != "svc" || got.Username != "" || got.ClientID != "svc" {
			t.Fatalf("client_credentials token: %+v", got)
		}
	})

	inactive := []struct {
		name    string
		prepare func(hs *harness, tr tokenResponse) (clientAuth, string)
	}{
		{"garbage", func(hs *harness, _ tokenResponse) (clientAuth, string) { return hs.rrp(), "abc" }},
		{"a tampered access token", func(hs *harness, tr tokenResponse) (clientAuth, string) {
			return hs.rrp(), tr.AccessToken[:len(tr.AccessToken)-3] + "AAA"
		}},
		{"another client's refresh token", func(hs *harness, tr tokenResponse) (clientAuth, string) { return hs.svc(), tr.RefreshToken }},
		{"a revoked access token", func(hs *harness, tr tokenResponse) (clientAuth, string) {
			hs.revoke(hs.rrp(), tr.AccessToken, "")
			return hs.rrp(), tr.AccessToken
		}},
		{"a revoked refresh token", func(hs *harness, tr tokenResponse) (clientAuth, string) {
			hs.revoke(hs.rrp(), tr.RefreshToken, "")
			return hs.rrp(), tr.RefreshToken
		}},
		{"an access token of a revoked family", func(hs *harness, tr tokenResponse) (clientAuth, string) {
			hs.revoke(hs.rrp(), tr.RefreshToken, "refresh_token")
			return hs.rrp(), tr.AccessToken
		}},
		{"a rotated refresh token", func(hs *harness, tr tokenResponse) (clientAuth, string) {
			hs.allowEach()
			hs.refresh(hs.rrp(), tr.RefreshToken)
			return hs.rrp(), tr.RefreshToken
		}},
		{"an expired refresh token", func(hs *harness, tr tokenResponse) (clientAuth, string) {
			hs.now = hs.now.Add(DefaultRefreshTokenLifetime)
			return hs.rrp(), tr.RefreshToken
		}},
		{"an expired access token", func(hs *harness, _ tokenResponse) (clientAuth, string) {
			hs.now = time.Now().Add(-time.Hour) // issued an hour ago, for ten minutes
			tr := hs.offline(hs.rrp(), "openid")
			hs.now = time.Now()
			return hs.rrp(), tr.AccessToken
		}},
		{"the user disabled", func(hs *harness, tr tokenResponse) (clientAuth, string) {
			u := hs.users["u1"]
			u.Status = store.UserDisabled
			hs.users["u1"] = u
			return hs.rrp(), tr.AccessToken
		}},
		{"the client removed", func(hs *harness, tr tokenResponse) (clientAuth, string) {
			hs.apps.remove("rrp")
			return hs.svc(), tr.AccessToken
		}},
	}
	for _, c := range inactive {
		t.Run(c.name, func(t *testing.T) {
			hs := newHarness(t)
			tr := hs.offline(hs.rrp(), "openid email offline_access")
			caller, tok := c.prepare(hs, tr)
			for _, hint := range []string{"", hintAccess, hintRefresh} {
				if status, got, rec := hs.introspect(caller, tok, hint); status != 200 || got.Active {
					t.Fatalf("hint %q: %d %s", hint, status, rec.Body.String())
				}
			}
		})
	}

	refusals := []struct {
		name   string
		caller clientAuth
		token  string
		status int
		err    string
		record string
	}{
		{"no client authentication", clientAuth{}, "x", 401, "invalid_client", "|token introspection: invalid_client: no client authentication"},
		{"wrong secret", clientAuth{"rrp", "wrong", ""}, "x", 401, "invalid_client", "refreshing-party||token introspection: invalid_client: wrong client secret"},
		{"unknown client", clientAuth{"nobody", "x", ""}, "x", 401, "invalid_client", "unknown client_id"},
		{"a public client", clientAuth{"rapp", "", ""}, "x", 401, "invalid_client", "a public client cannot introspect"},
		{"no token", clientAuth{"rrp", "", ""}, "", 400, "invalid_request", "token missing"},
	}
	for _, c := range refusals {
		t.Run(c.name, func(t *testing.T) {
			hs := newHarness(t)
			if c.caller.id == "rrp" && c.caller.secret == "" {
				c.caller.secret = hs.rsecret
			}
			status, _, rec := hs.introspect(c.caller, c.token, "")
			var e tokenResponse
			decode(t, rec.Body.Bytes(), &e)
			if status != c.status || e.Error != c.err {
				t.Fatalf("%d %s", status, rec.Body.String())
			}
			if status == 401 && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Basic ") {
				t.Errorf("no challenge: %q", rec.Header().Get("WWW-Authenticate"))
			}
			if r := hs.audit.last(); !strings.Contains(r, c.record) {
				t.Fatalf("record %q, want %q", r, c.record)
			}
		})
	}
	t.Run("not a form", func(t *testing.T) {
		hs := newHarness(t)
		req := httptest.NewRequest(http.MethodPost, issuer+IntrospectPath, strings.NewReader(`{"token":"x"}`))
		req.Header.Set("Content-Type", "application/json")
		req.SetBasicAuth("rrp", hs.rsecret)
		rec := httptest.NewRecorder()
		hs.mux.ServeHTTP(rec, req)
		if rec.Code != 400 {
			t.Fatalf("%d %s", rec.Code, rec.Body.String())
		}
	})
}

func TestRevocation(t *testing.T) {
	t.Run("a refresh token: its whole grant ends", func(t *testing.T) {
		hs := newHarness(t)
		first := hs.offline(hs.rrp(), "openid email offline_access")
		hs.allowEach()
		_, second := hs.refresh(hs.rrp(), first.RefreshToken)
		if rec := hs.revoke(hs.rrp(), second.RefreshToken, hintRefresh); rec.Code != 200 || rec.Body.Len() != 0 {
			t.Fatalf("%d %s", rec.Code, rec.Body.String())
		}
		if status, tr := hs.refresh(hs.rrp(), second.RefreshToken); status != 400 || tr.Error != "invalid_grant" {
			t.Fatalf("refresh after revocation: %d %+v", status, tr)
		}
		if !strings.Contains(hs.audit.last(), "refresh token revoked") {
			t.Fatalf("record %q", hs.audit.last())
		}
		// The access tokens of the grant end with it, at introspection and userinfo.
		for _, at := range []string{first.AccessToken, second.AccessToken} {
			if _, got, _ := hs.introspect(hs.rrp(), at, ""); got.Active {
				t.Fatal("an access token of a revoked grant is active")
			}
			req := httptest.NewRequest(http.MethodGet, issuer+UserinfoPath, nil)
			req.Header.Set("Authorization", "Bearer "+at)
			rec := httptest.NewRecorder()
			hs.mux.ServeHTTP(rec, req)
			if rec.Code != http.StatusUnauthorized {
				t.Fatalf("userinfo with an access token of a revoked grant: %d", rec.Code)
			}
		}
	})
	t.Run("an access token: refused at userinfo, inactive, the refresh token unaffected", func(t *testing.T) {
		hs := newHarness(t)
		tr := hs.offline(hs.rrp(), "openid email offline_access")
		// With a wrong hint too: the hint is only a hint.
		if rec := hs.revoke(hs.rrp(), tr.AccessToken, hintRefresh); rec.Code != 200 {
			t.Fatalf("%d %s", rec.Code, rec.Body.String())
		}
		req := httptest.NewRequest(http.MethodGet, issuer+UserinfoPath, nil)
		req.Header.Set("Authorization", "Bearer "+tr.AccessToken)
		rec := httptest.NewRecorder()
		hs.mux.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized {
			t.Fatalf("userinfo: %d", rec.Code)
		}
		if _, got, _ := hs.introspect(hs.rrp(), tr.RefreshToken, ""); !got.Active {
			t.Fatal("revoking an access token revoked the refresh token")
		}
		if rec := hs.revoke(hs.rrp(), tr.AccessToken, ""); rec.Code != 200 {
			t.Fatalf("twice: %d", rec.Code)
		}
	})
	t.Run("a public client revokes its own token with its client_id", func(t *testing.T) {
		hs := newHarness(t)
		tr := hs.offline(hs.rapp(), "openid email offline_access")
		if rec := hs.revoke(hs.rapp(), tr.RefreshToken, ""); rec.Code != 200 {
			t.Fatalf("%d %s", rec.Code, rec.Body.String())
		}
		if status, _ := hs.refresh(hs.rapp(), tr.RefreshToken); status != 400 {
			t.Fatal("revoked token refreshed")
		}
	})
	cases := []struct {
		name    string
		prepare func(hs *harness, tr tokenResponse) (clientAuth, string)
		status  int
		err     string
		record  string
	}{
		{"an unknown token is answered as revoked", func(hs *harness, _ tokenResponse) (clientAuth, string) { return hs.rrp(), "not-a-token" }, 200, "", ""},
		{"an expired access token needs nothing", func(hs *harness, _ tokenResponse) (clientAuth, string) {
			hs.now = time.Now().Add(-time.Hour)
			tr := hs.offline(hs.rrp(), "openid")
			hs.now = time.Now()
			return hs.rrp(), tr.AccessToken
		}, 200, "", ""},
		{"another client's refresh token", func(hs *harness, tr tokenResponse) (clientAuth, string) { return hs.svc(), tr.RefreshToken }, 400,
			"unauthorized_client", "batch|alice@example.com|token revocation: unauthorized_client: the refresh token was issued to another client"},
		{"another client's access token", func(hs *harness, tr tokenResponse) (clientAuth, string) { return hs.rapp(), tr.AccessToken }, 400,
			"unauthorized_client", "refreshing-native|alice@example.com|token revocation: unauthorized_client: the access token was issued to another client"},
		{"wrong secret", func(hs *harness, tr tokenResponse) (clientAuth, string) {
			return clientAuth{"rrp", "nope", ""}, tr.RefreshToken
		}, 401,
			"invalid_client", "refreshing-party||token revocation: invalid_client: wrong client secret"},
		{"a public client with a secret", func(hs *harness, tr tokenResponse) (clientAuth, string) {
			return clientAuth{"rapp", "x", ""}, tr.RefreshToken
		},
			401, "invalid_client", "a public client sent a secret"},
		{"no token", func(hs *harness, _ tokenResponse) (clientAuth, string) { return hs.rrp(), "" }, 400, "invalid_request", "token missing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hs := newHarness(t)
			tr := hs.offline(hs.rrp(), "openid email offline_access")
			caller, tok := c.prepare(hs, tr)
			records := len(hs.audit.records)
			rec := hs.revoke(caller, tok, "")
			var e tokenResponse
			_ = json.Unmarshal(rec.Body.Bytes(), &e)
			if rec.Code != c.status || e.Error != c.err {
				t.Fatalf("%d %s, want %d %s", rec.Code, rec.Body.String(), c.status, c.err)
			}
			if c.record == "" {
				if len(hs.audit.records) != records {
					t.Fatalf("records %v", hs.audit.records[records:])
				}
			} else if r := hs.audit.last(); !strings.Contains(r, c.record) {
				t.Fatalf("record %q, want %q", r, c.record)
			}
			if c.status != 200 {
				// Nothing was revoked.
				if _, got, _ := hs.introspect(hs.rrp(), tr.RefreshToken, ""); !got.Active {
					t.Fatal("a refused revocation revoked the token")
				}
			}
		})
	}
}

// TestIntrospectionBasicWithEmptyFormCredentials: HTTP Basic with empty client_id and
// client_secret form fields (as Dovecot's oauth2 passdb sends them) is one method; a second
// secret, or a client_id naming another client, is refused.
func TestIntrospectionBasicWithEmptyFormCredentials(t *testing.T) {
	hs := newHarness(t)
	hs.allowEach()
	_, tr := hs.clientCredentials(hs.svc(), "email")
	for _, tc := range []struct {
		name       string
		id, secret string
		status     int
	}{
		{"empty fields", "", "", 200},
		{"the same client_id", "rp", "", 200},
		{"a second secret", "", "x", 400},
		{"another client_id", "svc", "", 400},
	} {
		form := url.Values{"token": {tr.AccessToken}, "client_id": {tc.id}, "client_secret": {tc.secret}}
		rec := hs.post(IntrospectPath, form, "rp", hs.secret)
		if rec.Code != tc.status {
			t.Errorf("%s: %d %s", tc.name, rec.Code, rec.Body)
		}
		if tc.status == 200 && !strings.Contains(rec.Body.String(), `"active":true`) {
			t.Errorf("%s: %s", tc.name, rec.Body)
		}
	}
}
