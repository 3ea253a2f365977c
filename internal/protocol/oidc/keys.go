package oidc

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/sekisho/sekisho/internal/keys"
	"github.com/sekisho/sekisho/internal/store"
)

// Token signature algorithms a client may be set to (ClientConfig.SigningAlg).
const (
	AlgRS256 = "RS256" // RSA-2048 PKCS#1 v1.5 with SHA-256: the default, the key SAML and WS-Fed sign with
	AlgES256 = "ES256" // ECDSA P-256 with SHA-256: its own key (keys.PurposeTokenES256), about 10× cheaper to sign
)

// SigningAlgs are the algorithms Sekisho signs tokens with, in the order discovery lists them.
var SigningAlgs = []string{AlgRS256, AlgES256}

// KeySource is the token-signing keys (keys.Manager): current, next and retired.
type KeySource interface {
	Keys(ctx context.Context, purpose string) ([]keys.Key, error)
}

// tokenKeys are the token-signing keys as the provider needs them: the current key of the
// client's algorithm signs (RS256: the RSA token key; ES256: the P-256 one); the JSON Web Key
// Set publishes current, next and retired keys of both, each under its key's stored ID, so a
// relying party learns the next key before it signs anything and keeps verifying tokens of a
// retired one until `keys retire`.
type tokenKeys struct{ src KeySource }

func keyPurpose(alg jose.SignatureAlgorithm) (string, error) {
	switch alg {
	case jose.RS256:
		return keys.PurposeToken, nil
	case jose.ES256:
		return keys.PurposeTokenES256, nil
	}
	return "", fmt.Errorf("token signature algorithm %q is not served", alg)
}

// signing is the current RS256 key (SAML's RSA key).
func (t tokenKeys) signing(ctx context.Context) (op.SigningKey, error) {
	return t.signingAlg(ctx, jose.RS256)
}

// signingFor is the current key of a client's signingAlg ("" is RS256).
func (t tokenKeys) signingFor(ctx context.Context, c ClientConfig) (op.SigningKey, error) {
	if c.SigningAlg == AlgES256 {
		return t.signingAlg(ctx, jose.ES256)
	}
	return t.signingAlg(ctx, jose.RS256)
}

func (t tokenKeys) signingAlg(ctx context.Context, alg jose.SignatureAlgorithm) (op.SigningKey, error) {
	purpose, err := keyPurpose(alg)
	if err != nil {
		return nil, err
	}
	ks, err := t.src.Keys(ctx, purpose)
	if err != nil {
		return nil, err
	}
	for i := len(ks) - 1; i >= 0; i-- {
		if ks[i].State != store.KeyCurrent {
			continue
		}
		if pubAlg(ks[i].Cert.PublicKey) != alg {
			return nil, fmt.Errorf("token key %s does not sign %s", ks[i].ID, alg)
		}
		return signingKey{id: ks[i].ID, alg: alg, signer: ks[i].Signer, pub: ks[i].Cert.PublicKey}, nil
	}
	return nil, fmt.Errorf("no current %s token-signing key (sekisho keys rotate --alg %s && promote): %w", alg, alg, store.ErrNotFound)
}

// pubAlg is the algorithm a token key's public key verifies ("" for none Sekisho signs with).
func pubAlg(pub any) jose.SignatureAlgorithm {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		return jose.RS256
	case *ecdsa.PublicKey:
		if p.Curve == elliptic.P256() {
			return jose.ES256
		}
	}
	return ""
}

func (t tokenKeys) published(ctx context.Context) ([]op.Key, error) {
	var out []op.Key
	for _, purpose := range keys.TokenPurposes {
		ks, err := t.src.Keys(ctx, purpose)
		if err != nil {
			return nil, err
		}
		for _, k := range ks {
			if alg := pubAlg(k.Cert.PublicKey); alg != "" {
				out = append(out, publicKey{id: k.ID, alg: alg, key: k.Cert.PublicKey})
			}
		}
	}
	return out, nil
}

// signingKey implements op.SigningKey over any crypto.Signer (the key may be OpenSSL-backed):
// go-jose sees an OpaqueSigner.
type signingKey struct {
	id     string
	alg    jose.SignatureAlgorithm
	signer crypto.Signer
	pub    any // *rsa.PublicKey or *ecdsa.PublicKey (P-256)
}

func (k signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return k.alg }
func (k signingKey) ID() string                                  { return k.id }
func (k signingKey) Key() any                                    { return opaqueSigner(k) }

type opaqueSigner signingKey

var _ jose.OpaqueSigner = opaqueSigner{}

func (o opaqueSigner) Public() *jose.JSONWebKey {
	return &jose.JSONWebKey{Key: o.pub, KeyID: o.id, Algorithm: string(o.alg), Use: "sig"}
}

func (o opaqueSigner) Algs() []jose.SignatureAlgorithm { return []jose.SignatureAlgorithm{o.alg} }

func (o opaqueSigner) SignPayload(payload []byte, alg jose.SignatureAlgorithm) ([]byte, error) {
	if alg != o.alg {
		return nil, fmt.Errorf("token key %s signs %s only", o.id, o.alg)
	}
	d := sha256.Sum256(payload)
	sig, err := o.signer.Sign(rand.Reader, d[:], crypto.SHA256)
	if err != nil || alg != jose.ES256 {
		return sig, err
	}
	return jwsECDSA(sig, 32)
}

// jwsECDSA turns an ASN.1 ECDSA signature (what crypto.Signer returns) into JWS's fixed-size
// R || S (RFC 7518 section 3.4).
func jwsECDSA(der []byte, size int) ([]byte, error) {
	var rs struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(der, &rs)
	if err != nil || len(rest) > 0 || rs.R == nil || rs.S == nil || rs.R.Sign() <= 0 || rs.S.Sign() <= 0 ||
		rs.R.BitLen() > 8*size || rs.S.BitLen() > 8*size {
		return nil, errors.New("token key: malformed ECDSA signature")
	}
	out := make([]byte, 2*size)
	rs.R.FillBytes(out[:size])
	rs.S.FillBytes(out[size:])
	return out, nil
}

// publicKey implements op.Key.
type publicKey struct {
	id  string
	alg jose.SignatureAlgorithm
	key any
}

func (k publicKey) ID() string                         { return k.id }
func (k publicKey) Algorithm() jose.SignatureAlgorithm { return k.alg }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return k.key }
