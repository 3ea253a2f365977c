package admin

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/sekisho/sekisho/internal/keys"
)

// keysTarget is the target of every change of the RSA token-signing keys; the ES256 keys
// (keys.PurposeTokenES256, OpenID Connect clients set to ES256) are "token-signing-es256".
const keysTarget = "token-signing"

func keysTargetOf(purpose string) string {
	if purpose == keys.PurposeToken {
		return keysTarget
	}
	return "token-signing-" + strings.TrimPrefix(purpose, "token-")
}

// KeyView is a token-signing key as the audit log and the API show it: its ID, role and
// certificate; never the private key.
type KeyView struct {
	ID        string    `json:"id"`
	Alg       string    `json:"alg"` // RS256 or ES256
	State     string    `json:"state"`
	Subject   string    `json:"subject"`
	NotBefore time.Time `json:"notBefore"`
	NotAfter  time.Time `json:"notAfter"`
	SHA256    string    `json:"sha256"` // of the certificate
}

// tokenKeysOf is the set of token-signing keys of purpose as the audit log shows it, oldest
// first.
func (t tx) tokenKeysOf(ctx context.Context, purpose string) (map[string][]KeyView, error) {
	rows, err := t.ListSigningKeys(ctx, purpose)
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
		out = append(out, KeyView{ID: r.ID, Alg: keys.AlgOf(purpose), State: string(r.State), Subject: c.Subject.CommonName, NotBefore: c.NotBefore.UTC(),
			NotAfter: c.NotAfter.UTC(), SHA256: hex.EncodeToString(sum[:])})
	}
	return map[string][]KeyView{"keys": out}, nil
}

// keyChange runs one step of a key rotation with the set of keys before and after it.
func keyChange[T any](ctx context.Context, s *Service, a Actor, action, purpose string, fn func(m *keys.Manager) (T, error)) (T, error) {
	// The change ran on a Manager bound to the transaction: once it committed, this node's
	// own cache drops the keys at once (other nodes within the change poll).
	if s.Keys != nil {
		defer s.Keys.InvalidateAll()
	}
	return changeTo(ctx, s, a, action, keysTargetOf(purpose), func(t tx) (T, any, any, error) {
		var zero T
		m, err := t.keys()
		if err != nil {
			return zero, nil, nil, err
		}
		before, err := t.tokenKeysOf(ctx, purpose)
		if err != nil {
			return zero, nil, nil, err
		}
		out, err := fn(m)
		if err != nil {
			return zero, nil, nil, err
		}
		after, err := t.tokenKeysOf(ctx, purpose)
		return out, before, after, err
	})
}

// RotateKey creates the next token-signing key, published beside the current one
// ("key.rotate"). It fails when a next key exists already.
func (s *Service) RotateKey(ctx context.Context, a Actor) (keys.Key, error) {
	return s.RotateKeyOf(ctx, a, keys.PurposeToken)
}

// RotateKeyOf is RotateKey for the token keys of purpose (keys.TokenPurposes).
func (s *Service) RotateKeyOf(ctx context.Context, a Actor, purpose string) (keys.Key, error) {
	name := "Sekisho token signing"
	if purpose == keys.PurposeTokenES256 {
		name += " ES256"
	}
	return keyChange(ctx, s, a, "key.rotate", purpose, func(m *keys.Manager) (keys.Key, error) {
		return m.RotateOf(ctx, purpose, name)
	})
}

// PromoteKey makes the next key current; the current one becomes retired ("key.promote").
func (s *Service) PromoteKey(ctx context.Context, a Actor) error {
	return s.PromoteKeyOf(ctx, a, keys.PurposeToken)
}

// PromoteKeyOf is PromoteKey for the token keys of purpose.
func (s *Service) PromoteKeyOf(ctx context.Context, a Actor, purpose string) error {
	_, err := keyChange(ctx, s, a, "key.promote", purpose, func(m *keys.Manager) (struct{}, error) {
		return struct{}{}, m.PromoteOf(ctx, purpose)
	})
	return err
}

// RetireKeys deletes the retired keys and returns how many ("key.retire").
func (s *Service) RetireKeys(ctx context.Context, a Actor) (int, error) {
	return s.RetireKeysOf(ctx, a, keys.PurposeToken)
}

// RetireKeysOf is RetireKeys for the token keys of purpose.
func (s *Service) RetireKeysOf(ctx context.Context, a Actor, purpose string) (int, error) {
	return keyChange(ctx, s, a, "key.retire", purpose, func(m *keys.Manager) (int, error) {
		return m.RetireOf(ctx, purpose)
	})
}
