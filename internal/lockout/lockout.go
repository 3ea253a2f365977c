// Package lockout is smart lockout: failed passwords are counted separately for familiar
// sources (addresses the user signed in from successfully before) and unfamiliar ones, so a
// password spray from the internet locks only the unfamiliar side and the user still signs in
// from home or the office.
//
// State lives in a shared Store (one small JSON document per user) so every node sees the same
// counters; writes go through Update, whose compare-and-swap the backend owns.
package lockout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// ErrNotFound is returned by Store.Get when the user has no state yet.
var ErrNotFound = errors.New("no lockout state")

// Store keeps one opaque document per user.
//
// Schema the SQL backends need (one row per user, deleted with the user):
//
//	CREATE TABLE lockout_state (
//	    user_id    TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
//	    data       BLOB NOT NULL,      -- BYTEA on PostgreSQL; JSON written by this package
//	    updated_at TIMESTAMP NOT NULL
//	);
type Store interface {
	// Get returns the user's document, or ErrNotFound.
	Get(ctx context.Context, userID string) ([]byte, error)
	// Update applies fn to the current document (nil when there is none) and stores the result
	// atomically (row lock or compare-and-swap with retry).
	Update(ctx context.Context, userID string, fn func(old []byte) ([]byte, error)) error
}

// Side is which counter a source address belongs to.
type Side string

const (
	Familiar   Side = "familiar"
	Unfamiliar Side = "unfamiliar"
)

// Config holds the thresholds. Zero fields take the defaults of DefaultConfig.
type Config struct {
	Threshold         int           // failures from unfamiliar sources within Window that lock that side (10)
	FamiliarThreshold int           // the same for familiar sources (10)
	Window            time.Duration // observation window of the counters (15 min)
	LockDuration      time.Duration // how long a lock lasts (15 min)
	FamiliarMax       int           // familiar sources remembered per user, most recent kept (10)
	FamiliarTTL       time.Duration // a source stays familiar this long after its last success (90 days)
	PrefixV4          int           // addresses are compared as prefixes of this length (32)
	PrefixV6          int           // (64: privacy addresses rotate within a /64)
	LogOnly           bool          // count and report, but never refuse
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Threshold: 10, FamiliarThreshold: 10, Window: 15 * time.Minute, LockDuration: 15 * time.Minute,
		FamiliarMax: 10, FamiliarTTL: 90 * 24 * time.Hour, PrefixV4: 32, PrefixV6: 64}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	positiveOr(&c.Threshold, d.Threshold)
	positiveOr(&c.FamiliarThreshold, d.FamiliarThreshold)
	positiveOr(&c.Window, d.Window)
	positiveOr(&c.LockDuration, d.LockDuration)
	positiveOr(&c.FamiliarMax, d.FamiliarMax)
	positiveOr(&c.FamiliarTTL, d.FamiliarTTL)
	if c.PrefixV4 <= 0 || c.PrefixV4 > 32 {
		c.PrefixV4 = d.PrefixV4
	}
	if c.PrefixV6 <= 0 || c.PrefixV6 > 128 {
		c.PrefixV6 = d.PrefixV6
	}
	return c
}

