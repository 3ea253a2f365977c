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

	"github.com/sekisho/sekisho/internal/protocol/oidc"
	"github.com/sekisho/sekisho/internal/testutil/chromium"
	"github.com/sekisho/sekisho/internal/testutil/idptest"
)

// An administrator registers an OpenID Connect client on the Applications page in Chromium:
// the secret is shown once (and not on the page again), a redirect URI is changed in the
// client's settings, the secret is rotated with the old one kept for a day.
func TestConsoleOIDCClientInChromium(t *testing.T) {
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
	if err := chromedp.Do(b.ctx); err != nil {
		t.Fatal(err)
	}
	admin := p.Init.AdminUPN
	const newPW = "Console-OIDC-Clients-2026"
	b.do("sign in", chromedp.Navigate(p.URL+"/admin/?lang=en"), chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), admin), chromedp.Click(chromedp.CSS("#next")),
		chromedp.WaitVisible(chromedp.CSS("#password")), chromedp.SendKeys(chromedp.CSS("#password"), p.Password(admin)),
		chromedp.Click(chromedp.CSS("#signin")), chromedp.WaitVisible(chromedp.CSS("#new_password")),
		chromedp.SendKeys(chromedp.CSS("#new_password"), newPW), chromedp.SendKeys(chromedp.CSS("#confirm_password"), newPW),
		chromedp.Click(chromedp.CSS("#change")), chromedp.WaitVisible(chromedp.CSS("#enrol")), chromedp.Click(chromedp.CSS("#enrol")),
		chromedp.WaitVisible(chromedp.CSS("#secret")))
	code, _ := pqtotp.GenerateCode(b.text("#secret"), time.Now())
	b.do("confirm the authenticator", chromedp.SendKeys(chromedp.CSS("#code"), code), chromedp.Click(chromedp.CSS("#verify")),
		chromedp.WaitVisible(chromedp.CSS("#continue")), chromedp.Click(chromedp.CSS("#continue")), chromedp.WaitVisible(chromedp.CSS("#total")))

	// Register a confidential client: the answer shows the client_id and the secret, once.
	b.do("register a client", chromedp.Navigate(p.URL+"/admin/apps?lang=en"), chromedp.WaitVisible(chromedp.CSS("#add-client")),
		chromedp.SendKeys(chromedp.CSS(`#add-client input[name=name]`), "grafana"),
		chromedp.SetValue(chromedp.CSS(`#add-client textarea[name=redirect_uris]`), "https://grafana.example.com/login/generic_oauth"),
		chromedp.Click(chromedp.CSS(`#add-client input[name=grant][value=refresh_token]`)),
		chromedp.Click(chromedp.CSS("#register-client")), chromedp.WaitVisible(chromedp.CSS("#client-secret")))
	first, clientID := b.text("#client-secret"), b.text("#client-id")
	if len(first) != 43 || len(clientID) != 32 || !strings.Contains(b.text("#secret-once"), "Shown once") {
		t.Fatalf("registered: secret %q, client_id %q", first, clientID)
	}
	b.shoot("apps-oidc", p.URL+"/admin/apps")
	b.do("the list", chromedp.Navigate(p.URL+"/admin/apps?lang=en"), chromedp.WaitVisible(chromedp.CSS("#clients")))
	if listed := b.text("#clients"); !strings.Contains(listed, clientID) || !strings.Contains(listed, "refresh_token") || !strings.Contains(listed, "confidential") {
		t.Fatalf("clients list:\n%s", listed)
	}
	again, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`document.documentElement.innerHTML.includes(`+"`"+first+"`"+`)`))
	if err != nil || again {
		t.Fatalf("the secret is on the Applications page after its registration answer (%v)", err)
	}

	// Change the redirect URI in the client's settings.
	b.do("change a redirect URI", chromedp.Navigate(p.URL+"/admin/apps?client=grafana&lang=en"), chromedp.WaitVisible(chromedp.CSS("#client-settings-form")),
		chromedp.SetValue(chromedp.CSS(`#client-settings-form textarea[name=redirect_uris]`), "https://grafana.example.com/oauth/callback"),
		chromedp.Click(chromedp.CSS("#save-client")), chromedp.WaitVisible(chromedp.CSS("#flash")))
	c, _, err := oidc.LookupClient(context.Background(), p.Services.Instance.Store, clientID)
	if err != nil || len(c.RedirectURIs) != 1 || !c.HasRedirectURI("https://grafana.example.com/oauth/callback") || !c.Allows(oidc.GrantRefreshToken) {
		t.Fatalf("after the settings: %+v %v", c, err)
	}
	b.shoot("apps-oidc-settings", p.URL+"/admin/apps?client=grafana")

	// Rotate the secret, keeping the old one working for 24 hours.
	b.do("rotate the secret", chromedp.Navigate(p.URL+"/admin/apps?client=grafana&lang=en"), chromedp.WaitVisible(chromedp.CSS("#rotate-form")),
		chromedp.SetValue(chromedp.CSS("#keep-old"), "24h"), chromedp.Click(chromedp.CSS("#rotate-secret")), chromedp.WaitVisible(chromedp.CSS("#client-secret")))
	second := b.text("#client-secret")
	if len(second) != 43 || second == first || !strings.Contains(b.text("#previous-secret"), "keeps working until") {
		t.Fatalf("rotated: %q, %s", second, b.text("#previous-secret"))
	}
	c, _, _ = oidc.LookupClient(context.Background(), p.Services.Instance.Store, clientID)
	h := p.Services.Instance.Admin.ClientSecrets
	if !c.SecretMatches(h, second, time.Now()) || !c.SecretMatches(h, first, time.Now()) || c.SecretMatches(h, first, time.Now().Add(25*time.Hour)) {
		t.Fatalf("after the rotation: %+v", c)
	}
	b.do("Japanese", chromedp.Navigate(p.URL+"/admin/apps?client=grafana&lang=ja"), chromedp.WaitVisible(chromedp.CSS("#rotate-form")))
	if h2 := b.text("#client-settings"); !strings.Contains(h2, "設定") {
		t.Fatalf("Japanese settings heading %q", h2)
	}
	if txt := b.text("#previous-until"); !strings.Contains(txt, "以前のシークレット") {
		t.Fatalf("Japanese previous-secret note %q", txt)
	}
}
