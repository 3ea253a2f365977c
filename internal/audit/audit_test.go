package audit

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/store/sqlite"
)

func TestRecordExportPrune(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	r := NewRecorder(s, slog.New(slog.NewTextHandler(io.Discard, nil)))
	r.Now = func() time.Time { return now }
	old, err := r.Record(ctx, store.SignInEvent{Time: now.Add(-100 * 24 * time.Hour), Username: "old@example.com", Decision: "allow"})
	if err != nil || old.ID == "" {
		t.Fatalf("record: %+v %v", old, err)
	}
	e, err := r.Record(ctx, store.SignInEvent{Username: "=cmd|' /C calc'!A0", Application: "microsoft365", ClientType: "legacy-proxied",
		LegacyApp: "ActiveSync", EffectiveIP: "203.0.113.5", Decision: "deny", Rule: "block", Trace: []byte(`{"rule":"block"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if !e.Time.Equal(now) {
		t.Fatalf("time %v", e.Time)
	}

	var buf bytes.Buffer
	n, err := Export(ctx, s, store.SignInFilter{Since: now.Add(-time.Hour)}, "csv", &buf)
	if err != nil || n != 1 {
		t.Fatalf("csv export n=%d err=%v", n, err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(rows) != 2 || len(rows[0]) != len(CSVHeader) {
		t.Fatalf("csv rows %v %v", rows, err)
	}
	if rows[1][2] != "'=cmd|' /C calc'!A0" {
		t.Fatalf("formula not defused: %q", rows[1][2])
	}
	buf.Reset()
	if n, err := Export(ctx, s, store.SignInFilter{}, "json", &buf); err != nil || n != 2 {
		t.Fatalf("json export n=%d err=%v", n, err)
	}
	var js []JSONEvent
	if err := json.Unmarshal(buf.Bytes(), &js); err != nil || len(js) != 2 || string(js[1].Trace) != `{"rule":"block"}` {
		t.Fatalf("json %s: %v", buf.String(), err)
	}
	if _, err := Export(ctx, s, store.SignInFilter{}, "xml", &buf); err == nil {
		t.Fatal("unknown format accepted")
	}
	if n, err := r.Prune(ctx, 90*24*time.Hour); err != nil || n != 1 {
		t.Fatalf("prune = %d, %v", n, err)
	}
	if _, err := s.GetSignIn(ctx, old.ID); err == nil {
		t.Fatal("old record survived pruning")
	}
}

// failingStore refuses every write while full is set.
type failingStore struct {
	store.Store
	full bool
}

func (f *failingStore) AddSignIn(ctx context.Context, e store.SignInEvent) error {
	if f.full {
		return errors.New("database or disk is full")
	}
	return f.Store.AddSignIn(ctx, e)
}

func (f *failingStore) UseOnce(ctx context.Context, k string, exp time.Time) (bool, error) {
	if f.full {
		return false, errors.New("database or disk is full")
	}
	return f.Store.UseOnce(ctx, k, exp)
}

// Readiness follows whether records can be written: not ready after a failed record, ready
// again once a probe write succeeds (with no sign-in needed), and a request that ran out of
// time does not count against the store.
func TestReadyFollowsRecordWrites(t *testing.T) {
	base, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer base.Close()
	fs := &failingStore{Store: base}
	r := NewRecorder(fs, slog.New(slog.DiscardHandler))
	steps := []struct {
		name  string
		do    func()
		ready bool
	}{
		{"fresh", func() {}, true},
		{"a record written", func() { r.Record(t.Context(), store.SignInEvent{Username: "u"}) }, true},
		{"a record refused by a full disk", func() { fs.full = true; r.Record(t.Context(), store.SignInEvent{Username: "u"}) }, false},
		{"still full", func() {}, false},
		{"room again (the probe writes)", func() { fs.full = false }, true},
		{"a request out of time is recorded all the same", func() {
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			e, err := r.Record(ctx, store.SignInEvent{Username: "late"})
			if err != nil {
				t.Fatalf("record of a cancelled request: %v", err)
			}
			if got, err := base.GetSignIn(t.Context(), e.ID); err != nil || got.Username != "late" {
				t.Fatalf("the late record is not stored: %+v %v", got, err)
			}
		}, true},
	}
	for _, s := range steps {
		s.do()
		if err := r.Ready(t.Context()); (err == nil) != s.ready {
			t.Fatalf("%s: Ready = %v, want ready=%v", s.name, err, s.ready)
		}
	}
}

// gatedStore holds the first AddSignIn until released, and counts the batch writes.
type gatedStore struct {
	store.Store
	release chan struct{}
	held    atomic.Bool
	batches atomic.Int32
}

func (g *gatedStore) AddSignIn(ctx context.Context, e store.SignInEvent) error {
	if g.held.CompareAndSwap(false, true) {
		<-g.release
	}
	return g.Store.AddSignIn(ctx, e)
}

func (g *gatedStore) AddSignIns(ctx context.Context, es []store.SignInEvent) error {
	g.batches.Add(1)
	return g.Store.AddSignIns(ctx, es)
}

// TestGroupCommit: records that arrive while one is being written are written together in one
// transaction once it ends, each caller learning its own record's fate: a record that cannot
// be written (a duplicate ID) fails alone, the rest of its batch is stored.
func TestGroupCommit(t *testing.T) {
	base, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer base.Close()
	gs := &gatedStore{Store: base, release: make(chan struct{})}
	r := NewRecorder(gs, slog.New(slog.DiscardHandler))
	gs.held.Store(true) // not this one
	if _, err := r.Record(t.Context(), store.SignInEvent{ID: "taken", Username: "u"}); err != nil {
		t.Fatal(err)
	}
	gs.held.Store(false) // the next write is held
	first := make(chan error, 1)
	go func() { _, err := r.Record(t.Context(), store.SignInEvent{Username: "first"}); first <- err }()
	for !gs.held.Load() { // the first write is under way (and held)
		runtime.Gosched()
	}
	const n = 10
	errs := make(chan error, n)
	for i := range n {
		id := fmt.Sprintf("queued-%d", i)
		if i == 3 {
			id = "taken"
		}
		go func() { _, err := r.Record(t.Context(), store.SignInEvent{ID: id, Username: id}); errs <- err }()
	}
	for {
		r.mu.Lock()
		queued := len(r.queue)
		r.mu.Unlock()
		if queued == n {
			break
		}
		runtime.Gosched()
	}
	close(gs.release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	failed := 0
	for range n {
		if err := <-errs; err != nil {
			failed++
		}
	}
	if failed != 1 || gs.batches.Load() != 1 {
		t.Fatalf("%d failed (want the duplicate only), %d batch writes (want one)", failed, gs.batches.Load())
	}
	all, err := base.ListSignIns(t.Context(), store.SignInFilter{})
	if err != nil || len(all) != 1+1+n-1 {
		t.Fatalf("%d records stored, want %d: %v", len(all), 1+1+n-1, err)
	}
}
