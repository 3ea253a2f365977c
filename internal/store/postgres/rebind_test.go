package postgres

import "testing"

func TestRebind(t *testing.T) {
	tests := []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"SELECT a FROM t WHERE x = ?", "SELECT a FROM t WHERE x = $1"},
		{"INSERT INTO t VALUES (?, ?, ?)", "INSERT INTO t VALUES ($1, $2, $3)"},
		{"? ? ? ? ? ? ? ? ? ? ?", "$1 $2 $3 $4 $5 $6 $7 $8 $9 $10 $11"},
		// Question marks that are text, not placeholders.
		{"SELECT '?' FROM t WHERE x = ?", "SELECT '?' FROM t WHERE x = $1"},
		{"SELECT 'it''s ?' , ?", "SELECT 'it''s ?' , $1"},
		{`SELECT "odd?col" FROM t WHERE a = ?`, `SELECT "odd?col" FROM t WHERE a = $1`},
		{"SELECT 1 -- why?\nWHERE a = ?", "SELECT 1 -- why?\nWHERE a = $1"},
		{"SELECT /* a ? b */ ?", "SELECT /* a ? b */ $1"},
		{"WHERE a = ? AND b LIKE '%?%' AND c = ?", "WHERE a = $1 AND b LIKE '%?%' AND c = $2"},
		// Unterminated pieces are copied as they are (the server reports the syntax error).
		{"SELECT 'open ?", "SELECT 'open ?"},
		{"SELECT ? /* open ?", "SELECT $1 /* open ?"},
		{"SELECT ? -- tail ?", "SELECT $1 -- tail ?"},
	}
	for _, tc := range tests {
		if got := rebind(tc.in); got != tc.want {
			t.Errorf("rebind(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
