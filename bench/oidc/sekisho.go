package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/setup"
	"github.com/sekisho/sekisho/internal/testutil/clustertest"
)

const (
	ccApp       = "bench-cc"       // the client_credentials client (RS256)
	ccES256App  = "bench-cc-es256" // the client_credentials client set to ES256
	portalApp   = "bench-portal"   // code flow and refresh tokens
	portalCB    = "https://portal.example.com/callback"
	benchPolicy = `rules:
  - name: bench-services-from-office
    description: make bench-oidc's client_credentials client, from the office (loopback in the demo).
    applications: [bench-cc, bench-cc-es256]
    networks: [office]
    action: allow

`
)

// buildSekisho builds cmd/sekisho into dir, with the openssl tag when openssl is set.
func buildSekisho(dir string, openssl bool) (string, error) {
	name, args := "sekisho-go", []string{"build"}
	if openssl {
		name, args = "sekisho-openssl", append(args, "-tags", "openssl")
	}
	bin := filepath.Join(dir, name)
	cmd := exec.Command("go", append(args, "-o", bin, "github.com/sekisho/sekisho/cmd/sekisho")...)
	if openssl {
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return bin, nil
}

var (
	demoUserRE = regexp.MustCompile(`(?m)^\s+(\S+@example\.com)\s+(\S+)\s*$`)
	clientIDRE = regexp.MustCompile(`(?m)^client_id: +(\S+)$`)
	secretRE   = regexp.MustCompile(`(?m)^client_secret: +(\S+)$`)
)

// sekishoServer is one `sekisho serve` on SQLite (the demo tenant) with the bench's clients.
type sekishoServer struct {
	c                    *clustertest.Cluster
	n                    *clustertest.Node
	ccID, ccSecret       string
	esID, esSecret       string // the ES256 client_credentials client
	portalID, portalSecr string
	http                 *http.Client // the relying parties' side: keep-alive, no cookies
}

// startSekisho prepares a one-node SQLite deployment as clustertest.NewSQLiteCluster does,
// from the binary bin, registers the clients, publishes the demo policy with a rule for the
// client_credentials client in front, and starts the node.
func startSekisho(t testing.TB, bin string, workers int) *sekishoServer {
	c := &clustertest.Cluster{Bin: bin, Dir: filepath.Join(t.TempDir(), "cli"), Passwords: map[string]string{}}
	c.Env = []string{"SEKISHO_ADMIN=bench-oidc"}
	out := c.CLI(t, "", "init", "--demo")
	for _, m := range demoUserRE.FindAllStringSubmatch(out, -1) {
		c.Passwords[m[1]] = m[2]
	}
	c.Env = append(c.Env, "SEKISHO_STORE_DRIVER=sqlite", "SEKISHO_STORE_PATH="+filepath.Join(c.Dir, "sekisho.db"))
	t.Cleanup(c.StopAll)
	s := &sekishoServer{c: c}
	cc := c.CLI(t, "", "app", "add", "oidc", ccApp, "--grant", "client_credentials")
	s.ccID, s.ccSecret = match(t, clientIDRE, cc), match(t, secretRE, cc)
	es := c.CLI(t, "", "app", "add", "oidc", ccES256App, "--grant", "client_credentials", "--signing-alg", "ES256")
	s.esID, s.esSecret = match(t, clientIDRE, es), match(t, secretRE, es)
	portal := c.CLI(t, "", "app", "add", "oidc", portalApp, "--redirect-uri", portalCB, "--grant", "authorization_code,refresh_token")
	s.portalID, s.portalSecr = match(t, clientIDRE, portal), match(t, secretRE, portal)
	pol := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(pol, []byte(strings.Replace(setup.DemoPolicy, "rules:\n", benchPolicy, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	c.CLI(t, "", "policy", "import", pol, "--comment", "make bench-oidc")
	s.n = c.Start(t, "bench-oidc")
	hc := c.Client()
	hc.Transport.(*http.Transport).MaxIdleConnsPerHost = workers
	s.http = hc
	return s
}

func match(t testing.TB, re *regexp.Regexp, out string) string {
	m := re.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %s in:\n%s", re, out)
	}
	return m[1]
}

// tokenPost POSTs form to a token endpoint with HTTP Basic client authentication and decodes
// the JSON answer; it returns what was wrong ("" for a 200 with an access token).
func tokenPost(ctx context.Context, hc *http.Client, endpoint, id, secret string, form url.Values, out *tokenResponse) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return err.Error()
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := hc.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err.Error()
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Sprintf("%d %.300s", resp.StatusCode, b)
	}
	var tr tokenResponse
	if err := json.Unmarshal(b, &tr); err != nil || tr.AccessToken == "" {
		return fmt.Sprintf("no access token in %.300s (%v)", b, err)
	}
	if out != nil {
		*out = tr
	}
	return ""
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
}

var ccForm = url.Values{"grant_type": {"client_credentials"}}

func (s *sekishoServer) clientCredentials(ctx context.Context, _ int) string {
	return tokenPost(ctx, s.http, s.n.URL+"/oidc/token", s.ccID, s.ccSecret, ccForm, nil)
}

func (s *sekishoServer) clientCredentialsES256(ctx context.Context, _ int) string {
	return tokenPost(ctx, s.http, s.n.URL+"/oidc/token", s.esID, s.esSecret, ccForm, nil)
}

// browsers signs in one browser per worker at /login (alice and bob in turn: the demo policy
// lets both in from the office without a second factor).
func (s *sekishoServer) browsers(ctx context.Context, workers int) ([]*clustertest.Browser, error) {
	users := []string{"alice@example.com", "bob@example.com"}
	var bs []*clustertest.Browser
	for i := range workers {
		b := s.c.NewBrowser(nil)
		u := users[i%len(users)]
		p, err := b.SignIn(ctx, s.n, u, s.c.Passwords[u], "/")
		if err != nil || !p.Redirected("/") {
			return nil, fmt.Errorf("sign-in of %s: %v %v", u, p, err)
		}
		bs = append(bs, b)
	}
	return bs, nil
}

// login runs the authorization code flow with PKCE for a browser that has a session: the
// authorization (gate, sign-in record, code) and the code's exchange at the token endpoint.
func (s *sekishoServer) login(ctx context.Context, b *clustertest.Browser, scope string, out *tokenResponse) string {
	verifier := rand.Text() + rand.Text()
	sum := sha256.Sum256([]byte(verifier))
	state := rand.Text()
	q := url.Values{"response_type": {"code"}, "client_id": {s.portalID}, "redirect_uri": {portalCB}, "scope": {scope},
		"state": {state}, "nonce": {rand.Text()}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"}}
	p, from, err := b.Follow(ctx, s.n, "/oidc/authorize?"+q.Encode())
	if err != nil {
		return err.Error()
	}
	if p.Status != http.StatusFound || !strings.HasPrefix(p.Location, portalCB+"?") {
		return fmt.Sprintf("authorization (last %s): %s", from, p)
	}
	u, err := url.Parse(p.Location)
	if err != nil {
		return err.Error()
	}
	if u.Query().Get("state") != state || u.Query().Get("code") == "" {
		return "callback " + p.Location
	}
	return tokenPost(ctx, s.http, s.n.URL+"/oidc/token", s.portalID, s.portalSecr, url.Values{"grant_type": {"authorization_code"},
		"code": {u.Query().Get("code")}, "redirect_uri": {portalCB}, "code_verifier": {verifier}}, out)
}

// refresher holds one refresh token chain per worker: every refresh rotates the token, so
// a chain must not be shared.
type refresher struct {
	s      *sekishoServer
	b      []*clustertest.Browser
	tokens []string
}

func (s *sekishoServer) newRefresher(ctx context.Context, bs []*clustertest.Browser) (*refresher, error) {
	r := &refresher{s: s, b: bs, tokens: make([]string, len(bs))}
	for i, b := range bs {
		var tr tokenResponse
		if problem := s.login(ctx, b, "openid email offline_access", &tr); problem != "" {
			return nil, fmt.Errorf("code flow for a refresh token: %s", problem)
		}
		if tr.RefreshToken == "" {
			return nil, fmt.Errorf("no refresh token with offline_access")
		}
		r.tokens[i] = tr.RefreshToken
	}
	return r, nil
}

func (r *refresher) refresh(ctx context.Context, w int) string {
	var tr tokenResponse
	problem := tokenPost(ctx, r.s.http, r.s.n.URL+"/oidc/token", r.s.portalID, r.s.portalSecr,
		url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.tokens[w]}}, &tr)
	if problem == "" && tr.RefreshToken == "" {
		problem = "no new refresh token"
	}
	if problem != "" {
		// The chain may be broken (a timeout after the rotation): start a new one.
		var again tokenResponse
		if p := r.s.login(ctx, r.b[w], "openid email offline_access", &again); p == "" {
			r.tokens[w] = again.RefreshToken
		}
		return problem
	}
	r.tokens[w] = tr.RefreshToken
	return ""
}

