//go:build openssl && cgo

// An RSA and ECDSA crypto.Signer backed by OpenSSL's libcrypto (cgo, build tag "openssl",
// needs libssl-dev). Go's crypto/rsa signs RSA-2048 at about a third of OpenSSL's rate on
// x86-64, and crypto/ecdsa signs P-256 at about half of it (a hedged nonce from an HMAC-DRBG
// per signature); token signing is the dominant cost of a SAML or WS-Fed response and a
// large part of an OIDC token grant.
//
// internal/keys.Accelerate puts it behind every RSA and ECDSA token-signing key in builds with
// the tag.

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

// A signing context set up once (padding, digest) and reused: with OpenSSL 3 creating and
// initialising a context per signature costs about a third of the signature itself.
// An ECDSA context signs the digest as given (DER signature); the digest type only checks its
// length.
static EVP_PKEY_CTX *ossl_ctx_new(EVP_PKEY *k, int nid, int rsa) {
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(k, NULL);
	if (ctx == NULL) return NULL;
	if (EVP_PKEY_sign_init(ctx) > 0 &&
		(!rsa || EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) > 0) &&
		EVP_PKEY_CTX_set_signature_md(ctx, EVP_get_digestbynid(nid)) > 0) {
		return ctx;
	}
	EVP_PKEY_CTX_free(ctx);
	return NULL;
}
static int ossl_sign_ctx(EVP_PKEY_CTX *ctx, const unsigned char *dg, size_t dglen, unsigned char *sig, size_t *siglen) {
	return EVP_PKEY_sign(ctx, sig, siglen, dg, dglen) > 0;
}
*/
import "C"

import (
	"crypto"
	"crypto/ecdsa"
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

// Signer signs PKCS#1 v1.5 RSA signatures or ASN.1 ECDSA signatures (as crypto/ecdsa's
// SignASN1) with OpenSSL. Safe for concurrent use.
type Signer struct {
	pub  crypto.PublicKey
	rsa  bool
	pkey *C.EVP_PKEY
	size int // the largest signature
	// idle holds initialised signing contexts per digest, each used by one goroutine at a
	// time; a bounded channel (not sync.Pool) so that none is dropped without being freed.
	idle map[C.int]chan *C.EVP_PKEY_CTX
}

var nids = []C.int{C.NID_sha256, C.NID_sha384, C.NID_sha512}

func (s *Signer) free() {
	for _, ch := range s.idle {
		for len(ch) > 0 {
			C.EVP_PKEY_CTX_free(<-ch)
		}
	}
	C.EVP_PKEY_free(s.pkey)
}

// New loads key, an *rsa.PrivateKey or an *ecdsa.PrivateKey, into OpenSSL.
func New(key crypto.Signer) (*Signer, error) {
	switch key.(type) {
	case *rsa.PrivateKey, *ecdsa.PrivateKey:
	default:
		return nil, fmt.Errorf("osslsign: %T keys not supported", key)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("osslsign: %w", err)
	}
	pk := C.ossl_load_key((*C.uchar)(unsafe.Pointer(&der[0])), C.long(len(der)))
	clear(der)
	if pk == nil {
		return nil, errors.New("osslsign: OpenSSL could not load the key")
	}
	_, isRSA := key.(*rsa.PrivateKey)
	s := &Signer{pub: key.Public(), rsa: isRSA, pkey: pk, size: int(C.EVP_PKEY_get_size(pk)), idle: map[C.int]chan *C.EVP_PKEY_CTX{}}
	for _, n := range nids {
		s.idle[n] = make(chan *C.EVP_PKEY_CTX, 2*runtime.GOMAXPROCS(0))
	}
	runtime.SetFinalizer(s, (*Signer).free)
	return s, nil
}

func (s *Signer) Public() crypto.PublicKey { return s.pub }

// Sign signs digest (already hashed with opts.HashFunc()): PKCS#1 v1.5 padding for an RSA
// key, an ASN.1 (r, s) for an ECDSA key, its nonce from OpenSSL's own generator.
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
	var ctx *C.EVP_PKEY_CTX
	select {
	case ctx = <-s.idle[nid]:
	default:
		if ctx = C.ossl_ctx_new(s.pkey, nid, cBool(s.rsa)); ctx == nil {
			return nil, errors.New("osslsign: OpenSSL could not set up a signing context")
		}
	}
	sig := make([]byte, s.size)
	n := C.size_t(len(sig))
	ok := C.ossl_sign_ctx(ctx, (*C.uchar)(unsafe.Pointer(&digest[0])), C.size_t(len(digest)),
		(*C.uchar)(unsafe.Pointer(&sig[0])), &n)
	select {
	case s.idle[nid] <- ctx:
	default:
		C.EVP_PKEY_CTX_free(ctx)
	}
	runtime.KeepAlive(s)
	if ok == 0 {
		return nil, errors.New("osslsign: OpenSSL signing failed")
	}
	return sig[:n], nil
}

func cBool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}
