package ldapconn

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

// slowNormDN is normDN without the plainDN shortcut.
func slowNormDN(dn string) string {
	p, err := ldap.ParseDN(dn)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(dn))
	}
	return strings.ToLower(p.String())
}

// TestPlainDNIsParsedDN: the shortcut gives what parsing gives, for crafted DNs and for
// random strings over an alphabet of the plain characters and those that need parsing.
func TestPlainDNIsParsedDN(t *testing.T) {
	cases := map[string]bool{ // DN → plain
		"uid=u000001,ou=people,dc=example,dc=com":        true,
		"CN=Alice.Smith,OU=Sales-EU,DC=Corp,DC=Example":  true,
		"cn=first_last@corp.example,ou=x":                true,
		"2.5.4.3=alice,dc=example":                       true,
		"cn=Smith\\, John,dc=example":                    false,
		"cn=a+sn=b,dc=example":                           false,
		"cn= alice ,dc=example":                          false,
		"cn=alice, dc=example":                           false,
		"cn=#0403616263,dc=example":                      false,
		"cn=a=b,dc=example":                              false,
		"cn=,dc=example":                                 false,
		"=alice,dc=example":                              false,
		"cn=alice,":                                      false,
		",cn=alice":                                      false,
		"cn":                                             false,
		"":                                               false,
		"cn=Zoë,dc=example":                              false,
		"cn=alice;dc=example":                            false,
		`cn="alice",dc=example`:                          false,
		"cn=alice,,dc=example":                           false,
		"uid=U000001,OU=People,DC=example,DC=com":        true,
		"cn=team-001,ou=groups,dc=example,dc=com":        true,
		"cn=x.y-z_w@v,ou=groups,o=acme.com,c=jp":         true,
		"cn=alice\\2c,dc=example":                        false,
		"cn=alice ,dc=example":                           false,
		"cn=alice,dc=example ":                           false,
		" cn=alice,dc=example":                           false,
		"cn=alice\x00,dc=example":                        false,
		"CN=ALICE,DC=EXAMPLE,DC=COM,O=ACME-CORP.EXAMPLE": true,
	}
	for dn, plain := range cases {
		got, ok := plainDN(dn)
		if ok != plain {
			t.Errorf("plainDN(%q) ok = %v, want %v", dn, ok, plain)
		}
		if ok && got != slowNormDN(dn) {
			t.Errorf("plainDN(%q) = %q, ParseDN gives %q", dn, got, slowNormDN(dn))
		}
		if normDN(dn) != slowNormDN(dn) {
			t.Errorf("normDN(%q) = %q, want %q", dn, normDN(dn), slowNormDN(dn))
		}
	}
	// Random DNs: RDNs of random parts over plain characters and a few that need parsing.
	const alphabet = "aZ09-._@aZ09=,+ #\\\";<>\xc3\xa9"
	part := func(r *rand.Rand) string {
		b := make([]byte, r.IntN(5))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		return string(b)
	}
	r := rand.New(rand.NewPCG(1, 2))
	plain := 0
	for range 200_000 {
		rdns := make([]string, 1+r.IntN(4))
		for i := range rdns {
			rdns[i] = part(r) + "=" + part(r)
		}
		dn := strings.Join(rdns, ",")
		if got, ok := plainDN(dn); ok {
			plain++
			if want := slowNormDN(dn); got != want {
				t.Fatalf("plainDN(%q) = %q, ParseDN gives %q", dn, got, want)
			}
		} else if normDN(dn) != slowNormDN(dn) {
			t.Fatalf("normDN(%q) = %q, want %q", dn, normDN(dn), slowNormDN(dn))
		}
	}
	t.Logf("%d of 200,000 random DNs plain", plain)
	if plain < 1000 {
		t.Fatalf("only %d random plain DNs: the test does not exercise the shortcut", plain)
	}
}
