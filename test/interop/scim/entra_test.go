// Package scim replays Microsoft Entra ID's provisioning requests against a running Sekisho
// and checks what lands in the store. The requests are those of Microsoft's "Tutorial:
// Develop and plan provisioning for a SCIM endpoint in Microsoft Entra ID" (the request
// sequence its SCIM validator sends: create, get, get by filter, the multi- and single-valued
// updates, disable, the group operations, deletes) and the quirks of its "Known issues"
// page (active as the string "False", ops without a path carrying an object, "Replace" in
// capitals, dotted and URN-qualified keys). userName values are UPNs, as Entra's default
// mapping (userPrincipalName → userName) sends them.
package scim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sekisho/sekisho/internal/admin"
	"github.com/sekisho/sekisho/internal/setup"
	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/testutil/idptest"
)

var cli = admin.Actor{Name: "os:test", Via: "cli"}

type env struct {
	t     *testing.T
	idp   *idptest.IdP
	st    store.Store
	token string
	hc    *http.Client
}

func start(t *testing.T) *env {
	e := &env{t: t}
	e.idp = idptest.Start(t, idptest.Options{Prepare: func(ctx context.Context, in *setup.Instance) error {
		tok, err := in.Admin.IssueSCIMToken(ctx, cli, "entra")
		e.token = tok.Token
		return err
	}})
	e.st, e.hc = e.idp.Services.Instance.Store, e.idp.Client()
	return e
}

type answer struct {
	status int
	h      http.Header
	body   map[string]any
	raw    string
}

// do sends one SCIM request as Entra's provisioning service does.
func (e *env) do(token, method, path string, body any, hdr ...string) answer {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		js, _ := json.Marshal(b)
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequest(method, e.idp.URL+"/scim/v2"+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/scim+json")
	if rd != nil {
		req.Header.Set("Content-Type", "application/scim+json; charset=utf-8")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, h: resp.Header, raw: string(raw)}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &a.body); err != nil {
			e.t.Fatalf("%s %s: %d, not JSON: %s", method, path, resp.StatusCode, raw)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/scim+json" {
			e.t.Errorf("%s %s: Content-Type %q", method, path, ct)
		}
	}
	return a
}

func (e *env) want(a answer, status int, what string) answer {
	e.t.Helper()
	if a.status != status {
		e.t.Fatalf("%s: %d, want %d: %s", what, a.status, status, a.raw)
	}
	return a
}

// wantError checks a SCIM error answer.
func (e *env) wantError(a answer, status int, scimType, what string) {
	e.t.Helper()
	e.want(a, status, what)
	s, _ := a.body["schemas"].([]any)
	if len(s) != 1 || s[0] != "urn:ietf:params:scim:api:messages:2.0:Error" || a.body["status"] != fmt.Sprint(status) {
		e.t.Errorf("%s: not a SCIM error: %s", what, a.raw)
	}
	if got, _ := a.body["scimType"].(string); got != scimType {
		e.t.Errorf("%s: scimType %q, want %q (%s)", what, got, scimType, a.raw)
	}
}

func (e *env) user(upn string) store.User {
	e.t.Helper()
	u, err := e.st.GetUserByUPN(context.Background(), upn)
	if err != nil {
		e.t.Fatalf("store: %s: %v", upn, err)
	}
	return u
}

func patchOp(ops ...map[string]any) map[string]any {
	list := make([]any, len(ops))
	for i, o := range ops {
		list[i] = o
	}
	return map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": list}
}

