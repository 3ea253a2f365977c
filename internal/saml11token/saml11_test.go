package saml11token_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/saml11token"
	"github.com/sekisho/sekisho/internal/saml11token/saml11test"
)

func TestSignedAssertion(t *testing.T) {
	k := saml11test.NewKey(t, "idp.example.com")
	other := saml11test.NewKey(t, "other")
	now := time.Now().UTC().Truncate(time.Millisecond)
	yes := true
	cases := []struct {
		name       string
		a          saml11token.Assertion
		wantMethod string
		wantAttrs  map[string]string
		absent     []string
	}{
		{
			name:       "password",
			a:          saml11token.Assertion{Issuer: "http://example.com/adfs/services/trust/", Audience: "urn:federation:MicrosoftOnline", ImmutableID: "AAECAwQFBgcICQoLDA0ODw==", UPN: "alice@example.com", IssueInstant: now, AuthnInstant: now.Add(-time.Minute)},
			wantMethod: saml11token.PasswordMethod,
			wantAttrs: map[string]string{
				saml11token.ClaimsNS + "|UPN":         "alice@example.com",
				saml11token.LiveIDNS + "|ImmutableID": "AAECAwQFBgcICQoLDA0ODw==",
			},
			absent: []string{saml11token.CorpNetNS + "|insidecorporatenetwork", saml11token.AuthnMethodsNS + "|authnmethodsreferences"},
		},
		{
			name:       "mfa inside network, escaped text",
			a:          saml11token.Assertion{Issuer: "http://example.com/", Audience: "urn:federation:MicrosoftOnline", ImmutableID: "a<b>&c", UPN: "bob&co@example.com", MFA: true, InsideCorporateNetwork: &yes, IssueInstant: now},
			wantMethod: saml11token.MFAMethod,
			wantAttrs: map[string]string{
				saml11token.CorpNetNS + "|insidecorporatenetwork":      "true",
				saml11token.AuthnMethodsNS + "|authnmethodsreferences": saml11token.MFAMethod,
				saml11token.ClaimsNS + "|UPN":                          "bob&co@example.com",
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			el, err := k.Signer.Sign(tc.a)
			if err != nil {
				t.Fatal(err)
			}
			xml, err := saml11token.Serialize(el)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(xml, `<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:1.0:assertion"`) {
				t.Errorf("assertion must declare xmlns:saml on itself first: %.120s", xml)
			}
			id := el.SelectAttrValue("AssertionID", "")
			if !strings.HasPrefix(id, "_") || len(id) != 33 {
				t.Errorf("AssertionID %q is not an NCName of 128 random bits", id)
			}
			for _, want := range []string{"http://www.w3.org/2001/10/xml-exc-c14n#", "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", "http://www.w3.org/2000/09/xmldsig#enveloped-signature", `URI="#` + id + `"`} {
				if !strings.Contains(xml, want) {
					t.Errorf("signature lacks %s", want)
				}
			}
			c, err := saml11test.Validate(xml, k.Cert, now)
			if err != nil {
				t.Fatalf("validate: %v", err)
			}
			if c.Issuer != tc.a.Issuer || c.Audience != "urn:federation:MicrosoftOnline" || c.NameID != tc.a.ImmutableID ||
				c.NameIDFormat != saml11token.NameIDFormat || c.Confirmation != saml11token.BearerMethod || c.AuthnMethod != tc.wantMethod {
				t.Errorf("claims = %+v", c)
			}
			if !c.NotBefore.Before(now) || !c.NotOnOrAfter.After(now) {
				t.Errorf("validity %v..%v does not cover %v", c.NotBefore, c.NotOnOrAfter, now)
			}
			for k, v := range tc.wantAttrs {
				if c.Attributes[k] != v {
					t.Errorf("attribute %s = %q, want %q", k, c.Attributes[k], v)
				}
			}
			for _, k := range tc.absent {
				if _, ok := c.Attributes[k]; ok {
					t.Errorf("attribute %s must be absent", k)
				}
			}
			if _, err := saml11test.Validate(xml, other.Cert, now); err == nil {
				t.Error("validates against the wrong certificate")
			}
			saml11test.CheckPeers(t, xml, k)
		})
	}
}

func TestBuildRefusesIncompleteAssertions(t *testing.T) {
	ok := saml11token.Assertion{Issuer: "i", Audience: "a", ImmutableID: "x", UPN: "u@e"}
	cases := map[string]func(*saml11token.Assertion){
		"no issuer":       func(a *saml11token.Assertion) { a.Issuer = "" },
		"no audience":     func(a *saml11token.Assertion) { a.Audience = "" },
		"no immutable id": func(a *saml11token.Assertion) { a.ImmutableID = "" },
		"no upn":          func(a *saml11token.Assertion) { a.UPN = "" },
		"inverted window": func(a *saml11token.Assertion) {
			a.NotBefore = time.Now()
			a.NotOnOrAfter = a.NotBefore.Add(-time.Second)
		},
	}
	if _, err := saml11token.Build(ok); err != nil {
		t.Fatalf("complete assertion refused: %v", err)
	}
	for name, mutate := range cases {
		a := ok
		mutate(&a)
		if _, err := saml11token.Build(a); err == nil {
			t.Errorf("%s: built anyway", name)
		}
	}
}

func TestNewSignerRejectsMismatchedCertificate(t *testing.T) {
	a, b := saml11test.NewKey(t, "a"), saml11test.NewKey(t, "b")
	if _, err := saml11token.NewSigner(a.Private, b.Cert); err == nil {
		t.Fatal("signer accepted a certificate of another key")
	}
}
