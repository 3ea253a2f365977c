//go:build openssl && cgo

// An RSA crypto.Signer backed by OpenSSL's libcrypto (cgo, build tag
// "openssl", needs libssl-dev). Go's crypto/rsa signs RSA-2048 at about a third of OpenSSL's
// rate on x86-64; token signing is the dominant cost of a SAML or WS-Fed response, so a
// deployment that needs the throughput can plug this signer into saml.SigningKey.
//
// It belongs with the key management (internal/keys) once that exists; it lives here so the
// SAML benchmark can measure it.

package osslsign

/*
#cgo LDFLAGS: -lcrypto
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

static EVP_PKEY *ossl_load_key(const unsigned char *der, long len) {
	const unsigned char *p = der;
	return d2i_AutoPrivateKey(NULL, &p, len);
}

static int ossl_sign(EVP_PKEY *k, int nid, const unsigned char *dg, size_t dglen, unsigned char *sig, size_t *siglen) {
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(k, NULL);
	if (ctx == NULL) return 0;
	int ok = EVP_PKEY_sign_init(ctx) > 0 &&
		EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) > 0 &&
		EVP_PKEY_CTX_set_signature_md(ctx, EVP_get_digestbynid(nid)) > 0 &&
		EVP_PKEY_sign(ctx, sig, siglen, dg, dglen) > 0;
	EVP_PKEY_CTX_free(ctx);
	return ok;
}
*/
import "C"

import (
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"runtime"
	"unsafe"
)

// Available reports whether this build has the OpenSSL signer.
const Available = true

// Signer signs PKCS#1 v1.5 RSA signatures with OpenSSL. Safe for concurrent use.
type Signer struct {
	pub  *rsa.PublicKey
	pkey *C.EVP_PKEY
	size int
}

// New loads key into OpenSSL.
func New(key *rsa.PrivateKey) (*Signer, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("osslsign: %w", err)
	}
	pk := C.ossl_load_key((*C.uchar)(unsafe.Pointer(&der[0])), C.long(len(der)))
	clear(der)
	if pk == nil {
		return nil, errors.New("osslsign: OpenSSL could not load the key")
	}
	s := &Signer{pub: &key.PublicKey, pkey: pk, size: int(C.EVP_PKEY_get_size(pk))}
	runtime.SetFinalizer(s, func(s *Signer) { C.EVP_PKEY_free(s.pkey) })
	return s, nil
}

func (s *Signer) Public() crypto.PublicKey { return s.pub }

// Sign signs digest (already hashed with opts.HashFunc()) with PKCS#1 v1.5 padding.
func (s *Signer) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if _, pss := opts.(*rsa.PSSOptions); pss {
		return nil, errors.New("osslsign: PSS not supported")
	}
	var nid C.int
	switch opts.HashFunc() {
	case crypto.SHA256:
		nid = C.NID_sha256
	case crypto.SHA384:
		nid = C.NID_sha384
	case crypto.SHA512:
		nid = C.NID_sha512
	default:
		return nil, fmt.Errorf("osslsign: hash %v not supported", opts.HashFunc())
	}
	if len(digest) != opts.HashFunc().Size() {
		return nil, errors.New("osslsign: digest length does not match the hash")
	}
	sig := make([]byte, s.size)
	n := C.size_t(len(sig))
	ok := C.ossl_sign(s.pkey, nid, (*C.uchar)(unsafe.Pointer(&digest[0])), C.size_t(len(digest)),
		(*C.uchar)(unsafe.Pointer(&sig[0])), &n)
	runtime.KeepAlive(s)
	if ok == 0 {
		return nil, errors.New("osslsign: OpenSSL signing failed")
	}
	return sig[:n], nil
}
