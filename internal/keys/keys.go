// Package keys manages Sekisho's private keys and certificates: token-signing keys with
// rotation (current + next, both published), and the certificate authorities Sekisho runs.
// Private keys are sealed with the master key before they reach the store.
//
// Rotation without failed sign-ins: `rotate` creates the next key, which metadata publishes
// beside the current one so relying parties learn it before it signs anything; `promote` makes
// it current (the old key becomes retired: it no longer signs, and tokens it signed expire
// within minutes); `retire` deletes retired keys.
package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/sekisho/sekisho/internal/secrets"
	"github.com/sekisho/sekisho/internal/store"
)

// Purposes of managed keys.
const (
	PurposeToken = "token" // signs SAML assertions, WS-Fed tokens, metadata; OpenID Connect tokens (RS256)
	// PurposeTokenES256 is the ECDSA P-256 key that signs the OpenID Connect tokens of
	// clients set to ES256; rotated like the RSA token key, under its own purpose.
	PurposeTokenES256 = "token-es256"
	PurposeTLSCA      = "tls-ca"     // the CA that issued the managed server certificate
	PurposeTLSServer  = "tls-server" // the managed HTTPS server key
)

// Key is an opened key: the private key and its certificate.
type Key struct {
	ID     string
	State  store.KeyState
	Signer crypto.Signer
	Cert   *x509.Certificate
}

// Manager creates, rotates and opens keys.
type Manager struct {
	Store  store.Store
	Sealer *secrets.Sealer
	Now    func() time.Time
	// CacheTTL bounds how long a node signs with a key after another node promoted a new one.
	CacheTTL time.Duration

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	keys []Key
	at   time.Time
}

// NewManager returns a Manager with a 10 s cache.
func NewManager(s store.Store, sealer *secrets.Sealer) *Manager {
	return &Manager{Store: s, Sealer: sealer, Now: time.Now, CacheTTL: 10 * time.Second, cache: map[string]cached{}}
}

// WithStore returns a Manager with the same sealer and settings on another store (a
// transaction), so that a key change and its admin audit entry commit together. It starts
// with an empty cache; m's own cache catches up within CacheTTL, like another node's.
func (m *Manager) WithStore(s store.Store) *Manager {
	return &Manager{Store: s, Sealer: m.Sealer, Now: m.Now, CacheTTL: m.CacheTTL, cache: map[string]cached{}}
}

func aad(id string) []byte { return []byte("signing-key:" + id) }

// Keys returns every key of a purpose, opened, oldest first.
func (m *Manager) Keys(ctx context.Context, purpose string) ([]Key, error) {
	m.mu.Lock()
	c, ok := m.cache[purpose]
	m.mu.Unlock()
	if ok && m.Now().Sub(c.at) < m.CacheTTL {
		return c.keys, nil
	}
	rows, err := m.Store.ListSigningKeys(ctx, purpose)
	if err != nil {
		return nil, fmt.Errorf("list %s keys: %w", purpose, err)
	}
	out := make([]Key, 0, len(rows))
	for _, r := range rows {
		k, err := m.open(r)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	m.mu.Lock()
	m.cache[purpose] = cached{keys: out, at: m.Now()}
	m.mu.Unlock()
	return out, nil
}

// Invalidate drops the cached keys of purpose, after a change made through another Manager
// (one bound to a transaction) that this process must see at once.
func (m *Manager) Invalidate(purpose string) { m.invalidate(purpose) }

// InvalidateAll drops every cached key (the store's configuration version moved).
func (m *Manager) InvalidateAll() {
	m.mu.Lock()
	clear(m.cache)
	m.mu.Unlock()
}

func (m *Manager) invalidate(purpose string) {
	m.mu.Lock()
	delete(m.cache, purpose)
	m.mu.Unlock()
}

func (m *Manager) open(r store.SigningKey) (Key, error) {
	der, err := m.Sealer.Open(r.SealedKey, aad(r.ID))
	if err != nil {
		return Key{}, fmt.Errorf("open %s key %s: %w", r.Purpose, r.ID, err)
	}
	pk, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return Key{}, fmt.Errorf("parse %s key %s: %w", r.Purpose, r.ID, err)
	}
	signer, ok := pk.(crypto.Signer)
	if !ok {
		return Key{}, fmt.Errorf("%s key %s is not a signing key", r.Purpose, r.ID)
	}
	cert, err := x509.ParseCertificate(r.CertDER)
	if err != nil {
		return Key{}, fmt.Errorf("parse %s certificate %s: %w", r.Purpose, r.ID, err)
	}
	return Key{ID: r.ID, State: r.State, Signer: Accelerate(signer), Cert: cert}, nil
}

