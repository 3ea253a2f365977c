package scim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/testutil/peers"
)

// A differential test of PATCH: Entra-style requests applied to a user or group through
// Sekisho's /scim/v2 API, and to the same starting resource by an independent implementation,
// Node's scim-patch 0.8.3 (test/interop/node/scim-patch.mjs). What is compared is what Sekisho
// keeps of a resource: a user's userName, displayName, active and work email (the email
// readUser picks: type "work", else the primary one, else the first), a group's displayName
// and member IDs. Attributes Sekisho accepts but does not store (name, the enterprise
// extension) are left out of the comparison: scim-patch keeps them, Sekisho drops them.
//
// Normalisations, each because scim-patch does not know a schema:
//   - active: scim-patch keeps Entra's "True"/"False" strings as strings (it has no types);
//     Sekisho coerces them to booleans, as Entra's known issues require. The peer's active is
//     compared after the same coercion ("true"/"false", case-insensitive), and an absent
//     active counts as true in both.
//   - displayName is compared after trimming blanks, as Sekisho stores it.
//   - members are compared as sets of "value"s: Sekisho renders each with display and $ref.

// scimPatchPeer returns node and test/interop/node with scim-patch installed, or skips/fails.
func scimPatchPeer(t *testing.T) (node, dir string) {
	t.Helper()
	node = peers.Command(t, "node", "apt-get install -y nodejs npm")
	_, file, _, _ := runtime.Caller(0)
	dir = filepath.Join(filepath.Dir(file), "..", "node")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "scim-patch", "package.json")); err != nil {
		peers.Missing(t, "node_modules/scim-patch", "make test (runs npm install in test/interop/node)")
	}
	return node, dir
}

// peerPatch applies ops to resource with scim-patch; errName is its error's class (NoTarget…).
func peerPatch(t *testing.T, node, dir string, resource map[string]any, ops []any, opts map[string]any) (out map[string]any, errName string) {
	t.Helper()
	in, err := json.Marshal(map[string]any{"resource": resource, "operations": ops, "options": opts})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, "scim-patch.mjs")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("scim-patch.mjs: %v: %s", err, stderr.String())
	}
	var answer struct {
		Resource map[string]any `json:"resource"`
		Error    *struct{ Name, Message string }
	}
	if err := json.Unmarshal(raw, &answer); err != nil {
		t.Fatalf("scim-patch.mjs: not JSON: %s", raw)
	}
	if answer.Error != nil {
		return nil, answer.Error.Name
	}
	return answer.Resource, ""
}

// userKept is what Sekisho keeps of a user.
type userKept struct {
	UserName, DisplayName, WorkEmail string
	Active                           bool
}

// keptOfResource reads userKept from a resource's JSON form, coercing as described above.
func keptOfResource(t *testing.T, res map[string]any) userKept {
	t.Helper()
	k := userKept{Active: true}
	k.UserName, _ = res["userName"].(string)
	k.DisplayName, _ = res["displayName"].(string)
	k.DisplayName = strings.TrimSpace(k.DisplayName)
	switch a := res["active"].(type) {
	case nil:
	case bool:
		k.Active = a
	case string:
		switch strings.ToLower(a) {
		case "true":
			k.Active = true
		case "false":
			k.Active = false
		default:
			t.Errorf("active %q is no boolean", a)
		}
	default:
		t.Errorf("active %v is no boolean", a)
	}
	emails, _ := res["emails"].([]any)
	var pick map[string]any
	for _, want := range []func(map[string]any) bool{
		func(m map[string]any) bool { s, _ := m["type"].(string); return strings.EqualFold(s, "work") },
		func(m map[string]any) bool { p, _ := m["primary"].(bool); return p },
		func(map[string]any) bool { return true },
	} {
		for _, e := range emails {
			if m, ok := e.(map[string]any); ok && pick == nil && want(m) {
				pick = m
			}
		}
	}
	if pick != nil {
		k.WorkEmail, _ = pick["value"].(string)
	}
	return k
}

// startingUser is the user each case begins with, as Entra creates it.
func startingUser(upn string, withEmail bool) map[string]any {
	u := map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"},
		"externalId": "ext-" + upn, "userName": upn, "active": true, "displayName": "Starting Name",
		"name": map[string]any{"givenName": "Starting", "familyName": "Name"},
	}
	if withEmail {
		u["emails"] = []any{map[string]any{"primary": true, "type": "work", "value": "start@contoso.com"}}
	}
	return u
}

func op(o, path string, value any) map[string]any {
	m := map[string]any{"op": o}
	if path != "" {
		m["path"] = path
	}
	if value != nil {
		m["value"] = value
	}
	return m
}

