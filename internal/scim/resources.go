package scim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/mail"
	"sort"
	"strings"
	"time"

	"github.com/sekisho/sekisho/internal/directory"
	"github.com/sekisho/sekisho/internal/store"
)

// view is what a request may see: one connector's users and groups.
type view struct {
	st      store.Store
	source  string // "scim:<connector>"
	baseURL string
	groups  map[string]store.Group // the connector's groups by lower-case name (loaded once)
}

func (v *view) loadGroups(ctx context.Context) error {
	if v.groups != nil {
		return nil
	}
	gs, err := v.st.ListGroups(ctx)
	if err != nil {
		return err
	}
	v.groups = map[string]store.Group{}
	for _, g := range gs {
		if g.Source == v.source {
			v.groups[strings.ToLower(g.Name)] = g
		}
	}
	return nil
}

// user returns the connector's user id, ErrNotFound for anyone else's.
func (v *view) user(ctx context.Context, id string) (store.User, error) {
	u, err := v.st.GetUser(ctx, id)
	if err != nil {
		return u, err
	}
	if u.Source != v.source {
		return store.User{}, fmt.Errorf("user %s: %w", id, store.ErrNotFound)
	}
	return u, nil
}

// group returns the connector's group with ID id.
func (v *view) group(ctx context.Context, id string) (store.Group, error) {
	if err := v.loadGroups(ctx); err != nil {
		return store.Group{}, err
	}
	for _, g := range v.groups {
		if g.ID == id {
			return g, nil
		}
	}
	return store.Group{}, fmt.Errorf("group %s: %w", id, store.ErrNotFound)
}

