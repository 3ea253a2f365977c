package changes_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/sekisho/sekisho/internal/changes"
)

type counter struct {
	v   atomic.Int64
	err atomic.Pointer[error]
}

func (c *counter) ConfigVersion(context.Context) (int64, error) {
	if e := c.err.Load(); e != nil {
		return 0, *e
	}
	return c.v.Load(), nil
}

func TestPollCallsSubscribersOnlyWhenTheVersionMoves(t *testing.T) {
	src := &counter{}
	src.v.Store(7)
	w := changes.New(src, slog.New(slog.NewTextHandler(io.Discard, nil)))
	var calls []string
	w.OnChange(func(context.Context) { calls = append(calls, "a") })
	w.OnChange(func(context.Context) { calls = append(calls, "b") })
	broken := errors.New("database down")
	steps := []struct {
		name    string
		set     func()
		moved   bool
		wantErr bool
		calls   int
	}{
		{"first poll", func() {}, true, false, 2},
		{"nothing changed", func() {}, false, false, 2},
		{"a change", func() { src.v.Add(1) }, true, false, 4},
		{"store down", func() { src.err.Store(&broken) }, false, true, 4},
		{"store back, unchanged", func() { src.err.Store(nil) }, false, false, 4},
		{"two changes between polls", func() { src.v.Add(2) }, true, false, 6},
	}
	for _, s := range steps {
		s.set()
		moved, err := w.Poll(t.Context())
		if moved != s.moved || (err != nil) != s.wantErr || len(calls) != s.calls {
			t.Fatalf("%s: moved=%v err=%v calls=%v; want moved=%v err=%v %d calls", s.name, moved, err, calls, s.moved, s.wantErr, s.calls)
		}
	}
	if w.Version() != 10 || calls[4] != "a" || calls[5] != "b" {
		t.Fatalf("version %d, calls %v", w.Version(), calls)
	}
}
