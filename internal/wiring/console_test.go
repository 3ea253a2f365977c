package wiring_test

import (
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/sekisho/sekisho/internal/admin"
	"github.com/sekisho/sekisho/internal/authn/factors"
	"github.com/sekisho/sekisho/internal/m365"
	"github.com/sekisho/sekisho/internal/protocol/saml"
	"github.com/sekisho/sekisho/internal/published"
	"github.com/sekisho/sekisho/internal/setup"
	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/testutil/idptest"
)

// adminBrowser is a browser signed in as the demo admin with a second factor (the demo policy
// admits it to sekisho-admin from the office).
func (e *env) adminBrowser(t *testing.T) *http.Client { return e.browserAs(t, e.res.AdminUPN) }

// browserAs is a browser signed in as upn with a second factor.
func (e *env) browserAs(t *testing.T, upn string) *http.Client {
	t.Helper()
	ctx := context.Background()
	u, err := e.svc.Instance.Store.GetUserByUPN(ctx, upn)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	if _, err := e.svc.Sessions.Create(ctx, rec, u, []string{"pwd", "otp"}, true, ""); err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	jar.SetCookies(mustURL(e.ts.URL), rec.Result().Cookies())
	return &http.Client{Transport: e.ts.Client().Transport, Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func page(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// postForm POSTs form to path in browser c with c's CSRF token (read from the console's home
// page) and returns the status and body.
func (e *env) postForm(t *testing.T, c *http.Client, path string, form url.Values) (int, string) {
	t.Helper()
	_, body := page(t, c, e.ts.URL+"/admin/")
	form.Set("csrf", e.csrf(t, body))
	resp, err := c.PostForm(e.ts.URL+path, form)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, readAll(resp)
}

var (
	secretRe2  = regexp.MustCompile(`id="secret">([^<]+)<`)
	userLinkRe = regexp.MustCompile(`href="/admin/users/([0-9a-f-]+)">carlos@example.com<`)
	recordRe   = regexp.MustCompile(`href="/admin/signins/([0-9a-f-]+)"`)
)

// TestConsole walks the console as an administrator: dashboard, create a user (one-time
// password shown once, to be changed at first sign-in), the user's page, disable, the
// sign-in log with one record's trace and an export, the admin audit log naming the
// administrator — every page in both languages with no untranslated text.
func TestConsole(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.adminBrowser(t)
	base := e.ts.URL

	// A refused sign-in to have something in the log and on the dashboard.
	e.signInFor(t, "bob@example.com", "wrong password!", "/")

	code, body := page(t, c, base+"/admin/")
	if code != http.StatusOK || !strings.Contains(body, `id="total"`) || !strings.Contains(body, "wrong_password") || !strings.Contains(body, "<polyline") {
		t.Fatalf("dashboard: %d\n%.800s", code, body)
	}

	// Create a user.
	_, body = page(t, c, base+"/admin/users")
	form := url.Values{"csrf": {e.csrf(t, body)}, "upn": {"carlos@example.com"}, "display_name": {"Carlos"}, "groups": {"staff"}}
	resp, err := c.PostForm(base+"/admin/users", form)
	if err != nil {
		t.Fatal(err)
	}
	body = readAll(resp)
	m := secretRe2.FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("create user: %d\n%.800s", resp.StatusCode, body)
	}
	u, err := e.svc.Instance.Directory.Authenticate(ctx, "carlos@example.com", m[1])
	if err != nil || !u.PasswordChangeRequired {
		t.Fatalf("the one-time password does not sign in, or need no change: %+v %v", u, err)
	}
	// A duplicate is refused next to the form, and nothing is written.
	n := len(auditEntries(t, e, "user.add"))
	resp, _ = c.PostForm(base+"/admin/users", form)
	if b := readAll(resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(b, "already exists") || !strings.Contains(b, `value="carlos@example.com"`) {
		t.Fatalf("duplicate: %d\n%.400s", resp.StatusCode, b)
	}
	if got := len(auditEntries(t, e, "user.add")); got != n {
		t.Fatalf("a refused create wrote %d audit entries", got-n)
	}
	// Without the CSRF token: refused.
	form.Del("csrf")
	resp, _ = c.PostForm(base+"/admin/users", url.Values{"upn": {"x@example.com"}})
	if readAll(resp); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("create without CSRF: %d", resp.StatusCode)
	}

	// The user's page, then disable.
	_, body = page(t, c, base+"/admin/users?q=carlos")
	lm := userLinkRe.FindStringSubmatch(body)
	if lm == nil {
		t.Fatalf("search:\n%.800s", body)
	}
	userPage := base + "/admin/users/" + lm[1]
	_, body = page(t, c, userPage)
	resp, err = c.PostForm(userPage+"/disable", url.Values{"csrf": {e.csrf(t, body)}})
	if err != nil {
		t.Fatal(err)
	}
	readAll(resp)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("disable: %d", resp.StatusCode)
	}
	if code, body := page(t, c, base+resp.Header.Get("Location")); code != 200 || !strings.Contains(body, `id="flash"`) {
		t.Fatalf("after disable: %d", code)
	}
	if u, _ := e.svc.Instance.Store.GetUserByUPN(ctx, "carlos@example.com"); u.Status != store.UserDisabled {
		t.Fatalf("not disabled: %+v", u)
	}
	entries := auditEntries(t, e, "user.")
	last := entries[len(entries)-1]
	if last.Action != "user.disable" || last.Actor != e.res.AdminUPN || last.Via != "console" || last.Target != "carlos@example.com" {
		t.Fatalf("audit entry %+v", last)
	}

	// The sign-in log, one record with its trace, an export.
	_, body = page(t, c, base+"/admin/signins?user=bob@example.com&since=1d")
	rm := recordRe.FindStringSubmatch(body)
	if rm == nil || !strings.Contains(body, "wrong_password") {
		t.Fatalf("sign-in log:\n%.800s", body)
	}
	if code, body := page(t, c, base+"/admin/signins?since=soon"); code != http.StatusBadRequest || !strings.Contains(body, "since") {
		t.Fatalf("bad since: %d", code)
	}
	_, body = page(t, c, base+"/admin/signins/"+rm[1])
	if !strings.Contains(body, `id="ref">`+rm[1]) {
		t.Fatalf("record page:\n%.800s", body)
	}
	// An admitted sign-in has a trace (the admin's own console admission).
	adm, _ := e.svc.Instance.Store.ListSignIns(ctx, store.SignInFilter{Application: "sekisho-admin", Decision: "allow"})
	if len(adm) == 0 {
		t.Fatal("no admission record for the console")
	}
	_, body = page(t, c, base+"/admin/signins/"+adm[0].ID)
	tm := regexp.MustCompile(`(?s)<pre id="trace">(.*?)</pre>`).FindStringSubmatch(body)
	if tm == nil || !strings.Contains(tm[1], `&#34;console-admins-with-mfa&#34;`) || strings.Contains(tm[1], "no rule matched") {
		t.Fatalf("the trace does not explain the admission:\n%.1200s", body)
	}
	code, body = page(t, c, base+"/admin/signins/export?user=bob@example.com&since=1d&format=csv")
	if code != 200 || !strings.Contains(body, "wrong_password") {
		t.Fatalf("export: %d %.300s", code, body)
	}
	if code, _ := page(t, c, base+"/admin/signins/nope"); code != http.StatusNotFound {
		t.Fatalf("unknown record: %d", code)
	}

	// The admin audit log page.
	if _, body := page(t, c, base+"/admin/audit?action=user."); !strings.Contains(body, "user.disable") || !strings.Contains(body, "console") {
		t.Fatalf("audit page:\n%.800s", body)
	}

	// Every page, both languages: no untranslated key.
	for _, p := range []string{"/admin/", "/admin/users", "/admin/users/" + lm[1], "/admin/signins", "/admin/signins/" + rm[1], "/admin/audit", "/admin/users/nope"} {
		for _, lang := range []string{"en", "ja"} {
			sep := "?"
			if strings.Contains(p, "?") {
				sep = "&"
			}
			_, body := page(t, c, base+p+sep+"lang="+lang)
			if strings.Contains(body, "⟦") || !strings.Contains(body, `<html lang="`+lang+`">`) {
				t.Errorf("%s in %s: untranslated text or wrong language:\n%.300s", p, lang, body)
			}
		}
	}
}

func auditEntries(t *testing.T, e *env, action string) []store.AdminEvent {
	t.Helper()
	evs, err := e.svc.Instance.Store.ListAdminEvents(context.Background(), store.AdminEventFilter{Action: action})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// A non-admin never reaches the console pages, GET or POST.
func TestConsoleRefusesNonAdmins(t *testing.T) {
	e := newEnv(t)
	if r := e.signInFor(t, "alice@example.com", e.res.Password("alice@example.com"), "/"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("alice: %d", r.StatusCode)
	}
	for _, p := range []string{"/admin/", "/admin/users", "/admin/signins", "/admin/audit"} {
		if code, _ := e.get(t, p); code != http.StatusForbidden {
			t.Errorf("alice at %s: %d", p, code)
		}
	}
	_, body := e.get(t, "/login")
	r := e.post(t, "/admin/users", url.Values{"csrf": {e.csrf(t, body)}, "upn": {"mallory@example.com"}})
	if r.StatusCode != http.StatusForbidden {
		t.Fatalf("alice creating a user: %d", r.StatusCode)
	}
	if _, err := e.svc.Instance.Store.GetUserByUPN(context.Background(), "mallory@example.com"); err == nil {
		t.Fatal("a non-admin created a user")
	}
}

var baseRe = regexp.MustCompile(`name="base" value="(\d+)"`)

// TestConsoleNetworksAndPolicy: networks are validated before anything is saved; the policy
// editor checks with line numbers, evaluates a what-if and replays the log against its text,
// and refuses to publish over a version published meanwhile.
func TestConsoleNetworksAndPolicy(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.adminBrowser(t)
	base := e.ts.URL
	post := func(path string, form url.Values) (int, string, string) {
		t.Helper()
		_, body := page(t, c, base+"/admin/") // any page: the token is the browser's
		form.Set("csrf", e.csrf(t, body))
		resp, err := c.PostForm(base+path, form)
		if err != nil {
			t.Fatal(err)
		}
		b := readAll(resp)
		return resp.StatusCode, b, resp.Header.Get("Location")
	}
	// Networks.
	code, body, _ := post("/admin/networks", url.Values{"name": {"branch"}, "cidrs": {"198.51.100.0/24\n# comment\nnot-an-address\n"}})
	if code != http.StatusBadRequest || !strings.Contains(body, "not-an-address") || !strings.Contains(body, "198.51.100.0/24") {
		t.Fatalf("bad range: %d\n%.500s", code, body)
	}
	if _, err := e.svc.Instance.Store.GetNetwork(ctx, "branch"); err == nil {
		t.Fatal("a network with a bad range was saved")
	}
	if code, _, loc := post("/admin/networks", url.Values{"name": {"branch"}, "description": {"Osaka"}, "cidrs": {"198.51.100.0/24 # Osaka\n2001:db8:200::/48"}}); code != http.StatusSeeOther || !strings.Contains(loc, "flash_saved") {
		t.Fatalf("save network: %d %s", code, loc)
	}
	if n, err := e.svc.Instance.Store.GetNetwork(ctx, "branch"); err != nil || len(n.CIDRs) != 2 {
		t.Fatalf("branch: %+v %v", n, err)
	}
	if code, body, _ := post("/admin/networks/office/delete", url.Values{}); code != http.StatusBadRequest || !strings.Contains(body, "office") {
		t.Fatalf("deleting a network the policy names: %d", code)
	}

	// The policy editor.
	_, body = page(t, c, base+"/admin/policy")
	bm := baseRe.FindStringSubmatch(body)
	if bm == nil || bm[1] != "1" {
		t.Fatalf("editor base version: %v", bm)
	}
	bad := "version: 1\ndefault: deny\nrules:\n  - name: x\n    networks: [nowhere]\n    action: allow\n"
	code, body, _ = post("/admin/policy", url.Values{"action": {"check"}, "base": {"1"}, "doc": {bad}})
	if code != http.StatusBadRequest || !strings.Contains(body, `id="problems"`) || !strings.Contains(body, "policy.yaml:5") || !strings.Contains(body, "nowhere") {
		t.Fatalf("check of an invalid policy: %d\n%.800s", code, body)
	}
	draft := "version: 1\ndefault: deny\nrules:\n  - name: branch-office\n    networks: [branch]\n    action: allow\n"
	code, body, _ = post("/admin/policy", url.Values{"action": {"whatif"}, "base": {"1"}, "doc": {draft},
		"w_user": {"bob@example.com"}, "w_app": {"microsoft365"}, "w_ip": {"198.51.100.9"}, "w_client": {"browser"}})
	if code != http.StatusOK || !strings.Contains(body, `id="whatif-decision"`) || !strings.Contains(body, "branch-office") {
		t.Fatalf("what-if: %d\n%.800s", code, body)
	}
	e.signInFor(t, "alice@example.com", e.res.Password("alice@example.com"), "/") // allowed from the office today
	code, body, _ = post("/admin/policy", url.Values{"action": {"replay"}, "base": {"1"}, "doc": {draft}, "r_since": {"1d"}})
	if code != http.StatusOK || !strings.Contains(body, `id="replay-rows"`) || !strings.Contains(body, "allow-&gt;deny") {
		t.Fatalf("replay: %d\n%.1200s", code, body)
	}
	// Someone publishes from the CLI meanwhile: the editor's publish over version 1 is refused.
	if _, err := e.svc.Instance.Admin.PublishPolicy(ctx, admin.Actor{Name: "os:root", Via: "cli"}, "p.yaml", []byte(setup.DemoPolicy), "meanwhile"); err != nil {
		t.Fatal(err)
	}
	code, body, _ = post("/admin/policy", url.Values{"action": {"publish"}, "base": {"1"}, "doc": {draft}, "comment": {"branch only"}})
	if code != http.StatusConflict || !strings.Contains(body, "version 2 is in force") || !strings.Contains(body, "branch-office") {
		t.Fatalf("stale publish: %d\n%.800s", code, body)
	}
	code, _, loc := post("/admin/policy", url.Values{"action": {"publish"}, "base": {"2"}, "doc": {setup.DemoPolicy}, "comment": {"same again"}})
	if code != http.StatusSeeOther || !strings.Contains(loc, "flash_published") {
		t.Fatalf("publish: %d %s", code, loc)
	}
	if v, _ := e.svc.Instance.Store.LatestPolicyVersion(ctx); v.Version != 3 || v.Author != e.res.AdminUPN {
		t.Fatalf("published version %+v", v)
	}
	if code, _, _ := post("/admin/policy/rollback", url.Values{"version": {"1"}}); code != http.StatusSeeOther {
		t.Fatalf("rollback: %d", code)
	}
	if got := auditEntries(t, e, "policy."); len(got) != 3 || got[2].Action != "policy.rollback" || got[1].Actor != e.res.AdminUPN {
		t.Fatalf("policy audit entries %+v", got)
	}
	for _, p := range []string{"/admin/networks", "/admin/policy"} {
		for _, lang := range []string{"en", "ja"} {
			if _, body := page(t, c, base+p+"?lang="+lang); strings.Contains(body, "⟦") {
				t.Errorf("%s in %s: untranslated text", p, lang)
			}
		}
	}
}

// TestConsoleRoles: helpdesk manages users but cannot reach networks, policy, the audit log or
// the report (403 and no link); an auditor reads everything and every POST is refused.
func TestConsoleRoles(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	adm := e.svc.Instance.Admin
	root := admin.Actor{Name: "os:root", Via: "cli"}
	for upn, group := range map[string]string{"carol@example.com": "sekisho-helpdesk", "bob@example.com": "sekisho-auditors"} {
		if err := adm.SetMember(ctx, root, group, upn, true); err != nil {
			t.Fatal(err)
		}
	}
	base := e.ts.URL
	helpdesk, auditor := e.browserAs(t, "carol@example.com"), e.browserAs(t, "bob@example.com")
	postAs := func(c *http.Client, path string, form url.Values) int {
		t.Helper()
		code, _ := e.postForm(t, c, path, form)
		return code
	}
	code, body := page(t, helpdesk, base+"/admin/")
	if code != http.StatusOK || strings.Contains(body, `href="/admin/policy"`) || strings.Contains(body, `href="/admin/networks"`) ||
		strings.Contains(body, `href="/admin/audit"`) || !strings.Contains(body, `href="/admin/users"`) {
		t.Fatalf("helpdesk dashboard: %d (links to pages it may not open?)\n%.600s", code, body)
	}
	for _, p := range []string{"/admin/policy", "/admin/networks", "/admin/audit", "/admin/reports/legacy-auth"} {
		if code, _ := page(t, helpdesk, base+p); code != http.StatusForbidden {
			t.Errorf("helpdesk at %s: %d, want 403", p, code)
		}
	}
	if code := postAs(helpdesk, "/admin/users", url.Values{"upn": {"erin@example.com"}}); code != http.StatusOK {
		t.Fatalf("helpdesk creates a user: %d", code)
	}
	if code := postAs(helpdesk, "/admin/policy", url.Values{"action": {"publish"}, "base": {"1"}, "doc": {"version: 1\ndefault: allow\n"}}); code != http.StatusForbidden {
		t.Fatalf("helpdesk publishes a policy: %d", code)
	}

	for _, p := range []string{"/admin/", "/admin/users", "/admin/policy", "/admin/networks", "/admin/audit", "/admin/signins", "/admin/reports/legacy-auth"} {
		if code, _ := page(t, auditor, base+p); code != http.StatusOK {
			t.Errorf("auditor at %s: %d, want 200", p, code)
		}
	}
	if _, body := page(t, auditor, base+"/admin/users"); strings.Contains(body, `id="add-user"`) {
		t.Error("the auditor is offered the create-user form")
	}
	n := len(auditEntries(t, e, ""))
	for path, form := range map[string]url.Values{
		"/admin/users":                  {"upn": {"frank@example.com"}},
		"/admin/networks":               {"name": {"x"}, "cidrs": {"192.0.2.0/24"}},
		"/admin/policy":                 {"action": {"check"}, "doc": {"version: 1\ndefault: deny\n"}},
		"/admin/policy/rollback":        {"version": {"1"}},
		"/admin/networks/office/delete": {},
	} {
		if code := postAs(auditor, path, form); code != http.StatusForbidden {
			t.Errorf("auditor POST %s: %d, want 403", path, code)
		}
	}
	if got := len(auditEntries(t, e, "")); got != n {
		t.Fatalf("the auditor's refused changes wrote %d audit entries", got-n)
	}
	// Without a console role: refused by the gate itself, with a record.
	if code, _ := page(t, e.browserAs(t, "alice@example.com"), base+"/admin/"); code != http.StatusForbidden {
		t.Fatalf("alice (no role): %d", code)
	}
	if ev := e.lastSignIn(t); ev.Reason != "not_admin" || ev.Username != "alice@example.com" {
		t.Fatalf("alice's record: %+v", ev)
	}
}

// TestConsoleUserSupport is a helpdesk's day: a locked-out user is unlocked, gets emergency
// codes and a device certificate (its one-time link shown once), the device is revoked, the
// second factors reset — each change in the audit log under the helpdesk member's name.
func TestConsoleUserSupport(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.svc.Instance.Admin.SetMember(ctx, admin.Actor{Name: "os:root", Via: "cli"}, "sekisho-helpdesk", "carol@example.com", true); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		e.signInFor(t, "bob@example.com", "wrong password!", "/")
	}
	c := e.browserAs(t, "carol@example.com")
	bob, _ := e.svc.Instance.Store.GetUserByUPN(ctx, "bob@example.com")
	userPage := e.ts.URL + "/admin/users/" + bob.ID
	act := func(action string, form url.Values) (int, string) {
		t.Helper()
		_, body := page(t, c, userPage)
		form.Set("csrf", e.csrf(t, body))
		resp, err := c.PostForm(userPage+"/"+action, form)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, readAll(resp)
	}
	if _, body := page(t, c, userPage); !strings.Contains(body, `id="locks"`) || !strings.Contains(body, "unfamiliar") {
		t.Fatalf("the lock is not shown:\n%.1500s", body)
	}
	if code, _ := act("unlock", url.Values{}); code != http.StatusSeeOther {
		t.Fatalf("unlock: %d", code)
	}
	if _, body := page(t, c, userPage); !strings.Contains(body, `id="no-locks"`) {
		t.Fatal("still locked after unlock")
	}
	code, body := act("emergency-codes", url.Values{})
	if code != http.StatusOK || !strings.Contains(body, `id="codes"`) {
		t.Fatalf("emergency codes: %d", code)
	}
	code, body = act("issue-device", url.Values{"name": {"bob-laptop"}, "platform": {"windows"}})
	if code != http.StatusOK || !strings.Contains(body, e.svc.Instance.Config.BaseURL+"/devices/download/") || !strings.Contains(body, `id="p12-password"`) {
		t.Fatalf("issue device: %d\n%.1200s", code, body)
	}
	if _, again := page(t, c, userPage); strings.Contains(again, "/devices/download/") {
		t.Fatal("the one-time link is shown a second time")
	}
	if _, list := page(t, c, e.ts.URL+"/admin/devices?status=issued"); !strings.Contains(list, "bob-laptop") || !strings.Contains(list, "bob@example.com") {
		t.Fatalf("devices overview:\n%.800s", list)
	}
	devs, _ := e.svc.Instance.Store.ListDevices(ctx, bob.ID)
	if len(devs) != 1 {
		t.Fatalf("devices %+v", devs)
	}
	if code, _ := act("revoke-device", url.Values{"device": {devs[0].ID}}); code != http.StatusSeeOther {
		t.Fatalf("revoke: %d", code)
	}
	if d, _ := e.svc.Instance.Store.GetDevice(ctx, devs[0].ID); d.Status != "revoked" {
		t.Fatalf("device after revoke: %s", d.Status)
	}
	if code, _ := act("reset-factors", url.Values{}); code != http.StatusSeeOther {
		t.Fatalf("reset factors: %d", code)
	}
	if st, _ := e.svc.Instance.Factors.Status(ctx, bob.ID); st.EmergencyLeft != 0 {
		t.Fatalf("factors after reset: %+v", st)
	}
	var actions []string
	for _, ev := range auditEntries(t, e, "") {
		if ev.Actor == "carol@example.com" {
			actions = append(actions, ev.Action)
		}
	}
	if strings.Join(actions, ",") != "lockout.unlock,factors.emergency-codes,device.issue,device.revoke,factors.reset" {
		t.Fatalf("carol's audit entries: %v", actions)
	}
}

// Key rollover from the console: rotate (next published), promote, retire; out of order is
// refused with the reason; each step is in the audit log.
func TestConsoleKeys(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.adminBrowser(t)
	do := func(action string, alg ...string) (int, string) {
		t.Helper()
		_, body := page(t, c, e.ts.URL+"/admin/keys")
		resp, err := c.PostForm(e.ts.URL+"/admin/keys/"+action, url.Values{"csrf": {e.csrf(t, body)}, "alg": alg})
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, readAll(resp)
	}
	if code, body := do("promote"); code != http.StatusBadRequest || !strings.Contains(body, `id="error"`) {
		t.Fatalf("promote without a next key: %d", code)
	}
	for _, step := range []string{"rotate", "promote", "retire"} {
		if code, _ := do(step); code != http.StatusSeeOther {
			t.Fatalf("%s: %d", step, code)
		}
	}
	ks, _ := e.svc.Instance.Store.ListSigningKeys(ctx, "token")
	if len(ks) != 1 || ks[0].State != store.KeyCurrent {
		t.Fatalf("keys after rollover: %+v", ks)
	}
	if got := auditEntries(t, e, "key."); len(got) != 3 || got[0].Action != "key.rotate" || got[2].Actor != e.res.AdminUPN {
		t.Fatalf("key audit entries %+v", got)
	}
	// The ES256 key (OpenID Connect clients set to ES256) has its own row of actions.
	if code, _ := do("rotate", "ES256"); code != http.StatusSeeOther {
		t.Fatalf("ES256 rotate: %d", code)
	}
	if es, _ := e.svc.Instance.Store.ListSigningKeys(ctx, "token-es256"); len(es) == 0 || es[len(es)-1].State != store.KeyNext {
		t.Fatalf("ES256 keys after rotate: %+v", es)
	}
	if code, _ := do("rotate", "HS256"); code != http.StatusBadRequest {
		t.Fatalf("an unknown algorithm: %d", code)
	}
	if _, body := page(t, c, e.ts.URL+"/admin/keys"); !strings.Contains(body, `id="rotate-ES256"`) || !strings.Contains(body, "<td>ES256</td>") {
		t.Fatal("the keys page shows no ES256 key or actions")
	}
	if _, body := page(t, c, e.ts.URL+"/admin/keys?lang=ja"); strings.Contains(body, "⟦") || !strings.Contains(body, "現在") {
		t.Fatal("keys page in Japanese")
	}
}

// The portal: the user's own recent sign-ins and devices; a password change checks the
// current password like every password door, applies the policy and ends every session.
func TestPortal(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	alice := "alice@example.com"
	if r := e.signInFor(t, alice, e.res.Password(alice), "/"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in: %d", r.StatusCode)
	}
	code, body := e.get(t, "/")
	if code != http.StatusOK || !strings.Contains(body, `id="my-signins"`) || !strings.Contains(body, "sekisho-account") {
		t.Fatalf("portal: %d\n%.800s", code, body)
	}
	_, body = e.get(t, "/account/password")
	change := func(current, pw string) (int, string) {
		r := e.post(t, "/account/password", url.Values{"csrf": {e.csrf(t, body)}, "current_password": {current},
			"new_password": {pw}, "confirm_password": {pw}})
		return r.StatusCode, readAll(r)
	}
	if code, _ := change("not my password", "A new long passphrase 7"); code != http.StatusUnauthorized {
		t.Fatalf("wrong current password: %d", code)
	}
	if ev := e.lastSignIn(t); ev.Reason != "wrong_password" || ev.Username != alice {
		t.Fatalf("the wrong current password left no record: %+v", ev)
	}
	if code, b := change(e.res.Password(alice), "short"); code != http.StatusBadRequest || !strings.Contains(b, "too short") {
		t.Fatalf("weak new password: %d", code)
	}
	if code, b := change(e.res.Password(alice), "A new long passphrase 7"); code != http.StatusOK || !strings.Contains(b, `id="done"`) {
		t.Fatalf("change: %d\n%.400s", code, b)
	}
	if _, err := e.svc.Instance.Directory.Authenticate(ctx, alice, "A new long passphrase 7"); err != nil {
		t.Fatalf("the new password does not work: %v", err)
	}
	if code, _ := e.get(t, "/"); code != http.StatusSeeOther {
		t.Fatalf("the session survived the password change: %d", code)
	}
}

// CSV import in the console: every row's outcome on the page, one audit entry per created user.
func TestConsoleImportUsers(t *testing.T) {
	e := newEnv(t)
	c := e.adminBrowser(t)
	_, body := page(t, c, e.ts.URL+"/admin/users")
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("csrf", e.csrf(t, body))
	_ = mw.WriteField("groups", "staff")
	fw, _ := mw.CreateFormFile("csv", "users.csv")
	io.WriteString(fw, "\ufeffuserPrincipalName,displayName,mail,onPremisesImmutableId\ngina@example.com,Gina,gina@example.com,\nalice@example.com,Alice,,\nnot a upn,,,\n")
	mw.Close()
	req, _ := http.NewRequest("POST", e.ts.URL+"/admin/users/import", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b := readAll(resp)
	if resp.StatusCode != http.StatusOK || !strings.Contains(b, `id="import-rows"`) || !strings.Contains(b, "gina@example.com") || !strings.Contains(b, "not a upn") {
		t.Fatalf("import: %d\n%.1500s", resp.StatusCode, b)
	}
	u, err := e.svc.Instance.Store.GetUserByUPN(context.Background(), "gina@example.com")
	if err != nil || len(u.Groups) != 1 || u.Groups[0] != "staff" {
		t.Fatalf("gina: %+v %v", u, err)
	}
	if got := auditEntries(t, e, "user.import"); len(got) != 1 || got[0].Target != "gina@example.com" || got[0].Via != "console" {
		t.Fatalf("import audit entries %+v", got)
	}
}

// wikiMetadata is the SP metadata an administrator pastes in these tests.
const wikiMetadata = idptest.WikiMetadata

// Applications in the console: a SAML SP registered from pasted metadata, bad metadata refused
// with the reason and nothing saved, the Microsoft 365 domain's federation settings and check.
func TestConsoleApplications(t *testing.T) {
	e := newEnv(t)
	c := e.adminBrowser(t)
	post := func(path string, form url.Values) (int, string) { t.Helper(); return e.postForm(t, c, path, form) }
	if code, body := post("/admin/apps", url.Values{"name": {"wiki"}, "metadata": {"<md:EntityDescriptor"}}); code != http.StatusBadRequest || !strings.Contains(body, `id="error"`) {
		t.Fatalf("bad metadata: %d", code)
	}
	if code, _ := post("/admin/apps", url.Values{"name": {"wiki"}, "metadata": {wikiMetadata}}); code != http.StatusSeeOther {
		t.Fatalf("register: %d", code)
	}
	if _, body := page(t, c, e.ts.URL+"/admin/apps"); !strings.Contains(body, "https://wiki.example.com/Shibboleth.sso/SAML2/POST") {
		t.Fatalf("apps page:\n%.800s", body)
	}
	if got := auditEntries(t, e, "app.add"); len(got) != 1 || got[0].Target != "wiki" || got[0].Via != "console" {
		t.Fatalf("app audit entries %+v", got)
	}
	code, body := page(t, c, e.ts.URL+"/admin/apps?domain=example.com")
	if code != http.StatusOK || !strings.Contains(body, `id="powershell"`) || !strings.Contains(body, "New-MgDomainFederationConfiguration") {
		t.Fatalf("federation settings: %d\n%.1200s", code, body)
	}
	if code, _ := post("/admin/apps/wiki/remove", url.Values{}); code != http.StatusSeeOther {
		t.Fatalf("remove: %d", code)
	}
	if _, err := e.svc.Instance.Store.GetApplication(context.Background(), "wiki"); err == nil {
		t.Fatal("the application is still registered")
	}
}

// A policy published in the console is in force at the gate within published.TTL, without a
// restart and without anyone invalidating the cache (as on any other node).
func TestConsolePublishIsInForceWithinTheBound(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.adminBrowser(t)
	bob, _ := e.svc.Instance.Store.GetUserByUPN(ctx, "bob@example.com")
	judge := func() signin.Decision {
		r := httptest.NewRequest("GET", e.ts.URL+"/", nil)
		r.RemoteAddr = "127.0.0.1:5000"
		o, err := e.svc.Gate.Evaluate(ctx, signin.Attempt{Protocol: "web", Application: signin.AppAccount, Endpoint: signin.Passive,
			HTTP: r, Session: &signin.Session{UserID: bob.ID}})
		if err != nil {
			t.Fatal(err)
		}
		return o.Decision
	}
	if d := judge(); d != signin.Allow {
		t.Fatalf("before: %s", d)
	}
	_, body := page(t, c, e.ts.URL+"/admin/policy")
	closed := strings.Replace(setup.DemoPolicy, "rules:\n", "rules:\n  - name: portal-closed\n    applications: [sekisho-account]\n    action: deny\n\n", 1)
	resp, err := c.PostForm(e.ts.URL+"/admin/policy", url.Values{"csrf": {e.csrf(t, body)}, "action": {"publish"}, "base": {"1"}, "doc": {closed}})
	if err != nil {
		t.Fatal(err)
	}
	readAll(resp)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("publish: %d", resp.StatusCode)
	}
	publishedAt := time.Now()
	deadline := publishedAt.Add(published.TTL + time.Second)
	for judge() != signin.Deny {
		if time.Now().After(deadline) {
			t.Fatalf("the published policy was not in force within %v", published.TTL+time.Second)
		}
		time.Sleep(50 * time.Millisecond) // polling a condition with a deadline, not timing the result
	}
	t.Logf("in force after %v (bound %v)", time.Since(publishedAt).Round(time.Millisecond), published.TTL)
}

// Renaming and removing one's own passkeys needs a session that used a second factor.
func TestPortalManagesPasskeys(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	alice, _ := e.svc.Instance.Store.GetUserByUPN(ctx, "alice@example.com")
	for _, id := range [][]byte{{1, 2, 3}, {4, 5, 6}} {
		if err := e.svc.Instance.Factors.AddWebAuthn(ctx, alice.ID, factors.Credential{ID: id, PublicKey: []byte{0xa5}, Name: "key", CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	post := func(c *http.Client, action string, form url.Values) *http.Response {
		t.Helper()
		code, body := page(t, c, e.ts.URL+"/") // the portal's sign-out form carries the browser's token
		if code != http.StatusOK {
			t.Fatalf("portal: %d", code)
		}
		form.Set("csrf", e.csrf(t, body))
		resp, err := c.PostForm(e.ts.URL+"/account/passkey/"+action, form)
		if err != nil {
			t.Fatal(err)
		}
		readAll(resp)
		return resp
	}
	// Password only: sent to the second-factor step, nothing changed.
	if r := e.signInFor(t, "alice@example.com", e.res.Password("alice@example.com"), "/"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in: %d", r.StatusCode)
	}
	if r := post(e.client, "remove", url.Values{"id": {"AQID"}}); r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login/mfa") {
		t.Fatalf("remove without MFA: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	c := e.browserAs(t, "alice@example.com")
	if r := post(c, "rename", url.Values{"id": {"AQID"}, "name": {"office YubiKey"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("rename: %d", r.StatusCode)
	}
	if r := post(c, "remove", url.Values{"id": {"BAUG"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("remove: %d", r.StatusCode)
	}
	if r := post(c, "remove", url.Values{"id": {"BAUG"}}); r.StatusCode != http.StatusNotFound {
		t.Fatalf("remove twice: %d", r.StatusCode)
	}
	creds, _ := e.svc.Instance.Factors.WebAuthnCredentials(ctx, alice.ID)
	if len(creds) != 1 || creds[0].Name != "office YubiKey" {
		t.Fatalf("credentials after the changes: %+v", creds)
	}
}

// The portal lists the SAML applications that accept IdP-initiated sign-in, linked to their start.
func TestPortalListsLaunchableApps(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	root := admin.Actor{Name: "os:root", Via: "cli"}
	for name, idp := range map[string]bool{"wiki": true, "hr": false} {
		sp := saml.ServiceProvider{EntityID: "https://" + name + ".example.com/sp", AllowIdPInitiated: idp,
			ACS: []saml.Endpoint{{Binding: saml.BindingPOST, Location: "https://" + name + ".example.com/acs", Index: 1}}}
		if _, err := e.svc.Instance.Admin.AddApplication(ctx, root, name, sp); err != nil {
			t.Fatal(err)
		}
	}
	e.signInFor(t, "alice@example.com", e.res.Password("alice@example.com"), "/")
	_, body := e.get(t, "/")
	if !strings.Contains(body, `id="my-apps"`) || !strings.Contains(body, "/saml/idp-initiated?sp=https%3A%2F%2Fwiki.example.com%2Fsp") || strings.Contains(body, "hr.example.com") {
		t.Fatalf("portal applications:\n%.1200s", body)
	}
}

// Microsoft 365 domains from the console: add with its settings, refused input keeps the form,
// edit keeps the issuer, remove.
func TestConsoleDomains(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.adminBrowser(t)
	post := func(path string, form url.Values) (int, string) { t.Helper(); return e.postForm(t, c, path, form) }
	code, body := post("/admin/apps/domains", url.Values{"name": {"contoso.com"}, "protocol": {"wsFed"}, "inside": {"nowhere"}, "passive": {"1"}})
	if code != http.StatusBadRequest || !strings.Contains(body, `value="contoso.com"`) || !strings.Contains(body, "nowhere") {
		t.Fatalf("unknown inside network: %d\n%.600s", code, body)
	}
	if code, _ := post("/admin/apps/domains", url.Values{"name": {"contoso.com"}, "protocol": {"wsFed"}}); code != http.StatusBadRequest {
		t.Fatalf("no sign-in method: %d", code)
	}
	form := url.Values{"name": {"contoso.com"}, "issuer": {"http://contoso.com/sts/"}, "protocol": {"wsFed"},
		"inside": {"office"}, "passive": {"1"}, "prompt_login": {"nativeSupport"}, "mfa_behavior": {"enforceMfaByFederatedIdp"}}
	bad := url.Values{}
	for k, v := range form {
		bad[k] = v
	}
	bad.Set("mfa_behavior", "askSomeoneElse")
	if code, body := post("/admin/apps/domains", bad); code != http.StatusBadRequest || !strings.Contains(body, "federatedIdpMfaBehavior &#34;askSomeoneElse&#34;") {
		t.Fatalf("unknown MFA behaviour: %d\n%.600s", code, body)
	}
	if code, _ := post("/admin/apps/domains", form); code != http.StatusSeeOther {
		t.Fatalf("add: %d", code)
	}
	d, err := m365.GetDomain(ctx, e.svc.Instance.Store, "contoso.com")
	if err != nil || d.IssuerURI != "http://contoso.com/sts/" || d.Allows(m365.MethodActive) || !d.Allows(m365.MethodPassive) || len(d.InsideNetworks) != 1 ||
		d.PromptLoginBehavior != "nativeSupport" || d.MFABehavior != "enforceMfaByFederatedIdp" || d.EmitMFA {
		t.Fatalf("contoso.com: %+v %v", d, err)
	}
	if _, body := page(t, c, e.ts.URL+"/admin/apps?edit=contoso.com"); !strings.Contains(body, `value="http://contoso.com/sts/"`) ||
		!strings.Contains(body, "<option selected>nativeSupport</option>") || !strings.Contains(body, "<option selected>enforceMfaByFederatedIdp</option>") {
		t.Fatal("the edit form does not keep the issuer and the Entra behaviours")
	}
	// What Entra is told, and what the check says of it: MFA required from Sekisho, which does
	// not report it; prompt=login passed on, which WS-Fed does not read.
	_, body = page(t, c, e.ts.URL+"/admin/apps?domain=contoso.com")
	for _, want := range []string{"PromptLoginBehavior = &#39;nativeSupport&#39;", "FederatedIdpMfaBehavior = &#39;enforceMfaByFederatedIdp&#39;",
		`<li class="deny">error: federatedIdpMfaBehavior enforceMfaByFederatedIdp`, "warning: promptLoginBehavior nativeSupport"} {
		if !strings.Contains(body, want) {
			t.Errorf("federation settings lack %q", want)
		}
	}
	form.Set("emit_mfa", "1")
	form.Set("prompt_login", "disabled")
	if code, _ := post("/admin/apps/domains", form); code != http.StatusSeeOther {
		t.Fatalf("edit: %d", code)
	}
	_, body = page(t, c, e.ts.URL+"/admin/apps?domain=contoso.com")
	if !strings.Contains(body, "PromptLoginBehavior = &#39;disabled&#39;") || strings.Contains(body, "error: federatedIdpMfaBehavior") ||
		!strings.Contains(body, "warning: federatedIdpMfaBehavior enforceMfaByFederatedIdp") || strings.Contains(body, "warning: promptLoginBehavior") {
		t.Errorf("federation settings after the edit:\n%s", body[strings.Index(body, `id="federate-title"`):])
	}
	if code, _ := post("/admin/apps/domains/contoso.com/remove", url.Values{}); code != http.StatusSeeOther {
		t.Fatalf("remove: %d", code)
	}
	if got := auditEntries(t, e, "m365."); len(got) != 3 || got[0].Action != "m365.domain-add" || got[1].Action != "m365.domain-add" ||
		!strings.Contains(string(got[1].Before), `"federatedIdpMfaBehavior":"enforceMfaByFederatedIdp"`) || got[2].Action != "m365.domain-remove" {
		t.Fatalf("domain audit entries %+v", got)
	}
}

// samlResponseAt opens an IdP-initiated sign-in to entityID in e's browser (signed in) and
// returns the SAML Response it posts to the SP.
func (e *env) samlResponseAt(t *testing.T, entityID string) *etree.Document {
	t.Helper()
	code, form := e.get(t, "/saml/idp-initiated?sp="+url.QueryEscape(entityID))
	if code != http.StatusOK {
		t.Fatalf("IdP-initiated sign-in: %d\n%.800s", code, form)
	}
	doc, _ := samlResponseIn(t, form)
	return doc
}

// SAML application settings in the console: mappings set when registering and edited later
// (rows added, removed, changed) reach the SP in its SAML Response; a bad mapping is refused in
// the form and nothing is stored; each change is one audit entry with before and after.
func TestConsoleAppSettings(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	st := e.svc.Instance.Store
	c := e.adminBrowser(t)
	post := func(path string, form url.Values) (int, string) { t.Helper(); return e.postForm(t, c, path, form) }

	// Registered with one mapping typed beside the metadata; the blank row is left out.
	code, _ := post("/admin/apps", url.Values{"name": {"wiki"}, "metadata": {wikiMetadata},
		"attr_name_0": {"mail"}, "attr_source_0": {"email"}, "attr_format_0": {"uri"}, "attr_friendly_0": {""},
		"attr_name_1": {""}, "attr_source_1": {""}, "attr_format_1": {""}, "attr_friendly_1": {""}})
	if code != http.StatusSeeOther {
		t.Fatalf("register: %d", code)
	}
	sp, err := saml.StoreSPs{Apps: st}.LookupSPByApp(ctx, "wiki")
	if err != nil || len(sp.Attributes) != 1 || sp.Attributes[0] != (saml.AttributeMapping{Name: "mail", Source: "email", NameFormat: saml.AttrNameFormatURI}) {
		t.Fatalf("registered mappings %+v %v", sp.Attributes, err)
	}
	if _, body := page(t, c, e.ts.URL+"/admin/apps?app=wiki"); !strings.Contains(body, "mail ← email (uri)") ||
		!strings.Contains(body, `id="app-settings-form"`) || !strings.Contains(body, `name="attr_name_0" value="mail"`) {
		t.Fatalf("settings page:\n%.2000s", body)
	}
	for _, lang := range []string{"en", "ja"} {
		if _, body := page(t, c, e.ts.URL+"/admin/apps?app=wiki&domain=example.com&edit=example.com&lang="+lang); strings.Contains(body, "⟦") {
			t.Errorf("applications page in %s: untranslated text", lang)
		}
	}

	stored := func() []byte {
		t.Helper()
		a, err := st.GetApplication(ctx, "wiki")
		if err != nil {
			t.Fatal(err)
		}
		return a.Config
	}
	before := stored()
	settings := func(rows ...[4]string) url.Values {
		v := url.Values{"nameid_format": {saml.NameIDEmail}, "nameid_source": {""}, "allow_idp": {"1"}, "sign_assertion": {"1"}}
		for i, r := range rows {
			n := strconv.Itoa(i)
			v.Set("attr_name_"+n, r[0])
			v.Set("attr_source_"+n, r[1])
			v.Set("attr_format_"+n, r[2])
			v.Set("attr_friendly_"+n, r[3])
		}
		return v
	}
	for what, c := range map[string]struct {
		form url.Values
		want string
	}{
		"duplicate name": {settings([4]string{"mail", "email", "", ""}, [4]string{"mail", "upn", "", ""}), "mail is mapped twice"},
		"unknown source": {settings([4]string{"pw", "password", "", ""}), `source &#34;password&#34; not supported`},
		"empty name":     {settings([4]string{"", "email", "", ""}), "name is required"},
		"bad format":     {settings([4]string{"mail", "email", "fancy", ""}), "must be basic, uri, unspecified or a full URI"},
	} {
		code, body := post("/admin/apps/wiki/settings", c.form)
		if code != http.StatusBadRequest || !strings.Contains(body, `id="app-error"`) || !strings.Contains(body, c.want) {
			t.Fatalf("%s: %d, want the error %q in the form:\n%.3000s", what, code, c.want, body)
		}
		if !strings.Contains(body, `name="attr_name_0" value="`+c.form.Get("attr_name_0")+`"`) {
			t.Errorf("%s: the form does not keep what was typed", what)
		}
		if got := stored(); !bytes.Equal(got, before) {
			t.Fatalf("%s: stored anyway:\n%s", what, got)
		}
	}
	if got := auditEntries(t, e, "app.update"); len(got) != 0 {
		t.Fatalf("refused changes in the audit log: %+v", got)
	}

	// Remove mail, add two, and allow IdP-initiated sign-in with an emailAddress NameID.
	form := settings([4]string{"mail", "email", "uri", ""}, [4]string{"urn:oid:2.16.840.1.113730.3.1.241", "displayName", "uri", "displayName"},
		[4]string{"groups", "groups", "", ""}, [4]string{"", "", "", ""})
	form.Set("attr_remove_0", "1")
	if code, body := post("/admin/apps/wiki/settings", form); code != http.StatusSeeOther {
		t.Fatalf("save settings: %d\n%.2000s", code, body)
	}
	sp, err = saml.StoreSPs{Apps: st}.LookupSPByApp(ctx, "wiki")
	if err != nil || !sp.AllowIdPInitiated || sp.NameIDFormat != saml.NameIDEmail || sp.NameIDSource != saml.SourceEmail || len(sp.Attributes) != 2 ||
		sp.Attributes[0].Name != "urn:oid:2.16.840.1.113730.3.1.241" || sp.Attributes[0].FriendlyName != "displayName" || sp.Attributes[1].Source != "groups" {
		t.Fatalf("saved settings %+v %v", sp, err)
	}
	got := auditEntries(t, e, "app.update")
	if len(got) != 1 || got[0].Target != "wiki" || got[0].Via != "console" || got[0].Actor != e.res.AdminUPN ||
		!strings.Contains(string(got[0].Before), `"name":"mail"`) || strings.Contains(string(got[0].Before), "allowIdpInitiated") ||
		strings.Contains(string(got[0].After), `"name":"mail"`) || !strings.Contains(string(got[0].After), `"allowIdpInitiated":true`) ||
		!strings.Contains(string(got[0].After), "urn:oid:2.16.840.1.113730.3.1.241") {
		t.Fatalf("app.update entries %+v", got)
	}

	// What the SP receives.
	e.signInFor(t, "alice@example.com", e.res.Password("alice@example.com"), "/")
	doc := e.samlResponseAt(t, idptest.WikiEntityID)
	if n := doc.FindElement("//Assertion/Subject/NameID"); n == nil || n.Text() != "alice@example.com" || n.SelectAttrValue("Format", "") != saml.NameIDEmail {
		t.Errorf("NameID %v", n)
	}
	dn := doc.FindElement("//Attribute[@Name='urn:oid:2.16.840.1.113730.3.1.241']")
	if dn == nil || dn.SelectAttrValue("NameFormat", "") != saml.AttrNameFormatURI || dn.SelectAttrValue("FriendlyName", "") != "displayName" ||
		dn.FindElement("AttributeValue") == nil || dn.FindElement("AttributeValue").Text() != "Alice Sato" {
		t.Errorf("displayName attribute %v", dn)
	}
	var groups []string
	for _, v := range doc.FindElements("//Attribute[@Name='groups']/AttributeValue") {
		groups = append(groups, v.Text())
	}
	if strings.Join(groups, ",") != "sales,staff" { // the directory keeps them sorted
		t.Errorf("groups attribute %v", groups)
	}
	if doc.FindElement("//Attribute[@Name='mail']") != nil {
		t.Error("the removed mapping is still released")
	}
}
