// Package oidc runs OpenID Connect relying parties built on independent libraries —
// coreos/go-oidc (discovery, JWKS, ID token verification, userinfo) and golang.org/x/oauth2
// (authorization code with PKCE) — against a complete Sekisho: a browser with a cookie jar
// fills Sekisho's own sign-in form, the gate judges every authorization, and every refusal
// has its sign-in record.
package oidc

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/sekisho/sekisho/internal/admin"
	"github.com/sekisho/sekisho/internal/keys"
	"github.com/sekisho/sekisho/internal/setup"
	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/testutil/idptest"
	"github.com/sekisho/sekisho/internal/wiring"
)

const (
	rpCallback     = "https://intranet.example.com/oidc/callback"
	cliCallback    = "http://127.0.0.1:8400/callback"
	portalCallback = "https://portal.example.com/callback"
)

// denyBob refuses bob@example.com the intranet, and the reports-bot client everything: the
// demo policy with two rules in front (loopback counts as the office, so the rest is allowed).
var denyBob = strings.Replace(setup.DemoPolicy, "rules:\n", `rules:
  - name: no-intranet-for-bob
    users: [bob@example.com]
    applications: [intranet]
    action: deny

  - name: no-reports-bot
    applications: [reports-bot]
    action: deny

`, 1)

type env struct {
	idp      *idptest.IdP
	ctx      context.Context
	provider *gooidc.Provider
	conf     admin.AddedOIDCClient // confidential: "intranet"
	pub      admin.AddedOIDCClient // public: "cli"
	portal   admin.AddedOIDCClient // confidential with refresh tokens: "portal"
	batch    admin.AddedOIDCClient // client_credentials: "batch" (allowed from the office)
	bot      admin.AddedOIDCClient // client_credentials: "reports-bot" (refused by the policy)
	tv       admin.AddedOIDCClient // public, device grant with refresh tokens: "television"
}

func start(t *testing.T) *env {
	t.Helper()
	e := &env{}
	actor := admin.Actor{Name: "os:test", Via: "cli"}
	e.idp = idptest.Start(t, idptest.Options{Prepare: func(ctx context.Context, in *setup.Instance) error {
		var err error
		if e.conf, err = in.Admin.AddOIDCClient(ctx, actor, "intranet", admin.NewOIDCClient{RedirectURIs: []string{rpCallback}}); err != nil {
			return err
		}
		if e.pub, err = in.Admin.AddOIDCClient(ctx, actor, "cli", admin.NewOIDCClient{Public: true, RedirectURIs: []string{cliCallback},
			Scopes: []string{"openid", "email"}}); err != nil {
			return err
		}
		if e.portal, err = in.Admin.AddOIDCClient(ctx, actor, "portal", admin.NewOIDCClient{RedirectURIs: []string{portalCallback},
			Grants: []string{"authorization_code", "refresh_token"}}); err != nil {
			return err
		}
		if e.batch, err = in.Admin.AddOIDCClient(ctx, actor, "batch", admin.NewOIDCClient{Grants: []string{"client_credentials"}}); err != nil {
			return err
		}
		if e.bot, err = in.Admin.AddOIDCClient(ctx, actor, "reports-bot", admin.NewOIDCClient{Grants: []string{"client_credentials"}}); err != nil {
			return err
		}
		if e.tv, err = in.Admin.AddOIDCClient(ctx, actor, "television", admin.NewOIDCClient{Public: true,
			Grants: []string{"device_code", "refresh_token"}, Scopes: []string{"openid", "email", "profile"}}); err != nil {
			return err
		}
		_, err = in.Admin.PublishPolicy(ctx, actor, "policy.yaml", []byte(denyBob), "deny bob the intranet")
		return err
	}})
	e.ctx = gooidc.ClientContext(context.Background(), &http.Client{Transport: e.idp.Client().Transport})
	var err error
	if e.provider, err = gooidc.NewProvider(e.ctx, e.idp.URL); err != nil {
		t.Fatalf("discovery: %v", err)
	}
	return e
}

// confidential is the intranet's client, authenticating with client_secret_basic (an explicit
// style: oauth2's auto-detection would retry a refused request in the other style).
func (e *env) confidential() *oauth2.Config {
	ep := e.provider.Endpoint()
	ep.AuthStyle = oauth2.AuthStyleInHeader
	return &oauth2.Config{ClientID: e.conf.Client.ClientID, ClientSecret: e.conf.Secret, Endpoint: ep,
		RedirectURL: rpCallback, Scopes: []string{gooidc.ScopeOpenID, "profile", "email", "groups"}}
}

