package directory_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/directory"
	"github.com/sekisho/sekisho/internal/store"
)

// fakeSyncer is a connector whose directory is a Snapshot the test sets.
type fakeSyncer struct{ snap directory.Snapshot }

func (f *fakeSyncer) ID() string                                           { return "ldap" }
func (f *fakeSyncer) Snapshot(context.Context) (directory.Snapshot, error) { return f.snap, nil }

func newSyncDir(t *testing.T) (*directory.Directory, *fakeSyncer) {
	t.Helper()
	d := newDir(t)
	f := &fakeSyncer{}
	if err := d.AddConnector(directory.ConnectorSettings{Connector: f, DisableGrace: time.Hour, MaxDisablePercent: 100}); err != nil {
		t.Fatal(err)
	}
	return d, f
}

func syncOK(t *testing.T, d *directory.Directory) directory.SyncReport {
	t.Helper()
	rep, err := d.Sync(t.Context(), "ldap", directory.SyncOptions{Actor: "os:test", Via: "cli"})
	if err != nil {
		t.Fatalf("sync: %v (%+v)", err, rep)
	}
	return rep
}

func ext(id, upn string, groups ...string) directory.ExternalUser {
	return directory.ExternalUser{DN: "uid=" + id + ",ou=people,dc=example,dc=com", ImmutableID: id, UPN: upn, DisplayName: id, Groups: groups}
}

func upnOf(t *testing.T, st store.Store, immutableID string) string {
	t.Helper()
	u, err := st.GetUserByImmutableID(t.Context(), immutableID)
	if err != nil {
		t.Fatalf("user %s: %v", immutableID, err)
	}
	return u.UPN
}

