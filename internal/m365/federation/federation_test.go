package federation

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/keys"
	"github.com/sekisho/sekisho/internal/m365"
	"github.com/sekisho/sekisho/internal/store"
)

func cert(t *testing.T, notAfter time.Time) *x509.Certificate {
	t.Helper()
	k, _ := rsa.GenerateKey(rand.Reader, 2048)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "t"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

func domain(name string, p m365.Protocol) m365.DomainSettings {
	return m365.DomainSettings{Domain: m365.Domain{Name: name, IssuerURI: m365.DefaultIssuerURI(name), Protocol: p},
		PromptLoginBehavior: "translateToFreshPasswordAuthentication", MFABehavior: "acceptIfMfaDoneByFederatedIdp"}
}

func TestSettingsAndRenderings(t *testing.T) {
	cur, next := cert(t, time.Now().AddDate(1, 0, 0)), cert(t, time.Now().AddDate(2, 0, 0))
	c := Settings(domain("contoso.com", m365.WSFed), "https://idp.contoso.com/", cur, next)
	if c.PassiveSignInURI != "https://idp.contoso.com/adfs/ls/" || c.MetadataExchangeURI != "https://idp.contoso.com/adfs/services/trust/mex" ||
		c.ActiveSignInURI != "https://idp.contoso.com/adfs/services/trust/2005/usernamemixed" || c.IssuerURI != "http://contoso.com/adfs/services/trust/" ||
		c.PreferredAuthenticationProtocol != "wsFed" || c.SigningCertificate != base64.StdEncoding.EncodeToString(cur.Raw) ||
		c.NextSigningCertificate != base64.StdEncoding.EncodeToString(next.Raw) {
		t.Fatalf("settings %+v", c)
	}
	s := Settings(domain("fabrikam.com", m365.SAML), "https://idp.contoso.com", cur, nil)
	if s.PassiveSignInURI != "https://idp.contoso.com/saml/sso" || s.NextSigningCertificate != "" || s.PreferredAuthenticationProtocol != "saml" {
		t.Fatalf("saml settings %+v", s)
	}
	ps := PowerShell("contoso.com", c)
	for _, want := range []string{"New-MgDomainFederationConfiguration -DomainId 'contoso.com'", "IssuerUri = 'http://contoso.com/adfs/services/trust/'",
		"NextSigningCertificate = '", "IsSignedAuthenticationRequestRequired = $false"} {
		if !strings.Contains(ps, want) {
			t.Errorf("PowerShell lacks %q:\n%s", want, ps)
		}
	}
	if m := Msol("fabrikam.com", s); !strings.Contains(m, "-PreferredAuthenticationProtocol Samlp") || strings.Contains(m, "NextSigningCertificate") {
		t.Errorf("msol:\n%s", m)
	}
	if q := psQuote("it's"); q != "'it''s'" {
		t.Errorf("psQuote = %s", q)
	}
}

func TestCheck(t *testing.T) {
	now := time.Now()
	d := domain("contoso.com", m365.WSFed)
	good := []keys.Key{{State: store.KeyCurrent, Cert: cert(t, now.AddDate(1, 0, 0))}}
	expiring := []keys.Key{{State: store.KeyCurrent, Cert: cert(t, now.Add(10*24*time.Hour))}}
	withNext := append(append([]keys.Key{}, expiring...), keys.Key{State: store.KeyNext, Cert: cert(t, now.AddDate(2, 0, 0))})
	users := []store.User{
		{UPN: "a@contoso.com", ImmutableID: "A"}, {UPN: "b@sub.contoso.com", ImmutableID: ""},
		{UPN: "c@contoso.com", ImmutableID: "DUP"}, {UPN: "d@contoso.com", ImmutableID: "DUP"},
		{UPN: "e@other.com", ImmutableID: ""},
	}
	other := domain("other.com", m365.WSFed)
	other.IssuerURI = d.IssuerURI
	enforced, enforcedNoEmit, native, nativeSAML := d, d, d, domain("contoso.com", m365.SAML)
	enforced.MFABehavior, enforced.EmitMFA = "enforceMfaByFederatedIdp", true
	enforcedNoEmit.MFABehavior = "enforceMfaByFederatedIdp"
	native.PromptLoginBehavior, nativeSAML.PromptLoginBehavior = "nativeSupport", "nativeSupport"
	cases := []struct {
		name  string
		in    CheckInput
		wants []string // substrings, each must appear in some problem
		none  bool
	}{
		{"clean", CheckInput{Domain: d, All: []m365.DomainSettings{d}, Keys: good, BaseURL: "https://idp.contoso.com"}, nil, true},
		{"users", CheckInput{Domain: d, All: []m365.DomainSettings{d}, Users: users, Keys: good, BaseURL: "https://idp.contoso.com"},
			[]string{"1 user(s) of contoso.com have no ImmutableID", "b@sub.contoso.com", "DUP (c@contoso.com, d@contoso.com)"}, false},
		{"expiring without next", CheckInput{Domain: d, All: []m365.DomainSettings{d}, Keys: expiring, BaseURL: "https://idp.contoso.com"},
			[]string{"no next certificate"}, false},
		{"expiring with next", CheckInput{Domain: d, All: []m365.DomainSettings{d}, Keys: withNext, BaseURL: "https://idp.contoso.com"}, nil, true},
		{"no key", CheckInput{Domain: d, All: []m365.DomainSettings{d}, BaseURL: "https://idp.contoso.com"}, []string{"no current token-signing key"}, false},
		{"http and issuer collision", CheckInput{Domain: d, All: []m365.DomainSettings{d, other}, Keys: good, BaseURL: "http://idp.contoso.com"},
			[]string{"is not https", "used by another domain"}, false},
		{"loopback", CheckInput{Domain: d, All: []m365.DomainSettings{d}, Keys: good, BaseURL: "https://localhost:8443"}, []string{"loopback"}, false},
		{"MFA enforced by Sekisho, not emitted", CheckInput{Domain: enforcedNoEmit, All: []m365.DomainSettings{enforcedNoEmit}, Keys: good, BaseURL: "https://idp.contoso.com"},
			[]string{"does not report one"}, false},
		{"MFA enforced by Sekisho", CheckInput{Domain: enforced, All: []m365.DomainSettings{enforced}, Keys: good, BaseURL: "https://idp.contoso.com"},
			[]string{"require MFA in the policy"}, false},
		{"prompt=login as it is, WS-Fed", CheckInput{Domain: native, All: []m365.DomainSettings{native}, Keys: good, BaseURL: "https://idp.contoso.com"},
			[]string{"does not read"}, false},
		{"prompt=login as it is, SAML-P", CheckInput{Domain: nativeSAML, All: []m365.DomainSettings{nativeSAML}, Keys: good, BaseURL: "https://idp.contoso.com"}, nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.in.Now = now
			ps := Check(c.in)
			if c.none && len(ps) != 0 {
				t.Fatalf("unexpected problems %+v", ps)
			}
			for _, w := range c.wants {
				found := false
				for _, p := range ps {
					found = found || strings.Contains(p.Text, w)
				}
				if !found {
					t.Errorf("no problem mentions %q: %+v", w, ps)
				}
			}
		})
	}
}
