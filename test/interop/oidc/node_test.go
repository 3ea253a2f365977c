package oidc

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/testutil/chromium"
	"github.com/sekisho/sekisho/internal/testutil/peers"
)

// Node's openid-client 6.9 (test/interop/node/oidc-rp.mjs) as a relying party, with Chromium
// as the user's browser. openid-client is strict where go-oidc is lenient or silent: the
// discovery document's issuer, the callback's iss parameter, aud/azp, nonce, at_hash, the
// ID token's signature (with its non-repudiation checks), and the refreshed ID token's sub.

// nodeEventTimeout bounds the wait for the relying party's next event (a grant is a few
// requests; the summary comes after a dozen).
const nodeEventTimeout = 60 * time.Second

// openIDClient returns node and test/interop/node with openid-client installed, or skips/fails.
func openIDClient(t *testing.T) (node, dir string) {
	t.Helper()
	node = peers.Command(t, "node", "apt-get install -y nodejs npm")
	_, file, _, _ := runtime.Caller(0)
	dir = filepath.Join(filepath.Dir(file), "..", "node")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "openid-client", "package.json")); err != nil {
		peers.Missing(t, "node_modules/openid-client", "make test (runs npm install in test/interop/node)")
	}
	return node, dir
}

// lockedBuffer collects a child's stderr while the test may read it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// nodeRP is the running script: its events in order, its stdin for the test's answers.
type nodeRP struct {
	stdin  io.WriteCloser
	events chan json.RawMessage // closed when its stdout ends
	stderr *lockedBuffer
	exited chan struct{}
	err    error // the process's exit, after exited is closed
}

type rpEvent struct {
	Event       string          `json:"event"`
	Name        string          `json:"name"`
	URL         string          `json:"url"`
	Expect      string          `json:"expect"`
	RedirectURI string          `json:"redirect_uri"`
	Issuer      string          `json:"issuer"`
	Step        string          `json:"step"`
	Error       json.RawMessage `json:"error"`
}

// startNodeRP runs oidc-rp.mjs with ln (the registered callback's socket) as its fd 3.
func startNodeRP(t *testing.T, node, dir string, ln net.Listener, caFile string, env ...string) *nodeRP {
	t.Helper()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// ipv4first: Sekisho's test server listens on 127.0.0.1, its issuer names localhost.
	cmd := exec.Command(node, "--dns-result-order=ipv4first", "oidc-rp.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), append([]string{"NODE_EXTRA_CA_CERTS=" + caFile}, env...)...)
	cmd.ExtraFiles = []*os.File{f}
	rp := &nodeRP{events: make(chan json.RawMessage, 16), stderr: &lockedBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = rp.stderr
	if rp.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node: %v", err)
	}
	ln.Close() // the child has its own copy of the socket
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 0, 64<<10), 8<<20)
		for sc.Scan() {
			rp.events <- json.RawMessage(slices.Clone(sc.Bytes()))
		}
		close(rp.events)
		rp.err = cmd.Wait()
		close(rp.exited)
	}()
	t.Cleanup(func() {
		rp.stdin.Close()
		select {
		case <-rp.exited:
		default:
			_ = cmd.Process.Kill()
			<-rp.exited
		}
	})
	return rp
}

// next returns the script's next event, decoded into v as well when v is not nil.
func (rp *nodeRP) next(t *testing.T, v any) rpEvent {
	t.Helper()
	var raw json.RawMessage
	select {
	case m, ok := <-rp.events:
		if !ok {
			<-rp.exited
			t.Fatalf("openid-client RP ended (%v) without its summary\nstderr:\n%s", rp.err, rp.stderr)
		}
		raw = m
	case <-time.After(nodeEventTimeout):
		t.Fatalf("no event from the openid-client RP in %s\nstderr:\n%s", nodeEventTimeout, rp.stderr)
	}
	var ev rpEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatalf("openid-client RP printed %q: %v", raw, err)
	}
	if ev.Event == "error" {
		t.Fatalf("openid-client RP failed at %s: %s\nstderr:\n%s", ev.Step, ev.Error, rp.stderr)
	}
	if v != nil {
		if err := json.Unmarshal(raw, v); err != nil {
			t.Fatalf("openid-client RP's %s: %v", ev.Event, err)
		}
	}
	return ev
}

