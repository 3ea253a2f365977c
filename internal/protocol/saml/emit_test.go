package saml

import (
	"bytes"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/testutil/peers"
)

// The differential proof of emit.go: for the same inputs, the template's bytes must equal
// what the etree construction (etreeResponse, the previous production code) becomes under
// goxmldsig's exclusive canonicaliser — the whole Response, so the signed Assertion, the signed
// Response, both SignedInfos and signature values (RSA PKCS#1 v1.5 is deterministic) at once.
// And the bytes must be a fixed point of parse + canonicalise, so a verifier that parses them
// digests exactly what we digested.

// excC14N is goxmldsig's exclusive canonical form of (a copy of) el.
func excC14N(t testing.TB, el *etree.Element) []byte {
	t.Helper()
	b, err := dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("").Canonicalize(el.Copy())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// reparsed is the canonical form of doc as a verifier reads it.
func reparsed(t testing.TB, doc []byte) []byte {
	t.Helper()
	d := etree.NewDocument()
	if err := d.ReadFromBytes(doc); err != nil {
		t.Fatalf("emitted document does not parse: %v\n%q", err, doc)
	}
	return excC14N(t, d.Root())
}

// checkEmitted runs both constructions for p and compares them.
func checkEmitted(t testing.TB, idp IdPConfig, key SigningKey, p ResponseParams) []byte {
	t.Helper()
	const respID = "_resp0123456789"
	e, err := responseData(idp, p, respID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := emitResponse(key, e)
	if err != nil {
		t.Fatal(err)
	}
	want, err := etreeResponse(idp, key, p, respID, e.nameID)
	if err != nil {
		t.Fatal(err)
	}
	if w := excC14N(t, want); !bytes.Equal(got, w) {
		t.Fatalf("template and etree+goxmldsig differ:\n got %q\nwant %q\n%s", got, w, firstDiff(got, w))
	}
	if r := reparsed(t, got); !bytes.Equal(got, r) {
		t.Fatalf("emitted document is not canonical as read back:\n got %q\nread %q\n%s", got, r, firstDiff(got, r))
	}
	return got
}

func firstDiff(a, b []byte) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	lo := max(0, i-60)
	return "first difference at " + itoa(i) + ": …" + string(a[lo:min(len(a), i+40)]) + " | " + string(b[lo:min(len(b), i+40)])
}

// oddValues are values with everything escaping must handle.
var oddValues = []string{
	`a&b<c>d"e'f`, "tab\there\nnew\r\nline\rcr", "Ünïcødé 有栖 🎌 \u00a0\u2028", "]]>", "&amp;&#x41;",
	"ctl\x00\x01\x08\x0b\x0c\x1f\x7f", "bad\xff\xfeutf8\xc3", "\ufffe\uffff\ufffd", "<saml:Assertion>", " lead and trail ",
	strings.Repeat("長い値-", 700),
}

func TestEmitMatchesETree(t *testing.T) {
	idp, _, _ := keys(t)
	key := idp.signing()
	cfg := IdPConfig{EntityID: idpBase + "/saml", BaseURL: idpBase}
	attrs := []AttributeMapping{{Name: "mail", Source: SourceEmail}, {Name: "groups", Source: SourceGroups, NameFormat: AttrNameFormatBasic},
		{Name: "urn:oid:2.16.840.1.113730.3.1.241", FriendlyName: "displayName", NameFormat: AttrNameFormatURI, Source: SourceDisplayName},
		{Name: "upn", Source: SourceUPN}, {Name: "immutable", Source: SourceImmutableID}}
	type variant struct {
		name string
		sp   func(*ServiceProvider)
		p    func(*ResponseParams)
	}
	spVariants := []variant{
		{"persistent", func(sp *ServiceProvider) {}, nil},
		{"transient", func(sp *ServiceProvider) { sp.NameIDFormat, sp.NameIDSource = NameIDTransient, "" }, nil},
		{"email", func(sp *ServiceProvider) { sp.NameIDFormat, sp.NameIDSource = NameIDEmail, "" }, nil},
		{"unspecified-upn", func(sp *ServiceProvider) { sp.NameIDFormat, sp.NameIDSource = NameIDUnspecified, "" }, nil},
		{"persistent-email", func(sp *ServiceProvider) { sp.NameIDSource = SourceEmail }, nil},
		{"no-attributes", func(sp *ServiceProvider) { sp.Attributes = nil }, nil},
		{"all-attributes", func(sp *ServiceProvider) { sp.Attributes = attrs }, nil},
		{"m365", func(sp *ServiceProvider) { *sp = Microsoft365() }, func(p *ResponseParams) { p.ACS = sp365ACS; p.MFA = true }},
	}
	sign := []struct {
		name       string
		resp, asrt bool
	}{{"assertion", false, true}, {"response", true, false}, {"both", true, true}, {"default", false, false}}
	users := map[string]store.User{"alice": alice,
		"no-email-no-groups": {ID: "u2", UPN: "bob@example.com", ImmutableID: "Ym9i", DisplayName: "Bob"},
		"no-values":          {ID: "u3", UPN: "carol@example.com", ImmutableID: "Y2Fyb2w="},
	}
	for i, v := range oddValues {
		users["odd"+itoa(i)] = store.User{ID: "u", UPN: v, Email: v, DisplayName: v, ImmutableID: v, Groups: []string{v, "x" + v, ""}}
	}
	n := 0
	for _, sv := range spVariants {
		for _, sg := range sign {
			for un, u := range users {
				for _, withReq := range []bool{true, false} {
					sp := testSP(false)
					sv.sp(&sp)
					sp.SignResponse, sp.SignAssertion = sg.resp, sg.asrt
					p := ResponseParams{SP: sp, ACS: spACS, User: u, AuthnInstant: t0.Add(-time.Hour), Now: t0,
						AssertionID: "_EVT-" + itoa(n), MFA: n%3 == 0}
					if withReq {
						p.InResponseTo, p.SessionIndex = "_req-"+itoa(n), "sess-"+itoa(n)
					}
					if sv.p != nil {
						sv.p(&p)
					}
					if !HasNameID(p.SP, u) {
						continue
					}
					name := sv.name + "/" + sg.name + "/" + un
					n++
					t.Run(name, func(t *testing.T) {
						doc := checkEmitted(t, cfg, key, p)
						verifyEmitted(t, doc, idp.cert, sg.resp, sg.asrt || !sg.resp)
					})
				}
			}
		}
	}
	if n < 100 {
		t.Fatalf("only %d cases ran", n)
	}
}

const sp365ACS = "https://login.microsoftonline.com/login.srf"

// verifyEmitted checks the signatures as a verifier does (goxmldsig over the parsed bytes).
func verifyEmitted(t *testing.T, doc []byte, cert *x509.Certificate, resp, asrt bool) {
	t.Helper()
	d := etree.NewDocument()
	if err := d.ReadFromBytes(doc); err != nil {
		t.Fatal(err)
	}
	vc := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{cert}})
	vc.Clock = dsig.NewFakeClockAt(t0)
	if resp {
		if _, err := vc.Validate(d.Root().Copy()); err != nil {
			t.Fatalf("response signature: %v", err)
		}
	}
	if a := d.Root().FindElement("./Assertion"); asrt {
		if _, err := vc.Validate(a); err != nil {
			t.Fatalf("assertion signature: %v", err)
		}
	} else if a.FindElement("./Signature") != nil {
		t.Fatal("assertion signed though the SP did not ask")
	}
}

