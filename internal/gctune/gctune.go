// Package gctune keeps a minimum of room for new allocations between garbage collections.
//
// Go's collector at its default (GOGC=100) lets the heap grow by as much as it holds live
// before collecting again. A serving node holds little live (tens of MiB: caches, sessions,
// connections) and allocates fast (a token grant about 25 KB, a password check 19 MiB), so at
// the default it collects many times a second. With a headroom, after every collection the
// GC percent is set so that the next collection comes when the heap has grown by
// max(live, headroom): the same bound as Go's default when the live heap is larger than the
// headroom, at most headroom more than it when the heap is small.
package gctune

import (
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
)

// Percent is the GC percent that gives headroom bytes of growth over roots bytes scanned
// (the live heap, goroutine stacks and globals, which Go's pacer multiplies): never below
// Go's default of 100.
func Percent(headroom, roots uint64) int {
	if roots == 0 {
		return 100
	}
	p := headroom * 100 / roots
	if p < 100 {
		return 100
	}
	if p > maxPercent {
		return maxPercent
	}
	return int(p)
}

// maxPercent bounds the percent while the heap is nearly empty (start-up).
const maxPercent = 10000

// Tuner sets the GC percent after every collection.
type Tuner struct {
	headroom uint64
	stopped  atomic.Bool
	percent  atomic.Int64 // the last percent set
	samples  []metrics.Sample
	mu       sync.Mutex // guards samples
}

// Start tunes the collector for headroom bytes until Stop, unless headroom is 0 or the
// GOGC environment variable is set (the operator's choice is kept); it then returns nil.
func Start(headroom uint64, log *slog.Logger) *Tuner {
	if headroom == 0 {
		return nil
	}
	if v := os.Getenv("GOGC"); v != "" {
		log.Info("garbage collector left to GOGC", "gogc", v)
		return nil
	}
	t := &Tuner{headroom: headroom, samples: []metrics.Sample{
		{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/stack:bytes"}, {Name: "/gc/scan/globals:bytes"},
	}}
	t.Adjust()
	t.arm()
	log.Info("garbage collector headroom", "headroom_mib", headroom>>20, "gc_percent", t.percent.Load())
	return t
}

// arm schedules Adjust after the next collection: a finalizer runs once the collector has
// found its object unreachable, and re-arms itself.
func (t *Tuner) arm() {
	s := &sentinel{}
	runtime.SetFinalizer(s, func(*sentinel) {
		if t.stopped.Load() {
			return
		}
		t.Adjust()
		t.arm()
	})
}

// sentinel holds a pointer so that it is not placed in a tiny-object block, whose
// finalizers may never run.
type sentinel struct{ _ *int }

// Adjust sets the GC percent from the last collection's live heap.
func (t *Tuner) Adjust() {
	t.mu.Lock()
	metrics.Read(t.samples)
	var roots uint64
	for _, s := range t.samples {
		if s.Value.Kind() == metrics.KindUint64 {
			roots += s.Value.Uint64()
		}
	}
	t.mu.Unlock()
	p := Percent(t.headroom, roots)
	// Small changes are not worth a pacer update.
	if old := t.percent.Load(); old == 0 || p < int(old)*9/10 || p > int(old)*11/10 {
		debug.SetGCPercent(p)
		t.percent.Store(int64(p))
	}
}

// GCPercent is the percent last set.
func (t *Tuner) GCPercent() int { return int(t.percent.Load()) }

// Stop ends the tuning and restores Go's default percent.
func (t *Tuner) Stop() {
	if t == nil || t.stopped.Swap(true) {
		return
	}
	debug.SetGCPercent(100)
}
