package oidc

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/sekisho/sekisho/internal/keys"
	"github.com/sekisho/sekisho/internal/store"
)

// KeySource is the token-signing keys (keys.Manager): current, next and retired.
type KeySource interface {
	Keys(ctx context.Context, purpose string) ([]keys.Key, error)
}

// tokenKeys are the token-signing keys as the provider needs them: the current key signs
// (RS256); the JSON Web Key Set publishes current, next and retired, each under its key's
// stored ID, so a relying party learns the next key before it signs anything and keeps
// verifying tokens of a retired one until `keys retire`.
type tokenKeys struct{ src KeySource }

func (t tokenKeys) signing(ctx context.Context) (op.SigningKey, error) {
	ks, err := t.src.Keys(ctx, keys.PurposeToken)
	if err != nil {
		return nil, err
	}
	for i := len(ks) - 1; i >= 0; i-- {
		if ks[i].State != store.KeyCurrent {
			continue
		}
		pub, ok := ks[i].Cert.PublicKey.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("token key %s is not an RSA key", ks[i].ID)
		}
		return signingKey{id: ks[i].ID, signer: ks[i].Signer, pub: pub}, nil
	}
	return nil, fmt.Errorf("no current token-signing key (sekisho keys rotate && promote): %w", store.ErrNotFound)
}

func (t tokenKeys) published(ctx context.Context) ([]op.Key, error) {
	ks, err := t.src.Keys(ctx, keys.PurposeToken)
	if err != nil {
		return nil, err
	}
	out := make([]op.Key, 0, len(ks))
	for _, k := range ks {
		if pub, ok := k.Cert.PublicKey.(*rsa.PublicKey); ok {
			out = append(out, publicKey{id: k.ID, key: pub})
		}
	}
	return out, nil
}

// signingKey implements op.SigningKey over any crypto.Signer (the key may be OpenSSL-backed):
// go-jose sees an OpaqueSigner.
type signingKey struct {
	id     string
	signer crypto.Signer
	pub    *rsa.PublicKey
}

func (k signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k signingKey) ID() string                                  { return k.id }
func (k signingKey) Key() any                                    { return opaqueRSA(k) }

type opaqueRSA signingKey

var _ jose.OpaqueSigner = opaqueRSA{}

func (o opaqueRSA) Public() *jose.JSONWebKey {
	return &jose.JSONWebKey{Key: o.pub, KeyID: o.id, Algorithm: string(jose.RS256), Use: "sig"}
}

func (o opaqueRSA) Algs() []jose.SignatureAlgorithm { return []jose.SignatureAlgorithm{jose.RS256} }

func (o opaqueRSA) SignPayload(payload []byte, alg jose.SignatureAlgorithm) ([]byte, error) {
	if alg != jose.RS256 {
		return nil, errors.New("token key signs RS256 only")
	}
	d := sha256.Sum256(payload)
	return o.signer.Sign(rand.Reader, d[:], crypto.SHA256)
}

// publicKey implements op.Key.
type publicKey struct {
	id  string
	key *rsa.PublicKey
}

func (k publicKey) ID() string                         { return k.id }
func (k publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return k.key }
