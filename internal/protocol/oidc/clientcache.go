package oidc

import (
	"context"
	"sync"
	"time"

	"github.com/sekisho/sekisho/internal/store"
)

// ClientCache is a node's cache of OpenID Connect client lookups: every token request reads
// its client (LookupClient), and a read of the applications table plus parsing its settings
// was a fifth of an ES256 client_credentials grant. Only clients found are kept (an unknown
// client_id is asked of the store every time), each for at most TTL, and Forget drops them
// all: the node's change watcher calls it when the store's configuration version moves
// (every applications change moves it), so a client's change or removal is in force within
// the change poll bound, as everywhere else (docs/configuration.md node.change_poll). A
// lookup that started before a Forget does not put its (possibly old) answer back.
//
// The cached ClientConfig is shared by the requests that read it: read only.
type ClientCache struct {
	Apps ApplicationStore
	TTL  time.Duration
	Now  func() time.Time

	mu  sync.Mutex
	gen uint64
	m   map[string]cachedClient
}

type cachedClient struct {
	c    ClientConfig
	name string
	at   time.Time
}

// NewClientCache returns a cache in front of apps keeping each client at most ttl.
func NewClientCache(apps ApplicationStore, ttl time.Duration) *ClientCache {
	return &ClientCache{Apps: apps, TTL: ttl, Now: time.Now, m: map[string]cachedClient{}}
}

// GetApplicationByEntityID passes through: ClientCache is an ApplicationStore so that it can
// stand where the store did, and LookupClient finds it there.
func (cc *ClientCache) GetApplicationByEntityID(ctx context.Context, protocol, entityID string) (store.Application, error) {
	return cc.Apps.GetApplicationByEntityID(ctx, protocol, entityID)
}

// Forget drops every cached client.
func (cc *ClientCache) Forget() {
	cc.mu.Lock()
	cc.gen++
	clear(cc.m)
	cc.mu.Unlock()
}

func (cc *ClientCache) lookup(ctx context.Context, clientID string) (ClientConfig, string, error) {
	now := cc.Now()
	cc.mu.Lock()
	e, ok := cc.m[clientID]
	gen := cc.gen
	cc.mu.Unlock()
	if ok && now.Sub(e.at) < cc.TTL && now.Sub(e.at) >= 0 {
		return e.c, e.name, nil
	}
	c, name, err := lookupClient(ctx, cc.Apps, clientID)
	if err != nil {
		return c, name, err
	}
	cc.mu.Lock()
	if cc.gen == gen {
		cc.m[clientID] = cachedClient{c: c, name: name, at: now}
	}
	cc.mu.Unlock()
	return c, name, nil
}
