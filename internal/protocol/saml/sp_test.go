package saml

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

func spMetadata(acs, slo, extra string) string {
	_, spk, _ := keys(nil)
	return `<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="` + NSMetadata + `" xmlns:ds="` + NSDSig + `" entityID="` + spEntity + `">
 <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:1.1:protocol ` + NSProtocol + `" AuthnRequestsSigned="true">
  <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>
` + spk.b64() + `
  </ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
  <md:KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>bm90IGEgY2VydA==</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
  <md:SingleLogoutService Binding="` + BindingRedirect + `" Location="` + slo + `"/>
  <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:SOAP" Location="https://sp.example.com/Shibboleth.sso/SLO/SOAP"/>
  <md:NameIDFormat>` + NameIDTransient + `</md:NameIDFormat>
  <md:AssertionConsumerService Binding="` + BindingPOST + `" Location="` + acs + `" index="1" isDefault="true"/>
  <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:PAOS" Location="https://sp.example.com/Shibboleth.sso/SAML2/ECP" index="2"/>
  ` + extra + `
 </md:SPSSODescriptor>
</md:EntityDescriptor>`
}

func TestParseSPMetadata(t *testing.T) {
	_, spk, _ := keys(t)
	sp, err := ParseSPMetadata([]byte(spMetadata(spACS, spSLO, "")))
	if err != nil {
		t.Fatal(err)
	}
	if sp.EntityID != spEntity || !sp.WantAuthnRequestsSigned || len(sp.Certificates) != 1 || sp.Certificates[0] != spk.b64() {
		t.Fatalf("sp = %+v", sp)
	}
	if len(sp.ACS) != 1 || sp.ACS[0] != (Endpoint{Binding: BindingPOST, Location: spACS, Index: 1, IsDefault: true}) {
		t.Errorf("ACS = %+v (PAOS must be dropped)", sp.ACS)
	}
	if len(sp.SLO) != 1 || sp.SLO[0].Location != spSLO {
		t.Errorf("SLO = %+v (SOAP must be dropped)", sp.SLO)
	}
	if sp.NameIDFormat != NameIDTransient || sp.NameIDSource != SourceTransient || !sp.SignAssertion {
		t.Errorf("NameID %s/%s sign %v", sp.NameIDFormat, sp.NameIDSource, sp.SignAssertion)
	}
	// JSON round trip as stored in store.Application.Config.
	b, err := json.Marshal(sp)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseSPConfig(b)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := json.Marshal(back)
	if string(b) != string(b2) {
		t.Errorf("round trip changed the config:\n%s\n%s", b, b2)
	}
}

func TestParseSPMetadataRejected(t *testing.T) {
	cases := []struct{ name, doc, want string }{
		{"javascript ACS", spMetadata("javascript:alert(1)", spSLO, ""), "scheme"},
		{"data ACS", spMetadata("data:text/html,x", spSLO, ""), "scheme"},
		{"relative ACS", spMetadata("/acs", spSLO, ""), "scheme"},
		{"javascript SLO", spMetadata(spACS, "JavaScript:alert(1)", ""), "scheme"},
		{"ACS with quote", spMetadata(spACS+`&quot;onload=&quot;x`, spSLO, ""), "forbidden"},
		{"DTD", `<!DOCTYPE md [<!ENTITY x SYSTEM "file:///etc/passwd">]>` + strings.TrimPrefix(spMetadata(spACS, spSLO, ""), `<?xml version="1.0"?>`), "DTD"},
		{"oversize", spMetadata(spACS, spSLO, "<!--"+strings.Repeat("x", 1<<20)+"-->"), "limit"},
		{"foreign namespace root", strings.ReplaceAll(spMetadata(spACS, spSLO, ""), `xmlns:md="`+NSMetadata, `xmlns:md="urn:evil`), "want md:EntityDescriptor"},
		{"no SAML 2 SP descriptor", strings.Replace(spMetadata(spACS, spSLO, ""), NSProtocol+`"`, `"`, 1), "no SPSSODescriptor"},
		{"only PAOS ACS", strings.Replace(spMetadata(spACS, spSLO, ""), `Binding="`+BindingPOST+`"`, `Binding="urn:x"`, 1), "AssertionConsumerService is required"},
		{"bad certificate", strings.Replace(spMetadata(spACS, spSLO, ""), `use="signing"`, `use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>AAAA</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:KeyDescriptor`, 1), "certificates"},
		{"two entities", `<md:EntitiesDescriptor xmlns:md="` + NSMetadata + `">` + strings.TrimPrefix(spMetadata(spACS, spSLO, ""), `<?xml version="1.0"?>`) + strings.TrimPrefix(spMetadata(spACS, spSLO, ""), `<?xml version="1.0"?>`) + `</md:EntitiesDescriptor>`, "exactly 1"},
		{"bad index", strings.Replace(spMetadata(spACS, spSLO, ""), `index="1"`, `index="-4"`, 1), "bad index"},
		{"not XML", "hello", "text outside the root"},
		{"unclosed", "<md:EntityDescriptor", "malformed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseSPMetadata([]byte(c.doc))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
}

func TestServiceProviderValidate(t *testing.T) {
	base := func() ServiceProvider { sp := testSP(false); return sp }
	cases := []struct {
		name string
		mod  func(*ServiceProvider)
		want string
	}{
		{"ok", func(*ServiceProvider) {}, ""},
		{"no entity", func(s *ServiceProvider) { s.EntityID = "" }, "entityId"},
		{"redirect ACS", func(s *ServiceProvider) { s.ACS[0].Binding = BindingRedirect }, "HTTP-POST only"},
		{"javascript ACS", func(s *ServiceProvider) { s.ACS[0].Location = "javascript:x" }, "scheme"},
		{"signed without certs", func(s *ServiceProvider) { s.WantAuthnRequestsSigned, s.Certificates = true, nil }, "certificate"},
		{"transient mismatch", func(s *ServiceProvider) { s.NameIDFormat = NameIDTransient }, "transient"},
		{"bad attribute source", func(s *ServiceProvider) { s.Attributes[0].Source = "password" }, "not supported"},
		{"user info URL", func(s *ServiceProvider) { s.SLO[0].Location = "https://u:p@sp.example.com/slo" }, "user info"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sp := base()
			c.mod(&sp)
			err := sp.Validate()
			if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
	if _, err := ParseSPConfig([]byte(`{"entityId":"x","acs":[],"bogus":1}`)); err == nil {
		t.Error("unknown JSON field accepted")
	}
	_ = url.QueryEscape
}
