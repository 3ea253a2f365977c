package saml11token

import (
	"errors"
	"fmt"

	"github.com/sekisho/sekisho/internal/xmltemplate"
)

// SignedXML builds the assertion and returns it signed, as bytes in exclusive canonical form
// written from a template (internal/xmltemplate states the rules): the digest is computed over
// the bytes returned, with no element tree or canonicalisation step. It is what Sign returns,
// serialised canonically; emit_test.go proves the two equal byte for byte (FuzzSignedXML for
// random values), and xmlsec1 and samlsign verify the result.
func (s *Signer) SignedXML(a Assertion) ([]byte, error) {
	v, err := a.values()
	if err != nil {
		return nil, err
	}
	doc := assertionXML(make([]byte, 0, 2048), a, v)
	end := len(doc) - len(assertionEnd)
	if end < 0 {
		return nil, errors.New("saml11: template")
	}
	signed, err := xmltemplate.Signed(doc, end, v.id, xmltemplate.Key{Signer: s.key, Chain: [][]byte{s.cert.Raw}})
	if err != nil {
		return nil, fmt.Errorf("saml11: sign: %w", err)
	}
	return signed, nil
}

const assertionEnd = `</saml:Assertion>`

// assertionXML writes the unsigned canonical assertion (attributes of each start tag in
// canonical order: by name).
func assertionXML(dst []byte, a Assertion, v values) []byte {
	x := xmltemplate.Attr
	t := xmltemplate.Text
	dst = append(dst, `<saml:Assertion xmlns:saml="`+NS+`" AssertionID="`...)
	dst = x(dst, v.id)
	dst = append(dst, `" IssueInstant="`...)
	dst = x(dst, v.issue)
	dst = append(dst, `" Issuer="`...)
	dst = x(dst, a.Issuer)
	dst = append(dst, `" MajorVersion="1" MinorVersion="1"><saml:Conditions NotBefore="`...)
	dst = x(dst, v.notBefore)
	dst = append(dst, `" NotOnOrAfter="`...)
	dst = x(dst, v.notOnOrAfter)
	dst = append(dst, `"><saml:AudienceRestrictionCondition><saml:Audience>`...)
	dst = t(dst, a.Audience)
	dst = append(dst, `</saml:Audience></saml:AudienceRestrictionCondition></saml:Conditions><saml:AttributeStatement>`...)
	dst = subjectXML(dst, a.ImmutableID)
	for _, at := range v.attrs {
		dst = append(dst, `<saml:Attribute AttributeName="`...)
		dst = x(dst, at.name)
		dst = append(dst, `" AttributeNamespace="`...)
		dst = x(dst, at.ns)
		dst = append(dst, `"><saml:AttributeValue>`...)
		dst = t(dst, at.value)
		dst = append(dst, `</saml:AttributeValue></saml:Attribute>`...)
	}
	dst = append(dst, `</saml:AttributeStatement><saml:AuthenticationStatement AuthenticationInstant="`...)
	dst = x(dst, v.authn)
	dst = append(dst, `" AuthenticationMethod="`...)
	dst = x(dst, v.method)
	dst = append(dst, `">`...)
	dst = subjectXML(dst, a.ImmutableID)
	dst = append(dst, `</saml:AuthenticationStatement>`...)
	return append(dst, assertionEnd...)
}

func subjectXML(dst []byte, nameID string) []byte {
	dst = append(dst, `<saml:Subject><saml:NameIdentifier Format="`+NameIDFormat+`">`...)
	dst = xmltemplate.Text(dst, nameID)
	return append(dst, `</saml:NameIdentifier><saml:SubjectConfirmation><saml:ConfirmationMethod>`+BearerMethod+`</saml:ConfirmationMethod></saml:SubjectConfirmation></saml:Subject>`...)
}
