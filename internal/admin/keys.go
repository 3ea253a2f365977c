package admin

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/sekisho/sekisho/internal/keys"
)

// keysTarget is the target of every token-signing key change.
const keysTarget = "token-signing"

// KeyView is a token-signing key as the audit log and the API show it: its ID, role and
// certificate; never the private key.
type KeyView struct {
	ID        string    `json:"id"`
	State     string    `json:"state"`
	Subject   string    `json:"subject"`
	NotBefore time.Time `json:"notBefore"`
	NotAfter  time.Time `json:"notAfter"`
	SHA256    string    `json:"sha256"` // of the certificate
}

// tokenKeys is the set of token-signing keys as the audit log shows it, oldest first.
func (t tx) tokenKeys(ctx context.Context) (map[string][]KeyView, error) {
	rows, err := t.ListSigningKeys(ctx, keys.PurposeToken)
	if err != nil {
		return nil, fmt.Errorf("list token-signing keys: %w", err)
	}
	out := make([]KeyView, 0, len(rows))
	for _, r := range rows {
		c, err := x509.ParseCertificate(r.CertDER)
		if err != nil {
			return nil, fmt.Errorf("token-signing key %s: certificate: %w", r.ID, err)
		}
		sum := sha256.Sum256(c.Raw)
		out = append(out, KeyView{ID: r.ID, State: string(r.State), Subject: c.Subject.CommonName, NotBefore: c.NotBefore.UTC(),
			NotAfter: c.NotAfter.UTC(), SHA256: hex.EncodeToString(sum[:])})
	}
	return map[string][]KeyView{"keys": out}, nil
}

// keyChange runs one step of a key rotation with the set of keys before and after it.
func keyChange[T any](ctx context.Context, s *Service, a Actor, action string, fn func(m *keys.Manager) (T, error)) (T, error) {
	// The change ran on a Manager bound to the transaction: once it committed, this node's
	// own cache drops the keys at once (other nodes within the change poll).
	if s.Keys != nil {
		defer s.Keys.InvalidateAll()
	}
	return changeTo(ctx, s, a, action, keysTarget, func(t tx) (T, any, any, error) {
		var zero T
		m, err := t.keys()
		if err != nil {
			return zero, nil, nil, err
		}
		before, err := t.tokenKeys(ctx)
		if err != nil {
			return zero, nil, nil, err
		}
		out, err := fn(m)
		if err != nil {
			return zero, nil, nil, err
		}
		after, err := t.tokenKeys(ctx)
		return out, before, after, err
	})
}

// RotateKey creates the next token-signing key, published beside the current one
// ("key.rotate"). It fails when a next key exists already.
func (s *Service) RotateKey(ctx context.Context, a Actor) (keys.Key, error) {
	return keyChange(ctx, s, a, "key.rotate", func(m *keys.Manager) (keys.Key, error) {
		return m.Rotate(ctx, "Sekisho token signing")
	})
}

// PromoteKey makes the next key current; the current one becomes retired ("key.promote").
func (s *Service) PromoteKey(ctx context.Context, a Actor) error {
	_, err := keyChange(ctx, s, a, "key.promote", func(m *keys.Manager) (struct{}, error) {
		return struct{}{}, m.Promote(ctx)
	})
	return err
}

// RetireKeys deletes the retired keys and returns how many ("key.retire").
func (s *Service) RetireKeys(ctx context.Context, a Actor) (int, error) {
	return keyChange(ctx, s, a, "key.retire", func(m *keys.Manager) (int, error) {
		return m.Retire(ctx)
	})
}
