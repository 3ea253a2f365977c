package keys_test

import (
	"crypto"
	"crypto/rsa"
)

func verifyRSA(pub any, digest, sig []byte) bool {
	k, ok := pub.(*rsa.PublicKey)
	return ok && rsa.VerifyPKCS1v15(k, crypto.SHA256, digest, sig) == nil
}
