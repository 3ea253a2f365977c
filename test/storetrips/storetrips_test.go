// Package storetrips measures what one sign-in costs the store: SQL round trips and writes
// per SSO sign-in, per password sign-in and per WS-Trust call, counted by a wrapper around
// the real database driver (internal/store/sqlcount) on SQLite and on PostgreSQL. The test
// holds the goal (at most 2 writes per SSO sign-in); `make bench-store-trips` prints the
// figures (SEKISHO_BENCH_OUT).
package storetrips_test

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/m365"
	"github.com/sekisho/sekisho/internal/setup"
	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/store/postgres"
	"github.com/sekisho/sekisho/internal/store/sqlcount"
	"github.com/sekisho/sekisho/internal/store/sqlite"
	"github.com/sekisho/sekisho/internal/testutil/clustertest"
	"github.com/sekisho/sekisho/internal/testutil/idptest"
	"github.com/sekisho/sekisho/internal/wiring"
)

// maxSSOWrites is the goal: an SSO sign-in writes its sign-in record and at most one more
// row.
const maxSSOWrites = 2

var counters = map[string]*sqlcount.Counter{}

func TestMain(m *testing.M) {
	for _, d := range []struct{ name, base string }{{"sqlite+count", "sqlite"}, {"pgx+count", "pgx"}} {
		c, err := sqlcount.Register(d.name, d.base)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		counters[d.base] = c
	}
	sqlite.Driver, postgres.Driver = "sqlite+count", "pgx+count"
	os.Exit(m.Run())
}

type flowCost struct {
	RoundTrips int64    `json:"roundTrips"`
	Writes     int64    `json:"writes"`
	Written    []string `json:"written"`
}

var results = map[string]map[string]flowCost{} // backend → flow → cost

