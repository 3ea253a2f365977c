package oidc

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/store"
)

const afterLogout = "https://rp.example.com/bye"

// idToken runs a code flow for client (secret) and returns its ID token.
func (hs *harness) idToken(t *testing.T, client, secret string) string {
	t.Helper()
	v, ch := pkce("v")
	code := hs.code(t, client, callback, ch)
	rec := hs.post(TokenPath, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {callback}, "code_verifier": {v}}, client, secret)
	var tr tokenResponse
	decode(t, rec.Body.Bytes(), &tr)
	if rec.Code != http.StatusOK || tr.IDToken == "" {
		t.Fatalf("token: %d %s", rec.Code, rec.Body.String())
	}
	return tr.IDToken
}

func logoutHarness(t *testing.T) (*harness, string) {
	t.Helper()
	hs := newHarness(t)
	secret, hash, _ := hs.h.cfg.Secrets.New("lo")
	hs.apps.put(t, "logging-out", ClientConfig{ClientID: "lo", RedirectURIs: []string{callback}, SecretHash: hash,
		PostLogoutRedirectURIs: []string{afterLogout}})
	return hs, secret
}

func TestRPInitiatedLogout(t *testing.T) {
	cases := []struct {
		name      string
		query     func(hint string) url.Values
		before    func(hs *harness)
		wantCode  int
		wantLoc   string // prefix
		wantEnded bool
		wantRec   string
	}{
		{name: "the client's hint for this session: ended, back to the registered URI with the state",
			query: func(h string) url.Values {
				return url.Values{"id_token_hint": {h}, "post_logout_redirect_uri": {afterLogout}, "state": {"s1"}}
			},
			wantCode: http.StatusFound, wantLoc: afterLogout + "?state=s1", wantEnded: true},
		{name: "an expired hint still counts",
			query: func(h string) url.Values {
				return url.Values{"id_token_hint": {h}, "post_logout_redirect_uri": {afterLogout}}
			},
			before:   func(hs *harness) { hs.now = hs.now.Add(48 * time.Hour) },
			wantCode: http.StatusFound, wantLoc: afterLogout, wantEnded: true},
		{name: "no post-logout URI: Sekisho's signed-out page",
			query:    func(h string) url.Values { return url.Values{"id_token_hint": {h}} },
			wantCode: http.StatusFound, wantLoc: "/logout", wantEnded: true},
		{name: "an unregistered post-logout URI: the error page, nothing ended",
			query: func(h string) url.Values {
				return url.Values{"id_token_hint": {h}, "post_logout_redirect_uri": {"https://evil.example/"}}
			},
			wantCode: http.StatusBadRequest, wantRec: "post_logout_redirect_uri"},
		{name: "no hint: the user is asked on Sekisho's page",
			query: func(string) url.Values {
				return url.Values{"client_id": {"lo"}, "post_logout_redirect_uri": {afterLogout}}
			},
			wantCode: http.StatusSeeOther, wantLoc: "/logout"},
		{name: "a forged hint", query: func(h string) url.Values {
			return url.Values{"id_token_hint": {h[:len(h)-4] + "AAAA"}, "post_logout_redirect_uri": {afterLogout}}
		}, wantCode: http.StatusBadRequest, wantRec: "not an ID token Sekisho issued"},
		{name: "a hint for another session: asked, nothing ended", query: func(h string) url.Values {
			return url.Values{"id_token_hint": {h}, "post_logout_redirect_uri": {afterLogout}}
		}, before: func(hs *harness) {
			hs.sessions.sess = &signin.Session{ID: "_other", UserID: "u1", AuthnInstant: time.Now()}
		},
			wantCode: http.StatusSeeOther, wantLoc: "/logout"},
		{name: "client_id other than the hint's audience", query: func(h string) url.Values {
			return url.Values{"id_token_hint": {h}, "client_id": {"rp"}}
		}, wantCode: http.StatusBadRequest, wantRec: "audience"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hs, secret := logoutHarness(t)
			hint := hs.idToken(t, "lo", secret)
			if tc.before != nil {
				tc.before(hs)
			}
			rec := hs.get(LogoutPath + "?" + tc.query(hint).Encode())
			if rec.Code != tc.wantCode || !strings.HasPrefix(rec.Header().Get("Location"), tc.wantLoc) || (hs.sessions.ended > 0) != tc.wantEnded {
				t.Fatalf("%d %q ended %d", rec.Code, rec.Header().Get("Location"), hs.sessions.ended)
			}
			if tc.wantRec != "" && !strings.Contains(hs.audit.last(), tc.wantRec) {
				t.Fatalf("record %q", hs.audit.last())
			}
		})
	}
}

