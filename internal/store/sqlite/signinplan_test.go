package sqlite_test

import (
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/store/sqlcount"
	"github.com/sekisho/sekisho/internal/store/sqlite"
)

// An address search reads the three address indexes, the partial ones included (migration
// 0013): the planner uses a partial index only when the query names its condition, and a
// search that scans the whole sign-in log would go unnoticed until the log is large.
// planCounter is registered once per test binary (database/sql refuses a second Register of
// the same name, as with -count=2).
var planCounter = sync.OnceValues(func() (*sqlcount.Counter, error) { return sqlcount.Register("sqlite+plan", "sqlite") })

func TestSignInAddressSearchUsesTheIndexes(t *testing.T) {
	counter, err := planCounter()
	if err != nil {
		t.Fatal(err)
	}
	prev := sqlite.Driver
	sqlite.Driver = "sqlite+plan"
	t.Cleanup(func() { sqlite.Driver = prev })
	s := open(t, filepath.Join(t.TempDir(), "sekisho.db"))
	counter.Reset()
	const ip = "192.0.2.7"
	if _, err := s.ListSignIns(t.Context(), store.SignInFilter{IP: ip}); err != nil {
		t.Fatal(err)
	}
	var q string
	for _, st := range counter.Snapshot().Statements {
		if strings.Contains(st, "FROM sign_ins") {
			q = st
		}
	}
	if q == "" {
		t.Fatalf("no sign-in query among %q", counter.Snapshot().Statements)
	}
	rows, err := s.DB().QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+q, ip, ip, ip)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	all := strings.Join(plan, "\n")
	for _, idx := range []string{"sign_ins_effective_ip", "sign_ins_peer_ip", "sign_ins_forwarded_ip"} {
		if !strings.Contains(all, idx) {
			t.Errorf("the plan does not use %s:\n%s", idx, all)
		}
	}
	if strings.Contains(all, "SCAN sign_ins") {
		t.Errorf("the plan scans the sign-in log:\n%s", all)
	}
}
