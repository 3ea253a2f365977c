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

	jose "github.com/go-jose/go-jose/v4"

	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/store"
)

// Every refusal at the authorization endpoint is recorded; those that cannot be trusted to
// go back to the client (unknown client, redirect URI not registered exactly) get an error
// page and no redirect; the others go back to the registered redirect URI with the state.
func TestAuthorizeRefusals(t *testing.T) {
	_, ch := pkce("v")
	cases := []struct {
		name      string
		path      string
		status    int
		wantError string // the error sent to the client; "" for an error page
		record    string
	}{
		{"no client_id", authzQuery("", callback, ch), 400, "", "client_id missing"},
		{"unknown client", authzQuery("nobody", callback, ch), 400, "", "not a registered client"},
		{"no redirect_uri", authzQuery("rp", "", ch), 400, "", "redirect_uri missing"},
		{"unregistered redirect_uri", authzQuery("rp", "https://evil.example/cb", ch), 400, "", "not registered"},
		{"redirect_uri with a suffix", authzQuery("rp", callback+"/", ch), 400, "", "not registered"},
		{"redirect_uri of another client", authzQuery("rp", "com.example.app:/cb", ch), 400, "", "not registered"},
		{"implicit flow", authzQuery("rp", callback, ch, "response_type", "id_token"), 302, "unsupported_response_type", "only code"},
		{"fragment mode", authzQuery("rp", callback, ch, "response_mode", "fragment"), 302, "invalid_request", "only query"},
		{"form_post mode", authzQuery("rp", callback, ch, "response_mode", "form_post"), 302, "invalid_request", "only query"},
		{"no openid scope", authzQuery("rp", callback, ch, "scope", "email"), 302, "invalid_scope", "openid scope is required"},
		{"request object", authzQuery("rp", callback, ch, "request", "e30.e30."), 302, "request_not_supported", "request objects"},
		{"request_uri", authzQuery("rp", callback, ch, "request_uri", "https://rp.example.com/r"), 302, "request_uri_not_supported", "request_uri"},
		{"plain PKCE", authzQuery("rp", callback, ch, "code_challenge_method", "plain"), 302, "invalid_request", "must be S256"},
		{"challenge without method", authzQuery("rp", callback, ch, "code_challenge_method", ""), 302, "invalid_request", "must be S256"},
		{"method without challenge", authzQuery("rp", callback, "", "code_challenge_method", "S256"), 302, "invalid_request", "without code_challenge"},
		{"malformed challenge", authzQuery("rp", callback, "short"), 302, "invalid_request", "not a base64url SHA-256"},
		{"public client without PKCE", authzQuery("app", "com.example.app:/cb", ""), 302, "invalid_request", "PKCE is required"},
		{"prompt=none with another prompt", authzQuery("rp", callback, ch, "prompt", "none login"), 302, "invalid_request", "cannot be combined"},
		{"unknown prompt", authzQuery("rp", callback, ch, "prompt", "dance"), 302, "invalid_request", "not known"},
		{"state too long", authzQuery("rp", callback, ch, "state", strings.Repeat("s", maxState+1)), 302, "invalid_request", "too long"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hs := newHarness(t)
			rec := hs.get(c.path)
			if rec.Code != c.status {
				t.Fatalf("status %d, want %d: %s %s", rec.Code, c.status, rec.Header().Get("Location"), rec.Body.String())
			}
			loc := rec.Header().Get("Location")
			if c.wantError == "" {
				if loc != "" {
					t.Fatalf("an error page must not redirect: %s", loc)
				}
			} else {
				u, _ := url.Parse(loc)
				q := u.Query()
				path, _ := url.Parse(c.path)
				if u.Query().Get("code") != "" || q.Get("error") != c.wantError || q.Get("state") != path.Query().Get("state") ||
					!strings.HasPrefix(loc, path.Query().Get("redirect_uri")+"?") {
					t.Fatalf("redirect %s, want error %s to the registered URI with the state", loc, c.wantError)
				}
			}
			if r := hs.audit.last(); !strings.Contains(r, c.record) {
				t.Fatalf("record %q, want %q", r, c.record)
			}
			if len(hs.gate.attempts) != 0 {
				t.Fatal("a refused request reached the gate")
			}
		})
	}
}

