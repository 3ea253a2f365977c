package m365_test

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"

	"github.com/sekisho/sekisho/internal/m365"
	"github.com/sekisho/sekisho/internal/protocol/wsfed"
	"github.com/sekisho/sekisho/internal/protocol/wstrust"
	"github.com/sekisho/sekisho/internal/saml11token"
	"github.com/sekisho/sekisho/internal/saml11token/saml11test"
	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/testutil/peers"
)

// MSAL for Go v1.10.1: user realm → our MEX → WS-Trust 1.3 → saml1_1-bearer at fake Entra.
func TestMSALGoUsernamePassword(t *testing.T) {
	s := newStack(t)
	client, err := public.New("00000000-0000-0000-0000-00000000c11e",
		public.WithAuthority(s.entra.URL+"/organizations"),
		public.WithInstanceDiscovery(false),
		public.WithHTTPClient(s.entra.Srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	//lint:ignore SA1019 the username/password flow is what federated legacy clients use; pinned to v1.10.1.
	res, err := client.AcquireTokenByUsernamePassword(ctx, []string{"User.Read"}, "alice@example.com", "correct horse battery")
	if err != nil {
		t.Fatalf("MSAL: %v", err)
	}
	if res.AccessToken != "entra-token-for:alice@example.com" {
		t.Errorf("access token %q", res.AccessToken)
	}
	assertions, grants := s.entra.Received()
	if len(assertions) != 1 || grants[0] != "urn:ietf:params:oauth:grant-type:saml1_1-bearer" {
		t.Fatalf("fake Entra got %d assertions, grants %v", len(assertions), grants)
	}
	// The bytes MSAL forwarded verify with the independent implementations.
	saml11test.CheckPeers(t, assertions[0], s.key)
	calls := s.gate.Calls()
	if len(calls) != 1 || calls[0].Attempt.Protocol != "wstrust" || calls[0].Attempt.Endpoint != signin.Active || calls[0].Path != wstrust.Path13 {
		t.Errorf("gate calls %+v", calls)
	}

	// A wrong password ends in an error at MSAL and never reaches Entra.
	//lint:ignore SA1019 see above
	if _, err := client.AcquireTokenByUsernamePassword(ctx, []string{"User.Read"}, "alice@example.com", "wrong"); err == nil {
		t.Error("MSAL obtained a token with a wrong password")
	}
	if a, _ := s.entra.Received(); len(a) != 1 {
		t.Errorf("fake Entra received %d assertions after a failed sign-in", len(a))
	}
	// A user without ImmutableID gets no assertion either.
	//lint:ignore SA1019 see above
	if _, err := client.AcquireTokenByUsernamePassword(ctx, []string{"User.Read"}, "noid@example.com", "pw"); err == nil {
		t.Error("MSAL obtained a token for a user without ImmutableID")
	}
}

// nodeDir returns test/interop/node with its dependencies installed, or skips/fails.
func nodeDir(t *testing.T) (dir, node string) {
	t.Helper()
	node = peers.Command(t, "node", "apt-get install -y nodejs npm")
	_, file, _, _ := runtime.Caller(0)
	dir = filepath.Join(filepath.Dir(file), "..", "node")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "adal-node")); err != nil {
		peers.Missing(t, "node_modules (adal-node, passport-wsfed-saml2)", "make test (runs npm install in test/interop/node)")
	}
	return dir, node
}

type nodeResult struct {
	OK          bool           `json:"ok"`
	Error       string         `json:"error"`
	AccessToken string         `json:"accessToken"`
	Profile     map[string]any `json:"profile"`
}

func runNode(t *testing.T, s *stack, dir, node string, stdin []byte, args ...string) nodeResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NODE_EXTRA_CA_CERTS="+s.caFile)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, _ := cmd.Output()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var r nodeResult
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		t.Fatalf("node %v: no JSON result (%v)\nstdout: %s\nstderr: %s", args, err, out, stderr.String())
	}
	return r
}

