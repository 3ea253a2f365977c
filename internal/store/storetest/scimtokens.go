package storetest

import (
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/store"
)

func testSCIMTokens(t *testing.T, s store.Store) {
	c := ctx(t)
	t1 := store.SCIMToken{Connector: "entra", ID: "a1", Hash: []byte{1, 2}, CreatedBy: "os:root", CreatedAt: base}
	ok(t, s.PutSCIMToken(c, t1))
	ok(t, s.PutSCIMToken(c, store.SCIMToken{Connector: "azure2", ID: "b1", Hash: []byte{3}, CreatedAt: base}))
	if err := s.PutSCIMToken(c, store.SCIMToken{Connector: "x", ID: "c1", CreatedAt: base}); err == nil {
		t.Fatal("a token without a hash was stored")
	}
	// Another connector cannot take an ID in use.
	isErr(t, s.PutSCIMToken(c, store.SCIMToken{Connector: "other", ID: "a1", Hash: []byte{9}, CreatedAt: base}), store.ErrConflict)
	got, err := s.GetSCIMToken(c, "a1")
	ok(t, err)
	equal(t, "round trip", got, t1)
	_, err = s.GetSCIMToken(c, "missing")
	isErr(t, err, store.ErrNotFound)

	used, err := s.UpdateSCIMToken(c, "entra", func(x store.SCIMToken) (store.SCIMToken, error) {
		x.LastUsedAt, x.LastIP, x.RevokedAt = base.Add(time.Minute), "203.0.113.9", base.Add(2*time.Minute)
		x.Hash, x.ID = []byte{7}, "zz"
		return x, nil
	})
	ok(t, err)
	want := t1
	want.LastUsedAt, want.LastIP, want.RevokedAt = base.Add(time.Minute), "203.0.113.9", base.Add(2*time.Minute)
	equal(t, "update", used, want)
	_, err = s.UpdateSCIMToken(c, "missing", func(x store.SCIMToken) (store.SCIMToken, error) { return x, nil })
	isErr(t, err, store.ErrNotFound)

	// A new token replaces the connector's old one, revocation and use cleared.
	t2 := store.SCIMToken{Connector: "entra", ID: "a2", Hash: []byte{5}, CreatedBy: "os:admin", CreatedAt: base.Add(time.Hour)}
	ok(t, s.PutSCIMToken(c, t2))
	_, err = s.GetSCIMToken(c, "a1")
	isErr(t, err, store.ErrNotFound)
	got, err = s.GetSCIMToken(c, "a2")
	ok(t, err)
	equal(t, "replaced", got, t2)
	all, err := s.ListSCIMTokens(c)
	ok(t, err)
	if len(all) != 2 || all[0].Connector != "azure2" || all[1].Connector != "entra" {
		t.Fatalf("list: %+v", all)
	}
}

func testUpdateGroup(t *testing.T, s store.Store) {
	c := ctx(t)
	mkUser(t, s, "u1", "u1@example.com")
	ok(t, s.CreateGroup(c, store.Group{ID: "g1", Name: "Sales", Description: "d", Source: "scim:entra", SourceDN: "ext-1", CreatedAt: base}))
	ok(t, s.CreateGroup(c, store.Group{ID: "g2", Name: "staff", CreatedAt: base}))
	ok(t, s.AddMember(c, "Sales", "u1"))
	g, err := s.UpdateGroup(c, "sales", func(g store.Group) (store.Group, error) {
		g.Name, g.Description, g.SourceDN, g.ID, g.Source = "Sales EMEA", "new", "ext-2", "hijack", ""
		return g, nil
	})
	ok(t, err)
	want := store.Group{ID: "g1", Name: "Sales EMEA", Description: "new", Source: "scim:entra", SourceDN: "ext-2", CreatedAt: base}
	equal(t, "renamed", g, want)
	got, err := s.GetGroup(c, "sales emea")
	ok(t, err)
	equal(t, "read back", got, want)
	_, err = s.GetGroup(c, "Sales")
	isErr(t, err, store.ErrNotFound)
	members, err := s.ListMembers(c, "Sales EMEA")
	ok(t, err)
	if len(members) != 1 || members[0].ID != "u1" {
		t.Fatalf("members after rename: %+v", members)
	}
	_, err = s.UpdateGroup(c, "Sales EMEA", func(g store.Group) (store.Group, error) { g.Name = "STAFF"; return g, nil })
	isErr(t, err, store.ErrConflict)
	_, err = s.UpdateGroup(c, "missing", func(g store.Group) (store.Group, error) { return g, nil })
	isErr(t, err, store.ErrNotFound)
}
