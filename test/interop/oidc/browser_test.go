package oidc

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/sekisho/sekisho/internal/admin"
	"github.com/sekisho/sekisho/internal/setup"
	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/testutil/chromium"
	"github.com/sekisho/sekisho/internal/testutil/idptest"
)

// The code flow in a real browser: Chromium (internal/testutil/chromium) follows Sekisho's
// redirects, fills its sign-in form and arrives at a relying party listening on loopback —
// here coreos/go-oidc with golang.org/x/oauth2, in node_test.go Node's openid-client.

// stepTimeout bounds one browser step (a navigation and the element it waits for).
const stepTimeout = 30 * time.Second

// loopback listens on a free port of 127.0.0.1 for a relying party's callback, so that its
// exact redirect URI is known before the client is registered.
func loopback(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// startWithClient starts Sekisho with one confidential client named app, registered for the
// authorization_code and refresh_token grants with callback as its only redirect URI.
func startWithClient(t *testing.T, app, callback string) (*env, admin.AddedOIDCClient) {
	t.Helper()
	e := &env{}
	var rp admin.AddedOIDCClient
	e.idp = idptest.Start(t, idptest.Options{Prepare: func(ctx context.Context, in *setup.Instance) error {
		var err error
		rp, err = in.Admin.AddOIDCClient(ctx, actor, app, admin.NewOIDCClient{RedirectURIs: []string{callback},
			Grants: []string{"authorization_code", "refresh_token"}})
		return err
	}})
	e.ctx = gooidc.ClientContext(context.Background(), &http.Client{Transport: e.idp.Client().Transport})
	var err error
	if e.provider, err = gooidc.NewProvider(e.ctx, e.idp.URL); err != nil {
		t.Fatalf("discovery: %v", err)
	}
	return e, rp
}

// chrome is one headless Chromium with one tab. Sekisho's certificate is from its own test
// CA, hence --ignore-certificate-errors (the relying parties check it with the CA).
type chrome struct {
	ctx context.Context

	mu   sync.Mutex
	docs []string // "GET URL" of every document request and "STATUS URL" of every response, redirects included
}

func newChrome(t *testing.T, exe string) *chrome {
	t.Helper()
	c := &chrome{ctx: chromium.Start(t, exe, chromedp.IgnoreCertErrors)}
	// Listen starts the browser on the long-lived context (a step's deadline must not end it).
	if err := chromedp.Listen(c.ctx, func(ev any) {
		c.mu.Lock()
		defer c.mu.Unlock()
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			if e.Type == network.ResourceTypeDocument {
				c.docs = append(c.docs, e.Request.Method+" "+e.Request.URL)
			}
		case *network.EventResponseReceived:
			if e.Type == network.ResourceTypeDocument {
				c.docs = append(c.docs, strconv.FormatInt(e.Response.Status, 10)+" "+e.Response.URL)
			}
		case *cdplog.EventEntryAdded:
			// What the browser itself refused (a CSP violation, a blocked navigation…).
			if e.Entry.Level == cdplog.EntryLevelError {
				c.docs = append(c.docs, "console error: "+e.Entry.Text)
			}
		}
	}); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	ctx, cancel := context.WithTimeout(c.ctx, stepTimeout)
	defer cancel()
	if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatalf("enable the log domain: %v", err)
	}
	return c
}

// do runs actions under a step deadline; on failure it says where the browser is.
func (c *chrome) do(t *testing.T, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		sctx, scancel := context.WithTimeout(c.ctx, 5*time.Second)
		defer scancel()
		loc, _ := chromedp.Run(sctx, chromedp.Location())
		body, _ := chromedp.Run(sctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		t.Fatalf("%s: %v\nbrowser at %s\n%.2000s\ndocuments: %v", what, err, loc, body, c.documents())
	}
}

func (c *chrome) text(t *testing.T, sel string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(v)
}

func (c *chrome) location(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// documents returns the document requests and responses since the last call.
func (c *chrome) documents() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.docs
	c.docs = nil
	return d
}