func (rp *nodeRP) send(t *testing.T, v any) {
	t.Helper()
	b, _ := json.Marshal(v)
	if _, err := rp.stdin.Write(append(b, '\n')); err != nil {
		t.Fatalf("write to the openid-client RP: %v", err)
	}
}

// rpError is how the script reports a request that was (rightly) refused.
type rpError struct {
	UnexpectedSuccess bool   `json:"unexpected_success"`
	Name              string `json:"name"`
	Code              string `json:"code"`
	Message           string `json:"message"`
	Error             string `json:"error"`
	ErrorDescription  string `json:"error_description"`
	Status            int    `json:"status"`
}

// refusedAs checks that openid-client got the token endpoint's OAuth error code (a 400).
func (r rpError) refusedAs(t *testing.T, what, code string) {
	t.Helper()
	if r.UnexpectedSuccess || r.Code != "OAUTH_RESPONSE_BODY_ERROR" || r.Error != code || r.Status != 400 {
		t.Errorf("%s: want openid-client's ResponseBodyError %s (400), got %+v", what, code, r)
	}
}

type rpSummary struct {
	Issuer    string `json:"issuer"`
	Discovery struct {
		CodeChallengeMethods []string `json:"code_challenge_methods_supported"`
		Introspection        string   `json:"introspection_endpoint"`
		Revocation           string   `json:"revocation_endpoint"`
	} `json:"discovery"`
	NonceSent string `json:"nonce_sent"`
	Code      struct {
		Claims          map[string]any `json:"claims"`
		Scope           string         `json:"scope"`
		TokenType       string         `json:"token_type"`
		HasRefreshToken bool           `json:"has_refresh_token"`
		AccessToken     string         `json:"access_token"`
	} `json:"code"`
	Userinfo         map[string]any `json:"userinfo"`
	IntrospectAccess map[string]any `json:"introspect_access"`
	ReplayedCode     rpError        `json:"replayed_code"`
	Refresh          struct {
		RefreshTokenDiffers bool           `json:"refresh_token_differs"`
		AccessTokenDiffers  bool           `json:"access_token_differs"`
		Claims              map[string]any `json:"claims"`
		Scope               string         `json:"scope"`
		AccessToken         string         `json:"access_token"`
	} `json:"refresh"`
	IntrospectNewRefresh       map[string]any `json:"introspect_new_refresh"`
	IntrospectOldRefresh       map[string]any `json:"introspect_old_refresh"`
	ReusedRefresh              rpError        `json:"reused_refresh"`
	AfterReuseNewRefresh       rpError        `json:"after_reuse_new_refresh"`
	AfterReuseIntrospectAccess map[string]any `json:"after_reuse_introspect_access"`
	WrongVerifier              rpError        `json:"wrong_verifier"`
	RightVerifierAfterWrong    rpError        `json:"right_verifier_after_wrong"`
	Revocation                 struct {
		Before       map[string]any `json:"before"`
		AfterAccess  map[string]any `json:"after_access"`
		AfterRefresh map[string]any `json:"after_refresh"`
		Refresh      rpError        `json:"refresh"`
	} `json:"revocation"`
	UnexpectedRequests []string `json:"unexpected_requests"`
}

// audIs reports whether a decoded aud claim is exactly id (a string or a one-element array).
func audIs(aud any, id string) bool {
	if l, ok := aud.([]any); ok && len(l) == 1 {
		aud = l[0]
	}
	return aud == id
}

