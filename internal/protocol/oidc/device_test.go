package oidc

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/signin"
)

type deviceResponse struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int    `json:"expires_in"`
	Interval                int    `json:"interval"`
	Error                   string `json:"error"`
}

// deviceHarness adds a public device client "tv" (with refresh tokens) and a confidential one
// "box", and a CSRF check that accepts the token "ok".
func deviceHarness(t *testing.T) (*harness, string) {
	t.Helper()
	hs := newHarness(t)
	hs.apps.put(t, "television", ClientConfig{ClientID: "tv", Type: Public, Grants: []string{"device_code", GrantRefreshToken},
		Scopes: []string{"openid", "email"}})
	secret, hash, _ := hs.h.cfg.Secrets.New("box")
	hs.apps.put(t, "set-top-box", ClientConfig{ClientID: "box", SecretHash: hash, Grants: []string{GrantDeviceCode}})
	hs.h.cfg.CheckCSRF = func(r *http.Request) bool { return r.PostFormValue("csrf") == "ok" }
	return hs, secret
}

func (hs *harness) deviceStart(t *testing.T, form url.Values, basic ...string) deviceResponse {
	t.Helper()
	rec := hs.post(DeviceAuthorizationPath, form, basic...)
	var d deviceResponse
	decode(t, rec.Body.Bytes(), &d)
	if rec.Code != http.StatusOK {
		d.Error = d.Error + "|" + rec.Body.String()
	}
	return d
}

func (hs *harness) poll(t *testing.T, client, code string, basic ...string) (int, tokenResponse) {
	t.Helper()
	form := url.Values{"grant_type": {GrantDeviceCode}, "device_code": {code}}
	if len(basic) == 0 {
		form.Set("client_id", client)
	}
	rec := hs.post(TokenPath, form, basic...)
	var tr tokenResponse
	decode(t, rec.Body.Bytes(), &tr)
	return rec.Code, tr
}

