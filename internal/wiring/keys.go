package wiring

import (
	"context"
	"crypto/x509"
	"sync"

	"github.com/sekisho/sekisho/internal/keys"
	"github.com/sekisho/sekisho/internal/protocol/saml"
	"github.com/sekisho/sekisho/internal/saml11token"
)

// tokenKeys adapts keys.Manager to what the token issuers need: the current signer (built
// once per key) and the next certificate for metadata.
type tokenKeys struct {
	m *keys.Manager

	mu      sync.Mutex
	signers map[string]*saml11token.Signer
}

func newTokenKeys(m *keys.Manager) *tokenKeys {
	return &tokenKeys{m: m, signers: map[string]*saml11token.Signer{}}
}

// Current implements saml.KeySource.
func (t *tokenKeys) Current(ctx context.Context) (saml.SigningKey, error) {
	k, err := t.m.Current(ctx, keys.PurposeToken)
	if err != nil {
		return saml.SigningKey{}, err
	}
	return saml.SigningKey{Signer: k.Signer, Chain: []*x509.Certificate{k.Cert}}, nil
}

// Next implements saml.KeySource.
func (t *tokenKeys) Next(ctx context.Context) (*x509.Certificate, error) {
	k, ok, err := t.m.Next(ctx, keys.PurposeToken)
	if err != nil || !ok {
		return nil, err
	}
	return k.Cert, nil
}

// SigningKeys implements saml11token.Keys.
func (t *tokenKeys) SigningKeys(ctx context.Context) (*saml11token.Signer, *x509.Certificate, error) {
	k, err := t.m.Current(ctx, keys.PurposeToken)
	if err != nil {
		return nil, nil, err
	}
	t.mu.Lock()
	s, ok := t.signers[k.ID]
	t.mu.Unlock()
	if !ok {
		if s, err = saml11token.NewSigner(k.Signer, k.Cert); err != nil {
			return nil, nil, err
		}
		t.mu.Lock()
		t.signers[k.ID] = s
		t.mu.Unlock()
	}
	next, err := t.Next(ctx)
	return s, next, err
}