func TestAuthorizeThroughTheGate(t *testing.T) {
	_, ch := pkce("v")
	t.Run("allowed: a code for the registered URI, the gate asked as oidc", func(t *testing.T) {
		hs := newHarness(t)
		hs.code(t, "rp", callback, ch)
		a := hs.gate.attempts[0]
		if a.Protocol != "oidc" || a.Application != "relying-party" || a.Endpoint != signin.Passive || a.Session == nil || a.Session.UserID != "u1" {
			t.Fatalf("attempt %+v", a)
		}
	})
	t.Run("denied: the denial page with the record's reference, no code", func(t *testing.T) {
		hs := newHarness(t)
		hs.gate.out = signin.Outcome{Decision: signin.Deny, EventID: "EV9", Message: "not from here"}
		rec := hs.get(authzQuery("rp", callback, ch))
		if rec.Code != http.StatusForbidden || rec.Header().Get("Location") != "" || !slices.Equal(hs.denied, []string{"EV9"}) {
			t.Fatalf("%d %q denied %v", rec.Code, rec.Header().Get("Location"), hs.denied)
		}
	})
	t.Run("no session: the sign-in page, then the single-use resume link", func(t *testing.T) {
		hs := newHarness(t)
		sess := hs.sessions.sess
		hs.sessions.sess = nil
		rec := hs.get(authzQuery("rp", callback, ch, "login_hint", "alice@example.com"))
		if rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), "/login?") {
			t.Fatalf("%d %s", rec.Code, rec.Header().Get("Location"))
		}
		opts := hs.sessions.requires[0]
		if opts.Application != "relying-party" || opts.LoginHint != "alice@example.com" || !strings.HasPrefix(opts.ReturnTo, AuthorizePath+"?resume=") {
			t.Fatalf("session options %+v", opts)
		}
		hs.sessions.sess = sess // signed in
		if rec := hs.get(opts.ReturnTo); rec.Code != http.StatusFound || !strings.HasPrefix(rec.Header().Get("Location"), callback+"?code=") {
			t.Fatalf("resume: %d %s", rec.Code, rec.Header().Get("Location"))
		}
		if rec := hs.get(opts.ReturnTo); rec.Code != http.StatusBadRequest || !strings.Contains(hs.audit.last(), "already answered") {
			t.Fatalf("resume again: %d, record %q", rec.Code, hs.audit.last())
		}
		if len(hs.gate.attempts) != 1 {
			t.Fatalf("gate asked %d times", len(hs.gate.attempts))
		}
	})
	t.Run("a forged or expired resume link is refused", func(t *testing.T) {
		hs := newHarness(t)
		if rec := hs.get(AuthorizePath + "?resume=AAAA"); rec.Code != http.StatusBadRequest || !strings.Contains(hs.audit.last(), "not a value Sekisho sealed") {
			t.Fatalf("forged: %d %q", rec.Code, hs.audit.last())
		}
		hs.sessions.sess = nil
		hs.get(authzQuery("rp", callback, ch))
		link := hs.sessions.requires[0].ReturnTo
		hs.now = hs.now.Add(time.Hour)
		if rec := hs.get(link); rec.Code != http.StatusBadRequest || !strings.Contains(hs.audit.last(), "expired") {
			t.Fatalf("expired: %d %q", rec.Code, hs.audit.last())
		}
	})
	t.Run("prompt=login and max_age ask for a fresh credential", func(t *testing.T) {
		for _, extra := range [][]string{{"prompt", "login"}, {"max_age", "60"}} {
			hs := newHarness(t)
			hs.sessions.sess.AuthnInstant = time.Now().Add(-2 * time.Hour)
			rec := hs.get(authzQuery("rp", callback, ch, extra...))
			if rec.Code != http.StatusSeeOther || len(hs.sessions.requires) != 2 || !hs.sessions.requires[1].ForceAuthn {
				t.Fatalf("%v: %d, %+v", extra, rec.Code, hs.sessions.requires)
			}
		}
	})
	t.Run("prompt=none: the session as it is, or an error to the client, never a page", func(t *testing.T) {
		cases := []struct {
			name      string
			setup     func(hs *harness)
			extra     []string
			wantError string // "" means a code
			wantDesc  string
		}{
			{name: "a session: a code", setup: func(*harness) {}},
			{name: "no session", setup: func(hs *harness) { hs.sessions.sess = nil }, wantError: "login_required", wantDesc: "no session"},
			{name: "max_age exceeded", setup: func(hs *harness) { hs.sessions.sess.AuthnInstant = time.Now().Add(-2 * time.Hour) },
				extra: []string{"max_age", "60"}, wantError: "login_required"},
			{name: "acr_values asks for a second factor the session lacks", setup: func(*harness) {},
				extra: []string{"acr_values", ACRMultiFactor}, wantError: "interaction_required", wantDesc: "second factor"},
			{name: "acr_values asks for a second factor the session has", setup: func(hs *harness) { hs.sessions.sess.MFA = true },
				extra: []string{"acr_values", "mfa"}},
			{name: "the policy refuses: access_denied with the reference", setup: func(hs *harness) {
				hs.gate.out = signin.Outcome{Decision: signin.Deny, EventID: "EV7", Message: "not from here"}
			}, wantError: "access_denied", wantDesc: "EV7"},
			{name: "the policy wants a second factor: interaction_required", setup: func(hs *harness) {
				hs.gate.out = signin.Outcome{Decision: signin.MFARequired, EventID: "EV8"}
			}, wantError: "interaction_required", wantDesc: "EV8"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				hs := newHarness(t)
				tc.setup(hs)
				rec := hs.get(authzQuery("rp", callback, ch, append([]string{"prompt", "none"}, tc.extra...)...))
				loc, _ := url.Parse(rec.Header().Get("Location"))
				if rec.Code != http.StatusFound || loc == nil || !strings.HasPrefix(loc.String(), callback+"?") || len(hs.denied) != 0 {
					t.Fatalf("%d %s denied %v", rec.Code, rec.Header().Get("Location"), hs.denied)
				}
				q := loc.Query()
				if tc.wantError == "" {
					if q.Get("code") == "" || len(hs.gate.attempts) != 1 {
						t.Fatalf("no code: %s", loc)
					}
					return
				}
				if q.Get("error") != tc.wantError || !strings.Contains(q.Get("error_description"), tc.wantDesc) || q.Get("state") != "xyz" || q.Get("code") != "" {
					t.Fatalf("got %s", loc)
				}
				if hs.gate.out.EventID == "EV1" && !strings.Contains(hs.audit.last(), tc.wantError) {
					t.Fatalf("not recorded: %q", hs.audit.last())
				}
			})
		}
	})
	t.Run("acr_values asking for a second factor is a step-up", func(t *testing.T) {
		hs := newHarness(t)
		hs.code(t, "rp", callback, ch)
		if hs.sessions.requires[0].RequireMFA {
			t.Fatal("a plain request asked for a second factor")
		}
		hs = newHarness(t)
		hs.get(authzQuery("rp", callback, ch, "acr_values", "urn:other "+ACRMultiFactor))
		if !hs.sessions.requires[0].RequireMFA {
			t.Fatalf("options %+v", hs.sessions.requires[0])
		}
	})
	t.Run("a client removed while the user signs in gets no code", func(t *testing.T) {
		hs := newHarness(t)
		hs.sessions.sess = nil
		hs.get(authzQuery("rp", callback, ch))
		hs.apps.remove("rp")
		hs.sessions.sess = &signin.Session{UserID: "u1", AuthnInstant: time.Now()}
		if rec := hs.get(hs.sessions.requires[0].ReturnTo); rec.Code != http.StatusBadRequest || len(hs.gate.attempts) != 0 {
			t.Fatalf("%d, gate asked %d times", rec.Code, len(hs.gate.attempts))
		}
	})
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	IDToken      string `json:"id_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    uint64 `json:"expires_in"`
	Scope        string `json:"scope"`
	Error        string `json:"error"`
	Description  string `json:"error_description"`
}

func decode(t *testing.T, body []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
}

func TestTokenEndpoint(t *testing.T) {
	v, ch := pkce("v")
	exchange := func(hs *harness, code, verifier string, basic ...string) (int, tokenResponse) {
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {callback}}
		if verifier != "" {
			form.Set("code_verifier", verifier)
		}
		rec := hs.post(TokenPath, form, basic...)
		var tr tokenResponse
		decode(t, rec.Body.Bytes(), &tr)
		if rec.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("token response cacheable: %v", rec.Header())
		}
		return rec.Code, tr
	}
	t.Run("code and PKCE: tokens signed by the current key, named after the record", func(t *testing.T) {
		hs := newHarness(t)
		code := hs.code(t, "rp", callback, ch)
		status, tr := exchange(hs, code, v, "rp", hs.secret)
		if status != 200 || tr.TokenType != "Bearer" || tr.IDToken == "" || tr.Scope != "openid email profile groups" {
			t.Fatalf("%d %+v", status, tr)
		}
		for _, tok := range []string{tr.IDToken, tr.AccessToken} {
			jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.RS256})
			if err != nil {
				t.Fatal(err)
			}
			if kid := jws.Signatures[0].Header.KeyID; kid != "key-current" {
				t.Errorf("signed by %s", kid)
			}
			if _, err := jws.Verify(tokenKeysForTest(t)[1].Cert.PublicKey); err != nil {
				t.Errorf("signature does not verify with the current key: %v", err)
			}
			var c map[string]any
			decode(t, jws.UnsafePayloadWithoutVerification(), &c)
			if c["jti"] != "_EV1" || c["sub"] != "u1" || c["iss"] != issuer {
				t.Errorf("claims %v", c)
			}
		}
	})
	cases := []struct {
		name    string
		prepare func(hs *harness, code string) (string, string, []string) // code, verifier, basic auth
		status  int
		errCode string
		record  string
		user    string // the user the record names (the code's)
	}{
		{"replayed code", func(hs *harness, code string) (string, string, []string) {
			exchange(hs, code, v, "rp", hs.secret)
			return code, v, []string{"rp", hs.secret}
		}, 400, "invalid_grant", "already used", ""},
		{"wrong verifier", func(hs *harness, code string) (string, string, []string) {
			w, _ := pkce("w")
			return code, w, []string{"rp", hs.secret}
		}, 400, "invalid_grant", "invalid code_verifier", ""},
		{"no verifier", func(hs *harness, code string) (string, string, []string) {
			return code, "", []string{"rp", hs.secret}
		}, 400, "invalid_request", "code_verifier required", ""},
		{"wrong secret", func(hs *harness, code string) (string, string, []string) {
			return code, v, []string{"rp", "not-the-secret"}
		}, 401, "invalid_client", "wrong client secret", ""},
		{"another client's credentials", func(hs *harness, code string) (string, string, []string) {
			return code, v, []string{"app", ""}
		}, 400, "invalid_grant", "issued to another client", ""},
		{"expired code", func(hs *harness, code string) (string, string, []string) {
			hs.now = hs.now.Add(2 * time.Minute)
			return code, v, []string{"rp", hs.secret}
		}, 400, "invalid_grant", "expired", ""},
		{"forged code", func(hs *harness, code string) (string, string, []string) {
			return code[:len(code)-2] + "AA", v, []string{"rp", hs.secret}
		}, 400, "invalid_grant", "not a value Sekisho sealed", "-"},
		{"user disabled since", func(hs *harness, code string) (string, string, []string) {
			u := hs.users["u1"]
			u.Status = store.UserDisabled
			hs.users["u1"] = u
			return code, v, []string{"rp", hs.secret}
		}, 400, "invalid_grant", "can no longer sign in", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hs := newHarness(t)
			code, verifier, basic := c.prepare(hs, hs.code(t, "rp", callback, ch))
			status, tr := exchange(hs, code, verifier, basic...)
			if status != c.status || tr.Error != c.errCode || tr.IDToken != "" {
				t.Fatalf("%d %+v, want %d %s", status, tr, c.status, c.errCode)
			}
			user := "alice@example.com"
			if c.user == "-" {
				user = "" // a forged code names nobody
			}
			r := hs.audit.last()
			if !strings.HasPrefix(r, "relying-party|"+user+"|token request: "+c.errCode) || !strings.Contains(r, c.record) {
				t.Fatalf("record %q, want one for the relying party naming %q", r, c.record)
			}
		})
	}
	t.Run("grants not served, or not registered for the client, are refused and recorded", func(t *testing.T) {
		hs := newHarness(t)
		for _, c := range []struct{ grant, want, record string }{
			{"client_credentials", "unauthorized_client", "relying-party|rp|token request: unauthorized_client: the client is not registered for the client_credentials grant"},
			{"refresh_token", "unauthorized_client", "relying-party||token request: unauthorized_client"},
			{"urn:ietf:params:oauth:grant-type:jwt-bearer", "unsupported_grant_type", "relying-party||token request: unsupported_grant_type"},
			{"password", "unsupported_grant_type", "relying-party||token request: unsupported_grant_type"},
			{"", "invalid_request", "relying-party||token request: invalid_request"},
		} {
			rec := hs.post(TokenPath, url.Values{"grant_type": {c.grant}, "refresh_token": {"x"}}, "rp", hs.secret)
			var tr tokenResponse
			decode(t, rec.Body.Bytes(), &tr)
			if rec.Code != 400 || tr.Error != c.want || !strings.HasPrefix(hs.audit.last(), c.record) {
				t.Errorf("grant %q: %d %+v, record %q", c.grant, rec.Code, tr, hs.audit.last())
			}
		}
	})
	t.Run("a public client redeems without a secret, PKCE proves it", func(t *testing.T) {
		hs := newHarness(t)
		code := hs.code(t, "app", "com.example.app:/cb", ch)
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {"com.example.app:/cb"},
			"client_id": {"app"}, "code_verifier": {v}}
		rec := hs.post(TokenPath, form)
		var tr tokenResponse
		decode(t, rec.Body.Bytes(), &tr)
		if rec.Code != 200 || tr.Scope != "openid email" {
			t.Fatalf("%d %+v", rec.Code, tr)
		}
	})
}

func TestUserinfo(t *testing.T) {
	v, ch := pkce("v")
	token := func(hs *harness) string {
		code := hs.code(t, "rp", callback, ch)
		rec := hs.post(TokenPath, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {callback},
			"code_verifier": {v}}, "rp", hs.secret)
		var tr tokenResponse
		decode(t, rec.Body.Bytes(), &tr)
		return tr.AccessToken
	}
	call := func(hs *harness, tok string) (int, map[string]any, string) {
		req, _ := http.NewRequest(http.MethodGet, issuer+UserinfoPath, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		rec := httptest.NewRecorder()
		hs.mux.ServeHTTP(rec, req)
		var m map[string]any
		_ = json.Unmarshal(rec.Body.Bytes(), &m)
		return rec.Code, m, rec.Header().Get("WWW-Authenticate")
	}
	hs := newHarness(t)
	tok := token(hs)
	status, m, _ := call(hs, tok)
	if status != 200 || m["sub"] != "u1" || m["email"] != "alice@example.com" || m["name"] != "Alice" || m["preferred_username"] != "alice@example.com" {
		t.Fatalf("%d %v", status, m)
	}
	if g, _ := m["groups"].([]any); len(g) != 1 || g[0] != "staff" {
		t.Fatalf("groups %v", m["groups"])
	}
	cases := []struct {
		name      string
		prepare   func(hs *harness) string
		challenge string
	}{
		{"no token", func(*harness) string { return "" }, `Bearer realm="` + issuer + `"`},
		{"not a token", func(*harness) string { return "abc" }, `error="invalid_token"`},
		{"tampered token", func(hs *harness) string { t := token(hs); return t[:len(t)-3] + "AAA" }, `error="invalid_token"`},
		{"user disabled", func(hs *harness) string {
			tok := token(hs)
			u := hs.users["u1"]
			u.Status = store.UserDisabled
			hs.users["u1"] = u
			return tok
		}, `error="invalid_token"`},
		{"client removed", func(hs *harness) string {
			tok := token(hs)
			hs.apps.remove("rp")
			return tok
		}, `error="invalid_token"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hs := newHarness(t)
			status, _, challenge := call(hs, c.prepare(hs))
			if status != http.StatusUnauthorized || !strings.Contains(challenge, c.challenge) {
				t.Fatalf("%d %q", status, challenge)
			}
		})
	}
}

