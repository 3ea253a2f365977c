package wiring_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/admin"
	"github.com/sekisho/sekisho/internal/bridge/apppassword"
	"github.com/sekisho/sekisho/internal/bridge/oauthtokens"
	"github.com/sekisho/sekisho/internal/console/roles"
)

type apiAppPassword struct {
	ID, User, Name, CreatedBy, LastIP, State string
	Scopes, From                             []string
	CreatedAt, ExpiresAt                     time.Time
	Password                                 string
}

// apiAppPasswords drives the mail bridge operations of the API with c (an admin's token):
// app passwords issued (the password once), listed per user and in the inventory, revoked;
// the problems of bad input; an auditor's token reads and is refused changes; a mailbox
// connection read and disconnected. Called from TestAPI, which checks each answer against the
// OpenAPI document and that every documented operation was exercised.
func (e *env) apiAppPasswords(t *testing.T, c *apiClient) {
	t.Helper()
	ctx := context.Background()
	st, adm := e.svc.Instance.Store, e.svc.Instance.Admin
	cli := admin.Actor{Name: "os:root", Via: "cli"}
	const upn = "alice@example.com"
	alice, _ := st.GetUserByUPN(ctx, upn)
	base := "/users/" + upn + "/app-passwords"

	var list []apiAppPassword
	c.must(200, "GET", base, nil, &list)
	if len(list) != 0 {
		t.Fatalf("app passwords before any: %+v", list)
	}
	var is apiAppPassword
	c.must(201, "POST", base, map[string]any{"name": "printer-3f", "scopes": []string{"smtp-send"}, "from": []string{"Scans@example.com"}, "lifetimeDays": 30}, &is)
	if is.Name != "printer-3f" || is.User != upn || is.State != "active" || len(is.Password) < 28 || strings.Join(is.From, ",") != "scans@example.com" ||
		is.CreatedBy != e.res.AdminUPN || is.ExpiresAt.Sub(is.CreatedAt) != 30*24*time.Hour {
		t.Fatalf("issued: %+v", is)
	}
	v := apppassword.Verifier{Store: st, Hasher: adm.BridgeCredentials}
	if cred, reason, err := v.Verify(ctx, alice, is.Password, apppassword.ProtocolSMTP, time.Now()); err != nil || reason != "" || cred.ID != is.ID {
		t.Fatalf("the issued password does not open the SMTP door: %q %v", reason, err)
	}
	entries := auditEntries(t, e, "bridge.credential.issue")
	if len(entries) != 1 || entries[0].Via != "api" || entries[0].Actor != e.res.AdminUPN || strings.Contains(string(entries[0].After), is.Password) {
		t.Fatalf("issue entries %+v", entries)
	}
	c.must(201, "POST", base, map[string]any{"name": "mail-reader", "scopes": []string{"imap", "pop"}}, nil)

	// Problems.
	var p problem
	for what, tc := range map[string]struct {
		path   string
		body   map[string]any
		status int
		code   string
		want   string
	}{
		"unknown scope":  {base, map[string]any{"name": "x1", "scopes": []string{"webdav"}}, 422, "invalid", `scope "webdav"`},
		"no scope":       {base, map[string]any{"name": "x1", "scopes": []string{}}, 422, "invalid", "no scope"},
		"bad name":       {base, map[string]any{"name": "Printer 3F", "scopes": []string{"imap"}}, 422, "invalid", "lower-case letters"},
		"senders, imap":  {base, map[string]any{"name": "x1", "scopes": []string{"imap"}, "from": []string{"x@example.com"}}, 422, "invalid", "smtp-send scope only"},
		"too long":       {base, map[string]any{"name": "x1", "scopes": []string{"imap"}, "lifetimeDays": 2000}, 422, "invalid", "at most 1095 days"},
		"negative life":  {base, map[string]any{"name": "x1", "scopes": []string{"imap"}, "lifetimeDays": -1}, 422, "invalid", "lifetimeDays"},
		"duplicate name": {base, map[string]any{"name": "printer-3f", "scopes": []string{"imap"}}, 409, "conflict", `already has an app password named "printer-3f"`},
		"unknown user":   {"/users/nobody@example.com/app-passwords", map[string]any{"name": "x1", "scopes": []string{"imap"}}, 404, "not_found", "nobody@example.com"},
	} {
		p = problem{}
		if c.do("POST", tc.path, tc.body, &p); p.Status != tc.status || p.Code != tc.code || !strings.Contains(p.Detail, tc.want) {
			t.Errorf("%s: %+v, want %d %s with %q", what, p, tc.status, tc.code, tc.want)
		}
	}
	if c.do("POST", base, map[string]any{"name": "x1", "scopes": []string{"imap"}, "pin": "1234"}, &p); p.Status != 400 || p.Code != "bad_json" {
		t.Errorf("an unknown field: %+v", p)
	}
	if got := auditEntries(t, e, "bridge.credential.issue"); len(got) != 2 {
		t.Fatalf("refused issues wrote entries: %d", len(got))
	}
	if c.do("GET", "/users/nobody@example.com/app-passwords", nil, &p); p.Status != 404 || p.Code != "not_found" {
		t.Errorf("list of an unknown user: %+v", p)
	}

	// Lists: the user's and the inventory, never a secret.
	c.must(200, "GET", base, nil, &list)
	if len(list) != 2 || list[0].Name != "printer-3f" || list[1].Name != "mail-reader" || list[0].Password != "" {
		t.Fatalf("alice's: %+v", list)
	}
	if _, err := adm.IssueBridgeCredential(ctx, cli, admin.NewBridgeCredential{User: "bob@example.com", Name: "bob-scanner", Scopes: []string{"smtp-send"}}); err != nil {
		t.Fatal(err)
	}

	// Revoke: 204, then 404; the door is closed.
	c.must(204, "DELETE", base+"/printer-3f", nil, nil)
	if _, reason, _ := v.Verify(ctx, alice, is.Password, apppassword.ProtocolSMTP, time.Now()); reason != apppassword.ReasonRevoked {
		t.Fatalf("revoked, the password still opens the door: %q", reason)
	}
	if got := auditEntries(t, e, "bridge.credential.revoke"); len(got) != 1 || got[0].Via != "api" || got[0].Target != upn+"/printer-3f" {
		t.Fatalf("revoke entries %+v", got)
	}
	if c.do("DELETE", base+"/printer-3f", nil, &p); p.Status != 404 || p.Code != "not_found" || !strings.Contains(p.Detail, "already revoked") {
		t.Errorf("revoke twice: %+v", p)
	}
	if c.do("DELETE", base+"/no-such-box", nil, &p); p.Status != 404 || p.Code != "not_found" {
		t.Errorf("revoke an unknown name: %+v", p)
	}

	var all []apiAppPassword
	c.must(200, "GET", "/app-passwords", nil, &all)
	users := map[string]int{}
	for _, a := range all {
		users[a.User]++
	}
	if len(all) != 3 || users[upn] != 2 || users["bob@example.com"] != 1 {
		t.Fatalf("inventory: %+v", all)
	}
	c.must(200, "GET", "/app-passwords?state=revoked", nil, &all)
	if len(all) != 1 || all[0].Name != "printer-3f" || all[0].State != "revoked" {
		t.Fatalf("revoked ones: %+v", all)
	}
	c.must(200, "GET", "/app-passwords?user=bob@example.com&state=active", nil, &all)
	if len(all) != 1 || all[0].Name != "bob-scanner" {
		t.Fatalf("bob's active: %+v", all)
	}
	if c.do("GET", "/app-passwords?state=forgotten", nil, &p); p.Status != 422 || p.Code != "invalid" {
		t.Errorf("an unknown state: %+v", p)
	}
	if c.do("GET", "/app-passwords?user=nobody@example.com", nil, &p); p.Status != 404 {
		t.Errorf("the inventory of an unknown user: %+v", p)
	}

	// An auditor's token reads and changes nothing.
	if err := adm.SetMember(ctx, cli, "sekisho-auditors", "bob@example.com", true); err != nil {
		t.Fatal(err)
	}
	aud := e.apiClient(t, e.token(t, "bob@example.com", roles.Auditor).Token)
	aud.must(200, "GET", base, nil, &list)
	aud.must(200, "GET", "/app-passwords", nil, &all)
	if aud.do("POST", base, map[string]any{"name": "auditor-box", "scopes": []string{"imap"}}, &p); p.Status != 403 || p.Code != "role" {
		t.Errorf("auditor issuing: %+v", p)
	}
	if aud.do("DELETE", base+"/mail-reader", nil, &p); p.Status != 403 || p.Code != "role" {
		t.Errorf("auditor revoking: %+v", p)
	}
	if got := auditEntries(t, e, "bridge.credential."); len(got) != 4 {
		t.Fatalf("bridge credential entries after the auditor's attempts: %d", len(got))
	}

	// The mailbox connection: none without a delegated upstream, then read and disconnected.
	conn := "/users/" + upn + "/mailbox-connection"
	if c.do("GET", conn, nil, &p); p.Status != 422 || !strings.Contains(p.Detail, "bridge.upstream.tokens") {
		t.Errorf("mailbox connection without a delegated upstream: %+v", p)
	}
	src := e.bridgeAdminUpstream(t)
	at := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	e.bridgeAdminGrant(t, src, upn, oauthtokens.Grant{RefreshToken: "secret-refresh", Scopes: []string{"offline_access"}, ConnectedAt: at, ConnectedBy: "os:root"})
	e.bridgeAdminGrant(t, src, "carol@example.com", oauthtokens.Grant{RefreshToken: "secret-refresh-2", ConnectedAt: at, ConnectedBy: "os:root",
		Broken: "invalid_grant: consent withdrawn", BrokenAt: at.Add(time.Hour)})
	var mc struct {
		Profile, User, ConnectedBy, Broken, State string
		ConnectedAt, BrokenAt                     time.Time
	}
	c.must(200, "GET", conn, nil, &mc)
	if mc.User != upn || mc.Profile != "oauth" || mc.State != "connected" || !mc.ConnectedAt.Equal(at) || mc.ConnectedBy != "os:root" {
		t.Fatalf("alice's connection: %+v", mc)
	}
	aud.must(200, "GET", "/users/carol@example.com/mailbox-connection", nil, &mc)
	if mc.State != "broken" || mc.Broken != "invalid_grant: consent withdrawn" || !mc.BrokenAt.Equal(at.Add(time.Hour)) {
		t.Fatalf("carol's connection: %+v", mc)
	}
	if c.do("GET", "/users/bob@example.com/mailbox-connection", nil, &p); p.Status != 404 || p.Code != "not_found" {
		t.Errorf("not connected: %+v", p)
	}
	if c.do("GET", "/users/nobody@example.com/mailbox-connection", nil, &p); p.Status != 404 || p.Code != "not_found" {
		t.Errorf("unknown user's connection: %+v", p)
	}
	if aud.do("DELETE", conn, nil, &p); p.Status != 403 || p.Code != "role" {
		t.Errorf("auditor disconnecting: %+v", p)
	}
	c.must(204, "DELETE", conn, nil, nil)
	if got := auditEntries(t, e, "bridge.upstream.disconnect"); len(got) != 1 || got[0].Via != "api" || got[0].Target != upn {
		t.Fatalf("disconnect entries %+v", got)
	}
	if c.do("DELETE", conn, nil, &p); p.Status != 404 || !strings.Contains(p.Detail, "has not connected the mailbox") {
		t.Errorf("disconnect twice: %+v", p)
	}
}
