// Package saml11token builds and signs the SAML 1.1 assertion Microsoft 365 accepts from a
// federated IdP (WS-Federation passive and WS-Trust active). The assertion is
// self-contained: it declares xmlns:saml on itself, so it can be embedded in any envelope
// and forwarded byte for byte (MSAL does).
package saml11token

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

// Namespaces and fixed values of the SAML 1.1 profile Entra ID uses.
const (
	NS               = "urn:oasis:names:tc:SAML:1.0:assertion"
	TokenType        = "urn:oasis:names:tc:SAML:1.0:assertion" // WS-Trust TokenType
	NameIDFormat     = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
	BearerMethod     = "urn:oasis:names:tc:SAML:1.0:cm:bearer"
	PasswordMethod   = "urn:oasis:names:tc:SAML:1.0:am:password"
	MFAMethod        = "http://schemas.microsoft.com/claims/multipleauthn"
	ClaimsNS         = "http://schemas.xmlsoap.org/claims"                      // UPN
	LiveIDNS         = "http://schemas.microsoft.com/LiveID/Federation/2008/05" // ImmutableID
	CorpNetNS        = "http://schemas.microsoft.com/ws/2012/01"                // insidecorporatenetwork
	AuthnMethodsNS   = "http://schemas.microsoft.com/claims"                    // authnmethodsreferences
	TimeFormat       = "2006-01-02T15:04:05.000Z"
	DefaultLifetime  = time.Hour
	DefaultClockSkew = 5 * time.Minute
)

// Assertion is what goes into one token.
type Assertion struct {
	Issuer      string // the domain's issuer URI
	Audience    string // normally m365.Realm
	ImmutableID string // NameIdentifier and the ImmutableID attribute
	UPN         string
	// InsideCorporateNetwork, when non-nil, adds the insidecorporatenetwork claim.
	InsideCorporateNetwork *bool
	// MFA reports a second factor: AuthenticationMethod becomes multipleauthn and the
	// attribute authnmethodsreferences carries multipleauthn too (ADFS emits both forms;
	// Entra reads either, per how-to-mfa-expected-inbound-assertions).
	MFA          bool
	AuthnInstant time.Time // when the user proved a credential; zero = IssueInstant
	IssueInstant time.Time // zero = now
	// NotBefore/NotOnOrAfter default to IssueInstant-DefaultClockSkew and IssueInstant+DefaultLifetime.
	NotBefore    time.Time
	NotOnOrAfter time.Time
	ID           string // AssertionID; empty = random "_" + 32 hex digits
}

// Signer signs assertions (and other documents) with one key. It is safe for concurrent use.
type Signer struct {
	key  crypto.Signer
	cert *x509.Certificate
}

// NewSigner returns a Signer for key (an RSA key, possibly held in an HSM or KMS) whose
// public half is cert.
func NewSigner(key crypto.Signer, cert *x509.Certificate) (*Signer, error) {
	if key == nil || cert == nil {
		return nil, errors.New("saml11: signer needs a key and its certificate")
	}
	if !publicKeysEqual(key.Public(), cert.PublicKey) {
		return nil, errors.New("saml11: the certificate does not match the signing key")
	}
	return &Signer{key: key, cert: cert}, nil
}

// Certificate returns the certificate published for this key.
func (s *Signer) Certificate() *x509.Certificate { return s.cert }

func (s *Signer) context(idAttr string) (*dsig.SigningContext, error) {
	// A SigningContext is cheap; one per call keeps IdAttribute free of data races.
	ctx, err := dsig.NewSigningContext(s.key, [][]byte{s.cert.Raw})
	if err != nil {
		return nil, fmt.Errorf("saml11: signing context: %w", err)
	}
	ctx.IdAttribute = idAttr
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if err := ctx.SetSignatureMethod(dsig.RSASHA256SignatureMethod); err != nil {
		return nil, fmt.Errorf("saml11: signature method: %w", err)
	}
	return ctx, nil
}

// SignEnveloped signs el with an enveloped signature (exclusive c14n, RSA-SHA256) over the
// element whose idAttr attribute it references, and returns the signed copy with the
// signature as its last child (where SAML 1.1 wants it).
func (s *Signer) SignEnveloped(el *etree.Element, idAttr string) (*etree.Element, error) {
	ctx, err := s.context(idAttr)
	if err != nil {
		return nil, err
	}
	signed, err := ctx.SignEnveloped(el)
	if err != nil {
		return nil, fmt.Errorf("saml11: sign: %w", err)
	}
	return signed, nil
}

// SignEnvelopedFirst is SignEnveloped with the signature as the first child (where SAML 2.0
// metadata wants it). It modifies el and returns it.
func (s *Signer) SignEnvelopedFirst(el *etree.Element, idAttr string) (*etree.Element, error) {
	ctx, err := s.context(idAttr)
	if err != nil {
		return nil, err
	}
	sig, err := ctx.ConstructSignature(el, true)
	if err != nil {
		return nil, fmt.Errorf("saml11: sign: %w", err)
	}
	el.InsertChildAt(0, sig)
	return el, nil
}

