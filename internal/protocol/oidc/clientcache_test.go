package oidc

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/store"
)

type countingApps struct {
	*fakeApps
	reads  atomic.Int64
	during func() // runs inside a read (after the row was read)
}

func (c *countingApps) GetApplicationByEntityID(ctx context.Context, protocol, id string) (store.Application, error) {
	c.reads.Add(1)
	a, err := c.fakeApps.GetApplicationByEntityID(ctx, protocol, id)
	if c.during != nil {
		c.during()
	}
	return a, err
}

func TestClientCache(t *testing.T) {
	ctx := context.Background()
	apps := &countingApps{fakeApps: &fakeApps{rows: map[string]store.Application{}}}
	apps.put(t, "one", ClientConfig{ClientID: "c1", Grants: []string{GrantClientCredentials}, SecretHash: make([]byte, 32)})
	now := time.Unix(1000, 0)
	cc := NewClientCache(apps, time.Second)
	cc.Now = func() time.Time { return now }
	lookup := func() (ClientConfig, error) {
		c, _, err := LookupClient(ctx, cc, "c1")
		return c, err
	}
	for range 3 {
		if c, err := lookup(); err != nil || c.ClientID != "c1" {
			t.Fatal(c, err)
		}
	}
	if n := apps.reads.Load(); n != 1 {
		t.Fatalf("%d reads for three lookups within the TTL", n)
	}
	// A change: the watcher's Forget makes the next lookup read it.
	apps.put(t, "one", ClientConfig{ClientID: "c1", Grants: []string{GrantClientCredentials}, SecretHash: make([]byte, 32), SigningAlg: AlgES256})
	cc.Forget()
	if c, _ := lookup(); c.SigningAlg != AlgES256 || apps.reads.Load() != 2 {
		t.Fatalf("after Forget: %+v, %d reads", c, apps.reads.Load())
	}
	// Without a Forget (the watcher cannot read the version), the TTL bounds it.
	apps.remove("c1")
	if _, err := lookup(); err != nil {
		t.Fatalf("within the TTL: %v", err)
	}
	now = now.Add(time.Second)
	if _, err := lookup(); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after the TTL a removed client: %v", err)
	}
	// Unknown clients are never cached.
	before := apps.reads.Load()
	for range 3 {
		if _, err := lookup(); !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
	}
	if apps.reads.Load() != before+3 {
		t.Fatalf("an unknown client was cached: %d reads", apps.reads.Load()-before)
	}
	// A lookup that read the row before a Forget does not put it back.
	apps.put(t, "one", ClientConfig{ClientID: "c1", Grants: []string{GrantClientCredentials}, SecretHash: make([]byte, 32)})
	apps.during = func() { apps.during = nil; cc.Forget() }
	if _, err := lookup(); err != nil {
		t.Fatal(err)
	}
	before = apps.reads.Load()
	if _, err := lookup(); err != nil || apps.reads.Load() != before+1 {
		t.Fatalf("the answer read across a Forget was cached: %v, %d reads", err, apps.reads.Load()-before)
	}
}
