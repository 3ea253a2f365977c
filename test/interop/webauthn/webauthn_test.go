// Package webauthn_test drives the passkey second factor end to end in Debian's Chromium with
// a CDP virtual authenticator (ctap2, internal transport, resident keys, user verification):
// registration at /account/security, then a Microsoft 365 WS-Fed sign-in that the policy
// sends through the second-factor step, with refusals for a forged signature, an
// authenticator without the credential, and a copied key whose counter went backwards.
package webauthn_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/sekisho/sekisho/internal/authn"
	"github.com/sekisho/sekisho/internal/m365"
	"github.com/sekisho/sekisho/internal/saml11token"
	"github.com/sekisho/sekisho/internal/setup"
	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/testutil/chromium"
	"github.com/sekisho/sekisho/internal/testutil/idptest"
)

const wait = 20 * time.Second // bound for every single browser step

// replyRecorder stands in for Entra's login.srf and keeps the WS-Fed results posted to it.
type replyRecorder struct {
	*httptest.Server
	got chan url.Values
}

func newReplyRecorder(t *testing.T) *replyRecorder {
	rr := &replyRecorder{got: make(chan url.Values, 8)}
	rr.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.ParseForm() == nil {
			rr.got <- r.PostForm
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!DOCTYPE html><title>login.srf</title><p id="entra">received</p>`)
	}))
	t.Cleanup(rr.Close)
	return rr
}

type browser struct {
	t   *testing.T
	ctx context.Context

	mu       sync.Mutex
	problems []string
}

func newBrowser(t *testing.T, exe string) *browser {
	t.Helper()
	// Sekisho's certificate comes from its own CA; the browser is told to ignore certificate
	// errors rather than trust anything (WebAuthn still runs: localhost is a secure context).
	b := &browser{t: t, ctx: chromium.Start(t, exe, chromedp.IgnoreCertErrors, chromedp.Flag("lang", "en-US"))}
	if err := chromedp.Listen(b.ctx, b.collect); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(b.ctx, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	return b
}

// collect keeps script exceptions and CSP violations: the pages must run without either.
func (b *browser) collect(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch e := ev.(type) {
	case *runtime.EventExceptionThrown:
		b.problems = append(b.problems, "exception: "+e.ExceptionDetails.Text)
	case *cdplog.EventEntryAdded:
		if strings.Contains(e.Entry.Text, "Content Security Policy") {
			b.problems = append(b.problems, "csp: "+e.Entry.Text)
		}
	case *runtime.EventConsoleAPICalled:
		for _, a := range e.Args {
			if strings.Contains(string(a.Value)+a.Description, "Content Security Policy") {
				b.problems = append(b.problems, "csp console: "+string(a.Value))
			}
		}
	}
}

func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, wait)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("browser: %v (at %s)", err, b.location())
	}
}

func (b *browser) location() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + " — " + document.body.innerText.slice(0, 300)`))
	return loc
}

// until waits for a JavaScript condition on the current page. A navigation ends a poll
// ("target navigated"), so the poll starts again on the new page until the deadline.
func (b *browser) until(expr string) {
	b.t.Helper()
	deadline := time.Now().Add(wait)
	var err error
	for left := wait; left > 0; left = time.Until(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, left)
		_, err = chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(left)))
		cancel()
		if err == nil {
			return
		}
	}
	b.t.Fatalf("waiting for %s: %v (at %s)", expr, err, b.location())
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, wait)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func call[P, R any](b *browser, cmd cdp.Command[P, R], params P) R {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, wait)
	defer cancel()
	r, err := chromedp.Call(ctx, cmd, params)
	if err != nil {
		b.t.Fatalf("%s: %v", cmd.Method, err)
	}
	return r
}

// signIn enters user and password on the sign-in page that start leads to.
func (b *browser) signIn(start, user, password string) {
	b.t.Helper()
	b.do(chromedp.Navigate(start), chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), user), chromedp.Click(chromedp.CSS("#next")),
		chromedp.WaitVisible(chromedp.CSS("#password")), chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS("#signin")))
}

func (b *browser) signOut(base string) {
	b.t.Helper()
	b.do(chromedp.Navigate(base+"/"), chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)))
	b.until(`document.title.startsWith("Signed out")`)
}

// session returns the browser's SSO session as the server sees it.
func (b *browser) session(p *idptest.IdP) (store.Session, authn.SessionData, bool) {
	b.t.Helper()
	res := call(b, network.GetCookies, network.GetCookiesParams{URLs: []string{p.URL + "/"}})
	for _, c := range res.Cookies {
		if c.Name == authn.CookieName {
			r := httptest.NewRequest("GET", p.URL+"/", nil)
			r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
			return p.Services.Sessions.Current(r)
		}
	}
	return store.Session{}, authn.SessionData{}, false
}

func lastSignIn(t *testing.T, p *idptest.IdP) store.SignInEvent {
	t.Helper()
	evs, err := p.Services.Instance.Store.ListSignIns(context.Background(), store.SignInFilter{})
	if err != nil || len(evs) == 0 {
		t.Fatalf("no sign-in records: %v", err)
	}
	return evs[len(evs)-1]
}

