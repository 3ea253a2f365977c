package saml11token_test

import (
	"bytes"
	"crypto"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/sekisho/sekisho/internal/saml11token"
	"github.com/sekisho/sekisho/internal/saml11token/saml11test"
)

// The differential proof of SignedXML: its bytes must equal goxmldsig's exclusive canonical
// form of what Sign (etree + goxmldsig) returns for the same assertion — signature value
// included, RSA PKCS#1 v1.5 being deterministic — and be a fixed point of parse +
// canonicalise, so a verifier digests what we digested.

func excC14N(t testing.TB, el *etree.Element) []byte {
	t.Helper()
	b, err := dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("").Canonicalize(el.Copy())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func checkSignedXML(t testing.TB, s *saml11token.Signer, a saml11token.Assertion) []byte {
	t.Helper()
	got, err := s.SignedXML(a)
	if err != nil {
		t.Fatal(err)
	}
	el, err := s.Sign(a)
	if err != nil {
		t.Fatal(err)
	}
	if want := excC14N(t, el); !bytes.Equal(got, want) {
		t.Fatalf("template and etree+goxmldsig differ:\n got %q\nwant %q", got, want)
	}
	d := etree.NewDocument()
	if err := d.ReadFromBytes(got); err != nil {
		t.Fatalf("emitted assertion does not parse: %v\n%q", err, got)
	}
	if r := excC14N(t, d.Root()); !bytes.Equal(got, r) {
		t.Fatalf("emitted assertion is not canonical as read back:\n got %q\nread %q", got, r)
	}
	return got
}

var oddValues = []string{
	`a&b<c>d"e'f`, "tab\there\nnew\r\nline\rcr", "Ünïcødé 有栖 🎌 \u00a0\u2028", "]]>", "&amp;&#x41;",
	"ctl\x00\x01\x08\x0b\x0c\x1f\x7f", "bad\xff\xfeutf8\xc3", "\ufffe\uffff\ufffd", "<saml:Assertion>", " lead and trail ",
	strings.Repeat("長い値-", 700),
}

var (
	keyOnce sync.Once
	theKey  saml11test.Key
)

func testKey(t testing.TB) saml11test.Key {
	keyOnce.Do(func() { theKey = saml11test.NewKey(t, "idp.example.com") })
	return theKey
}

func TestSignedXMLMatchesETree(t *testing.T) {
	k := testKey(t)
	now := time.Now().UTC().Truncate(time.Millisecond) // the test certificate's validity
	yes, no := true, false
	base := saml11token.Assertion{Issuer: "http://example.com/adfs/services/trust/", Audience: "urn:federation:MicrosoftOnline",
		ImmutableID: "AAECAwQFBgcICQoLDA0ODw==", UPN: "alice@example.com", IssueInstant: now, AuthnInstant: now.Add(-time.Hour), ID: "_EVT-1"}
	vals := append([]string{"plain"}, oddValues...)
	n := 0
	for i, v := range vals {
		for _, inside := range []*bool{nil, &yes, &no} {
			for _, mfa := range []bool{false, true} {
				a := base
				a.InsideCorporateNetwork, a.MFA = inside, mfa
				if i > 0 {
					a.Issuer, a.Audience, a.ImmutableID, a.UPN = "http://x/"+v, v, v, v
				}
				n++
				doc := checkSignedXML(t, k.Signer, a)
				c, err := saml11test.Validate(string(doc), k.Cert, now)
				if err != nil {
					t.Fatalf("value %d: %v", i, err)
				}
				if i == 0 && (c.NameID != a.ImmutableID || c.Attributes[saml11token.ClaimsNS+"|UPN"] != a.UPN) {
					t.Fatalf("claims %+v", c)
				}
			}
		}
		// the peers parse and canonicalise with libxml2 (xmlsec1) and Xerces (samlsign)
		a := base
		a.MFA = true
		a.InsideCorporateNetwork = &yes
		if i > 0 {
			a.Issuer, a.Audience, a.ImmutableID, a.UPN = "http://x/"+v, v, v, "u"+v
		}
		doc, err := k.Signer.SignedXML(a)
		if err != nil {
			t.Fatal(err)
		}
		saml11test.CheckPeers(t, string(doc), k)
	}
	if n < 30 {
		t.Fatal("too few cases")
	}
}

// nullSigner's "signature" costs nothing and embeds the SignedInfo digest.
type nullSigner struct{ pub crypto.PublicKey }

func (n nullSigner) Public() crypto.PublicKey { return n.pub }
func (nullSigner) Sign(_ io.Reader, digest []byte, _ crypto.SignerOpts) ([]byte, error) {
	sig := make([]byte, 256)
	copy(sig, digest)
	return sig, nil
}

// FuzzSignedXML: random claims; the template must agree with etree + goxmldsig byte for byte.
func FuzzSignedXML(f *testing.F) {
	for _, v := range oddValues[:len(oddValues)-1] {
		f.Add("http://example.com/", v, v, "alice@example.com", uint8(3))
	}
	k := testKey(f)
	s, err := saml11token.NewSigner(nullSigner{&k.Private.PublicKey}, k.Cert)
	if err != nil {
		f.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, issuer, audience, immutable, upn string, flags uint8) {
		a := saml11token.Assertion{Issuer: issuer, Audience: audience, ImmutableID: immutable, UPN: upn,
			MFA: flags&1 != 0, IssueInstant: now, ID: "_" + audience}
		if flags&2 != 0 {
			v := flags&4 != 0
			a.InsideCorporateNetwork = &v
		}
		if issuer == "" || audience == "" || immutable == "" || upn == "" {
			if _, err := s.SignedXML(a); err == nil {
				t.Fatal("incomplete assertion signed")
			}
			return
		}
		checkSignedXML(t, s, a)
	})
}
