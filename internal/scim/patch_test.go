package scim

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestParsePatchPath(t *testing.T) {
	for _, tc := range []struct {
		path string
		want string // attr, "|" filter present, "|" sub
		err  string
	}{
		{"displayName", "displayName||", ""},
		{"name.givenName", "name.givenName||", ""},
		{`emails[type eq "work"].value`, `emails|f|value`, ""},
		{`members[value eq "2819c223"]`, `members|f|`, ""},
		{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber||", ""},
		{"urn:ietf:params:scim:schemas:core:2.0:User:userName", "userName||", ""},
		{`emails[type eq "work"]value`, "", "only .subAttribute"},
		{`emails[type eq "work"`, "", "missing"},
		{`name.givenName[type eq "x"]`, "", "not its sub-attribute"},
		{`urn:unknown:x`, "", "unknown schema"},
		{`a b`, "", "not an attribute"},
		{strings.Repeat("a", maxPathLen+1), "", "longer"},
	} {
		pp, err := parsePatchPath(tc.path)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: %v, want %q", tc.path, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.path, err)
			continue
		}
		f := ""
		if pp.filter != nil {
			f = "f"
		}
		if got := pp.attr.String() + "|" + f + "|" + pp.sub; got != tc.want {
			t.Errorf("%q: %s, want %s", tc.path, got, tc.want)
		}
	}
}

// TestApplyPatch: RFC 7644 §3.5.2 add / replace / remove as Entra ID sends them, quirks included.
func TestApplyPatch(t *testing.T) {
	for _, tc := range []struct {
		name string
		ops  string
		want map[string]any // attributes of the result that must equal these
		err  string         // the scimType of a refusal
	}{
		{name: "Entra replaces the work email and the family name",
			ops: `[{"op":"Replace","path":"emails[type eq \"work\"].value","value":"new@example.com"},{"op":"Replace","path":"name.familyName","value":"L"}]`,
			want: map[string]any{"emails": []any{map[string]any{"value": "new@example.com", "type": "work", "primary": true},
				map[string]any{"value": "a@home.example", "type": "home"}}, "name": map[string]any{"givenName": "Alice", "familyName": "L"}}},
		{name: "active as the string False, without a path",
			ops:  `[{"op":"Replace","value":{"active":"False"}}]`,
			want: map[string]any{"active": "False"}},
		{name: "no path: dotted keys and an extension attribute by its URN",
			ops:  `[{"op":"replace","value":{"displayName":"A L","name.givenName":"Al","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber":"702"}}]`,
			want: map[string]any{"displayName": "A L", "name": map[string]any{"givenName": "Al"}, schemaEnterprise: map[string]any{"employeeNumber": "702"}}},
		{name: "no path: the extension as an object",
			ops:  `[{"op":"add","value":{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Sales"}}}]`,
			want: map[string]any{schemaEnterprise: map[string]any{"employeeNumber": "701", "department": "Sales"}}},
		{name: "extension attribute by path",
			ops:  `[{"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber","value":"9"}]`,
			want: map[string]any{schemaEnterprise: map[string]any{"employeeNumber": "9"}}},
		{name: "add a work email where there is none creates it from the filter",
			ops:  `[{"op":"remove","path":"emails"},{"op":"Add","path":"emails[type eq \"work\"].value","value":"w@example.com"}]`,
			want: map[string]any{"emails": []any{map[string]any{"type": "work", "value": "w@example.com"}}}},
		{name: "remove an element by filter",
			ops:  `[{"op":"remove","path":"emails[type eq \"home\"]"}]`,
			want: map[string]any{"emails": []any{map[string]any{"value": "alice@example.com", "type": "work", "primary": true}}}},
		{name: "remove an absent attribute is not an error",
			ops:  `[{"op":"remove","path":"title"},{"op":"remove","path":"emails[type eq \"other\"]"}]`,
			want: map[string]any{"displayName": "Alice Liddell"}},
		{name: "replace with a filter that matches nothing", ops: `[{"op":"replace","path":"emails[type eq \"other\"].value","value":"x"}]`, err: "noTarget"},
		{name: "remove without a path", ops: `[{"op":"remove"}]`, err: "noTarget"},
		{name: "unknown op", ops: `[{"op":"move","path":"title","value":"x"}]`, err: "invalidSyntax"},
		{name: "read-only id", ops: `[{"op":"replace","path":"id","value":"x"}]`, err: "mutability"},
		{name: "read-only groups", ops: `[{"op":"add","path":"groups","value":[{"value":"g"}]}]`, err: "mutability"},
		{name: "unknown attribute", ops: `[{"op":"add","path":"shoeSize","value":"44"}]`, err: "invalidPath"},
		{name: "bad path", ops: `[{"op":"add","path":"emails[type eq","value":"x"}]`, err: "invalidPath"},
		{name: "value filter on a single-valued attribute", ops: `[{"op":"add","path":"displayName[value eq \"x\"]","value":"x"}]`, err: "invalidPath"},
		{name: "no value", ops: `[{"op":"add","path":"title"}]`, err: "invalidValue"},
		{name: "no path and not an object", ops: `[{"op":"replace","value":"x"}]`, err: "invalidValue"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := res(t, alice)
			var ops []patchOp
			if err := json.Unmarshal([]byte(tc.ops), &ops); err != nil {
				t.Fatal(err)
			}
			var e *Error
			for _, o := range ops {
				if e = applyOp(r, o, userSchema); e != nil {
					break
				}
			}
			if tc.err != "" {
				if e == nil || e.ScimType != tc.err {
					t.Fatalf("%v, want %s", e, tc.err)
				}
				return
			}
			if e != nil {
				t.Fatal(e)
			}
			for k, v := range tc.want {
				if !reflect.DeepEqual(r[k], v) {
					t.Errorf("%s = %#v, want %#v", k, r[k], v)
				}
			}
		})
	}
}

