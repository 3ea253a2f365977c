package cluster_test

import (
	"bytes"
	"compress/flate"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/sekisho/sekisho/internal/testutil/clustertest"
)

// sessionCookie is the SSO session cookie (internal/authn.CookieName).
const sessionCookie = "sekisho_session"

// TestStateSharedAcrossNodes: what one node knows of a person's sign-in is known to every
// node. A browser session started on node a is accepted by node b and ended on both by
// signing out on b; a device certificate revoked through node a's API fails node b's TLS
// handshake; a TOTP code used on node a is refused on node b; a SAML service provider
// registered through node a's API is served by node b, and removed through node b's API is
// refused again by node a.
func TestStateSharedAcrossNodes(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Demo: true, Env: []string{"SEKISHO_TLS_DEVICE_CERTIFICATES=true"}})
	a, b := c.Start(t, "node-a"), c.Start(t, "node-b")
	token := c.Token(t, "admin")
	delays := &measured{d: map[string]time.Duration{}}
	t.Cleanup(func() {
		for what, d := range delays.d {
			t.Logf("in force after %v: %s", d.Round(time.Millisecond), what)
		}
	})
	// newest returns the newest sign-in record of user (through node a's API).
	newest := func(t *testing.T, user string) apiSignIn {
		t.Helper()
		var list struct {
			SignIns []apiSignIn `json:"signins"`
		}
		c.MustAPI(t, a, token, http.StatusOK, "GET", "/signins?limit=1&user="+url.QueryEscape(user), nil, &list)
		if len(list.SignIns) == 0 {
			t.Fatalf("no sign-in record of %s", user)
		}
		return list.SignIns[0]
	}

	t.Run("a session started on node a is accepted by node b; signing out on b ends it on a", func(t *testing.T) {
		ctx := t.Context()
		const bob = "bob@example.com"
		// Before: node b sends a browser without a session to the sign-in page.
		if p, err := c.NewBrowser(nil).Get(ctx, b, "/"); err != nil || !p.Redirected("/login") {
			t.Fatalf("portal on node b without a session: %v %v", p, err)
		}
		br := c.NewBrowser(nil)
		p, err := br.SignIn(ctx, a, bob, c.Passwords[bob], "/")
		if err != nil || !p.Redirected("/") {
			t.Fatalf("password sign-in on node a: %v %v", p, err)
		}
		cookie := br.Cookie(a, sessionCookie)
		if cookie == "" {
			t.Fatal("node a set no session cookie")
		}
		portal, err := br.Get(ctx, b, "/")
		if err != nil || portal.Status != http.StatusOK || !strings.Contains(portal.Body, `id="who">`+bob+`<`) {
			t.Fatalf("portal on node b with node a's session: %v %v", portal, err)
		}
		// The session cookie alone (no CSRF cookie, a browser that never met node a) is
		// accepted by node a too, until the session ends.
		bare := c.NewBrowser(nil)
		bare.SetCookie(a, sessionCookie, cookie)
		if p, err := bare.Get(ctx, a, "/"); err != nil || p.Status != http.StatusOK {
			t.Fatalf("portal on node a with the session cookie alone: %v %v", p, err)
		}
		if portal.CSRF() == "" {
			t.Fatalf("no sign-out form on node b's portal:\n%v", portal)
		}
		p, err = br.Post(ctx, b, "/logout", url.Values{"csrf": {portal.CSRF()}})
		if err != nil || p.Status != http.StatusOK {
			t.Fatalf("sign-out on node b: %v %v", p, err)
		}
		if br.Cookie(b, sessionCookie) != "" {
			t.Error("node b's sign-out did not clear the session cookie")
		}
		// The ended session's cookie, replayed to node a, no longer opens the portal.
		var last clustertest.Page
		d, err := clustertest.Within(bound, func() (bool, error) {
			p, err := bare.Get(ctx, a, "/")
			last = p
			return p.Redirected("/login"), err
		})
		if err != nil {
			t.Fatalf("node a still accepts the session node b ended: %v\n%v", err, last)
		}
		delays.add("sign-out (node b) (node-a)", d)
	})

	t.Run("a device certificate revoked through node a's API fails node b's handshake", func(t *testing.T) {
		ctx := t.Context()
		const alice = "alice@example.com"
		out := c.CLI(t, "", "device", "issue", "--user", alice, "--name", "alice-laptop", "--platform", "windows")
		field := func(name string) string {
			m := regexp.MustCompile(`(?m)^\s*` + name + `:\s+(\S+)\s*$`).FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("no %s in the output of device issue:\n%s", name, out)
			}
			return m[1]
		}
		id, serial, dl, pw := field("id"), field("serial"), field("download token"), field("one-time password")
		file := filepath.Join(t.TempDir(), "alice-laptop.p12")
		c.CLI(t, "", "device", "download", dl, "--out", file)
		p12, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		key, leaf, _, err := pkcs12.DecodeChain(p12, pw)
		if err != nil {
			t.Fatalf("the package does not open with its one-time password: %v", err)
		}
		if got := fmt.Sprintf("%x", leaf.SerialNumber); got != serial {
			t.Fatalf("package holds serial %s, issued %s", got, serial)
		}
		cert := &tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}

		// A sign-in on node b with it records the device and marks it in use.
		dev := c.NewBrowser(cert)
		if p, err := dev.SignIn(ctx, b, alice, c.Passwords[alice], "/"); err != nil || !p.Redirected("/") {
			t.Fatalf("sign-in on node b with the device: %v %v", p, err)
		}
		if ev := newest(t, alice); ev.Device != "alice-laptop" || ev.Decision != "allow" || ev.Application != "sekisho-account" {
			t.Fatalf("the sign-in record does not name the device: %+v", ev)
		}
		var devs []struct{ ID, Status string }
		c.MustAPI(t, a, token, http.StatusOK, "GET", "/devices?user="+url.QueryEscape(alice), nil, &devs)
		if len(devs) != 1 || devs[0].ID != id || devs[0].Status != "in-use" {
			t.Fatalf("device after its first sign-in: %+v (want %s in-use)", devs, id)
		}

		// Before: both nodes complete a new handshake with it. This also leaves the device's
		// row in each node's revocation cache (2 s), so what is measured below is the cache
		// being dropped, not a first read.
		for _, n := range []*clustertest.Node{b, a} {
			if st, err := c.FreshGet(ctx, n, cert, "/healthz"); err != nil || st != http.StatusOK {
				t.Fatalf("valid device certificate on %s: %d %v", n.Name, st, err)
			}
		}
		var revoked struct{ Status string }
		c.MustAPI(t, a, token, http.StatusOK, "POST", "/devices/"+id+"/revoke", nil, &revoked)
		if revoked.Status != "revoked" {
			t.Fatalf("revoke answered %+v", revoked)
		}
		// Both nodes are polled at once from the revocation on, so that each delay is its own.
		var wg sync.WaitGroup
		fails := make([]string, 2)
		for i, n := range []*clustertest.Node{b, a} {
			wg.Go(func() {
				var last error
				d, err := clustertest.Within(bound, func() (bool, error) {
					_, err := c.FreshGet(ctx, n, cert, "/healthz")
					last = err
					// The server's alert for a certificate that VerifyConnection rejects.
					return err != nil && strings.Contains(err.Error(), "bad certificate"), nil
				})
				if err != nil {
					fails[i] = fmt.Sprintf("%s still completes a handshake with the revoked certificate: %v (last: %v)\n%s", n.Name, err, last, tail(n.Log()))
					return
				}
				delays.add("device revoke (API, node a) ("+n.Name+" handshake)", d)
			})
		}
		wg.Wait()
		for _, f := range fails {
			if f != "" {
				t.Error(f)
			}
		}
		if t.Failed() {
			t.FailNow()
		}
		// The refusal is the certificate's: without one, node b serves as before.
		if st, err := c.FreshGet(ctx, b, nil, "/healthz"); err != nil || st != http.StatusOK {
			t.Fatalf("node b without a certificate after the revocation: %d %v", st, err)
		}
		// A connection opened before the revocation stays open (the handshake is over); the
		// gate checks the certificate again at the sign-in, and on node b it no longer counts.
		p, err := dev.SignIn(ctx, b, alice, c.Passwords[alice], "/")
		switch {
		case err != nil:
			t.Logf("the connection opened before the revocation is gone: %v", err)
		case !p.Reused:
			t.Fatalf("a new connection with the revoked certificate was accepted: %v", p)
		default:
			ev := newest(t, alice)
			if ev.Device != "alice-laptop [revoked]" {
				t.Fatalf("node b's gate did not flag the revoked certificate: %+v", ev)
			}
			t.Logf("sign-in over the old connection: %s by rule %q, device %q", ev.Decision, ev.Rule, ev.Device)
		}
	})

	t.Run("a TOTP code used on node a is refused on node b", func(t *testing.T) {
		ctx := t.Context()
		const carol = "carol@example.com" // it-admins: Microsoft 365 asks her for a second factor
		pw := c.Passwords[carol]
		en := c.NewBrowser(nil)
		if p, err := en.SignIn(ctx, a, carol, pw, "/account/totp"); err != nil || !p.Redirected("/account/totp") {
			t.Fatalf("sign-in for the enrolment page: %v %v", p, err)
		}
		page, err := en.Get(ctx, a, "/account/totp")
		m := regexp.MustCompile(`id="secret">([A-Z2-7]+)<`).FindStringSubmatch(page.Body)
		if err != nil || page.Status != http.StatusOK || m == nil {
			t.Fatalf("enrolment page on node a: %v %v", page, err)
		}
		secret := m[1]
		code := func(step int64) string {
			s, err := totp.GenerateCodeCustom(secret, time.Unix(step*30, 0),
				totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		// Codes are accepted one 30-second step early or late, each step once: enrolment
		// takes the next step's code, the sign-in on node a this step's, so that both nodes
		// are still inside the window of this step's code when node b sees it.
		base := time.Now().Unix() / 30
		p, err := en.Post(ctx, a, "/account/totp", url.Values{"csrf": {page.CSRF()}, "code": {code(base + 1)}, "return_to": {"/"}})
		if err != nil || p.Status != http.StatusOK || !strings.Contains(p.Body, `id="continue"`) {
			t.Fatalf("confirming the authenticator app: %v %v", p, err)
		}

		wsfed := "/adfs/ls/?wa=wsignin1.0&wtrealm=urn%3Afederation%3AMicrosoftOnline&wctx=ctx1&username=" + url.QueryEscape(carol)
		// mfaStep signs carol in with her password on n (a new browser) and returns the
		// browser at the second-factor step the policy sends her to.
		mfaStep := func(n *clustertest.Node) (*clustertest.Browser, clustertest.Page) {
			t.Helper()
			br := c.NewBrowser(nil)
			if p, err := br.SignIn(ctx, n, carol, pw, wsfed); err != nil || p.Location != wsfed {
				t.Fatalf("password on %s: %v %v", n.Name, p, err)
			}
			p, at, err := br.Follow(ctx, n, wsfed)
			if err != nil || p.Status != http.StatusOK || !strings.HasPrefix(at, "/login/mfa?") || !strings.Contains(p.Body, `id="code"`) {
				t.Fatalf("%s did not ask for a code: %s %v %v", n.Name, at, p, err)
			}
			return br, p
		}
		submit := func(br *clustertest.Browser, n *clustertest.Node, form clustertest.Page, code string) clustertest.Page {
			t.Helper()
			p, err := br.Post(ctx, n, "/login/mfa", url.Values{"csrf": {form.CSRF()}, "code": {code}, "return_to": {wsfed}})
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		tokenIssued := func(br *clustertest.Browser, n *clustertest.Node) {
			t.Helper()
			p, err := br.Get(ctx, n, wsfed)
			if err != nil || p.Status != http.StatusOK || !strings.Contains(p.Body, `name="wresult"`) || !strings.Contains(p.Body, "multipleauthn") {
				t.Fatalf("no multi-factor token from %s: %v %v", n.Name, p, err)
			}
		}

		used := code(base)
		brA, formA := mfaStep(a)
		if p := submit(brA, a, formA, used); p.Status != http.StatusSeeOther || p.Location != wsfed {
			t.Fatalf("a fresh code on node a: %v", p)
		}
		tokenIssued(brA, a)

		brB, formB := mfaStep(b)
		p = submit(brB, b, formB, used)
		if now := time.Now().Unix() / 30; now > base+1 {
			t.Fatalf("the code's window passed during the test (step %d, now %d): cannot tell a replay from an old code", base, now)
		}
		if p.Status != http.StatusUnauthorized || p.Location != "" {
			t.Fatalf("node b accepted the code node a accepted: %v", p)
		}
		if ev := newest(t, carol); ev.Decision != "deny" || ev.Reason != "mfa_failed" {
			t.Fatalf("the refused code left no record: %+v", ev)
		}
		// Node b accepts codes: an unused step within the window goes through.
		fresh := ""
		for now, s := time.Now().Unix()/30, int64(0); fresh == "" && s <= 2; s++ {
			if st := now - 1 + s; st != base && st != base+1 && code(st) != used {
				fresh = code(st)
			}
		}
		if p := submit(brB, b, formB, fresh); p.Status != http.StatusSeeOther || p.Location != wsfed {
			t.Fatalf("an unused code on node b: %v", p)
		}
		tokenIssued(brB, b)
	})

	t.Run("a SAML SP registered through node a's API is served by node b; removed through b, refused by a", func(t *testing.T) {
		ctx := t.Context()
		const entity, acs = "https://wiki.cluster.test/shibboleth", "https://wiki.cluster.test/Shibboleth.sso/SAML2/POST"
		metadata := `<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="` + entity + `">
 <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
  <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="` + acs + `" index="1"/>
 </md:SPSSODescriptor>
</md:EntityDescriptor>`
		// sso sends a new AuthnRequest from the SP by HTTP-Redirect from a browser without a
		// session: 303 to /login when the node knows the SP, 400 when it does not.
		sso := func(n *clustertest.Node) (clustertest.Page, error) {
			return c.NewBrowser(nil).Get(ctx, n, "/saml/sso?"+redirectBinding(authnRequest(entity, acs), "relay-1"))
		}
		known := func(n *clustertest.Node) (bool, error) {
			p, err := sso(n)
			switch {
			case err != nil:
				return false, err
			case p.Redirected("/login"):
				return true, nil
			case p.Status == http.StatusBadRequest:
				return false, nil
			}
			return false, fmt.Errorf("/saml/sso on %s: %v", n.Name, p)
		}
		for _, n := range []*clustertest.Node{b, a} {
			if ok, err := known(n); err != nil || ok {
				t.Fatalf("%s serves an SP nobody registered: %v %v", n.Name, ok, err)
			}
		}
		var app struct{ Name, EntityID string }
		c.MustAPI(t, a, token, http.StatusCreated, "POST", "/applications", map[string]any{"name": "cluster-wiki", "metadata": metadata}, &app)
		if app.EntityID != entity {
			t.Fatalf("registered %+v", app)
		}
		d, err := clustertest.Within(bound, func() (bool, error) { return known(b) })
		if err != nil {
			t.Fatalf("node b does not serve the SP registered on node a: %v\n%s", err, tail(b.Log()))
		}
		delays.add("application add (API, node a) (node-b)", d)
		// The redirect leads to node b's sign-in page.
		br := c.NewBrowser(nil)
		p, at, err := br.Follow(ctx, b, "/saml/sso?"+redirectBinding(authnRequest(entity, acs), "relay-2"))
		if err != nil || p.Status != http.StatusOK || !strings.HasPrefix(at, "/login?") || p.CSRF() == "" || !strings.Contains(p.Body, `name="username"`) {
			t.Fatalf("the SP's request on node b does not reach the sign-in page: %s %v %v", at, p, err)
		}

		c.MustAPI(t, b, token, http.StatusNoContent, "DELETE", "/applications/cluster-wiki", nil, nil)
		d, err = clustertest.Within(bound, func() (bool, error) {
			ok, err := known(a)
			return !ok, err
		})
		if err != nil {
			t.Fatalf("node a still serves the SP removed on node b: %v\n%s", err, tail(a.Log()))
		}
		delays.add("application remove (API, node b) (node-a)", d)
	})
}

// apiSignIn is the part of a sign-in record (/api/v1/signins) the test reads.
type apiSignIn struct {
	User        string `json:"user"`
	Application string `json:"application"`
	Device      string `json:"device"`
	Decision    string `json:"decision"`
	Rule        string `json:"rule"`
	Reason      string `json:"reason"`
}

// authnRequest is an unsigned SAML AuthnRequest from entity with a new ID, asking for the
// response at acs by HTTP-POST.
func authnRequest(entity, acs string) string {
	return fmt.Sprintf(`<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"`+
		` ID="_%s" Version="2.0" IssueInstant="%s" AssertionConsumerServiceURL="%s" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST">`+
		`<saml:Issuer>%s</saml:Issuer></samlp:AuthnRequest>`, strings.ToLower(rand.Text()), time.Now().UTC().Format("2006-01-02T15:04:05Z"), acs, entity)
}

// redirectBinding encodes a SAML message for the HTTP-Redirect binding (DEFLATE, base64, URL
// encoding), unsigned.
func redirectBinding(xml, relay string) string {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	_, _ = w.Write([]byte(xml))
	_ = w.Close()
	return "SAMLRequest=" + url.QueryEscape(base64.StdEncoding.EncodeToString(buf.Bytes())) + "&RelayState=" + url.QueryEscape(relay)
}
