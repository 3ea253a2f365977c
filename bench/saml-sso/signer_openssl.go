//go:build openssl && cgo

package main

import (
	"crypto"
	"crypto/rsa"

	"github.com/sekisho/sekisho/internal/keys/osslsign"
)

// haveOpenSSL: this build measures the OpenSSL-backed signer too.
const haveOpenSSL = true

func opensslSigner(k *rsa.PrivateKey) (crypto.Signer, error) { return osslsign.New(k) }