func TestDeviceGrant(t *testing.T) {
	t.Run("the whole flow: pending, slow_down, approval through the gate, tokens once", func(t *testing.T) {
		hs, _ := deviceHarness(t)
		d := hs.deviceStart(t, url.Values{"client_id": {"tv"}, "scope": {"openid email offline_access profile"}})
		if d.Error != "" || len(d.DeviceCode) < 43 || len(d.UserCode) != 9 || d.UserCode[4] != '-' ||
			d.VerificationURI != issuer+DevicePath || d.VerificationURIComplete != issuer+DevicePath+"?user_code="+d.UserCode ||
			d.ExpiresIn != 600 || d.Interval != 5 {
			t.Fatalf("device authorization: %+v", d)
		}
		records := len(hs.audit.records)
		if code, tr := hs.poll(t, "tv", d.DeviceCode); code != http.StatusBadRequest || tr.Error != "authorization_pending" {
			t.Fatalf("first poll: %d %+v", code, tr)
		}
		hs.now = hs.now.Add(2 * time.Second)
		if code, tr := hs.poll(t, "tv", d.DeviceCode); code != http.StatusBadRequest || tr.Error != "slow_down" || !strings.Contains(tr.Description, "10 seconds") {
			t.Fatalf("fast poll: %d %+v", code, tr)
		}
		if len(hs.audit.records) != records {
			t.Fatalf("polling wrote records: %v", hs.audit.records[records:])
		}
		// The user, signed in, types the code in lower case without the dash.
		typed := strings.ToLower(strings.ReplaceAll(d.UserCode, "-", ""))
		rec := hs.get(DevicePath + "?user_code=" + typed)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "confirm "+d.UserCode+" television") {
			t.Fatalf("confirm page: %d %s", rec.Code, rec.Body.String())
		}
		if opts := hs.sessions.requires[len(hs.sessions.requires)-1]; opts.Application != "television" || !strings.Contains(opts.ReturnTo, d.UserCode) {
			t.Fatalf("session options %+v", opts)
		}
		rec = hs.post(DevicePath, url.Values{"csrf": {"ok"}, "user_code": {d.UserCode}, "action": {"approve"}})
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "approved") {
			t.Fatalf("approve: %d %s", rec.Code, rec.Body.String())
		}
		if a := hs.gate.attempts[len(hs.gate.attempts)-1]; a.Application != "television" || a.Protocol != Protocol || a.Session == nil || a.Session.UserID != "u1" {
			t.Fatalf("gate attempt %+v", a)
		}
		hs.now = hs.now.Add(11 * time.Second)
		code, tr := hs.poll(t, "tv", d.DeviceCode)
		if code != http.StatusOK || tr.AccessToken == "" || tr.IDToken == "" || tr.RefreshToken == "" || tr.Scope != "openid email offline_access" {
			t.Fatalf("tokens: %d %+v", code, tr)
		}
		claims := parseJWT(t, tr.IDToken)
		if claims["sub"] != "u1" || claims["jti"] != "_EV1" || claims["aud"] == nil {
			t.Fatalf("ID token claims %v", claims)
		}
		// The refresh token works like the code grant's.
		if rec := hs.post(TokenPath, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}, "client_id": {"tv"}}); rec.Code != http.StatusOK {
			t.Fatalf("refresh: %d %s", rec.Code, rec.Body.String())
		}
		hs.now = hs.now.Add(11 * time.Second)
		if code, tr := hs.poll(t, "tv", d.DeviceCode); code != http.StatusBadRequest || tr.Error != "invalid_grant" || !strings.Contains(hs.audit.last(), "already used") {
			t.Fatalf("second redemption: %d %+v %q", code, tr, hs.audit.last())
		}
	})
	t.Run("refusals", func(t *testing.T) {
		cases := []struct {
			name       string
			run        func(t *testing.T, hs *harness, d deviceResponse, secret string) (int, string)
			wantStatus int
			wantError  string
			wantRecord string // "" means the answer wrote no record of its own
		}{
			{name: "the user refuses: access_denied", run: func(t *testing.T, hs *harness, d deviceResponse, _ string) (int, string) {
				rec := hs.post(DevicePath, url.Values{"csrf": {"ok"}, "user_code": {d.UserCode}, "action": {"deny"}})
				if !strings.Contains(rec.Body.String(), "refused") || !strings.Contains(hs.audit.last(), "refused by the user") {
					t.Fatalf("deny: %s %q", rec.Body.String(), hs.audit.last())
				}
				code, tr := hs.poll(t, "tv", d.DeviceCode)
				return code, tr.Error
			}, wantStatus: 400, wantError: "access_denied"},
			{name: "the policy refuses: the denial page, and access_denied", run: func(t *testing.T, hs *harness, d deviceResponse, _ string) (int, string) {
				hs.gate.out = signin.Outcome{Decision: signin.Deny, EventID: "EV5"}
				rec := hs.post(DevicePath, url.Values{"csrf": {"ok"}, "user_code": {d.UserCode}, "action": {"approve"}})
				if rec.Code != http.StatusForbidden || len(hs.denied) != 1 || hs.denied[0] != "EV5" {
					t.Fatalf("approve: %d denied %v", rec.Code, hs.denied)
				}
				code, tr := hs.poll(t, "tv", d.DeviceCode)
				return code, tr.Error
			}, wantStatus: 400, wantError: "access_denied"},
			{name: "expired", run: func(t *testing.T, hs *harness, d deviceResponse, _ string) (int, string) {
				hs.now = hs.now.Add(DeviceCodeLifetime)
				if rec := hs.get(DevicePath + "?user_code=" + d.UserCode); rec.Code != http.StatusBadRequest || !strings.Contains(hs.audit.last(), "alice@example.com|device authorization: user code expired") {
					t.Fatalf("page: %d %q", rec.Code, hs.audit.last())
				}
				code, tr := hs.poll(t, "tv", d.DeviceCode)
				return code, tr.Error
			}, wantStatus: 400, wantError: "expired_token", wantRecord: "device code expired"},
			{name: "another client's device code", run: func(t *testing.T, hs *harness, d deviceResponse, secret string) (int, string) {
				code, tr := hs.poll(t, "box", d.DeviceCode, "box", secret)
				return code, tr.Error
			}, wantStatus: 400, wantError: "invalid_grant", wantRecord: "issued to another client"},
			{name: "an unknown device code", run: func(t *testing.T, hs *harness, _ deviceResponse, _ string) (int, string) {
				code, tr := hs.poll(t, "tv", "forged")
				return code, tr.Error
			}, wantStatus: 400, wantError: "invalid_grant", wantRecord: "unknown device code"},
			{name: "a confidential client without its secret", run: func(t *testing.T, hs *harness, _ deviceResponse, _ string) (int, string) {
				d := hs.deviceStart(t, url.Values{"client_id": {"box"}})
				return 401, strings.SplitN(d.Error, "|", 2)[0]
			}, wantStatus: 401, wantError: "invalid_client", wantRecord: "wrong client secret"},
			{name: "a client not registered for the grant", run: func(t *testing.T, hs *harness, _ deviceResponse, _ string) (int, string) {
				rec := hs.post(DeviceAuthorizationPath, url.Values{"client_id": {"app"}})
				var d deviceResponse
				decode(t, rec.Body.Bytes(), &d)
				return rec.Code, d.Error
			}, wantStatus: 400, wantError: "unauthorized_client", wantRecord: "not registered for the device grant"},
			{name: "a wrong user code is recorded under the signed-in user", run: func(t *testing.T, hs *harness, _ deviceResponse, _ string) (int, string) {
				rec := hs.get(DevicePath + "?user_code=BBBB-BBBB")
				return rec.Code, strings.TrimSpace(rec.Body.String())
			}, wantStatus: 400, wantError: "device: enter   bad_code", wantRecord: "alice@example.com|device authorization: unknown user code"},
			{name: "a POST without the CSRF token", run: func(t *testing.T, hs *harness, d deviceResponse, _ string) (int, string) {
				rec := hs.post(DevicePath, url.Values{"user_code": {d.UserCode}, "action": {"approve"}})
				if len(hs.gate.attempts) != 0 {
					t.Fatal("the gate was asked")
				}
				code, tr := hs.poll(t, "tv", d.DeviceCode)
				if tr.Error != "authorization_pending" {
					t.Fatalf("poll after the refused POST: %d %+v", code, tr)
				}
				return rec.Code, ""
			}, wantStatus: 403, wantError: "", wantRecord: "CSRF"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				hs, secret := deviceHarness(t)
				d := hs.deviceStart(t, url.Values{"client_id": {"tv"}})
				if d.Error != "" {
					t.Fatal(d.Error)
				}
				n := len(hs.audit.records)
				status, e := tc.run(t, hs, d, secret)
				if status != tc.wantStatus || e != tc.wantError {
					t.Fatalf("got %d %q, want %d %q", status, e, tc.wantStatus, tc.wantError)
				}
				if tc.wantRecord != "" {
					found := false
					for _, r := range hs.audit.records[n:] {
						found = found || strings.Contains(r, tc.wantRecord)
					}
					if !found {
						t.Fatalf("no record with %q: %v", tc.wantRecord, hs.audit.records[n:])
					}
				}
			})
		}
	})
	t.Run("the page needs a session first and comes back with the code", func(t *testing.T) {
		hs, _ := deviceHarness(t)
		d := hs.deviceStart(t, url.Values{"client_id": {"tv"}})
		hs.sessions.sess = nil
		rec := hs.get(DevicePath + "?user_code=" + d.UserCode)
		if rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), "/login?") {
			t.Fatalf("%d %s", rec.Code, rec.Header().Get("Location"))
		}
		if opts := hs.sessions.requires[0]; opts.ReturnTo != DevicePath+"?user_code="+d.UserCode || opts.Application != "television" {
			t.Fatalf("options %+v", opts)
		}
	})
}

