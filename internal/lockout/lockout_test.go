package lockout_test

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/lockout"
)

var (
	ctx  = context.Background()
	home = netip.MustParseAddr("198.51.100.7")
	t0   = time.Date(2025, 4, 1, 9, 0, 0, 0, time.UTC)
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newLockout(cfg lockout.Config) (*lockout.Lockout, *[]lockout.Event) {
	var evs []lockout.Event
	l := lockout.New(lockout.NewMemoryStore(), cfg, quiet(), func(_ context.Context, e lockout.Event) { evs = append(evs, e) })
	return l, &evs
}

func mustCheck(t *testing.T, l *lockout.Lockout, ip netip.Addr, at time.Time) bool {
	t.Helper()
	locked, err := l.Check(ctx, "u1", ip, at)
	if err != nil {
		t.Fatal(err)
	}
	return locked
}

// randomPublicIPv4 returns a random globally routable IPv4 address.
func randomPublicIPv4(r *rand.Rand) netip.Addr {
	for {
		var b [4]byte
		v := r.Uint32()
		b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
		a := netip.AddrFrom4(b)
		if a.IsGlobalUnicast() && !a.IsPrivate() && b[0] != 100 && b[0] < 224 && a != home {
			return a
		}
	}
}

// A spray of 10,000 wrong passwords from random internet addresses locks only the unfamiliar
// side: the user still signs in from home, and the attacker gets at most Threshold guesses
// per lock period.
func TestSprayLocksOnlyUnfamiliarSide(t *testing.T) {
	cfg := lockout.DefaultConfig()
	l, evs := newLockout(cfg)
	if err := l.Success(ctx, "u1", home, t0); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	now := t0.Add(time.Minute)
	guesses := 0
	for range 10000 {
		now = now.Add(100 * time.Millisecond) // 10,000 attempts over ~17 minutes
		ip := randomPublicIPv4(r)
		if mustCheck(t, l, ip, now) {
			continue // refused before the password is checked
		}
		guesses++
		if err := l.Failure(ctx, "u1", ip, now); err != nil {
			t.Fatal(err)
		}
		if mustCheck(t, l, home, now) {
			t.Fatalf("familiar side locked after %d guesses", guesses)
		}
	}
	if !mustCheck(t, l, randomPublicIPv4(r), now) {
		t.Error("unfamiliar side not locked at the end of the spray")
	}
	if mustCheck(t, l, home, now) {
		t.Error("user locked out at home")
	}
	if err := l.Success(ctx, "u1", home, now); err != nil {
		t.Fatal(err)
	}
	// Two lock periods fit in the spray: at most 2 × Threshold guesses reached the password check.
	if guesses > 2*cfg.Threshold {
		t.Errorf("%d guesses checked, want at most %d", guesses, 2*cfg.Threshold)
	}
	if len(*evs) == 0 {
		t.Fatal("no lock reported")
	}
	for _, e := range *evs {
		if e.Kind != lockout.EventLock || e.Side != lockout.Unfamiliar || e.UserID != "u1" {
			t.Errorf("unexpected event %+v", e)
		}
	}
}

func TestCounters(t *testing.T) {
	office := netip.MustParseAddr("2001:db8:1:2::10")
	officeOther := netip.MustParseAddr("2001:db8:1:2:aaaa::99") // same /64: privacy address
	stranger := netip.MustParseAddr("203.0.113.50")
	type step struct {
		op   string // fail, ok, unlock
		ip   netip.Addr
		at   time.Duration
		want map[netip.Addr]bool // Check results after the step
	}
	cases := []struct {
		name  string
		cfg   lockout.Config
		steps []step
		kinds []lockout.EventKind
	}{
		{"threshold locks unfamiliar side", lockout.Config{Threshold: 3},
			[]step{{"ok", office, 0, nil},
				{"fail", stranger, 1 * time.Second, map[netip.Addr]bool{stranger: false}},
				{"fail", stranger, 2 * time.Second, nil},
				{"fail", stranger, 3 * time.Second, map[netip.Addr]bool{stranger: true, office: false, officeOther: false}},
				{"fail", stranger, 16 * time.Minute, map[netip.Addr]bool{stranger: false}}, // lock over, counting again
			}, []lockout.EventKind{lockout.EventLock}},
		{"window expiry resets the count", lockout.Config{Threshold: 3, Window: time.Minute},
			[]step{{"fail", stranger, 0, nil}, {"fail", stranger, 30 * time.Second, nil},
				{"fail", stranger, 2 * time.Minute, map[netip.Addr]bool{stranger: false}}},
			nil},
		{"familiar side has its own counter", lockout.Config{Threshold: 2, FamiliarThreshold: 3},
			[]step{{"ok", office, 0, nil}, {"fail", officeOther, time.Second, nil}, {"fail", office, 2 * time.Second, nil},
				{"fail", stranger, 3 * time.Second, map[netip.Addr]bool{office: false, stranger: false}},
				{"fail", office, 4 * time.Second, map[netip.Addr]bool{office: true, stranger: false}}},
			[]lockout.EventKind{lockout.EventLock}},
		{"log-only never refuses", lockout.Config{Threshold: 2, LogOnly: true},
			[]step{{"fail", stranger, 0, nil}, {"fail", stranger, time.Second, map[netip.Addr]bool{stranger: false}}},
			[]lockout.EventKind{lockout.EventWouldLock}},
		{"admin unlock", lockout.Config{Threshold: 1},
			[]step{{"fail", stranger, 0, map[netip.Addr]bool{stranger: true}},
				{"unlock", netip.Addr{}, time.Second, map[netip.Addr]bool{stranger: false}}},
			[]lockout.EventKind{lockout.EventLock, lockout.EventUnlock}},
		{"success resets its side", lockout.Config{Threshold: 2},
			[]step{{"fail", stranger, 0, nil}, {"ok", stranger, time.Second, nil},
				{"fail", netip.MustParseAddr("203.0.113.51"), 2 * time.Second, map[netip.Addr]bool{stranger: false}}},
			nil},
		{"familiar sources are bounded", lockout.Config{Threshold: 1, FamiliarMax: 2},
			[]step{{"ok", office, 0, nil}, {"ok", netip.MustParseAddr("192.0.2.1"), time.Second, nil},
				{"ok", netip.MustParseAddr("192.0.2.2"), 2 * time.Second, nil},
				{"fail", office, 3 * time.Second, map[netip.Addr]bool{office: true, netip.MustParseAddr("192.0.2.2"): false}}},
			[]lockout.EventKind{lockout.EventLock}},
		{"familiarity expires", lockout.Config{Threshold: 1, FamiliarThreshold: 5, FamiliarTTL: time.Hour},
			[]step{{"ok", office, 0, nil}, {"fail", office, 2 * time.Hour, map[netip.Addr]bool{office: true}}},
			[]lockout.EventKind{lockout.EventLock}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, evs := newLockout(tc.cfg)
			for i, s := range tc.steps {
				at := t0.Add(s.at)
				var err error
				switch s.op {
				case "fail":
					err = l.Failure(ctx, "u1", s.ip, at)
				case "ok":
					err = l.Success(ctx, "u1", s.ip, at)
				case "unlock":
					err = l.Unlock(ctx, "u1", at)
				}
				if err != nil {
					t.Fatal(err)
				}
				for ip, want := range s.want {
					if got := mustCheck(t, l, ip, at); got != want {
						t.Errorf("step %d: Check(%s) = %v, want %v", i, ip, got, want)
					}
				}
			}
			if len(*evs) != len(tc.kinds) {
				t.Fatalf("events %+v, want kinds %v", *evs, tc.kinds)
			}
			for i, k := range tc.kinds {
				if (*evs)[i].Kind != k {
					t.Errorf("event %d = %s, want %s", i, (*evs)[i].Kind, k)
				}
			}
		})
	}
}