func TestLogoutTellsTheSessionsSAMLApplications(t *testing.T) {
	hs, secret := logoutHarness(t)
	hint := hs.idToken(t, "lo", secret)
	hs.sessions.apps = []string{"logging-out", "wiki"}
	var gotApps []string
	var gotFinal, gotIndex, gotUser string
	hs.h.cfg.SAMLLogout = func(w http.ResponseWriter, r *http.Request, u store.User, apps []string, sessionIndex, final string) bool {
		gotApps, gotFinal, gotIndex, gotUser = apps, final, sessionIndex, u.UPN
		http.Redirect(w, r, "https://wiki.example.com/slo?SAMLRequest=x", http.StatusFound)
		return true
	}
	rec := hs.get(LogoutPath + "?" + url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {afterLogout}, "state": {"s2"}}.Encode())
	if rec.Code != http.StatusFound || !strings.HasPrefix(rec.Header().Get("Location"), "https://wiki.example.com/slo") || hs.sessions.ended != 1 {
		t.Fatalf("%d %s ended %d", rec.Code, rec.Header().Get("Location"), hs.sessions.ended)
	}
	if len(gotApps) != 2 || gotFinal != afterLogout+"?state=s2" || gotIndex != "_sess1" || gotUser != "alice@example.com" {
		t.Fatalf("SAML logout asked with %v %q %q %q", gotApps, gotFinal, gotIndex, gotUser)
	}
}

