package keys_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/sekisho/sekisho/internal/keys"
	"github.com/sekisho/sekisho/internal/store"
)

// The ES256 token key is a P-256 key under its own purpose, rotated like the RSA key and
// without touching it.
func TestES256Rotation(t *testing.T) {
	ctx := context.Background()
	m := newManager(t)
	rsaKey, err := m.CreateTokenKey(ctx, "test", store.KeyCurrent)
	if err != nil {
		t.Fatal(err)
	}
	first, err := m.CreateTokenKeyOf(ctx, keys.PurposeTokenES256, "test es256", store.KeyCurrent)
	if err != nil {
		t.Fatal(err)
	}
	if pub, ok := first.Cert.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Fatalf("ES256 key is a %T", first.Cert.PublicKey)
	}
	verifies := func() bool {
		cur, err := m.Current(ctx, keys.PurposeTokenES256)
		if err != nil {
			t.Fatal(err)
		}
		d := sha256.Sum256([]byte("token"))
		sig, err := cur.Signer.Sign(rand.Reader, d[:], crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := m.Published(ctx, keys.PurposeTokenES256)
		for _, c := range pub {
			if k, ok := c.PublicKey.(*ecdsa.PublicKey); ok && ecdsa.VerifyASN1(k, d[:], sig) {
				return true
			}
		}
		return false
	}
	if !verifies() {
		t.Fatal("the opened ES256 key's signature does not verify with its certificate")
	}
	next, err := m.RotateOf(ctx, keys.PurposeTokenES256, "test es256")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.RotateOf(ctx, keys.PurposeTokenES256, "test es256"); !errors.Is(err, keys.ErrState) {
		t.Fatalf("second rotate: %v", err)
	}
	// The RSA purpose has no next key: its own rotation is independent.
	if _, ok, _ := m.Next(ctx, keys.PurposeToken); ok {
		t.Fatal("rotating ES256 made an RSA next key")
	}
	if cur, _ := m.Current(ctx, keys.PurposeTokenES256); cur.ID != first.ID || !verifies() {
		t.Fatal("current ES256 key changed at rotate")
	}
	if err := m.PromoteOf(ctx, keys.PurposeTokenES256); err != nil {
		t.Fatal(err)
	}
	if cur, _ := m.Current(ctx, keys.PurposeTokenES256); cur.ID != next.ID || !verifies() {
		t.Fatal("promoted ES256 key not current or not published")
	}
	if cur, _ := m.Current(ctx, keys.PurposeToken); cur.ID != rsaKey.ID {
		t.Fatal("promoting ES256 moved the RSA key")
	}
	if n, err := m.RetireOf(ctx, keys.PurposeTokenES256); err != nil || n != 1 {
		t.Fatalf("retire = %d, %v", n, err)
	}
	if ks, _ := m.Keys(ctx, keys.PurposeToken); len(ks) != 1 {
		t.Fatalf("RSA keys after ES256 retire: %d", len(ks))
	}
	for _, f := range []func() error{
		func() error { _, err := m.RotateOf(ctx, keys.PurposeTLSCA, "x"); return err },
		func() error { return m.PromoteOf(ctx, keys.PurposeTLSServer) },
		func() error { _, err := m.RetireOf(ctx, "other"); return err },
	} {
		if err := f(); err == nil {
			t.Error("a non-token purpose was rotated")
		}
	}
}
