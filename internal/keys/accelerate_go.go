//go:build !openssl || !cgo

package keys

import "crypto"

// Accelerate returns s unchanged: this build signs with Go's crypto packages. Build with
// -tags openssl (cgo, libssl-dev) for an OpenSSL-backed RSA and ECDSA signer.
func Accelerate(s crypto.Signer) crypto.Signer { return s }
