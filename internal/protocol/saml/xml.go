package saml

import (
	"fmt"
	"strings"

	"github.com/beevik/etree"

	"github.com/sekisho/sekisho/internal/xmlsafe"
)

// Namespaces and URIs used throughout the package.
const (
	NSProtocol  = "urn:oasis:names:tc:SAML:2.0:protocol"
	NSAssertion = "urn:oasis:names:tc:SAML:2.0:assertion"
	NSMetadata  = "urn:oasis:names:tc:SAML:2.0:metadata"
	NSDSig      = "http://www.w3.org/2000/09/xmldsig#"

	BindingRedirect = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
	BindingPOST     = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"

	NameIDPersistent  = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
	NameIDTransient   = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
	NameIDEmail       = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
	NameIDUnspecified = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"

	AttrNameFormatURI         = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
	AttrNameFormatBasic       = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"
	AttrNameFormatUnspecified = "urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified"

	// ClassPassword is the AuthnContextClassRef of a password sign-in over TLS.
	ClassPassword = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
	// ClassMFAMicrosoft is what Entra ID expects after MFA at the IdP (M365.md §3).
	ClassMFAMicrosoft = "http://schemas.microsoft.com/claims/multipleauthn"
	// ClassMFARefeds is the default MFA class for other SPs: SAML 2.0 defines no generic
	// multi-factor class, and the REFEDS MFA profile is the one SPs (Shibboleth, InCommon,
	// eduGAIN) recognise. Override per SP with ServiceProvider.MFAClassRef.
	ClassMFARefeds = "https://refeds.org/profile/mfa"

	StatusSuccess       = "urn:oasis:names:tc:SAML:2.0:status:Success"
	StatusRequester     = "urn:oasis:names:tc:SAML:2.0:status:Requester"
	StatusPartialLogout = "urn:oasis:names:tc:SAML:2.0:status:PartialLogout"

	// SigAlgRSASHA256 is the only signature algorithm accepted and produced. SHA-1 is refused:
	// Entra ID, Shibboleth and every current SP sign with SHA-256, and SHA-1 collisions are
	// practical; an SP that can only sign with SHA-1 must be reconfigured.
	SigAlgRSASHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
)

// Input limits. XML messages are small; anything bigger is an attack or a mistake.
const (
	maxMessageXML  = 128 << 10 // decoded protocol message
	maxMetadataXML = 1 << 20   // SP metadata document
	inflateRatio   = 100       // max inflated/compressed size for HTTP-Redirect DEFLATE
	maxIDLen       = 256
	maxRelayState  = 1024
)

// ErrDTD reports a document type declaration, which SAML forbids (and which would open the
// door to entity expansion).
var ErrDTD = xmlsafe.ErrDTD

// parseXML parses data once into an element tree with xmlsafe's rules (no DTD or other
// directive, no processing instruction but the XML declaration, at most limit bytes and
// xmlsafe.MaxDepth levels, exactly one root element) and returns the root.
func parseXML(data []byte, limit int) (*etree.Element, error) {
	doc, err := xmlsafe.Parse(data, limit)
	if err != nil {
		return nil, err
	}
	return doc.Root(), nil
}

// is reports whether el is the element {ns}local.
func is(el *etree.Element, ns, local string) bool {
	return el != nil && el.Tag == local && el.NamespaceURI() == ns
}

// children returns el's child elements named {ns}local.
func children(el *etree.Element, ns, local string) []*etree.Element {
	var out []*etree.Element
	for _, c := range el.ChildElements() {
		if is(c, ns, local) {
			out = append(out, c)
		}
	}
	return out
}

// atMostOne returns the single child {ns}local, nil if absent, or an error if repeated.
func atMostOne(el *etree.Element, ns, local string) (*etree.Element, error) {
	cs := children(el, ns, local)
	if len(cs) > 1 {
		return nil, fmt.Errorf("element %s appears %d times", local, len(cs))
	}
	if len(cs) == 0 {
		return nil, nil
	}
	return cs[0], nil
}

// textOf returns the element's whole text. Comments are skipped without splitting the value
// (as exclusive c14n drops them), so "a<!---->b" reads "ab": a comment can never truncate an
// identifier to a prefix that happens to be registered. Child elements are an error.
func textOf(el *etree.Element) (string, error) {
	var b strings.Builder
	for _, t := range el.Child {
		switch c := t.(type) {
		case *etree.CharData:
			b.WriteString(c.Data)
		case *etree.Comment:
		default:
			return "", fmt.Errorf("element %s must contain only text", el.Tag)
		}
	}
	return strings.TrimSpace(b.String()), nil
}

// countDescendants counts elements {ns}local anywhere below el (el excluded).
func countDescendants(el *etree.Element, ns, local string) int {
	n := 0
	for _, c := range el.ChildElements() {
		if is(c, ns, local) {
			n++
		}
		n += countDescendants(c, ns, local)
	}
	return n
}

// serialize writes el as a standalone document without indentation (indentation inside signed
// elements would change their digest).
func serialize(el *etree.Element) ([]byte, error) {
	doc := etree.NewDocument()
	doc.SetRoot(el)
	doc.WriteSettings.CanonicalEndTags = false
	b, err := doc.WriteToBytes()
	if err != nil {
		return nil, fmt.Errorf("serialize %s: %w", el.Tag, err)
	}
	return b, nil
}
