package saml

import (
	"encoding/base64"
	"net/url"
	"testing"
)

func FuzzDecodeAuthnRequest(f *testing.F) {
	x := authnReq{ID: "_f", ACS: spACS, Inner: `<saml:Subject><saml:NameID>a@b<!---->c</saml:NameID></saml:Subject>`}.xml()
	f.Add(redirectQuery("SAMLRequest", x, "rs", nil), base64.StdEncoding.EncodeToString([]byte(x)))
	f.Add("SAMLRequest=%ZZ&SigAlg=&Signature=", "PCFET0NUWVBFIHg+")
	f.Add("SAMLRequest="+url.QueryEscape(base64.StdEncoding.EncodeToString(deflate(make([]byte, 1<<20)))), "")
	f.Fuzz(func(t *testing.T, query, post string) {
		if m, err := decodeRedirect(query, "SAMLRequest"); err == nil {
			_, _ = parseAuthnRequest(m.Root)
			_, _, _ = m.verify(testSP(true), t0)
		}
		if m, err := decodePOST(post, ""); err == nil {
			_, _ = parseAuthnRequest(m.Root)
			_, _, _ = m.verify(testSP(true), t0)
		}
	})
}

func FuzzDecodeLogoutRequest(f *testing.F) {
	x := `<samlp:LogoutRequest xmlns:samlp="` + NSProtocol + `" xmlns:saml="` + NSAssertion + `" ID="_l" Version="2.0" IssueInstant="2026-03-01T09:00:00Z" NotOnOrAfter="2026-03-01T09:05:00Z"><saml:Issuer>x</saml:Issuer><saml:NameID>n</saml:NameID><samlp:SessionIndex>s</samlp:SessionIndex></samlp:LogoutRequest>`
	f.Add(redirectQuery("SAMLRequest", x, "", nil), base64.StdEncoding.EncodeToString([]byte(x)))
	f.Add("SAMLResponse=abc", "")
	f.Fuzz(func(t *testing.T, query, post string) {
		if m, err := decodeRedirect(query, "SAMLRequest"); err == nil {
			_, _ = parseLogoutRequest(m.Root)
			_, _ = parseLogoutResponse(m.Root)
		}
		if m, err := decodePOST(post, ""); err == nil {
			_, _ = parseLogoutRequest(m.Root)
			_, _ = parseLogoutResponse(m.Root)
			_, _, _ = m.verify(testSP(true), t0)
		}
	})
}

func FuzzParseSPMetadata(f *testing.F) {
	f.Add([]byte(spMetadata(spACS, spSLO, "")))
	f.Add([]byte(spMetadata("javascript:x", spSLO, "")))
	f.Add([]byte(`<md:EntitiesDescriptor xmlns:md="` + NSMetadata + `"/>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		sp, err := ParseSPMetadata(b)
		if err == nil {
			if verr := sp.Validate(); verr != nil {
				t.Fatalf("ParseSPMetadata returned an invalid SP: %v", verr)
			}
			for _, e := range sp.ACS {
				if checkURL(e.Location) != nil {
					t.Fatalf("unsafe ACS %q", e.Location)
				}
			}
		}
	})
}