// TestGroupMembersPatch: Entra adds and removes group members by value lists.
func TestGroupMembersPatch(t *testing.T) {
	g := map[string]any{"displayName": "Sales", "members": []any{map[string]any{"value": "u1"}}}
	for _, o := range []patchOp{
		{Op: "Add", Path: "members", Value: []any{map[string]any{"$ref": nil, "value": "u2"}, map[string]any{"value": "u1"}}},
		{Op: "Add", Path: "members", Value: map[string]any{"value": "u3"}},
		{Op: "Remove", Path: "members", Value: []any{map[string]any{"$ref": nil, "value": "u1"}}},
		{Op: "remove", Path: `members[value eq "u3"]`},
		{Op: "Replace", Path: "displayName", Value: "Sales EMEA"},
	} {
		if e := applyOp(g, o, groupSchema); e != nil {
			t.Fatalf("%+v: %v", o, e)
		}
	}
	f, e := readGroup(g)
	if e != nil {
		t.Fatal(e)
	}
	if f.Name != "Sales EMEA" || !reflect.DeepEqual(f.Members, []string{"u2"}) {
		t.Fatalf("%+v", f)
	}
	// Remove every member.
	if e := applyOp(g, patchOp{Op: "remove", Path: "members"}, groupSchema); e != nil {
		t.Fatal(e)
	}
	if f, _ := readGroup(g); len(f.Members) != 0 {
		t.Fatalf("%+v", f)
	}
}

// TestReadUser: the strict reader behind POST, PUT and every PATCH result.
func TestReadUser(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       userFields
		err        string
	}{
		{name: "Entra's create", body: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
			"externalId":"0a21f0f2","userName":"Test@contoso.com","active":true,"emails":[{"primary":true,"type":"work","value":"t@contoso.com"}],
			"meta":{"resourceType":"User"},"name":{"formatted":"g f","familyName":"f","givenName":"g"},"roles":[]}`,
			want: userFields{UPN: "Test@contoso.com", Email: "t@contoso.com", ImmutableID: "0a21f0f2", Active: true}},
		{name: "active as a string", body: `{"userName":"a@b.co","active":"False"}`, want: userFields{UPN: "a@b.co"}},
		{name: "the primary email when none is work", body: `{"userName":"a@b.co","emails":[{"value":"x@b.co"},{"value":"p@b.co","primary":"True"}]}`,
			want: userFields{UPN: "a@b.co", Email: "p@b.co", Active: true}},
		{name: "unknown attribute", body: `{"userName":"a@b.co","shoeSize":"44"}`, err: "invalidSyntax"},
		{name: "unknown extension attribute", body: `{"userName":"a@b.co","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"x":1}}`, err: "invalidSyntax"},
		{name: "active not a boolean", body: `{"userName":"a@b.co","active":"maybe"}`, err: "invalidValue"},
		{name: "userName a number", body: `{"userName":5}`, err: "invalidValue"},
		{name: "userName not a UPN", body: `{"userName":"Test_User_ab64"}`, err: "invalidValue"},
		{name: "no userName", body: `{"displayName":"x"}`, err: "invalidValue"},
		{name: "emails not an array", body: `{"userName":"a@b.co","emails":{"value":"x@b.co"}}`, err: "invalidValue"},
		{name: "a bad email", body: `{"userName":"a@b.co","emails":[{"value":"not an address","type":"work"}]}`, err: "invalidValue"},
		{name: "a password", body: `{"userName":"a@b.co","password":"hunter2"}`, err: "invalidValue"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, e := readUser(res(t, tc.body))
			if tc.err != "" {
				if e == nil || e.ScimType != tc.err {
					t.Fatalf("%v, want %s", e, tc.err)
				}
				return
			}
			if e != nil {
				t.Fatal(e)
			}
			if f != tc.want {
				t.Fatalf("%+v, want %+v", f, tc.want)
			}
		})
	}
}

// FuzzSCIMPatchPath: the PATCH path parser never panics, and an operation on any accepted
// path leaves a resource the strict reader can judge.
func FuzzSCIMPatchPath(f *testing.F) {
	for _, s := range []string{`emails[type eq "work"].value`, "name.givenName", `members[value eq "x"]`,
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "a[b pr].c", "x[not (a eq 1)]"} {
		f.Add(s, "replace")
	}
	f.Fuzz(func(t *testing.T, path, op string) {
		if _, err := parsePatchPath(path); err != nil {
			return
		}
		var r map[string]any
		json.Unmarshal([]byte(alice), &r)
		if e := applyOp(r, patchOp{Op: op, Path: path, Value: "v"}, userSchema); e == nil {
			readUser(r)
		}
	})
}