// aliceNeedsMFA is the demo policy plus a rule that asks Alice for a second factor everywhere.
var aliceNeedsMFA = strings.Replace(setup.DemoPolicy, "  - name: it-admins-need-mfa",
	"  - name: alice-needs-mfa\n    users: [alice@example.com]\n    action: require_mfa\n\n  - name: it-admins-need-mfa", 1)

func TestPasskeySecondFactorInChromium(t *testing.T) {
	exe := chromium.Command(t)
	began := time.Now()
	ctx := context.Background()
	p := idptest.Start(t, idptest.Options{})
	if _, pattern := p.Services.Server.Mux.Handler(httptest.NewRequest("GET", p.URL+"/account/security", nil)); pattern == "" {
		t.Fatal("the passkey pages are not mounted: internal/wiring must mount web.NewPasskeyPages (see its doc)")
	}
	entra := newReplyRecorder(t)
	if err := p.Services.M365.SetReplyURL(ctx, entra.URL+"/login.srf"); err != nil {
		t.Fatal(err)
	}
	st := p.Services.Instance.Store
	alice, err := st.GetUserByUPN(ctx, "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, exe)
	b.do(chromedp.Navigate("about:blank"))
	call(b, webauthn.Enable, webauthn.EnableParams{})
	auth := call(b, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
		Protocol: "ctap2", Transport: "internal", HasResidentKey: true, HasUserVerification: true, IsUserVerified: true,
		AutomaticPresenceSimulation: true}}).AuthenticatorID

	// 1. From the office Alice needs no second factor; with her password she registers a passkey.
	b.signIn(p.URL+"/account/security", alice.UPN, p.Password(alice.UPN))
	b.do(chromedp.WaitVisible(chromedp.CSS("#passkey-register")), chromedp.SendKeys(chromedp.CSS("#passkey-name"), "Virtual key"),
		chromedp.Click(chromedp.CSS("#passkey-register")))
	b.until(`document.getElementById("passkey-done") !== null`)
	if list := b.text("#passkeys"); !strings.Contains(list, "Virtual key") {
		t.Errorf("security page lists %q", list)
	}
	stored, err := p.Services.TOTP.WebAuthnCredentials(ctx, alice.ID)
	if err != nil || len(stored) != 1 || stored[0].Name != "Virtual key" {
		t.Fatalf("stored credentials %+v, %v", stored, err)
	}
	virt := call(b, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: auth}).Credentials
	if len(virt) != 1 || !bytes.Equal(virt[0].CredentialID, stored[0].ID) || virt[0].RpID != "localhost" ||
		!bytes.Equal(virt[0].UserHandle, []byte(alice.ID)) {
		t.Fatalf("authenticator holds %+v; server stored ID %x", virt, stored[0].ID)
	}
	// The key as it was at registration (private key and counter), to put back later.
	v := virt[0]
	registered := virtualCredential{CredentialID: v.CredentialID, IsResidentCredential: v.IsResidentCredential, RpID: v.RpID,
		PrivateKey: v.PrivateKey, UserHandle: v.UserHandle, SignCount: v.SignCount}
	if s, _, ok := b.session(p); !ok || s.MFA {
		t.Fatalf("registration must not make the session multi-factor: %+v ok=%v", s, ok)
	}

	// 2. The policy now asks Alice for a second factor.
	if _, err := st.AddPolicyVersion(ctx, store.PolicyVersion{Document: []byte(aliceNeedsMFA), Author: "webauthn test",
		Comment: "alice needs MFA", CreatedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	p.Services.Policies.Invalidate()
	wsfedURL := p.URL + "/adfs/ls/?" + url.Values{"wa": {"wsignin1.0"}, "wtrealm": {m365.Realm}, "wctx": {"ctx-1"}}.Encode()

	// 3. Sign out, start a Microsoft 365 sign-in: password, then the second-factor step.
	b.signOut(p.URL)
	b.signIn(wsfedURL, alice.UPN, p.Password(alice.UPN))
	b.do(chromedp.WaitVisible(chromedp.CSS("#passkey-login")))
	b.until(`location.pathname === "/login/mfa" && document.getElementById("code") === null`) // passkey only: no code form

	failsWith := func(want string) {
		t.Helper()
		b.do(chromedp.WaitEnabled(chromedp.CSS("#passkey-login")), chromedp.Click(chromedp.CSS("#passkey-login")))
		b.until(`document.getElementById("passkey-status").className === "error"`)
		if got := b.text("#passkey-status"); !strings.Contains(got, want) {
			t.Errorf("status %q, want %q", got, want)
		}
		if s, _, ok := b.session(p); !ok || s.MFA {
			t.Errorf("session after a failed passkey: %+v ok=%v", s, ok)
		}
		if len(entra.got) != 0 {
			t.Error("a token was posted to the application after a failed passkey")
		}
	}

	t.Run("forged signature is refused by the server", func(t *testing.T) {
		call(b, webauthn.SetResponseOverrideBits, webauthn.SetResponseOverrideBitsParams{AuthenticatorID: auth, IsBogusSignature: ptr(true)})
		failsWith("could not be verified")
		call(b, webauthn.SetResponseOverrideBits, webauthn.SetResponseOverrideBitsParams{AuthenticatorID: auth})
		if ev := lastSignIn(t, p); ev.Reason != "mfa_failed" || ev.Username != alice.UPN || ev.Decision != "deny" {
			t.Errorf("record of the forged assertion: %+v", ev)
		}
	})
	t.Run("authenticator without the credential cannot answer", func(t *testing.T) {
		call(b, webauthn.RemoveCredential, webauthn.RemoveCredentialParams{AuthenticatorID: auth, CredentialID: registered.CredentialID})
		failsWith("cancelled or timed out")
	})

	// The key is back (with its counter as at registration): the sign-in completes.
	call(b, addCredential, addCredentialParams{AuthenticatorID: auth, Credential: registered})
	b.do(chromedp.WaitEnabled(chromedp.CSS("#passkey-login")), chromedp.Click(chromedp.CSS("#passkey-login")))
	var posted url.Values
	select {
	case posted = <-entra.got:
	case <-time.After(wait):
		t.Fatalf("no WS-Fed result reached the application (at %s)", b.location())
	}
	wres, err := base64.StdEncoding.DecodeString(posted.Get("wresult"))
	if err != nil {
		wres = []byte(posted.Get("wresult")) // the RSTR is posted as XML text
	}
	if posted.Get("wctx") != "ctx-1" || !strings.Contains(string(wres), saml11token.MFAMethod) || !strings.Contains(string(wres), alice.UPN) {
		t.Errorf("WS-Fed result: wctx %q, MFA claim %v, UPN %v", posted.Get("wctx"),
			strings.Contains(string(wres), saml11token.MFAMethod), strings.Contains(string(wres), alice.UPN))
	}
	ev := lastSignIn(t, p)
	if ev.Decision != "allow" || !ev.MFA || ev.Protocol != "wsfed" || ev.Username != alice.UPN || ev.Rule != "alice-needs-mfa" {
		t.Errorf("gate record %+v", ev)
	}
	s, d, ok := b.session(p)
	if !ok || !s.MFA || !slices.Contains(d.Methods, "webauthn") {
		t.Errorf("session %+v methods %v ok=%v", s, d.Methods, ok)
	}
	after, _ := p.Services.TOTP.WebAuthnCredentials(ctx, alice.ID)
	if len(after) != 1 || after[0].LastUsedAt.IsZero() || after[0].SignCount <= stored[0].SignCount {
		t.Errorf("credential after use %+v (counter at registration %d)", after, stored[0].SignCount)
	}

	t.Run("copied key with an older counter is refused", func(t *testing.T) {
		b.signOut(p.URL)
		b.signIn(wsfedURL, alice.UPN, p.Password(alice.UPN))
		b.do(chromedp.WaitVisible(chromedp.CSS("#passkey-login")))
		// Put back the key as it was at registration: its next counter is one the server has seen.
		call(b, webauthn.RemoveCredential, webauthn.RemoveCredentialParams{AuthenticatorID: auth, CredentialID: registered.CredentialID})
		call(b, addCredential, addCredentialParams{AuthenticatorID: auth, Credential: registered})
		failsWith("copied")
		if ev := lastSignIn(t, p); ev.Reason != "webauthn_clone_detected" {
			t.Errorf("record of the cloned key: %+v", ev)
		}
	})

	t.Run("security page in Japanese", func(t *testing.T) {
		b.do(chromedp.Navigate(p.URL + "/account/security?lang=ja"))
		b.until(`document.documentElement.lang === "ja"`)
		if body := b.text("main"); !strings.Contains(body, "パスキーとセキュリティ キー") || !strings.Contains(body, "Virtual key") {
			t.Errorf("Japanese page: %s", body)
		}
	})

	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.problems) > 0 {
		t.Errorf("browser reported: %v", b.problems)
	}
	t.Logf("end to end in %v", time.Since(began).Round(time.Millisecond))
}

func ptr[T any](v T) *T { return &v }

// addCredential is WebAuthn.addCredential without the CMTG fields that cdproto always sends
// and Chromium's virtual authenticator refuses ("CMTG is not supported by this authenticator").
var addCredential = cdp.Command[addCredentialParams, cdp.Empty]{Method: webauthn.CommandAddCredential}

type addCredentialParams struct {
	AuthenticatorID webauthn.AuthenticatorID `json:"authenticatorId"`
	Credential      virtualCredential        `json:"credential"`
}

type virtualCredential struct {
	CredentialID         []byte  `json:"credentialId"`
	IsResidentCredential bool    `json:"isResidentCredential"`
	RpID                 string  `json:"rpId"`
	PrivateKey           []byte  `json:"privateKey"` // PKCS#8
	UserHandle           []byte  `json:"userHandle,omitempty"`
	SignCount            float64 `json:"signCount"`
}