// FuzzEmitResponse: random users, attribute names and request values; the template must agree
// with etree + goxmldsig byte for byte. The signer costs nothing (its "signature" embeds the
// SignedInfo digest, so a SignedInfo difference still shows), which keeps each run fast.
func FuzzEmitResponse(f *testing.F) {
	for _, v := range oddValues[:len(oddValues)-1] {
		f.Add(v, "alice@example.com", v, "AAEC", "staff", "mail", "", "_r1", uint8(7))
	}
	f.Add("a", "b", "c", "d", "e", "f", "g", "", uint8(0))
	idp, _, _ := keys(nil)
	key := SigningKey{Signer: nullSigner{&idp.key.PublicKey}, Chain: []*x509.Certificate{idp.cert}}
	formats := []string{NameIDPersistent, NameIDTransient, NameIDEmail, NameIDUnspecified}
	f.Fuzz(func(t *testing.T, upn, email, display, immutable, group, attrName, friendly, inResp string, flags uint8) {
		u := store.User{ID: "u", UPN: upn, Email: email, DisplayName: display, ImmutableID: immutable, Groups: []string{group, display}}
		sp := testSP(false)
		sp.NameIDFormat, sp.NameIDSource = formats[flags&3], ""
		sp.SignAssertion, sp.SignResponse = flags&4 != 0, flags&8 != 0
		sp.Attributes = append(sp.Attributes, AttributeMapping{Name: attrName, FriendlyName: friendly, NameFormat: friendly, Source: SourceUPN})
		if flags&16 != 0 {
			sp.Attributes = nil
		}
		p := ResponseParams{SP: sp, ACS: spACS + "?" + group, InResponseTo: inResp, User: u, SessionIndex: friendly,
			AuthnInstant: t0, Now: t0, AssertionID: "_a" + attrName, MFA: flags&32 != 0}
		if !HasNameID(sp, u) {
			return
		}
		checkEmitted(t, IdPConfig{EntityID: display, BaseURL: idpBase}, key, p)
	})
}

// TestInteropXmlsec1OddValues: xmlsec1 (libxml2's parser and canonicaliser, not ours) verifies
// responses whose every value carries markup, line ends, tabs, controls, invalid UTF-8 and
// long Unicode text, with each signature placement.
func TestInteropXmlsec1OddValues(t *testing.T) {
	xmlsec := peers.Command(t, "xmlsec1", "apt-get install -y xmlsec1")
	idp, _, _ := keys(t)
	for i, v := range oddValues {
		for _, signResp := range []bool{false, true} {
			sp := testSP(false)
			sp.SignResponse, sp.SignAssertion = signResp, !signResp
			sp.Attributes = append(sp.Attributes, AttributeMapping{Name: v, FriendlyName: v, Source: SourceUPN})
			u := store.User{ID: "u", UPN: v, Email: v, DisplayName: v, ImmutableID: v, Groups: []string{v}}
			b, err := BuildResponse(IdPConfig{EntityID: idpBase + "/saml?" + v, BaseURL: idpBase}, idp.signing(),
				ResponseParams{SP: sp, ACS: spACS, InResponseTo: "_r" + itoa(i), User: u, SessionIndex: v, Now: t0})
			if err != nil {
				t.Fatal(err)
			}
			idAttr := "urn:oasis:names:tc:SAML:2.0:assertion:Assertion"
			if signResp {
				idAttr = "urn:oasis:names:tc:SAML:2.0:protocol:Response"
			}
			pemPath, docPath := writeFiles(t, b)
			if ok, out := runPeer(t, xmlsec, "--verify", "--pubkey-cert-pem", pemPath, "--id-attr:ID", idAttr, docPath); !ok {
				t.Fatalf("value %d (response signed %v): xmlsec1 refused:\n%s\n%q", i, signResp, out, b)
			}
		}
	}
}
