package setup_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/base32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/keys"
	"github.com/sekisho/sekisho/internal/secrets"
	"github.com/sekisho/sekisho/internal/setup"
)

func TestInitDemoAndReopen(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	res, err := setup.Init(ctx, dir, setup.InitOptions{Demo: true}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.AdminPassword == "" || len(res.DemoUsers) != 3 {
		t.Fatalf("result %+v", res)
	}
	st, err := os.Stat(filepath.Join(dir, "master.key"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("master key file: %v %v", st, err)
	}
	if _, err := setup.Init(ctx, dir, setup.InitOptions{}, io.Discard); err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Fatalf("second init: %v", err)
	}
	in, err := setup.Open(ctx, dir, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if _, err := in.Directory.Authenticate(ctx, "admin@example.com", res.AdminPassword); err != nil {
		t.Fatalf("admin cannot sign in with the printed password: %v", err)
	}
	if v, err := in.Store.LatestPolicyVersion(ctx); err != nil || v.Version != 1 {
		t.Fatalf("demo policy: %+v %v", v, err)
	}
}

// TestNoSecretsInPlainForm opens the database files byte by byte and looks for every private
// key Sekisho holds (private scalars, PEM) and a TOTP seed (raw and base32).
func TestNoSecretsInPlainForm(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := setup.Init(ctx, dir, setup.InitOptions{Demo: true}, io.Discard); err != nil {
		t.Fatal(err)
	}
	in, err := setup.Open(ctx, dir, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var secretsDER [][]byte
	for _, p := range []string{keys.PurposeToken, keys.PurposeTokenES256, keys.PurposeTLSCA, keys.PurposeTLSServer} {
		ks, err := in.Keys.Keys(ctx, p)
		if err != nil || len(ks) == 0 {
			t.Fatalf("%s keys: %v", p, err)
		}
		for _, k := range ks {
			// The private parts only: the public modulus is in the certificate, rightly.
			switch pk := k.Signer.(type) {
			case *rsa.PrivateKey:
				secretsDER = append(secretsDER, pk.D.Bytes(), pk.Primes[0].Bytes(), pk.Primes[1].Bytes())
			case *ecdsa.PrivateKey:
				d, _ := pk.Bytes()
				secretsDER = append(secretsDER, d)
			default:
				t.Fatalf("unexpected key type %T", pk)
			}
		}
	}
	// A TOTP seed and a passkey-capable factors document go to the store too.
	alice, err := in.Store.GetUserByUPN(ctx, "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	en, err := in.Factors.Enroll(ctx, alice.ID, alice.UPN, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	seed, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(en.Secret)
	if err != nil || len(seed) < 10 {
		t.Fatalf("seed %q: %v", en.Secret, err)
	}
	secretsDER = append(secretsDER, seed, []byte(en.Secret))
	in.Close()
	var db []byte
	for _, f := range []string{"sekisho.db", "sekisho.db-wal"} {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		db = append(db, b...)
	}
	if len(db) < 4096 {
		t.Fatalf("database files look empty (%d bytes)", len(db))
	}
	if bytes.Contains(db, []byte("PRIVATE KEY")) {
		t.Fatal("database holds a PEM private key")
	}
	for i, der := range secretsDER {
		// No 16-byte window of any private scalar may appear.
		for off := 0; off+16 <= len(der); off += 8 {
			if bytes.Contains(db, der[off:off+16]) {
				t.Fatalf("key %d appears in plain form in the database at key offset %d", i, off)
			}
		}
	}
}

func TestWrongMasterKeyRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := setup.Init(ctx, dir, setup.InitOptions{}, io.Discard); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "sekisho.db"))
	other, _ := secrets.GenerateKey()
	t.Setenv("SEKISHO_MASTER_KEY", secrets.EncodeKey(other))
	_, err := setup.Open(ctx, dir, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "does not open the keys") {
		t.Fatalf("open with the wrong master key: %v", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "sekisho.db"))
	if !bytes.Equal(before, after) {
		t.Fatal("database changed after a refused start")
	}
}

func TestBadConfigRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := setup.Init(ctx, dir, setup.InitOptions{}, io.Discard); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "sekisho.yaml")
	for _, c := range []struct{ yaml, want string }{
		{"store:\n  driver: oracle\n", "sekisho.yaml:2: store.driver: unknown store driver \"oracle\""},
		{"listen: [\n", "sekisho.yaml"},
	} {
		if err := os.WriteFile(cfg, []byte(c.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := setup.Open(ctx, dir, io.Discard); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("config %q: err %v, want %q", c.yaml, err, c.want)
		}
	}
}
