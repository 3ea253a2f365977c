// Package secrets seals secret material (private keys, TOTP seeds, upstream tokens) with
// AES-256-GCM under the master key before it reaches the store, and opens it again.
//
// The master key lives outside the database: in a 0600 file in the data folder or in
// SEKISHO_MASTER_KEY. A sealed value carries a key check ID so that a wrong master key is
// reported as such instead of as corrupted data.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
)

// KeySize is the master key length in bytes (AES-256).
const KeySize = 32

const version = 1

// ErrWrongKey means the value was sealed under another master key.
var ErrWrongKey = errors.New("sealed with a different master key")

// Sealer seals and opens values under one master key.
type Sealer struct {
	aead    cipher.AEAD
	keyID   [4]byte
	derived [32]byte // HMAC key for Derive, itself derived so the master key is used for one purpose each
}

// New returns a Sealer for a 32-byte master key.
func New(key []byte) (*Sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("master key must be %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	s := &Sealer{aead: aead}
	sum := sha256.Sum256(append([]byte("sekisho-key-id:"), key...))
	copy(s.keyID[:], sum[:4])
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("sekisho-derive"))
	copy(s.derived[:], mac.Sum(nil))
	return s, nil
}

// Derive returns a 32-byte key for one named purpose (e.g. authenticating state carried by
// browsers), the same on every node sharing the master key, independent of every other label.
func (s *Sealer) Derive(label string) []byte {
	mac := hmac.New(sha256.New, s.derived[:])
	mac.Write([]byte(label))
	return mac.Sum(nil)
}

// KeyedHash is HMAC-SHA256 under key (one Derive'd for the purpose) over parts joined by a
// zero byte: how random secrets Sekisho made (API tokens, OIDC client secrets) are stored.
// Such secrets have no dictionary to attack, so a slow password hash would add only cost;
// the key means a copy of the database alone cannot test a guess.
func KeyedHash(key []byte, parts ...string) []byte {
	mac := hmac.New(sha256.New, key)
	for i, p := range parts {
		if i > 0 {
			mac.Write([]byte{0})
		}
		mac.Write([]byte(p))
	}
	return mac.Sum(nil)
}

// KeyID identifies the master key (first bytes of a hash of it); safe to store and show.
func (s *Sealer) KeyID() string { return fmt.Sprintf("%x", s.keyID) }

// Seal encrypts plain; aad binds the value to its place (e.g. "signing-key:ID") so a sealed
// value copied into another row does not open.
func (s *Sealer) Seal(plain, aad []byte) ([]byte, error) {
	out := make([]byte, 1+4, 1+4+s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	out[0] = version
	copy(out[1:5], s.keyID[:])
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	out = append(out, nonce...)
	return s.aead.Seal(out, nonce, plain, aad), nil
}

// Open decrypts a value produced by Seal with the same aad.
func (s *Sealer) Open(sealed, aad []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	if len(sealed) < 1+4+ns+s.aead.Overhead() || sealed[0] != version {
		return nil, errors.New("open sealed value: malformed")
	}
	if subtle.ConstantTimeCompare(sealed[1:5], s.keyID[:]) != 1 {
		return nil, fmt.Errorf("open sealed value: %w", ErrWrongKey)
	}
	nonce := sealed[5 : 5+ns]
	plain, err := s.aead.Open(nil, nonce, sealed[5+ns:], aad)
	if err != nil {
		return nil, errors.New("open sealed value: authentication failed (tampered or wrong place)")
	}
	return plain, nil
}

// GenerateKey returns a fresh random master key.
func GenerateKey() ([]byte, error) {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("generate master key: %w", err)
	}
	return k, nil
}

// EncodeKey renders a key for the key file or SEKISHO_MASTER_KEY (standard base64).
func EncodeKey(k []byte) string { return base64.StdEncoding.EncodeToString(k) }

// DecodeKey parses a base64 master key.
func DecodeKey(s string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("master key is not base64: %w", err)
	}
	if len(k) != KeySize {
		return nil, fmt.Errorf("master key must decode to %d bytes, got %d", KeySize, len(k))
	}
	return k, nil
}

// WriteKeyFile creates path with mode 0600 holding k. It refuses to overwrite an existing file:
// losing a master key loses every secret sealed under it.
func WriteKeyFile(path string, k []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("master key file %s already exists; refusing to overwrite it", path)
		}
		return fmt.Errorf("create master key file: %w", err)
	}
	if _, err := f.WriteString(EncodeKey(k) + "\n"); err != nil {
		f.Close()
		return fmt.Errorf("write master key file: %w", err)
	}
	return f.Close()
}

// LoadKey reads the master key from SEKISHO_MASTER_KEY when set, else from path.
func LoadKey(path string) ([]byte, error) {
	if v := os.Getenv("SEKISHO_MASTER_KEY"); v != "" {
		k, err := DecodeKey(v)
		if err != nil {
			return nil, fmt.Errorf("SEKISHO_MASTER_KEY: %w", err)
		}
		return k, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read master key: %w", err)
	}
	k, err := DecodeKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}
