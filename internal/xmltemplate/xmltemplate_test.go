package xmltemplate

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/sekisho/sekisho/internal/testutil/peers"
)

func excC14N(t testing.TB, el *etree.Element) []byte {
	t.Helper()
	b, err := dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("").Canonicalize(el.Copy())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkEscaping: Text and Attr must write what etree's canonical writer (under goxmldsig's
// exclusive canonicaliser) writes for the same value, and a parser must read it back to the
// same canonical bytes.
func checkEscaping(t testing.TB, s string) {
	t.Helper()
	el := etree.NewElement("x")
	el.CreateAttr("a", s)
	el.SetText(s)
	want := excC14N(t, el)
	got := append(Attr([]byte(`<x a="`), s), `">`...)
	got = append(Text(got, s), `</x>`...)
	if !bytes.Equal(got, want) {
		t.Fatalf("escaping of %q:\n got %q\nwant %q", s, got, want)
	}
	d := etree.NewDocument()
	if err := d.ReadFromBytes(got); err != nil {
		t.Fatalf("escaped %q does not parse: %v", s, err)
	}
	if back := excC14N(t, d.Root()); !bytes.Equal(got, back) {
		t.Fatalf("escaped %q reads back as %q", got, back)
	}
}

var escapeSeeds = []string{"", "plain", `&<>"'`, "\t\n\r\r\n", "\x00\x01\x1f\x7f", "\xff\xfe\xc3", "\ufffd\ufffe\uffff",
	"有栖 🎌 \u2028\u0085", "]]>", "&amp;", "\xed\xa0\x80", "a\u00a0b"}

func TestEscaping(t *testing.T) {
	for _, s := range escapeSeeds {
		checkEscaping(t, s)
	}
	for c := 0; c < 0x80; c++ {
		checkEscaping(t, "a"+string(rune(c))+"b")
	}
}

func FuzzEscape(f *testing.F) {
	for _, s := range escapeSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkEscaping(t, s) })
}

var (
	keyOnce sync.Once
	rsaKey  *rsa.PrivateKey
	rsaCert *x509.Certificate
)

func selfSigned(t testing.TB, k interface{ Public() any }, signer any) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "xmltemplate"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func testRSA(t testing.TB) (*rsa.PrivateKey, *x509.Certificate) {
	keyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		rsaKey = k
		rsaCert = selfSigned(t, pub{&k.PublicKey}, k)
	})
	return rsaKey, rsaCert
}

type pub struct{ p any }

func (p pub) Public() any { return p.p }

// a small canonical document with an ID, signed after its first child.
func doc(id, text string) ([]byte, int) {
	b := append([]byte(`<r:Root xmlns:r="urn:x" ID="`), id...)
	b = append(b, `"><r:Issuer>`...)
	b = Text(b, text)
	b = append(b, `</r:Issuer>`...)
	at := len(b)
	b = append(b, `<r:Body a="1"></r:Body></r:Root>`...)
	return b, at
}

// TestSignedMatchesGoxmldsig: the signature template equals goxmldsig's ConstructSignature
// (SignedInfo, digest, RSA signature value, KeyInfo) for the same element, and verifies.
func TestSignedMatchesGoxmldsig(t *testing.T) {
	k, cert := testRSA(t)
	for _, text := range []string{"i", `a&b<"c">`, "\r\n\t有栖"} {
		d, at := doc("_id-1", text)
		got, err := Signed(d, at, "_id-1", Key{Signer: k, Chain: [][]byte{cert.Raw}})
		if err != nil {
			t.Fatal(err)
		}
		parsed := etree.NewDocument()
		if err := parsed.ReadFromBytes(d); err != nil {
			t.Fatal(err)
		}
		root := parsed.Root()
		ctx, err := dsig.NewSigningContext(k, [][]byte{cert.Raw})
		if err != nil {
			t.Fatal(err)
		}
		ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
		ctx.IdAttribute = "ID"
		if err := ctx.SetSignatureMethod(SigRSASHA256); err != nil {
			t.Fatal(err)
		}
		sig, err := ctx.ConstructSignature(root, true)
		if err != nil {
			t.Fatal(err)
		}
		root.InsertChildAt(1, sig)
		if want := excC14N(t, root); !bytes.Equal(got, want) {
			t.Fatalf("signed document differs:\n got %q\nwant %q", got, want)
		}
		back := etree.NewDocument()
		if err := back.ReadFromBytes(got); err != nil {
			t.Fatal(err)
		}
		vc := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{cert}})
		vc.IdAttribute = "ID"
		if _, err := vc.Validate(back.Root()); err != nil {
			t.Fatalf("goxmldsig does not verify: %v", err)
		}
	}
}

// TestSignedECDSAXmlsec1: a P-256 key signs with ecdsa-sha256, r||s as XML-DSig 1.1 wants;
// xmlsec1 verifies it and refuses it after a one-byte change.
func TestSignedECDSAXmlsec1(t *testing.T) {
	xmlsec := peers.Command(t, "xmlsec1", "apt-get install -y xmlsec1")
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert := selfSigned(t, pub{&k.PublicKey}, k)
	d, at := doc("_ec", "issuer")
	got, err := Signed(d, at, "_ec", Key{Signer: k, Chain: [][]byte{cert.Raw}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(got, []byte(SigECDSASHA256)) {
		t.Fatal("not an ECDSA signature method")
	}
	dir := t.TempDir()
	pemPath := filepath.Join(dir, "c.pem")
	if err := os.WriteFile(pemPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	verify := func(b []byte) (bool, string) {
		p := filepath.Join(dir, "d.xml")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(xmlsec, "--verify", "--pubkey-cert-pem", pemPath, "--id-attr:ID", "urn:x:Root", p).CombinedOutput()
		return err == nil, string(out)
	}
	if ok, out := verify(got); !ok {
		t.Fatalf("xmlsec1 refuses the ECDSA signature: %s\n%s", out, got)
	}
	if ok, _ := verify(bytes.Replace(got, []byte(">issuer<"), []byte(">issuex<"), 1)); ok {
		t.Fatal("xmlsec1 accepts a tampered document")
	}
	if !strings.Contains(string(got), "<ds:SignatureValue>") {
		t.Fatal("no signature value")
	}
}

func TestSignedRefusesOtherKeys(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	d, at := doc("_x", "i")
	if _, err := Signed(d, at, "_x", Key{Signer: k, Chain: [][]byte{{1}}}); err == nil {
		t.Fatal("P-384 accepted")
	}
	if _, err := Signed(d, at, "_x", Key{}); err == nil {
		t.Fatal("no key accepted")
	}
	if _, err := Signed(d, len(d)+1, "_x", Key{}); err == nil {
		t.Fatal("position outside accepted")
	}
}
