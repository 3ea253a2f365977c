package wiring_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/admin"
	"github.com/sekisho/sekisho/internal/bridge/apppassword"
	"github.com/sekisho/sekisho/internal/bridge/oauthtokens"
	"github.com/sekisho/sekisho/internal/store"
)

var appPasswordRe = regexp.MustCompile(`id="app-password">([^<]+)<`)

// bridgeAdminUpstream gives the admin service a delegated upstream token source (as
// StartMailBridge does for bridge.upstream.tokens oauth), so the mailbox connections show.
func (e *env) bridgeAdminUpstream(t *testing.T) *oauthtokens.Source {
	t.Helper()
	in := e.svc.Instance
	src := &oauthtokens.Source{Profile: "oauth", Store: in.Store, Sealer: in.Sealer}
	in.Admin.BridgeUpstream = src
	t.Cleanup(func() { in.Admin.BridgeUpstream = nil })
	return src
}

// bridgeAdminGrant stores upn's mailbox grant g, sealed, as a connect would.
func (e *env) bridgeAdminGrant(t *testing.T, src *oauthtokens.Source, upn string, g oauthtokens.Grant) {
	t.Helper()
	ctx := context.Background()
	st := e.svc.Instance.Store
	u, err := st.GetUserByUPN(ctx, upn)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := src.Seal(u.ID, g)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.UpdateBridgeUpstreamGrant(ctx, src.Profile, u.ID, func(store.BridgeUpstreamGrant, bool) (store.BridgeUpstreamGrant, error) {
		return store.BridgeUpstreamGrant{Sealed: sealed, UpdatedAt: g.ConnectedAt}, nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestConsoleAppPasswords: a user's page lists the mail bridge app passwords; the issue form
// shows the new password on its answer only (no-store, not in any URL), and it opens the door
// it was issued for; refused input keeps the form and writes nothing; revoke ends it; every
// change is one audit entry via console; an auditor sees the section without its forms and
// is refused both changes; a POST without the page's CSRF token is refused.
func TestConsoleAppPasswords(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	st, adm := e.svc.Instance.Store, e.svc.Instance.Admin
	root := admin.Actor{Name: "os:root", Via: "cli"}
	for upn, group := range map[string]string{"bob@example.com": "sekisho-auditors", "carol@example.com": "sekisho-helpdesk"} {
		if err := adm.SetMember(ctx, root, group, upn, true); err != nil {
			t.Fatal(err)
		}
	}
	alice, _ := st.GetUserByUPN(ctx, "alice@example.com")
	userPage := e.ts.URL + "/admin/users/" + alice.ID
	c, auditor, helpdesk := e.adminBrowser(t), e.browserAs(t, "bob@example.com"), e.browserAs(t, "carol@example.com")
	act := func(c *http.Client, action string, form url.Values) (*http.Response, string) {
		t.Helper()
		_, body := page(t, c, userPage)
		form.Set("csrf", e.csrf(t, body))
		resp, err := c.PostForm(userPage+"/"+action, form)
		if err != nil {
			t.Fatal(err)
		}
		return resp, readAll(resp)
	}

	_, body := page(t, c, userPage)
	for _, want := range []string{`id="app-passwords-title"`, "App passwords (mail bridge)", `id="no-app-passwords"`, `id="issue-app-password"`,
		`name="scope" value="smtp-send"`} {
		if !strings.Contains(body, want) {
			t.Fatalf("the user page lacks %q:\n%.3000s", want, body)
		}
	}
	if strings.Contains(body, `id="mailbox-title"`) {
		t.Fatal("a mailbox connection is shown without a delegated upstream")
	}
	if _, err := adm.IssueBridgeCredential(ctx, root, admin.NewBridgeCredential{User: alice.UPN, Name: "old-script", Scopes: []string{"imap", "pop"}}); err != nil {
		t.Fatal(err)
	}
	_, body = page(t, c, userPage)
	if !strings.Contains(body, `id="app-passwords"`) || !strings.Contains(body, "<td>old-script</td><td>imap, pop</td>") ||
		!strings.Contains(body, "the user&#39;s own addresses") || !strings.Contains(body, `<td class="allow">active</td>`) ||
		!strings.Contains(body, `action="/admin/users/`+alice.ID+`/revoke-app-password"`) {
		t.Fatalf("the credential is not listed:\n%.4000s", body)
	}

	// Issue: the password once, on this answer.
	before := len(auditEntries(t, e, "bridge.credential."))
	resp, body := act(c, "issue-app-password", url.Values{"name": {"printer-3f"}, "scope": {"smtp-send"},
		"from": {"scans@example.com, Alerts@example.com"}, "lifetime_days": {"30"}})
	m := appPasswordRe.FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil || resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Location") != "" {
		t.Fatalf("issue: %d %v\n%.3000s", resp.StatusCode, resp.Header, body)
	}
	pw := m[1]
	cred, reason, err := apppassword.Verifier{Store: st, Hasher: adm.BridgeCredentials}.Verify(ctx, alice, pw, apppassword.ProtocolSMTP, time.Now())
	if err != nil || reason != "" || cred.Name != "printer-3f" || strings.Join(cred.From, ",") != "alerts@example.com,scans@example.com" ||
		cred.CreatedBy != e.res.AdminUPN || cred.ExpiresAt.Sub(cred.CreatedAt) != 30*24*time.Hour {
		t.Fatalf("the issued password: %+v %q %v", cred, reason, err)
	}
	if _, reason, _ := (apppassword.Verifier{Store: st, Hasher: adm.BridgeCredentials}).Verify(ctx, alice, pw, apppassword.ProtocolIMAP, time.Now()); reason != apppassword.ReasonScope {
		t.Fatalf("an smtp-send password opens IMAP: %q", reason)
	}
	got := auditEntries(t, e, "bridge.credential.")
	if len(got) != before+1 {
		t.Fatalf("issue wrote %d audit entries", len(got)-before)
	}
	if last := got[len(got)-1]; last.Action != "bridge.credential.issue" || last.Via != "console" || last.Actor != e.res.AdminUPN ||
		last.Target != alice.UPN || strings.Contains(string(last.After), pw) || !strings.Contains(string(last.After), "printer-3f") {
		t.Fatalf("audit entry %+v", last)
	}
	if _, again := page(t, c, userPage); strings.Contains(again, pw) || strings.Contains(again, `id="app-password"`) ||
		!strings.Contains(again, "<td>printer-3f</td><td>smtp-send</td><td>alerts@example.com, scans@example.com</td>") {
		t.Fatalf("the page after issuing:\n%.4000s", again)
	}

	// Refusals keep the form and write nothing.
	n := len(auditEntries(t, e, ""))
	for what, tc := range map[string]struct {
		form   url.Values
		status int
		want   string
	}{
		"duplicate name": {url.Values{"name": {"printer-3f"}, "scope": {"imap"}}, http.StatusConflict, "already has an app password named &#34;printer-3f&#34;"},
		"unknown scope":  {url.Values{"name": {"webdav-box"}, "scope": {"webdav"}}, http.StatusBadRequest, "scope &#34;webdav&#34;"},
		"no scope":       {url.Values{"name": {"webdav-box"}}, http.StatusBadRequest, "no scope"},
		"bad name":       {url.Values{"name": {"Printer 3F"}, "scope": {"imap"}}, http.StatusBadRequest, "use lower-case letters"},
		"senders, imap":  {url.Values{"name": {"reader"}, "scope": {"imap"}, "from": {"x@example.com"}}, http.StatusBadRequest, "for the smtp-send scope only"},
		"bad lifetime":   {url.Values{"name": {"reader"}, "scope": {"imap"}, "lifetime_days": {"5000"}}, http.StatusBadRequest, "1 to 1095"},
	} {
		resp, body := act(c, "issue-app-password", tc.form)
		if resp.StatusCode != tc.status || !strings.Contains(body, `id="error"`) || !strings.Contains(body, tc.want) ||
			!strings.Contains(body, `name="name" required maxlength="63" placeholder="printer-3f" value="`+tc.form.Get("name")+`"`) {
			t.Errorf("%s: %d, want %d with %q and the form kept:\n%.3000s", what, resp.StatusCode, tc.status, tc.want, body)
		}
	}
	if got := len(auditEntries(t, e, "")); got != n {
		t.Fatalf("refused issues wrote %d audit entries", got-n)
	}

	// Without the page's CSRF token (or with a forged one): refused by the CSRF check.
	for _, form := range []url.Values{{"name": {"sneaky"}, "scope": {"imap"}}, {"name": {"sneaky"}, "scope": {"imap"}, "csrf": {strings.Repeat("A", 43)}}} {
		resp, err := c.PostForm(userPage+"/issue-app-password", form)
		if err != nil {
			t.Fatal(err)
		}
		if b := readAll(resp); resp.StatusCode != http.StatusForbidden || !strings.Contains(b, "sent from another page") {
			t.Fatalf("issue without CSRF: %d\n%.500s", resp.StatusCode, b)
		}
	}
	resp, err = c.PostForm(userPage+"/revoke-app-password", url.Values{"name": {"printer-3f"}})
	if err != nil {
		t.Fatal(err)
	}
	if b := readAll(resp); resp.StatusCode != http.StatusForbidden || !strings.Contains(b, "sent from another page") {
		t.Fatalf("revoke without CSRF: %d", resp.StatusCode)
	}

	// The auditor sees the section, not its forms, and is refused both changes.
	_, body = page(t, auditor, userPage)
	if !strings.Contains(body, "<td>printer-3f</td>") || strings.Contains(body, `id="issue-app-password"`) || strings.Contains(body, "/revoke-app-password") {
		t.Fatalf("the auditor's view:\n%.4000s", body)
	}
	for action, form := range map[string]url.Values{"issue-app-password": {"name": {"auditor-box"}, "scope": {"imap"}}, "revoke-app-password": {"name": {"printer-3f"}}} {
		if resp, body := act(auditor, action, form); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "role") {
			t.Errorf("auditor %s: %d", action, resp.StatusCode)
		}
	}
	if got := len(auditEntries(t, e, "")); got != n {
		t.Fatalf("refused changes wrote %d audit entries", got-n)
	}
	// The helpdesk manages users' app passwords.
	if resp, body := act(helpdesk, "issue-app-password", url.Values{"name": {"helpdesk-box"}, "scope": {"pop"}}); resp.StatusCode != http.StatusOK ||
		!appPasswordRe.MatchString(body) {
		t.Fatalf("helpdesk issue: %d", resp.StatusCode)
	}

	// Revoke: a redirect to the page, which shows it revoked.
	resp, _ = act(c, "revoke-app-password", url.Values{"name": {"printer-3f"}})
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(loc, "done=flash_app_password_revoked") {
		t.Fatalf("revoke: %d %s", resp.StatusCode, loc)
	}
	if _, body := page(t, c, e.ts.URL+loc); !strings.Contains(body, `id="flash"`) ||
		!strings.Contains(body, `<td class="deny">revoked</td>`) {
		t.Fatalf("after revoke:\n%.4000s", body)
	}
	if _, reason, _ := (apppassword.Verifier{Store: st, Hasher: adm.BridgeCredentials}).Verify(ctx, alice, pw, apppassword.ProtocolSMTP, time.Now()); reason != apppassword.ReasonRevoked {
		t.Fatalf("the revoked password still opens the door: %q", reason)
	}
	got = auditEntries(t, e, "bridge.credential.revoke")
	if len(got) != 1 || got[0].Via != "console" || got[0].Actor != e.res.AdminUPN || got[0].Target != alice.UPN+"/printer-3f" {
		t.Fatalf("revoke entries %+v", got)
	}
	if resp, body := act(c, "revoke-app-password", url.Values{"name": {"printer-3f"}}); resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "already revoked") {
		t.Fatalf("revoke twice: %d", resp.StatusCode)
	}
	// A revoked credential frees its name.
	if resp, _ := act(c, "issue-app-password", url.Values{"name": {"printer-3f"}, "scope": {"smtp-send"}}); resp.StatusCode != http.StatusOK {
		t.Fatalf("reissue under the revoked name: %d", resp.StatusCode)
	}

	// Both languages, with the credentials listed and a one-time password shown.
	for _, lang := range []string{"en", "ja"} {
		_, body := page(t, c, userPage+"?lang="+lang)
		if strings.Contains(body, "⟦") || !strings.Contains(body, `<html lang="`+lang+`">`) {
			t.Errorf("user page in %s: untranslated text", lang)
		}
	}
	if _, body := page(t, c, userPage+"?lang=ja"); !strings.Contains(body, "アプリパスワード(メールブリッジ)") {
		t.Error("the Japanese section title is missing")
	}
}

