package devicecert

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/keys"
	"github.com/sekisho/sekisho/internal/secrets"
	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/testutil/sqlitetest"
)

// countingStore counts the device reads and writes verification makes; during, if set, runs
// inside each device read (e.g. a ForgetAll racing with it); failWrites refuses device updates.
type countingStore struct {
	store.Store
	reads, writes atomic.Int64
	during        func()
	failWrites    atomic.Bool
}

func (s *countingStore) GetDeviceBySerial(ctx context.Context, serial string) (store.Device, error) {
	s.reads.Add(1)
	d, err := s.Store.GetDeviceBySerial(ctx, serial)
	if s.during != nil {
		s.during()
	}
	return d, err
}

func (s *countingStore) UpdateDevice(ctx context.Context, id string, fn func(store.Device) (store.Device, error)) (store.Device, error) {
	s.writes.Add(1)
	if s.failWrites.Load() {
		return store.Device{}, errors.New("store refuses writes")
	}
	return s.Store.UpdateDevice(ctx, id, fn)
}

// clock is a settable CA clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type cacheEnv struct {
	ctx    context.Context
	st     *countingStore
	sealer *secrets.Sealer
	clk    *clock
	ca     *CA
}

func newCacheEnv(t testing.TB) *cacheEnv {
	t.Helper()
	ctx := context.Background()
	st := &countingStore{Store: sqlitetest.Open(t)}
	key, _ := secrets.GenerateKey()
	sealer, err := secrets.New(key)
	if err != nil {
		t.Fatal(err)
	}
	e := &cacheEnv{ctx: ctx, st: st, sealer: sealer, clk: &clock{t: time.Now()}}
	e.ca = e.node()
	for _, id := range []string{"u-alice", "u-bob"} {
		if err := st.CreateUser(ctx, store.User{ID: id, UPN: id[2:] + "@example.com", Status: store.UserActive}); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// node is another CA on the same store and clock, with caches of its own (another server).
func (e *cacheEnv) node() *CA {
	ca := New(e.st, keys.NewManager(e.st, e.sealer), e.sealer)
	ca.Now, ca.Log = e.clk.Now, slog.New(slog.NewTextHandler(io.Discard, nil))
	return ca
}

func (e *cacheEnv) issue(t testing.TB, user string) (store.Device, *x509.Certificate) {
	t.Helper()
	d, _, _, err := e.ca.Issue(e.ctx, user, "laptop", "windows", 0)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(d.CertDER)
	if err != nil {
		t.Fatal(err)
	}
	return d, c
}

func (e *cacheEnv) verify(t *testing.T, c *x509.Certificate, user string, at time.Time) Result {
	t.Helper()
	r, err := e.ca.Verify(e.ctx, c, nil, user, at)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// cached reports whether the chain of c is remembered as verified at now.
func (e *cacheEnv) cached(t *testing.T, c *x509.Certificate, now time.Time) bool {
	t.Helper()
	published, err := e.ca.Keys.Published(e.ctx, PurposeDeviceCA)
	if err != nil {
		t.Fatal(err)
	}
	return e.ca.chains.valid(chainKey(c, nil), published, now)
}

// certFrom makes a client certificate with serial signed by issuer's key.
func certFrom(t *testing.T, serial *big.Int, issuer *x509.Certificate, signer any) *x509.Certificate {
	t.Helper()
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "laptop"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if issuer == nil {
		issuer = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, &priv.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

// otherCA makes a CA certificate of the same name as ours, with a key of its own.
func otherCA(t *testing.T, name string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name, Organization: []string{"Sekisho"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(48 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, priv
}

func TestChainCache(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T, e *cacheEnv)
	}{
		{"a hit returns the same result without verifying again", func(t *testing.T, e *cacheEnv) {
			_, c := e.issue(t, "u-alice")
			now := e.clk.Now()
			e.verify(t, c, "u-alice", now) // the first sign-in marks it in use: its state changes
			e.ca.chains = chainCache{}
			for _, user := range []string{"", "u-alice", "u-bob"} {
				first := e.verify(t, c, user, now)
				if !e.cached(t, c, now) {
					t.Fatal("a verified chain is not remembered")
				}
				again := e.verify(t, c, user, now)
				if !reflect.DeepEqual(first, again) {
					t.Fatalf("user %q: first %+v, from the cache %+v", user, first, again)
				}
			}
			if e.ca.chains.len() != 1 {
				t.Fatalf("%d chains remembered for one certificate", e.ca.chains.len())
			}
		}},
		{"a hit still reads the device row on every verification without a row cache", func(t *testing.T, e *cacheEnv) {
			e.ca.CacheTTL = 0
			_, c := e.issue(t, "u-alice")
			now := e.clk.Now()
			before := e.st.reads.Load()
			for range 3 {
				if r := e.verify(t, c, "", now); !r.Valid {
					t.Fatalf("%+v", r)
				}
			}
			if n := e.st.reads.Load() - before; n != 3 {
				t.Fatalf("%d row reads for 3 verifications", n)
			}
		}},
		{"revoked on another node: refused at the next change poll (ForgetAll)", func(t *testing.T, e *cacheEnv) {
			d, c := e.issue(t, "u-alice")
			now := e.clk.Now()
			if r := e.verify(t, c, "", now); !r.Valid {
				t.Fatalf("%+v", r)
			}
			if _, err := e.node().Revoke(e.ctx, d.ID); err != nil {
				t.Fatal(err)
			}
			e.ca.ForgetAll() // what internal/changes does when config_version moved
			r := e.verify(t, c, "", now)
			if r.Valid || r.Reason != ReasonRevoked {
				t.Fatalf("after revocation and ForgetAll: %+v", r)
			}
			if !e.cached(t, c, now) {
				t.Fatal("the chain itself should still be remembered (revocation is the row's)")
			}
		}},
		{"revoked on another node, no change poll: refused once the row is CacheTTL old", func(t *testing.T, e *cacheEnv) {
			d, c := e.issue(t, "u-alice")
			if r := e.verify(t, c, "", e.clk.Now()); !r.Valid {
				t.Fatalf("%+v", r)
			}
			if _, err := e.node().Revoke(e.ctx, d.ID); err != nil {
				t.Fatal(err)
			}
			e.clk.Add(e.ca.CacheTTL - time.Millisecond)
			if r := e.verify(t, c, "", e.clk.Now()); !r.Valid {
				t.Fatalf("within the row's lifetime the cached row answers: %+v", r)
			}
			e.clk.Add(time.Millisecond)
			if r := e.verify(t, c, "", e.clk.Now()); r.Valid || r.Reason != ReasonRevoked {
				t.Fatalf("at CacheTTL after the read: %+v", r)
			}
		}},
		{"revoked while the row was being read: that read is not cached", func(t *testing.T, e *cacheEnv) {
			d, c := e.issue(t, "u-alice")
			other := e.node()
			e.st.during = func() {
				e.st.during = nil
				if _, err := other.Revoke(e.ctx, d.ID); err != nil {
					t.Error(err)
				}
				e.ca.ForgetAll() // the change poll fires while the (stale) row is on its way
			}
			if r := e.verify(t, c, "", e.clk.Now()); !r.Valid {
				t.Fatalf("the read that began before the revocation: %+v", r)
			}
			if r := e.verify(t, c, "", e.clk.Now()); r.Valid || r.Reason != ReasonRevoked {
				t.Fatalf("the next verification used the stale row: %+v", r)
			}
		}},
		{"expired or not yet valid: refused by the chain check even when cached", func(t *testing.T, e *cacheEnv) {
			_, c := e.issue(t, "u-alice")
			if r := e.verify(t, c, "", e.clk.Now()); !r.Valid {
				t.Fatalf("%+v", r)
			}
			reads := e.st.reads.Load()
			for _, tc := range []struct {
				at     time.Time
				reason string
			}{
				{c.NotBefore.Add(-time.Second), ReasonNotYetValid},
				{c.NotAfter.Add(time.Second), ReasonExpired},
			} {
				if r := e.verify(t, c, "", tc.at); r.Valid || r.Reason != tc.reason {
					t.Fatalf("at %v: %+v, want %s", tc.at, r, tc.reason)
				}
			}
			if e.st.reads.Load() != reads {
				t.Fatal("an expired chain reached the row lookup: the cache answered for it")
			}
			if e.cached(t, c, c.NotAfter.Add(time.Second)) || e.ca.chains.len() != 0 {
				t.Fatal("an expired chain is still remembered")
			}
		}},
		{"a CA certificate no longer published: the cached chain does not count", func(t *testing.T, e *cacheEnv) {
			_, c := e.issue(t, "u-alice")
			if r := e.verify(t, c, "", e.clk.Now()); !r.Valid {
				t.Fatalf("%+v", r)
			}
			// The same CA object now reads a store whose only device CA is another one.
			st2 := sqlitetest.Open(t)
			fresh := New(st2, keys.NewManager(st2, e.sealer), e.sealer)
			fresh.Log = e.ca.Log
			if _, err := fresh.Key(e.ctx); err != nil {
				t.Fatal(err)
			}
			e.ca.Keys = fresh.Keys
			if r := e.verify(t, c, "", e.clk.Now()); r.Valid || r.Reason != ReasonUntrusted {
				t.Fatalf("chain to a CA that is gone: %+v", r)
			}
		}},
		{"same serial from another CA of the same name is not confused", func(t *testing.T, e *cacheEnv) {
			d, c := e.issue(t, "u-alice")
			if r := e.verify(t, c, "", e.clk.Now()); !r.Valid {
				t.Fatalf("%+v", r)
			}
			foreignCA, foreignKey := otherCA(t, e.ca.Name)
			forged := certFrom(t, c.SerialNumber, foreignCA, foreignKey)
			if SerialString(forged.SerialNumber) != d.Serial {
				t.Fatal("test setup: serials differ")
			}
			r, err := e.ca.Verify(e.ctx, forged, []*x509.Certificate{foreignCA}, "", e.clk.Now())
			if err != nil || r.Valid || r.Reason != ReasonUntrusted {
				t.Fatalf("same serial, another CA: %+v, %v", r, err)
			}
			if r := e.verify(t, forged, "", e.clk.Now()); r.Valid || r.Reason != ReasonUntrusted {
				t.Fatalf("same serial, another CA, no intermediates: %+v", r)
			}
			// Same serial, signed by our own CA key, but not the certificate we issued.
			k, err := e.ca.Key(e.ctx)
			if err != nil {
				t.Fatal(err)
			}
			twin := certFrom(t, c.SerialNumber, k.Cert, k.Signer)
			if r := e.verify(t, twin, "", e.clk.Now()); r.Valid || r.Reason != ReasonUnknown {
				t.Fatalf("same serial, our CA, other bytes: %+v", r)
			}
			if r := e.verify(t, c, "", e.clk.Now()); !r.Valid {
				t.Fatalf("the real one afterwards: %+v", r)
			}
		}},
		{"the same leaf with other intermediates is verified on its own", func(t *testing.T, e *cacheEnv) {
			_, c := e.issue(t, "u-alice")
			foreignCA, _ := otherCA(t, "someone else")
			if r := e.verify(t, c, "", e.clk.Now()); !r.Valid {
				t.Fatalf("%+v", r)
			}
			if chainKey(c, nil) == chainKey(c, []*x509.Certificate{foreignCA}) {
				t.Fatal("intermediates are not part of the key")
			}
			r, err := e.ca.Verify(e.ctx, c, []*x509.Certificate{foreignCA}, "", e.clk.Now())
			if err != nil || !r.Valid {
				t.Fatalf("%+v, %v", r, err)
			}
			if e.ca.chains.len() != 2 {
				t.Fatalf("%d chains remembered, want 2", e.ca.chains.len())
			}
		}},
		{"bounded: the least recently used chain goes first", func(t *testing.T, e *cacheEnv) {
			e.ca.ChainCacheSize = 3
			var certs []*x509.Certificate
			for range 5 {
				_, c := e.issue(t, "u-alice")
				certs = append(certs, c)
			}
			now := e.clk.Now()
			for _, c := range certs[:3] {
				e.verify(t, c, "", now)
			}
			e.verify(t, certs[0], "", now) // used again: certs[1] is now the oldest
			for _, c := range certs[3:] {
				e.verify(t, c, "", now)
			}
			if n := e.ca.chains.len(); n != 3 {
				t.Fatalf("%d chains remembered, bound 3", n)
			}
			for i, want := range []bool{true, false, false, true, true} {
				if got := e.cached(t, certs[i], now); got != want {
					t.Errorf("certificate %d remembered %v, want %v", i, got, want)
				}
			}
		}},
		{"off: nothing remembered", func(t *testing.T, e *cacheEnv) {
			e.ca.ChainCacheSize = 0
			_, c := e.issue(t, "u-alice")
			if r := e.verify(t, c, "", e.clk.Now()); !r.Valid {
				t.Fatalf("%+v", r)
			}
			if e.ca.chains.len() != 0 {
				t.Fatal("a chain was remembered with the cache off")
			}
		}},
		{"untrusted chains are not remembered", func(t *testing.T, e *cacheEnv) {
			e.issue(t, "u-alice") // creates the CA
			foreignCA, foreignKey := otherCA(t, "x")
			for i := range 10 {
				e.verify(t, certFrom(t, big.NewInt(int64(i+1)), foreignCA, foreignKey), "", e.clk.Now())
			}
			if n := e.ca.chains.len(); n != 0 {
				t.Fatalf("%d untrusted chains remembered", n)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newCacheEnv(t)) })
	}
}

func TestMarkSeenWritesOnce(t *testing.T) {
	cases := []struct {
		name       string
		failWrites bool
		verifies   int
		wantWrites int64
	}{
		{"first sign-in marks the device in use, later ones write nothing", false, 5, 1},
		{"a store refusing the write is not asked again within a minute", true, 5, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newCacheEnv(t)
			d, c := e.issue(t, "u-alice")
			e.st.failWrites.Store(tc.failWrites)
			before := e.st.writes.Load()
			for range tc.verifies {
				if r := e.verify(t, c, "u-alice", e.clk.Now()); !r.Valid || !r.BoundToUser {
					t.Fatalf("%+v", r)
				}
				if r := e.verify(t, c, "", e.clk.Now()); !r.Valid { // handshakes never write
					t.Fatalf("%+v", r)
				}
			}
			if n := e.st.writes.Load() - before; n != tc.wantWrites {
				t.Fatalf("%d writes, want %d", n, tc.wantWrites)
			}
			got, _ := e.st.GetDevice(e.ctx, d.ID)
			if !tc.failWrites && (got.Status != StatusInUse || got.FirstSeenAt.IsZero()) {
				t.Fatalf("not marked in use: %+v", got)
			}
			if tc.failWrites {
				e.clk.Add(seenRetry)
				e.verify(t, c, "u-alice", e.clk.Now())
				if n := e.st.writes.Load() - before; n != tc.wantWrites+1 {
					t.Fatalf("after a minute: %d writes, want %d", n, tc.wantWrites+1)
				}
			}
		})
	}
}

func TestVerifyConcurrently(t *testing.T) {
	e := newCacheEnv(t)
	e.ca.ChainCacheSize = 4 // smaller than the set: hits, misses and evictions interleave
	var certs []*x509.Certificate
	var revoked []bool
	for i := range 8 {
		d, c := e.issue(t, "u-alice")
		if i%4 == 0 {
			if _, err := e.ca.Revoke(e.ctx, d.ID); err != nil {
				t.Fatal(err)
			}
		}
		certs, revoked = append(certs, c), append(revoked, i%4 == 0)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Go(func() {
			for i := range 50 {
				k := (w + i) % len(certs)
				if i%17 == 0 {
					e.ca.ForgetAll()
				}
				r, err := e.ca.Verify(e.ctx, certs[k], nil, "", e.clk.Now())
				if err == nil && r.Valid == revoked[k] {
					err = fmt.Errorf("certificate %d: %+v", k, r)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := e.ca.chains.len(); n > 4 {
		t.Fatalf("%d chains remembered, bound 4", n)
	}
}

// BenchmarkVerify is the cost of the handshake's check (userID ""), per configuration:
// go test -run - -bench Verify ./internal/devicecert/
func BenchmarkVerify(b *testing.B) {
	for _, bc := range []struct {
		name   string
		rowTTL time.Duration
		chains int
	}{
		{"default", defaultCacheTTL, defaultChainCache},
		{"strict", 0, defaultChainCache},
		{"default-nochaincache", defaultCacheTTL, 0},
		{"strict-nochaincache", 0, 0},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := newCacheEnv(b)
			_, c := e.issue(b, "u-alice")
			e.ca.Now = time.Now
			e.ca.CacheTTL, e.ca.ChainCacheSize = bc.rowTTL, bc.chains
			for b.Loop() {
				if r, err := e.ca.Verify(e.ctx, c, nil, "", time.Now()); err != nil || !r.Valid {
					b.Fatal(r, err)
				}
			}
		})
	}
}

func TestSerialString(t *testing.T) {
	for _, n := range []*big.Int{nil, big.NewInt(0), big.NewInt(255), big.NewInt(-4096), new(big.Int).Lsh(big.NewInt(0xabcdef), 120)} {
		if got, want := SerialString(n), fmt.Sprintf("%x", n); got != want {
			t.Errorf("SerialString(%v) = %q, want %q", n, got, want)
		}
	}
}