// Sign builds the assertion and returns it signed.
func (s *Signer) Sign(a Assertion) (*etree.Element, error) {
	el, err := Build(a)
	if err != nil {
		return nil, err
	}
	return s.SignEnveloped(el, "AssertionID")
}

// Build returns the unsigned assertion element. Fields are checked, not guessed.
func Build(a Assertion) (*etree.Element, error) {
	v, err := a.values()
	if err != nil {
		return nil, err
	}
	as := etree.NewElement("saml:Assertion")
	as.CreateAttr("xmlns:saml", NS)
	as.CreateAttr("MajorVersion", "1")
	as.CreateAttr("MinorVersion", "1")
	as.CreateAttr("AssertionID", v.id)
	as.CreateAttr("Issuer", a.Issuer)
	as.CreateAttr("IssueInstant", v.issue)

	cond := as.CreateElement("saml:Conditions")
	cond.CreateAttr("NotBefore", v.notBefore)
	cond.CreateAttr("NotOnOrAfter", v.notOnOrAfter)
	cond.CreateElement("saml:AudienceRestrictionCondition").CreateElement("saml:Audience").SetText(a.Audience)

	st := as.CreateElement("saml:AttributeStatement")
	subject(st, a.ImmutableID)
	for _, at := range v.attrs {
		attr(st, at.name, at.ns, at.value)
	}

	au := as.CreateElement("saml:AuthenticationStatement")
	au.CreateAttr("AuthenticationMethod", v.method)
	au.CreateAttr("AuthenticationInstant", v.authn)
	subject(au, a.ImmutableID)
	return as, nil
}

// values are an assertion's checked, final values, shared by Build and the template.
type values struct {
	id, issue, notBefore, notOnOrAfter, authn, method string
	attrs                                             []attribute
}

type attribute struct{ name, ns, value string }

func (a Assertion) values() (values, error) {
	switch {
	case a.Issuer == "":
		return values{}, errors.New("saml11: assertion needs an issuer")
	case a.Audience == "":
		return values{}, errors.New("saml11: assertion needs an audience")
	case a.ImmutableID == "":
		return values{}, errors.New("saml11: user has no ImmutableID; Microsoft 365 cannot match the assertion to an account")
	case a.UPN == "":
		return values{}, errors.New("saml11: assertion needs a UPN")
	}
	now := a.IssueInstant
	if now.IsZero() {
		now = time.Now()
	}
	now = now.UTC()
	authn := a.AuthnInstant
	if authn.IsZero() {
		authn = now
	}
	nb, noa := a.NotBefore, a.NotOnOrAfter
	if nb.IsZero() {
		nb = now.Add(-DefaultClockSkew)
	}
	if noa.IsZero() {
		noa = now.Add(DefaultLifetime)
	}
	if !noa.After(nb) {
		return values{}, errors.New("saml11: NotOnOrAfter must be after NotBefore")
	}
	id := a.ID
	if id == "" {
		var err error
		if id, err = NewID(); err != nil {
			return values{}, err
		}
	}
	v := values{id: id, issue: now.Format(TimeFormat), notBefore: nb.UTC().Format(TimeFormat),
		notOnOrAfter: noa.UTC().Format(TimeFormat), authn: authn.UTC().Format(TimeFormat), method: PasswordMethod,
		attrs: make([]attribute, 0, 4)}
	if a.MFA {
		v.method = MFAMethod
	}
	v.attrs = append(v.attrs, attribute{"UPN", ClaimsNS, a.UPN}, attribute{"ImmutableID", LiveIDNS, a.ImmutableID})
	if a.InsideCorporateNetwork != nil {
		v.attrs = append(v.attrs, attribute{"insidecorporatenetwork", CorpNetNS, strconv.FormatBool(*a.InsideCorporateNetwork)})
	}
	if a.MFA {
		v.attrs = append(v.attrs, attribute{"authnmethodsreferences", AuthnMethodsNS, MFAMethod})
	}
	return v, nil
}

func subject(parent *etree.Element, nameID string) {
	s := parent.CreateElement("saml:Subject")
	n := s.CreateElement("saml:NameIdentifier")
	n.CreateAttr("Format", NameIDFormat)
	n.SetText(nameID)
	s.CreateElement("saml:SubjectConfirmation").CreateElement("saml:ConfirmationMethod").SetText(BearerMethod)
}

func attr(parent *etree.Element, name, ns, value string) {
	a := parent.CreateElement("saml:Attribute")
	a.CreateAttr("AttributeName", name)
	a.CreateAttr("AttributeNamespace", ns)
	a.CreateElement("saml:AttributeValue").SetText(value)
}

// NewID returns a random XML ID (an NCName: it starts with an underscore).
func NewID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("saml11: random ID: %w", err)
	}
	return "_" + hex.EncodeToString(b[:]), nil
}

// Serialize writes el as a standalone string (no XML declaration, no indentation: the
// signature covers the exact text content).
func Serialize(el *etree.Element) (string, error) {
	doc := etree.NewDocument()
	doc.SetRoot(el.Copy())
	s, err := doc.WriteToString()
	if err != nil {
		return "", fmt.Errorf("saml11: serialize: %w", err)
	}
	return s, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(equaler)
	return ok && e.Equal(b)
}
