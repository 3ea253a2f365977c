package directory

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/store/sqlite"
)

// Password checks run at most len(slots) at a time; one that cannot start before its
// request's deadline fails with ErrBusy (the gate records it as an error and refuses),
// and checks run again once a slot is free.
func TestPasswordChecksWaitForASlot(t *testing.T) {
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "d.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d := New(s, Params{MemoryKiB: 8 * 1024, Iterations: 1, Parallelism: 1}, PasswordPolicy{MinLength: 8})
	if cap(d.slots) < 2 {
		t.Fatalf("%d slots", cap(d.slots))
	}
	if _, err := d.AddUser(t.Context(), NewUser{UPN: "a@example.com", Password: "Sakura-Mochi-2026!"}); err != nil {
		t.Fatal(err)
	}
	for range cap(d.slots) { // every slot taken
		d.slots <- struct{}{}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := d.WithStore(s).Authenticate(ctx, "a@example.com", "Sakura-Mochi-2026!"); !errors.Is(err, ErrBusy) || errors.Is(err, ErrBadCredentials) {
		t.Fatalf("with every slot taken: %v, want ErrBusy", err)
	}
	<-d.slots
	if _, err := d.Authenticate(t.Context(), "a@example.com", "Sakura-Mochi-2026!"); err != nil {
		t.Fatalf("with a free slot: %v", err)
	}
	if len(d.slots) != cap(d.slots)-1 {
		t.Fatalf("the check did not give its slot back: %d of %d taken", len(d.slots), cap(d.slots))
	}
}

// A check with less time left than one check takes gives up before hashing.
func TestPasswordCheckGivesUpWithoutTimeForIt(t *testing.T) {
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "d.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d := New(s, Params{MemoryKiB: 8 * 1024, Iterations: 1, Parallelism: 1}, PasswordPolicy{MinLength: 8})
	if _, err := d.AddUser(t.Context(), NewUser{UPN: "a@example.com", Password: "Sakura-Mochi-2026!"}); err != nil {
		t.Fatal(err)
	}
	d.checkCost.Store(int64(time.Hour))
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if _, err := d.Authenticate(ctx, "a@example.com", "Sakura-Mochi-2026!"); !errors.Is(err, ErrBusy) {
		t.Fatalf("a minute left for an hour-long check: %v, want ErrBusy", err)
	}
	// Without a deadline the check runs, and the measured cost replaces the old one.
	if _, err := d.Authenticate(t.Context(), "a@example.com", "Sakura-Mochi-2026!"); err != nil {
		t.Fatal(err)
	}
	if c := time.Duration(d.checkCost.Load()); c <= 0 || c >= time.Hour {
		t.Fatalf("check cost after a real check: %v", c)
	}
}