// positiveOr sets *v to def unless it is positive.
func positiveOr[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// EventKind says what happened.
type EventKind string

const (
	EventLock      EventKind = "lock"
	EventWouldLock EventKind = "would_lock" // log-only mode
	EventUnlock    EventKind = "unlock"     // by an administrator
)

// Event is one lock or unlock, reported through OnEvent.
type Event struct {
	Kind     EventKind
	UserID   string
	Side     Side   // "" for an administrator's unlock of both sides
	IP       string // the address of the failure that locked
	Failures int
	Until    time.Time
	Time     time.Time
}

// State is a user's lockout document.
type State struct {
	Familiar []Source         `json:"familiar,omitempty"`
	Counters map[Side]Counter `json:"counters,omitempty"`
}

// Source is a familiar source prefix and its last successful sign-in.
type Source struct {
	Prefix      string    `json:"prefix"`
	LastSuccess time.Time `json:"last_success"`
}

// Counter is one side's failures in the current window.
type Counter struct {
	Failures    int       `json:"failures"`
	WindowStart time.Time `json:"window_start"`
	LockedUntil time.Time `json:"locked_until,omitzero"`
}

// Lockout applies smart lockout over a Store.
type Lockout struct {
	Store   Store
	Config  Config
	Log     *slog.Logger
	OnEvent func(context.Context, Event) // called for every lock/unlock, after the state is stored
}

// New returns a Lockout; events are logged and passed to onEvent (which may be nil).
func New(s Store, cfg Config, log *slog.Logger, onEvent func(context.Context, Event)) *Lockout {
	if log == nil {
		log = slog.Default()
	}
	return &Lockout{Store: s, Config: cfg.withDefaults(), Log: log, OnEvent: onEvent}
}

func (l *Lockout) prefix(ip netip.Addr) string {
	ip = ip.Unmap()
	bits := l.Config.PrefixV4
	if ip.Is6() {
		bits = l.Config.PrefixV6
	}
	p, err := ip.Prefix(bits)
	if err != nil {
		return ip.String()
	}
	return p.String()
}

func (l *Lockout) load(ctx context.Context, userID string) (State, error) {
	b, err := l.Store.Get(ctx, userID)
	if errors.Is(err, ErrNotFound) {
		return State{}, nil
	} else if err != nil {
		return State{}, fmt.Errorf("lockout state of %s: %w", userID, err)
	}
	return decode(b)
}

func decode(b []byte) (State, error) {
	var s State
	if len(b) == 0 {
		return s, nil
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return State{}, fmt.Errorf("lockout state: %w", err)
	}
	return s, nil
}

// sideOf says whether ip is familiar for the state at now.
func (l *Lockout) sideOf(s State, ip netip.Addr, now time.Time) Side {
	p := l.prefix(ip)
	for _, f := range s.Familiar {
		if f.Prefix == p && now.Sub(f.LastSuccess) < l.Config.FamiliarTTL {
			return Familiar
		}
	}
	return Unfamiliar
}

// Check reports whether sign-ins of userID from ip are locked at now. Call it before checking
// the password. In log-only mode it never reports a lock.
func (l *Lockout) Check(ctx context.Context, userID string, ip netip.Addr, now time.Time) (bool, error) {
	s, err := l.load(ctx, userID)
	if err != nil {
		return false, err
	}
	side := l.sideOf(s, ip, now)
	locked := now.Before(s.Counters[side].LockedUntil)
	return locked && !l.Config.LogOnly, nil
}

// Status returns the user's state (for the admin console and CLI).
func (l *Lockout) Status(ctx context.Context, userID string) (State, error) {
	return l.load(ctx, userID)
}

// update runs fn on the decoded state and stores it.
func (l *Lockout) update(ctx context.Context, userID string, fn func(*State)) error {
	return l.Store.Update(ctx, userID, func(old []byte) ([]byte, error) {
		s, err := decode(old)
		if err != nil {
			return nil, err
		}
		fn(&s)
		return json.Marshal(s)
	})
}

// Failure counts a wrong password for userID from ip at now; it locks that side when the
// threshold is reached within the window.
func (l *Lockout) Failure(ctx context.Context, userID string, ip netip.Addr, now time.Time) error {
	var ev *Event
	err := l.update(ctx, userID, func(s *State) {
		ev = nil
		side := l.sideOf(*s, ip, now)
		if s.Counters == nil {
			s.Counters = map[Side]Counter{}
		}
		c := s.Counters[side]
		if now.Before(c.LockedUntil) {
			return // already locked: attempts are refused before the password check
		}
		if c.Failures == 0 || now.Sub(c.WindowStart) >= l.Config.Window || !c.LockedUntil.IsZero() {
			c = Counter{WindowStart: now}
		}
		c.Failures++
		limit := l.Config.Threshold
		if side == Familiar {
			limit = l.Config.FamiliarThreshold
		}
		if c.Failures >= limit {
			c.LockedUntil = now.Add(l.Config.LockDuration)
			kind := EventLock
			if l.Config.LogOnly {
				kind = EventWouldLock
			}
			ev = &Event{Kind: kind, UserID: userID, Side: side, IP: ip.Unmap().String(), Failures: c.Failures, Until: c.LockedUntil, Time: now}
		}
		s.Counters[side] = c
	})
	if err != nil {
		return fmt.Errorf("lockout failure of %s: %w", userID, err)
	}
	if ev != nil {
		l.report(ctx, *ev)
	}
	return nil
}

// Success records a correct password from ip: the source becomes (or stays) familiar, and the
// counter of its side starts over.
func (l *Lockout) Success(ctx context.Context, userID string, ip netip.Addr, now time.Time) error {
	// The steady state (a familiar source, no counter on its side, its last success recent)
	// needs no write: a sign-in costs one read here, not a locked read-modify-write.
	if cur, err := l.load(ctx, userID); err == nil && l.unchangedBySuccess(cur, ip, now) {
		return nil
	}
	err := l.update(ctx, userID, func(s *State) {
		side := l.sideOf(*s, ip, now)
		if c, ok := s.Counters[side]; ok && !now.Before(c.LockedUntil) {
			delete(s.Counters, side)
		}
		p := l.prefix(ip)
		s.Familiar = slices.DeleteFunc(s.Familiar, func(f Source) bool {
			return f.Prefix == p || now.Sub(f.LastSuccess) >= l.Config.FamiliarTTL
		})
		s.Familiar = append(s.Familiar, Source{Prefix: p, LastSuccess: now.UTC()})
		slices.SortFunc(s.Familiar, func(a, b Source) int { return b.LastSuccess.Compare(a.LastSuccess) })
		if len(s.Familiar) > l.Config.FamiliarMax {
			s.Familiar = s.Familiar[:l.Config.FamiliarMax]
		}
	})
	if err != nil {
		return fmt.Errorf("lockout success of %s: %w", userID, err)
	}
	return nil
}

// successRefresh is how stale a familiar source's last success may be before a success
// records it again (familiarity lasts FamiliarTTL, 90 days by default).
const successRefresh = time.Hour

// unchangedBySuccess reports whether a success from ip at now would change nothing that
// matters in s: ip's source is familiar with a last success less than successRefresh ago and
// its side has no counter to clear.
func (l *Lockout) unchangedBySuccess(s State, ip netip.Addr, now time.Time) bool {
	p := l.prefix(ip)
	for _, f := range s.Familiar {
		if f.Prefix == p && now.Sub(f.LastSuccess) < min(successRefresh, l.Config.FamiliarTTL) && !now.Before(f.LastSuccess) {
			_, counted := s.Counters[Familiar]
			return !counted
		}
	}
	return false
}

// Unlock clears both sides' counters and locks of userID (familiar sources are kept).
func (l *Lockout) Unlock(ctx context.Context, userID string, now time.Time) error {
	if err := l.update(ctx, userID, func(s *State) { s.Counters = nil }); err != nil {
		return fmt.Errorf("unlock %s: %w", userID, err)
	}
	l.report(ctx, Event{Kind: EventUnlock, UserID: userID, Time: now})
	return nil
}

func (l *Lockout) report(ctx context.Context, ev Event) {
	l.Log.WarnContext(ctx, "smart lockout", "event", string(ev.Kind), "user", ev.UserID, "side", string(ev.Side),
		"ip", ev.IP, "failures", ev.Failures, "until", ev.Until)
	if l.OnEvent != nil {
		l.OnEvent(ctx, ev)
	}
}

// MemoryStore is an in-process Store for tests and single-node trials.
type MemoryStore struct {
	mu sync.Mutex
	m  map[string][]byte
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{m: map[string][]byte{}} }

// Get implements Store.
func (m *MemoryStore) Get(_ context.Context, userID string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.m[userID]
	if !ok {
		return nil, ErrNotFound
	}
	return slices.Clone(b), nil
}

// Update implements Store.
func (m *MemoryStore) Update(_ context.Context, userID string, fn func([]byte) ([]byte, error)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	nb, err := fn(slices.Clone(m.m[userID]))
	if err != nil {
		return err
	}
	m.m[userID] = nb
	return nil
}
