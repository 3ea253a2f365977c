//go:build openssl && cgo

package keys

import (
	"crypto"
	"crypto/rsa"

	"github.com/sekisho/sekisho/internal/keys/osslsign"
)

// Accelerate returns an OpenSSL-backed signer for an RSA key (this build has -tags openssl),
// about twice as fast as crypto/rsa; other keys are returned unchanged.
func Accelerate(s crypto.Signer) crypto.Signer {
	if rk, ok := s.(*rsa.PrivateKey); ok {
		if o, err := osslsign.New(rk); err == nil {
			return o
		}
	}
	return s
}
