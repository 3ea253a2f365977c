package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/store/sqlite"
	"github.com/sekisho/sekisho/internal/store/storetest"
)

func open(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, filepath.Join(t.TempDir(), "sekisho.db"))
	})
}

func TestMigrateIsIdempotentAndDataPersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sekisho.db")
	s := open(t, path)
	n, err := s.Migrate(t.Context())
	if err != nil || n != 0 {
		t.Fatalf("second Migrate = %d, %v; want 0, nil", n, err)
	}
	if err := s.CreateUser(t.Context(), store.User{ID: "u1", UPN: "a@example.com"}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = open(t, path)
	if _, err := s.GetUserByUPN(t.Context(), "A@example.com"); err != nil {
		t.Fatalf("after reopen: %v", err)
	}
	var mode string
	if err := s.DB().QueryRowContext(t.Context(), `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v; want wal", mode, err)
	}
	var fk int
	if err := s.DB().QueryRowContext(t.Context(), `PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 1 {
		t.Fatalf("foreign_keys = %d, %v; want 1", fk, err)
	}
}

func TestOpenRejectsNonFilePaths(t *testing.T) {
	for _, p := range []string{"", ":memory:", "file:x.db?mode=memory"} {
		if s, err := sqlite.Open(t.Context(), p); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", p)
		}
	}
}

// FuzzListUsersCursor feeds arbitrary page cursors (they come back from API clients): the
// store must answer with users or an error, never panic, and never return more than asked.
func FuzzListUsersCursor(f *testing.F) {
	s, err := sqlite.Open(f.Context(), filepath.Join(f.TempDir(), "fuzz.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	for _, upn := range []string{"a@example.com", "B@example.com", "c@example.com"} {
		if err := s.CreateUser(f.Context(), store.User{ID: upn, UPN: upn}); err != nil {
			f.Fatal(err)
		}
	}
	_, next, err := s.ListUsers(f.Context(), store.Page{Limit: 1})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(next, 1)
	f.Add("", 0)
	f.Add("!!", 2)
	f.Add("YQ", -5)
	f.Fuzz(func(t *testing.T, after string, limit int) {
		users, _, err := s.ListUsers(t.Context(), store.Page{After: after, Limit: limit})
		if err != nil {
			return
		}
		if limit > 0 && len(users) > limit {
			t.Fatalf("%d users for limit %d", len(users), limit)
		}
	})
}
