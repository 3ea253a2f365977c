//go:build openssl && cgo

package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"

	"github.com/sekisho/sekisho/internal/keys/osslsign"
)

// Accelerate returns an OpenSSL-backed signer for an RSA or ECDSA key (this build has -tags
// openssl), about twice as fast as crypto/rsa and crypto/ecdsa; other keys, and keys OpenSSL
// cannot load, are returned unchanged.
func Accelerate(s crypto.Signer) crypto.Signer {
	switch s.(type) {
	case *rsa.PrivateKey, *ecdsa.PrivateKey:
		if o, err := osslsign.New(s); err == nil {
			return o
		}
	}
	return s
}
