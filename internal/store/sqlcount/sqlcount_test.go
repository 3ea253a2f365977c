package sqlcount_test

import (
	"database/sql"
	"path/filepath"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/sekisho/sekisho/internal/store/sqlcount"
)

func TestIsWrite(t *testing.T) {
	tests := []struct {
		q    string
		want bool
	}{
		{"SELECT 1", false},
		{"  insert into t values (1)", true},
		{"UPDATE t SET a = 1", true},
		{"DELETE FROM t", true},
		{"WITH x AS (SELECT 1) SELECT * FROM x", false},
		{"WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x", true},
		{"", false},
	}
	for _, tc := range tests {
		if got := sqlcount.IsWrite(tc.q); got != tc.want {
			t.Errorf("IsWrite(%q) = %v, want %v", tc.q, got, tc.want)
		}
	}
}

func TestCountsWhatReachesTheDatabase(t *testing.T) {
	c, err := sqlcount.Register("sqlite+count-test", "sqlite")
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite+count-test", "file:"+filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE t (a INTEGER)`); err != nil {
		t.Fatal(err)
	}
	c.Reset()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`INSERT INTO t (a) VALUES (?)`, 1); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := tx.QueryRow(`SELECT count(*) FROM t WHERE a = ?`, 1).Scan(&n); err != nil || n != 1 {
		t.Fatalf("count = %d, %v", n, err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	got := c.Snapshot()
	// BEGIN, INSERT, SELECT, COMMIT; one of them a write.
	if got.RoundTrips != 4 || got.Writes != 1 || len(got.Statements) != 4 {
		t.Fatalf("counted %+v", got)
	}
}