func TestUserCodes(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		c, err := newUserCode()
		if err != nil || len(c) != userCodeLength || strings.Trim(c, userCodeAlphabet) != "" {
			t.Fatalf("user code %q %v", c, err)
		}
		seen[c] = true
	}
	if len(seen) < 199 {
		t.Fatalf("only %d distinct codes of 200", len(seen))
	}
	for in, want := range map[string]string{"BCDF-GHJK": "BCDFGHJK", "bcdf ghjk": "BCDFGHJK", "BCDFGHJ": "", "BCDF-GHJA": "",
		"BCDFGHJKL": "", "": "", strings.Repeat("B", 40): ""} {
		if got := normalizeUserCode(in); got != want {
			t.Errorf("normalizeUserCode(%q) = %q, want %q", in, got, want)
		}
	}
}

// parseJWT returns a token's claims without verifying it (the token tests verify signatures).
func parseJWT(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// FuzzNormalizeUserCode: whatever a person types, the result is empty or exactly a user code
// of the alphabet, and formatting it and normalizing again is the identity.
func FuzzNormalizeUserCode(f *testing.F) {
	for _, s := range []string{"BCDF-GHJK", "bcdf ghjk", "", "BCDF—GHJK", "ＢＣＤＦＧＨＪＫ", "bcdfghjkl", "B-C-D-F-G-H-J-K"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := normalizeUserCode(s)
		if got == "" {
			return
		}
		if len(got) != userCodeLength || strings.Trim(got, userCodeAlphabet) != "" {
			t.Fatalf("normalizeUserCode(%q) = %q", s, got)
		}
		if again := normalizeUserCode(formatUserCode(got)); again != got {
			t.Fatalf("round trip %q -> %q", got, again)
		}
	})
}