func (e *env) public() *oauth2.Config {
	ep := e.provider.Endpoint()
	ep.AuthStyle = oauth2.AuthStyleInParams
	return &oauth2.Config{ClientID: e.pub.Client.ClientID, Endpoint: ep, RedirectURL: cliCallback, Scopes: []string{gooidc.ScopeOpenID, "email"}}
}

// browser is a user agent with its own cookie jar; it follows no redirect by itself.
type browser struct {
	t    *testing.T
	c    *http.Client
	base string
}

func (e *env) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: e.idp.URL, c: &http.Client{Jar: jar, Transport: e.idp.Client().Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(method, u string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	var resp *http.Response
	var err error
	if method == http.MethodPost {
		resp, err = b.c.PostForm(u, form)
	} else {
		resp, err = b.c.Get(u)
	}
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, u, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

var hiddenRe = regexp.MustCompile(`<input type="hidden" name="(csrf|return_to|force|app)" value="([^"]*)">`)

// authorize walks the browser from the authorization URL to the redirect to the client,
// signing in at Sekisho's form when asked (user "" means the browser must have a session).
// It returns the last response: the redirect to the client, or the page that stopped it.
func (b *browser) authorize(authURL, user, password string) (*http.Response, string) {
	b.t.Helper()
	u := authURL
	for range 8 {
		resp, body := b.do(http.MethodGet, u, nil)
		loc := resp.Header.Get("Location")
		switch {
		case resp.StatusCode == http.StatusSeeOther && strings.HasPrefix(loc, "/login?"):
			if user == "" {
				b.t.Fatalf("sent to the sign-in page without a user to sign in: %s", loc)
			}
			_, page := b.do(http.MethodGet, b.base+loc, nil)
			form := url.Values{"step": {"password"}, "username": {user}, "password": {password}}
			for _, m := range hiddenRe.FindAllStringSubmatch(page, -1) {
				form.Set(m[1], html.UnescapeString(m[2]))
			}
			if form.Get("csrf") == "" {
				b.t.Fatalf("no CSRF field in the sign-in page:\n%.500s", page)
			}
			resp, body = b.do(http.MethodPost, b.base+"/login", form)
			if resp.StatusCode != http.StatusSeeOther {
				b.t.Fatalf("sign-in as %s: %d\n%.500s", user, resp.StatusCode, body)
			}
			u, user = b.base+resp.Header.Get("Location"), ""
		case resp.StatusCode == http.StatusSeeOther && strings.HasPrefix(loc, "/"):
			u = b.base + loc
		default:
			return resp, body
		}
	}
	b.t.Fatal("too many redirects")
	return nil, ""
}

// codeFrom checks a redirect to the client and returns its code.
func codeFrom(t *testing.T, resp *http.Response, body, callback, state string) string {
	t.Helper()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, callback+"?") {
		t.Fatalf("want a redirect to %s, got %d %s\n%.500s", callback, resp.StatusCode, loc, body)
	}
	q := mustParse(t, loc).Query()
	if q.Get("error") != "" {
		t.Fatalf("error at the callback: %s: %s", q.Get("error"), q.Get("error_description"))
	}
	if q.Get("state") != state {
		t.Fatalf("state %q, want %q", q.Get("state"), state)
	}
	if q.Get("code") == "" {
		t.Fatalf("no code in %s", loc)
	}
	return q.Get("code")
}

func mustParse(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func (e *env) records(t *testing.T, f store.SignInFilter) []store.SignInEvent {
	t.Helper()
	evs, err := e.idp.Services.Instance.Store.ListSignIns(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func (e *env) last(t *testing.T) store.SignInEvent {
	t.Helper()
	evs := e.records(t, store.SignInFilter{})
	if len(evs) == 0 {
		t.Fatal("no sign-in records")
	}
	return evs[len(evs)-1]
}

// refusedRecord asserts that the last record is a refusal of protocol oidc naming app and
// containing reason.
func (e *env) refusedRecord(t *testing.T, app, user, reason string) store.SignInEvent {
	t.Helper()
	ev := e.last(t)
	if ev.Protocol != "oidc" || ev.ClientType != "oidc" || ev.Decision != "error" || ev.Application != app ||
		ev.Username != user || !strings.Contains(ev.Reason, reason) {
		t.Fatalf("record %+v\nwant an oidc refusal of %s for %q with %q", ev, app, user, reason)
	}
	return ev
}

func (e *env) user(t *testing.T, upn string) store.User {
	t.Helper()
	u, err := e.idp.Services.Instance.Store.GetUserByUPN(context.Background(), upn)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

type idClaims struct {
	Email             string   `json:"email"`
	EmailVerified     bool     `json:"email_verified"`
	Name              string   `json:"name"`
	PreferredUsername string   `json:"preferred_username"`
	Groups            []string `json:"groups"`
	AMR               []string `json:"amr"`
	ACR               string   `json:"acr"`
	JTI               string   `json:"jti"`
	SID               string   `json:"sid"`
	AuthTime          int64    `json:"auth_time"`
}

func jwtPart(t *testing.T, jwt string, i int, v any) {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS compact serialisation: %.80s", jwt)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

// TestCodeFlowWithGoOIDC: the full code + PKCE flow of a confidential client, the ID token
// verified by go-oidc from discovery and JWKS, userinfo; then each refusal — a replayed code,
// a wrong PKCE verifier, a wrong client secret, an unregistered redirect_uri, a policy denial —
// refused and recorded.
func TestCodeFlowWithGoOIDC(t *testing.T) {
	e := start(t)
	cfg := e.confidential()
	alice := e.browser(t)
	verifier := oauth2.GenerateVerifier()
	authURL := cfg.AuthCodeURL("st-1", oauth2.S256ChallengeOption(verifier), gooidc.Nonce("n-1"))
	resp, body := alice.authorize(authURL, "alice@example.com", e.idp.Password("alice@example.com"))
	code := codeFrom(t, resp, body, rpCallback, "st-1")
	allow := e.last(t)
	if allow.Decision != "allow" || allow.Application != "intranet" || allow.Protocol != "oidc" || allow.ClientType != "oidc" ||
		allow.Username != "alice@example.com" {
		t.Fatalf("the authorization's record: %+v", allow)
	}

	var tok *oauth2.Token
	t.Run("code exchange and ID token", func(t *testing.T) {
		var err error
		if tok, err = cfg.Exchange(e.ctx, code, oauth2.VerifierOption(verifier)); err != nil {
			t.Fatalf("exchange: %v", err)
		}
		raw, _ := tok.Extra("id_token").(string)
		idt, err := e.provider.Verifier(&gooidc.Config{ClientID: cfg.ClientID}).Verify(e.ctx, raw)
		if err != nil {
			t.Fatalf("go-oidc verify: %v", err)
		}
		u := e.user(t, "alice@example.com")
		var c idClaims
		if err := idt.Claims(&c); err != nil {
			t.Fatal(err)
		}
		switch {
		case idt.Subject != u.ID || idt.Nonce != "n-1" || idt.Issuer != e.idp.URL:
			t.Errorf("sub %q nonce %q iss %q", idt.Subject, idt.Nonce, idt.Issuer)
		case c.Email != "alice@example.com" || !c.EmailVerified || c.Name != "Alice Sato" || c.PreferredUsername != "alice@example.com":
			t.Errorf("profile and email claims: %+v", c)
		case !slices.Contains(c.Groups, "sales") || !slices.Contains(c.Groups, "staff"):
			t.Errorf("groups %v", c.Groups)
		case !slices.Equal(c.AMR, []string{"pwd"}) || c.ACR != "https://refeds.org/profile/sfa":
			t.Errorf("amr %v acr %q (a password alone)", c.AMR, c.ACR)
		case c.JTI != "_"+allow.ID:
			t.Errorf("ID token jti %q, want _%s (the sign-in record)", c.JTI, allow.ID)
		case c.SID == "" || c.AuthTime == 0:
			t.Errorf("sid %q auth_time %d", c.SID, c.AuthTime)
		}
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			t.Errorf("at_hash: %v", err)
		}
		var hdr struct{ Kid, Alg string }
		jwtPart(t, raw, 0, &hdr)
		cur, err := e.idp.Services.Instance.Keys.Current(context.Background(), keys.PurposeToken)
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Kid != cur.ID || hdr.Alg != "RS256" {
			t.Errorf("ID token header %+v, want kid %s RS256", hdr, cur.ID)
		}
		var at map[string]any
		jwtPart(t, tok.AccessToken, 1, &at)
		if at["jti"] != "_"+allow.ID || at["scope"] != "openid profile email groups" || at["sub"] != u.ID || at["client_id"] != cfg.ClientID {
			t.Errorf("access token claims %v", at)
		}
	})
	if tok == nil {
		t.FailNow()
	}

	t.Run("userinfo", func(t *testing.T) {
		ui, err := e.provider.UserInfo(e.ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			t.Fatalf("userinfo: %v", err)
		}
		var c idClaims
		if err := ui.Claims(&c); err != nil {
			t.Fatal(err)
		}
		if ui.Subject != e.user(t, "alice@example.com").ID || ui.Email != "alice@example.com" || !ui.EmailVerified ||
			c.Name != "Alice Sato" || !slices.Contains(c.Groups, "sales") {
			t.Errorf("userinfo %+v %+v", ui, c)
		}
		// A token that is not Sekisho's is refused with a Bearer challenge.
		req, _ := http.NewRequest(http.MethodGet, e.idp.URL+"/oidc/userinfo", nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken[:len(tok.AccessToken)-4]+"AAAA")
		r, err := e.idp.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != http.StatusUnauthorized || !strings.Contains(r.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("forged token: %d %q", r.StatusCode, r.Header.Get("WWW-Authenticate"))
		}
	})

	t.Run("replayed code", func(t *testing.T) {
		_, err := cfg.Exchange(e.ctx, code, oauth2.VerifierOption(verifier))
		wantGrantError(t, err, "invalid_grant")
		e.refusedRecord(t, "intranet", "alice@example.com", "already used")
	})

	t.Run("wrong PKCE verifier", func(t *testing.T) {
		v := oauth2.GenerateVerifier()
		resp, body := alice.authorize(cfg.AuthCodeURL("st-2", oauth2.S256ChallengeOption(v)), "", "") // SSO: no sign-in page
		code := codeFrom(t, resp, body, rpCallback, "st-2")
		_, err := cfg.Exchange(e.ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
		wantGrantError(t, err, "invalid_grant")
		e.refusedRecord(t, "intranet", "alice@example.com", "invalid code_verifier")
		// The code was presented once: the right verifier now finds it spent.
		_, err = cfg.Exchange(e.ctx, code, oauth2.VerifierOption(v))
		wantGrantError(t, err, "invalid_grant")
		e.refusedRecord(t, "intranet", "alice@example.com", "already used")
	})

	t.Run("wrong client secret", func(t *testing.T) {
		v := oauth2.GenerateVerifier()
		resp, body := alice.authorize(cfg.AuthCodeURL("st-3", oauth2.S256ChallengeOption(v)), "", "")
		code := codeFrom(t, resp, body, rpCallback, "st-3")
		bad := *cfg
		bad.ClientSecret = strings.Repeat("x", 43)
		_, err := bad.Exchange(e.ctx, code, oauth2.VerifierOption(v))
		wantGrantError(t, err, "invalid_client")
		e.refusedRecord(t, "intranet", "alice@example.com", "wrong client secret")
	})

	t.Run("client_secret_post", func(t *testing.T) {
		v := oauth2.GenerateVerifier()
		resp, body := alice.authorize(cfg.AuthCodeURL("st-post", oauth2.S256ChallengeOption(v)), "", "")
		code := codeFrom(t, resp, body, rpCallback, "st-post")
		post := *cfg
		post.Endpoint.AuthStyle = oauth2.AuthStyleInParams
		if _, err := post.Exchange(e.ctx, code, oauth2.VerifierOption(v)); err != nil {
			t.Fatalf("client_secret_post: %v", err)
		}
	})

	t.Run("unregistered redirect_uri", func(t *testing.T) {
		evil := *cfg
		evil.RedirectURL = "https://evil.example/callback"
		resp, body := alice.authorize(evil.AuthCodeURL("st-4", oauth2.S256ChallengeOption(verifier)), "", "")
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Fatalf("want an error page and no redirect, got %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		ev := e.refusedRecord(t, "intranet", "", "is not registered for this client")
		if !strings.Contains(body, ev.ID) {
			t.Errorf("the error page does not show the reference %s:\n%.800s", ev.ID, body)
		}
		// A prefix or a changed port of a registered URI is no better.
		for _, u := range []string{rpCallback + "/x", rpCallback + "?a=1", strings.Replace(rpCallback, ".com", ".com:8443", 1)} {
			evil.RedirectURL = u
			if resp, _ := alice.authorize(evil.AuthCodeURL("st"), "", ""); resp.StatusCode != http.StatusBadRequest {
				t.Errorf("redirect_uri %s: %d %s", u, resp.StatusCode, resp.Header.Get("Location"))
			}
		}
	})

	t.Run("unknown client", func(t *testing.T) {
		other := *cfg
		other.ClientID = "not-registered"
		resp, _ := alice.authorize(other.AuthCodeURL("st-5"), "", "")
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Fatalf("unknown client: %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		e.refusedRecord(t, "", "", "not a registered client")
	})

	t.Run("policy denial", func(t *testing.T) {
		bob := e.browser(t)
		resp, body := bob.authorize(cfg.AuthCodeURL("st-6", oauth2.S256ChallengeOption(verifier)), "bob@example.com", e.idp.Password("bob@example.com"))
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Location") != "" {
			t.Fatalf("want the denial page, got %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		ev := e.last(t)
		if ev.Decision != "deny" || ev.Rule != "no-intranet-for-bob" || ev.Application != "intranet" || ev.Username != "bob@example.com" ||
			ev.Protocol != "oidc" {
			t.Fatalf("record %+v", ev)
		}
		if !strings.Contains(body, ev.ID) {
			t.Errorf("the denial page does not show the reference %s:\n%.800s", ev.ID, body)
		}
	})
}

func wantGrantError(t *testing.T, err error, code string) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != code {
		t.Fatalf("want the token endpoint's %s, got %v", code, err)
	}
}

// TestPublicClientPKCE: a public client must send an S256 challenge (none or plain is sent
// back to it as invalid_request, and recorded), redeems its code without a secret, and is
// granted only the scopes it is allowed.
func TestPublicClientPKCE(t *testing.T) {
	e := start(t)
	cfg := e.public()
	b := e.browser(t)
	for _, c := range []struct {
		name   string
		opts   []oauth2.AuthCodeOption
		reason string
	}{
		{"no challenge", nil, "PKCE is required"},
		{"plain", []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("code_challenge", strings.Repeat("a", 43)),
			oauth2.SetAuthURLParam("code_challenge_method", "plain")}, "must be S256"},
		{"challenge without method (plain)", []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("code_challenge", strings.Repeat("a", 43))}, "must be S256"},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, _ := b.authorize(cfg.AuthCodeURL("st", c.opts...), "", "")
			loc := resp.Header.Get("Location")
			if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, cliCallback+"?") {
				t.Fatalf("want an error sent to the client, got %d %q", resp.StatusCode, loc)
			}
			if q := mustParse(t, loc).Query(); q.Get("error") != "invalid_request" || q.Get("state") != "st" || q.Get("code") != "" {
				t.Fatalf("callback %s", loc)
			}
			e.refusedRecord(t, "cli", "", c.reason)
		})
	}
	t.Run("S256", func(t *testing.T) {
		v := oauth2.GenerateVerifier()
		authURL := cfg.AuthCodeURL("st-ok", oauth2.S256ChallengeOption(v), oauth2.SetAuthURLParam("scope", "openid email profile groups"))
		resp, body := b.authorize(authURL, "alice@example.com", e.idp.Password("alice@example.com"))
		code := codeFrom(t, resp, body, cliCallback, "st-ok")
		tok, err := cfg.Exchange(e.ctx, code, oauth2.VerifierOption(v))
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		idt, err := e.provider.Verifier(&gooidc.Config{ClientID: cfg.ClientID}).Verify(e.ctx, tok.Extra("id_token").(string))
		if err != nil {
			t.Fatal(err)
		}
		var c idClaims
		_ = idt.Claims(&c)
		if c.Email != "alice@example.com" || c.Name != "" || c.Groups != nil {
			t.Errorf("a client allowed openid and email got %+v", c)
		}
		if s, _ := tok.Extra("scope").(string); s != "openid email" {
			t.Errorf("granted scope %q", s)
		}
	})
}

// TestMFAClaims: a session with a second factor is reported as such (amr, acr).
func TestMFAClaims(t *testing.T) {
	e := start(t)
	cfg := e.confidential()
	carol := e.user(t, "carol@example.com") // it-admins: the demo policy asks for a second factor
	b := e.browser(t)
	rec := httptest.NewRecorder()
	if _, err := e.idp.Services.Sessions.Create(context.Background(), rec, carol, []string{"pwd", "totp"}, true, ""); err != nil {
		t.Fatal(err)
	}
	b.c.Jar.SetCookies(mustParse(t, e.idp.URL), rec.Result().Cookies())
	v := oauth2.GenerateVerifier()
	resp, body := b.authorize(cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(v)), "", "")
	tok, err := cfg.Exchange(e.ctx, codeFrom(t, resp, body, rpCallback, "st"), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	idt, err := e.provider.Verifier(&gooidc.Config{ClientID: cfg.ClientID}).Verify(e.ctx, tok.Extra("id_token").(string))
	if err != nil {
		t.Fatal(err)
	}
	var c idClaims
	_ = idt.Claims(&c)
	if !slices.Equal(c.AMR, []string{"pwd", "otp", "mfa"}) || c.ACR != "https://refeds.org/profile/mfa" {
		t.Errorf("amr %v acr %q", c.AMR, c.ACR)
	}
	if ev := e.last(t); ev.Decision != "allow" || !ev.MFA || ev.Rule != "it-admins-need-mfa" {
		t.Errorf("record %+v", ev)
	}
}

// TestAnyNodeFinishesTheFlow: a second node on the same data folder (its own store
// connection and caches) serves the sign-in's return and the token request of a flow the
// first node started: nothing of the flow is kept in a process.
func TestAnyNodeFinishesTheFlow(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	in, err := setup.Open(ctx, e.idp.DataDir, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close() })
	svc, err := wiring.Build(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := svc.TLSConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	nodeB := httptest.NewUnstartedServer(svc.Server.Handler())
	nodeB.TLS = tlsCfg
	nodeB.StartTLS()
	t.Cleanup(nodeB.Close)
	bURL := strings.Replace(nodeB.URL, "127.0.0.1", "localhost", 1)

	cfg := e.confidential()
	b := e.browser(t)
	v := oauth2.GenerateVerifier()
	// Node A: the request, and the sign-in form.
	resp, _ := b.do(http.MethodGet, cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(v)), nil)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/login?") {
		t.Fatalf("node a: %d %s", resp.StatusCode, loc)
	}
	_, page := b.do(http.MethodGet, e.idp.URL+loc, nil)
	form := url.Values{"step": {"password"}, "username": {"alice@example.com"}, "password": {e.idp.Password("alice@example.com")}}
	for _, m := range hiddenRe.FindAllStringSubmatch(page, -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	resp, _ = b.do(http.MethodPost, e.idp.URL+"/login", form)
	ret := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(ret, "/oidc/authorize?resume=") {
		t.Fatalf("sign-in: %d %s", resp.StatusCode, ret)
	}
	// Node B: the return from the sign-in page (cookies are per host, not port: the browser
	// sends its session to node B too).
	resp, body := b.do(http.MethodGet, bURL+ret, nil)
	code := codeFrom(t, resp, body, rpCallback, "st")
	// The same resume link is answered once, whichever node gets it.
	if resp, _ := b.do(http.MethodGet, e.idp.URL+ret, nil); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("resume link answered twice: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Node B's token endpoint redeems it; the ID token verifies against node A's discovery.
	onB := *cfg
	onB.Endpoint.TokenURL = bURL + "/oidc/token"
	bctx := gooidc.ClientContext(ctx, &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.idp.CAPool}}})
	tok, err := onB.Exchange(bctx, code, oauth2.VerifierOption(v))
	if err != nil {
		t.Fatalf("exchange on node b: %v", err)
	}
	if _, err := e.provider.Verifier(&gooidc.Config{ClientID: cfg.ClientID}).Verify(e.ctx, tok.Extra("id_token").(string)); err != nil {
		t.Fatal(err)
	}
	// And node A refuses it now.
	_, err = cfg.Exchange(e.ctx, code, oauth2.VerifierOption(v))
	wantGrantError(t, err, "invalid_grant")
}
