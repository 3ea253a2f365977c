package directory

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id cost parameters.
type Params struct {
	MemoryKiB   uint32
	Iterations  uint32
	Parallelism uint8
}

// DefaultParams follow OWASP's argon2id minimum (m=19 MiB, t=2, p=1).
var DefaultParams = Params{MemoryKiB: 19 * 1024, Iterations: 2, Parallelism: 1}

const (
	saltLen = 16
	keyLen  = 32
)

var errMalformedHash = errors.New("malformed password hash")

// Hash derives a PHC-format argon2id string: $argon2id$v=19$m=…,t=…,p=…$salt$key.
func (p Params) Hash(password string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Iterations, p.MemoryKiB, p.Parallelism, keyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Iterations, p.Parallelism,
		enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// Verify checks password against a PHC string in constant time. needsRehash is true when
// the hash was made with other parameters than p, so the caller can upgrade it.
func (p Params) Verify(password, phc string) (ok, needsRehash bool, err error) {
	hp, salt, key, err := parsePHC(phc)
	if err != nil {
		return false, false, err
	}
	got := argon2.IDKey([]byte(password), salt, hp.Iterations, hp.MemoryKiB, hp.Parallelism, uint32(len(key)))
	ok = subtle.ConstantTimeCompare(got, key) == 1
	return ok, ok && hp != p, nil
}

func parsePHC(phc string) (Params, []byte, []byte, error) {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return Params{}, nil, nil, errMalformedHash
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return Params{}, nil, nil, errMalformedHash
	}
	var hp Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &hp.MemoryKiB, &hp.Iterations, &hp.Parallelism); err != nil {
		return Params{}, nil, nil, errMalformedHash
	}
	if hp.MemoryKiB == 0 || hp.Iterations == 0 || hp.Parallelism == 0 || hp.MemoryKiB > 4*1024*1024 || hp.Iterations > 100 {
		return Params{}, nil, nil, errMalformedHash
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	key, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 || len(key) > 64 {
		return Params{}, nil, nil, errMalformedHash
	}
	return hp, salt, key, nil
}
