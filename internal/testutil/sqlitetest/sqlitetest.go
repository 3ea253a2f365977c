// Package sqlitetest opens the real store the unit tests run against: SQLite in a file of the
// test's own temp folder, so tests never share state.
package sqlitetest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/sekisho/sekisho/internal/store/sqlite"
)

// Open returns an empty, migrated store, closed when t ends.
func Open(t testing.TB) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "store.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
