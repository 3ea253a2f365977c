//go:build openssl && cgo

package osslsign

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"testing"
)

func TestRSASignVerifies(t *testing.T) {
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

func TestECDSASignVerifies(t *testing.T) {
	d256 := sha256.Sum256([]byte("hello"))
	d384 := sha512.Sum384([]byte("hello"))
	for _, tc := range []struct {
		name   string
		curve  elliptic.Curve
		hash   crypto.Hash
		digest []byte
	}{
		{"P-256 SHA-256", elliptic.P256(), crypto.SHA256, d256[:]},
		{"P-384 SHA-384", elliptic.P384(), crypto.SHA384, d384[:]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := ecdsa.GenerateKey(tc.curve, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			s, err := New(k)
			if err != nil {
				t.Fatal(err)
			}
			if !k.PublicKey.Equal(s.Public()) {
				t.Fatal("Public is not the key's public key")
			}
			first, err := s.Sign(nil, tc.digest, tc.hash)
			if err != nil {
				t.Fatal(err)
			}
			if !ecdsa.VerifyASN1(&k.PublicKey, tc.digest, first) {
				t.Fatal("OpenSSL signature does not verify with crypto/ecdsa")
			}
			// A fresh nonce per signature: the same digest signed twice gives two signatures.
			second, err := s.Sign(nil, tc.digest, tc.hash)
			if err != nil {
				t.Fatal(err)
			}
			if string(first) == string(second) {
				t.Fatal("two signatures of one digest are identical (nonce reused)")
			}
			other := sha256.Sum256([]byte("other"))
			if ecdsa.VerifyASN1(&k.PublicKey, other[:], first) && tc.hash == crypto.SHA256 {
				t.Fatal("signature verifies for another digest")
			}
			if _, err := s.Sign(nil, tc.digest[:5], tc.hash); err == nil {
				t.Fatal("short digest accepted")
			}
		})
	}
}

func TestNewRefusesOtherKeys(t *testing.T) {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(k); err == nil {
		t.Fatal("an Ed25519 key was accepted")
	}
}

func BenchmarkSign(b *testing.B) {
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	d := sha256.Sum256([]byte("x"))
	for _, tc := range []struct {
		name string
		key  crypto.Signer
	}{{"RSA-2048", rk}, {"P-256", ek}} {
		b.Run(tc.name, func(b *testing.B) {
			s, err := New(tc.key)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := s.Sign(nil, d[:], crypto.SHA256); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
