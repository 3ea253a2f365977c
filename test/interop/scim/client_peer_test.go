package scim

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/testutil/peers"
)

// A conformance run driven by an independent SCIM client library: Node's @braveulysses/scim2
// 0.1.0 (scim2-js) parses every answer into its Resource type, reads attributes with its SCIM
// path getter and builds every PATCH with its Patch builder; test/interop/node/scim2-client.mjs
// sends the requests with Node's fetch. The script prints one JSON line per check; every
// check below must have run and passed (a shortened script fails), then the store must hold
// what the run left: the deleted user and group gone, the paging users and the kept group
// (with the members the script read back) the connector's.

// clientChecks are the names of the script's checks, all of which must pass.
var clientChecks = []string{
	"discovery: ServiceProviderConfig",
	"discovery: ResourceTypes User and Group",
	"discovery: Schemas has the core User schema",
	"discovery: Schemas/{core User} by id",
	"user: create 201",
	"user: create Location = meta.location",
	"user: create meta.resourceType User",
	"user: create ETag = meta.version",
	"user: create echoes the attributes",
	"user: get",
	"user: get If-None-Match current → 304",
	"user: get attributes=userName",
	"filter: userName eq",
	"filter: userName eq is case-insensitive",
	"filter: externalId eq",
	"filter: no match",
	`filter: value path emails[type eq "work" and value co "c2-main"]`,
	"paging: create 3 users",
	"paging: count=2",
	"paging: filtered page 1",
	"paging: filtered startIndex=3",
	"paging: pages cover each user once",
	"patch: replace displayName, work email; add phoneNumbers, title → 200",
	"patch: read back displayName",
	`patch: read back emails[type eq "work"]`,
	"patch: phoneNumbers and title accepted, not stored",
	"patch: the builder's value-less replace active is refused",
	"patch: replace active false (no path) → 200",
	"patch: read back active false",
	"etag: If-Match stale → 412",
	"etag: the stale PATCH changed nothing",
	"put: 200",
	"put: read back",
	"group: create with members 201",
	"group: patch add and remove members → 204",
	"group: read back members",
	"group: get If-None-Match current → 304",
	"group: patch rename → 204",
	"group: filter displayName eq after rename",
	"group: member's groups attribute",
	"group: kept group with members",
	"error: invalid filter → 400 invalidFilter",
	"error: unknown user id → 404",
	"error: unknown group id → 404",
	"error: duplicate userName → 409 uniqueness",
	"error: duplicate group displayName → 409 uniqueness",
	"error: PATCH of an unknown attribute → 400 invalidPath",
	"delete: user → 204",
	"delete: user then GET → 404",
	"delete: user again → 404",
	"delete: group → 204",
	"delete: group then GET → 404",
	"delete: user gone from filters",
}

// scim2ClientPeer returns node and test/interop/node with @braveulysses/scim2 installed, or skips/fails.
func scim2ClientPeer(t *testing.T) (node, dir string) {
	t.Helper()
	node = peers.Command(t, "node", "apt-get install -y nodejs npm")
	_, file, _, _ := runtime.Caller(0)
	dir = filepath.Join(filepath.Dir(file), "..", "node")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@braveulysses", "scim2", "package.json")); err != nil {
		peers.Missing(t, "node_modules/@braveulysses/scim2", "make test (runs npm install in test/interop/node)")
	}
	return node, dir
}

type clientSummary struct {
	Users struct {
		Main struct{ ID, UserName string }
		Page []struct{ ID, UserName string }
	}
	Groups struct {
		Patched struct{ ID, DisplayName string }
		Kept    struct {
			ID, DisplayName string
			Members         []string
		}
	}
	Deleted struct{ Users, Groups []string }
}