// TestConsoleMailboxConnection: with a delegated upstream, a user's page shows the mailbox's
// connection (connected at and by, the last refresh; broken and why) and disconnects it — one
// audit entry via console; an auditor sees it and is refused; not connected says how to connect.
func TestConsoleMailboxConnection(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	st, adm := e.svc.Instance.Store, e.svc.Instance.Admin
	if err := adm.SetMember(ctx, admin.Actor{Name: "os:root", Via: "cli"}, "sekisho-auditors", "bob@example.com", true); err != nil {
		t.Fatal(err)
	}
	src := e.bridgeAdminUpstream(t)
	at := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	e.bridgeAdminGrant(t, src, "alice@example.com", oauthtokens.Grant{RefreshToken: "secret-refresh-alice", AccessToken: "secret-access-alice",
		Scopes: []string{"offline_access", "IMAP.AccessAsUser.All"}, ConnectedAt: at, ConnectedBy: "os:root", RefreshedAt: at.Add(time.Hour)})
	e.bridgeAdminGrant(t, src, "carol@example.com", oauthtokens.Grant{RefreshToken: "secret-refresh-carol", ConnectedAt: at, ConnectedBy: "carol@example.com",
		Broken: "invalid_grant: AADSTS700082: the refresh token has expired", BrokenAt: at.Add(48 * time.Hour)})
	alice, _ := st.GetUserByUPN(ctx, "alice@example.com")
	carol, _ := st.GetUserByUPN(ctx, "carol@example.com")
	bob, _ := st.GetUserByUPN(ctx, "bob@example.com")
	c, auditor := e.adminBrowser(t), e.browserAs(t, "bob@example.com")
	base := e.ts.URL + "/admin/users/"

	_, body := page(t, c, base+alice.ID)
	for _, want := range []string{`id="mailbox-title"`, `id="mailbox-state" class="allow">connected`, `id="mailbox-by">os:root<`, "2026-05-01 09:00:00 UTC",
		"2026-05-01 10:00:00 UTC", "offline_access IMAP.AccessAsUser.All", `id="disconnect-mailbox"`} {
		if !strings.Contains(body, want) {
			t.Fatalf("alice's mailbox lacks %q:\n%.5000s", want, body)
		}
	}
	if strings.Contains(body, "secret-") {
		t.Fatal("a token is on the page")
	}
	_, body = page(t, c, base+carol.ID)
	if !strings.Contains(body, `id="mailbox-state" class="deny">broken`) || !strings.Contains(body, `id="mailbox-broken">2026-05-03 09:00:00 UTC: invalid_grant: AADSTS700082`) {
		t.Fatalf("carol's broken grant:\n%.5000s", body)
	}
	if _, body = page(t, c, base+bob.ID); !strings.Contains(body, `id="mailbox-none"`) || !strings.Contains(body, "sekisho bridge upstream connect --user bob@example.com") {
		t.Fatalf("bob's (not connected):\n%.5000s", body)
	}

	// The auditor sees it and cannot disconnect it.
	_, body = page(t, auditor, base+alice.ID)
	if !strings.Contains(body, `id="mailbox-state"`) || strings.Contains(body, `id="disconnect-mailbox"`) {
		t.Fatalf("the auditor's view:\n%.5000s", body)
	}
	if code, _ := e.postForm(t, auditor, "/admin/users/"+alice.ID+"/disconnect-mailbox", url.Values{}); code != http.StatusForbidden {
		t.Fatalf("auditor disconnect: %d", code)
	}
	if resp, err := c.PostForm(base+alice.ID+"/disconnect-mailbox", url.Values{}); err != nil || resp.StatusCode != http.StatusForbidden ||
		!strings.Contains(readAll(resp), "sent from another page") {
		t.Fatalf("disconnect without CSRF: %v %v", resp, err)
	}
	if _, err := st.GetBridgeUpstreamGrant(ctx, "oauth", alice.ID); err != nil {
		t.Fatalf("refused disconnects removed the grant: %v", err)
	}

	code, _ := e.postForm(t, c, "/admin/users/"+alice.ID+"/disconnect-mailbox", url.Values{})
	if code != http.StatusSeeOther {
		t.Fatalf("disconnect: %d", code)
	}
	if _, err := st.GetBridgeUpstreamGrant(ctx, "oauth", alice.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the grant after disconnect: %v", err)
	}
	got := auditEntries(t, e, "bridge.upstream.")
	if len(got) != 1 || got[0].Action != "bridge.upstream.disconnect" || got[0].Via != "console" || got[0].Actor != e.res.AdminUPN ||
		got[0].Target != alice.UPN || strings.Contains(string(got[0].Before), "secret-") {
		t.Fatalf("audit entries %+v", got)
	}
	if code, body := e.postForm(t, c, "/admin/users/"+alice.ID+"/disconnect-mailbox", url.Values{}); code != http.StatusNotFound || !strings.Contains(body, "has not connected the mailbox") {
		t.Fatalf("disconnect twice: %d", code)
	}
	for _, lang := range []string{"en", "ja"} {
		for _, id := range []string{alice.ID, carol.ID} {
			if _, body := page(t, c, base+id+"?lang="+lang); strings.Contains(body, "⟦") {
				t.Errorf("%s in %s: untranslated text", id, lang)
			}
		}
	}
}
