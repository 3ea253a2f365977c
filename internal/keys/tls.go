package keys

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/sekisho/sekisho/internal/store"
)

// EnsureTLS makes sure a managed CA and a server certificate for hosts exist; it returns the
// CA certificate (for clients to trust). Existing keys are kept.
func (m *Manager) EnsureTLS(ctx context.Context, hosts []string) (*x509.Certificate, error) {
	ca, err := m.Current(ctx, PurposeTLSCA)
	if errors.Is(err, store.ErrNotFound) {
		ca, err = m.createCA(ctx)
	}
	if err != nil {
		return nil, err
	}
	if _, err := m.Current(ctx, PurposeTLSServer); errors.Is(err, store.ErrNotFound) {
		if err := m.createServer(ctx, ca, hosts); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	return ca.Cert, nil
}

func (m *Manager) createCA(ctx context.Context) (Key, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Key{}, fmt.Errorf("generate CA key: %w", err)
	}
	now := m.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "Sekisho local CA", Organization: []string{"Sekisho"}},
		NotBefore:             now.Add(-5 * time.Minute),
		NotAfter:              now.AddDate(10, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		return Key{}, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, _ := x509.ParseCertificate(der)
	id, err := m.Add(ctx, PurposeTLSCA, store.KeyCurrent, priv, cert)
	if err != nil {
		return Key{}, err
	}
	return Key{ID: id, State: store.KeyCurrent, Signer: priv, Cert: cert}, nil
}

func (m *Manager) createServer(ctx context.Context, ca Key, hosts []string) error {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generate server key: %w", err)
	}
	now := m.Now()
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: hosts[0]},
		NotBefore:    now.Add(-5 * time.Minute),
		NotAfter:     now.AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &priv.PublicKey, ca.Signer)
	if err != nil {
		return fmt.Errorf("create server certificate: %w", err)
	}
	cert, _ := x509.ParseCertificate(der)
	_, err = m.Add(ctx, PurposeTLSServer, store.KeyCurrent, priv, cert)
	return err
}

// ServerCertificate returns the managed server certificate as a tls.Certificate (with the CA).
func (m *Manager) ServerCertificate(ctx context.Context) (tls.Certificate, error) {
	k, err := m.Current(ctx, PurposeTLSServer)
	if err != nil {
		return tls.Certificate{}, err
	}
	chain := [][]byte{k.Cert.Raw}
	if ca, err := m.Current(ctx, PurposeTLSCA); err == nil {
		chain = append(chain, ca.Cert.Raw)
	}
	return tls.Certificate{Certificate: chain, PrivateKey: k.Signer, Leaf: k.Cert}, nil
}

// CertPEM encodes a certificate as PEM.
func CertPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}
