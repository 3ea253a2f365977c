package saml11token

import (
	"context"
	"crypto/x509"
	"errors"
)

// Keys supplies the signing key in force and the certificate of the key that follows it,
// which federation metadata publishes so Entra can roll over in advance.
type Keys interface {
	SigningKeys(ctx context.Context) (current *Signer, next *x509.Certificate, err error)
}

// StaticKeys is a fixed key set (tests, or a deployment that reloads on change).
type StaticKeys struct {
	Current *Signer
	Next    *x509.Certificate // may be nil
}

// SigningKeys implements Keys.
func (k StaticKeys) SigningKeys(context.Context) (*Signer, *x509.Certificate, error) {
	if k.Current == nil {
		return nil, nil, errors.New("saml11: no current signing key")
	}
	return k.Current, k.Next, nil
}
