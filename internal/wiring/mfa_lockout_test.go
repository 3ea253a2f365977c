package wiring_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/store"
)

var secretRe = regexp.MustCompile(`id="secret">([A-Z2-7]+)<`)

// follow GETs path and returns the final response body and URL path after local redirects.
func (e *env) follow(t *testing.T, path string) (*http.Response, string) {
	t.Helper()
	for i := 0; i < 10; i++ {
		resp, err := e.client.Get(e.ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b := readAll(resp)
		if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusFound {
			return resp, b
		}
		path = resp.Header.Get("Location")
	}
	t.Fatal("redirect loop")
	return nil, ""
}

func readAll(resp *http.Response) string {
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			return sb.String()
		}
	}
}

func (e *env) csrf(t *testing.T, body string) string {
	t.Helper()
	m := csrfRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token in:\n%.500s", body)
	}
	return m[1]
}

// TestSecondFactorStep: carol (it-admins) must use a second factor. She enrols an
// authenticator app on the self-service page (allowed from the office by the policy), and a
// WS-Fed sign-in then asks for a code before the token is issued; the record says MFA.
func TestSecondFactorStep(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	wsfed := "/adfs/ls/?wa=wsignin1.0&wtrealm=urn%3Afederation%3AMicrosoftOnline&wctx=ctx1&username=carol%40example.com"

	// 1. Password, then the MFA step says no factor is enrolled and offers enrolment.
	_, body := e.follow(t, wsfed)
	r := e.post(t, "/login", url.Values{"csrf": {e.csrf(t, body)}, "step": {"password"}, "username": {"carol@example.com"},
		"password": {e.res.Password("carol@example.com")}, "return_to": {wsfed}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("password: %d", r.StatusCode)
	}
	resp, body := e.follow(t, r.Header.Get("Location"))
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, `id="enrol"`) || !strings.Contains(resp.Request.URL.Path, "/login/mfa") {
		t.Fatalf("MFA step without a factor: %d %s\n%.600s", resp.StatusCode, resp.Request.URL, body)
	}
	if ev := e.lastSignIn(t); ev.Reason != "mfa_not_enrolled" || ev.Username != "carol@example.com" {
		t.Fatalf("no record of the refused step: %+v", ev)
	}

	// 2. Enrol on the self-service page (the demo policy allows the office outright).
	resp, body = e.follow(t, "/account/totp?return_to="+url.QueryEscape(wsfed))
	m := secretRe.FindStringSubmatch(body)
	if resp.StatusCode != 200 || m == nil || !strings.Contains(body, "data:image/png;base64,") {
		t.Fatalf("enrolment page: %d\n%.600s", resp.StatusCode, body)
	}
	secret := m[1]
	code, _ := totp.GenerateCode(secret, time.Now())
	r = e.post(t, "/account/totp", url.Values{"csrf": {e.csrf(t, body)}, "code": {code}, "return_to": {wsfed}})
	if b := readAll(r); r.StatusCode != 200 || !strings.Contains(b, `id="continue"`) {
		t.Fatalf("confirm: %d\n%.400s", r.StatusCode, b)
	}

	// 3. A new browser session: password, then the code is asked for, then the token.
	e.client.Jar.SetCookies(mustURL(e.ts.URL), []*http.Cookie{{Name: "sekisho_session", Value: "", MaxAge: -1, Path: "/"}})
	_, body = e.follow(t, wsfed)
	r = e.post(t, "/login", url.Values{"csrf": {e.csrf(t, body)}, "step": {"password"}, "username": {"carol@example.com"},
		"password": {e.res.Password("carol@example.com")}, "return_to": {wsfed}})
	resp, body = e.follow(t, r.Header.Get("Location"))
	if !strings.Contains(resp.Request.URL.Path, "/login/mfa") || !strings.Contains(body, `id="code"`) {
		t.Fatalf("second sign-in did not ask for a code: %s\n%.400s", resp.Request.URL, body)
	}
	form := url.Values{"csrf": {e.csrf(t, body)}, "code": {"000000"}, "return_to": {wsfed}}
	if bad := e.post(t, "/login/mfa", form); bad.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong code: %d", bad.StatusCode)
	}
	if ev := e.lastSignIn(t); ev.Reason != "mfa_failed" {
		t.Fatalf("wrong code not recorded: %+v", ev)
	}
	// The code of the next 30-second step: the one of this step was used at enrolment.
	code, _ = totp.GenerateCode(secret, time.Now().Add(30*time.Second))
	form.Set("code", code)
	r = e.post(t, "/login/mfa", form)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != wsfed {
		t.Fatalf("right code: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	resp, body = e.follow(t, wsfed)
	if resp.StatusCode != 200 || !strings.Contains(body, `name="wresult"`) || !strings.Contains(body, "multipleauthn") {
		t.Fatalf("no token after MFA: %d\n%.600s", resp.StatusCode, body)
	}
	evs, _ := e.svc.Instance.Store.ListSignIns(ctx, store.SignInFilter{Username: "carol@example.com", Decision: "allow"})
	if len(evs) != 2 {
		t.Fatalf("want one admission to the enrolment page and one WS-Fed sign-in, got %+v", evs)
	}
	// The enrolment page is the portal application, admitted by the office rule on the password alone.
	if evs[0].Application != "sekisho-account" || evs[0].MFA || evs[0].Rule != "enrol-second-factor-in-office" {
		t.Fatalf("enrolment admission record: %+v", evs[0])
	}
	if !evs[1].MFA || evs[1].Protocol != "wsfed" || evs[1].Rule != "it-admins-need-mfa" {
		t.Fatalf("allow record: %+v", evs[1])
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// TestSmartLockoutThroughGate: a password spray from unfamiliar addresses locks only the
// unfamiliar side; the user still signs in from the address she used before.
func TestSmartLockoutThroughGate(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	try := func(peer, pw string) signin.Outcome {
		t.Helper()
		o, err := e.svc.Gate.Check(ctx, signin.Attempt{Protocol: "wstrust", Application: "microsoft365", Endpoint: signin.Active,
			HTTP: activeRequest(peer, nil), Username: "bob@example.com", Password: pw})
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	if o := try("203.0.113.5:1000", e.res.Password("bob@example.com")); !o.Allowed {
		t.Fatalf("first sign-in from the office: %+v", o)
	}
	for i := 0; i < 25; i++ {
		o := try(fmt.Sprintf("198.51.100.%d:2000", i+1), "wrong password!")
		if o.Allowed || (o.Reason != "wrong_password" && o.Reason != "locked") {
			t.Fatalf("spray %d: %+v", i, o)
		}
	}
	if o := try("198.51.100.200:2000", e.res.Password("bob@example.com")); o.Reason != "locked" {
		t.Fatalf("right password from an unfamiliar address after the spray: %+v", o)
	}
	if o := try("203.0.113.5:1001", e.res.Password("bob@example.com")); !o.Allowed {
		t.Fatalf("the familiar address is locked too: %+v", o)
	}
	evs, _ := e.svc.Instance.Store.ListSignIns(ctx, store.SignInFilter{Username: "bob@example.com"})
	locked := 0
	for _, ev := range evs {
		if ev.Reason == "locked" {
			locked++
		}
	}
	if locked < 10 {
		t.Fatalf("only %d locked attempts recorded", locked)
	}
}

// TestFactorsOnTheRealStore: emergency codes and concurrent changes on the SQL store (atomic
// updates, replay protection outside the update's lock).
func TestFactorsOnTheRealStore(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	m := e.svc.Instance.Factors
	carol, _ := e.svc.Instance.Store.GetUserByUPN(ctx, "carol@example.com")
	codes, err := m.IssueEmergencyCodes(ctx, carol.ID, 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.UseEmergencyCode(ctx, carol.ID, codes[0], time.Now()); err != nil {
		t.Fatalf("first use: %v", err)
	}
	if err := m.UseEmergencyCode(ctx, carol.ID, codes[0], time.Now()); err == nil {
		t.Fatal("emergency code accepted twice")
	}
	// Concurrent enrolments and code uses must not lose each other's changes.
	done := make(chan error, 2)
	go func() { _, err := m.Enroll(ctx, carol.ID, carol.UPN, time.Now()); done <- err }()
	go func() { done <- m.UseEmergencyCode(ctx, carol.ID, codes[1], time.Now()) }()
	for i := 0; i < 2; i++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	st, err := m.Status(ctx, carol.ID)
	if err != nil || !st.Pending || st.EmergencyLeft != 1 {
		t.Fatalf("status after concurrent changes: %+v %v", st, err)
	}
}