// Current returns the key that signs now.
func (m *Manager) Current(ctx context.Context, purpose string) (Key, error) {
	ks, err := m.Keys(ctx, purpose)
	if err != nil {
		return Key{}, err
	}
	for i := len(ks) - 1; i >= 0; i-- {
		if ks[i].State == store.KeyCurrent {
			return ks[i], nil
		}
	}
	return Key{}, fmt.Errorf("no current %s key (run sekisho init or sekisho keys rotate && promote): %w", purpose, store.ErrNotFound)
}

// Next returns the next key, if one was rotated in.
func (m *Manager) Next(ctx context.Context, purpose string) (Key, bool, error) {
	ks, err := m.Keys(ctx, purpose)
	if err != nil {
		return Key{}, false, err
	}
	for _, k := range ks {
		if k.State == store.KeyNext {
			return k, true, nil
		}
	}
	return Key{}, false, nil
}

// Published returns every stored certificate of a purpose: current, next and retired.
func (m *Manager) Published(ctx context.Context, purpose string) ([]*x509.Certificate, error) {
	ks, err := m.Keys(ctx, purpose)
	if err != nil {
		return nil, err
	}
	out := make([]*x509.Certificate, 0, len(ks))
	for _, k := range ks {
		out = append(out, k.Cert)
	}
	return out, nil
}

// Add seals and stores a key with its certificate.
func (m *Manager) Add(ctx context.Context, purpose string, state store.KeyState, signer crypto.Signer, cert *x509.Certificate) (string, error) {
	der, err := x509.MarshalPKCS8PrivateKey(signer)
	if err != nil {
		return "", fmt.Errorf("encode key: %w", err)
	}
	id := uuid.NewString()
	sealed, err := m.Sealer.Seal(der, aad(id))
	if err != nil {
		return "", err
	}
	now := m.Now().UTC()
	err = m.Store.CreateSigningKey(ctx, store.SigningKey{ID: id, Purpose: purpose, State: state, SealedKey: sealed,
		CertDER: cert.Raw, CreatedAt: now, UpdatedAt: now, NotAfter: cert.NotAfter.UTC()})
	if err != nil {
		return "", fmt.Errorf("store %s key: %w", purpose, err)
	}
	m.invalidate(purpose)
	return id, nil
}

// TokenPurposes are the purposes of token-signing keys, each rotated on its own.
var TokenPurposes = []string{PurposeToken, PurposeTokenES256}

// PurposeOf is the token-key purpose of a signing algorithm: RS256 (the RSA key of SAML,
// WS-Fed and RS256 OpenID Connect clients; also "" and "RSA") or ES256 (the P-256 key of
// ES256 OpenID Connect clients).
func PurposeOf(alg string) (string, error) {
	switch strings.ToUpper(alg) {
	case "RS256", "RSA", "":
		return PurposeToken, nil
	case "ES256":
		return PurposeTokenES256, nil
	}
	return "", fmt.Errorf("signing algorithm %q: must be RS256 or ES256", alg)
}

// AlgOf is the signing algorithm of a token-key purpose.
func AlgOf(purpose string) string {
	if purpose == PurposeTokenES256 {
		return "ES256"
	}
	return "RS256"
}

// IsTokenPurpose reports whether purpose is one of TokenPurposes.
func IsTokenPurpose(purpose string) bool {
	return purpose == PurposeToken || purpose == PurposeTokenES256
}

// CreateTokenKey makes a fresh RSA-2048 token-signing key with a self-signed certificate
// valid for two years, in the given state.
func (m *Manager) CreateTokenKey(ctx context.Context, commonName string, state store.KeyState) (Key, error) {
	return m.CreateTokenKeyOf(ctx, PurposeToken, commonName, state)
}

