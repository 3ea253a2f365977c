package wiring_test

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/admin"
	"github.com/sekisho/sekisho/internal/bridge/apppassword"
	"github.com/sekisho/sekisho/internal/setup"
	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/testutil/idptest"
)

var (
	mailCSRFRe          = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	portalAppPasswordRe = regexp.MustCompile(`id="app-password">([^<]+)<`)
	verifyURIRe         = regexp.MustCompile(`id="verification-uri-complete" href="([^"]+)"`)
	mailUserCodeRe      = regexp.MustCompile(`id="user-code">([^<]+)<`)
)

// TestMailDevicesPortal drives /account/mail as the server runs it, with the mail bridge's
// upstream tokens from Sekisho's own provider (tokens: oauth, no door open yet) and
// self-service on: alice, signed in to the portal, finds the page from her home, issues an app
// password the bridge's verifier accepts, and connects her mailbox with the device code
// approved at Sekisho's device page — completed in the background while the page refreshes
// itself; the grant then gives the bridge a token for her.
func TestMailDevicesPortal(t *testing.T) {
	const alice = "alice@example.com"
	ctx := context.Background()
	idp := idptest.Start(t, idptest.Options{Prepare: func(ctx context.Context, in *setup.Instance) error {
		added, err := in.Admin.AddOIDCClient(ctx, admin.Actor{Name: "os:test", Via: "cli"}, "mail-upstream", admin.NewOIDCClient{Public: true,
			Grants: []string{"device_code", "refresh_token"}, Scopes: []string{"openid", "email", "offline_access"}})
		if err != nil {
			return err
		}
		b := &in.Config.Bridge
		b.SelfService = true
		b.Upstream.Tokens = "oauth"
		b.Upstream.OAuth.TokenURL = in.Config.BaseURL + "/oidc/token"
		b.Upstream.OAuth.DeviceAuthorizationURL = in.Config.BaseURL + "/oidc/device_authorization"
		b.Upstream.OAuth.ClientID = added.Client.ClientID
		b.Upstream.OAuth.Scopes = []string{"openid", "email", "offline_access"}
		b.Upstream.OAuth.CAFile = setup.DemoCAFile
		return nil
	}})
	in := idp.Services.Instance
	if in.Admin.BridgeUpstream == nil {
		t.Fatal("the token source is not built before the doors open")
	}

	jar, _ := cookiejar.New(nil)
	c := idp.Client()
	c.Jar = jar
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := c.Get(idp.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	post := func(path string, form url.Values) (*http.Response, string) {
		t.Helper()
		resp, err := c.PostForm(idp.URL+path, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	csrf := func(body string) string {
		t.Helper()
		m := mailCSRFRe.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no CSRF field:\n%.500s", body)
		}
		return html.UnescapeString(m[1])
	}

	// Sign in to the portal.
	_, login := get("/login?return_to=%2F")
	if resp, body := post("/login", url.Values{"csrf": {csrf(login)}, "step": {"password"}, "username": {alice},
		"password": {idp.Password(alice)}, "return_to": {"/"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d\n%.500s", resp.StatusCode, body)
	}
	if code, home := get("/"); code != 200 || !strings.Contains(home, `href="/account/mail" id="mail-devices"`) {
		t.Fatalf("portal home: %d, no link to the mail devices:\n%s", code, home)
	}
	code, page := get("/account/mail")
	if code != 200 || !strings.Contains(page, `action="/account/mail/issue"`) || !strings.Contains(page, `action="/account/mail/connect"`) {
		t.Fatalf("mail devices page: %d\n%s", code, page)
	}

	// An app password, shown once, that the bridge accepts for the SMTP door only.
	resp, body := post("/account/mail/issue", url.Values{"csrf": {csrf(page)}, "name": {"printer-3f"}, "scope": {"smtp-send"}})
	m := portalAppPasswordRe.FindStringSubmatch(body)
	if resp.StatusCode != 200 || m == nil || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("issue: %d\n%s", resp.StatusCode, body)
	}
	u, err := in.Store.GetUserByUPN(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	if _, reason, err := idp.Services.Gate.AppPasswords.Verify(ctx, u, m[1], apppassword.ProtocolSMTP, time.Now()); err != nil || reason != "" {
		t.Fatalf("the bridge refuses the issued password for SMTP: %q %v", reason, err)
	}
	if _, reason, _ := idp.Services.Gate.AppPasswords.Verify(ctx, u, m[1], apppassword.ProtocolIMAP, time.Now()); reason == "" {
		t.Fatal("the smtp-send password opens the IMAP door")
	}

	// Connect the mailbox: the code approved at Sekisho's own device page, as alice.
	resp, _ = post("/account/mail/connect", url.Values{"csrf": {csrf(page)}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account/mail" {
		t.Fatalf("connect: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, page = get("/account/mail")
	link, ucode := verifyURIRe.FindStringSubmatch(page), mailUserCodeRe.FindStringSubmatch(page)
	if link == nil || ucode == nil || !strings.Contains(page, `http-equiv="refresh"`) {
		t.Fatalf("pending page:\n%s", page)
	}
	complete := html.UnescapeString(link[1])
	if !strings.HasPrefix(complete, idp.URL+"/oidc/device") || !strings.Contains(complete, url.QueryEscape(ucode[1])) && !strings.Contains(complete, ucode[1]) {
		t.Fatalf("verification address %q for code %q", complete, ucode[1])
	}
	idp.ApproveDevice(t, complete, alice, idp.Password(alice))
	deadline := time.Now().Add(30 * time.Second)
	for strings.Contains(page, `http-equiv="refresh"`) {
		if time.Now().After(deadline) {
			t.Fatalf("the connection did not complete:\n%s", page)
		}
		time.Sleep(250 * time.Millisecond)
		_, page = get("/account/mail")
	}
	if !strings.Contains(page, "The mailbox is connected.") || !strings.Contains(page, `id="mail-connected-by">`+alice+`<`) {
		t.Fatalf("after the approval:\n%s", page)
	}
	tok, err := in.Admin.BridgeUpstream.UserToken(ctx, u)
	if err != nil || tok == "" {
		t.Fatalf("the bridge's token for alice: %q %v", tok, err)
	}
	evs, err := in.Admin.Log(ctx, store.AdminEventFilter{Action: "bridge."})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		if e.Via == "portal" && e.Actor == alice {
			got = append(got, e.Action)
		}
	}
	if strings.Join(got, " ") != "bridge.credential.issue bridge.upstream.connect" {
		t.Fatalf("audit entries via the portal: %q", got)
	}
}
