package oidc

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/store"
)

// clientAuth is how a test client authenticates at the token endpoint: a confidential client
// by HTTP Basic, a public one by its client_id in the form.
type clientAuth struct {
	id, secret, redirect string
}

func (hs *harness) rrp() clientAuth  { return clientAuth{"rrp", hs.rsecret, callback} }
func (hs *harness) rapp() clientAuth { return clientAuth{"rapp", "", "com.example.app:/cb"} }

func (hs *harness) tokenRequest(c clientAuth, form url.Values) (int, tokenResponse) {
	var basic []string
	if c.secret != "" {
		basic = []string{c.id, c.secret}
	} else {
		form.Set("client_id", c.id)
	}
	rec := hs.post(TokenPath, form, basic...)
	var tr tokenResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &tr); err != nil {
		hs.t.Fatalf("%d %v: %s", rec.Code, err, rec.Body.String())
	}
	return rec.Code, tr
}

// offline runs the code flow for c asking for scope (with offline_access unless said) and
// returns the token response.
func (hs *harness) offline(c clientAuth, scope string) tokenResponse {
	t := hs.t
	t.Helper()
	v, ch := pkce("o")
	rec := hs.get(authzQuery(c.id, c.redirect, ch, "scope", scope))
	u, _ := url.Parse(rec.Header().Get("Location"))
	code := u.Query().Get("code")
	if code == "" {
		t.Fatalf("authorize: %d %s", rec.Code, rec.Header().Get("Location"))
	}
	status, tr := hs.tokenRequest(c, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {c.redirect},
		"code_verifier": {v}})
	if status != 200 {
		t.Fatalf("code exchange: %d %+v", status, tr)
	}
	return tr
}

func (hs *harness) refresh(c clientAuth, token string, extra ...string) (int, tokenResponse) {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}}
	for i := 0; i+1 < len(extra); i += 2 {
		form.Set(extra[i], extra[i+1])
	}
	return hs.tokenRequest(c, form)
}

// claims returns the payload of a JWT Sekisho signed, checking the signature.
func claims(t *testing.T, tok string) map[string]any {
	t.Helper()
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	payload, err := jws.Verify(tokenKeysForTest(t)[1].Cert.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	decode(t, payload, &m)
	return m
}

// allowEach makes the gate allow every attempt with a fresh record ID (EV2, EV3…).
func (hs *harness) allowEach() {
	hs.gate.judge = func(signin.Attempt) signin.Outcome {
		return signin.Outcome{Allowed: true, Decision: signin.Allow, User: hs.users["u1"]}
	}
}

func TestRefreshTokenIssued(t *testing.T) {
	cases := []struct {
		name   string
		client func(*harness) clientAuth
		scope  string
		want   bool
		scopes string
	}{
		{"offline_access and the grant", (*harness).rrp, "openid email offline_access", true, "openid email offline_access"},
		{"a public client too", (*harness).rapp, "openid email offline_access", true, "openid email offline_access"},
		{"no offline_access", (*harness).rrp, "openid email", false, "openid email"},
		{"offline_access without the grant is dropped", func(hs *harness) clientAuth { return clientAuth{"rp", hs.secret, callback} },
			"openid email offline_access", false, "openid email"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hs := newHarness(t)
			tr := hs.offline(c.client(hs), c.scope)
			if (tr.RefreshToken != "") != c.want || tr.Scope != c.scopes {
				t.Fatalf("refresh token %q scope %q, want issued=%v scope %q", tr.RefreshToken, tr.Scope, c.want, c.scopes)
			}
			if !c.want {
				if len(hs.tokens.refresh) != 0 {
					t.Fatal("a refresh token was stored")
				}
				if _, ok := claims(t, tr.AccessToken)[ClaimGrantID]; ok {
					t.Fatal("an access token without a refresh token names a grant")
				}
				return
			}
			// Stored as its SHA-256 only, with the grant's context.
			sum := sha256.Sum256([]byte(tr.RefreshToken))
			row, ok := hs.tokens.refresh[string(sum[:])]
			if len(hs.tokens.refresh) != 1 || !ok || row.State != store.RefreshActive || row.UserID != "u1" || row.ClientID != c.client(hs).id ||
				row.SessionID != "_sess1" || !slices.Equal(row.AMR, []string{"pwd"}) || row.AuthTime.IsZero() {
				t.Fatalf("stored %+v", hs.tokens.refresh)
			}
			if got := row.ExpiresAt.Sub(row.CreatedAt); got != DefaultRefreshTokenLifetime {
				t.Errorf("lifetime %s", got)
			}
			if len(tr.RefreshToken) != 43 {
				t.Errorf("refresh token %q: want 256 bits, base64url", tr.RefreshToken)
			}
			if g := claims(t, tr.AccessToken)[ClaimGrantID]; g != row.FamilyID {
				t.Errorf("access token grant_id %v, want the family %s", g, row.FamilyID)
			}
		})
	}
	t.Run("the token is stored only if the answer is sent, and sent only if stored", func(t *testing.T) {
		hs := newHarness(t)
		v, ch := pkce("o")
		rec := hs.get(authzQuery("rrp", callback, ch, "scope", "openid offline_access"))
		u, _ := url.Parse(rec.Header().Get("Location"))
		// The signing key vanishes after the code is issued: no answer, so nothing stored.
		keys := hs.h.keys.src.(*fakeKeys)
		saved := keys.ks
		keys.ks = nil
		status, tr := hs.tokenRequest(hs.rrp(), url.Values{"grant_type": {"authorization_code"}, "code": {u.Query().Get("code")},
			"redirect_uri": {callback}, "code_verifier": {v}})
		keys.ks = saved
		if status == 200 || tr.RefreshToken != "" || len(hs.tokens.refresh) != 0 {
			t.Fatalf("%d %+v, stored %d", status, tr, len(hs.tokens.refresh))
		}
	})
}

