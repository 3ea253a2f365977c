package xmltemplate

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
)

// Algorithm identifiers of the signatures emitted here.
const (
	NSDSig          = "http://www.w3.org/2000/09/xmldsig#"
	ExcC14N         = "http://www.w3.org/2001/10/xml-exc-c14n#"
	EnvelopedSig    = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
	DigestSHA256    = "http://www.w3.org/2001/04/xmlenc#sha256"
	SigRSASHA256    = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
	SigECDSASHA256  = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
	signatureOpen   = `<ds:Signature xmlns:ds="` + NSDSig + `">`
	signedInfoOpenC = `<ds:SignedInfo xmlns:ds="` + NSDSig + `">` // as digested (detached, canonical)
	signedInfoOpen  = `<ds:SignedInfo>`                           // as written inside ds:Signature
)

// Key is a signing key with its certificate chain (DER), Chain[0] the key's own. An RSA key
// signs with RSA-SHA256 (PKCS#1 v1.5), a P-256 key with ECDSA-SHA256 (the signature value as
// XML-DSig 1.1 wants it: r and s, 32 bytes each).
type Key struct {
	Signer crypto.Signer
	Chain  [][]byte
}

func (k Key) method() (string, error) {
	if k.Signer == nil || len(k.Chain) == 0 {
		return "", errors.New("xmltemplate: no signing key")
	}
	switch pub := k.Signer.Public().(type) {
	case *rsa.PublicKey:
		return SigRSASHA256, nil
	case *ecdsa.PublicKey:
		if pub.Curve.Params().BitSize != 256 {
			return "", errors.New("xmltemplate: only P-256 ECDSA keys are supported")
		}
		return SigECDSASHA256, nil
	default:
		return "", fmt.Errorf("xmltemplate: unsupported key type %T", pub)
	}
}

// signedInfoBody is SignedInfo's content (after its start tag), canonical.
func signedInfoBody(dst []byte, method, id string, digest []byte) []byte {
	dst = append(dst, `<ds:CanonicalizationMethod Algorithm="`+ExcC14N+`"></ds:CanonicalizationMethod><ds:SignatureMethod Algorithm="`...)
	dst = append(dst, method...)
	dst = append(dst, `"></ds:SignatureMethod><ds:Reference URI="#`...)
	dst = Attr(dst, id)
	dst = append(dst, `"><ds:Transforms><ds:Transform Algorithm="`+EnvelopedSig+`"></ds:Transform><ds:Transform Algorithm="`+ExcC14N+`"></ds:Transform></ds:Transforms><ds:DigestMethod Algorithm="`+DigestSHA256+`"></ds:DigestMethod><ds:DigestValue>`...)
	dst = base64.StdEncoding.AppendEncode(dst, digest)
	return append(dst, `</ds:DigestValue></ds:Reference></ds:SignedInfo>`...)
}

// Signed returns doc with an enveloped signature inserted at byte offset at. doc must be the
// canonical form of the element the signature covers (as the templates write it), without
// the signature; id is the value of its ID attribute, which the Reference points at.
// The result is canonical too: the canonical form of the element with its ds:Signature child.
func Signed(doc []byte, at int, id string, k Key) ([]byte, error) {
	if at < 0 || at > len(doc) {
		return nil, errors.New("xmltemplate: signature position outside the document")
	}
	method, err := k.method()
	if err != nil {
		return nil, err
	}
	d := sha256.Sum256(doc)

	// The signature element is built in place in the output: its SignedInfo is digested as
	// the detached canonical form (with its own xmlns:ds), written without it.
	size := len(doc) + 1400
	for _, c := range k.Chain {
		size += base64.StdEncoding.EncodedLen(len(c)) + 40
	}
	out := make([]byte, 0, size)
	out = append(out, doc[:at]...)
	out = append(out, signatureOpen...)
	siStart := len(out)
	out = append(out, signedInfoOpenC...)
	out = signedInfoBody(out, method, id, d[:])
	h := sha256.Sum256(out[siStart:])
	// Drop the detached form's xmlns:ds: inside ds:Signature the parent declares it.
	copy(out[siStart+len(signedInfoOpen)-1:], out[siStart+len(signedInfoOpenC)-1:])
	out = out[:len(out)-(len(signedInfoOpenC)-len(signedInfoOpen))]

	sig, err := k.Signer.Sign(rand.Reader, h[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("xmltemplate: sign: %w", err)
	}
	if method == SigECDSASHA256 {
		if sig, err = ecdsaRaw(sig); err != nil {
			return nil, err
		}
	}
	out = append(out, `<ds:SignatureValue>`...)
	out = base64.StdEncoding.AppendEncode(out, sig)
	out = append(out, `</ds:SignatureValue><ds:KeyInfo><ds:X509Data>`...)
	for _, c := range k.Chain {
		out = append(out, `<ds:X509Certificate>`...)
		out = base64.StdEncoding.AppendEncode(out, c)
		out = append(out, `</ds:X509Certificate>`...)
	}
	out = append(out, `</ds:X509Data></ds:KeyInfo></ds:Signature>`...)
	return append(out, doc[at:]...), nil
}

// ecdsaRaw turns crypto/ecdsa's ASN.1 signature into XML-DSig's r || s (32 bytes each).
func ecdsaRaw(der []byte) ([]byte, error) {
	var rs struct{ R, S *big.Int }
	if rest, err := asn1.Unmarshal(der, &rs); err != nil || len(rest) != 0 || rs.R == nil || rs.S == nil ||
		rs.R.Sign() <= 0 || rs.S.Sign() <= 0 || rs.R.BitLen() > 256 || rs.S.BitLen() > 256 {
		return nil, errors.New("xmltemplate: malformed ECDSA signature")
	}
	out := make([]byte, 64)
	rs.R.FillBytes(out[:32])
	rs.S.FillBytes(out[32:])
	return out, nil
}
