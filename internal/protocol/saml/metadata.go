package saml

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

// SigningKey is the IdP's current token-signing key. Signer is any crypto.Signer with an RSA
// public key (a hardware or OpenSSL-backed signer plugs in here); Chain[0] is its certificate.
type SigningKey struct {
	Signer crypto.Signer
	Chain  []*x509.Certificate
}

// KeySource supplies the signing key and the next certificate (published in metadata so SPs
// such as Entra ID pick it up before rollover).
type KeySource interface {
	Current(ctx context.Context) (SigningKey, error)
	Next(ctx context.Context) (*x509.Certificate, error) // nil when no rollover is pending
}

// StaticKeys is a fixed KeySource (tests, benchmarks, single-key deployments).
type StaticKeys struct {
	Key      SigningKey
	NextCert *x509.Certificate
}

func (s StaticKeys) Current(context.Context) (SigningKey, error)     { return s.Key, nil }
func (s StaticKeys) Next(context.Context) (*x509.Certificate, error) { return s.NextCert, nil }

// IdPConfig is the identity of this IdP. Endpoints are BaseURL + "/saml/sso" and "/saml/slo".
type IdPConfig struct {
	EntityID string
	BaseURL  string // e.g. https://idp.example.com (no trailing slash)
	// NameIDFormats advertised in metadata (default: persistent, transient, email).
	NameIDFormats []string
	// For Metadata: the current key (signs the document and is published), the next cert.
	Key  SigningKey
	Next *x509.Certificate
	// MetadataValidity sets validUntil (default 7 days).
	MetadataValidity time.Duration
}

// SSOURL is the SingleSignOnService location (also the expected Destination of AuthnRequests).
func (c IdPConfig) SSOURL() string { return strings.TrimRight(c.BaseURL, "/") + "/saml/sso" }

// SLOURL is the SingleLogoutService location.
func (c IdPConfig) SLOURL() string { return strings.TrimRight(c.BaseURL, "/") + "/saml/slo" }

// Metadata returns the IdP's EntityDescriptor, signed with the current key. now sets validUntil.
func Metadata(idp IdPConfig, now time.Time) ([]byte, error) {
	if idp.EntityID == "" || idp.BaseURL == "" {
		return nil, errors.New("saml metadata: entity ID and base URL are required")
	}
	if len(idp.Key.Chain) == 0 || idp.Key.Signer == nil {
		return nil, errors.New("saml metadata: signing key and certificate are required")
	}
	validity := idp.MetadataValidity
	if validity <= 0 {
		validity = 7 * 24 * time.Hour
	}
	formats := idp.NameIDFormats
	if len(formats) == 0 {
		formats = []string{NameIDPersistent, NameIDTransient, NameIDEmail}
	}
	ed := etree.NewElement("md:EntityDescriptor")
	ed.CreateAttr("xmlns:md", NSMetadata)
	ed.CreateAttr("xmlns:ds", NSDSig)
	ed.CreateAttr("ID", newID())
	ed.CreateAttr("entityID", idp.EntityID)
	ed.CreateAttr("validUntil", now.Add(validity).UTC().Format(timeFormat))
	d := ed.CreateElement("md:IDPSSODescriptor")
	d.CreateAttr("protocolSupportEnumeration", NSProtocol)
	d.CreateAttr("WantAuthnRequestsSigned", "false")
	certs := []*x509.Certificate{idp.Key.Chain[0]}
	if idp.Next != nil && !idp.Next.Equal(idp.Key.Chain[0]) {
		certs = append(certs, idp.Next)
	}
	for _, c := range certs {
		kd := d.CreateElement("md:KeyDescriptor")
		kd.CreateAttr("use", "signing")
		kd.CreateElement("ds:KeyInfo").CreateElement("ds:X509Data").CreateElement("ds:X509Certificate").
			SetText(base64.StdEncoding.EncodeToString(c.Raw))
	}
	for _, b := range []string{BindingRedirect, BindingPOST} {
		s := d.CreateElement("md:SingleLogoutService")
		s.CreateAttr("Binding", b)
		s.CreateAttr("Location", idp.SLOURL())
	}
	for _, f := range formats {
		d.CreateElement("md:NameIDFormat").SetText(f)
	}
	for _, b := range []string{BindingRedirect, BindingPOST} {
		s := d.CreateElement("md:SingleSignOnService")
		s.CreateAttr("Binding", b)
		s.CreateAttr("Location", idp.SSOURL())
	}
	signed, err := signEnveloped(ed, idp.Key, 0)
	if err != nil {
		return nil, fmt.Errorf("saml metadata: %w", err)
	}
	return serialize(signed)
}

// signEnveloped signs el (which must carry an ID and declare its own namespaces) with an
// enveloped RSA-SHA256 exclusive-c14n signature inserted as child number at (after Issuer).
func signEnveloped(el *etree.Element, key SigningKey, at int) (*etree.Element, error) {
	if key.Signer == nil || len(key.Chain) == 0 {
		return nil, errors.New("no signing key")
	}
	chain := make([][]byte, len(key.Chain))
	for i, c := range key.Chain {
		chain[i] = c.Raw
	}
	ctx, err := dsig.NewSigningContext(key.Signer, chain)
	if err != nil {
		return nil, fmt.Errorf("signing context: %w", err)
	}
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if err := ctx.SetSignatureMethod(SigAlgRSASHA256); err != nil {
		return nil, fmt.Errorf("signing context: %w", err)
	}
	sig, err := ctx.ConstructSignature(el, true)
	if err != nil {
		return nil, fmt.Errorf("sign %s: %w", el.Tag, err)
	}
	el.InsertChildAt(at, sig)
	return el, nil
}