func TestStoreTrips(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { measure(t, "sqlite") })
	t.Run("postgres", func(t *testing.T) {
		dsn := clustertest.Schema(t, clustertest.PostgresDSN(t))
		t.Setenv("SEKISHO_STORE_DRIVER", "postgres")
		t.Setenv("SEKISHO_STORE_DSN", dsn)
		measure(t, "pgx")
	})
	if out := os.Getenv("SEKISHO_BENCH_OUT"); out != "" && !t.Failed() {
		b, _ := json.MarshalIndent(results, "", "  ")
		if err := os.WriteFile(out, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func measure(t *testing.T, backend string) {
	p := idptest.Start(t, idptest.Options{Prepare: func(ctx context.Context, in *setup.Instance) error {
		d, err := m365.GetDomain(ctx, in.Store, "example.com")
		if err != nil {
			return err
		}
		d.Protocol = m365.SAML
		if err := m365.PutDomain(ctx, in.Store, d); err != nil {
			return err
		}
		_, err = wiring.EnsureM365SAMLApp(ctx, in.Store)
		return err
	}})
	counter := counters[backend]
	c := p.Client()
	c.Jar, _ = cookiejar.New(nil)
	get := func(u string) (*http.Response, string) {
		t.Helper()
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	samlForm := func(body string) bool { return strings.Contains(body, `name="SAMLResponse"`) }
	ssoURL := func() string {
		return p.URL + "/saml/sso?SAMLRequest=" + url.QueryEscape(authnRequest(p.URL)) + "&RelayState=x"
	}
	costs := map[string]flowCost{}
	var token, tokenID string // the last flow's token and how to find its ID
	run := func(flow string, fn func()) {
		t.Helper()
		// Warm the caches (policy, keys, domains) and the address's first admission once, then
		// count the second run: the steady state of a busy node.
		fn()
		counter.Reset()
		fn()
		s := counter.Snapshot()
		fc := flowCost{RoundTrips: s.RoundTrips, Writes: s.Writes}
		for _, q := range s.Statements {
			if sqlcount.IsWrite(q) {
				fc.Written = append(fc.Written, q)
			}
		}
		costs[flow] = fc
		t.Logf("%-38s %3d round trips, %d writes", flow, fc.RoundTrips, fc.Writes)
		for _, q := range fc.Written {
			t.Logf("    %.160s", q)
		}
	}

	run("password sign-in (SAML, sign-in form)", func() {
		c.Jar, _ = cookiejar.New(nil) // no session yet
		resp, _ := get(ssoURL())
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?") {
			t.Fatalf("no redirect to sign-in: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
		loginURL, _ := url.Parse(resp.Header.Get("Location"))
		_, body := get(p.URL + loginURL.String())
		m := csrfRe.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no CSRF token:\n%s", body)
		}
		pr, err := c.PostForm(p.URL+"/login", url.Values{"csrf": {m[1]}, "step": {"password"}, "username": {"alice@example.com"},
			"password": {p.Password("alice@example.com")}, "return_to": {loginURL.Query().Get("return_to")}})
		if err != nil {
			t.Fatal(err)
		}
		pr.Body.Close()
		if pr.StatusCode != http.StatusSeeOther {
			t.Fatalf("password step: %d", pr.StatusCode)
		}
		if _, form := get(p.URL + pr.Header.Get("Location")); !samlForm(form) {
			t.Fatalf("no SAMLResponse after the password:\n%.500s", form)
		}
	})
	run("SSO sign-in (SAML, existing session)", func() {
		resp, form := get(ssoURL())
		if resp.StatusCode != http.StatusOK || !samlForm(form) {
			t.Fatalf("SSO: %d\n%.500s", resp.StatusCode, form)
		}
		// The assertion names its sign-in record.
		m := regexp.MustCompile(`name="SAMLResponse" value="([^"]+)"`).FindStringSubmatch(form)
		if m == nil {
			t.Fatalf("no SAMLResponse value:\n%.500s", form)
		}
		xml, err := base64.StdEncoding.DecodeString(html.UnescapeString(m[1]))
		if err != nil {
			t.Fatal(err)
		}
		token, tokenID = string(xml), `<saml:Assertion[^>]* ID="([^"]+)"`
	})
	names(t, p, token, tokenID) // after the count: the check reads the log
	run("WS-Trust call (MSAL username/password)", func() {
		r, err := wstrust(c, p.URL, "alice@example.com", p.Password("alice@example.com"))
		if err != nil || !strings.Contains(r, "RequestSecurityTokenResponse") {
			t.Fatalf("WS-Trust: %v %.300s", err, r)
		}
		token, tokenID = r, `AssertionID="([^"]+)"`
	})
	names(t, p, token, tokenID)
	results[backend] = costs
	if sso := costs["SSO sign-in (SAML, existing session)"]; sso.Writes > maxSSOWrites {
		t.Errorf("an SSO sign-in writes %d rows, want at most %d: %q", sso.Writes, maxSSOWrites, sso.Written)
	}
}

func authnRequest(base string) string {
	req := fmt.Sprintf(`<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_%d" Version="2.0" IssueInstant="%s" Destination="%s/saml/sso" AssertionConsumerServiceURL="https://login.microsoftonline.com/login.srf" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"><saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">urn:federation:MicrosoftOnline</saml:Issuer><samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"/></samlp:AuthnRequest>`,
		time.Now().UnixNano(), time.Now().UTC().Format(time.RFC3339), base)
	var buf bytes.Buffer
	fw, _ := flate.NewWriter(&buf, flate.DefaultCompression)
	io.WriteString(fw, req)
	fw.Close()
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

func wstrust(c *http.Client, base, user, password string) (string, error) {
	cl := &clustertest.Cluster{}
	n := &clustertest.Node{URL: base}
	r, err := cl.WSTrust(context.Background(), c, n, user, password)
	return r.Body, err
}

// names asserts that the token in doc (its ID found by idRE) names the newest sign-in record:
// "_" and the record's reference ID.
func names(t *testing.T, p *idptest.IdP, doc, idRE string) {
	t.Helper()
	m := regexp.MustCompile(idRE).FindStringSubmatch(doc)
	if m == nil {
		t.Fatalf("no assertion ID in %.400s", doc)
	}
	evs, err := p.Services.Instance.Store.ListSignIns(context.Background(), store.SignInFilter{})
	if err != nil || len(evs) == 0 {
		t.Fatalf("no records: %v", err)
	}
	if last := evs[len(evs)-1]; m[1] != "_"+last.ID || last.Decision != "allow" {
		t.Fatalf("assertion ID %q, newest record %q (%s)", m[1], last.ID, last.Decision)
	}
}
