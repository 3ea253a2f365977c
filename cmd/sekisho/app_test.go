package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// app update changes only what its options name; --attribute replaces the mappings, with the
// parser app add uses; a refused change leaves the settings and the audit log as they were.
func TestCLIAppUpdate(t *testing.T) {
	d := "--data=" + filepath.Join(t.TempDir(), "d")
	t.Setenv("SEKISHO_ADMIN", "ops@example.com")
	mustRun(t, "", "init", d)
	mustRun(t, "", "app", "add", "saml", "wiki", "--entity-id", "https://wiki.example.com/sp", "--acs", "https://wiki.example.com/acs",
		"--attribute", "mail=email;uri", d)
	if _, err := run(t, "", "app", "update", "wiki", "--attribute", "mail=email", "--attribute", "mail=upn", d); err == nil || !strings.Contains(err.Error(), "mapped twice") {
		t.Fatalf("duplicate mapping: %v", err)
	}
	if _, err := run(t, "", "app", "update", "wiki", "--attribute", "mail", d); err == nil || !strings.Contains(err.Error(), "NAME=SOURCE") {
		t.Fatalf("malformed mapping: %v", err)
	}
	out := mustRun(t, "", "app", "update", "wiki", "--attribute", "upn=upn;basic", "--attribute", "groups=groups", "--allow-idp-initiated", d)
	if !strings.HasPrefix(out, "updated SAML application wiki (https://wiki.example.com/sp): 2 attribute mapping(s)") {
		t.Fatalf("update output:\n%s", out)
	}
	js := mustRun(t, "", "app", "show", "wiki", d)
	for _, want := range []string{`"name": "upn"`, `"nameFormat": "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"`, `"name": "groups"`,
		`"allowIdpInitiated": true`, `"nameIdFormat": "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"`} {
		if !strings.Contains(js, want) {
			t.Errorf("app show lacks %s:\n%s", want, js)
		}
	}
	if strings.Contains(js, `"name": "mail"`) {
		t.Errorf("the replaced mapping is still there:\n%s", js)
	}
	mustRun(t, "", "app", "update", "wiki", "--nameid-format", "emailAddress", d)
	if js := mustRun(t, "", "app", "show", "wiki", d); !strings.Contains(js, `"nameIdSource": "email"`) || !strings.Contains(js, `"name": "groups"`) {
		t.Errorf("a new NameID format takes its default source and keeps the mappings:\n%s", js)
	}
	if out := mustRun(t, "", "app", "update", "wiki", "--attribute=", d); !strings.Contains(out, ": 0 attribute mapping(s)") {
		t.Errorf("--attribute= keeps mappings:\n%s", out)
	}
	if out := mustRun(t, "", "audit", "list", "--action", "app.update", d); strings.Count(out, " app.update ") != 3 {
		t.Errorf("app.update entries:\n%s", out)
	}
}
