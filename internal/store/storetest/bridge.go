package storetest

import (
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/store"
)

func testBridgeCredentials(t *testing.T, s store.Store) {
	c := ctx(t)
	mkUser(t, s, "u1", "u1@example.com")
	mkUser(t, s, "u2", "u2@example.com")
	c1 := store.BridgeCredential{ID: "b1", UserID: "u1", Name: "printer-3f", Scopes: []string{"smtp-send"},
		From: []string{"scans@example.com", "u1@example.com"}, Hash: []byte{1, 2, 3}, CreatedBy: "os:root",
		CreatedAt: base, ExpiresAt: base.Add(24 * time.Hour)}
	ok(t, s.CreateBridgeCredential(c, c1))
	c2 := store.BridgeCredential{ID: "b2", UserID: "u2", Name: "printer-3f", Scopes: []string{"imap", "pop"},
		Hash: []byte{4}, CreatedAt: base.Add(time.Second), ExpiresAt: base.Add(time.Hour)}
	ok(t, s.CreateBridgeCredential(c, c2))
	// The same name twice for one user, a hash in use, or an unknown owner is refused.
	isErr(t, s.CreateBridgeCredential(c, store.BridgeCredential{ID: "b3", UserID: "u1", Name: "printer-3f",
		Scopes: []string{"imap"}, Hash: []byte{9}, CreatedAt: base, ExpiresAt: base}), store.ErrConflict)
	isErr(t, s.CreateBridgeCredential(c, store.BridgeCredential{ID: "b4", UserID: "u1", Name: "other",
		Scopes: []string{"imap"}, Hash: []byte{4}, CreatedAt: base, ExpiresAt: base}), store.ErrConflict)
	if err := s.CreateBridgeCredential(c, store.BridgeCredential{ID: "b5", UserID: "nobody", Name: "x",
		Scopes: []string{"imap"}, Hash: []byte{5}, CreatedAt: base, ExpiresAt: base}); err == nil {
		t.Fatal("a credential of an unknown user was stored")
	}
	if err := s.CreateBridgeCredential(c, store.BridgeCredential{ID: "b6", UserID: "u1", Name: "x", CreatedAt: base}); err == nil {
		t.Fatal("a credential without hash and scopes was stored")
	}
	got, err := s.GetBridgeCredential(c, "b1")
	ok(t, err)
	equal(t, "round trip", got, c1)
	got, err = s.GetBridgeCredentialByHash(c, []byte{4})
	ok(t, err)
	equal(t, "by hash", got, c2)
	_, err = s.GetBridgeCredentialByHash(c, []byte{7})
	isErr(t, err, store.ErrNotFound)

	used, err := s.UpdateBridgeCredential(c, "b1", func(x store.BridgeCredential) (store.BridgeCredential, error) {
		x.LastUsedAt, x.LastIP, x.RevokedAt = base.Add(time.Minute), "203.0.113.9", base.Add(2*time.Minute)
		x.Name, x.Hash, x.Scopes = "renamed", []byte{8}, []string{"imap"}
		return x, nil
	})
	ok(t, err)
	want := c1
	want.LastUsedAt, want.LastIP, want.RevokedAt = base.Add(time.Minute), "203.0.113.9", base.Add(2*time.Minute)
	equal(t, "update", used, want)
	got, err = s.GetBridgeCredential(c, "b1")
	ok(t, err)
	equal(t, "updated row", got, want)
	// The revoked credential frees its name.
	ok(t, s.CreateBridgeCredential(c, store.BridgeCredential{ID: "b7", UserID: "u1", Name: "printer-3f",
		Scopes: []string{"imap"}, Hash: []byte{10}, CreatedAt: base.Add(time.Hour), ExpiresAt: base.Add(2 * time.Hour)}))
	_, err = s.UpdateBridgeCredential(c, "missing", func(x store.BridgeCredential) (store.BridgeCredential, error) { return x, nil })
	isErr(t, err, store.ErrNotFound)

	mine, err := s.ListBridgeCredentials(c, "u2")
	ok(t, err)
	if len(mine) != 1 || mine[0].ID != "b2" {
		t.Fatalf("list of u2: %+v", mine)
	}
	all, err := s.ListBridgeCredentials(c, "")
	ok(t, err)
	if len(all) != 3 || all[0].ID != "b1" || all[1].ID != "b2" || all[2].ID != "b7" {
		t.Fatalf("list: %+v", all)
	}
	// Deleted with the owner.
	ok(t, s.DeleteUser(c, "u2"))
	_, err = s.GetBridgeCredential(c, "b2")
	isErr(t, err, store.ErrNotFound)
}

func testBridgeUpstreamGrants(t *testing.T, s store.Store) {
	c := ctx(t)
	mkUser(t, s, "u1", "u1@example.com")
	_, err := s.GetBridgeUpstreamGrant(c, "m365", "u1")
	isErr(t, err, store.ErrNotFound)
	put := func(sealed []byte, wantFound bool) store.BridgeUpstreamGrant {
		t.Helper()
		g, err := s.UpdateBridgeUpstreamGrant(c, "m365", "u1", func(old store.BridgeUpstreamGrant, found bool) (store.BridgeUpstreamGrant, error) {
			if found != wantFound {
				t.Fatalf("found = %v, want %v (%+v)", found, wantFound, old)
			}
			old.Sealed, old.UpdatedAt = sealed, base
			return old, nil
		})
		ok(t, err)
		return g
	}
	put([]byte("one"), false)
	g := put([]byte("two"), true)
	equal(t, "updated", g, store.BridgeUpstreamGrant{Profile: "m365", UserID: "u1", Sealed: []byte("two"), UpdatedAt: base})
	got, err := s.GetBridgeUpstreamGrant(c, "m365", "u1")
	ok(t, err)
	equal(t, "round trip", got, g)
	list, err := s.ListBridgeUpstreamGrants(c, "m365")
	ok(t, err)
	if len(list) != 1 {
		t.Fatalf("list: %+v", list)
	}
	if other, _ := s.ListBridgeUpstreamGrants(c, "other"); len(other) != 0 {
		t.Fatalf("another profile's list: %+v", other)
	}
	// fn's error changes nothing.
	_, err = s.UpdateBridgeUpstreamGrant(c, "m365", "u1", func(store.BridgeUpstreamGrant, bool) (store.BridgeUpstreamGrant, error) {
		return store.BridgeUpstreamGrant{}, store.ErrConflict
	})
	isErr(t, err, store.ErrConflict)
	got, _ = s.GetBridgeUpstreamGrant(c, "m365", "u1")
	equal(t, "after a failed update", got, g)
	put(nil, true) // deletes
	_, err = s.GetBridgeUpstreamGrant(c, "m365", "u1")
	isErr(t, err, store.ErrNotFound)
	put([]byte("three"), false)
	ok(t, s.DeleteUser(c, "u1"))
	_, err = s.GetBridgeUpstreamGrant(c, "m365", "u1")
	isErr(t, err, store.ErrNotFound)
}
