package wiring_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/admin"
	"github.com/sekisho/sekisho/internal/console/roles"
	"github.com/sekisho/sekisho/internal/directory"
)

// hrDirectory is a directory connector whose users the test sets.
type hrDirectory struct {
	mu    sync.Mutex
	users []directory.ExternalUser
}

func (h *hrDirectory) ID() string { return "hr" }

func (h *hrDirectory) Snapshot(context.Context) (directory.Snapshot, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return directory.Snapshot{Users: append([]directory.ExternalUser(nil), h.users...),
		Groups: []directory.ExternalGroup{{DN: "cn=sales,ou=groups", Name: "hr-sales"}}}, nil
}

func (h *hrDirectory) set(us ...directory.ExternalUser) {
	h.mu.Lock()
	h.users = us
	h.mu.Unlock()
}

// TestDirectoryConnectors: a connector in the API and on the console's Directory page — its
// settings and latest syncs, a dry run that changes and records nothing, a sync, a sync the
// threshold stops (and the forced one after it), each in the admin audit log; auditors see
// the page without its buttons and may not sync.
func TestDirectoryConnectors(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	hr := &hrDirectory{}
	hr.set(directory.ExternalUser{DN: "uid=aiko", ImmutableID: "id-aiko", UPN: "aiko@example.com", DisplayName: "Aiko", Groups: []string{"cn=sales,ou=groups"}},
		directory.ExternalUser{DN: "uid=ren", ImmutableID: "id-ren", UPN: "ren@example.com", DisplayName: "Ren"})
	if err := e.svc.Instance.Directory.AddConnector(directory.ConnectorSettings{Connector: hr, Interval: time.Hour,
		DisableGrace: 72 * time.Hour, MaxDisablePercent: 50}); err != nil {
		t.Fatal(err)
	}
	st := e.svc.Instance.Store
	c := e.apiClient(t, e.token(t, e.res.AdminUPN, roles.Admin).Token)
	if _, err := e.svc.Instance.Admin.IssueSCIMToken(ctx, admin.Actor{Name: "os:root", Via: "cli"}, "entra"); err != nil {
		t.Fatal(err)
	}
	var scims []admin.SCIMTokenView
	c.must(200, "GET", "/directory/scim-connectors", nil, &scims)
	if len(scims) != 1 || scims[0].Connector != "entra" || scims[0].CreatedBy != "os:root" || !scims[0].LastUsedAt.IsZero() {
		t.Fatalf("SCIM connectors: %+v", scims)
	}

	var conns []admin.ConnectorView
	c.must(200, "GET", "/directory/connectors", nil, &conns)
	if len(conns) != 1 || conns[0].ID != "hr" || conns[0].Interval != "1h0m0s" || conns[0].MaxDisablePercent != 50 || len(conns[0].Syncs) != 0 {
		t.Fatalf("connectors: %+v", conns)
	}
	// A dry run plans and changes nothing, records nothing.
	var rep directory.SyncReport
	c.must(200, "POST", "/directory/connectors/hr/sync?dryRun=true", nil, &rep)
	if !rep.DryRun || rep.Created != 2 || rep.Found != 2 {
		t.Fatalf("dry run: %+v", rep)
	}
	if _, err := st.GetUserByUPN(ctx, "aiko@example.com"); err == nil {
		t.Fatal("the dry run created a user")
	}
	if n := len(auditEntries(t, e, "directory.")); n != 0 {
		t.Fatalf("the dry run wrote %d admin-audit entries", n)
	}
	rep = directory.SyncReport{}
	c.must(200, "POST", "/directory/connectors/hr/sync", nil, &rep)
	if rep.DryRun || rep.Created != 2 || rep.GroupsCreated != 1 {
		t.Fatalf("sync: %+v", rep)
	}
	if u, err := st.GetUserByUPN(ctx, "aiko@example.com"); err != nil || u.Source != "hr" {
		t.Fatalf("the synced user: %+v, %v", u, err)
	}
	c.must(200, "GET", "/directory/connectors", nil, &conns)
	if s := conns[0].Syncs; len(s) != 1 || s[0].Outcome != "done" || s[0].Actor != e.res.AdminUPN || s[0].Via != "api" || s[0].Report.Created != 2 {
		t.Fatalf("the recorded sync: %+v", s)
	}

	// The directory loses both users: over the 50% threshold, so the sync stops (409) and
	// is recorded as stopped; the console offers the forced sync, which then goes through.
	hr.set()
	var p problem
	if code := c.do("POST", "/directory/connectors/hr/sync", nil, &p); code != http.StatusConflict || p.Code != "threshold" ||
		!strings.Contains(p.Detail, "2 of 2") {
		t.Fatalf("a sync over the threshold: %d %+v", code, p)
	}
	if u, _ := st.GetUserByUPN(ctx, "ren@example.com"); u.SourceDisabled || !u.SourceMissingSince.IsZero() {
		t.Fatalf("the stopped sync changed a user: %+v", u)
	}
	adminUI := e.adminBrowser(t)
	code, body := page(t, adminUI, e.ts.URL+"/admin/directory")
	if code != http.StatusOK || !strings.Contains(body, `id="connector-hr"`) || !strings.Contains(body, `id="force-hr"`) ||
		!strings.Contains(body, `id="scim-entra"`) ||
		!strings.Contains(body, "would disable 2 of 2 active users") || !strings.Contains(body, `href="/admin/directory" aria-current="page"`) {
		t.Fatalf("directory page after the stopped sync: %d\n%.2000s", code, body)
	}
	// A dry run shows the plan and why a sync would stop.
	if code, body := e.postForm(t, adminUI, "/admin/directory/hr/sync", url.Values{"dry_run": {"1"}}); code != http.StatusConflict ||
		!strings.Contains(body, `id="dry-run"`) || !strings.Contains(body, "Nothing was changed") || !strings.Contains(body, "2 of 2 active users") {
		t.Fatalf("dry run from the console: %d\n%.1500s", code, body)
	}
	if code, _ := e.postForm(t, adminUI, "/admin/directory/hr/sync", url.Values{"force": {"1"}}); code != http.StatusSeeOther {
		t.Fatalf("forced sync from the console: %d", code)
	}
	if u, _ := st.GetUserByUPN(ctx, "ren@example.com"); u.SourceMissingSince.IsZero() || u.SourceDisabled {
		t.Fatalf("after the forced sync the missing user is %+v (want missing, within its grace)", u)
	}
	got := auditEntries(t, e, "directory.")
	if len(got) != 3 || got[0].Action != "directory.sync" || got[1].Action != "directory.sync.stopped" || got[2].Via != "console" {
		t.Fatalf("directory audit entries: %+v", got)
	}
	if code, _ := e.postForm(t, adminUI, "/admin/directory/nowhere/sync", url.Values{}); code != http.StatusNotFound {
		t.Fatalf("an unknown connector from the console: %d", code)
	}
	if _, body := page(t, adminUI, e.ts.URL+"/admin/directory?lang=ja"); strings.Contains(body, "⟦") || !strings.Contains(body, "最近の同期") {
		t.Fatalf("directory page in Japanese:\n%.1500s", body)
	}

	// Auditors read, change nothing; the helpdesk does not see the page.
	root := admin.Actor{Name: "os:root", Via: "cli"}
	for upn, group := range map[string]string{"bob@example.com": "sekisho-auditors", "carol@example.com": "sekisho-helpdesk"} {
		if err := e.svc.Instance.Admin.SetMember(ctx, root, group, upn, true); err != nil {
			t.Fatal(err)
		}
	}
	auditor := e.browserAs(t, "bob@example.com")
	if code, body := page(t, auditor, e.ts.URL+"/admin/directory"); code != http.StatusOK || strings.Contains(body, `id="sync-hr"`) {
		t.Fatalf("auditor's directory page: %d (sync button shown?)", code)
	}
	if code, _ := e.postForm(t, auditor, "/admin/directory/hr/sync", url.Values{}); code != http.StatusForbidden {
		t.Fatalf("an auditor's sync: %d, want 403", code)
	}
	if code, _ := page(t, e.browserAs(t, "carol@example.com"), e.ts.URL+"/admin/directory"); code != http.StatusForbidden {
		t.Fatalf("helpdesk at the directory page: %d, want 403", code)
	}
}
