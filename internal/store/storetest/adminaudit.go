package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/store"
)

func testAdminAudit(t *testing.T, s store.Store) {
	c := ctx(t)
	evs := []store.AdminEvent{
		{ID: "a1", Time: base, Actor: "admin@example.com", Via: "console", Action: "user.add", Target: "alice@example.com",
			After: []byte(`{"upn":"alice@example.com"}`)},
		{ID: "a2", Time: base.Add(time.Minute), Actor: "os:root", Via: "cli", Action: "network.set", Target: "office",
			Before: []byte(`{"cidrs":[]}`), After: []byte(`{"cidrs":["203.0.113.0/24"]}`)},
		{ID: "a3", Time: base.Add(2 * time.Minute), Actor: "admin@example.com", Via: "api", Action: "user.disable", Target: "alice@example.com",
			Before: []byte(`{"status":"active"}`), After: []byte(`{"status":"disabled"}`)},
	}
	for _, e := range evs {
		ok(t, s.AddAdminEvent(c, e))
	}
	all, err := s.ListAdminEvents(c, store.AdminEventFilter{})
	ok(t, err)
	if len(all) != 3 || all[0].ID != "a1" || all[2].ID != "a3" {
		t.Fatalf("order: %+v", all)
	}
	equal(t, "round trip", all[1], evs[1])
	for _, tc := range []struct {
		name string
		f    store.AdminEventFilter
		want []string
	}{
		{"actor", store.AdminEventFilter{Actor: "admin@example.com"}, []string{"a1", "a3"}},
		{"action prefix", store.AdminEventFilter{Action: "user."}, []string{"a1", "a3"}},
		{"exact action", store.AdminEventFilter{Action: "user.add"}, []string{"a1"}},
		{"target", store.AdminEventFilter{Target: "office"}, []string{"a2"}},
		{"window", store.AdminEventFilter{Since: base.Add(time.Minute), Until: base.Add(2 * time.Minute)}, []string{"a2"}},
		{"newest two", store.AdminEventFilter{Limit: 2}, []string{"a2", "a3"}},
	} {
		got, err := s.ListAdminEvents(c, tc.f)
		ok(t, err)
		ids := []string{}
		for _, e := range got {
			ids = append(ids, e.ID)
		}
		if len(ids) != len(tc.want) || (len(ids) > 0 && (ids[0] != tc.want[0] || ids[len(ids)-1] != tc.want[len(tc.want)-1])) {
			t.Errorf("%s: %v, want %v", tc.name, ids, tc.want)
		}
	}
	// Written in a transaction that fails: the entry is gone with the change.
	boom := errors.New("boom")
	err = s.InTx(c, func(tx store.Store) error {
		ok(t, tx.AddAdminEvent(c, store.AdminEvent{ID: "a4", Time: base, Action: "user.delete"}))
		return boom
	})
	isErr(t, err, boom)
	if got, _ := s.ListAdminEvents(c, store.AdminEventFilter{Action: "user.delete"}); len(got) != 0 {
		t.Fatalf("rolled-back entry kept: %+v", got)
	}
	isErr(t, s.AddAdminEvent(c, store.AdminEvent{ID: "a1", Time: base}), store.ErrConflict)
}
