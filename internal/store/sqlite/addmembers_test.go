package sqlite_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/sekisho/sekisho/internal/store"
)

// TestAddMembers: sqlstore's AddMembers (the directory sync's batch) does what AddMember does
// for each user, across several INSERTs of its chunks: existing members are no error, a missing
// group or user is ErrNotFound and then no member is added.
func TestAddMembers(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "sekisho.db"))
	c := t.Context()
	if err := s.CreateGroup(c, store.Group{Name: "Staff"}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 1234 {
		u := store.User{ID: fmt.Sprintf("u%04d", i), UPN: fmt.Sprintf("u%04d@example.com", i)}
		if err := s.CreateUser(c, u); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, u.ID)
	}
	if err := s.AddMember(c, "staff", "u0007"); err != nil {
		t.Fatal(err)
	}
	if err := s.AddMembers(c, "STAFF", ids); err != nil {
		t.Fatal(err)
	}
	if err := s.AddMembers(c, "staff", ids[:3]); err != nil { // already members
		t.Fatal(err)
	}
	members, err := s.ListMembers(c, "staff")
	if err != nil {
		t.Fatal(err)
	}
	if len(members) != len(ids) {
		t.Fatalf("%d members, want %d", len(members), len(ids))
	}
	if err := s.AddMembers(c, "staff", nil); err != nil {
		t.Fatalf("no users: %v", err)
	}

	if err := s.CreateGroup(c, store.Group{Name: "empty"}); err != nil {
		t.Fatal(err)
	}
	withGhost := append(append([]string{}, ids...), "ghost")
	if err := s.AddMembers(c, "empty", withGhost); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a missing user: %v, want ErrNotFound", err)
	}
	if m, err := s.ListMembers(c, "empty"); err != nil || len(m) != 0 {
		t.Fatalf("after a failed AddMembers the group has %d members (%v), want none", len(m), err)
	}
	if err := s.AddMembers(c, "ghosts", ids[:1]); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a missing group: %v, want ErrNotFound", err)
	}
}
