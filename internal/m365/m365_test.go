package m365_test

import (
	"strings"
	"testing"

	"github.com/sekisho/sekisho/internal/m365"
)

var ds = m365.Domains{
	{Name: "example.com", IssuerURI: "http://example.com/adfs/services/trust/"},
	{Name: "eu.example.com", IssuerURI: "http://eu.example.com/adfs/services/trust/", Application: "m365-eu"},
	{Name: "contoso.test", IssuerURI: "http://contoso.test/"},
}

func TestMatch(t *testing.T) {
	for upn, want := range map[string]string{
		"alice@example.com":         "example.com",
		"Alice@EXAMPLE.COM":         "example.com",
		"bob@sales.example.com":     "example.com", // subdomains share the parent's settings
		"carol@eu.example.com":      "eu.example.com",
		"dave@x.eu.example.com":     "eu.example.com",
		"erin@example.com.":         "example.com",
		"frank@notexample.com":      "",
		"grace@example.org":         "",
		"no-at-sign":                "",
		"trailing@":                 "",
		"a@b@contoso.test":          "contoso.test",
		"mallory@contoso.test.evil": "",
	} {
		d, ok := ds.Match(upn)
		if ok != (want != "") || d.Name != want {
			t.Errorf("Match(%q) = %q, %v; want %q", upn, d.Name, ok, want)
		}
	}
}

func TestValidate(t *testing.T) {
	if err := ds.Validate(); err != nil {
		t.Fatalf("valid domains refused: %v", err)
	}
	bad := m365.Domains{
		{Name: "contoso.onmicrosoft.com", IssuerURI: "http://a/"},
		{Name: "x.com", IssuerURI: "not a uri"},
		{Name: "y.com", IssuerURI: "http://a/"},
		{Name: "X.com", IssuerURI: "http://b/", Protocol: "oidc"},
		{Name: "", IssuerURI: "http://c/"},
	}
	err := bad.Validate()
	if err == nil {
		t.Fatal("invalid domains accepted")
	}
	for _, want := range []string{"onmicrosoft.com", "absolute URI", "used by another domain", "listed twice", "wsFed or saml", "invalid name"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

func TestInside(t *testing.T) {
	d := m365.Domain{InsideNetworks: []string{"office", "vpn"}}
	cases := []struct {
		nets        []string
		value, emit bool
	}{
		{[]string{"Office"}, true, true},
		{[]string{"home"}, false, true},
		{nil, false, true},
	}
	for _, c := range cases {
		if v, e := d.Inside(c.nets); v != c.value || e != c.emit {
			t.Errorf("Inside(%v) = %v,%v", c.nets, v, e)
		}
	}
	if _, emit := (m365.Domain{}).Inside([]string{"office"}); emit {
		t.Error("claim emitted for a domain without InsideNetworks")
	}
	if (m365.Domain{}).App() != m365.DefaultApplication || ds[1].App() != "m365-eu" {
		t.Error("App defaults wrong")
	}
}
