package secrets

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestSealOpen(t *testing.T) {
	k1, _ := GenerateKey()
	k2, _ := GenerateKey()
	s1, err := New(k1)
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := New(k2)
	plain := []byte("-----BEGIN PRIVATE KEY----- secret")
	sealed, err := s1.Seal(plain, []byte("row:1"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, plain[:10]) {
		t.Fatal("sealed value contains plain text")
	}
	cases := []struct {
		name    string
		s       *Sealer
		in, aad []byte
		wantErr error
		ok      bool
	}{
		{"same key and aad", s1, sealed, []byte("row:1"), nil, true},
		{"other aad", s1, sealed, []byte("row:2"), nil, false},
		{"wrong key", s2, sealed, []byte("row:1"), ErrWrongKey, false},
		{"truncated", s1, sealed[:10], []byte("row:1"), nil, false},
		{"flipped byte", s1, flip(sealed, len(sealed)-1), []byte("row:1"), nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.s.Open(c.in, c.aad)
			if c.ok {
				if err != nil || !bytes.Equal(got, plain) {
					t.Fatalf("Open = %q, %v", got, err)
				}
				return
			}
			if err == nil {
				t.Fatal("Open succeeded, want error")
			}
			if c.wantErr != nil && !errors.Is(err, c.wantErr) {
				t.Fatalf("err = %v, want %v", err, c.wantErr)
			}
		})
	}
}

func flip(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 1
	return c
}

func TestKeyFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "master.key")
	k, _ := GenerateKey()
	if err := WriteKeyFile(p, k); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode = %v, want 0600", st.Mode().Perm())
	}
	if err := WriteKeyFile(p, k); err == nil {
		t.Fatal("second WriteKeyFile overwrote the key")
	}
	t.Setenv("SEKISHO_MASTER_KEY", "")
	got, err := LoadKey(p)
	if err != nil || !bytes.Equal(got, k) {
		t.Fatalf("LoadKey = %x, %v", got, err)
	}
	k2, _ := GenerateKey()
	t.Setenv("SEKISHO_MASTER_KEY", EncodeKey(k2))
	got, _ = LoadKey(p)
	if !bytes.Equal(got, k2) {
		t.Fatal("SEKISHO_MASTER_KEY did not take precedence")
	}
	t.Setenv("SEKISHO_MASTER_KEY", "bm90LTMyLWJ5dGVz")
	if _, err := LoadKey(p); err == nil {
		t.Fatal("short key accepted")
	}
}

// KeyedHash is HMAC-SHA256 over the parts joined by a zero byte: the exact bytes the stored
// API-token and OIDC client-secret hashes were made with, so moving to it changed none.
func TestKeyedHash(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	tests := []struct {
		parts []string
		raw   string
	}{
		{[]string{"id", "secret"}, "id\x00secret"},
		{[]string{"sekisho-oidc-client-secret", "client", "s"}, "sekisho-oidc-client-secret\x00client\x00s"},
		{[]string{"one"}, "one"},
	}
	for _, tc := range tests {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(tc.raw))
		if got := KeyedHash(key, tc.parts...); !bytes.Equal(got, m.Sum(nil)) {
			t.Errorf("KeyedHash(%q) differs from HMAC over %q", tc.parts, tc.raw)
		}
	}
	if bytes.Equal(KeyedHash(key, "ab", "c"), KeyedHash(key, "a", "bc")) {
		t.Error("part boundaries do not count")
	}
}
