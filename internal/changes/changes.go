// Package changes tells a running node that configuration it caches changed in the store,
// wherever the change was made: this node's console or API, another node, or the CLI on the
// database directly. The store keeps one counter that its triggers move forward with every
// change to applications, Microsoft 365 domains, networks, policy versions, signing keys and
// devices; the Watcher polls it (one indexed single-row read per interval) and, when it moved,
// calls every subscriber, which drops its cache. A change is therefore in force on every node
// within one poll interval plus the subscriber's reload.
//
// Polling rather than PostgreSQL's LISTEN/NOTIFY: it works alike on SQLite (where the CLI
// writes the file while the server runs) and PostgreSQL, needs no dedicated connection that
// may silently die, and a missed notification cannot exist.
package changes

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// DefaultEvery is the default poll interval (config node.change_poll).
const DefaultEvery = time.Second

// Versioner is the store's change counter.
type Versioner interface {
	ConfigVersion(ctx context.Context) (int64, error)
}

// Watcher polls a Versioner and calls its subscribers when the version moves.
type Watcher struct {
	Source Versioner
	Every  time.Duration
	Log    *slog.Logger

	mu      sync.Mutex
	subs    []func(context.Context)
	version int64
	seen    bool
}

// New returns a Watcher polling src every DefaultEvery.
func New(src Versioner, log *slog.Logger) *Watcher {
	return &Watcher{Source: src, Every: DefaultEvery, Log: log}
}

// OnChange adds fn to the functions called (in order, from the polling goroutine) when the
// version moves. fn should drop a cache, or reload it and keep the old one on failure.
func (w *Watcher) OnChange(fn func(ctx context.Context)) {
	w.mu.Lock()
	w.subs = append(w.subs, fn)
	w.mu.Unlock()
}

// Version returns the last version seen (0 before the first successful poll).
func (w *Watcher) Version() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.version
}

// Poll reads the version once and, if it moved since the last poll (or this is the first),
// calls every subscriber. It reports whether it did.
func (w *Watcher) Poll(ctx context.Context) (bool, error) {
	v, err := w.Source.ConfigVersion(ctx)
	if err != nil {
		return false, err
	}
	w.mu.Lock()
	moved := !w.seen || v != w.version
	w.version, w.seen = v, true
	subs := append([]func(context.Context){}, w.subs...)
	w.mu.Unlock()
	if !moved {
		return false, nil
	}
	for _, fn := range subs {
		fn(ctx)
	}
	return true, nil
}

// Run polls every Every until ctx ends. A failed poll is logged once per outage (the store
// being down is what readiness reports); the caches keep what they have.
func (w *Watcher) Run(ctx context.Context) {
	t := time.NewTicker(w.Every)
	defer t.Stop()
	failing := false
	for {
		pctx, cancel := context.WithTimeout(ctx, max(w.Every, time.Second))
		moved, err := w.Poll(pctx)
		cancel()
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			w.Log.WarnContext(ctx, "cannot read the configuration version; caches kept until the store answers", "err", err)
			failing = true
		case err == nil && failing:
			w.Log.InfoContext(ctx, "configuration version readable again")
			failing = false
		}
		if moved {
			w.Log.DebugContext(ctx, "configuration changed; caches dropped", "version", w.Version())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
