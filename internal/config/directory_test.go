package config

import (
	"strings"
	"testing"
)

// TestDirectoryLDAPValidation: a malformed directory.ldap section is refused with the key, the
// line and what to do; a good one gets its flavor's defaults.
func TestDirectoryLDAPValidation(t *testing.T) {
	good := "directory:\n  ldap:\n    url: ldaps://dc1.example.com\n    bind_dn: CN=svc,DC=example,DC=com\n" +
		"    bind_password_file: bind.secret\n    user_base_dns: [\"DC=example,DC=com\"]\n"
	cfg, err := Parse("sekisho.yaml", []byte(good), t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	l := cfg.Directory.LDAP.WithDefaults()
	if l.Attributes.ID != "objectGUID" || l.Attributes.UPN != "userPrincipalName" || l.NestedGroups != "in_chain" ||
		l.MaxDisablePercent != 10 || l.GroupBaseDNs[0] != "DC=example,DC=com" || l.Attributes.UserAccountControl != "userAccountControl" {
		t.Fatalf("AD defaults: %+v", l)
	}
	for _, tc := range []struct{ yaml, want string }{
		{strings.Replace(good, "ldaps://dc1.example.com", "ldap://dc1.example.com", 1), "sekisho.yaml:3: directory.ldap.url: ldap://dc1.example.com is plain LDAP"},
		{strings.Replace(good, "ldaps://dc1.example.com", "http://dc1", 1), "directory.ldap.url: must be ldaps://"},
		{strings.Replace(good, "bind_dn: CN=svc,DC=example,DC=com", "bind_dn: not a dn", 1), "directory.ldap.bind_dn: \"not a dn\" is not a DN"},
		{strings.Replace(good, "    bind_password_file: bind.secret\n", "", 1), "give exactly one of bind_password_file and bind_password_env"},
		{good + "    user_filter: (objectClass=user\n", "directory.ldap.user_filter: \"(objectClass=user\" is not an LDAP filter"},
		{good + "    nested_groups: deep\n", "directory.ldap.nested_groups: unknown mode \"deep\""},
		{good + "    max_disable_percent: 120\n", "directory.ldap.max_disable_percent: must be between 1 and 100"},
		{good + "    start_tls: true\n", "directory.ldap.start_tls: is for ldap:// URLs"},
		{strings.Replace(good, "    user_base_dns: [\"DC=example,DC=com\"]\n", "", 1), "directory.ldap.user_base_dns: give at least one base DN"},
	} {
		_, err := Parse("sekisho.yaml", []byte(tc.yaml), t.TempDir(), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q:\n got %v\nwant %q", tc.yaml, err, tc.want)
		}
	}
	// The plain URL is allowed when asked for.
	insecure := strings.Replace(good, "ldaps://dc1.example.com", "ldap://dc1.example.com", 1) + "    allow_insecure: true\n"
	if _, err := Parse("sekisho.yaml", []byte(insecure), t.TempDir(), nil); err != nil {
		t.Fatalf("allow_insecure: %v", err)
	}
}
