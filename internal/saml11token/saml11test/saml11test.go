// Package saml11test makes throwaway signing keys for tests of the SAML 1.1 adapters.
package saml11test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/saml11token"
)

// Key is a test signing key with its certificate.
type Key struct {
	Signer  *saml11token.Signer
	Private *rsa.PrivateKey
	Cert    *x509.Certificate
	CertPEM []byte
}

// NewKey generates a 2048-bit RSA key and a self-signed certificate named cn.
func NewKey(t testing.TB, cn string) Key {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatalf("create certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("parse certificate: %v", err)
	}
	s, err := saml11token.NewSigner(priv, cert)
	if err != nil {
		t.Fatalf("signer: %v", err)
	}
	return Key{Signer: s, Private: priv, Cert: cert, CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// WritePEM writes the certificate to dir/name and returns the absolute path.
func (k Key) WritePEM(t testing.TB, dir, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, k.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
