// Package published is the access policy in force: the latest stored policy version compiled
// against the stored named networks, cached for a few seconds so that a change made on any
// node (CLI, console, API) is in force on every node within that bound, and never replaced by
// a version that fails to compile.
package published

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/sekisho/sekisho/internal/policy"
	"github.com/sekisho/sekisho/internal/store"
)

// Compiled is the policy in force with the networks it was compiled against.
type Compiled struct {
	Policy   *policy.Policy // nil when no policy is stored: everything is denied
	Version  int64
	Networks policy.Networks
	names    []string
}

// Inside returns the names of the stored networks that contain ip.
func (c *Compiled) Inside(ip netip.Addr) []string {
	var out []string
	for _, n := range c.names {
		if set, ok := c.Networks.Network(n); ok && set.Contains(ip) {
			out = append(out, n)
		}
	}
	return out
}

// Source loads the latest policy version and the stored networks and compiles them,
// caching the result for TTL so a change made on one node is in force on all within TTL.
// A policy that fails to compile never replaces the last good one.
type Source struct {
	Store store.Store
	TTL   time.Duration
	Log   *slog.Logger
	Now   func() time.Time

	mu     sync.Mutex
	cur    *Compiled
	loaded time.Time
}

// TTL is how long a compiled policy is used before the store is read again: the bound within
// which a published change is in force on every node.
const TTL = 5 * time.Second

// NewSource returns a Source with the TTL cache.
func NewSource(s store.Store, log *slog.Logger) *Source {
	return &Source{Store: s, TTL: TTL, Log: log, Now: time.Now}
}

// Invalidate forces the next Current to reload (after a local change).
func (p *Source) Invalidate() {
	p.mu.Lock()
	p.loaded = time.Time{}
	p.mu.Unlock()
}

// Current returns the compiled policy in force.
func (p *Source) Current(ctx context.Context) (*Compiled, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur != nil && p.Now().Sub(p.loaded) < p.TTL {
		return p.cur, nil
	}
	c, err := Load(ctx, p.Store, nil)
	if err != nil {
		if p.cur != nil {
			p.Log.ErrorContext(ctx, "policy reload failed; keeping the last good policy", "version", p.cur.Version, "err", err)
			p.loaded = p.Now()
			return p.cur, nil
		}
		return nil, err
	}
	p.cur, p.loaded = c, p.Now()
	return c, nil
}

// StoredNetworks compiles the store's named networks.
func StoredNetworks(ctx context.Context, s store.Store) (policy.Networks, []string, error) {
	ns, err := s.ListNetworks(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("list networks: %w", err)
	}
	m := map[string][]string{}
	names := make([]string, 0, len(ns))
	for _, n := range ns {
		m[n.Name] = n.CIDRs
		names = append(names, strings.ToLower(n.Name))
	}
	nets, err := policy.NetworksFromCIDRs(m)
	if err != nil {
		return nil, nil, fmt.Errorf("stored networks: %w", err)
	}
	return nets, names, nil
}

// Load compiles doc (or, when doc is nil, the latest stored version) against the stored
// networks. With no stored policy it returns a Compiled with a nil Policy.
func Load(ctx context.Context, s store.Store, doc *store.PolicyVersion) (*Compiled, error) {
	nets, names, err := StoredNetworks(ctx, s)
	if err != nil {
		return nil, err
	}
	c := &Compiled{Networks: nets, names: names}
	if doc == nil {
		v, err := s.LatestPolicyVersion(ctx)
		if errors.Is(err, store.ErrNotFound) {
			return c, nil
		}
		if err != nil {
			return nil, fmt.Errorf("load policy: %w", err)
		}
		doc = &v
	}
	pol, err := policy.Load(fmt.Sprintf("policy version %d", doc.Version), doc.Document, nets)
	if err != nil {
		return nil, err
	}
	c.Policy, c.Version = pol, doc.Version
	return c, nil
}
