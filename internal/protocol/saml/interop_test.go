package saml

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/sekisho/sekisho/internal/testutil/peers"
)

// Independent verification of what we sign: xmlsec1 (libxmlsec) and samlsign (OpenSAML) must
// accept every signature, and reject it after a one-byte change inside the signed content.

func issued(t *testing.T, signResponse, signAssertion bool) []byte {
	t.Helper()
	idp, _, _ := keys(t)
	sp := testSP(false)
	sp.SignResponse, sp.SignAssertion = signResponse, signAssertion
	b, err := BuildResponse(IdPConfig{EntityID: idpBase + "/saml", BaseURL: idpBase}, idp.signing(), ResponseParams{
		SP: sp, ACS: spACS, InResponseTo: "_r1", User: alice, SessionIndex: "s1", Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tamper changes one byte of the signed text content (the NameID value).
func tamper(t *testing.T, b []byte) []byte {
	t.Helper()
	i := bytes.Index(b, []byte(alice.ImmutableID))
	if i < 0 {
		t.Fatal("NameID not found")
	}
	out := bytes.Clone(b)
	out[i] ^= 0x01
	return out
}

// verdict is a document and whether a verifier must accept it.
type verdict struct {
	doc  []byte
	want bool
}

// issuedAndTampered returns the response as issued, which a verifier must accept, and the same
// after tamper, which it must reject.
func issuedAndTampered(t *testing.T, signResponse, signAssertion bool) []verdict {
	t.Helper()
	b := issued(t, signResponse, signAssertion)
	return []verdict{{b, true}, {tamper(t, b), false}}
}

func writeFiles(t *testing.T, doc []byte) (pemPath, docPath string) {
	t.Helper()
	idp, _, _ := keys(t)
	dir := t.TempDir()
	pemPath, docPath = filepath.Join(dir, "idp.pem"), filepath.Join(dir, "doc.xml")
	if err := os.WriteFile(pemPath, idp.pem(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(docPath, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	return pemPath, docPath
}

func runPeer(t *testing.T, name string, args ...string) (bool, string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("%s: %v", name, err)
		}
		return false, string(out)
	}
	return true, string(out)
}

func assertionID(t *testing.T, b []byte) string {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(b); err != nil {
		t.Fatal(err)
	}
	return doc.Root().FindElement("./Assertion").SelectAttrValue("ID", "")
}

func TestInteropXmlsec1(t *testing.T) {
	xmlsec := peers.Command(t, "xmlsec1", "apt-get install -y xmlsec1")
	cases := []struct {
		name        string
		resp, asser bool
		idAttr      string
	}{
		{"assertion signed", false, true, "urn:oasis:names:tc:SAML:2.0:assertion:Assertion"},
		{"response signed", true, false, "urn:oasis:names:tc:SAML:2.0:protocol:Response"},
		{"both: assertion", true, true, "urn:oasis:names:tc:SAML:2.0:assertion:Assertion"},
		{"both: response", true, true, "urn:oasis:names:tc:SAML:2.0:protocol:Response"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, v := range issuedAndTampered(t, tc.resp, tc.asser) {
				pemPath, docPath := writeFiles(t, v.doc)
				args := []string{"--verify", "--pubkey-cert-pem", pemPath, "--id-attr:ID", tc.idAttr}
				if tc.resp && tc.asser {
					// both signatures: register both ID attributes, xmlsec1 verifies the first
					// <Signature> in document order (the Response's when it is signed).
					args = append(args, "--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
						"--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:protocol:Response")
					if tc.idAttr == "urn:oasis:names:tc:SAML:2.0:assertion:Assertion" {
						// verify the assertion's signature alone
						pemPath, docPath = writeFiles(t, extractAssertion(t, v.doc))
						args = []string{"--verify", "--pubkey-cert-pem", pemPath, "--id-attr:ID", tc.idAttr}
					}
				}
				ok, out := runPeer(t, xmlsec, append(args, docPath)...)
				if ok != v.want {
					t.Fatalf("xmlsec1 verify = %v, want %v\n%s\n%s", ok, v.want, out, v.doc)
				}
			}
		})
	}
}

// extractAssertion returns the assertion as a standalone document, bytes as issued.
func extractAssertion(t *testing.T, b []byte) []byte {
	t.Helper()
	i := bytes.Index(b, []byte("<saml:Assertion"))
	j := bytes.Index(b, []byte("</saml:Assertion>"))
	if i < 0 || j < 0 {
		t.Fatal("assertion not found")
	}
	return b[i : j+len("</saml:Assertion>")]
}

func TestInteropSamlsign(t *testing.T) {
	samlsign := peers.Command(t, "samlsign", "apt-get install -y opensaml-tools")
	cases := []struct {
		name        string
		resp, asser bool
		target      string // "response", "assertion" (in place, -id), "standalone" (extracted)
	}{
		{"assertion signed, -id", false, true, "assertion"},
		{"assertion signed, standalone", false, true, "standalone"},
		{"response signed", true, false, "response"},
		{"both, response", true, true, "response"},
		{"both, assertion", true, true, "assertion"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, v := range issuedAndTampered(t, tc.resp, tc.asser) {
				doc := v.doc
				if tc.target == "standalone" {
					doc = extractAssertion(t, doc)
				}
				pemPath, docPath := writeFiles(t, doc)
				args := []string{"-c", pemPath, "-f", docPath}
				if tc.target == "assertion" {
					args = append(args, "-id", assertionID(t, doc))
				}
				ok, out := runPeer(t, samlsign, args...)
				if ok != v.want {
					t.Fatalf("samlsign verify = %v, want %v\n%s\n%s", ok, v.want, out, doc)
				}
				if !v.want && testing.Verbose() {
					t.Logf("samlsign rejects the tampered document: %s", strings.TrimSpace(out))
				}
			}
		})
	}
}

func TestInteropMetadataXmlsec1(t *testing.T) {
	xmlsec := peers.Command(t, "xmlsec1", "apt-get install -y xmlsec1")
	idp, _, next := keys(t)
	b, err := Metadata(IdPConfig{EntityID: idpBase + "/saml", BaseURL: idpBase, Key: idp.signing(), Next: next.cert}, t0)
	if err != nil {
		t.Fatal(err)
	}
	pemPath, docPath := writeFiles(t, b)
	if ok, out := runPeer(t, xmlsec, "--verify", "--pubkey-cert-pem", pemPath, "--id-attr:ID",
		"urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor", docPath); !ok {
		t.Fatalf("metadata signature: %s\n%s", out, b)
	}
	bad := bytes.Replace(b, []byte("/saml/sso"), []byte("/saml/ssx"), 1)
	pemPath, docPath = writeFiles(t, bad)
	if ok, _ := runPeer(t, xmlsec, "--verify", "--pubkey-cert-pem", pemPath, "--id-attr:ID",
		"urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor", docPath); ok {
		t.Fatal("tampered metadata verified")
	}
}