func TestDiscoveryAndKeys(t *testing.T) {
	hs := newHarness(t)
	rec := hs.get(DiscoveryPath)
	var d map[string]any
	decode(t, rec.Body.Bytes(), &d)
	want := map[string]any{"issuer": issuer, "authorization_endpoint": issuer + AuthorizePath, "token_endpoint": issuer + TokenPath,
		"userinfo_endpoint": issuer + UserinfoPath, "jwks_uri": issuer + KeysPath}
	for k, v := range want {
		if d[k] != v {
			t.Errorf("%s = %v, want %v", k, d[k], v)
		}
	}
	for k, v := range map[string]string{"response_types_supported": "code", "code_challenge_methods_supported": "S256"} {
		if l, _ := d[k].([]any); len(l) != 1 || l[0] != v {
			t.Errorf("%s = %v, want only %s", k, d[k], v)
		}
	}
	for k, v := range map[string]string{"grant_types_supported": "authorization_code refresh_token client_credentials urn:ietf:params:oauth:grant-type:device_code",
		"introspection_endpoint_auth_methods_supported": "client_secret_basic client_secret_post",
		"revocation_endpoint_auth_methods_supported":    "client_secret_basic client_secret_post none",
		"scopes_supported":                      "openid profile email groups offline_access",
		"id_token_signing_alg_values_supported": "RS256 ES256"} {
		var got []string
		for _, x := range d[k].([]any) {
			got = append(got, x.(string))
		}
		if strings.Join(got, " ") != v {
			t.Errorf("%s = %v, want %s", k, got, v)
		}
	}
	if d["introspection_endpoint"] != issuer+IntrospectPath || d["revocation_endpoint"] != issuer+RevokePath {
		t.Errorf("introspection %v revocation %v", d["introspection_endpoint"], d["revocation_endpoint"])
	}
	if d["device_authorization_endpoint"] != issuer+DeviceAuthorizationPath {
		t.Errorf("device_authorization_endpoint %v", d["device_authorization_endpoint"])
	}
	if d["end_session_endpoint"] != issuer+LogoutPath || d["backchannel_logout_supported"] != true || d["backchannel_logout_session_supported"] != true {
		t.Errorf("logout: %v %v %v", d["end_session_endpoint"], d["backchannel_logout_supported"], d["backchannel_logout_session_supported"])
	}
	if st, _ := d["subject_types_supported"].([]any); len(st) != 2 || st[0] != "public" || st[1] != "pairwise" {
		t.Errorf("subject_types_supported %v", d["subject_types_supported"])
	}
	var set jose.JSONWebKeySet
	decode(t, hs.get(KeysPath).Body.Bytes(), &set)
	var ids []string
	for _, k := range set.Keys {
		if !k.IsPublic() || k.Algorithm != "RS256" || k.Use != "sig" {
			t.Errorf("key %s: public %v alg %s use %s", k.KeyID, k.IsPublic(), k.Algorithm, k.Use)
		}
		ids = append(ids, k.KeyID)
	}
	// Current, next (published before it signs) and retired (its tokens still verify).
	if !slices.Equal(ids, []string{"key-retired", "key-current", "key-next"}) {
		t.Fatalf("published keys %v", ids)
	}
}