// sekishoRun measures one build of Sekisho: client_credentials, refresh and code-flow logins.
type sekishoRun struct {
	Variant                  string
	CC, Refresh, Login       phase // RS256 clients
	CCES256                  phase // the ES256 client_credentials client
	RSSAfter                 int64
	ccSecretLen, ccJWTLength int
	esJWTLength              int
}

func runSekisho(t testing.TB, variant, bin string, workers int, warm, d time.Duration, logf func(string, ...any)) sekishoRun {
	ctx := t.Context()
	s := startSekisho(t, bin, workers)
	defer s.n.Stop()
	pid := s.n.PID()
	r := sekishoRun{Variant: variant, ccSecretLen: len(s.ccSecret)}
	var tr tokenResponse
	if p := tokenPost(ctx, s.http, s.n.URL+"/oidc/token", s.ccID, s.ccSecret, ccForm, &tr); p != "" {
		t.Fatalf("sekisho %s: client_credentials: %s", variant, p)
	}
	r.ccJWTLength = len(tr.AccessToken)
	var err error
	if r.CC, err = measure(ctx, "sekisho "+variant+" client_credentials", pid, workers, warm, d, s.clientCredentials); err != nil {
		t.Fatal(err)
	}
	logf("%s", r.CC)
	var es tokenResponse
	if p := tokenPost(ctx, s.http, s.n.URL+"/oidc/token", s.esID, s.esSecret, ccForm, &es); p != "" {
		t.Fatalf("sekisho %s: client_credentials (ES256): %s", variant, p)
	}
	if err := checkJWT(es.AccessToken, "ES256", 64); err != nil {
		t.Fatalf("sekisho %s: ES256 client: %v", variant, err)
	}
	r.esJWTLength = len(es.AccessToken)
	if r.CCES256, err = measure(ctx, "sekisho "+variant+" client_credentials ES256", pid, workers, warm, d, s.clientCredentialsES256); err != nil {
		t.Fatal(err)
	}
	logf("%s", r.CCES256)
	bs, err := s.browsers(ctx, workers)
	if err != nil {
		t.Fatalf("sekisho %s: %v", variant, err)
	}
	rf, err := s.newRefresher(ctx, bs)
	if err != nil {
		t.Fatalf("sekisho %s: %v", variant, err)
	}
	if r.Refresh, err = measure(ctx, "sekisho "+variant+" refresh_token", pid, workers, warm, d, rf.refresh); err != nil {
		t.Fatal(err)
	}
	logf("%s", r.Refresh)
	login := func(ctx context.Context, w int) string { return s.login(ctx, bs[w], "openid profile email", nil) }
	if r.Login, err = measure(ctx, "sekisho "+variant+" code-flow logins", pid, workers, warm, d, login); err != nil {
		t.Fatal(err)
	}
	logf("%s", r.Login)
	r.RSSAfter, _ = s.n.RSS()
	return r
}
