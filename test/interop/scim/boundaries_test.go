package scim

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/store"
)

// TestBoundaries: what a connector may not see or do, bad input, ETags, tokens and the policy.
func TestBoundaries(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	in := e.idp.Services.Instance
	tok := e.token
	alice := e.user("alice@example.com") // a local user of the demo tenant

	// Local users are invisible and untouchable through the connector's token.
	l := e.want(e.do(tok, "GET", "/Users?filter="+queryEscape(`userName eq "alice@example.com"`), nil), 200, "local by filter")
	if l.body["totalResults"] != 0.0 {
		t.Fatalf("a local user is listed: %s", l.raw)
	}
	l = e.want(e.do(tok, "GET", "/Users", nil), 200, "list")
	if l.body["totalResults"] != 0.0 {
		t.Fatalf("local users listed: %s", l.raw)
	}
	e.wantError(e.do(tok, "GET", "/Users/"+alice.ID, nil), 404, "", "local by id")
	e.wantError(e.do(tok, "PATCH", "/Users/"+alice.ID, patchOp(map[string]any{"op": "replace", "path": "active", "value": false})), 404, "", "patch local")
	e.wantError(e.do(tok, "DELETE", "/Users/"+alice.ID, nil), 404, "", "delete local")
	if a := e.user("alice@example.com"); a.Status != store.UserActive {
		t.Fatal("the local user was changed")
	}
	l = e.want(e.do(tok, "GET", "/Groups?filter="+queryEscape(`displayName eq "sales"`), nil), 200, "local group")
	if l.body["totalResults"] != 0.0 {
		t.Fatalf("a local group is listed: %s", l.raw)
	}
	// userName or group name taken by a local one: 409 uniqueness.
	e.wantError(e.do(tok, "POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ALICE@example.com"}`), 409, "uniqueness", "taken UPN")
	e.wantError(e.do(tok, "POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Sales"}`), 409, "uniqueness", "taken group")

	// Bad input.
	user := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bob.scim@contoso.com","externalId":"b-1"}`
	for _, tc := range []struct {
		what, method, path, body, scimType string
		status                             int
	}{
		{"malformed JSON", "POST", "/Users", `{"userName":`, "invalidSyntax", 400},
		{"not an object", "POST", "/Users", `[1]`, "invalidSyntax", 400},
		{"two values", "POST", "/Users", user + user, "invalidSyntax", 400},
		{"no schemas", "POST", "/Users", `{"userName":"x@contoso.com"}`, "invalidSyntax", 400},
		{"unknown attribute", "POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"x@contoso.com","shoeSize":44}`, "invalidSyntax", 400},
		{"wrong type", "POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"x@contoso.com","active":"perhaps"}`, "invalidValue", 400},
		{"not a UPN", "POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"Test_User_1"}`, "invalidValue", 400},
		{"oversized", "POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"x@contoso.com","displayName":"` + strings.Repeat("a", 1<<20) + `"}`, "", 413},
		{"unknown filter operator", "GET", "/Users?filter=" + queryEscape(`userName like "a"`), "", "invalidFilter", 400},
		{"malformed filter", "GET", "/Users?filter=" + queryEscape(`userName eq "a`), "", "invalidFilter", 400},
	} {
		var body any
		if tc.body != "" {
			body = tc.body
		}
		e.wantError(e.do(tok, tc.method, tc.path, body), tc.status, tc.scimType, tc.what)
	}
	if l := e.want(e.do(tok, "GET", "/Users", nil), 200, "list"); l.body["totalResults"] != 0.0 {
		t.Fatalf("a refused request created something: %s", l.raw)
	}

	// Paging.
	var ids []string
	for _, n := range []string{"p1", "p2", "p3"} {
		a := e.want(e.do(tok, "POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"`+n+`@contoso.com","displayName":"`+n+`"}`), 201, n)
		ids = append(ids, a.body["id"].(string))
	}
	p := e.want(e.do(tok, "GET", "/Users?startIndex=2&count=1", nil), 200, "page")
	if p.body["totalResults"] != 3.0 || p.body["startIndex"] != 2.0 || p.body["itemsPerPage"] != 1.0 ||
		p.body["Resources"].([]any)[0].(map[string]any)["userName"] != "p2@contoso.com" {
		t.Fatalf("page: %s", p.raw)
	}
	p = e.want(e.do(tok, "GET", "/Users?count=0", nil), 200, "count 0")
	if p.body["totalResults"] != 3.0 || len(p.body["Resources"].([]any)) != 0 {
		t.Fatalf("count 0: %s", p.raw)
	}
	p = e.want(e.do(tok, "GET", "/Users?filter="+queryEscape(`displayName eq "p1" or displayName eq "p3"`), nil), 200, "or")
	if p.body["totalResults"] != 2.0 {
		t.Fatalf("or: %s", p.raw)
	}

	// PATCH errors leave the user as it was; a conflicting rename is 409.
	e.wantError(e.do(tok, "PATCH", "/Users/"+ids[0], patchOp(map[string]any{"op": "replace", "path": "displayName", "value": "changed"},
		map[string]any{"op": "replace", "path": `emails[type eq "home"].value`, "value": "x@contoso.com"})), 400, "noTarget", "no target")
	if u := e.user("p1@contoso.com"); u.DisplayName != "p1" {
		t.Fatalf("half-applied PATCH: %+v", u)
	}
	e.wantError(e.do(tok, "PATCH", "/Users/"+ids[0], patchOp(map[string]any{"op": "replace", "path": "userName", "value": "p2@contoso.com"})), 409, "uniqueness", "rename onto another")
	e.wantError(e.do(tok, "PATCH", "/Users/"+ids[0], patchOp(map[string]any{"op": "replace", "path": "id", "value": "x"})), 400, "mutability", "id")
	e.wantError(e.do(tok, "PATCH", "/Users/"+ids[0], `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"shoeSize","value":1}]}`), 400, "invalidPath", "unknown path")

	// ETags: If-Match with an old version is 412 and changes nothing; the current one works.
	g := e.want(e.do(tok, "GET", "/Users/"+ids[0], nil), 200, "get")
	v1 := g.h.Get("ETag")
	e.want(e.do(tok, "GET", "/Users/"+ids[0], nil, "If-None-Match", v1), 304, "not modified")
	e.want(e.do(tok, "PATCH", "/Users/"+ids[0], patchOp(map[string]any{"op": "replace", "path": "displayName", "value": "P One"}), "If-Match", v1), 200, "if-match ok")
	e.wantError(e.do(tok, "PATCH", "/Users/"+ids[0], patchOp(map[string]any{"op": "replace", "path": "displayName", "value": "stale"}), "If-Match", v1), 412, "", "stale if-match")
	e.wantError(e.do(tok, "DELETE", "/Users/"+ids[0], nil, "If-Match", v1), 412, "", "stale delete")
	if u := e.user("p1@contoso.com"); u.DisplayName != "P One" {
		t.Fatalf("after a stale If-Match: %+v", u)
	}
	// PUT replaces: what is not sent is cleared (the ImmutableID is kept).
	before := e.user("p1@contoso.com")
	e.want(e.do(tok, "PUT", "/Users/"+ids[0], `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"p1@contoso.com","active":false}`), 200, "put")
	if u := e.user("p1@contoso.com"); u.DisplayName != "" || u.Status != store.UserDisabled || u.ImmutableID != before.ImmutableID {
		t.Fatalf("after PUT: %+v", u)
	}

	// Another connector sees none of entra's users.
	other, err := in.Admin.IssueSCIMToken(ctx, cli, "okta")
	if err != nil {
		t.Fatal(err)
	}
	if l := e.want(e.do(other.Token, "GET", "/Users", nil), 200, "other connector"); l.body["totalResults"] != 0.0 {
		t.Fatalf("another connector sees entra's users: %s", l.raw)
	}
	e.wantError(e.do(other.Token, "DELETE", "/Users/"+ids[1], nil), 404, "", "other connector delete")

	// Tokens: a wrong one, a revoked one, a replaced one are 401 with a sign-in record.
	e.wantError(e.do("sks_0000000000000000_"+strings.Repeat("A", 43), "GET", "/Users", nil), 401, "", "unknown token")
	e.wantError(e.do("skt_whatever", "GET", "/Users", nil), 401, "", "malformed token")
	if _, err := in.Admin.RevokeSCIMToken(ctx, cli, "okta"); err != nil {
		t.Fatal(err)
	}
	e.wantError(e.do(other.Token, "GET", "/Users", nil), 401, "", "revoked token")
	again, err := in.Admin.IssueSCIMToken(ctx, cli, "entra")
	if err != nil {
		t.Fatal(err)
	}
	e.wantError(e.do(tok, "GET", "/Users", nil), 401, "", "replaced token")
	e.want(e.do(again.Token, "GET", "/Users", nil), 200, "new token")
	recs, err := e.st.ListSignIns(ctx, store.SignInFilter{Application: "sekisho-scim", Decision: "error"})
	if err != nil || len(recs) < 4 || !strings.Contains(recs[len(recs)-1].Reason, "token_unknown") {
		t.Fatalf("refused tokens' records: %+v %v", recs, err)
	}

	// The policy decides where provisioning may come from: allowed only from a network this
	// test is not in, the call is refused with a record.
	if err := in.Admin.SetNetwork(ctx, cli, "entra-provisioning", "", []string{"203.0.113.0/24"}); err != nil {
		t.Fatal(err)
	}
	pol := "version: 1\ndefault: deny\nrules:\n  - name: scim-only-from-entra\n    applications: [sekisho-scim]\n    protocols: [scim]\n" +
		"    not_networks: [entra-provisioning]\n    action: deny\n  - name: rest\n    action: allow\n"
	if _, err := in.Admin.PublishPolicy(ctx, cli, "p.yaml", []byte(pol), "scim"); err != nil {
		t.Fatal(err)
	}
	// In force within the change bound (node.change_poll).
	deadline := time.Now().Add(8 * time.Second)
	a := e.do(again.Token, "GET", "/Users", nil)
	for a.status == 200 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		a = e.do(again.Token, "GET", "/Users", nil)
	}
	e.wantError(a, 403, "", "refused by the policy")
	recs, _ = e.st.ListSignIns(ctx, store.SignInFilter{Application: "sekisho-scim", Decision: "deny"})
	if len(recs) == 0 || recs[len(recs)-1].Rule != "scim-only-from-entra" || recs[len(recs)-1].Username != "scim:entra" {
		t.Fatalf("policy refusal record: %+v", recs)
	}
	// Refused changes are in the admin audit log too.
	evs, _ := in.Admin.Log(ctx, store.AdminEventFilter{Action: "scim.refused"})
	if len(evs) < 10 {
		t.Errorf("scim.refused entries: %d", len(evs))
	}
}
