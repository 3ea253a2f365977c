// Package scimtoken is the bearer tokens of SCIM 2.0 provisioning connectors: how one is
// written ("sks_<id>_<secret>"), kept (a keyed hash under a key derived from the master key,
// never the secret) and checked (constant time), like the admin API's tokens
// (internal/apitoken). A connector has one token; issuing another replaces it.
package scimtoken

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"regexp"

	"github.com/sekisho/sekisho/internal/secrets"
	"github.com/sekisho/sekisho/internal/store"
)

const format = secrets.BearerFormat("sks_")

// Reasons a presented token is refused (the sign-in record's reason codes).
const (
	ReasonMalformed = "token_malformed"
	ReasonUnknown   = "token_unknown"
	ReasonRevoked   = "token_revoked"
)

// Refusal is why a token was refused.
type Refusal struct{ Reason string }

func (r *Refusal) Error() string { return "scim token refused: " + r.Reason }

// Hasher computes the keyed hash of token secrets.
type Hasher struct{ key []byte }

// NewHasher returns a hasher under key (32 bytes derived from the master key).
func NewHasher(key []byte) (*Hasher, error) {
	if len(key) < 32 {
		return nil, errors.New("scim token key: need 32 bytes")
	}
	return &Hasher{key: key}, nil
}

func (h *Hasher) hash(id, secret string) []byte { return secrets.KeyedHash(h.key, "scim", id, secret) }

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// CheckName validates a connector name: lower-case letters, digits and hyphens, at most 63.
func CheckName(name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("SCIM connector name %q: use lower-case letters, digits and hyphens (at most 63), e.g. entra", name)
	}
	return nil
}

// Source is the store.User.Source (and Group.Source) of the connector's users and groups.
func Source(connector string) string { return "scim:" + connector }

// New makes a token for connector: the row to store and the bearer value to show once.
func (h *Hasher) New(connector string) (row store.SCIMToken, token string, err error) {
	id, secret, token, err := format.New()
	if err != nil {
		return row, "", fmt.Errorf("scim token: %w", err)
	}
	return store.SCIMToken{Connector: connector, ID: id, Hash: h.hash(id, secret)}, token, nil
}

// Parse splits a presented token into its ID and secret.
func Parse(token string) (id, secret string, ok bool) { return format.Parse(token) }

// Verify returns the stored token that token presents, or a *Refusal saying why it does not
// count (with the row when its ID was found, so the refusal names the connector); other
// errors are the store's.
func (h *Hasher) Verify(ctx context.Context, s store.Store, token string) (store.SCIMToken, error) {
	id, secret, ok := Parse(token)
	if !ok {
		return store.SCIMToken{}, &Refusal{ReasonMalformed}
	}
	row, err := s.GetSCIMToken(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		hmac.Equal(h.hash(id, secret), make([]byte, sha256.Size))
		return store.SCIMToken{}, &Refusal{ReasonUnknown}
	}
	if err != nil {
		return store.SCIMToken{}, fmt.Errorf("scim token: %w", err)
	}
	if !hmac.Equal(h.hash(id, secret), row.Hash) {
		return store.SCIMToken{}, &Refusal{ReasonUnknown}
	}
	if !row.RevokedAt.IsZero() {
		return row, &Refusal{ReasonRevoked}
	}
	return row, nil
}