// TestNodeOpenIDClientInChromium: openid-client 6.9 (Node) as a confidential web application
// on loopback, with Chromium as the browser. Discovery over HTTPS; an authorization with an
// unregistered redirect_uri is Sekisho's error page (never a redirect), recorded; the code +
// PKCE S256 flow through Sekisho's sign-in form, redeemed by authorizationCodeGrant (iss,
// aud, nonce, at_hash, signature all checked by openid-client); userinfo; introspection;
// refresh (rotated; the old token inactive); and each refusal, recorded with its reason: the
// replayed code, a wrong PKCE verifier (after which the right one finds the code spent), the
// rotated refresh token presented again (which ends the grant: the new one is refused too
// and its access token is inactive), a refresh after RFC 7009 revocation.
func TestNodeOpenIDClientInChromium(t *testing.T) {
	node, dir := openIDClient(t)
	exe := chromium.Command(t)
	ln := loopback(t)
	callback := "http://" + ln.Addr().String() + "/callback"
	e, client := startWithClient(t, "node-rp", callback)
	id := client.Client.ClientID
	rp := startNodeRP(t, node, dir, ln, e.idp.CAFile,
		"SEKISHO_ISSUER="+e.idp.URL, "RP_CLIENT_ID="+id, "RP_CLIENT_SECRET="+client.Secret)
	if ev := rp.next(t, nil); ev.Event != "listening" || ev.RedirectURI != callback {
		t.Fatalf("want the RP listening at %s, got %+v", callback, ev)
	}
	if ev := rp.next(t, nil); ev.Event != "discovered" || ev.Issuer != e.idp.URL {
		t.Fatalf("want discovery of %s, got %+v", e.idp.URL, ev)
	}
	c := newChrome(t, exe)

	var sum rpSummary
	var refusedRef string
	authorizations := 0
	for {
		ev := rp.next(t, &sum)
		if ev.Event == "summary" {
			break
		}
		if ev.Event != "authorize" {
			t.Fatalf("unexpected event %+v", ev)
		}
		switch {
		case ev.Expect == "refused":
			refusedRef = c.refusedRedirect(t, e, ev.URL, "node-rp", strings.Replace(callback, "/callback", "/evil", 1)).ID
			rp.send(t, map[string]string{"ack": ev.Name})
			continue
		case authorizations == 0:
			c.signIn(t, ev.URL, "alice@example.com", e.idp.Password("alice@example.com"))
		default:
			c.sso(t, ev.URL)
		}
		authorizations++
		if loc := c.location(t); !strings.HasPrefix(loc, callback+"?") {
			t.Fatalf("%s: the browser ended at %s", ev.Name, loc)
		}
		if got := c.text(t, "#rp-status"); got != "callback "+ev.Name {
			t.Fatalf("%s: the RP's page says %q", ev.Name, got)
		}
	}
	if refusedRef == "" || authorizations != 3 {
		t.Fatalf("the RP asked for %d authorizations and no refused one (%q)", authorizations, refusedRef)
	}

	alice := e.user(t, "alice@example.com")
	t.Run("code flow", func(t *testing.T) {
		if sum.Issuer != e.idp.URL || !slices.Equal(sum.Discovery.CodeChallengeMethods, []string{"S256"}) ||
			sum.Discovery.Introspection != e.idp.URL+"/oidc/introspect" || sum.Discovery.Revocation != e.idp.URL+"/oidc/revoke" {
			t.Errorf("discovery as openid-client read it: %s %+v", sum.Issuer, sum.Discovery)
		}
		cl := sum.Code.Claims
		if cl["iss"] != e.idp.URL || cl["sub"] != alice.ID || !audIs(cl["aud"], id) || cl["nonce"] != sum.NonceSent || cl["at_hash"] == nil ||
			cl["email"] != "alice@example.com" || cl["name"] != "Alice Sato" || cl["preferred_username"] != "alice@example.com" {
			t.Errorf("ID token claims %v", cl)
		}
		if sum.Code.Scope != "openid profile email groups offline_access" || sum.Code.TokenType != "bearer" || !sum.Code.HasRefreshToken {
			t.Errorf("token response: scope %q type %q refresh %v", sum.Code.Scope, sum.Code.TokenType, sum.Code.HasRefreshToken)
		}
		if u := sum.Userinfo; u["sub"] != alice.ID || u["email"] != "alice@example.com" || u["name"] != "Alice Sato" {
			t.Errorf("userinfo %v", u)
		}
		if m := sum.IntrospectAccess; m["active"] != true || m["sub"] != alice.ID || m["client_id"] != id || m["username"] != "alice@example.com" {
			t.Errorf("introspection of the access token: %v", m)
		}
		sum.ReplayedCode.refusedAs(t, "replayed code", "invalid_grant")
		sum.WrongVerifier.refusedAs(t, "wrong code_verifier", "invalid_grant")
		sum.RightVerifierAfterWrong.refusedAs(t, "the right code_verifier after a wrong one", "invalid_grant")
	})
	t.Run("refresh and reuse", func(t *testing.T) {
		r := sum.Refresh
		if !r.RefreshTokenDiffers || !r.AccessTokenDiffers || r.Claims["sub"] != alice.ID || !audIs(r.Claims["aud"], id) ||
			r.Claims["auth_time"] != sum.Code.Claims["auth_time"] || r.Claims["sid"] != sum.Code.Claims["sid"] {
			t.Errorf("refresh: %+v", r)
		}
		if m := sum.IntrospectNewRefresh; m["active"] != true || m["client_id"] != id {
			t.Errorf("introspection of the new refresh token: %v", m)
		}
		if m := sum.IntrospectOldRefresh; m["active"] != false || len(m) != 1 {
			t.Errorf("introspection of the rotated refresh token: %v", m)
		}
		sum.ReusedRefresh.refusedAs(t, "the rotated refresh token again", "invalid_grant")
		sum.AfterReuseNewRefresh.refusedAs(t, "the new refresh token after the reuse", "invalid_grant")
		if m := sum.AfterReuseIntrospectAccess; m["active"] != false || len(m) != 1 {
			t.Errorf("an access token of the ended grant: %v", m)
		}
	})
	t.Run("revocation", func(t *testing.T) {
		rv := sum.Revocation
		if rv.Before["active"] != true || rv.AfterAccess["active"] != false || rv.AfterRefresh["active"] != false {
			t.Errorf("introspection before %v, after: access %v refresh %v", rv.Before, rv.AfterAccess, rv.AfterRefresh)
		}
		rv.Refresh.refusedAs(t, "a refresh after revocation", "invalid_grant")
	})
	if len(sum.UnexpectedRequests) != 0 {
		t.Errorf("requests at the RP other than its callbacks: %v", sum.UnexpectedRequests)
	}

	// Every step has its record, in order, with the reason the answer to openid-client did
	// not carry.
	t.Run("records", func(t *testing.T) {
		type rec struct{ decision, user, reason string }
		const a = "alice@example.com"
		want := []rec{
			{"error", "", "is not registered for this client"},
			{"allow", a, ""},                      // the sign-in
			{"error", a, "already used"},          // the replayed code
			{"allow", a, ""},                      // the refresh
			{"error", a, "refresh token reused"},  // the rotated token again…
			{"error", a, "refresh token revoked"}, // …ended the grant
			{"allow", a, ""},                      // the authorization for the wrong verifier
			{"error", a, "invalid code_verifier"}, //
			{"error", a, "already used"},          // the right verifier, too late
			{"allow", a, ""},                      // the authorization before revocation
			{"error", a, "refresh token revoked"}, // the refresh after revocation
		}
		evs := e.records(t, store.SignInFilter{Application: "node-rp"})
		var got []rec
		for _, ev := range evs {
			if ev.Protocol != "oidc" || ev.ClientType != "oidc" {
				t.Errorf("record %+v", ev)
			}
			got = append(got, rec{ev.Decision, ev.Username, ev.Reason})
		}
		ok := len(got) == len(want)
		for i := 0; ok && i < len(want); i++ {
			ok = got[i].decision == want[i].decision && got[i].user == want[i].user && strings.Contains(got[i].reason, want[i].reason)
		}
		if !ok {
			t.Fatalf("records:\n%q\nwant:\n%q", got, want)
		}
		if evs[0].ID != refusedRef {
			t.Errorf("the error page showed %s, the record is %s", refusedRef, evs[0].ID)
		}
		if sum.Code.Claims["jti"] != "_"+evs[1].ID || !strings.Contains(evs[1].UserAgent, "Chrome") {
			t.Errorf("ID token jti %v, the sign-in's record %s (user agent %q)", sum.Code.Claims["jti"], evs[1].ID, evs[1].UserAgent)
		}
		if !strings.Contains(evs[4].Reason, "every token of its grant is revoked") {
			t.Errorf("the reuse's record: %q", evs[4].Reason)
		}
	})
}