func TestRefreshGrant(t *testing.T) {
	t.Run("each refresh passes the gate, rotates the token and names its record", func(t *testing.T) {
		hs := newHarness(t)
		hs.sessions.sess.MFA, hs.sessions.sess.Methods = true, []string{"pwd", "totp"}
		hs.gate.out.MFA = true
		first := hs.offline(hs.rrp(), "openid email profile offline_access")
		idFirst := claims(t, first.IDToken)
		hs.allowEach()
		hs.now = hs.now.Add(time.Hour)
		status, second := hs.refresh(hs.rrp(), first.RefreshToken)
		if status != 200 || second.RefreshToken == "" || second.RefreshToken == first.RefreshToken || second.IDToken == "" ||
			second.Scope != "openid email profile offline_access" {
			t.Fatalf("refresh: %d %+v", status, second)
		}
		a := hs.gate.attempts[len(hs.gate.attempts)-1]
		if a.Protocol != "oidc" || a.Application != "refreshing-party" || a.Session == nil || a.Session.UserID != "u1" || !a.Session.MFA ||
			a.Client != "" || a.HTTP == nil {
			t.Fatalf("gate attempt %+v", a)
		}
		at, idt := claims(t, second.AccessToken), claims(t, second.IDToken)
		if at["jti"] != "_EV2" || idt["jti"] != "_EV2" || at["sub"] != "u1" || at[ClaimGrantID] != claims(t, first.AccessToken)[ClaimGrantID] {
			t.Errorf("access %v id %v: want the refresh's record and the same grant", at, idt)
		}
		// The refreshed ID token describes the original sign-in.
		for _, k := range []string{"auth_time", "acr", "sid", "sub", "email", "name"} {
			if idt[k] != idFirst[k] {
				t.Errorf("ID token %s = %v, first %v", k, idt[k], idFirst[k])
			}
		}
		if amr, _ := idt["amr"].([]any); len(amr) != 3 || idt["acr"] != ACRMultiFactor {
			t.Errorf("amr %v acr %v", idt["amr"], idt["acr"])
		}
		if _, ok := idt["nonce"]; ok {
			t.Error("a refreshed ID token carries the nonce")
		}
		fam := hs.tokens.family(at[ClaimGrantID].(string))
		if fam[store.RefreshRotated] != 1 || fam[store.RefreshActive] != 1 {
			t.Fatalf("family %v", fam)
		}
		// And again with the new one.
		if status, third := hs.refresh(hs.rrp(), second.RefreshToken); status != 200 || claims(t, third.AccessToken)["jti"] != "_EV3" {
			t.Fatalf("second refresh: %d %+v", status, third)
		}
	})
	t.Run("a rotated token presented again revokes the family, the newest token too", func(t *testing.T) {
		hs := newHarness(t)
		first := hs.offline(hs.rrp(), "openid offline_access")
		hs.allowEach()
		_, second := hs.refresh(hs.rrp(), first.RefreshToken)
		before := len(hs.gate.attempts)
		status, tr := hs.refresh(hs.rrp(), first.RefreshToken)
		if status != 400 || tr.Error != "invalid_grant" || tr.AccessToken != "" {
			t.Fatalf("reuse: %d %+v", status, tr)
		}
		if r := hs.audit.last(); !strings.HasPrefix(r, "refreshing-party|alice@example.com|token request: invalid_grant") ||
			!strings.Contains(r, "refresh token reused") || !strings.Contains(r, "every token of its grant is revoked (2)") {
			t.Fatalf("record %q", r)
		}
		if len(hs.gate.attempts) != before {
			t.Fatal("a reused token reached the gate")
		}
		fam := claims(t, second.AccessToken)[ClaimGrantID].(string)
		if got := hs.tokens.family(fam); got[store.RefreshRevoked] != 2 || len(got) != 1 {
			t.Fatalf("family %v", got)
		}
		status, tr = hs.refresh(hs.rrp(), second.RefreshToken)
		if status != 400 || tr.Error != "invalid_grant" || !strings.Contains(hs.audit.last(), "refresh token revoked") {
			t.Fatalf("the newest token after reuse: %d %+v %q", status, tr, hs.audit.last())
		}
	})
	t.Run("two uses at once: one rotation wins, the other is reuse", func(t *testing.T) {
		hs := newHarness(t)
		first := hs.offline(hs.rrp(), "openid offline_access")
		hs.allowEach()
		var winner tokenResponse
		hs.tokens.onRotate = func() { // another node renews the same token meanwhile
			_, winner = hs.refresh(hs.rrp(), first.RefreshToken)
		}
		status, tr := hs.refresh(hs.rrp(), first.RefreshToken)
		if winner.RefreshToken == "" || status != 400 || tr.Error != "invalid_grant" || tr.RefreshToken != "" {
			t.Fatalf("winner %+v; loser %d %+v", winner, status, tr)
		}
		if r := hs.audit.last(); !strings.Contains(r, "used twice at once") {
			t.Fatalf("record %q", r)
		}
		if status, _ := hs.refresh(hs.rrp(), winner.RefreshToken); status != 400 {
			t.Fatal("the winner's token survived the reuse")
		}
	})
	t.Run("a refusal by the gate is its record, and renews nothing", func(t *testing.T) {
		hs := newHarness(t)
		first := hs.offline(hs.rrp(), "openid offline_access")
		hs.gate.judge = func(signin.Attempt) signin.Outcome {
			return signin.Outcome{Decision: signin.Deny, Reason: signin.ReasonDisabled, EventID: "EV-DENY"}
		}
		records := len(hs.audit.records)
		status, tr := hs.refresh(hs.rrp(), first.RefreshToken)
		if status != 400 || tr.Error != "invalid_grant" || !strings.Contains(tr.Description, "EV-DENY") || tr.RefreshToken != "" {
			t.Fatalf("%d %+v", status, tr)
		}
		if len(hs.audit.records) != records {
			t.Fatalf("a second record for the gate's refusal: %v", hs.audit.records[records:])
		}
		fam := claims(t, first.AccessToken)[ClaimGrantID].(string)
		if got := hs.tokens.family(fam); got[store.RefreshActive] != 1 || len(got) != 1 {
			t.Fatalf("family after a refusal %v", got)
		}
	})
	t.Run("a store failure is a 500 and spends nothing", func(t *testing.T) {
		hs := newHarness(t)
		first := hs.offline(hs.rrp(), "openid offline_access")
		hs.tokens.failGet = errors.New("connection reset")
		status, tr := hs.refresh(hs.rrp(), first.RefreshToken)
		if status != 500 || tr.Error != "server_error" || !strings.Contains(hs.audit.last(), "connection reset") {
			t.Fatalf("%d %+v %q", status, tr, hs.audit.last())
		}
		hs.tokens.failGet = nil
		hs.allowEach()
		if status, _ := hs.refresh(hs.rrp(), first.RefreshToken); status != 200 {
			t.Fatalf("after the store came back: %d", status)
		}
	})

	cases := []struct {
		name    string
		prepare func(hs *harness, tok string) (clientAuth, string, []string)
		status  int
		errCode string
		record  string
	}{
		{"unknown token", func(hs *harness, tok string) (clientAuth, string, []string) {
			return hs.rrp(), "not-a-token", nil
		}, 400, "invalid_grant", "unknown refresh token"},
		{"expired", func(hs *harness, tok string) (clientAuth, string, []string) {
			hs.now = hs.now.Add(DefaultRefreshTokenLifetime + time.Second)
			return hs.rrp(), tok, nil
		}, 400, "invalid_grant", "refresh token expired"},
		{"another client's token", func(hs *harness, tok string) (clientAuth, string, []string) {
			return hs.rapp(), tok, nil
		}, 400, "invalid_grant", "issued to another client"},
		{"wrong secret", func(hs *harness, tok string) (clientAuth, string, []string) {
			c := hs.rrp()
			c.secret = "wrong"
			return c, tok, nil
		}, 401, "invalid_client", "wrong client secret"},
		{"a scope the grant does not have", func(hs *harness, tok string) (clientAuth, string, []string) {
			return hs.rrp(), tok, []string{"scope", "openid groups"}
		}, 400, "invalid_scope", "invalid_scope"},
		{"client removed", func(hs *harness, tok string) (clientAuth, string, []string) {
			hs.apps.remove("rrp")
			return hs.rrp(), tok, nil
		}, 401, "invalid_client", "unknown client_id"},
		{"client no longer allowed to refresh", func(hs *harness, tok string) (clientAuth, string, []string) {
			c, _, _ := LookupClient(t.Context(), hs.apps, "rrp")
			c.Grants, c.Scopes, c.RefreshTokenLifetime = []string{GrantAuthorizationCode}, []string{"openid"}, 0
			hs.apps.put(t, "refreshing-party", c)
			return hs.rrp(), tok, nil
		}, 400, "unauthorized_client", "unauthorized_client"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hs := newHarness(t)
			first := hs.offline(hs.rrp(), "openid email offline_access")
			hs.allowEach()
			client, tok, extra := c.prepare(hs, first.RefreshToken)
			status, tr := hs.refresh(client, tok, extra...)
			if status != c.status || tr.Error != c.errCode || tr.AccessToken != "" {
				t.Fatalf("%d %+v, want %d %s", status, tr, c.status, c.errCode)
			}
			if r := hs.audit.last(); !strings.Contains(r, "token request: "+c.errCode) || !strings.Contains(r, c.record) {
				t.Fatalf("record %q, want %q", r, c.record)
			}
			if len(hs.gate.attempts) != 1 {
				t.Fatal("a refused refresh reached the gate")
			}
		})
	}
	t.Run("fewer scopes: the access token narrows, the refresh token keeps the grant's", func(t *testing.T) {
		hs := newHarness(t)
		first := hs.offline(hs.rrp(), "openid email offline_access")
		hs.allowEach()
		status, tr := hs.refresh(hs.rrp(), first.RefreshToken, "scope", "openid")
		if status != 200 || tr.Scope != "openid" || claims(t, tr.AccessToken)["scope"] != "openid" {
			t.Fatalf("%d %+v", status, tr)
		}
		sum := sha256.Sum256([]byte(tr.RefreshToken))
		if row := hs.tokens.refresh[string(sum[:])]; !slices.Equal(row.Scopes, []string{"openid", "email", "offline_access"}) {
			t.Fatalf("the next token's scopes %v", row.Scopes)
		}
	})
	t.Run("a public client refreshes with its client_id", func(t *testing.T) {
		hs := newHarness(t)
		first := hs.offline(hs.rapp(), "openid email offline_access")
		hs.allowEach()
		if status, tr := hs.refresh(hs.rapp(), first.RefreshToken); status != 200 || tr.RefreshToken == "" {
			t.Fatalf("%d %+v", status, tr)
		}
	})
}