func (v *view) users(ctx context.Context) ([]store.User, error) {
	var out []store.User
	page := store.Page{Limit: 500}
	for {
		us, next, err := v.st.ListUsers(ctx, page)
		if err != nil {
			return nil, err
		}
		for _, u := range us {
			if u.Source == v.source {
				out = append(out, u)
			}
		}
		if next == "" {
			return out, nil
		}
		page.After = next
	}
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// version is the weak ETag of a resource: a digest of its JSON form without meta.
func version(res map[string]any) string {
	c := make(map[string]any, len(res))
	for k, v := range res {
		if k != "meta" {
			c[k] = v
		}
	}
	b, _ := json.Marshal(c)
	sum := sha256.Sum256(b)
	return `W/"` + hex.EncodeToString(sum[:8]) + `"`
}

// userResource is a user's SCIM form.
func (v *view) userResource(ctx context.Context, u store.User) (map[string]any, error) {
	if err := v.loadGroups(ctx); err != nil {
		return nil, err
	}
	res := map[string]any{
		"schemas": []any{schemaUser}, "id": u.ID, "externalId": u.ImmutableID, "userName": u.UPN,
		"active": u.Status == store.UserActive,
	}
	if u.DisplayName != "" {
		res["displayName"] = u.DisplayName
	}
	if u.Email != "" {
		res["emails"] = []any{map[string]any{"value": u.Email, "type": "work", "primary": true}}
	}
	var groups []any
	names := append([]string(nil), u.Groups...)
	sort.Strings(names)
	for _, n := range names {
		if g, ok := v.groups[strings.ToLower(n)]; ok {
			groups = append(groups, map[string]any{"value": g.ID, "display": g.Name, "$ref": v.baseURL + Prefix + "/Groups/" + g.ID})
		}
	}
	if len(groups) > 0 {
		res["groups"] = groups
	}
	res["meta"] = map[string]any{"resourceType": "User", "created": stamp(u.CreatedAt), "lastModified": stamp(u.UpdatedAt),
		"location": v.baseURL + Prefix + "/Users/" + u.ID}
	res["meta"].(map[string]any)["version"] = version(res)
	return res, nil
}

// groupResource is a group's SCIM form: its members are the connector's users in it.
func (v *view) groupResource(ctx context.Context, g store.Group) (map[string]any, error) {
	ms, err := v.st.ListMembers(ctx, g.Name)
	if err != nil {
		return nil, err
	}
	members := []any{}
	for _, m := range ms {
		if m.Source == v.source {
			members = append(members, map[string]any{"value": m.ID, "display": m.UPN, "$ref": v.baseURL + Prefix + "/Users/" + m.ID})
		}
	}
	res := map[string]any{"schemas": []any{schemaGroup}, "id": g.ID, "displayName": g.Name, "members": members}
	if g.SourceDN != "" {
		res["externalId"] = g.SourceDN
	}
	res["meta"] = map[string]any{"resourceType": "Group", "created": stamp(g.CreatedAt), "lastModified": stamp(g.CreatedAt),
		"location": v.baseURL + Prefix + "/Groups/" + g.ID}
	res["meta"].(map[string]any)["version"] = version(res)
	return res, nil
}

// userFields is what Sekisho stores of a SCIM user.
type userFields struct {
	UPN, DisplayName, Email, ImmutableID string
	Active                               bool
}

// readUser checks a user's JSON form (strict schema, types) and reads what Sekisho keeps.
func readUser(res map[string]any) (userFields, *Error) {
	var f userFields
	if err := userSchema.checkShape(res); err != nil {
		return f, err
	}
	upn, _ := getCI(res, "userName").(string)
	if strings.TrimSpace(upn) == "" {
		return f, errInvalidValue("userName is required")
	}
	n, err := directory.NormalizeUPN(upn)
	if err != nil {
		return f, errInvalidValue("userName: %v", err)
	}
	f.UPN = n
	f.DisplayName, _ = getCI(res, "displayName").(string)
	f.DisplayName = strings.TrimSpace(f.DisplayName)
	f.ImmutableID, _ = getCI(res, "externalId").(string)
	f.ImmutableID = strings.TrimSpace(f.ImmutableID)
	if len(f.ImmutableID) > 256 || len(f.DisplayName) > 256 {
		return f, errInvalidValue("externalId and displayName have at most 256 characters")
	}
	f.Active = true
	if a := getCI(res, "active"); a != nil {
		f.Active, _ = boolOf(a) // checked by checkShape
	}
	emails, _ := getCI(res, "emails").([]any)
	var pick map[string]any
	for _, want := range []func(map[string]any) bool{
		func(m map[string]any) bool { t, _ := getCI(m, "type").(string); return strings.EqualFold(t, "work") },
		func(m map[string]any) bool { p, _ := boolOf(getCI(m, "primary")); return p },
		func(map[string]any) bool { return true },
	} {
		for _, e := range emails {
			if m, ok := e.(map[string]any); ok && pick == nil && want(m) {
				pick = m
			}
		}
	}
	if pick != nil {
		addr, ok := getCI(pick, "value").(string)
		if !ok {
			return f, errInvalidValue("emails[].value must be a string")
		}
		addr = strings.TrimSpace(addr)
		if addr != "" {
			if _, err := mail.ParseAddress(addr); err != nil || len(addr) > 254 {
				return f, errInvalidValue("emails: %q is not an email address", addr)
			}
		}
		f.Email = addr
	}
	return f, nil
}

// groupFields is what Sekisho stores of a SCIM group.
type groupFields struct {
	Name, ExternalID string
	Members          []string // user IDs
}

func readGroup(res map[string]any) (groupFields, *Error) {
	var f groupFields
	if err := groupSchema.checkShape(res); err != nil {
		return f, err
	}
	f.Name, _ = getCI(res, "displayName").(string)
	f.Name = strings.TrimSpace(f.Name)
	if f.Name == "" {
		return f, errInvalidValue("displayName is required")
	}
	if len(f.Name) > 256 {
		return f, errInvalidValue("displayName has at most 256 characters")
	}
	f.ExternalID, _ = getCI(res, "externalId").(string)
	seen := map[string]bool{}
	for _, m := range asValues(getCI(res, "members")) {
		id := memberValue(m)
		if id == "" {
			return f, errInvalidValue("members[].value must be a user's id")
		}
		if !seen[id] {
			seen[id] = true
			f.Members = append(f.Members, id)
		}
	}
	return f, nil
}

// checkSchemas verifies a body's schemas: want must be listed, and only known URNs.
func checkSchemas(res map[string]any, want string, s *schema) *Error {
	list, ok := getCI(res, "schemas").([]any)
	if !ok {
		return errInvalidSyntax("schemas must list %s", want)
	}
	found := false
	for _, x := range list {
		u, _ := x.(string)
		switch {
		case strings.EqualFold(u, want):
			found = true
		case s != nil && s.extension(u) != "":
		default:
			return errInvalidSyntax("unknown schema %q", u)
		}
	}
	if !found {
		return errInvalidSyntax("schemas must list %s", want)
	}
	return nil
}
