package keys_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/keys"
	"github.com/sekisho/sekisho/internal/secrets"
	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/testutil/sqlitetest"
)

func newManager(t *testing.T) *keys.Manager {
	t.Helper()
	s := sqlitetest.Open(t)
	k, _ := secrets.GenerateKey()
	sealer, _ := secrets.New(k)
	m := keys.NewManager(s, sealer)
	m.CacheTTL = 0 // every call reads the store, as another node would
	return m
}

func states(t *testing.T, m *keys.Manager) []store.KeyState {
	t.Helper()
	ks, err := m.Keys(context.Background(), keys.PurposeToken)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]store.KeyState, len(ks))
	for i, k := range ks {
		out[i] = k.State
	}
	return out
}

// signVerifies signs with the current key and checks the signature against every published
// certificate, as a relying party that read the metadata would.
func signVerifies(t *testing.T, m *keys.Manager) bool {
	t.Helper()
	ctx := context.Background()
	cur, err := m.Current(ctx, keys.PurposeToken)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("assertion"))
	sig, err := cur.Signer.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := m.Published(ctx, keys.PurposeToken)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range pub {
		if verifyRSA(c.PublicKey, digest[:], sig) {
			return true
		}
	}
	return false
}

func TestRotation(t *testing.T) {
	ctx := context.Background()
	m := newManager(t)
	if _, err := m.Current(ctx, keys.PurposeToken); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("empty store: %v", err)
	}
	first, err := m.CreateTokenKey(ctx, "test", store.KeyCurrent)
	if err != nil {
		t.Fatal(err)
	}
	if time.Until(first.Cert.NotAfter) < 700*24*time.Hour {
		t.Fatalf("token certificate valid only until %v", first.Cert.NotAfter)
	}
	if err := m.Promote(ctx); !errors.Is(err, keys.ErrState) {
		t.Fatalf("promote without next: %v", err)
	}
	next, err := m.Rotate(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Rotate(ctx, "test"); !errors.Is(err, keys.ErrState) {
		t.Fatalf("second rotate: %v", err)
	}
	// During rotation: the current key still signs; both certificates are published.
	if got := states(t, m); len(got) != 2 || got[0] != store.KeyCurrent || got[1] != store.KeyNext {
		t.Fatalf("after rotate: %v", got)
	}
	if cur, _ := m.Current(ctx, keys.PurposeToken); cur.ID != first.ID || !signVerifies(t, m) {
		t.Fatal("current key changed or its signatures do not verify after rotate")
	}
	if err := m.Promote(ctx); err != nil {
		t.Fatal(err)
	}
	if cur, _ := m.Current(ctx, keys.PurposeToken); cur.ID != next.ID || !signVerifies(t, m) {
		t.Fatal("promoted key not current or not published")
	}
	pub, _ := m.Published(ctx, keys.PurposeToken)
	if len(pub) != 2 {
		t.Fatalf("after promote %d published, want 2 (old stays until retire)", len(pub))
	}
	if n, err := m.Retire(ctx); err != nil || n != 1 {
		t.Fatalf("retire = %d, %v", n, err)
	}
	if got := states(t, m); len(got) != 1 || got[0] != store.KeyCurrent || !signVerifies(t, m) {
		t.Fatalf("after retire: %v", got)
	}
}

func TestTLS(t *testing.T) {
	ctx := context.Background()
	m := newManager(t)
	ca, err := m.EnsureTLS(ctx, []string{"idp.example.com", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := m.EnsureTLS(ctx, []string{"idp.example.com"})
	if err != nil || !again.Equal(ca) {
		t.Fatal("EnsureTLS replaced an existing CA")
	}
	c, err := m.ServerCertificate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Leaf.VerifyHostname("idp.example.com"); err != nil {
		t.Fatal(err)
	}
	if err := c.Leaf.VerifyHostname("127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if err := c.Leaf.CheckSignatureFrom(ca); err != nil {
		t.Fatalf("server certificate not issued by the CA: %v", err)
	}
}

// A Manager bound to a transaction keeps the settings, and its writes go with the transaction.
func TestWithStore(t *testing.T) {
	ctx := context.Background()
	m := newManager(t)
	m.CacheTTL = 3 * time.Second
	err := m.Store.InTx(ctx, func(tx store.Store) error {
		in := m.WithStore(tx)
		if in.Store != tx || in.Sealer != m.Sealer || in.CacheTTL != m.CacheTTL {
			t.Fatalf("WithStore: %+v", in)
		}
		if _, err := in.Rotate(ctx, "test"); err != nil {
			t.Fatal(err)
		}
		return errors.New("roll back")
	})
	if err == nil {
		t.Fatal("transaction committed")
	}
	if got := states(t, m); len(got) != 0 {
		t.Fatalf("key left by a rolled-back transaction: %v", got)
	}
}
