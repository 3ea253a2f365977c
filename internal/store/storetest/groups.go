package storetest

import (
	"testing"

	"github.com/sekisho/sekisho/internal/store"
)

func testGroupsAndMembers(t *testing.T, s store.Store) {
	c := ctx(t)
	g := store.Group{ID: "g1", Name: "Staff", Description: "everyone", CreatedAt: base}
	ok(t, s.CreateGroup(c, g))
	ok(t, s.CreateGroup(c, store.Group{Name: "admins"})) // ID assigned by the store
	isErr(t, s.CreateGroup(c, store.Group{ID: "g3", Name: "STAFF"}), store.ErrConflict)

	got, err := s.GetGroup(c, "staff")
	ok(t, err)
	equal(t, "GetGroup", got, g)
	admins, err := s.GetGroup(c, "Admins")
	ok(t, err)
	if admins.ID == "" || admins.Name != "admins" || admins.CreatedAt.IsZero() {
		t.Fatalf("store did not fill group defaults: %+v", admins)
	}
	list, err := s.ListGroups(c)
	ok(t, err)
	if len(list) != 2 || list[0].Name != "admins" || list[1].Name != "Staff" {
		t.Fatalf("ListGroups = %+v, want admins, Staff", list)
	}

	mkUser(t, s, "u1", "zed@example.com")
	mkUser(t, s, "u2", "amy@example.com")
	ok(t, s.AddMember(c, "STAFF", "u1"))
	ok(t, s.AddMember(c, "staff", "u2"))
	ok(t, s.AddMember(c, "staff", "u2")) // already a member: no error
	ok(t, s.AddMember(c, "admins", "u1"))
	isErr(t, s.AddMember(c, "staff", "ghost"), store.ErrNotFound)
	isErr(t, s.AddMember(c, "ghosts", "u1"), store.ErrNotFound)

	members, err := s.ListMembers(c, "Staff")
	ok(t, err)
	if len(members) != 2 || members[0].ID != "u2" || members[1].ID != "u1" {
		t.Fatalf("ListMembers = %+v, want u2, u1 (by UPN)", members)
	}
	equal(t, "member groups", members[1].Groups, []string{"admins", "Staff"})

	u, err := s.GetUser(c, "u1")
	ok(t, err)
	equal(t, "User.Groups", u.Groups, []string{"admins", "Staff"})
	users, _, err := s.ListUsers(c, store.Page{})
	ok(t, err)
	equal(t, "ListUsers groups", [][]string{users[0].Groups, users[1].Groups},
		[][]string{{"Staff"}, {"admins", "Staff"}})
	// Groups is ignored on write.
	u, err = s.UpdateUser(c, "u2", func(u store.User) (store.User, error) { u.Groups = []string{"admins"}; return u, nil })
	ok(t, err)
	equal(t, "Groups after update", u.Groups, []string{"Staff"})

	ok(t, s.RemoveMember(c, "staff", "u1"))
	isErr(t, s.RemoveMember(c, "staff", "u1"), store.ErrNotFound)
	u, err = s.GetUser(c, "u1")
	ok(t, err)
	equal(t, "groups after remove", u.Groups, []string{"admins"})

	ok(t, s.DeleteGroup(c, "ADMINS"))
	isErr(t, s.DeleteGroup(c, "admins"), store.ErrNotFound)
	_, err = s.GetGroup(c, "admins")
	isErr(t, err, store.ErrNotFound)
	_, err = s.ListMembers(c, "admins")
	isErr(t, err, store.ErrNotFound)
}

func testMembershipCascade(t *testing.T, s store.Store) {
	c := ctx(t)
	ok(t, s.CreateGroup(c, store.Group{ID: "g1", Name: "one"}))
	ok(t, s.CreateGroup(c, store.Group{ID: "g2", Name: "two"}))
	mkUser(t, s, "u1", "u1@example.com")
	mkUser(t, s, "u2", "u2@example.com")
	for _, g := range []string{"one", "two"} {
		for _, u := range []string{"u1", "u2"} {
			ok(t, s.AddMember(c, g, u))
		}
	}

	// Deleting a user removes it from every group.
	ok(t, s.DeleteUser(c, "u1"))
	for _, g := range []string{"one", "two"} {
		members, err := s.ListMembers(c, g)
		ok(t, err)
		if len(members) != 1 || members[0].ID != "u2" {
			t.Fatalf("members of %s after deleting u1 = %+v", g, members)
		}
	}
	// Deleting a group removes it from every user; re-creating the name starts empty.
	ok(t, s.DeleteGroup(c, "one"))
	u, err := s.GetUser(c, "u2")
	ok(t, err)
	equal(t, "groups after group delete", u.Groups, []string{"two"})
	ok(t, s.CreateGroup(c, store.Group{ID: "g1b", Name: "One"}))
	members, err := s.ListMembers(c, "one")
	ok(t, err)
	if len(members) != 0 {
		t.Fatalf("re-created group has members: %+v", members)
	}
}
