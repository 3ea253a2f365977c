package storetest

import (
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/store"
)

// testDirectorySource: the fields a directory connector keeps on its users and groups (which
// connector, the entry's DN, when a sync stopped finding the user) are stored, read back by
// every read, changed by UpdateUser and cleared by a zero time; local rows carry none.
func testDirectorySource(t *testing.T, s store.Store) {
	c := ctx(t)
	local := mkUser(t, s, "u-local", "local@example.com")
	u := user("u-ad", "ad@example.com")
	u.Source, u.SourceDN = "ldap", "CN=Ad User,OU=Staff,DC=example,DC=com"
	ok(t, s.CreateUser(c, u))

	got, err := s.GetUserByUPN(c, "AD@example.com")
	ok(t, err)
	equal(t, "GetUserByUPN", got, u)
	got, err = s.GetUser(c, local.ID)
	ok(t, err)
	if got.Source != "" || got.SourceDN != "" || !got.SourceMissingSince.IsZero() {
		t.Fatalf("local user has a source: %+v", got)
	}

	missing := base.Add(3 * time.Hour)
	got, err = s.UpdateUser(c, u.ID, func(old store.User) (store.User, error) {
		old.SourceMissingSince, old.SourceDN = missing, "CN=Ad User,OU=Gone,DC=example,DC=com"
		old.SourceDisabled, old.Status = true, store.UserDisabled
		return old, nil
	})
	ok(t, err)
	sameTime(t, "SourceMissingSince", got.SourceMissingSince, missing)
	if got.SourceDN != "CN=Ad User,OU=Gone,DC=example,DC=com" || got.Source != "ldap" || !got.SourceDisabled {
		t.Fatalf("UpdateUser lost the source: %+v", got)
	}
	list, _, err := s.ListUsers(c, store.Page{})
	ok(t, err)
	var found bool
	for _, l := range list {
		if l.ID == u.ID {
			found = true
			sameTime(t, "listed SourceMissingSince", l.SourceMissingSince, missing)
		}
	}
	if !found {
		t.Fatalf("ListUsers did not list %s", u.ID)
	}
	got, err = s.UpdateUser(c, u.ID, func(old store.User) (store.User, error) {
		old.SourceMissingSince = time.Time{}
		return old, nil
	})
	ok(t, err)
	if !got.SourceMissingSince.IsZero() {
		t.Fatalf("SourceMissingSince not cleared: %v", got.SourceMissingSince)
	}

	g := store.Group{ID: "g-ad", Name: "AD Staff", CreatedAt: base, Source: "ldap", SourceDN: "CN=Staff,DC=example,DC=com"}
	ok(t, s.CreateGroup(c, g))
	gg, err := s.GetGroup(c, "ad staff")
	ok(t, err)
	equal(t, "GetGroup", gg, g)
	ok(t, s.CreateGroup(c, store.Group{Name: "local-group"}))
	gs, err := s.ListGroups(c)
	ok(t, err)
	if len(gs) != 2 || gs[0].Source != "ldap" || gs[1].Source != "" {
		t.Fatalf("ListGroups = %+v", gs)
	}
}
