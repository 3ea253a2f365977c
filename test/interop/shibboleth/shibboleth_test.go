// Package shibboleth drives a real Shibboleth SP 3 (shibd + Apache mod_shib) against a
// running Sekisho with Chromium: SP-initiated SAML 2.0 sign-in, SSO, a wrong password, a
// policy denial and single logout, each checked on both sides (the SP's view of the user,
// Sekisho's sign-in log).
package shibboleth

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sekisho/sekisho/internal/authn"
	"github.com/sekisho/sekisho/internal/protocol/saml"
	"github.com/sekisho/sekisho/internal/setup"
	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/testutil/chromium"
	"github.com/sekisho/sekisho/internal/testutil/idptest"
	"github.com/sekisho/sekisho/internal/testutil/peers"
)

const (
	appName = "shibboleth-sp"
	alice   = "alice@example.com"
)

// attributes is what Sekisho releases to the SP; testdata/attribute-map.xml maps the same
// names and formats to the SP's attribute IDs mail, displayName, upn and groups (multi-valued).
var attributes = []saml.AttributeMapping{
	{Name: "urn:oid:0.9.2342.19200300.100.1.3", NameFormat: saml.AttrNameFormatURI, FriendlyName: "mail", Source: saml.SourceEmail},
	{Name: "urn:oid:2.16.840.1.113730.3.1.241", NameFormat: saml.AttrNameFormatURI, FriendlyName: "displayName", Source: saml.SourceDisplayName},
	{Name: "upn", NameFormat: saml.AttrNameFormatBasic, Source: saml.SourceUPN},
	// No NameFormat, as `sekisho app add --attribute groups=groups` registers it: Sekisho
	// sends ...:attrname-format:unspecified.
	{Name: "groups", Source: saml.SourceGroups},
}

type env struct {
	idp      *idptest.IdP
	idpID    string // Sekisho's SAML entity ID, from its metadata
	sp       *sp
	chromium context.Context
	art      string
}

func TestShibbolethSP(t *testing.T) {
	shibd := peers.Command(t, "shibd", "apt-get install -y libapache2-mod-shib")
	apache := peers.Command(t, "apache2", "apt-get install -y libapache2-mod-shib")
	exe := chromium.Command(t)
	start := time.Now()

	e := &env{art: os.Getenv("SEKISHO_ARTIFACTS")}
	if e.art == "" {
		e.art = t.TempDir()
	}
	e.idp = idptest.Start(t, idptest.Options{})
	tIdP := time.Since(start)
	idpMeta, idpID := fetchIdPMetadata(t, e.idp)
	e.idpID = idpID
	e.sp = startSP(t, shibd, apache, idpMeta, idpID)
	registerSP(t, e.idp, e.sp)
	tSP := time.Since(start) - tIdP
	e.chromium = startChromium(t, exe)
	t.Logf("setup: Sekisho %v, Shibboleth SP %v, Chromium %v", tIdP.Round(time.Millisecond), tSP.Round(time.Millisecond),
		(time.Since(start) - tIdP - tSP).Round(time.Millisecond))

	// One profile signs in, uses SSO and logs out; fresh profiles (own cookie jars) try the
	// wrong password and meet the denying policy. The steps depend on each other's state, so
	// they run in order and stop at the first broken one.
	first := newBrowser(t, e.chromium, "first", e.art)
	steps := []struct {
		name string
		run  func(*testing.T)
	}{
		{"SPInitiatedLogin", func(t *testing.T) { spInitiatedLogin(t, e, first) }},
		{"SingleSignOn", func(t *testing.T) { singleSignOn(t, e, first) }},
		{"WrongPassword", func(t *testing.T) { wrongPassword(t, e, newBrowser(t, e.chromium, "wrong-password", e.art)) }},
		{"SingleLogout", func(t *testing.T) { singleLogout(t, e, first) }},
		{"DeniedByPolicy", func(t *testing.T) { deniedByPolicy(t, e, newBrowser(t, e.chromium, "denied", e.art)) }},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.run) {
			t.FailNow()
		}
	}
	// Nothing Sekisho sent was rejected or failed at the SP along the way.
	for _, name := range []string{"shibd_warn.log", "native.log", "apache_error.log"} {
		for _, line := range strings.Split(e.sp.Log(name), "\n") {
			if strings.Contains(line, " ERROR ") || strings.Contains(line, " CRIT ") || strings.Contains(line, ":error]") {
				t.Errorf("%s: %s", name, line)
			}
		}
	}
	t.Logf("total: %v", time.Since(start).Round(time.Millisecond))
}

