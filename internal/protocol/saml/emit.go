package saml

import (
	"errors"
	"fmt"

	"github.com/sekisho/sekisho/internal/xmltemplate"
)

// The Response and its Assertion are written in exclusive canonical form straight from the
// templates below (internal/xmltemplate states the rules), so the digest is computed over the
// bytes written: no tree, no serialisation, no canonicalisation per response. emit_test.go
// proves the bytes equal what the etree construction this replaced produces once
// goxmldsig's exclusive canonicaliser has run over it (FuzzEmitResponse for random users and
// attributes); xmlsec1 and samlsign verify the results (interop_test.go).
//
// Attribute order inside each start tag is the canonical one (by name, byte order), which is
// not always the order of the schema's attribute list.

// emitted is the data of one response, every value already final.
type emitted struct {
	respID, assertionID             string
	issuer, destination, inResponse string
	issue, notBefore, notOnOrAfter  string
	authnInstant, sessionIndex      string
	nameIDFormat, nameID, audience  string
	classRef                        string
	attrs                           []AttributeMapping
	values                          [][]string // per attrs[i]; empty = attribute left out
	signAssertion, signResponse     bool
}

const (
	nsSAMLAttr  = ` xmlns:saml="` + NSAssertion + `"`
	nsSAMLPAttr = ` xmlns:samlp="` + NSProtocol + `"`
)

// assertionXML writes the unsigned canonical saml:Assertion and returns it with the offset
// after saml:Issuer, where an enveloped signature goes.
func assertionXML(dst []byte, e *emitted) ([]byte, int) {
	x := xmltemplate.Attr
	t := xmltemplate.Text
	dst = append(dst, `<saml:Assertion`+nsSAMLAttr+` ID="`...)
	dst = x(dst, e.assertionID)
	dst = append(dst, `" IssueInstant="`...)
	dst = x(dst, e.issue)
	dst = append(dst, `" Version="2.0"><saml:Issuer>`...)
	dst = t(dst, e.issuer)
	dst = append(dst, `</saml:Issuer>`...)
	at := len(dst)
	dst = append(dst, `<saml:Subject><saml:NameID Format="`...)
	dst = x(dst, e.nameIDFormat)
	dst = append(dst, `">`...)
	dst = t(dst, e.nameID)
	dst = append(dst, `</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData`...)
	if e.inResponse != "" {
		dst = append(dst, ` InResponseTo="`...)
		dst = x(dst, e.inResponse)
		dst = append(dst, '"')
	}
	dst = append(dst, ` NotOnOrAfter="`...)
	dst = x(dst, e.notOnOrAfter)
	dst = append(dst, `" Recipient="`...)
	dst = x(dst, e.destination)
	dst = append(dst, `"></saml:SubjectConfirmationData></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="`...)
	dst = x(dst, e.notBefore)
	dst = append(dst, `" NotOnOrAfter="`...)
	dst = x(dst, e.notOnOrAfter)
	dst = append(dst, `"><saml:AudienceRestriction><saml:Audience>`...)
	dst = t(dst, e.audience)
	dst = append(dst, `</saml:Audience></saml:AudienceRestriction></saml:Conditions><saml:AuthnStatement AuthnInstant="`...)
	dst = x(dst, e.authnInstant)
	dst = append(dst, '"')
	if e.sessionIndex != "" {
		dst = append(dst, ` SessionIndex="`...)
		dst = x(dst, e.sessionIndex)
		dst = append(dst, '"')
	}
	dst = append(dst, `><saml:AuthnContext><saml:AuthnContextClassRef>`...)
	dst = t(dst, e.classRef)
	dst = append(dst, `</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>`...)
	open := false
	for i, m := range e.attrs {
		if len(e.values[i]) == 0 {
			continue
		}
		if !open {
			dst = append(dst, `<saml:AttributeStatement>`...)
			open = true
		}
		dst = append(dst, `<saml:Attribute`...)
		if m.FriendlyName != "" {
			dst = append(dst, ` FriendlyName="`...)
			dst = x(dst, m.FriendlyName)
			dst = append(dst, '"')
		}
		dst = append(dst, ` Name="`...)
		dst = x(dst, m.Name)
		dst = append(dst, `" NameFormat="`...)
		nf := m.NameFormat
		if nf == "" {
			nf = AttrNameFormatUnspecified
		}
		dst = x(dst, nf)
		dst = append(dst, `">`...)
		for _, v := range e.values[i] {
			dst = append(dst, `<saml:AttributeValue>`...)
			dst = t(dst, v)
			dst = append(dst, `</saml:AttributeValue>`...)
		}
		dst = append(dst, `</saml:Attribute>`...)
	}
	if open {
		dst = append(dst, `</saml:AttributeStatement>`...)
	}
	return append(dst, `</saml:Assertion>`...), at
}

// responseXML writes the canonical samlp:Response around assertion (already signed if it is
// to be) and returns it with the offset after saml:Issuer.
func responseXML(dst []byte, e *emitted, assertion []byte) ([]byte, int) {
	x := xmltemplate.Attr
	dst = append(dst, `<samlp:Response`+nsSAMLPAttr+` Destination="`...)
	dst = x(dst, e.destination)
	dst = append(dst, `" ID="`...)
	dst = x(dst, e.respID)
	if e.inResponse != "" {
		dst = append(dst, `" InResponseTo="`...)
		dst = x(dst, e.inResponse)
	}
	dst = append(dst, `" IssueInstant="`...)
	dst = x(dst, e.issue)
	dst = append(dst, `" Version="2.0"><saml:Issuer`+nsSAMLAttr+`>`...)
	dst = xmltemplate.Text(dst, e.issuer)
	dst = append(dst, `</saml:Issuer>`...)
	at := len(dst)
	dst = append(dst, `<samlp:Status><samlp:StatusCode Value="`+StatusSuccess+`"></samlp:StatusCode></samlp:Status>`...)
	dst = append(dst, assertion...)
	return append(dst, `</samlp:Response>`...), at
}

// emitResponse writes the signed Response of e.
func emitResponse(key SigningKey, e *emitted) ([]byte, error) {
	k := xmltemplate.Key{Signer: key.Signer, Chain: make([][]byte, len(key.Chain))}
	for i, c := range key.Chain {
		k.Chain[i] = c.Raw
	}
	if k.Signer == nil || len(k.Chain) == 0 {
		return nil, errors.New("saml response: no signing key")
	}
	a, at := assertionXML(make([]byte, 0, 2048), e)
	var err error
	if e.signAssertion {
		if a, err = xmltemplate.Signed(a, at, e.assertionID, k); err != nil {
			return nil, fmt.Errorf("saml response: %w", err)
		}
	}
	r, at := responseXML(make([]byte, 0, len(a)+512), e, a)
	if e.signResponse {
		if r, err = xmltemplate.Signed(r, at, e.respID, k); err != nil {
			return nil, fmt.Errorf("saml response: %w", err)
		}
	}
	return r, nil
}