// signIn sends the browser to authURL, where Sekisho asks it to sign in: the user name,
// then the password, at Sekisho's own form; it waits for the relying party's page (#rp-status).
func (c *chrome) signIn(t *testing.T, authURL, user, password string) {
	t.Helper()
	c.do(t, "the authorization request sends the browser to the sign-in page",
		chromedp.Navigate(authURL), chromedp.WaitVisible(chromedp.CSS("#username")))
	c.do(t, "user name", chromedp.SendKeys(chromedp.CSS("#username"), user), chromedp.Click(chromedp.CSS("#next")),
		chromedp.WaitVisible(chromedp.CSS("#password")))
	c.do(t, "password, then the redirect to the relying party", chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS("#signin")), chromedp.WaitVisible(chromedp.CSS("#rp-status")))
}

// sso sends a browser that has a session to authURL; it must arrive at the relying party
// without Sekisho's sign-in page.
func (c *chrome) sso(t *testing.T, authURL string) {
	t.Helper()
	c.documents()
	c.do(t, "single sign-on to the relying party", chromedp.Navigate(authURL), chromedp.WaitVisible(chromedp.CSS("#rp-status")))
	for _, d := range c.documents() {
		if strings.Contains(d, "/login") {
			t.Errorf("a browser with a session was shown the sign-in page: %s", d)
		}
	}
}

// refusedRedirect sends the browser to an authorization request naming an unregistered
// redirect_uri: Sekisho must answer with its error page (400, the record's reference) and
// never send the browser to that address. It returns the record.
func (c *chrome) refusedRedirect(t *testing.T, e *env, authURL, app, badRedirect string) store.SignInEvent {
	t.Helper()
	c.documents()
	c.do(t, "an unregistered redirect_uri", chromedp.Navigate(authURL), chromedp.WaitVisible(chromedp.CSS("#reference")))
	if loc := c.location(t); !strings.HasPrefix(loc, e.idp.URL+"/oidc/authorize?") {
		t.Errorf("the browser left Sekisho's error page for %s", loc)
	}
	docs := c.documents()
	errorPage := false
	for _, d := range docs {
		status, u, _ := strings.Cut(d, " ")
		if strings.HasPrefix(u, badRedirect) {
			t.Errorf("the browser was sent to the unregistered redirect_uri: %s", d)
		}
		errorPage = errorPage || status == "400" && strings.HasPrefix(u, e.idp.URL+"/oidc/authorize?")
	}
	if !errorPage {
		t.Errorf("want the error page with status 400, documents: %v", docs)
	}
	ev := e.refusedRecord(t, app, "", "is not registered for this client")
	if ref := c.text(t, "#reference"); ref != ev.ID {
		t.Errorf("the error page shows the reference %q, the record is %s", ref, ev.ID)
	}
	return ev
}

// goRP is a relying party's callback on loopback: each arrival of the browser is passed to
// the test, which redeems the code with x/oauth2 and verifies the ID token with go-oidc.
type goRP struct {
	srv        *httptest.Server
	callback   string
	arrivals   chan url.Values
	unexpected atomic.Int64 // requests to any other path (favicon aside)
}

func newGoRP(t *testing.T) *goRP {
	t.Helper()
	ln := loopback(t)
	rp := &goRP{callback: "http://" + ln.Addr().String() + "/callback", arrivals: make(chan url.Values, 4)}
	rp.srv = &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/callback":
			rp.arrivals <- r.URL.Query()
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write([]byte(`<!doctype html><title>go-oidc RP</title><p id="rp-status">callback</p>`))
		case "/favicon.ico":
			http.NotFound(w, r)
		default:
			rp.unexpected.Add(1)
			http.NotFound(w, r)
		}
	})}}
	rp.srv.Start()
	t.Cleanup(rp.srv.Close)
	return rp
}

// code returns the code of the browser's last arrival, checking its state.
func (rp *goRP) code(t *testing.T, state string) string {
	t.Helper()
	select {
	case q := <-rp.arrivals:
		if q.Get("error") != "" || q.Get("state") != state || q.Get("code") == "" {
			t.Fatalf("callback %v, want a code and state %q", q, state)
		}
		return q.Get("code")
	default:
		t.Fatal("the browser shows the callback page but the relying party saw no arrival")
		return ""
	}
}

