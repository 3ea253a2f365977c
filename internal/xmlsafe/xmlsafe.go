// Package xmlsafe has one job: reading untrusted XML (SAML messages and metadata, WS-Trust
// requests) into an etree document the one hardened way, so that no protocol adapter can
// forget a rule. It refuses DTDs and every other directive (so no entity is ever declared and
// none can expand), processing instructions other than the XML declaration, documents over a
// size limit, elements nested deeper than MaxDepth, text outside the root, and anything but
// exactly one root element.
package xmlsafe

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/beevik/etree"
)

// MaxDepth is the deepest element nesting accepted, the root being 1. Protocol messages nest
// about a dozen levels; deeper is an attack on the parser or on the code that walks the tree.
const MaxDepth = 32

// ErrDTD reports a document type declaration or another directive (<!ENTITY, <!ELEMENT…),
// anywhere in the document: SAML forbids them, and they would open the door to entity
// expansion.
var ErrDTD = errors.New("XML document type declarations (DTD/entities) are not allowed")

// Parse reads data, which must be at most maxBytes long, into a document whose Root is the one
// root element. Errors are one line, fit for a log or a sign-in record.
func Parse(data []byte, maxBytes int) (*etree.Document, error) {
	if len(data) > maxBytes {
		return nil, fmt.Errorf("XML is %d bytes, limit %d", len(data), maxBytes)
	}
	// Refused before parsing, so the parser never sees a declaration whatever the case.
	if containsFold(data, "<!DOCTYPE") || containsFold(data, "<!ENTITY") {
		return nil, ErrDTD
	}
	doc := etree.NewDocument()
	doc.ReadSettings = etree.ReadSettings{MaxDepth: MaxDepth} // strict, and no entity map
	if err := doc.ReadFromBytes(data); err != nil {
		return nil, fmt.Errorf("malformed XML: %w", err)
	}
	var root *etree.Element
	for _, t := range doc.Child {
		switch c := t.(type) {
		case *etree.Element:
			if root != nil {
				return nil, errors.New("XML has more than one root element")
			}
			root = c
		case *etree.ProcInst:
			if c.Target != "xml" {
				return nil, fmt.Errorf("XML processing instruction %q not allowed", c.Target)
			}
		case *etree.Directive:
			return nil, ErrDTD
		case *etree.CharData:
			if strings.TrimSpace(c.Data) != "" {
				return nil, errors.New("text outside the root element")
			}
		}
	}
	if root == nil {
		return nil, errors.New("XML has no root element")
	}
	if err := rejectDirectives(root); err != nil {
		return nil, err
	}
	return doc, nil
}

// rejectDirectives refuses directives and processing instructions below the root; the depth
// limit bounds the recursion.
func rejectDirectives(el *etree.Element) error {
	for _, t := range el.Child {
		switch c := t.(type) {
		case *etree.Directive:
			return ErrDTD
		case *etree.ProcInst:
			return fmt.Errorf("XML processing instruction %q not allowed", c.Target)
		case *etree.Element:
			if err := rejectDirectives(c); err != nil {
				return err
			}
		}
	}
	return nil
}

func containsFold(data []byte, s string) bool {
	return bytes.Contains(bytes.ToUpper(data), []byte(s))
}