// fetchIdPMetadata downloads Sekisho's metadata, as an SP administrator would.
func fetchIdPMetadata(t *testing.T, idp *idptest.IdP) ([]byte, string) {
	t.Helper()
	b := getOK(t, idp.Client(), idp.URL+"/saml/metadata", "IdP metadata")
	var ed struct {
		EntityID string `xml:"entityID,attr"`
	}
	if err := xml.Unmarshal(b, &ed); err != nil || ed.EntityID != idp.URL+"/saml/metadata" {
		t.Fatalf("IdP metadata entityID = %q (%v), want the documented %s/saml/metadata", ed.EntityID, err, idp.URL)
	}
	return b, ed.EntityID
}

// registerSP imports the metadata shibd generated, adds the attribute release, and stores
// the application exactly as `sekisho app import-metadata` does.
func registerSP(t *testing.T, idp *idptest.IdP, s *sp) {
	t.Helper()
	conf, err := saml.ParseSPMetadata(s.Metadata(t))
	if err != nil {
		t.Fatalf("import the SP's metadata: %v", err)
	}
	acs := s.URL + "/Shibboleth.sso/SAML2/POST"
	if conf.EntityID != s.EntityID || !slices.ContainsFunc(conf.ACS, func(e saml.Endpoint) bool { return e.Location == acs }) ||
		!slices.ContainsFunc(conf.SLO, func(e saml.Endpoint) bool { return e.Binding == saml.BindingRedirect }) || len(conf.Certificates) == 0 {
		t.Fatalf("imported SP = %+v; want entity %s, ACS %s, a Redirect SLO endpoint and the SP certificate", conf, s.EntityID, acs)
	}
	// The SP signs its requests (signing="true"), says so in its metadata, and Sekisho then
	// refuses unsigned ones: every AuthnRequest and LogoutRequest below is verified.
	if !conf.WantAuthnRequestsSigned {
		t.Fatalf("the SP's metadata asks for signed requests but the import did not require them: %+v", conf)
	}
	conf.Attributes = attributes
	raw, err := json.Marshal(conf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := saml.ParseSPConfig(raw); err != nil {
		t.Fatalf("stored config does not validate: %v", err)
	}
	now := time.Now().UTC()
	if err := idp.Services.Instance.Store.CreateApplication(context.Background(), store.Application{Name: appName,
		Protocol: "saml", EntityID: conf.EntityID, Config: raw, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
}

// signIn answers Sekisho's two-step sign-in page.
func signIn(b *browser, t *testing.T, user, password string) {
	t.Helper()
	b.run(t, "username page", chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), user), chromedp.Click(chromedp.ID("next")))
	b.run(t, "password page", chromedp.WaitVisible(chromedp.ID("password")),
		chromedp.SendKeys(chromedp.ID("password"), password), chromedp.Click(chromedp.ID("signin")))
}

// spEnv waits for the protected page at path and returns the variables the CGI printed.
// Each step uses its own path, so a page left over from an earlier step cannot pass.
func spEnv(b *browser, t *testing.T, path string) map[string]string {
	t.Helper()
	b.run(t, "protected page", chromedp.WaitVisible(chromedp.ID("sp-page")))
	out := map[string]string{}
	for _, line := range strings.Split(b.text(`document.getElementById("env").innerText`), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			out[k] = v
		}
	}
	if out["REQUEST_URI"] != path {
		b.fail(t, "protected page", fmt.Errorf("page for %q, want %q", out["REQUEST_URI"], path))
	}
	return out
}

