package gctune

import (
	"io"
	"log/slog"
	"runtime"
	"runtime/metrics"
	"testing"
)

func TestPercent(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name            string
		headroom, roots uint64
		want            int
	}{
		{"small heap: grows by the headroom", 128 * mib, 32 * mib, 400},
		{"heap as large as the headroom: Go's default", 128 * mib, 128 * mib, 100},
		{"large heap: never below Go's default", 128 * mib, 1024 * mib, 100},
		{"nearly empty heap: bounded", 128 * mib, 1, maxPercent},
		{"nothing measured yet", 128 * mib, 0, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Percent(tc.headroom, tc.roots); got != tc.want {
				t.Fatalf("Percent(%d, %d) = %d, want %d", tc.headroom, tc.roots, got, tc.want)
			}
		})
	}
}

func gogc() int64 {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

func TestTunerFollowsTheLiveHeap(t *testing.T) {
	t.Setenv("GOGC", "")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	runtime.GC()              // the live heap Start reads is the last collection's
	wide := Start(1<<30, log) // a headroom far above this test's heap
	if wide == nil {
		t.Fatal("no tuner started")
	}
	if p := wide.GCPercent(); p <= 100 || int64(p) != gogc() {
		t.Fatalf("after start the tuner set %d and the runtime runs at %d; want the same, above 100", p, gogc())
	}
	wide.Stop()
	if gogc() != 100 {
		t.Fatalf("after Stop the runtime runs at %d, want 100", gogc())
	}
	// When the live heap grows past the headroom, the percent comes down to Go's default.
	narrow := Start(32<<20, log)
	t.Cleanup(narrow.Stop)
	if p := narrow.GCPercent(); p <= 100 {
		t.Fatalf("with a small heap and a 32 MiB headroom the tuner set %d, want above 100", p)
	}
	live := make([][]byte, 64)
	for i := range live {
		live[i] = make([]byte, 1<<20)
	}
	for range 3 {
		runtime.GC()
	}
	narrow.Adjust() // the finalizer runs on its own goroutine; this makes the check deterministic
	runtime.KeepAlive(live)
	if p := narrow.GCPercent(); p != 100 || gogc() != 100 {
		t.Fatalf("with a live heap above the headroom the tuner set %d, the runtime runs at %d; want 100", p, gogc())
	}
}

func TestGOGCAndZeroLeaveTheCollectorAlone(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if Start(0, log) != nil {
		t.Fatal("a zero headroom started a tuner")
	}
	t.Setenv("GOGC", "200")
	if Start(1<<30, log) != nil {
		t.Fatal("a tuner started although GOGC is set")
	}
}