// TestSCIM2ClientConformance runs scim2-client.mjs against a running Sekisho.
func TestSCIM2ClientConformance(t *testing.T) {
	node, dir := scim2ClientPeer(t)
	e := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	cmd := exec.CommandContext(ctx, node, "scim2-client.mjs", e.idp.URL+"/scim/v2", e.token)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NODE_EXTRA_CA_CERTS="+e.idp.CAFile)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	passed := map[string]bool{}
	var summary *clientSummary
	sc := bufio.NewScanner(stdout)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		t.Logf("scim2-client: %s", line)
		var m struct {
			Name    string
			OK      bool
			Summary *clientSummary
		}
		if err := json.Unmarshal(line, &m); err != nil {
			t.Errorf("scim2-client: not a JSON line: %s", line)
			continue
		}
		switch {
		case m.Summary != nil:
			summary = m.Summary
		case m.Name == "":
			t.Errorf("scim2-client: a line without a check name: %s", line)
		case !m.OK:
			t.Errorf("check failed: %s", m.Name)
		default:
			passed[m.Name] = true
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("scim2-client.mjs: %v\n%s", err, stderr.String())
	} else if stderr.Len() > 0 {
		t.Logf("scim2-client stderr: %s", stderr.String())
	}
	for _, n := range clientChecks {
		if !passed[n] {
			t.Errorf("check %q did not pass (or did not run)", n)
		}
	}
	for n := range passed {
		if !slices.Contains(clientChecks, n) {
			t.Errorf("check %q passed but is not listed in clientChecks", n)
		}
	}
	if summary == nil {
		t.Fatal("scim2-client: no summary line")
	}
	s := summary

	// The store: the deleted user and group are gone (a SCIM DELETE deletes the connector's user).
	if s.Users.Main.ID == "" || !slices.Equal(s.Deleted.Users, []string{s.Users.Main.ID}) {
		t.Fatalf("summary: deleted users %v, main %+v", s.Deleted.Users, s.Users.Main)
	}
	if _, err := e.st.GetUser(ctx, s.Users.Main.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted user %s: %v, want not found", s.Users.Main.ID, err)
	}
	if _, err := e.st.GetUserByUPN(ctx, s.Users.Main.UserName); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted user %s: %v, want not found", s.Users.Main.UserName, err)
	}
	if s.Groups.Patched.ID == "" || !slices.Equal(s.Deleted.Groups, []string{s.Groups.Patched.ID}) {
		t.Fatalf("summary: deleted groups %v, patched %+v", s.Deleted.Groups, s.Groups.Patched)
	}
	for _, name := range []string{"c2-group", s.Groups.Patched.DisplayName} {
		if _, err := e.st.GetGroup(ctx, name); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleted group %s: %v, want not found", name, err)
		}
	}
	// The paging users stay, the connector's and active.
	if len(s.Users.Page) != 3 {
		t.Fatalf("summary: page users %+v", s.Users.Page)
	}
	pageIDs := map[string]bool{}
	for _, p := range s.Users.Page {
		u, err := e.st.GetUser(ctx, p.ID)
		if err != nil || u.UPN != p.UserName || u.Source != "scim:entra" || u.Status != store.UserActive {
			t.Errorf("page user %+v: %+v %v", p, u, err)
		}
		pageIDs[p.ID] = true
	}
	// The kept group holds exactly the members the script read back, all paging users.
	g, err := e.st.GetGroup(ctx, "c2-kept")
	if err != nil || g.ID != s.Groups.Kept.ID || g.Source != "scim:entra" || g.SourceDN != "c2-kept-ext" {
		t.Fatalf("kept group: %+v %v (summary %+v)", g, err, s.Groups.Kept)
	}
	ms, err := e.st.ListMembers(ctx, "c2-kept")
	if err != nil {
		t.Fatal(err)
	}
	var stored []string
	for _, m := range ms {
		stored = append(stored, m.ID)
	}
	if !slices.Equal(sorted(stored), sorted(s.Groups.Kept.Members)) || len(stored) != 2 || !pageIDs[stored[0]] || !pageIDs[stored[1]] {
		t.Errorf("kept group's members: stored %v, read back %v", sorted(stored), sorted(s.Groups.Kept.Members))
	}

	// One audit entry per delete, and the refusals of the changes recorded.
	evs, err := e.idp.Services.Instance.Admin.Log(ctx, store.AdminEventFilter{Actor: "scim:entra"})
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, ev := range evs {
		count[ev.Action]++
	}
	// Refused changes: the value-less replace, the stale If-Match, the two duplicates, the
	// unknown attribute, the second delete.
	if count["scim.user.delete"] != 1 || count["scim.group.delete"] != 1 || count["scim.user.create"] != 4 ||
		count["scim.group.create"] != 2 || count["scim.refused"] != 6 {
		t.Errorf("audit entries by action: %v", count)
	}
	if t.Failed() {
		t.Logf("connector's users and groups at the end: %s", strings.Join(e.connectorNames(ctx), ", "))
	}
}

// connectorNames lists the entra connector's users and groups (for a failure's log).
func (e *env) connectorNames(ctx context.Context) []string {
	var out []string
	us, _, _ := e.st.ListUsers(ctx, store.Page{Limit: 500})
	for _, u := range us {
		if u.Source == "scim:entra" {
			out = append(out, "user "+u.UPN)
		}
	}
	gs, _ := e.st.ListGroups(ctx)
	for _, g := range gs {
		if g.Source == "scim:entra" {
			out = append(out, "group "+g.Name)
		}
	}
	return out
}