func TestBackchannelLogout(t *testing.T) {
	hs := newHarness(t)
	got := make(chan url.Values, 4)
	rp := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		q, _ := url.ParseQuery(string(b))
		got <- q
		if strings.Contains(r.URL.Path, "broken") {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer rp.Close()
	secret := func(id string) []byte { _, h, _ := hs.h.cfg.Secrets.New(id); return h }
	hs.apps.put(t, "with-backchannel", ClientConfig{ClientID: "bc", RedirectURIs: []string{callback}, SecretHash: secret("bc"),
		BackchannelLogoutURI: rp.URL + "/logout"})
	hs.apps.put(t, "pairwise-backchannel", ClientConfig{ClientID: "pbc", RedirectURIs: []string{"https://other.example.com/cb"}, SecretHash: secret("pbc"),
		SubjectType: SubjectPairwise, BackchannelLogoutURI: rp.URL + "/broken"})
	hs.h.cfg.AppsByName, hs.h.cfg.HTTPClient = hs.apps, rp.Client()
	done := make(chan int, 1)
	hs.h.logoutDone = func(n int) { done <- n }

	// "relying-party" has no back-channel URI, "saml-wiki" is not a client: only two tokens go out.
	hs.h.BackchannelLogout(context.Background(), signin.EndedSession{ID: "_sess1", UserID: "u1",
		Apps: []string{"relying-party", "with-backchannel", "pairwise-backchannel", "saml-wiki"}})
	if n := <-done; n != 2 {
		t.Fatalf("%d deliveries", n)
	}
	subs := map[string]string{}
	for range 2 {
		q := <-got
		jws, err := jose.ParseSignedCompact(q.Get("logout_token"), []jose.SignatureAlgorithm{jose.RS256})
		if err != nil {
			t.Fatal(err)
		}
		if typ, _ := jws.Signatures[0].Protected.ExtraHeaders["typ"].(string); typ != "logout+jwt" || jws.Signatures[0].Header.KeyID != "key-current" {
			t.Fatalf("header %+v", jws.Signatures[0].Protected)
		}
		payload, err := jws.Verify(tokenKeysForTest(t)[1].Cert.PublicKey)
		if err != nil {
			t.Fatalf("signature: %v", err)
		}
		var c map[string]any
		decode(t, payload, &c)
		events, _ := c["events"].(map[string]any)
		if _, ok := events[EventBackchannelLogout]; !ok || c["iss"] != issuer || c["sid"] != "_sess1" || c["nonce"] != nil || c["jti"] == nil {
			t.Fatalf("claims %v", c)
		}
		subs[c["aud"].(string)] = c["sub"].(string)
	}
	if subs["bc"] != "u1" || subs["pbc"] == "" || subs["pbc"] == "u1" {
		t.Fatalf("subjects %v", subs)
	}
	if subs["pbc"] != hs.h.subjectFor(ClientConfig{ClientID: "pbc", RedirectURIs: []string{"https://other.example.com/cb"}, SubjectType: SubjectPairwise}, "u1") {
		t.Fatal("the pairwise logout token's sub is not the client's subject")
	}
}

func TestPairwiseSubjects(t *testing.T) {
	hs := newHarness(t)
	secrets := map[string]string{}
	for _, c := range []struct{ id, redirect string }{{"pw1", callback}, {"pw2", callback}, {"pw3", "https://other.example.com/cb"}} {
		s, h, _ := hs.h.cfg.Secrets.New(c.id)
		secrets[c.id] = s
		hs.apps.put(t, "app-"+c.id, ClientConfig{ClientID: c.id, RedirectURIs: []string{c.redirect}, SecretHash: h, SubjectType: SubjectPairwise,
			Grants: []string{GrantAuthorizationCode, GrantRefreshToken}})
	}
	run := func(id, redirect string) tokenResponse {
		v, ch := pkce("v")
		loc, _ := url.Parse(hs.get(authzQuery(id, redirect, ch, "scope", "openid email offline_access")).Header().Get("Location"))
		code := loc.Query().Get("code")
		rec := hs.post(TokenPath, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}, "code_verifier": {v}}, id, secrets[id])
		var tr tokenResponse
		decode(t, rec.Body.Bytes(), &tr)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", id, rec.Code, rec.Body.String())
		}
		return tr
	}
	tr1 := run("pw1", callback)
	sub1 := parseJWT(t, tr1.IDToken)["sub"].(string)
	if sub1 == "u1" || len(sub1) < 40 {
		t.Fatalf("pairwise sub %q", sub1)
	}
	access := parseJWT(t, tr1.AccessToken)
	if access["sub"] != sub1 || access[ClaimUserRef] == nil {
		t.Fatalf("access token %v", access)
	}
	// No claim names the user's own ID. (The compact token itself may hold "u1" by chance:
	// base64 of random bytes.)
	for k, v := range access {
		if v == "u1" {
			t.Fatalf("access token claim %s names the user: %v", k, access)
		}
	}
	if sub2 := parseJWT(t, run("pw2", callback).IDToken)["sub"]; sub2 != sub1 {
		t.Fatalf("same sector, different subjects: %v %v", sub1, sub2)
	}
	if sub3 := parseJWT(t, run("pw3", "https://other.example.com/cb").IDToken)["sub"]; sub3 == sub1 || sub3 == "u1" {
		t.Fatalf("another sector, same subject: %v", sub3)
	}
	// Userinfo and introspection describe the user under the client's subject.
	req := httptest.NewRequest(http.MethodGet, issuer+UserinfoPath, nil)
	req.Header.Set("Authorization", "Bearer "+tr1.AccessToken)
	rec := httptest.NewRecorder()
	hs.mux.ServeHTTP(rec, req)
	var info map[string]any
	decode(t, rec.Body.Bytes(), &info)
	if rec.Code != http.StatusOK || info["sub"] != sub1 || info["email"] != "alice@example.com" {
		t.Fatalf("userinfo %d %v", rec.Code, info)
	}
	rec2 := hs.post(IntrospectPath, url.Values{"token": {tr1.AccessToken}}, "pw1", secrets["pw1"])
	var in map[string]any
	decode(t, rec2.Body.Bytes(), &in)
	if in["active"] != true || in["sub"] != sub1 || in["username"] != "alice@example.com" {
		t.Fatalf("introspection %v", in)
	}
	// A refreshed ID token keeps the subject.
	rec3 := hs.post(TokenPath, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr1.RefreshToken}}, "pw1", secrets["pw1"])
	var tr tokenResponse
	decode(t, rec3.Body.Bytes(), &tr)
	if rec3.Code != http.StatusOK || tr.IDToken == "" || parseJWT(t, tr.IDToken)["sub"] != sub1 || parseJWT(t, tr.AccessToken)["sub"] != sub1 {
		t.Fatalf("refresh: %d %s", rec3.Code, rec3.Body.String())
	}
}
