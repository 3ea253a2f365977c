package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/store/sqlite"
)

func TestBackupCopiesTheDatabase(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	mustRun(t, "", "init", "--demo", "--data", dir)
	target := filepath.Join(t.TempDir(), "copy.db")
	out := mustRun(t, "", "backup", target, "--data", dir)
	if !strings.Contains(out, "backed up the database to "+target) || !strings.Contains(out, "master key") {
		t.Fatalf("output: %s", out)
	}
	cp, err := sqlite.Open(t.Context(), target)
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	users, _, err := cp.ListUsers(t.Context(), store.Page{Limit: 100})
	if err != nil || len(users) < 4 {
		t.Fatalf("the copy holds %d users, %v", len(users), err)
	}
	if _, err := run(t, "", "backup", target, "--data", dir); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("a second backup over the copy: %v", err)
	}
}