// TestPatchPeerUsers: each case creates a user, reads it back (Sekisho applies a PATCH to
// exactly this form), then sends the PATCH to Sekisho and the read-back form with the same
// operations to scim-patch; what Sekisho stores must equal what scim-patch computed.
func TestPatchPeerUsers(t *testing.T) {
	node, dir := scimPatchPeer(t)
	e := start(t)
	outer := t
	ctx := context.Background()
	const ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	for i, tc := range []struct {
		what      string
		noEmail   bool // start without an email
		ops       []map[string]any
		peerOpts  map[string]any // scim-patch's options; nil: its defaults
		refused   string         // Sekisho's scimType, when both must refuse
		unchanged bool           // what Sekisho keeps does not change
		peerError string         // scim-patch's error class then
	}{
		{what: "replace displayName", ops: []map[string]any{op("Replace", "displayName", "New Name")}},
		{what: "replace active false", ops: []map[string]any{op("Replace", "active", false)}},
		{what: `replace active "False" (path)`, ops: []map[string]any{op("Replace", "active", "False")}},
		{what: `replace active "False" (no path)`, ops: []map[string]any{op("Replace", "", map[string]any{"active": "False"})}},
		{what: `disable then enable with "True"`, unchanged: true, ops: []map[string]any{op("Replace", "active", false), op("Replace", "", map[string]any{"active": "True"})}},
		{what: "replace the work email", ops: []map[string]any{op("Replace", `emails[type eq "work"].value`, "updated@contoso.com")}},
		{what: "add the work email (exists)", ops: []map[string]any{op("Add", `emails[type eq "work"].value`, "added@contoso.com")}},
		{what: "add the work email (none yet)", noEmail: true, ops: []map[string]any{op("Add", `emails[type eq "work"].value`, "new@contoso.com")}},
		{what: "replace the emails", ops: []map[string]any{op("Replace", "emails", []any{map[string]any{"type": "work", "value": "list@contoso.com", "primary": true}})}},
		{what: "remove the work email", ops: []map[string]any{op("Remove", `emails[type eq "work"]`, nil)}},
		{what: "remove displayName", ops: []map[string]any{op("Remove", "displayName", nil)}},
		{what: "remove displayName (lower-case op)", ops: []map[string]any{op("remove", "displayName", nil)}},
		{what: "replace userName", ops: []map[string]any{op("Replace", "userName", "renamed-%d@contoso.com")}},
		{what: "Entra's multi-valued update", ops: []map[string]any{
			op("Replace", `emails[type eq "work"].value`, "updatedEmail@microsoft.com"), op("Replace", "name.familyName", "updatedFamilyName")}},
		{what: "replace without a path, an object", ops: []map[string]any{op("Replace", "", map[string]any{
			"displayName": "Object Name", "userName": "object-%d@contoso.com", "active": false})}},
		{what: "replace without a path, Entra's dotted and URN keys", ops: []map[string]any{op("Replace", "", map[string]any{
			"displayName": "Test User", "name.givenName": "Test", ent + ":employeeNumber": "1701"})}},
		{what: "add the enterprise employeeNumber (accepted, not stored)", unchanged: true, ops: []map[string]any{op("Add", ent+":employeeNumber", "1701")}},
		{what: "replace the enterprise employeeNumber (accepted, not stored)", unchanged: true, ops: []map[string]any{op("Replace", ent+":employeeNumber", "1702")}},
		{what: "add displayName", ops: []map[string]any{op("Remove", "displayName", nil), op("Add", "displayName", "Added Name")}},
		// RFC 7644 §3.5.2.3: replace with a value filter that matches nothing is noTarget. scim-patch
		// does so with treatMissingAsAdd off; by default it treats it as an add (the rule for a
		// missing attribute), which Sekisho does not: the more specific rule wins.
		{what: "replace the work email (none)", noEmail: true, ops: []map[string]any{op("Replace", `emails[type eq "work"].value`, "x@contoso.com")},
			peerOpts: map[string]any{"treatMissingAsAdd": false}, refused: "noTarget", peerError: "NoTarget"},
		{what: "remove without a path", ops: []map[string]any{op("remove", "", nil)}, refused: "noTarget", peerError: "NoPathInScimPatchOp"},
	} {
		t.Run(tc.what, func(t *testing.T) {
			e.t = t
			defer func() { e.t = outer }()
			upn := fmt.Sprintf("peer-%d@contoso.com", i)
			c := e.want(e.do(e.token, "POST", "/Users", startingUser(upn, !tc.noEmail)), 201, "create")
			id := c.body["id"].(string)
			before := e.want(e.do(e.token, "GET", "/Users/"+id, nil), 200, "get").body
			delete(before, "meta")
			ops := make([]any, len(tc.ops))
			for j, o := range tc.ops {
				js, _ := json.Marshal(o)
				js = bytes.ReplaceAll(js, []byte("%d"), fmt.Appendf(nil, "%d", i))
				var m map[string]any
				json.Unmarshal(js, &m)
				ops[j] = m
			}
			a := e.do(e.token, "PATCH", "/Users/"+id, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": ops})
			theirs, perr := peerPatch(t, node, dir, before, ops, tc.peerOpts)
			if tc.refused != "" {
				e.wantError(a, 400, tc.refused, tc.what)
				if perr != tc.peerError {
					t.Errorf("scim-patch: error %q, want %q (result %v)", perr, tc.peerError, theirs)
				}
				return
			}
			e.want(a, 200, "patch")
			if perr != "" {
				t.Fatalf("scim-patch refuses what Sekisho accepted: %s", perr)
			}
			u, err := e.st.GetUser(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			stored := userKept{UserName: u.UPN, DisplayName: u.DisplayName, WorkEmail: u.Email, Active: u.Status == store.UserActive}
			if changed := stored != keptOfResource(t, before); changed == tc.unchanged {
				t.Errorf("changed=%v, want %v: before %+v, after %+v", changed, !tc.unchanged, keptOfResource(t, before), stored)
			}
			want := keptOfResource(t, theirs)
			if stored != want {
				t.Errorf("Sekisho stored %+v\nscim-patch computed %+v\n(scim-patch's resource %v)", stored, want, theirs)
			}
			if answered := keptOfResource(t, a.body); answered != stored {
				t.Errorf("PATCH answered %+v, stored %+v", answered, stored)
			}
		})
	}
}

// TestPatchPeerGroup: Entra's group updates as a sequence from one new group. Each side
// carries its own state forward (Sekisho its store, scim-patch the resource it returned),
// and after each request the group's displayName and members must agree. Starting from
// scim-patch's own state matters for Entra's "remove members by value": scim-patch removes
// the elements deep-equal to the listed ones ({"$ref":null,"value":id}, as Entra added them);
// Sekisho matches on "value" alone, so the same request also removes the members it renders
// with display and $ref.
func TestPatchPeerGroup(t *testing.T) {
	node, dir := scimPatchPeer(t)
	e := start(t)
	ctx := context.Background()
	var ids []string
	for i := range 3 {
		c := e.want(e.do(e.token, "POST", "/Users", startingUser(fmt.Sprintf("member-%d@contoso.com", i), true)), 201, "create member")
		ids = append(ids, c.body["id"].(string))
	}
	g := e.want(e.do(e.token, "POST", "/Groups", map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:schemas:core:2.0:Group", "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"},
		"externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159", "displayName": "Peer Group",
	}), 201, "create group")
	gid := g.body["id"].(string)
	theirs := e.want(e.do(e.token, "GET", "/Groups/"+gid, nil), 200, "get group").body
	delete(theirs, "meta")
	ref := func(id string) map[string]any { return map[string]any{"$ref": nil, "value": id} }

	for _, step := range []struct {
		what string
		ops  []map[string]any
	}{
		{"add members", []map[string]any{op("Add", "members", []any{ref(ids[0]), ref(ids[1])})}},
		{"add a member again and a new one", []map[string]any{op("Add", "members", []any{ref(ids[1]), ref(ids[2])})}},
		{"rename", []map[string]any{op("Replace", "displayName", "Peer Group Renamed")}},
		{"remove a member by value", []map[string]any{op("Remove", "members", []any{ref(ids[0])})}},
		{"remove a member by filter", []map[string]any{op("remove", `members[value eq "`+ids[1]+`"]`, nil)}},
		{"replace the members", []map[string]any{op("Replace", "members", []any{ref(ids[0]), ref(ids[1])})}},
		{"add and remove in one request", []map[string]any{op("Add", "members", []any{ref(ids[2])}), op("Remove", "members", []any{ref(ids[1])})}},
		{"rename without a path", []map[string]any{op("Replace", "", map[string]any{"displayName": "Peer Group Object"})}},
		{"remove every member", []map[string]any{op("Remove", "members", nil)}},
	} {
		ops := make([]any, len(step.ops))
		for j, o := range step.ops {
			ops[j] = o
		}
		e.want(e.do(e.token, "PATCH", "/Groups/"+gid, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": ops}), 204, step.what)
		var perr string
		if theirs, perr = peerPatch(t, node, dir, theirs, ops, nil); perr != "" {
			t.Fatalf("%s: scim-patch refuses what Sekisho accepted: %s", step.what, perr)
		}
		got := e.want(e.do(e.token, "GET", "/Groups/"+gid, nil), 200, "get group").body
		name, _ := got["displayName"].(string)
		ms, err := e.st.ListMembers(ctx, name)
		if err != nil {
			t.Fatalf("%s: %v", step.what, err)
		}
		var stored []string
		for _, m := range ms {
			stored = append(stored, m.ID)
		}
		peerName, _ := theirs["displayName"].(string)
		if name != peerName || !reflect.DeepEqual(sorted(stored), memberValues(theirs)) || !reflect.DeepEqual(memberValues(got), sorted(stored)) {
			t.Errorf("%s: Sekisho has %q %v (answers %v), scim-patch %q %v", step.what, name, sorted(stored), memberValues(got), peerName, memberValues(theirs))
		}
	}
}

func memberValues(res map[string]any) []string {
	ms, _ := res["members"].([]any)
	var out []string
	for _, m := range ms {
		if mm, ok := m.(map[string]any); ok {
			if v, ok := mm["value"].(string); ok {
				out = append(out, v)
			}
		}
	}
	return sorted(out)
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	if s == nil {
		s = []string{}
	}
	return s
}
