//go:build !openssl || !cgo

package main

import (
	"crypto"
	"crypto/rsa"
)

// opensslSigner is nil without -tags openssl: only Go's crypto/rsa is measured.
func opensslSigner(*rsa.PrivateKey) (crypto.Signer, error) { return nil, nil }
