// Package osslsign is an OpenSSL-backed RSA and ECDSA crypto.Signer, built only with -tags openssl
// (cgo and libssl-dev required). Without the tag the package is empty and Available is false.
package osslsign
