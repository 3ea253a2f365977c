package wiring_test

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/sekisho/sekisho/internal/keys"
	"github.com/sekisho/sekisho/internal/m365"
	"github.com/sekisho/sekisho/internal/setup"
	"github.com/sekisho/sekisho/internal/testutil/idptest"
	"github.com/sekisho/sekisho/internal/testutil/peers"
	"github.com/sekisho/sekisho/internal/wiring"
)

var samlResponseRe = regexp.MustCompile(`name="SAMLResponse" value="([^"]+)"`)

// samlResponseIn decodes the SAML Response of an auto-POST form, as the SP receives it.
func samlResponseIn(t *testing.T, form string) (*etree.Document, []byte) {
	t.Helper()
	m := samlResponseRe.FindStringSubmatch(form)
	if m == nil {
		t.Fatalf("no SAMLResponse in the form:\n%.800s", form)
	}
	b, err := base64.StdEncoding.DecodeString(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(b); err != nil {
		t.Fatal(err)
	}
	return doc, b
}

// TestMicrosoft365SAMLP drives Entra's SAML-P request shape through the real server: the
// response carries the domain's own issuer, NameID persistent = ImmutableID and IDPEmail = UPN,
// and its signature verifies with xmlsec1.
func TestMicrosoft365SAMLP(t *testing.T) {
	xmlsec := peers.Command(t, "xmlsec1", "apt-get install -y xmlsec1")
	p := idptest.Start(t, idptest.Options{Prepare: func(ctx context.Context, in *setup.Instance) error {
		d, err := m365.GetDomain(ctx, in.Store, "example.com")
		if err != nil {
			return err
		}
		d.Protocol = m365.SAML
		d.IssuerURI = "http://example.com/adfs/services/trust/"
		if err := m365.PutDomain(ctx, in.Store, d); err != nil {
			return err
		}
		_, err = wiring.EnsureM365SAMLApp(ctx, in.Store)
		return err
	}})
	ctx := context.Background()
	alice, err := p.Services.Instance.Store.GetUserByUPN(ctx, "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}

	req := fmt.Sprintf(`<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_%d" Version="2.0" IssueInstant="%s" Destination="%s/saml/sso" AssertionConsumerServiceURL="https://login.microsoftonline.com/login.srf" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"><saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">urn:federation:MicrosoftOnline</saml:Issuer><samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"/></samlp:AuthnRequest>`,
		time.Now().UnixNano(), time.Now().UTC().Format(time.RFC3339), p.URL)
	var buf bytes.Buffer
	fw, _ := flate.NewWriter(&buf, flate.DefaultCompression)
	io.WriteString(fw, req)
	fw.Close()
	c := p.Client()
	c.Jar, _ = cookiejar.New(nil)
	get := func(u string) (*http.Response, string) {
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	resp, _ := get(p.URL + "/saml/sso?SAMLRequest=" + url.QueryEscape(base64.StdEncoding.EncodeToString(buf.Bytes())) + "&RelayState=estsredirect")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?") {
		t.Fatalf("no redirect to sign-in: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	loginURL, _ := url.Parse(resp.Header.Get("Location"))
	_, body := get(p.URL + loginURL.String())
	csrf := csrfRe.FindStringSubmatch(body)
	if csrf == nil {
		t.Fatalf("no CSRF token:\n%s", body)
	}
	pr, err := c.PostForm(p.URL+"/login", url.Values{"csrf": {csrf[1]}, "step": {"password"}, "username": {"alice@example.com"},
		"password": {p.Password("alice@example.com")}, "return_to": {loginURL.Query().Get("return_to")}})
	if err != nil {
		t.Fatal(err)
	}
	pr.Body.Close()
	if pr.StatusCode != http.StatusSeeOther {
		t.Fatalf("password step: %d", pr.StatusCode)
	}
	_, form := get(p.URL + pr.Header.Get("Location"))
	if !strings.Contains(form, `action="https://login.microsoftonline.com/login.srf"`) {
		t.Fatalf("no SAMLResponse form to login.srf:\n%s", form)
	}
	doc, xmlBytes := samlResponseIn(t, form)
	text := func(path string) string {
		if e := doc.FindElement(path); e != nil {
			return e.Text()
		}
		return ""
	}
	checks := map[string]string{
		"//Assertion/Issuer":                           "http://example.com/adfs/services/trust/",
		"//Assertion/Subject/NameID":                   alice.ImmutableID,
		"//AudienceRestriction/Audience":               m365.Realm,
		"//Attribute[@Name='IDPEmail']/AttributeValue": "alice@example.com",
		"//AuthnContextClassRef":                       "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
	}
	for path, want := range checks {
		if got := text(path); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	if f := doc.FindElement("//Assertion/Subject/NameID"); f == nil || f.SelectAttrValue("Format", "") != "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent" {
		t.Error("NameID is not persistent")
	}
	cur, err := p.Services.Instance.Keys.Current(ctx, keys.PurposeToken)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "idp.pem"), keys.CertPEM(cur.Cert), 0o600)
	os.WriteFile(filepath.Join(dir, "resp.xml"), xmlBytes, 0o600)
	out, err := exec.Command(xmlsec, "--verify", "--pubkey-cert-pem", filepath.Join(dir, "idp.pem"),
		"--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:assertion:Assertion", filepath.Join(dir, "resp.xml")).CombinedOutput()
	if err != nil {
		t.Fatalf("xmlsec1 rejects the assertion: %v\n%s", err, out)
	}
	evs, _ := p.Services.Instance.Store.ListSignIns(ctx, storeFilterApp("microsoft365"))
	if len(evs) == 0 || evs[len(evs)-1].Decision != "allow" || evs[len(evs)-1].Protocol != "saml" {
		t.Fatalf("sign-in log: %+v", evs)
	}
}
