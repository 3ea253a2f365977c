package oauthtokens_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/admin"
	"github.com/sekisho/sekisho/internal/bridge"
	"github.com/sekisho/sekisho/internal/bridge/oauthtokens"
	"github.com/sekisho/sekisho/internal/config"
	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/testutil/idptest"
)

var actor = admin.Actor{Name: "os:test", Via: "cli"}

const alice = "alice@example.com"

// counter counts the token endpoint's grants through it, holding refreshes for delay so
// that two nodes' requests overlap.
type counter struct {
	rt    http.RoundTripper
	delay time.Duration
	mu    sync.Mutex
	n     map[string]int // grant_type → requests
}

func (c *counter) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil && strings.HasSuffix(r.URL.Path, "/oidc/token") {
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(b))
		q, _ := url.ParseQuery(string(b))
		c.mu.Lock()
		c.n[q.Get("grant_type")]++
		c.mu.Unlock()
		if q.Get("grant_type") == "refresh_token" {
			time.Sleep(c.delay)
		}
	}
	return c.rt.RoundTrip(r)
}

func (c *counter) count(grant string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[grant]
}

// clock is a test clock ahead of the wall clock by a settable offset.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time               { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration)      { c.offset.Add(int64(d)) }
func (c *clock) source(s *oauthtokens.Source) { s.Now = c.now }

type env struct {
	idp    *idptest.IdP
	ctx    context.Context
	client string // the public client's client_id
	count  *counter
	clock  *clock
}

