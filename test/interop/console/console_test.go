// Package console_test drives the admin console in Debian's Chromium as a new administrator
// does: the demo admin's first sign-in (one-time password, new password, second factor set
// up and used), then the main path of every console page, with a screenshot of each page in
// English and Japanese.
package console_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	pqtotp "github.com/pquerna/otp/totp"

	"github.com/sekisho/sekisho/internal/protocol/saml"
	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/testutil/chromium"
	"github.com/sekisho/sekisho/internal/testutil/idptest"
)

const wait = 30 * time.Second

type browser struct {
	t   *testing.T
	ctx context.Context
	dir string // screenshots
}

func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, wait)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		loc, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`location.href + " — " + document.body.innerText.slice(0, 400)`))
		b.t.Fatalf("%s: %v (at %s)", what, err, loc)
	}
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, wait)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("read %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// shoot saves a full-page screenshot of url in both languages.
func (b *browser) shoot(name, url string) {
	b.t.Helper()
	for _, lang := range []string{"en", "ja"} {
		sep := "?"
		if strings.Contains(url, "?") {
			sep = "&"
		}
		b.do("open "+name, chromedp.Navigate(url+sep+"lang="+lang), chromedp.WaitVisible(chromedp.CSS("main h1")))
		ctx, cancel := context.WithTimeout(b.ctx, wait)
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		cancel()
		if err != nil {
			b.t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(b.dir, name+"-"+lang+".png"), png, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
}

func TestConsoleInChromium(t *testing.T) {
	exe := chromium.Command(t)
	p := idptest.Start(t, idptest.Options{})
	dir := t.TempDir()
	if art := os.Getenv("SEKISHO_ARTIFACTS"); art != "" {
		dir = filepath.Join(art, "console")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b := &browser{t: t, ctx: chromium.Start(t, exe, chromedp.IgnoreCertErrors, chromedp.WindowSize(1280, 900)), dir: dir}
	if err := chromedp.Do(b.ctx); err != nil { // starts the browser, for the whole test
		t.Fatal(err)
	}
	admin := p.Init.AdminUPN

	// First sign-in: the one-time password, then a new one, then the second factor.
	b.do("sign in", chromedp.Navigate(p.URL+"/admin/?lang=en"), chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), admin), chromedp.Click(chromedp.CSS("#next")),
		chromedp.WaitVisible(chromedp.CSS("#password")), chromedp.SendKeys(chromedp.CSS("#password"), p.Password(admin)),
		chromedp.Click(chromedp.CSS("#signin")), chromedp.WaitVisible(chromedp.CSS("#new_password")))
	const newPW = "Console-First-Hour-2026"

	b.do("choose a password", chromedp.SendKeys(chromedp.CSS("#new_password"), newPW),
		chromedp.SendKeys(chromedp.CSS("#confirm_password"), newPW), chromedp.Click(chromedp.CSS("#change")),
		chromedp.WaitVisible(chromedp.CSS("#enrol")), chromedp.Click(chromedp.CSS("#enrol")), chromedp.WaitVisible(chromedp.CSS("#secret")))
	secret := b.text("#secret")
	code, _ := pqtotp.GenerateCode(secret, time.Now())
	// Confirming the new authenticator with its code is the second factor of this session.
	b.do("confirm the authenticator", chromedp.SendKeys(chromedp.CSS("#code"), code), chromedp.Click(chromedp.CSS("#verify")),
		chromedp.WaitVisible(chromedp.CSS("#continue")), chromedp.Click(chromedp.CSS("#continue")), chromedp.WaitVisible(chromedp.CSS("#total")))
	if who := b.text("#who"); who != admin {
		t.Fatalf("console shows %q as the administrator", who)
	}
	b.shoot("dashboard", p.URL+"/admin/")

	// Create a user; the one-time password is shown once.
	b.do("create a user", chromedp.Navigate(p.URL+"/admin/users?lang=en"), chromedp.WaitVisible(chromedp.CSS("#add-user")),
		chromedp.SendKeys(chromedp.CSS(`#add-user input[name=upn]`), "dana@example.com"),
		chromedp.SendKeys(chromedp.CSS(`#add-user input[name=display_name]`), "Dana Kato"),
		chromedp.SendKeys(chromedp.CSS(`#add-user input[name=groups]`), "staff"),
		chromedp.Click(chromedp.CSS("#create")), chromedp.WaitVisible(chromedp.CSS("#secret")))
	if s := b.text("#secret"); len(s) != 20 {
		t.Fatalf("one-time password %q", s)
	}
	b.shoot("users", p.URL+"/admin/users")

	// The user's page, then disable.
	b.do("open the user", chromedp.Navigate(p.URL+"/admin/users?q=dana&lang=en"),
		chromedp.Click(chromedp.CSS(`#users a`)), chromedp.WaitVisible(chromedp.CSS("#upn")))
	b.do("disable", chromedp.Click(chromedp.CSS("#disable")), chromedp.WaitVisible(chromedp.CSS("#flash")), chromedp.WaitVisible(chromedp.CSS("#enable")))
	u, err := p.Services.Instance.Store.GetUserByUPN(context.Background(), "dana@example.com")
	if err != nil || u.Status != store.UserDisabled {
		t.Fatalf("dana: %+v %v", u, err)
	}
	b.shoot("user", p.URL+"/admin/users/"+u.ID)

	// A network, then the policy editor: a syntax error is shown at its line, a valid text
	// checks, and a what-if evaluates the text in the editor.
	b.do("add a network", chromedp.Navigate(p.URL+"/admin/networks?lang=en"), chromedp.WaitVisible(chromedp.CSS("#network-form")),
		chromedp.SendKeys(chromedp.CSS(`#network-form input[name=name]`), "branch"),
		chromedp.SendKeys(chromedp.CSS("#cidrs"), "198.51.100.0/24"),
		chromedp.Click(chromedp.CSS("#save-network")), chromedp.WaitVisible(chromedp.CSS("#flash")))
	b.shoot("networks", p.URL+"/admin/networks")
	b.do("open the policy", chromedp.Navigate(p.URL+"/admin/policy?lang=en"), chromedp.WaitVisible(chromedp.CSS("#doc")),
		chromedp.SetValue(chromedp.CSS("#doc"), "version: 1\ndefault: deny\nrules:\n  - name: branch\n    networks: [brnch]\n    action: allow\n"),
		chromedp.Click(chromedp.CSS("#check")), chromedp.WaitVisible(chromedp.CSS("#problems")))
	if problems := b.text("#problems"); !strings.Contains(problems, "policy.yaml:5") {
		t.Fatalf("the error is not at its line: %s", problems)
	}
	b.do("fix and check", chromedp.SetValue(chromedp.CSS("#doc"), "version: 1\ndefault: deny\nrules:\n  - name: branch\n    networks: [branch]\n    action: allow\n"),
		chromedp.Click(chromedp.CSS("#check")), chromedp.WaitVisible(chromedp.CSS("#checked")),
		chromedp.SendKeys(chromedp.CSS(`input[name=w_user]`), "bob@example.com"), chromedp.SendKeys(chromedp.CSS(`input[name=w_app]`), "microsoft365"),
		chromedp.SendKeys(chromedp.CSS(`input[name=w_ip]`), "198.51.100.20"),
		chromedp.Click(chromedp.CSS("#whatif")), chromedp.WaitVisible(chromedp.CSS("#whatif-decision")))
	if dec := b.text("#whatif-decision"); !strings.Contains(dec, "allow") || !strings.Contains(dec, "branch") {
		t.Fatalf("what-if: %s", dec)
	}
	b.do("replay", chromedp.Click(chromedp.CSS("#replay")), chromedp.WaitVisible(chromedp.CSS("#replay-summary")))
	if sum := b.text("#replay-summary"); !strings.Contains(sum, "evaluated") {
		t.Fatalf("replay: %s", sum)
	}
	b.shoot("policy", p.URL+"/admin/policy")

	// The sign-in log: the admin's own console admission, and its trace.
	b.do("sign-in log", chromedp.Navigate(p.URL+"/admin/signins?app=sekisho-admin&decision=allow&lang=en"),
		chromedp.Click(chromedp.CSS(`.signins a`)), chromedp.WaitVisible(chromedp.CSS("#trace")))
	if rule := b.text("#rule"); rule != "console-admins-with-mfa" {
		t.Fatalf("the admission's rule is %q", rule)
	}
	if trace := b.text("#trace"); !strings.Contains(trace, `"console-admins-with-mfa"`) || strings.Contains(trace, "no rule matched") {
		t.Fatalf("the trace does not explain the admission:\n%s", trace)
	}
	b.shoot("signins", p.URL+"/admin/signins")
	evs, _ := p.Services.Instance.Store.ListSignIns(context.Background(), store.SignInFilter{Application: "sekisho-admin", Decision: "allow"})
	b.shoot("signin", p.URL+"/admin/signins/"+evs[0].ID)

	// A device certificate for Dana (its one-time link shown once), revoked; a key rotated.
	b.do("issue a device", chromedp.Navigate(p.URL+"/admin/users/"+u.ID+"?lang=en"), chromedp.WaitVisible(chromedp.CSS("#issue-device")),
		chromedp.SendKeys(chromedp.CSS(`#issue-device input[name=name]`), "dana-laptop"),
		chromedp.Click(chromedp.CSS("#issue")), chromedp.WaitVisible(chromedp.CSS("#link")))
	if link := b.text("#link"); !strings.HasPrefix(link, p.URL+"/devices/download/") {
		t.Fatalf("download link %q", link)
	}
	b.do("revoke it", chromedp.Click(chromedp.CSS(`#devices button`)), chromedp.WaitVisible(chromedp.CSS("#flash")))
	b.shoot("devices", p.URL+"/admin/devices")
	b.do("rotate a key", chromedp.Navigate(p.URL+"/admin/keys?lang=en"), chromedp.WaitVisible(chromedp.CSS("#rotate-RS256")),
		chromedp.Click(chromedp.CSS("#rotate-RS256")), chromedp.WaitVisible(chromedp.CSS("#flash")))
	if keys := b.text("#keys"); !strings.Contains(keys, "next") || !strings.Contains(keys, "current") {
		t.Fatalf("keys after rotate:\n%s", keys)
	}
	b.shoot("keys", p.URL+"/admin/keys")
	// A SAML application from pasted metadata with one attribute mapping typed beside it; then
	// the mapping's format changed and a second one added in its settings.
	b.do("register a SAML application", chromedp.Navigate(p.URL+"/admin/apps?lang=en"), chromedp.WaitVisible(chromedp.CSS("#add-app")),
		chromedp.SetValue(chromedp.CSS("#metadata"), idptest.WikiMetadata),
		chromedp.SendKeys(chromedp.CSS(`#add-app input[name=attr_name_0]`), "mail"),
		chromedp.SetValue(chromedp.CSS(`#add-app select[name=attr_source_0]`), "email"),
		chromedp.SendKeys(chromedp.CSS(`#add-app input[name=name]`), "wiki"),
		chromedp.Click(chromedp.CSS("#add")), chromedp.WaitVisible(chromedp.CSS("#flash")))
	if apps := b.text("#apps"); !strings.Contains(apps, "mail ← email") {
		t.Fatalf("applications:\n%s", apps)
	}
	b.do("edit its mappings", chromedp.Navigate(p.URL+"/admin/apps?app=wiki&lang=en"), chromedp.WaitVisible(chromedp.CSS("#app-settings-form")),
		chromedp.SendKeys(chromedp.CSS(`#app-settings-form input[name=attr_format_0]`), "uri"),
		chromedp.SendKeys(chromedp.CSS(`#app-settings-form input[name=attr_name_1]`), "displayName"),
		chromedp.SetValue(chromedp.CSS(`#app-settings-form select[name=attr_source_1]`), "displayName"),
		chromedp.Click(chromedp.CSS(`#app-settings-form input[name=allow_idp]`)),
		chromedp.Click(chromedp.CSS("#save-app")), chromedp.WaitVisible(chromedp.CSS("#flash")))
	sp, err := saml.StoreSPs{Apps: p.Services.Instance.Store}.LookupSPByApp(context.Background(), "wiki")
	if err != nil || !sp.AllowIdPInitiated || len(sp.Attributes) != 2 ||
		sp.Attributes[0] != (saml.AttributeMapping{Name: "mail", Source: "email", NameFormat: saml.AttrNameFormatURI}) ||
		sp.Attributes[1] != (saml.AttributeMapping{Name: "displayName", Source: "displayName"}) {
		t.Fatalf("wiki after the settings form: %+v %v", sp, err)
	}
	b.shoot("app-settings", p.URL+"/admin/apps?app=wiki")
	b.do("federation settings", chromedp.Navigate(p.URL+"/admin/apps?domain=example.com&lang=en"), chromedp.WaitVisible(chromedp.CSS("#powershell")))
	b.shoot("apps", p.URL+"/admin/apps?domain=example.com&edit=example.com")

	// The admin audit log names who did what through the console.
	b.do("audit log", chromedp.Navigate(p.URL+"/admin/audit?lang=en"), chromedp.WaitVisible(chromedp.CSS("#audit")))
	if txt := b.text("#audit"); !strings.Contains(txt, "user.disable") || !strings.Contains(txt, "user.add") || !strings.Contains(txt, "device.revoke") ||
		!strings.Contains(txt, "key.rotate") || !strings.Contains(txt, "app.update") || !strings.Contains(txt, admin) {
		t.Fatalf("audit log:\n%s", txt)
	}
	b.shoot("audit", p.URL+"/admin/audit")
	// The administrator's own portal: recent sign-ins, including the console admissions.
	b.do("portal", chromedp.Navigate(p.URL+"/?lang=en"), chromedp.WaitVisible(chromedp.CSS("#my-signins")))
	if txt := b.text("#my-signins"); !strings.Contains(txt, "sekisho-admin") {
		t.Fatalf("portal sign-ins:\n%s", txt)
	}
	b.shoot("portal", p.URL+"/")
	t.Logf("screenshots in %s", dir)
}