func FuzzState(f *testing.F) {
	f.Add([]byte(`{"familiar":[{"prefix":"1.2.3.4/32","last_success":"2025-01-01T00:00:00Z"}],"counters":{"unfamiliar":{"failures":3}}}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st := lockout.NewMemoryStore()
		_ = st.Update(ctx, "u", func([]byte) ([]byte, error) { return b, nil })
		l := lockout.New(st, lockout.Config{}, quiet(), nil)
		// Corrupt state gives errors, never a panic.
		_, _ = l.Check(ctx, "u", home, t0)
		_ = l.Failure(ctx, "u", home, t0)
	})
}

// countingStore counts the writes that reach the store.
type countingStore struct {
	lockout.Store
	updates int
}

func (c *countingStore) Update(ctx context.Context, id string, fn func([]byte) ([]byte, error)) error {
	c.updates++
	return c.Store.Update(ctx, id, fn)
}

// A success writes only when it changes something: the first from a source, one after a
// failure, one after the hour in which the source's last success is kept fresh.
func TestSuccessWritesOnlyWhenItChangesSomething(t *testing.T) {
	st := &countingStore{Store: lockout.NewMemoryStore()}
	l := lockout.New(st, lockout.Config{}, quiet(), nil)
	office := netip.MustParseAddr("203.0.113.9")
	steps := []struct {
		name   string
		do     func() error
		writes int
	}{
		{"first success from home", func() error { return l.Success(ctx, "u1", home, t0) }, 1},
		{"again a minute later", func() error { return l.Success(ctx, "u1", home, t0.Add(time.Minute)) }, 0},
		{"again 59 minutes later", func() error { return l.Success(ctx, "u1", home, t0.Add(59*time.Minute)) }, 0},
		{"a failure from home", func() error { return l.Failure(ctx, "u1", home, t0.Add(59*time.Minute)) }, 1},
		{"success clears the counter", func() error { return l.Success(ctx, "u1", home, t0.Add(60*time.Minute)) }, 1},
		{"a new source", func() error { return l.Success(ctx, "u1", office, t0.Add(61*time.Minute)) }, 1},
		{"home after more than an hour", func() error { return l.Success(ctx, "u1", home, t0.Add(121*time.Minute)) }, 1},
	}
	for _, s := range steps {
		before := st.updates
		if err := s.do(); err != nil {
			t.Fatal(err)
		}
		if got := st.updates - before; got != s.writes {
			t.Fatalf("%s: %d writes, want %d", s.name, got, s.writes)
		}
	}
	if mustCheck(t, l, home, t0.Add(122*time.Minute)) {
		t.Fatal("home locked")
	}
}
