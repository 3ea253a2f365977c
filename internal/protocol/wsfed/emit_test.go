package wsfed

import (
	"bytes"
	"crypto"
	"html/template"
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

// etreeWResult is the construction wresult used before the templates (signed etree element
// in an etree RSTR); it stays here as the oracle they are proven against, returning the tree
// (goxmldsig canonicalised the assertion in place when it signed it).
func etreeWResult(signer *saml11token.Signer, a saml11token.Assertion) (*etree.Element, error) {
	el, err := signer.Sign(a)
	if err != nil {
		return nil, err
	}
	doc := etree.NewDocument()
	rstr := doc.CreateElement("t:RequestSecurityTokenResponse")
	rstr.CreateAttr("xmlns:t", nsTrust2005)
	life := rstr.CreateElement("t:Lifetime")
	for _, x := range []struct {
		tag string
		t   time.Time
	}{{"wsu:Created", a.IssueInstant}, {"wsu:Expires", a.NotOnOrAfter}} {
		e := life.CreateElement(x.tag)
		e.CreateAttr("xmlns:wsu", nsWSU)
		e.SetText(x.t.UTC().Format(saml11token.TimeFormat))
	}
	at := rstr.CreateElement("wsp:AppliesTo")
	at.CreateAttr("xmlns:wsp", nsWSP)
	epr := at.CreateElement("wsa:EndpointReference")
	epr.CreateAttr("xmlns:wsa", nsWSA)
	epr.CreateElement("wsa:Address").SetText(a.Audience)
	rstr.CreateElement("t:RequestedSecurityToken").AddChild(el)
	rstr.CreateElement("t:TokenType").SetText(saml11token.TokenType)
	rstr.CreateElement("t:RequestType").SetText(nsTrust2005 + "/Issue")
	rstr.CreateElement("t:KeyType").SetText(noProofKey)
	return rstr, nil
}

// The wresult's bytes must be goxmldsig's exclusive canonical form of the etree RSTR (token,
// signature and all), and read back unchanged by a parser.
func checkWResult(t testing.TB, s *saml11token.Signer, a saml11token.Assertion) []byte {
	t.Helper()
	token, err := s.SignedXML(a)
	if err != nil {
		t.Fatal(err)
	}
	got := rstrXML(nil, a, token)
	el, err := etreeWResult(s, a)
	if err != nil {
		t.Fatal(err)
	}
	want, err := dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("").Canonicalize(el.Copy())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("template and etree+goxmldsig differ:\n got %q\nwant %q", got, want)
	}
	d := etree.NewDocument()
	if err := d.ReadFromBytes(got); err != nil {
		t.Fatalf("wresult does not parse: %v", err)
	}
	back, err := dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("").Canonicalize(d.Root())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, back) {
		t.Fatalf("wresult is not canonical as read back:\n got %q\nread %q", got, back)
	}
	return got
}

var (
	keyOnce sync.Once
	theKey  saml11test.Key
)

func testKey(t testing.TB) saml11test.Key {
	keyOnce.Do(func() { theKey = saml11test.NewKey(t, "wsfed-emit") })
	return theKey
}

var oddValues = []string{`a&b<c>d"e'f`, "tab\there\nnew\r\nline\rcr", "Ünïcødé 有栖 🎌", "ctl\x00\x1f\x7f", "bad\xff\xfe", "\ufffe\uffff",
	strings.Repeat("長い値-", 700)}

func TestWResultMatchesETree(t *testing.T) {
	k := testKey(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	yes := true
	for i, v := range append([]string{"urn:federation:MicrosoftOnline"}, oddValues...) {
		for _, mfa := range []bool{false, true} {
			a := saml11token.Assertion{Issuer: "http://example.com/adfs/services/trust/" + v, Audience: v, ImmutableID: "id" + v,
				UPN: "alice@example.com" + v, MFA: mfa, IssueInstant: now, AuthnInstant: now.Add(-time.Minute),
				NotBefore: now.Add(-5 * time.Minute), NotOnOrAfter: now.Add(time.Hour), ID: "_EVT-" + strings.Repeat("x", i)}
			if mfa {
				a.InsideCorporateNetwork = &yes
			}
			checkWResult(t, k.Signer, a)
		}
	}
}

type nullSigner struct{ pub crypto.PublicKey }

func (n nullSigner) Public() crypto.PublicKey { return n.pub }
func (nullSigner) Sign(_ io.Reader, digest []byte, _ crypto.SignerOpts) ([]byte, error) {
	sig := make([]byte, 256)
	copy(sig, digest)
	return sig, nil
}

// FuzzWResult: random realms, users and issuers; a signer that costs nothing keeps it fast
// (its "signature" embeds the SignedInfo digest).
func FuzzWResult(f *testing.F) {
	for _, v := range oddValues[:len(oddValues)-1] {
		f.Add(v, v, "alice@example.com", uint8(1))
	}
	k := testKey(f)
	s, err := saml11token.NewSigner(nullSigner{&k.Private.PublicKey}, k.Cert)
	if err != nil {
		f.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, realm, immutable, upn string, flags uint8) {
		if realm == "" || immutable == "" || upn == "" {
			return
		}
		a := saml11token.Assertion{Issuer: "http://example.com/" + realm, Audience: realm, ImmutableID: immutable, UPN: upn,
			MFA: flags&1 != 0, IssueInstant: now, NotBefore: now.Add(-time.Minute), NotOnOrAfter: now.Add(time.Hour), ID: "_x"}
		checkWResult(t, s, a)
	})
}

// postForm is the sign-in page as one html/template, as it was before writePostForm wrote its
// fields directly; the page must stay the same but for the escaping of '+' (&#43; there).
var postForm = template.Must(template.New("post").Parse(`<!DOCTYPE html>
<html lang="ja"><head><meta charset="utf-8"><title>Microsoft 365 へサインイン中 / Signing in to Microsoft 365</title></head>
<body>
<form id="wsfed" method="post" action="{{.Action}}">
<input type="hidden" name="wa" value="wsignin1.0">
<input type="hidden" name="wresult" value="{{.WResult}}">
{{if .WCtx}}<input type="hidden" name="wctx" value="{{.WCtx}}">{{end}}
<noscript><p>JavaScript が無効です。続行するにはボタンを押してください。 / JavaScript is off: press the button to continue.</p>
<button type="submit">続行 / Continue</button></noscript>
</form>
<script>` + autoSubmit + `</script>
</body></html>
`))

func TestPostFormAsTemplate(t *testing.T) {
	for _, tc := range []struct{ action, wresult, wctx string }{
		{DefaultReplyURL, `<t:RequestSecurityTokenResponse xmlns:t="x">a+b&amp;'"</t:RequestSecurityTokenResponse>`, "LoginOptions=3&estsredirect=2"},
		{DefaultReplyURL + "?x=<y>", "v\x00", `"'<>&` + "\x00"},
		{"https://login.example.test/日本", "v", ""},
	} {
		var got, want strings.Builder
		head, err := renderPostHead(tc.action)
		if err != nil {
			t.Fatal(err)
		}
		if err := writePostForm(&got, head, []byte(tc.wresult), tc.wctx); err != nil {
			t.Fatal(err)
		}
		if err := postForm.Execute(&want, struct{ Action, WResult, WCtx string }{tc.action, tc.wresult, tc.wctx}); err != nil {
			t.Fatal(err)
		}
		if w := strings.ReplaceAll(want.String(), "&#43;", "+"); got.String() != w {
			t.Errorf("page differs:\n got %q\nwant %q", got.String(), w)
		}
	}
}
