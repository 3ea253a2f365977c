//go:build openssl && cgo

package osslsign

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"testing"
)

func TestSignVerifies(t *testing.T) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(k)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte("hello"))
	sig, err := s.Sign(nil, d[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if err := rsa.VerifyPKCS1v15(&k.PublicKey, crypto.SHA256, d[:], sig); err != nil {
		t.Fatalf("OpenSSL signature does not verify with crypto/rsa: %v", err)
	}
	// Identical to crypto/rsa's (PKCS#1 v1.5 is deterministic).
	want, _ := rsa.SignPKCS1v15(nil, k, crypto.SHA256, d[:])
	if string(want) != string(sig) {
		t.Fatal("signature differs from crypto/rsa")
	}
	if _, err := s.Sign(nil, d[:5], crypto.SHA256); err == nil {
		t.Fatal("short digest accepted")
	}
	if _, err := s.Sign(nil, d[:], &rsa.PSSOptions{Hash: crypto.SHA256}); err == nil {
		t.Fatal("PSS accepted")
	}
}

func BenchmarkSign(b *testing.B) {
	k, _ := rsa.GenerateKey(rand.Reader, 2048)
	s, err := New(k)
	if err != nil {
		b.Fatal(err)
	}
	d := sha256.Sum256([]byte("x"))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Sign(nil, d[:], crypto.SHA256); err != nil {
			b.Fatal(err)
		}
	}
}
