package wiring_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/sekisho/sekisho/internal/store"
)

var changeTokenRe = regexp.MustCompile(`name="change_token" value="([^"]+)"`)

// signInFor posts the password step of the sign-in form for returnTo (no app field: a
// direct sign-in to Sekisho itself).
func (e *env) signInFor(t *testing.T, user, pw, returnTo string) *http.Response {
	t.Helper()
	_, body := e.get(t, "/login?return_to="+url.QueryEscape(returnTo))
	return e.post(t, "/login", url.Values{"csrf": {e.csrf(t, body)}, "step": {"password"}, "username": {user},
		"password": {pw}, "return_to": {returnTo}})
}

func (e *env) records(t *testing.T, f store.SignInFilter) []store.SignInEvent {
	t.Helper()
	evs, err := e.svc.Instance.Store.ListSignIns(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func (e *env) publish(t *testing.T, doc string) {
	t.Helper()
	if _, err := e.svc.Instance.Store.AddPolicyVersion(context.Background(), store.PolicyVersion{Document: []byte(doc),
		Author: "test", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	e.svc.Policies.Invalidate() // this node at once; others within the policy cache's bound
}

// TestAdminConsoleBehindGate walks the console's door as the demo tenant's first hour does:
// the console is the application sekisho-admin, judged and recorded by the gate; the demo
// policy asks its administrators for a second factor; the one-time admin password must be
// replaced first; a non-admin and a policy denial get no page and leave a record.
func TestAdminConsoleBehindGate(t *testing.T) {
	e := newEnv(t)
	const report = "/admin/reports/legacy-auth"
	admin, adminPW := e.res.AdminUPN, e.res.AdminPassword
	alice := "alice@example.com"

	// Anonymous: to the sign-in page, for the console.
	resp, err := e.client.Get(e.ts.URL + report)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.Contains(loc, "app=sekisho-admin") {
		t.Fatalf("anonymous: %d %s, want the sign-in page for sekisho-admin", resp.StatusCode, loc)
	}

	// A non-admin: right password, no console, a denial record, and no session.
	r := e.signInFor(t, alice, e.res.Password(alice), report)
	if b := readAll(r); r.StatusCode != http.StatusForbidden || !strings.Contains(b, `id="reference"`) {
		t.Fatalf("alice at the console: %d\n%.400s", r.StatusCode, b)
	}
	if ev := e.lastSignIn(t); ev.Application != "sekisho-admin" || ev.Decision != "deny" || ev.Reason != "not_admin" || ev.Username != alice {
		t.Fatalf("alice's refusal record: %+v", ev)
	}
	if code, _ := e.get(t, report); code != http.StatusSeeOther {
		t.Fatalf("after a refused sign-in the console answered %d, want the sign-in page", code)
	}
	// Alice's portal session (an SSO session) does not open the console either.
	if r := e.signInFor(t, alice, e.res.Password(alice), "/"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("alice at the portal: %d", r.StatusCode)
	}
	if ev := e.lastSignIn(t); ev.Application != "sekisho-account" || ev.Decision != "allow" {
		t.Fatalf("portal sign-in record: %+v", ev)
	}
	if code, _ := e.get(t, report); code != http.StatusForbidden {
		t.Fatalf("alice's portal session at the console: %d, want 403", code)
	}
	if ev := e.lastSignIn(t); ev.Application != "sekisho-admin" || ev.Reason != "not_admin" {
		t.Fatalf("re-judged session record: %+v", ev)
	}

	// The admin (in a browser without Alice's session): the one-time password leads to the
	// change step, not to a session.
	e.client.Jar.SetCookies(mustURL(e.ts.URL), []*http.Cookie{{Name: "sekisho_session", Value: "", MaxAge: -1, Path: "/"}})
	r = e.signInFor(t, admin, adminPW, report)
	body := readAll(r)
	m := changeTokenRe.FindStringSubmatch(body)
	if r.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("first admin sign-in: %d, want the password change step\n%.600s", r.StatusCode, body)
	}
	change := func(pw, confirm string) *http.Response {
		return e.post(t, "/login", url.Values{"csrf": {e.csrf(t, body)}, "step": {"change"}, "change_token": {m[1]},
			"username": {admin}, "new_password": {pw}, "confirm_password": {confirm}, "return_to": {report}})
	}
	for _, c := range []struct{ name, pw, confirm, want string }{
		{"too short", "short", "short", "too short"},
		{"mismatch", "Sekisho-Console-2026!", "Sekisho-Console-2027!", "differ"},
		{"same as the old one", adminPW, adminPW, "must differ from the current one"},
		{"contains the user name", "admin-admin-admin-1", "admin-admin-admin-1", "user name"},
	} {
		r := change(c.pw, c.confirm)
		if b := readAll(r); r.StatusCode != http.StatusBadRequest || !strings.Contains(b, c.want) {
			t.Errorf("%s: %d, want 400 with %q\n%.300s", c.name, r.StatusCode, c.want, b)
		}
	}
	if code, _ := e.get(t, report); code != http.StatusSeeOther {
		t.Fatal("a session exists before the password was changed")
	}
	const newPW = "Sekisho-Console-2026!"
	r = change(newPW, newPW)
	loc := r.Header.Get("Location")
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/login/mfa?") {
		t.Fatalf("after the change: %d %s, want the second-factor step (demo policy)", r.StatusCode, loc)
	}
	if ev := e.lastSignIn(t); ev.Application != "sekisho-admin" || ev.Decision != "mfa_required" || ev.Rule != "console-admins-with-mfa" {
		t.Fatalf("record of the password step: %+v", ev)
	}
	if change(newPW, newPW).StatusCode != http.StatusUnauthorized {
		t.Error("the change token worked twice")
	}
	if u, _ := e.svc.Instance.Directory.Authenticate(context.Background(), admin, adminPW); u.PasswordChangeRequired {
		t.Error("the change requirement was not cleared")
	}
	if _, err := e.svc.Instance.Directory.Authenticate(context.Background(), admin, adminPW); err == nil {
		t.Error("the one-time password still works")
	}

	// Password alone does not open the console: the MFA step, then enrolment (allowed in the
	// office), then the code, then the console.
	if code, _ := e.get(t, report); code != http.StatusSeeOther {
		t.Fatalf("console without MFA: %d, want the second-factor step", code)
	}
	resp, body = e.follow(t, loc)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, `id="enrol"`) {
		t.Fatalf("MFA step without a factor: %d\n%.400s", resp.StatusCode, body)
	}
	resp, body = e.follow(t, "/account/totp?return_to="+url.QueryEscape(report))
	sm := secretRe.FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || sm == nil {
		t.Fatalf("enrolment: %d\n%.400s", resp.StatusCode, body)
	}
	code, _ := totp.GenerateCode(sm[1], time.Now())
	if r := e.post(t, "/account/totp", url.Values{"csrf": {e.csrf(t, body)}, "code": {code}, "return_to": {report}}); r.StatusCode != http.StatusOK {
		t.Fatalf("confirm enrolment: %d", r.StatusCode)
	}
	code, _ = totp.GenerateCode(sm[1], time.Now().Add(30*time.Second))
	r = e.post(t, "/login/mfa", url.Values{"csrf": {e.csrf(t, body)}, "code": {code}, "return_to": {report}, "app": {"sekisho-admin"}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != report {
		t.Fatalf("MFA: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	if code, body := e.get(t, report+"?format=json"); code != http.StatusOK || !strings.Contains(body, `"summary"`) {
		t.Fatalf("console after MFA: %d %.200s", code, body)
	}
	ev := e.lastSignIn(t)
	if ev.Application != "sekisho-admin" || ev.Decision != "allow" || !ev.MFA || ev.Rule != "console-admins-with-mfa" {
		t.Fatalf("console admission record: %+v", ev)
	}
	// Page views after the admission are judged but not recorded again.
	n := len(e.records(t, store.SignInFilter{}))
	e.get(t, report+"?format=json")
	e.get(t, "/admin/")
	if got := len(e.records(t, store.SignInFilter{})); got != n {
		t.Errorf("%d records for two page views of an admitted session, want none", got-n)
	}

	// The same session from another address is judged (and recorded) again.
	out := httptest.NewRecorder()
	req := httptest.NewRequest("GET", e.ts.URL+report+"?format=json", nil)
	req.RemoteAddr = "198.51.100.7:4444"
	for _, c := range e.client.Jar.Cookies(mustURL(e.ts.URL)) {
		req.AddCookie(c)
	}
	e.svc.Server.Handler().ServeHTTP(out, req)
	if out.Code != http.StatusOK {
		t.Fatalf("admin from another address: %d", out.Code)
	}
	if ev := e.lastSignIn(t); ev.EffectiveIP != "198.51.100.7" || ev.Application != "sekisho-admin" || ev.Decision != "allow" {
		t.Fatalf("no record for the new address: %+v", ev)
	}

	// A policy that denies the console is in force at the next request of the same session.
	e.publish(t, "version: 1\ndefault: allow\nrules:\n  - name: console-closed\n    applications: [sekisho-admin]\n    action: deny\n")
	if code, body := e.get(t, report); code != http.StatusForbidden || !strings.Contains(body, `id="reference"`) {
		t.Fatalf("console under a denying policy: %d", code)
	}
	if ev := e.lastSignIn(t); ev.Decision != "deny" || ev.Rule != "console-closed" || ev.Username != admin {
		t.Fatalf("denial record: %+v", ev)
	}

	// Cross-site state changes are refused even for an admitted session.
	e.publish(t, "version: 1\ndefault: allow\n")
	req2, _ := http.NewRequest("POST", e.ts.URL+report, strings.NewReader(""))
	req2.Header.Set("Origin", "https://evil.example")
	resp, err = e.client.Do(req2)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site POST: %d, want 403", resp.StatusCode)
	}
}

// TestLoginGivesNoAccountOracle: an unknown user, a wrong password and a locked account get
// the same answer on the sign-in form; the record keeps the true reason.
func TestLoginGivesNoAccountOracle(t *testing.T) {
	e := newEnv(t)
	bob := "bob@example.com"
	errRe := regexp.MustCompile(`id="form-error">([^<]*)<`)
	answer := func(user, pw string) (int, string) {
		r := e.signInFor(t, user, pw, "/")
		b := readAll(r)
		m := errRe.FindStringSubmatch(b)
		if m == nil {
			t.Fatalf("%s: no error on the form (%d)\n%.300s", user, r.StatusCode, b)
		}
		return r.StatusCode, m[1]
	}
	unknownCode, unknown := answer("nobody@example.com", "whatever-password")
	if ev := e.lastSignIn(t); ev.Reason != "unknown_user" {
		t.Fatalf("unknown user record: %+v", ev)
	}
	for i := 0; i < 10; i++ {
		code, msg := answer(bob, "wrong password!")
		if code != unknownCode || msg != unknown {
			t.Fatalf("wrong password %d: %d %q, unknown user: %d %q", i, code, msg, unknownCode, unknown)
		}
	}
	// Bob is now locked: even his right password gets the same answer.
	code, msg := answer(bob, e.res.Password(bob))
	if code != unknownCode || msg != unknown {
		t.Fatalf("locked: %d %q, unknown user: %d %q", code, msg, unknownCode, unknown)
	}
	if ev := e.lastSignIn(t); ev.Reason != "locked" || ev.Username != bob {
		t.Fatalf("locked record: %+v", ev)
	}
}

// A WS-Trust request that Exchange Online relays for a legacy client and that the adapter
// refuses before the gate (here: malformed XML) is recorded with the client's real address,
// the one Exchange forwarded, not Exchange's own.
func TestExchangeProxiedRefusalKeepsTheClientAddress(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.svc.Instance.Store.PutNetwork(ctx, store.Network{Name: "exchange-online", CIDRs: []string{"40.92.0.0/15"}, UpdatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	e.svc.Policies.Invalidate()
	r := httptest.NewRequest("POST", "https://localhost/adfs/services/trust/13/usernamemixed", strings.NewReader("<s:Envelope"))
	r.Header.Set("Content-Type", "application/soap+xml; charset=utf-8")
	r.Header.Set("X-MS-Forwarded-Client-IP", "203.0.113.77")
	r.Header.Set("X-MS-Client-Application", "Microsoft.Exchange.ActiveSync")
	r.RemoteAddr = "40.92.3.4:443"
	w := httptest.NewRecorder()
	e.svc.Server.Handler().ServeHTTP(w, r)
	if w.Code < 400 {
		t.Fatalf("malformed request answered %d", w.Code)
	}
	ev := e.lastSignIn(t)
	if !strings.HasPrefix(ev.Reason, "rejected_request: bad_request") || ev.Protocol != "wstrust" {
		t.Fatalf("rejection record: %+v", ev)
	}
	if ev.EffectiveIP != "203.0.113.77" || ev.PeerIP != "40.92.3.4" || !ev.ForwardedTrusted || ev.ClientType != "legacy-proxied" {
		t.Fatalf("the record lost the client's address: effective %s peer %s trusted %v client %s",
			ev.EffectiveIP, ev.PeerIP, ev.ForwardedTrusted, ev.ClientType)
	}
}
