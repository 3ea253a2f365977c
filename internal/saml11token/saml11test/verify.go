package saml11test

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/sekisho/sekisho/internal/saml11token"
	"github.com/sekisho/sekisho/internal/testutil/peers"
)

// Claims is what a relying party reads from a validated assertion.
type Claims struct {
	Issuer, Audience, NameID, NameIDFormat, Confirmation string
	AuthnMethod                                          string
	AuthnInstant, NotBefore, NotOnOrAfter                time.Time
	Attributes                                           map[string]string // "namespace|name" → value
}

// Validate checks the enveloped signature of a SAML 1.1 assertion against cert with
// goxmldsig and reads the claims from the element goxmldsig returns (never from the
// raw input). It is the relying party's check in fakes; the independent checks are
// XMLSec1 and SAMLSign.
func Validate(assertionXML string, cert *x509.Certificate, now time.Time) (Claims, error) {
	doc := etree.NewDocument()
	if err := doc.ReadFromString(assertionXML); err != nil {
		return Claims{}, fmt.Errorf("parse assertion: %w", err)
	}
	root := doc.Root()
	if root == nil || root.Tag != "Assertion" || root.NamespaceURI() != saml11token.NS {
		return Claims{}, fmt.Errorf("root is not a SAML 1.1 Assertion")
	}
	vc := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{cert}})
	vc.IdAttribute = "AssertionID"
	vc.Clock = dsig.NewFakeClockAt(now)
	el, err := vc.Validate(root)
	if err != nil {
		return Claims{}, fmt.Errorf("signature: %w", err)
	}
	c := Claims{Issuer: el.SelectAttrValue("Issuer", ""), Attributes: map[string]string{}}
	if cond := el.FindElement("./Conditions"); cond != nil {
		c.NotBefore, _ = time.Parse(time.RFC3339, cond.SelectAttrValue("NotBefore", ""))
		c.NotOnOrAfter, _ = time.Parse(time.RFC3339, cond.SelectAttrValue("NotOnOrAfter", ""))
		if a := cond.FindElement("./AudienceRestrictionCondition/Audience"); a != nil {
			c.Audience = a.Text()
		}
	}
	if st := el.FindElement("./AuthenticationStatement"); st != nil {
		c.AuthnMethod = st.SelectAttrValue("AuthenticationMethod", "")
		c.AuthnInstant, _ = time.Parse(time.RFC3339, st.SelectAttrValue("AuthenticationInstant", ""))
	}
	if n := el.FindElement("./AttributeStatement/Subject/NameIdentifier"); n != nil {
		c.NameID = n.Text()
		c.NameIDFormat = n.SelectAttrValue("Format", "")
	}
	if m := el.FindElement("./AttributeStatement/Subject/SubjectConfirmation/ConfirmationMethod"); m != nil {
		c.Confirmation = m.Text()
	}
	for _, a := range el.FindElements("./AttributeStatement/Attribute") {
		if v := a.FindElement("./AttributeValue"); v != nil {
			c.Attributes[a.SelectAttrValue("AttributeNamespace", "")+"|"+a.SelectAttrValue("AttributeName", "")] = v.Text()
		}
	}
	return c, nil
}

// CheckPeers verifies the assertion with xmlsec1 and samlsign (independent
// implementations) and checks that both reject it after one byte of a claim changes.
func CheckPeers(t testing.TB, assertionXML string, k Key) {
	t.Helper()
	xmlsec := peers.Command(t, "xmlsec1", "apt-get install -y xmlsec1")
	samlsign := peers.Command(t, "samlsign", "apt-get install -y opensaml-tools")
	// Not t.TempDir(): subtest names may hold commas, which xmlsec1 reads as a list separator.
	dir, err := os.MkdirTemp("", "saml11peers")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	certPath := k.WritePEM(t, dir, "idp.pem")
	good, err := filepath.Abs(filepath.Join(dir, "assertion.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(good, []byte(assertionXML), 0o644); err != nil {
		t.Fatal(err)
	}
	// Change one byte inside a signed value (the UPN's first character after '>').
	i := strings.Index(assertionXML, `AttributeName="UPN"`)
	j := strings.Index(assertionXML[i:], "<saml:AttributeValue>") + i + len("<saml:AttributeValue>")
	if i < 0 || j < i {
		t.Fatalf("no UPN attribute to tamper with in %s", assertionXML)
	}
	bad := []byte(assertionXML)
	bad[j] ^= 0x01
	badPath := filepath.Join(dir, "tampered.xml")
	if err := os.WriteFile(badPath, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(file string) (out string, xmlsecErr, samlsignErr error) {
		var b1, b2 bytes.Buffer
		c1 := exec.Command(xmlsec, "--verify", "--pubkey-cert-pem", certPath,
			"--id-attr:AssertionID", "urn:oasis:names:tc:SAML:1.0:assertion:Assertion", file)
		c1.Stdout, c1.Stderr = &b1, &b1
		c2 := exec.Command(samlsign, "-c", certPath, "-f", file)
		c2.Stdout, c2.Stderr = &b2, &b2
		e1, e2 := c1.Run(), c2.Run()
		return "xmlsec1: " + b1.String() + "\nsamlsign: " + b2.String(), e1, e2
	}
	if out, e1, e2 := run(good); e1 != nil || e2 != nil {
		t.Fatalf("peers reject our assertion (xmlsec1: %v, samlsign: %v):\n%s\n%s", e1, e2, out, assertionXML)
	}
	if out, e1, e2 := run(badPath); e1 == nil || e2 == nil {
		t.Fatalf("peers accept a tampered assertion (xmlsec1 err: %v, samlsign err: %v):\n%s", e1, e2, out)
	}
}
