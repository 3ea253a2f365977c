//go:build !openssl || !cgo

package main

import (
	"crypto"
	"crypto/rsa"
	"errors"
)

// haveOpenSSL is false without -tags openssl: only Go's crypto/rsa is measured.
const haveOpenSSL = false

func opensslSigner(*rsa.PrivateKey) (crypto.Signer, error) {
	return nil, errors.New("built without -tags openssl")
}
