//go:build !openssl || !cgo

package osslsign

// Available reports whether this build has the OpenSSL signer.
const Available = false