func signIns(t *testing.T, e *env, f store.SignInFilter) []store.SignInEvent {
	t.Helper()
	evs, err := e.idp.Services.Instance.Store.ListSignIns(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// sekishoPages lists the Sekisho paths among document requests, e.g. /login, /saml/sso.
func sekishoPages(e *env, navs []string) []string {
	var out []string
	for _, n := range navs {
		_, u, _ := strings.Cut(n, " ")
		if rest, ok := strings.CutPrefix(u, e.idp.URL); ok {
			path, _, _ := strings.Cut(rest, "?")
			out = append(out, path)
		}
	}
	return out
}

// signedRequest asserts that a document request to Sekisho's path carried a SAMLRequest with
// an RSA-SHA256 query signature (HTTP-Redirect binding).
func signedRequest(t *testing.T, e *env, navs []string, path string) {
	t.Helper()
	for _, n := range navs {
		_, raw, _ := strings.Cut(n, " ")
		u, err := url.Parse(raw)
		if err != nil || !strings.HasPrefix(raw, e.idp.URL+path+"?") || !u.Query().Has("SAMLRequest") {
			continue
		}
		if q := u.Query(); q.Get("Signature") == "" || q.Get("SigAlg") != saml.SigAlgRSASHA256 {
			t.Errorf("request to %s not signed with RSA-SHA256: SigAlg %q", path, q.Get("SigAlg"))
		}
		return
	}
	t.Errorf("no SAMLRequest to %s among %v", path, navs)
}

func user(t *testing.T, e *env, upn string) store.User {
	t.Helper()
	u, err := e.idp.Services.Instance.Store.GetUserByUPN(context.Background(), upn)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// checkAliceAtSP asserts the SP's view of alice: every mapped attribute, REMOTE_USER, the
// persistent NameID and the issuing IdP.
func checkAliceAtSP(t *testing.T, e *env, vars map[string]string) {
	t.Helper()
	a := user(t, e, alice)
	want := map[string]string{
		"REMOTE_USER":             alice,
		"upn":                     alice,
		"mail":                    a.Email,
		"displayName":             a.DisplayName,
		"Shib_Identity_Provider":  e.idpID,
		"Shib_AuthnContext_Class": saml.ClassPassword,
		// NameQualifier!SPNameQualifier!value, the qualifiers defaulted by the SP.
		"persistent_id": e.idpID + "!" + e.sp.EntityID + "!" + a.ImmutableID,
	}
	for k, v := range want {
		if vars[k] != v {
			t.Errorf("SP variable %s = %q, want %q", k, vars[k], v)
		}
	}
	groups := strings.Split(vars["groups"], ";")
	slices.Sort(groups)
	wantGroups := slices.Clone(a.Groups)
	slices.Sort(wantGroups)
	if !slices.Equal(groups, wantGroups) {
		t.Errorf("SP groups = %v, want %v", groups, wantGroups)
	}
	if vars["Shib_Session_Index"] == "" || vars["Shib_Session_ID"] == "" {
		t.Errorf("SP has no session index/ID: %v", vars)
	}
}

// 1. SP-initiated: the SP sends the browser to Sekisho, alice signs in, the assertion comes
// back and the SP shows her attributes; Sekisho logged an allow for this SP.
func spInitiatedLogin(t *testing.T, e *env, b *browser) {
	defer b.checkErrors(t, e.idp.URL)
	b.run(t, "open the SP", chromedp.Navigate(e.sp.URL+"/secure/"))
	signIn(b, t, alice, e.idp.Password(alice))
	checkAliceAtSP(t, e, spEnv(b, t, "/secure/"))
	if pages := sekishoPages(e, b.navigations()); !slices.Contains(pages, "/login") || !slices.Contains(pages, "/saml/sso") {
		t.Errorf("the SP did not send the browser through Sekisho's sign-in page: %v", b.navigations())
	}
	signedRequest(t, e, b.navigations(), "/saml/sso")
	if n := e.sp.ACSPosts(t); n != 1 {
		t.Errorf("the SP's ACS received %d responses, want 1", n)
	}
	evs := signIns(t, e, store.SignInFilter{Username: alice, Application: appName})
	if len(evs) != 1 {
		t.Fatalf("sign-in log for %s/%s: %d records, want 1: %+v", alice, appName, len(evs), evs)
	}
	ev := evs[0]
	if ev.Decision != "allow" || ev.Protocol != "saml" || ev.ClientType != "browser" || ev.UserID != user(t, e, alice).ID {
		t.Errorf("sign-in record = decision %q protocol %q client %q user %q; want allow, saml, browser, alice",
			ev.Decision, ev.Protocol, ev.ClientType, ev.UserID)
	}
}

// 2. SSO: with the SP's session cookie gone, the SP asks again and Sekisho answers from its
// own session without showing the sign-in page.
func singleSignOn(t *testing.T, e *env, b *browser) {
	defer b.checkErrors(t, e.idp.URL)
	if n := b.deleteCookies(t, e.sp.URL+"/", "_shibsession_"); n != 1 {
		t.Fatalf("deleted %d SP session cookies, want 1 (have %v)", n, b.cookies(t, e.sp.URL+"/"))
	}
	mark := len(b.navigations())
	b.run(t, "open the SP again", chromedp.Navigate(e.sp.URL+"/secure/again"))
	checkAliceAtSP(t, e, spEnv(b, t, "/secure/again"))
	pages := sekishoPages(e, b.navigations()[mark:])
	if !slices.Contains(pages, "/saml/sso") {
		t.Errorf("the second sign-in did not go through Sekisho: %v", b.navigations()[mark:])
	}
	if slices.Contains(pages, "/login") {
		t.Errorf("SSO showed the sign-in page again: %v", pages)
	}
	if n := e.sp.ACSPosts(t); n != 2 {
		t.Errorf("the SP's ACS received %d responses, want 2", n)
	}
	if evs := signIns(t, e, store.SignInFilter{Username: alice, Application: appName, Decision: "allow"}); len(evs) != 2 {
		t.Errorf("%d allow records, want 2", len(evs))
	}
}

// 3. A wrong password stays on Sekisho's page with an error, is logged, and sends nothing to
// the SP.
func wrongPassword(t *testing.T, e *env, b *browser) {
	defer b.checkErrors(t, e.idp.URL)
	acs := e.sp.ACSPosts(t)
	before := len(signIns(t, e, store.SignInFilter{Username: alice, Decision: "deny"}))
	b.run(t, "open the SP", chromedp.Navigate(e.sp.URL+"/secure/"))
	signIn(b, t, alice, e.idp.Password(alice)+"-wrong")
	b.run(t, "error message", chromedp.WaitVisible(chromedp.CSS(".error")), chromedp.WaitVisible(chromedp.ID("password")))
	if msg := b.text(`document.querySelector(".error").innerText`); !strings.Contains(msg, "incorrect") {
		t.Errorf("error message = %q", msg)
	}
	if loc := b.location(); !strings.HasPrefix(loc, e.idp.URL+"/login") {
		t.Errorf("after a wrong password the browser is at %s, want Sekisho's sign-in page", loc)
	}
	evs := signIns(t, e, store.SignInFilter{Username: alice, Decision: "deny"})
	if len(evs) != before+1 {
		t.Fatalf("%d deny records after a wrong password, want %d", len(evs), before+1)
	}
	if ev := evs[len(evs)-1]; ev.Reason != "wrong_password" || ev.Application != appName || ev.ClientType != "browser" {
		t.Errorf("deny record = reason %q app %q client %q; want wrong_password, %s, browser", ev.Reason, ev.Application, ev.ClientType, appName)
	}
	if n := e.sp.ACSPosts(t); n != acs {
		t.Errorf("the SP received a SAML response after a wrong password (%d → %d)", acs, n)
	}
	if c := b.cookies(t, e.sp.URL+"/"); slices.ContainsFunc(c, func(n string) bool { return strings.HasPrefix(n, "_shibsession_") }) {
		t.Errorf("the SP opened a session after a wrong password: %v", c)
	}
}

// 4. Single logout started at the SP ends Sekisho's session too: the next visit needs the
// password again.
func singleLogout(t *testing.T, e *env, b *browser) {
	defer b.checkErrors(t, e.idp.URL)
	mark := len(b.navigations())
	b.run(t, "SP logout", chromedp.Navigate(e.sp.URL+"/Shibboleth.sso/Logout"),
		chromedp.Poll[chromedp.Void](`document.body && document.body.innerText.includes("Status of Global Logout")`,
			chromedp.WithPollingInterval(50*time.Millisecond)))
	text := b.text("document.body.innerText")
	if !strings.Contains(text, "Logout completed successfully") {
		t.Errorf("the SP reports: %s", text)
	}
	if pages := sekishoPages(e, b.navigations()[mark:]); !slices.Contains(pages, "/saml/slo") {
		t.Errorf("logout did not go through Sekisho's SLO endpoint: %v", b.navigations()[mark:])
	}
	signedRequest(t, e, b.navigations()[mark:], "/saml/slo")
	if c := b.cookies(t, e.idp.URL+"/"); slices.Contains(c, authn.CookieName) {
		t.Errorf("Sekisho's session cookie survived single logout: %v", c)
	}
	mark = len(b.navigations())
	b.run(t, "open the SP after logout", chromedp.Navigate(e.sp.URL+"/secure/after-logout"))
	signIn(b, t, alice, e.idp.Password(alice))
	checkAliceAtSP(t, e, spEnv(b, t, "/secure/after-logout"))
	if pages := sekishoPages(e, b.navigations()[mark:]); !slices.Contains(pages, "/login") {
		t.Errorf("after logout the SP got in without the sign-in page: %v", pages)
	}
}

// 5. A policy that denies alice: Sekisho shows its denial page whose reference is the deny
// record's ID, and the SP never gets an assertion.
func deniedByPolicy(t *testing.T, e *env, b *browser) {
	defer b.checkErrors(t, e.idp.URL)
	ctx := context.Background()
	doc := strings.Replace(setup.DemoPolicy, "\nrules:\n", "\nrules:\n  - name: block-alice\n    users: [alice@example.com]\n    action: deny\n\n", 1)
	if doc == setup.DemoPolicy {
		t.Fatal("could not insert the rule into the demo policy")
	}
	if _, err := e.idp.Services.Instance.Store.AddPolicyVersion(ctx, store.PolicyVersion{Document: []byte(doc),
		Author: "shibboleth interop test", Comment: "deny alice", CreatedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	e.idp.Services.Policies.Invalidate()
	acs := e.sp.ACSPosts(t)

	b.run(t, "open the SP", chromedp.Navigate(e.sp.URL+"/secure/"))
	signIn(b, t, alice, e.idp.Password(alice))
	b.run(t, "denial page", chromedp.WaitVisible(chromedp.ID("reference")))
	ref := strings.TrimSpace(b.text(`document.getElementById("reference").innerText`))
	ev, err := e.idp.Services.Instance.Store.GetSignIn(ctx, ref)
	if err != nil {
		t.Fatalf("reference %q on the denial page is not a sign-in record: %v", ref, err)
	}
	if ev.Decision != "deny" || ev.Rule != "block-alice" || ev.Username != alice || ev.Application != appName ||
		ev.Protocol != "saml" || ev.ClientType != "browser" {
		t.Errorf("record %s = decision %q rule %q user %q app %q protocol %q client %q; want deny by block-alice for %s at %s over saml/browser",
			ref, ev.Decision, ev.Rule, ev.Username, ev.Application, ev.Protocol, ev.ClientType, alice, appName)
	}
	if loc := b.location(); !strings.HasPrefix(loc, e.idp.URL+"/saml/sso") {
		t.Errorf("denial page at %s, want Sekisho's /saml/sso", loc)
	}
	if n := e.sp.ACSPosts(t); n != acs {
		t.Errorf("the SP received a SAML response for a denied sign-in (%d → %d)", acs, n)
	}
}