// start runs Sekisho as the "generic OAuth server": a public client with the device grant
// and refresh tokens (rotated on each use, a reuse revokes the grant), 30 s access tokens.
func start(t *testing.T) *env {
	t.Helper()
	e := &env{idp: idptest.Start(t, idptest.Options{}), ctx: context.Background(), clock: &clock{}}
	in := e.idp.Services.Instance
	added, err := in.Admin.AddOIDCClient(e.ctx, actor, "mail-upstream", admin.NewOIDCClient{Public: true,
		Grants: []string{"device_code", "refresh_token"}, Scopes: []string{"openid", "email", "offline_access"},
		AccessTokenLifetime: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	e.client = added.Client.ClientID
	e.count = &counter{rt: e.idp.Client().Transport, delay: 500 * time.Millisecond, n: map[string]int{}}
	return e
}

// node is one bridge node's token source, as the server builds it from the configuration.
func (e *env) node(t *testing.T, change func(*config.BridgeOAuth)) *oauthtokens.Source {
	t.Helper()
	o := config.BridgeOAuth{TokenURL: e.idp.URL + "/oidc/token", DeviceAuthorizationURL: e.idp.URL + "/oidc/device_authorization",
		ClientID: e.client, Scopes: []string{"openid", "email", "offline_access"}, CAFile: e.idp.CAFile}
	if change != nil {
		change(&o)
	}
	in := e.idp.Services.Instance
	src, err := oauthtokens.FromConfig(config.Bridge{Upstream: config.BridgeUpstream{Tokens: "oauth", OAuth: o}}, in.Config.Resolve, in.Store, in.Sealer, in.Log)
	if err != nil || src == nil {
		t.Fatalf("FromConfig: %v", err)
	}
	src.HTTP.Transport = e.count
	src.RefreshBefore = 5 * time.Second
	e.clock.source(src)
	return src
}

func (e *env) user(t *testing.T, upn string) store.User {
	t.Helper()
	u, err := e.idp.Services.Instance.Store.GetUserByUPN(e.ctx, upn)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func (e *env) login(t *testing.T, upn string) bridge.Login {
	return bridge.Login{Protocol: "imap", User: e.user(t, upn)}
}

// grant is the stored grant of upn.
func (e *env) grant(t *testing.T, src *oauthtokens.Source, upn string) oauthtokens.Grant {
	t.Helper()
	row, err := e.idp.Services.Instance.Store.GetBridgeUpstreamGrant(e.ctx, src.Profile, e.user(t, upn).ID)
	if err != nil {
		t.Fatal(err)
	}
	g, err := src.Open(row)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// userinfo checks that token is a good access token of upn at Sekisho.
func (e *env) userinfo(t *testing.T, token, upn string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.idp.URL+"/oidc/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := e.idp.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var claims struct{ Email string }
	if err := json.NewDecoder(resp.Body).Decode(&claims); err != nil || resp.StatusCode != http.StatusOK || claims.Email != upn {
		t.Fatalf("userinfo with the token: %d %+v %v", resp.StatusCode, claims, err)
	}
}

// connect connects upn's mailbox through the admin service, the code approved at Sekisho's
// device page by approver.
func (e *env) connect(t *testing.T, src *oauthtokens.Source, upn, approver string) (admin.BridgeUpstreamView, error) {
	t.Helper()
	adm := e.idp.Services.Instance.Admin
	adm.BridgeUpstream = src
	return adm.ConnectBridgeUpstream(e.ctx, actor, upn, func(d oauthtokens.DeviceCode) error {
		if d.UserCode == "" || !strings.HasPrefix(d.VerificationURI, e.idp.URL+"/oidc/device") {
			t.Errorf("device code: %+v", d)
		}
		e.idp.ApproveDevice(t, d.VerificationURIComplete, approver, e.idp.Password(approver))
		return nil
	})
}

// TestDelegated: against Sekisho's own OAuth server, alice's mailbox is connected with the
// device grant; the access token is served from memory and the row while good; each expiry
// refreshes it and stores the rotated refresh token; two nodes after an expiry refresh once
// between them and both succeed (the family is not revoked for reuse); a revoked family
// marks the grant broken with the clear error; disconnect forgets it. The audit log never
// holds a token.
func TestDelegated(t *testing.T) {
	e := start(t)
	a := e.node(t, nil)
	in := e.idp.Services.Instance

	// Not connected: the clear error, an upstream refusal for the doors.
	_, err := a.Token(e.ctx, e.login(t, alice))
	var nc *oauthtokens.NotConnectedError
	if !errors.As(err, &nc) || !errors.Is(err, oauthtokens.ErrNotConnected) || !bridge.IsUpstreamRefusal(err) ||
		err.Error() != "alice@example.com has not connected the mailbox: run sekisho bridge upstream connect --user alice@example.com" {
		t.Fatalf("before connect: %v", err)
	}

	// Connect: the device grant, approved by alice at Sekisho's device page.
	v, err := e.connect(t, a, alice, alice)
	if err != nil {
		t.Fatal(err)
	}
	if v.User != alice || v.Profile != "oauth" || v.ConnectedBy != "os:test" || v.State() != "connected" || v.ConnectedAt.IsZero() {
		t.Fatalf("connected: %+v", v)
	}
	if !in.Admin.BridgeUpstreamDelegated() {
		t.Fatal("delegated tokens not reported as such")
	}
	if one, err := in.Admin.BridgeUpstreamOf(e.ctx, alice); err != nil || one.User != alice || !one.ConnectedAt.Equal(v.ConnectedAt) {
		t.Fatalf("alice's grant: %+v %v", one, err)
	}
	if _, err := in.Admin.BridgeUpstreamOf(e.ctx, "bob@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("bob's grant, never connected: %v", err)
	}
	g := e.grant(t, a, alice)
	if g.RefreshToken == "" || g.AccessToken == "" || time.Until(g.Expiry) < 20*time.Second || g.ConnectedBy != "os:test" {
		t.Fatalf("stored grant: %+v", g)
	}
	// The row is sealed and bound to its place: not readable as another user's.
	row, _ := in.Store.GetBridgeUpstreamGrant(e.ctx, "oauth", e.user(t, alice).ID)
	if bytes.Contains(row.Sealed, []byte(g.RefreshToken)) {
		t.Fatal("the refresh token is stored in clear")
	}
	row.UserID = e.user(t, "bob@example.com").ID
	if _, err := a.Open(row); err == nil {
		t.Fatal("a grant moved to another user's row opened")
	}

	// Good for 30 s: served without a refresh, from the row and then from memory.
	for range 3 {
		tok, err := a.Token(e.ctx, e.login(t, alice))
		if err != nil || tok != g.AccessToken {
			t.Fatalf("fresh token: %q %v", tok, err)
		}
	}
	if n := e.count.count("refresh_token"); n != 0 {
		t.Fatalf("%d refreshes of a fresh token", n)
	}
	e.userinfo(t, g.AccessToken, alice)

	// Each expiry: one refresh, the rotated refresh token stored.
	prev := g
	for i := range 3 {
		e.clock.advance(30 * time.Second)
		tok, err := a.Token(e.ctx, e.login(t, alice))
		if err != nil {
			t.Fatalf("refresh %d: %v", i, err)
		}
		g := e.grant(t, a, alice)
		if tok == prev.AccessToken || tok != g.AccessToken || g.RefreshToken == prev.RefreshToken || g.RefreshedAt.IsZero() ||
			g.RefreshingBy != "" || g.ConnectedAt != prev.ConnectedAt {
			t.Fatalf("refresh %d: token %q, grant %+v, before %+v", i, tok, g, prev)
		}
		if n := e.count.count("refresh_token"); n != i+1 {
			t.Fatalf("refresh %d: %d refresh requests", i, n)
		}
		e.userinfo(t, tok, alice)
		prev = g
	}

	// Two nodes, both after the expiry at once: one refresh between them, both served.
	b := e.node(t, nil)
	if tok, err := b.Token(e.ctx, e.login(t, alice)); err != nil || tok != prev.AccessToken {
		t.Fatalf("second node, fresh token: %q %v", tok, err)
	}
	e.clock.advance(30 * time.Second)
	before := e.count.count("refresh_token")
	var wg sync.WaitGroup
	toks, errs := make([]string, 2), make([]error, 2)
	for i, src := range []*oauthtokens.Source{a, b} {
		wg.Go(func() { toks[i], errs[i] = src.Token(e.ctx, e.login(t, alice)) })
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil || toks[0] != toks[1] || toks[0] == prev.AccessToken {
		t.Fatalf("two nodes: %q %v / %q %v", toks[0], errs[0], toks[1], errs[1])
	}
	if n := e.count.count("refresh_token") - before; n != 1 {
		t.Fatalf("two nodes refreshed %d times", n)
	}
	e.userinfo(t, toks[0], alice)
	// The family is alive: the next expiry refreshes again on either node.
	e.clock.advance(30 * time.Second)
	if tok, err := b.Token(e.ctx, e.login(t, alice)); err != nil {
		t.Fatalf("refresh after the two nodes' one: %v", err)
	} else {
		e.userinfo(t, tok, alice)
	}

	// Revoked at the server (RFC 7009, as a user's "sign out everywhere" would): at the next
	// expiry the refresh is refused, the grant is kept but marked broken, and the error says
	// what to do; the server is not asked again.
	g = e.grant(t, a, alice)
	resp, err := e.idp.Client().PostForm(e.idp.URL+"/oidc/revoke", url.Values{"token": {g.RefreshToken},
		"token_type_hint": {"refresh_token"}, "client_id": {e.client}})
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %v %v", resp, err)
	}
	resp.Body.Close()
	e.clock.advance(30 * time.Second)
	_, err = a.Token(e.ctx, e.login(t, alice))
	if !errors.As(err, &nc) || nc.Broken == "" || !strings.Contains(err.Error(), "invalid_grant") || !bridge.IsUpstreamRefusal(err) ||
		!strings.HasPrefix(err.Error(), "alice@example.com has not connected the mailbox: the token service refused its grant on ") ||
		!strings.HasSuffix(err.Error(), ": run sekisho bridge upstream connect --user alice@example.com") {
		t.Fatalf("revoked family: %v", err)
	}
	if g := e.grant(t, a, alice); g.Broken == "" || g.AccessToken != "" || g.RefreshingBy != "" {
		t.Fatalf("broken grant: %+v", g)
	}
	n := e.count.count("refresh_token")
	if _, err := b.Token(e.ctx, e.login(t, alice)); !errors.As(err, &nc) || nc.Broken == "" {
		t.Fatalf("broken grant on the other node: %v", err)
	}
	if e.count.count("refresh_token") != n {
		t.Fatal("a broken grant was presented again")
	}
	list, err := in.Admin.ListBridgeUpstream(e.ctx)
	if err != nil || len(list) != 1 || list[0].User != alice || list[0].State() != "broken" || list[0].RefreshedAt.IsZero() {
		t.Fatalf("list: %+v %v", list, err)
	}

	// Disconnect: the row is gone, the error is the plain one.
	if _, err := in.Admin.DisconnectBridgeUpstream(e.ctx, actor, alice); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Token(e.ctx, e.login(t, alice)); !errors.As(err, &nc) || nc.Broken != "" {
		t.Fatalf("after disconnect: %v", err)
	}
	if _, err := in.Admin.DisconnectBridgeUpstream(e.ctx, actor, alice); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("disconnect twice: %v", err)
	}

	// The code approved by someone else than the mailbox's user is refused.
	var other *oauthtokens.OtherUserError
	if _, err := e.connect(t, a, "bob@example.com", alice); !errors.As(err, &other) || other.Who != alice ||
		!strings.Contains(err.Error(), "approved as alice@example.com, not bob@example.com") {
		t.Fatalf("bob's mailbox approved by alice: %v", err)
	}
	if _, err := in.Store.GetBridgeUpstreamGrant(e.ctx, "oauth", e.user(t, "bob@example.com").ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused connection was stored: %v", err)
	}

	evs, err := in.Admin.Log(e.ctx, store.AdminEventFilter{Action: "bridge.upstream."})
	if err != nil || len(evs) != 2 || evs[0].Action != "bridge.upstream.connect" || evs[1].Action != "bridge.upstream.disconnect" {
		t.Fatalf("audit: %+v %v", evs, err)
	}
	for _, ev := range evs {
		for _, doc := range [][]byte{ev.Before, ev.After} {
			if bytes.Contains(doc, []byte(prev.RefreshToken)) || bytes.Contains(doc, []byte(prev.AccessToken)) ||
				bytes.Contains(doc, []byte("token\"")) {
				t.Fatalf("audit entry with a token: %s", doc)
			}
		}
	}
}

// TestAppOnly: client credentials, one token reused until shortly before its expiry, then a
// new one; nothing stored; a wrong secret is a clear error.
func TestAppOnly(t *testing.T) {
	e := start(t)
	in := e.idp.Services.Instance
	added, err := in.Admin.AddOIDCClient(e.ctx, actor, "mail-app", admin.NewOIDCClient{Grants: []string{"client_credentials"},
		AccessTokenLifetime: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(t.TempDir(), "app.secret")
	if err := os.WriteFile(secret, []byte(added.Secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := e.node(t, func(o *config.BridgeOAuth) {
		o.ClientID, o.ClientSecretFile, o.AppOnly, o.DeviceAuthorizationURL, o.Scopes = added.Client.ClientID, secret, true, "", nil
	})
	first, err := src.Token(e.ctx, e.login(t, alice))
	if err != nil || first == "" {
		t.Fatalf("app-only token: %q %v", first, err)
	}
	if tok, err := src.Token(e.ctx, e.login(t, "bob@example.com")); err != nil || tok != first || e.count.count("client_credentials") != 1 {
		t.Fatalf("reused for every mailbox: %q %v (%d requests)", tok, err, e.count.count("client_credentials"))
	}
	e.clock.advance(26 * time.Second) // 4 s left, less than RefreshBefore
	if tok, err := src.Token(e.ctx, e.login(t, alice)); err != nil || tok == first || e.count.count("client_credentials") != 2 {
		t.Fatalf("renewed before expiry: %v (%d requests)", err, e.count.count("client_credentials"))
	}
	if rows, _ := in.Store.ListBridgeUpstreamGrants(e.ctx, "oauth"); len(rows) != 0 {
		t.Fatalf("app-only stored %d grants", len(rows))
	}
	in.Admin.BridgeUpstream = src
	if in.Admin.BridgeUpstreamDelegated() {
		t.Fatal("app-only tokens reported as per-user grants")
	}
	if _, err := in.Admin.ConnectBridgeUpstream(e.ctx, actor, alice, nil); err == nil || !strings.Contains(err.Error(), "app_only") {
		t.Fatalf("connect with app-only tokens: %v", err)
	}

	if err := os.WriteFile(secret, []byte("wrong"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := e.node(t, func(o *config.BridgeOAuth) {
		o.ClientID, o.ClientSecretFile, o.AppOnly, o.DeviceAuthorizationURL, o.Scopes = added.Client.ClientID, secret, true, "", nil
	})
	if _, err := bad.Token(e.ctx, e.login(t, alice)); err == nil || !strings.Contains(err.Error(), "app-only token from "+e.idp.URL+"/oidc/token") ||
		!strings.Contains(err.Error(), "invalid_client") {
		t.Fatalf("wrong secret: %v", err)
	}
}