// TestGoOIDCCodeFlowInChromium: coreos/go-oidc and x/oauth2 as a web application on loopback,
// with Chromium as the user's browser: the code + PKCE flow through Sekisho's sign-in form,
// the ID token verified from discovery and JWKS (nonce, at_hash), userinfo, introspection,
// refresh with rotation, RFC 7009 revocation; and each refusal, recorded: an unregistered
// redirect_uri (an error page, never a redirect), a replayed code, a wrong PKCE verifier, a
// rotated refresh token presented again (which ends the grant).
func TestGoOIDCCodeFlowInChromium(t *testing.T) {
	exe := chromium.Command(t)
	rp := newGoRP(t)
	e, client := startWithClient(t, "go-rp", rp.callback)
	id, secret := client.Client.ClientID, client.Secret
	ep := e.provider.Endpoint()
	ep.AuthStyle = oauth2.AuthStyleInHeader
	cfg := &oauth2.Config{ClientID: id, ClientSecret: secret, Endpoint: ep, RedirectURL: rp.callback,
		Scopes: []string{gooidc.ScopeOpenID, "profile", "email", "groups", gooidc.ScopeOfflineAccess}}
	verifier := e.provider.Verifier(&gooidc.Config{ClientID: id})
	c := newChrome(t, exe)

	t.Run("unregistered redirect_uri", func(t *testing.T) {
		bad := *cfg
		bad.RedirectURL = strings.Replace(rp.callback, "/callback", "/evil", 1)
		c.refusedRedirect(t, e, bad.AuthCodeURL("st-0", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), "go-rp", bad.RedirectURL)
		if n := rp.unexpected.Load(); n != 0 || len(rp.arrivals) != 0 {
			t.Errorf("the relying party was reached: %d requests, %d callbacks", n, len(rp.arrivals))
		}
	})

	v := oauth2.GenerateVerifier()
	c.signIn(t, cfg.AuthCodeURL("st-1", oauth2.S256ChallengeOption(v), gooidc.Nonce("n-1")), "alice@example.com",
		e.idp.Password("alice@example.com"))
	if loc := c.location(t); !strings.HasPrefix(loc, rp.callback+"?") {
		t.Fatalf("the browser ended at %s", loc)
	}
	code := rp.code(t, "st-1")
	allow := e.last(t)
	if allow.Decision != "allow" || allow.Application != "go-rp" || allow.Protocol != "oidc" || allow.Username != "alice@example.com" ||
		!strings.Contains(allow.UserAgent, "Chrome") {
		t.Fatalf("the authorization's record: %+v", allow)
	}
	tok, err := cfg.Exchange(e.ctx, code, oauth2.VerifierOption(v))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	idt, err := verifier.Verify(e.ctx, tok.Extra("id_token").(string))
	if err != nil {
		t.Fatalf("go-oidc verify: %v", err)
	}
	var claims idClaims
	_ = idt.Claims(&claims)
	alice := e.user(t, "alice@example.com")
	if idt.Subject != alice.ID || idt.Nonce != "n-1" || claims.Email != "alice@example.com" || claims.JTI != "_"+allow.ID ||
		!slices.Equal(claims.AMR, []string{"pwd"}) {
		t.Errorf("ID token sub %q nonce %q claims %+v", idt.Subject, idt.Nonce, claims)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Errorf("at_hash: %v", err)
	}
	if ui, err := e.provider.UserInfo(e.ctx, oauth2.StaticTokenSource(tok)); err != nil || ui.Subject != alice.ID || ui.Email != "alice@example.com" {
		t.Errorf("userinfo %+v: %v", ui, err)
	}
	if m := e.introspect(t, id, secret, tok.AccessToken); m["active"] != true || m["sub"] != alice.ID || m["client_id"] != id {
		t.Errorf("introspection of the access token: %v", m)
	}

	t.Run("replayed code", func(t *testing.T) {
		_, err := cfg.Exchange(e.ctx, code, oauth2.VerifierOption(v))
		wantGrantError(t, err, "invalid_grant")
		e.refusedRecord(t, "go-rp", "alice@example.com", "already used")
	})

	t.Run("refresh, then the rotated token again", func(t *testing.T) {
		refresh := func(rt string) (*oauth2.Token, error) {
			return cfg.TokenSource(e.ctx, &oauth2.Token{RefreshToken: rt}).Token()
		}
		renewed, err := refresh(tok.RefreshToken)
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		if rec := e.last(t); rec.Decision != "allow" || rec.Application != "go-rp" || rec.Username != "alice@example.com" {
			t.Fatalf("the refresh's record: %+v", rec)
		}
		if renewed.RefreshToken == "" || renewed.RefreshToken == tok.RefreshToken || renewed.AccessToken == tok.AccessToken {
			t.Fatalf("not rotated: %+v", renewed)
		}
		idt2, err := verifier.Verify(e.ctx, renewed.Extra("id_token").(string))
		if err != nil || idt2.Subject != alice.ID {
			t.Fatalf("the refreshed ID token: %v", err)
		}
		if m := e.introspect(t, id, secret, renewed.RefreshToken); m["active"] != true {
			t.Errorf("introspection of the new refresh token: %v", m)
		}
		if m := e.introspect(t, id, secret, tok.RefreshToken); m["active"] != false {
			t.Errorf("introspection of the rotated refresh token: %v", m)
		}
		_, err = refresh(tok.RefreshToken)
		wantGrantError(t, err, "invalid_grant")
		e.refusedRecord(t, "go-rp", "alice@example.com", "refresh token reused")
		_, err = refresh(renewed.RefreshToken)
		wantGrantError(t, err, "invalid_grant")
		e.refusedRecord(t, "go-rp", "alice@example.com", "refresh token revoked")
		if m := e.introspect(t, id, secret, renewed.AccessToken); m["active"] != false {
			t.Errorf("an access token of the ended grant: %v", m)
		}
	})

	t.Run("wrong PKCE verifier", func(t *testing.T) {
		v := oauth2.GenerateVerifier()
		c.sso(t, cfg.AuthCodeURL("st-2", oauth2.S256ChallengeOption(v)))
		code := rp.code(t, "st-2")
		_, err := cfg.Exchange(e.ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
		wantGrantError(t, err, "invalid_grant")
		e.refusedRecord(t, "go-rp", "alice@example.com", "invalid code_verifier")
		_, err = cfg.Exchange(e.ctx, code, oauth2.VerifierOption(v))
		wantGrantError(t, err, "invalid_grant")
		e.refusedRecord(t, "go-rp", "alice@example.com", "already used")
	})

	t.Run("revocation", func(t *testing.T) {
		v := oauth2.GenerateVerifier()
		c.sso(t, cfg.AuthCodeURL("st-3", oauth2.S256ChallengeOption(v)))
		tok, err := cfg.Exchange(e.ctx, rp.code(t, "st-3"), oauth2.VerifierOption(v))
		if err != nil {
			t.Fatal(err)
		}
		if m := e.introspect(t, id, secret, tok.AccessToken); m["active"] != true {
			t.Fatalf("before revocation: %v", m)
		}
		if status, m := e.post(t, "/oidc/revoke", id, secret, url.Values{"token": {tok.RefreshToken}, "token_type_hint": {"refresh_token"}}); status != http.StatusOK {
			t.Fatalf("revoke: %d %v", status, m)
		}
		if m := e.introspect(t, id, secret, tok.AccessToken); m["active"] != false {
			t.Errorf("the access token after its grant was revoked: %v", m)
		}
		_, err = cfg.TokenSource(e.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		wantGrantError(t, err, "invalid_grant")
		e.refusedRecord(t, "go-rp", "alice@example.com", "refresh token revoked")
	})
	if n := rp.unexpected.Load(); n != 0 {
		t.Errorf("%d unexpected requests at the relying party", n)
	}
}