// TestSyncConflictsAndRenames: the sync matches directory entries against the users it listed
// once, in memory, and follows its own creates and renames as the store would: a UPN or an
// ImmutableID another user has is a conflict, a UPN freed by a rename earlier in the same sync
// can be taken, one taken earlier in it cannot.
func TestSyncConflictsAndRenames(t *testing.T) {
	d, f := newSyncDir(t)
	st, ctx := d.Store, t.Context()
	if _, err := d.AddUser(ctx, directory.NewUser{UPN: "local@example.com", Password: "Kiri-Tsubo-9183!"}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateUser(ctx, store.User{ID: "scim-1", UPN: "scim@example.com", ImmutableID: "SCIMID", Source: "scim:entra"}); err != nil {
		t.Fatal(err)
	}
	f.snap.Users = []directory.ExternalUser{ext("A", "a@example.com"), ext("B", "b@example.com"),
		ext("C", "LOCAL@example.com"), ext("SCIMID", "new@example.com"), ext("D", "a@example.com")}
	rep := syncOK(t, d)
	if rep.Created != 2 || rep.Conflicts != 2 || rep.Skipped != 1 {
		t.Fatalf("first sync: %+v, want 2 created, 2 conflicts (local UPN, SCIM ImmutableID), 1 skipped (D repeats a's UPN)", rep)
	}

	// B becomes c@ first, then A takes b@ (freed earlier in the same sync).
	f.snap.Users = []directory.ExternalUser{ext("B", "c@example.com"), ext("A", "b@example.com")}
	if rep := syncOK(t, d); rep.Updated != 2 || rep.Conflicts != 0 {
		t.Fatalf("renames in order: %+v", rep)
	}
	if upnOf(t, st, "A") != "b@example.com" || upnOf(t, st, "B") != "c@example.com" {
		t.Fatalf("after the renames: A %s, B %s", upnOf(t, st, "A"), upnOf(t, st, "B"))
	}

	// A asks for c@ before B gives it up: a conflict this time (left alone), B's rename goes
	// through; the next sync lets A have it.
	f.snap.Users = []directory.ExternalUser{ext("A", "c@example.com"), ext("B", "d@example.com")}
	if rep := syncOK(t, d); rep.Updated != 1 || rep.Conflicts != 1 {
		t.Fatalf("a UPN not yet freed: %+v", rep)
	}
	if upnOf(t, st, "A") != "b@example.com" || upnOf(t, st, "B") != "d@example.com" {
		t.Fatalf("A %s, B %s", upnOf(t, st, "A"), upnOf(t, st, "B"))
	}
	if rep := syncOK(t, d); rep.Updated != 1 || rep.Unchanged != 1 || rep.Conflicts != 0 || upnOf(t, st, "A") != "c@example.com" {
		t.Fatalf("the next sync: %+v, A %s", rep, upnOf(t, st, "A"))
	}

	// A new entry taking a UPN a rename just freed; one asking for the UPN that rename took is
	// a repeated UPN (skipped).
	f.snap.Users = []directory.ExternalUser{ext("A", "e@example.com"), ext("E", "c@example.com"), ext("F", "e@example.com")}
	rep = syncOK(t, d)
	if rep.Updated != 1 || rep.Created != 1 || rep.Skipped != 1 || upnOf(t, st, "E") != "c@example.com" {
		t.Fatalf("new entries after renames: %+v", rep)
	}
	// A case-only rename keeps the user.
	f.snap.Users = []directory.ExternalUser{ext("A", "E@example.com"), ext("E", "c@example.com")}
	if rep := syncOK(t, d); rep.Updated != 1 || rep.Conflicts != 0 || upnOf(t, st, "A") != "E@example.com" {
		t.Fatalf("case-only rename: %+v", rep)
	}
	if l, err := st.GetUserByUPN(ctx, "local@example.com"); err != nil || l.Source != "" {
		t.Fatalf("the local user: %+v, %v", l, err)
	}
	if s, err := st.GetUser(ctx, "scim-1"); err != nil || s.UPN != "scim@example.com" || s.Source != "scim:entra" {
		t.Fatalf("the SCIM user: %+v, %v", s, err)
	}
}

func groupsOf(t *testing.T, st store.Store, upn string) []string {
	t.Helper()
	u, err := st.GetUserByUPN(t.Context(), upn)
	if err != nil {
		t.Fatalf("user %s: %v", upn, err)
	}
	return u.Groups
}

// TestSyncMemberships: memberships come from the users' listing, not from a query per group:
// added once, unchanged by a sync of the same directory, removed when the directory drops
// them; a group gone from the directory keeps its local members and loses the connector's;
// members the sync does not own (a local group, a local member) are left alone; a group whose
// name changes case in the directory keeps its members; a user missing within its grace keeps
// its groups.
func TestSyncMemberships(t *testing.T) {
	d, f := newSyncDir(t)
	st, ctx := d.Store, t.Context()
	local, err := d.AddUser(ctx, directory.NewUser{UPN: "local@example.com", Password: "Kiri-Tsubo-9183!"})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateGroup(ctx, store.Group{Name: "admins"}); err != nil {
		t.Fatal(err)
	}
	const eng, staff, ops = "cn=Eng,ou=groups,dc=example,dc=com", "cn=staff,ou=groups,dc=example,dc=com", "cn=ops,ou=groups,dc=example,dc=com"
	f.snap.Groups = []directory.ExternalGroup{{DN: eng, Name: "Eng"}, {DN: staff, Name: "Staff"}, {DN: ops, Name: "Ops"}}
	f.snap.Users = []directory.ExternalUser{
		ext("A", "a@example.com", eng, staff),
		ext("B", "b@example.com", "CN=eng, OU=Groups, DC=example, DC=com"), // the same group, written otherwise
		ext("C", "c@example.com", ops, "cn=unknown,dc=example,dc=com"),
	}
	rep := syncOK(t, d)
	if rep.GroupsCreated != 3 || rep.MembersAdded != 4 || rep.MembersRemoved != 0 {
		t.Fatalf("first sync: %+v", rep)
	}
	// An administrator adds a synced user to a local group and a local user to a synced one.
	if err := st.AddMember(ctx, "admins", mustUser(t, st, "a@example.com").ID); err != nil {
		t.Fatal(err)
	}
	if err := st.AddMember(ctx, "staff", local.ID); err != nil {
		t.Fatal(err)
	}
	if rep := syncOK(t, d); rep.MembersAdded != 0 || rep.MembersRemoved != 0 || rep.Unchanged != 3 {
		t.Fatalf("the same directory again: %+v", rep)
	}

	// A leaves Eng; Staff is gone from the directory; Eng is now spelt "eng"; C is missing.
	f.snap.Groups = []directory.ExternalGroup{{DN: eng, Name: "eng"}, {DN: ops, Name: "Ops"}}
	f.snap.Users = []directory.ExternalUser{ext("A", "a@example.com"), ext("B", "b@example.com", eng)}
	rep = syncOK(t, d)
	if rep.MembersRemoved != 2 || rep.MembersAdded != 0 || rep.Missing != 1 {
		t.Fatalf("after the directory changed: %+v, want A removed from Eng and Staff, nothing added, C missing", rep)
	}
	if g := groupsOf(t, st, "a@example.com"); !slices.Equal(g, []string{"admins"}) {
		t.Fatalf("A's groups = %v, want only the local admins", g)
	}
	if g := groupsOf(t, st, "b@example.com"); !slices.Equal(g, []string{"Eng"}) {
		t.Fatalf("B's groups = %v, want Eng (its name's case changed in the directory)", g)
	}
	if g := groupsOf(t, st, "c@example.com"); !slices.Equal(g, []string{"Ops"}) {
		t.Fatalf("C (missing, within the grace) groups = %v, want Ops", g)
	}
	if g := groupsOf(t, st, "local@example.com"); !slices.Equal(g, []string{"Staff"}) {
		t.Fatalf("the local user's groups = %v, want Staff (a group the directory dropped keeps local members)", g)
	}
	if _, err := st.GetGroup(ctx, "staff"); err != nil {
		t.Fatalf("a group gone from the directory is kept: %v", err)
	}
	// Ops is no longer in the directory either: even the missing C loses it.
	f.snap.Groups = []directory.ExternalGroup{{DN: eng, Name: "eng"}}
	if rep := syncOK(t, d); rep.MembersRemoved != 1 || rep.MembersAdded != 0 {
		t.Fatalf("Ops dropped: %+v", rep)
	}
	if g := groupsOf(t, st, "c@example.com"); len(g) != 0 {
		t.Fatalf("C's groups = %v, want none", g)
	}
}

func mustUser(t *testing.T, st store.Store, upn string) store.User {
	t.Helper()
	u, err := st.GetUserByUPN(t.Context(), upn)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// noBatch hides the store's AddMembers, also from the transactions it opens.
type noBatch struct{ store.Store }

func (s noBatch) InTx(ctx context.Context, fn func(tx store.Store) error) error {
	return s.Store.InTx(ctx, func(tx store.Store) error { return fn(noBatch{tx}) })
}

// TestSyncMembershipsWithoutBatch: a store without AddMembers gets one AddMember per user,
// with the same result.
func TestSyncMembershipsWithoutBatch(t *testing.T) {
	d, f := newSyncDir(t)
	d.Store = noBatch{d.Store}
	const g1 = "cn=g1,dc=example,dc=com"
	f.snap.Groups = []directory.ExternalGroup{{DN: g1, Name: "g1"}}
	f.snap.Users = []directory.ExternalUser{ext("A", "a@example.com", g1), ext("B", "b@example.com", g1)}
	if rep := syncOK(t, d); rep.MembersAdded != 2 {
		t.Fatalf("%+v", rep)
	}
	if m, err := d.Store.ListMembers(t.Context(), "g1"); err != nil || len(m) != 2 {
		t.Fatalf("members %d, %v", len(m), err)
	}
}