// CreateTokenKeyOf makes a fresh token-signing key of purpose (RSA-2048 for PurposeToken,
// ECDSA P-256 for PurposeTokenES256) with a self-signed certificate valid for two years.
func (m *Manager) CreateTokenKeyOf(ctx context.Context, purpose, commonName string, state store.KeyState) (Key, error) {
	var priv crypto.Signer
	var err error
	switch purpose {
	case PurposeToken:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case PurposeTokenES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return Key{}, fmt.Errorf("%q is not a token-signing key purpose", purpose)
	}
	if err != nil {
		return Key{}, fmt.Errorf("generate %s key: %w", purpose, err)
	}
	now := m.Now()
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: commonName},
		NotBefore:    now.Add(-5 * time.Minute),
		NotAfter:     now.AddDate(2, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, priv.Public(), priv)
	if err != nil {
		return Key{}, fmt.Errorf("create token certificate: %w", err)
	}
	cert, _ := x509.ParseCertificate(der)
	id, err := m.Add(ctx, purpose, state, priv, cert)
	if err != nil {
		return Key{}, err
	}
	return Key{ID: id, State: state, Signer: priv, Cert: cert}, nil
}

// ErrState means the rotation step does not fit the keys' current states.
var ErrState = errors.New("rotation step not possible now")

// Rotate creates the next token key. It fails when a next key exists already.
func (m *Manager) Rotate(ctx context.Context, commonName string) (Key, error) {
	return m.RotateOf(ctx, PurposeToken, commonName)
}

// RotateOf creates the next token key of purpose (one of TokenPurposes).
func (m *Manager) RotateOf(ctx context.Context, purpose, commonName string) (Key, error) {
	if !IsTokenPurpose(purpose) {
		return Key{}, fmt.Errorf("%q is not a token-signing key purpose", purpose)
	}
	if _, ok, err := m.Next(ctx, purpose); err != nil {
		return Key{}, err
	} else if ok {
		return Key{}, fmt.Errorf("a next key exists already; promote it first: %w", ErrState)
	}
	return m.CreateTokenKeyOf(ctx, purpose, commonName, store.KeyNext)
}

// Promote makes the next key current; the previous current key becomes retired (still
// published so tokens it signed keep verifying until `retire`).
func (m *Manager) Promote(ctx context.Context) error { return m.PromoteOf(ctx, PurposeToken) }

// PromoteOf is Promote for the token keys of purpose.
func (m *Manager) PromoteOf(ctx context.Context, purpose string) error {
	if !IsTokenPurpose(purpose) {
		return fmt.Errorf("%q is not a token-signing key purpose", purpose)
	}
	m.invalidate(purpose)
	return m.Store.InTx(ctx, func(tx store.Store) error {
		rows, err := tx.ListSigningKeys(ctx, purpose)
		if err != nil {
			return err
		}
		var next string
		for _, r := range rows {
			if r.State == store.KeyNext {
				next = r.ID
			}
		}
		if next == "" {
			return fmt.Errorf("there is no next key; run rotate first: %w", ErrState)
		}
		for _, r := range rows {
			to := r.State
			switch r.State {
			case store.KeyCurrent:
				to = store.KeyRetired
			case store.KeyNext:
				to = store.KeyCurrent
			}
			if to == r.State {
				continue
			}
			if _, err := tx.UpdateSigningKey(ctx, r.ID, func(k store.SigningKey) (store.SigningKey, error) {
				k.State, k.UpdatedAt = to, m.Now().UTC()
				return k, nil
			}); err != nil {
				return fmt.Errorf("update key %s: %w", r.ID, err)
			}
		}
		return nil
	})
}

// Retire deletes retired token keys; it returns how many.
func (m *Manager) Retire(ctx context.Context) (int, error) { return m.RetireOf(ctx, PurposeToken) }

// RetireOf is Retire for the token keys of purpose.
func (m *Manager) RetireOf(ctx context.Context, purpose string) (int, error) {
	if !IsTokenPurpose(purpose) {
		return 0, fmt.Errorf("%q is not a token-signing key purpose", purpose)
	}
	m.invalidate(purpose)
	rows, err := m.Store.ListSigningKeys(ctx, purpose)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range rows {
		if r.State != store.KeyRetired {
			continue
		}
		if err := m.Store.DeleteSigningKey(ctx, r.ID); err != nil {
			return n, fmt.Errorf("delete key %s: %w", r.ID, err)
		}
		n++
	}
	return n, nil
}

func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return n.Add(n, big.NewInt(1))
}
