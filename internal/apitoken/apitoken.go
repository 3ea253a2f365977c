// Package apitoken is the admin API's bearer tokens: how a token is written, how its secret is
// kept (a keyed hash, never the secret), and whether a presented token is the one stored.
//
// A token reads "skt_<id>_<secret>": the ID finds the row, the secret is compared in constant
// time with the row's hash. The hash is HMAC-SHA256 under a key derived from the master key,
// so a copy of the database alone cannot be used to test guesses offline, and every node
// that shares the master key accepts the same tokens.
package apitoken

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/sekisho/sekisho/internal/secrets"
	"github.com/sekisho/sekisho/internal/store"
)

const format = secrets.BearerFormat("skt_")

// MaxLifetime bounds a token's validity: a token is a password that never asks for a second
// factor, so it must end.
const MaxLifetime = 366 * 24 * time.Hour

// Reasons a presented token is refused (the sign-in record's reason codes).
const (
	ReasonMalformed = "token_malformed"
	ReasonUnknown   = "token_unknown" // no such ID, or the secret does not match
	ReasonExpired   = "token_expired"
	ReasonRevoked   = "token_revoked"
)

// ErrRefused wraps every refusal; Refusal says which.
var ErrRefused = errors.New("api token refused")

// Refusal is why a token was refused.
type Refusal struct{ Reason string }

func (r *Refusal) Error() string { return "api token refused: " + r.Reason }
func (r *Refusal) Unwrap() error { return ErrRefused }

// Hasher computes the keyed hash of token secrets.
type Hasher struct{ key []byte }

// NewHasher returns a hasher under key (32 bytes derived from the master key).
func NewHasher(key []byte) (*Hasher, error) {
	if len(key) < 32 {
		return nil, errors.New("api token key: need 32 bytes")
	}
	return &Hasher{key: key}, nil
}

func (h *Hasher) hash(id, secret string) []byte { return secrets.KeyedHash(h.key, id, secret) }

// New makes a token: the row to store (ID and Hash set) and the token to hand over once.
func (h *Hasher) New() (row store.APIToken, token string, err error) {
	id, secret, token, err := format.New()
	if err != nil {
		return row, "", fmt.Errorf("api token: %w", err)
	}
	return store.APIToken{ID: id, Hash: h.hash(id, secret)}, token, nil
}

// Parse splits a presented token into its ID and secret.
func Parse(token string) (id, secret string, ok bool) { return format.Parse(token) }

// Verify returns the stored token that token presents, or a *Refusal (ErrRefused) saying why
// it does not count; other errors are the store's. The ID it could read is returned with a
// refusal, so the refusal can be recorded against the token's owner.
func (h *Hasher) Verify(ctx context.Context, s store.Store, token string, now time.Time) (store.APIToken, error) {
	id, secret, ok := Parse(token)
	if !ok {
		return store.APIToken{}, &Refusal{ReasonMalformed}
	}
	row, err := s.GetAPIToken(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		// Spend the same work as a match so a missing ID is not told apart by timing.
		hmac.Equal(h.hash(id, secret), make([]byte, sha256.Size))
		return store.APIToken{}, &Refusal{ReasonUnknown}
	}
	if err != nil {
		return store.APIToken{}, fmt.Errorf("api token: %w", err)
	}
	if !hmac.Equal(h.hash(id, secret), row.Hash) {
		return store.APIToken{}, &Refusal{ReasonUnknown}
	}
	switch {
	case !row.RevokedAt.IsZero():
		return row, &Refusal{ReasonRevoked}
	case !now.Before(row.ExpiresAt):
		return row, &Refusal{ReasonExpired}
	}
	return row, nil
}
