// Package xmltemplate writes the XML documents Sekisho signs (the SAML 2.0 Assertion and
// Response, the SAML 1.1 assertion) directly in exclusive canonical form (W3C
// xml-exc-c14n#, without comments), and signs them with an enveloped XML signature whose
// SignedInfo is emitted canonically too. The digest is computed over the very bytes written:
// there is no parse, tree or canonicalisation step per document.
//
// This is only sound because the templates' bytes are what a canonicaliser produces for the
// same document. The callers' differential tests and fuzz targets prove it against the
// reference (etree + goxmldsig's exclusive canonicaliser, the code that verifies input), and
// xmlsec1 verifies the results in the interop tests. Input is never canonicalised here:
// verification of received XML stays with goxmldsig.
//
// The rules a template follows (xml-exc-c14n §3 and C14N 1.0 §2.3), and which the templates
// in the callers are written to:
//   - no XML declaration, no comments, no whitespace between elements;
//   - every element has an explicit end tag (<a></a>, never <a/>);
//   - namespace declarations first, sorted by prefix; then attributes sorted by namespace URI
//     and local name (all of ours are unqualified: by name, byte order);
//   - a namespace is declared on the outermost element that uses its prefix and has no output
//     ancestor declaring it (each signed element declares its own);
//   - attribute values in double quotes; every substituted value goes through Text or Attr.
package xmltemplate

import "unicode/utf8"

// Text appends s to dst as canonical character data.
func Text(dst []byte, s string) []byte { return appendEscaped(dst, s, false) }

// Attr appends s to dst as a canonical attribute value (without the quotes).
func Attr(dst []byte, s string) []byte { return appendEscaped(dst, s, true) }

// appendEscaped is the one escaping function of every substituted value. It writes exactly
// what etree's canonical writer writes (the writer goxmldsig's canonicaliser uses), which is
// C14N 1.0's escaping:
//
//	text:       & < > \r            as &amp; &lt; &gt; &#xD;
//	attribute:  & < " \t \n \r      as &amp; &lt; &quot; &#x9; &#xA; &#xD;
//
// and, like etree, replaces what XML cannot carry — a character outside the XML Char range
// (C0 controls but tab, newline and carriage return; U+FFFE, U+FFFF) or a byte that is not
// valid UTF-8 — by U+FFFD, each invalid byte separately. The character references for \t,
// \n and \r survive a parser's attribute-value and line-end normalisation, so a verifier
// reads back the same values and computes the same digest.
func appendEscaped(dst []byte, s string, attr bool) []byte {
	last := 0
	for i := 0; i < len(s); {
		c := s[i]
		var esc string
		width := 1
		if c < utf8.RuneSelf {
			switch {
			case c == '&':
				esc = "&amp;"
			case c == '<':
				esc = "&lt;"
			case c == '>' && !attr:
				esc = "&gt;"
			case c == '"' && attr:
				esc = "&quot;"
			case c == '\t' && attr:
				esc = "&#x9;"
			case c == '\n' && attr:
				esc = "&#xA;"
			case c == '\r':
				esc = "&#xD;"
			case c < 0x20 && c != '\t' && c != '\n':
				esc = "\uFFFD"
			default:
				i++
				continue
			}
		} else {
			r, w := utf8.DecodeRuneInString(s[i:])
			width = w
			if r == utf8.RuneError && w == 1 || r == 0xFFFE || r == 0xFFFF {
				esc = "\uFFFD"
			} else {
				i += w
				continue
			}
		}
		dst = append(dst, s[last:i]...)
		dst = append(dst, esc...)
		i += width
		last = i
	}
	return append(dst, s[last:]...)
}