// adal-node 0.2.4 through MEX: 1.3 when both are offered, 2005 when the MEX offers only it.
func TestADALNodeUsernamePassword(t *testing.T) {
	dir, node := nodeDir(t)
	s := newStack(t)
	cases := []struct {
		name, mex, user, pass string
		ok                    bool
		endpoint              string
	}{
		{"1.3 via full MEX", s.sekisho.URL + wstrust.PathMEX, "bob@contoso.test", "pw-bob", true, wstrust.Path13},
		{"2005 via 2005-only MEX", s.entra.URL + "/mex2005", "alice@example.com", "correct horse battery", true, wstrust.Path2005},
		{"2005 wrong password", s.entra.URL + "/mex2005", "alice@example.com", "nope", false, wstrust.Path2005},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s.entra.SetMEX(tc.mex)
			before, _ := s.entra.Received()
			calls := len(s.gate.Calls())
			r := runNode(t, s, dir, node, nil, "adal-usernamepassword.js", s.entra.URL+"/organizations",
				"https://outlook.office365.com", "00000000-0000-0000-0000-00000000c11e", tc.user, tc.pass)
			if r.OK != tc.ok {
				t.Fatalf("adal-node ok=%v (want %v): %s", r.OK, tc.ok, r.Error)
			}
			after, _ := s.entra.Received()
			if tc.ok {
				if r.AccessToken != "entra-token-for:"+tc.user || len(after) != len(before)+1 {
					t.Fatalf("token %q, assertions %d→%d", r.AccessToken, len(before), len(after))
				}
				saml11test.CheckPeers(t, after[len(after)-1], s.key)
			} else if !strings.Contains(r.Error, "FailedAuthentication") || len(after) != len(before) {
				t.Errorf("error %q, assertions %d→%d", r.Error, len(before), len(after))
			}
			gc := s.gate.Calls()
			if len(gc) != calls+1 || gc[len(gc)-1].Attempt.Username != tc.user || gc[len(gc)-1].Path != tc.endpoint {
				t.Errorf("gate calls %d→%d, last at %q (want %s)", calls, len(gc), gc[len(gc)-1].Path, tc.endpoint)
			}
		})
	}
}

var inputRE = regexp.MustCompile(`<input type="hidden" name="(\w+)" value="([^"]*)">`)

// passport-wsfed-saml2 accepts the wresult Sekisho posts and reads UPN and ImmutableID.
func TestPassportWSFedAcceptsWResult(t *testing.T) {
	dir, node := nodeDir(t)
	s := newStack(t)
	for _, tc := range []struct {
		user, id string
		mfa      bool
		method   string
	}{
		{"u1", "AAECAwQFBgcICQoLDA0ODw==", false, saml11token.PasswordMethod},
		{"u2", "Ym9iLWltbXV0YWJsZQ==", true, saml11token.PasswordMethod}, // contoso.test does not emit MFA
	} {
		s.sess.Current = &signin.Session{ID: "s-" + tc.user, UserID: tc.user, AuthnInstant: time.Now(), MFA: tc.mfa}
		q := url.Values{"wa": {"wsignin1.0"}, "wtrealm": {m365.Realm}, "wctx": {"LoginOptions=3&x=1"}, "wreply": {"https://evil.example/"}}
		resp, err := s.client.Get(s.sekisho.URL + wsfed.PathPassive + "?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), `action="`+s.entra.URL+`/login.srf"`) {
			t.Fatalf("form does not post to the registered login.srf: %s", body)
		}
		f := map[string]string{}
		for _, m := range inputRE.FindAllStringSubmatch(string(body), -1) {
			f[m[1]] = html.UnescapeString(m[2])
		}
		in, _ := json.Marshal(map[string]string{"wresult": f["wresult"], "cert": string(s.key.CertPEM), "realm": m365.Realm})
		r := runNode(t, s, dir, node, in, "wsfed-validate.js")
		if !r.OK {
			t.Fatalf("passport-wsfed-saml2 rejects our wresult: %s\n%s", r.Error, f["wresult"])
		}
		var upn string
		for _, a := range accounts {
			if a.User.ID == tc.user {
				upn = a.User.UPN
			}
		}
		if r.Profile[saml11token.ClaimsNS+"/UPN"] != upn || r.Profile[saml11token.LiveIDNS+"/ImmutableID"] != tc.id ||
			r.Profile["http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier"] != tc.id {
			t.Errorf("profile %v", r.Profile)
		}
		a := f["wresult"][strings.Index(f["wresult"], "<saml:Assertion"):]
		if !strings.Contains(a, `AuthenticationMethod="`+tc.method+`"`) {
			t.Errorf("authentication method: want %s", tc.method)
		}
		// A changed byte makes the relying party refuse it.
		bad := strings.Replace(f["wresult"], upn, "X"+upn[1:], 1)
		in, _ = json.Marshal(map[string]string{"wresult": bad, "cert": string(s.key.CertPEM), "realm": m365.Realm})
		if r := runNode(t, s, dir, node, in, "wsfed-validate.js"); r.OK {
			t.Error("passport-wsfed-saml2 accepts a tampered wresult")
		}
	}
}
