package postgres_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/store/postgres"
)

// The sign-in log is partitioned by month: partitions exist ahead of time, pruning drops
// whole months with an exact count and deletes the rest row by row, and a month whose rows
// sit in the default partition is reported, never lost.
func TestSignInPartitions(t *testing.T) {
	s := open(t, schemaDSN(t, testDSN(t)))
	c := t.Context()
	now := time.Now().UTC()
	month := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	partitions := func() map[string]bool {
		t.Helper()
		rows, err := s.DB().QueryContext(c, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'sign_ins'::regclass`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string]bool{}
		for rows.Next() {
			var n string
			rows.Scan(&n)
			out[n] = true
		}
		return out
	}
	name := func(m time.Time) string { return "sign_ins_" + m.Format("2006") + "m" + m.Format("01") }
	for i := 0; i <= postgres.AheadMonths; i++ {
		if p := name(month.AddDate(0, i, 0)); !partitions()[p] {
			t.Fatalf("no partition %s after Open: %v", p, partitions())
		}
	}
	if err := s.MaintainSignIns(c, month.AddDate(0, 5, 0)); err != nil {
		t.Fatal(err)
	}
	for i := 5; i <= 5+postgres.AheadMonths; i++ {
		if p := name(month.AddDate(0, i, 0)); !partitions()[p] {
			t.Fatalf("MaintainSignIns did not create %s", p)
		}
	}
	add := func(id string, at time.Time) {
		t.Helper()
		if err := s.AddSignIn(c, store.SignInEvent{ID: id, Time: at, Username: "u@example.com", Decision: "allow"}); err != nil {
			t.Fatal(err)
		}
	}
	add("this-month", month.Add(time.Hour))
	add("this-month-2", month.Add(2*time.Hour))
	add("in-5-months", month.AddDate(0, 5, 3))
	add("in-6-months", month.AddDate(0, 6, 3))
	add("long-ago", month.AddDate(-3, 0, 0)) // no partition: the default one
	add("in-7-months", month.AddDate(0, 7, 1))
	if err := s.AddSignIn(c, store.SignInEvent{ID: "this-month", Time: month.Add(time.Hour)}); err == nil {
		t.Fatal("the same record added twice")
	}

	// Everything before the 3rd day of month +6: months up to +5 are dropped whole, long-ago
	// is deleted from the default partition, in-6-months (on the 4th) stays.
	n, err := s.PruneSignIns(c, month.AddDate(0, 6, 2))
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Fatalf("pruned %d records, want 4", n)
	}
	if partitions()[name(month.AddDate(0, 5, 0))] {
		t.Fatalf("months past the retention not dropped: %v", partitions())
	}
	if !partitions()[name(month.AddDate(0, 6, 0))] {
		t.Fatal("the boundary month was dropped")
	}
	left, err := s.ListSignIns(c, store.SignInFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 2 || left[0].ID != "in-6-months" || left[1].ID != "in-7-months" {
		t.Fatalf("left %+v", left)
	}
	// This month was dropped with the others and made again: the pruner maintains the months
	// ahead of now after it prunes.
	if !partitions()[name(month)] {
		t.Fatal("this month has no partition after pruning")
	}

	// A record far ahead lands in the default partition; that month then cannot get its own
	// partition: reported, and the record stays readable.
	add("in-12-months", month.AddDate(0, 12, 1))
	err = s.MaintainSignIns(c, month.AddDate(0, 12, 0))
	if err == nil || !strings.Contains(err.Error(), name(month.AddDate(0, 12, 0))) {
		t.Fatalf("MaintainSignIns over rows in the default partition: %v", err)
	}
	if e, err := s.GetSignIn(c, "in-12-months"); err != nil || e.ID != "in-12-months" {
		t.Fatalf("GetSignIn after the failed partition: %+v %v", e, err)
	}
}