// TestEntraProvisioningSequence replays Entra's user and group requests in order.
func TestEntraProvisioningSequence(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	tok := e.token

	// Test connection: Entra asks for a user that does not exist.
	a := e.want(e.do(tok, "GET", `/Users?filter=userName+eq+%22f2b1b2d9-0000-4000-8000-000000000000%40contoso.com%22`, nil), 200, "test connection")
	if a.body["totalResults"] != 0.0 || len(a.body["Resources"].([]any)) != 0 {
		t.Fatalf("test connection: %s", a.raw)
	}
	e.want(e.do(tok, "GET", "/ServiceProviderConfig", nil), 200, "ServiceProviderConfig")
	e.want(e.do(tok, "GET", "/ResourceTypes/User", nil), 200, "ResourceTypes")
	e.want(e.do(tok, "GET", "/Schemas", nil), 200, "Schemas")

	// Create User.
	created := e.want(e.do(tok, "POST", "/Users", map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"},
		"externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
		"userName":   "Test_User_ab6490ee@contoso.com",
		"active":     true,
		"emails":     []any{map[string]any{"primary": true, "type": "work", "value": "Test_User_fd0ea19b@testuser.com"}},
		"meta":       map[string]any{"resourceType": "User"},
		"name":       map[string]any{"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
		"roles":      []any{},
	}), 201, "create user")
	id, _ := created.body["id"].(string)
	meta := created.body["meta"].(map[string]any)
	if created.h.Get("Location") != e.idp.URL+"/scim/v2/Users/"+id || meta["location"] != created.h.Get("Location") ||
		created.h.Get("ETag") == "" || created.h.Get("ETag") != meta["version"] || !strings.HasPrefix(meta["version"].(string), `W/"`) ||
		meta["created"] == nil || meta["lastModified"] == nil || meta["resourceType"] != "User" {
		t.Fatalf("create: location, etag or meta: %v %s", created.h, created.raw)
	}
	u := e.user("Test_User_ab6490ee@contoso.com")
	if u.ID != id || u.Source != "scim:entra" || u.ImmutableID != "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef" ||
		u.Email != "Test_User_fd0ea19b@testuser.com" || u.Status != store.UserActive || u.PasswordHash != "" {
		t.Fatalf("store after create: %+v", u)
	}

	// Get User, by id and by filter (userName and externalId), and a query with no result.
	got := e.want(e.do(tok, "GET", "/Users/"+id, nil), 200, "get user")
	if got.body["userName"] != "Test_User_ab6490ee@contoso.com" || got.body["externalId"] != u.ImmutableID || got.body["active"] != true {
		t.Fatalf("get: %s", got.raw)
	}
	for _, f := range []string{`userName eq "test_user_ab6490ee@contoso.com"`, `externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"`,
		`userName eq "Test_User_ab6490ee@contoso.com" and active eq true`} {
		l := e.want(e.do(tok, "GET", "/Users?filter="+queryEscape(f), nil), 200, f)
		if l.body["totalResults"] != 1.0 || l.body["Resources"].([]any)[0].(map[string]any)["id"] != id {
			t.Fatalf("%s: %s", f, l.raw)
		}
	}
	l := e.want(e.do(tok, "GET", "/Users?filter="+queryEscape(`userName eq "non-existent user"`), nil), 200, "no result")
	if l.body["totalResults"] != 0.0 {
		t.Fatalf("no result: %s", l.raw)
	}

	// Update User [Multi-valued properties].
	e.want(e.do(tok, "PATCH", "/Users/"+id, patchOp(
		map[string]any{"op": "Replace", "path": `emails[type eq "work"].value`, "value": "updatedEmail@microsoft.com"},
		map[string]any{"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"})), 200, "multi-valued update")
	if u := e.user("Test_User_ab6490ee@contoso.com"); u.Email != "updatedEmail@microsoft.com" {
		t.Fatalf("email after patch: %+v", u)
	}
	// Update User [Single-valued properties]: the userName (UPN) changes.
	e.want(e.do(tok, "PATCH", "/Users/"+id, patchOp(
		map[string]any{"op": "Replace", "path": "userName", "value": "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"})), 200, "single-valued update")
	u = e.user("5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com")
	if u.ID != id {
		t.Fatalf("renamed user: %+v", u)
	}
	// Known issues: an op without a path, displayName, a dotted key and the enterprise extension.
	e.want(e.do(tok, "PATCH", "/Users/"+id, patchOp(map[string]any{"op": "Replace", "value": map[string]any{
		"displayName": "Test User", "name.givenName": "Test",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "1701"}})), 200, "no-path update")
	if u := e.user("5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"); u.DisplayName != "Test User" {
		t.Fatalf("displayName after patch: %+v", u)
	}

	// Disable User: active false, then Entra's older form, the string "False" without a path.
	e.want(e.do(tok, "PATCH", "/Users/"+id, patchOp(map[string]any{"op": "Replace", "path": "active", "value": false})), 200, "disable")
	if u := e.user("5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"); u.Status != store.UserDisabled {
		t.Fatalf("after disable: %+v", u)
	}
	e.want(e.do(tok, "PATCH", "/Users/"+id, patchOp(map[string]any{"op": "Replace", "value": map[string]any{"active": "True"}})), 200, "enable (string)")
	if u := e.user("5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"); u.Status != store.UserActive {
		t.Fatalf("after enable: %+v", u)
	}
	e.want(e.do(tok, "PATCH", "/Users/"+id, patchOp(map[string]any{"op": "Replace", "value": map[string]any{"active": "False"}})), 200, "disable (string)")
	if u := e.user("5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"); u.Status != store.UserDisabled {
		t.Fatalf("after string disable: %+v", u)
	}

	// A second user to be a group member.
	m := e.want(e.do(tok, "POST", "/Users", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"externalId": "8aa1a0c0-0000-4bc0-b4a5-000000000001", "userName": "member@contoso.com", "active": true}), 201, "create member")
	memberID := m.body["id"].(string)

	// Create Group.
	g := e.want(e.do(tok, "POST", "/Groups", map[string]any{
		"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:Group", "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"},
		"externalId":  "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
		"displayName": "displayName",
		"meta":        map[string]any{"resourceType": "Group"},
	}), 201, "create group")
	gid := g.body["id"].(string)
	if ms, ok := g.body["members"].([]any); !ok || len(ms) != 0 {
		t.Fatalf("new group's members: %s", g.raw)
	}
	sg, err := e.st.GetGroup(ctx, "displayName")
	if err != nil || sg.ID != gid || sg.Source != "scim:entra" || sg.SourceDN != "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159" {
		t.Fatalf("store group: %+v %v", sg, err)
	}
	// Get Group, and by displayName, without members.
	gg := e.want(e.do(tok, "GET", "/Groups/"+gid+"?excludedAttributes=members", nil), 200, "get group")
	if _, has := gg.body["members"]; has || gg.body["displayName"] != "displayName" {
		t.Fatalf("get group: %s", gg.raw)
	}
	gl := e.want(e.do(tok, "GET", "/Groups?excludedAttributes=members&filter="+queryEscape(`displayName eq "displayName"`), nil), 200, "group by name")
	if gl.body["totalResults"] != 1.0 {
		t.Fatalf("group by name: %s", gl.raw)
	}
	// Update Group [Non-member attributes].
	e.want(e.do(tok, "PATCH", "/Groups/"+gid, patchOp(map[string]any{"op": "Replace", "path": "displayName",
		"value": "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"})), 204, "rename group")
	if g, err := e.st.GetGroup(ctx, "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"); err != nil || g.ID != gid {
		t.Fatalf("renamed group: %+v %v", g, err)
	}
	// Update Group [Add Members], then [Remove Members].
	e.want(e.do(tok, "PATCH", "/Groups/"+gid, patchOp(map[string]any{"op": "Add", "path": "members",
		"value": []any{map[string]any{"$ref": nil, "value": memberID}, map[string]any{"$ref": nil, "value": id}}})), 204, "add members")
	if u := e.user("member@contoso.com"); len(u.Groups) != 1 || u.Groups[0] != "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName" {
		t.Fatalf("member's groups: %+v", u.Groups)
	}
	mu := e.want(e.do(tok, "GET", "/Users/"+memberID, nil), 200, "member")
	if gs, _ := mu.body["groups"].([]any); len(gs) != 1 || gs[0].(map[string]any)["value"] != gid {
		t.Fatalf("member's groups attribute: %s", mu.raw)
	}
	e.want(e.do(tok, "PATCH", "/Groups/"+gid, patchOp(map[string]any{"op": "Remove", "path": "members",
		"value": []any{map[string]any{"$ref": nil, "value": memberID}}})), 204, "remove members")
	e.want(e.do(tok, "PATCH", "/Groups/"+gid, patchOp(map[string]any{"op": "remove", "path": `members[value eq "` + id + `"]`})), 204, "remove by filter")
	if ms, _ := e.st.ListMembers(ctx, "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"); len(ms) != 0 {
		t.Fatalf("members after remove: %+v", ms)
	}
	// A member who is not the connector's user is refused, and nothing changes.
	alice := e.user("alice@example.com")
	e.wantError(e.do(tok, "PATCH", "/Groups/"+gid, patchOp(map[string]any{"op": "Add", "path": "members",
		"value": []any{map[string]any{"value": memberID}, map[string]any{"value": alice.ID}}})), 400, "invalidValue", "foreign member")
	if ms, _ := e.st.ListMembers(ctx, "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"); len(ms) != 0 {
		t.Fatalf("half-written membership: %+v", ms)
	}

	// Delete Group, Delete User: gone (SCIM-owned only), and 404 afterwards.
	e.want(e.do(tok, "DELETE", "/Groups/"+gid, nil), 204, "delete group")
	if _, err := e.st.GetGroup(ctx, "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"); err == nil {
		t.Fatal("group still stored")
	}
	e.want(e.do(tok, "DELETE", "/Users/"+id, nil), 204, "delete user")
	if _, err := e.st.GetUser(ctx, id); err == nil {
		t.Fatal("user still stored")
	}
	e.wantError(e.do(tok, "GET", "/Users/"+id, nil), 404, "", "deleted user")

	// One admin-audit entry per change, naming the connector, via scim.
	evs, err := e.idp.Services.Instance.Admin.Log(ctx, store.AdminEventFilter{Actor: "scim:entra"})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, ev := range evs {
		if ev.Via != "scim" {
			t.Errorf("entry via %q", ev.Via)
		}
		actions = append(actions, ev.Action)
	}
	want := "scim.user.create scim.user.patch scim.user.patch scim.user.patch scim.user.patch scim.user.patch scim.user.patch " +
		"scim.user.create scim.group.create scim.group.patch scim.group.patch scim.group.patch scim.group.patch scim.refused " +
		"scim.group.delete scim.user.delete"
	if strings.Join(actions, " ") != want {
		t.Errorf("audit entries:\n %s\nwant\n %s", strings.Join(actions, " "), want)
	}
	// The calls passed the gate as the connector: recorded (first use from this address).
	recs, err := e.st.ListSignIns(ctx, store.SignInFilter{Application: "sekisho-scim"})
	if err != nil || len(recs) == 0 || recs[0].Username != "scim:entra" || recs[0].Decision != "allow" || recs[0].Protocol != "scim" ||
		recs[0].ClientType != "api" || recs[0].Rule != "office" {
		t.Fatalf("sign-in records: %+v %v", recs, err)
	}
}

func queryEscape(s string) string {
	return strings.NewReplacer("%", "%25", " ", "%20", `"`, "%22", "&", "%26", "+", "%2B", "#", "%23", "@", "%40").Replace(s)
}
