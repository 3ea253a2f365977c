package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/store"
)

func testAPITokens(t *testing.T, s store.Store) {
	c := ctx(t)
	mkUser(t, s, "u1", "u1@example.com")
	mkUser(t, s, "u2", "u2@example.com")
	t1 := store.APIToken{ID: "t1", Name: "nightly export", UserID: "u1", Role: "auditor", Hash: []byte{1, 2, 3},
		CreatedBy: "u1@example.com", CreatedAt: base, ExpiresAt: base.Add(90 * 24 * time.Hour)}
	ok(t, s.CreateAPIToken(c, t1))
	ok(t, s.CreateAPIToken(c, store.APIToken{ID: "t2", UserID: "u2", Role: "admin", Hash: []byte{4}, CreatedAt: base.Add(time.Second),
		ExpiresAt: base.Add(time.Hour)}))
	isErr(t, s.CreateAPIToken(c, store.APIToken{ID: "t1", UserID: "u1", Role: "admin", Hash: []byte{5}, ExpiresAt: base}), store.ErrConflict)
	isErr(t, s.CreateAPIToken(c, store.APIToken{ID: "t3", UserID: "nobody", Role: "admin", Hash: []byte{5}, ExpiresAt: base}), store.ErrNotFound)
	if err := s.CreateAPIToken(c, store.APIToken{ID: "t4", UserID: "u1", Role: "admin", ExpiresAt: base}); err == nil {
		t.Fatal("a token without a hash was stored")
	}

	got, err := s.GetAPIToken(c, "t1")
	ok(t, err)
	equal(t, "round trip", got, t1)
	_, err = s.GetAPIToken(c, "missing")
	isErr(t, err, store.ErrNotFound)

	// Only the use and revocation fields change; everything else is kept.
	used, err := s.UpdateAPIToken(c, "t1", func(x store.APIToken) (store.APIToken, error) {
		x.LastUsedAt, x.LastIP, x.RevokedAt = base.Add(time.Minute), "203.0.113.7", base.Add(2*time.Minute)
		x.Role, x.UserID, x.Hash = "admin", "u2", []byte{9}
		return x, nil
	})
	ok(t, err)
	want := t1
	want.LastUsedAt, want.LastIP, want.RevokedAt = base.Add(time.Minute), "203.0.113.7", base.Add(2*time.Minute)
	equal(t, "update result", used, want)
	got, err = s.GetAPIToken(c, "t1")
	ok(t, err)
	equal(t, "after update", got, want)
	boom := errors.New("boom")
	_, err = s.UpdateAPIToken(c, "t1", func(x store.APIToken) (store.APIToken, error) { return x, boom })
	isErr(t, err, boom)
	_, err = s.UpdateAPIToken(c, "missing", func(x store.APIToken) (store.APIToken, error) { return x, nil })
	isErr(t, err, store.ErrNotFound)

	all, err := s.ListAPITokens(c)
	ok(t, err)
	if len(all) != 2 || all[0].ID != "t1" || all[1].ID != "t2" {
		t.Fatalf("list: %+v", all)
	}
	// Deleted with the owner.
	ok(t, s.DeleteUser(c, "u2"))
	_, err = s.GetAPIToken(c, "t2")
	isErr(t, err, store.ErrNotFound)
}
