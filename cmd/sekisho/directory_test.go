package main

import (
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestCLIDirectorySync: without a connector the command says how to configure one; with a
// directory that cannot be reached it fails, says nothing changed and records the failure.
// (The sync itself runs against a real slapd in internal/directory/ldapconn.)
func TestCLIDirectorySync(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d")
	d := "--data=" + dir
	mustRun(t, "", "init", d)
	if _, err := run(t, "", "directory", "sync", d); err == nil || !strings.Contains(err.Error(), "directory.ldap") {
		t.Fatalf("sync without a connector: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	f, err := os.OpenFile(filepath.Join(dir, "sekisho.yaml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString("directory:\n  ldap:\n    url: ldaps://" + addr + "\n    bind_dn: cn=sekisho,dc=example,dc=com\n" +
		"    bind_password_env: SEKISHO_TEST_LDAP_PW\n    user_base_dns: [\"dc=example,dc=com\"]\n    timeout: 2s\n")
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SEKISHO_TEST_LDAP_PW", "a-secret-never-printed")
	out, err := run(t, "", "directory", "sync", "--dry-run", d)
	if err == nil || !strings.Contains(out, "nothing changed") || strings.Contains(out+err.Error(), "a-secret-never-printed") {
		t.Fatalf("dry run against nothing: %q, %v", out, err)
	}
	if _, err := run(t, "", "directory", "sync", d); err == nil || !strings.Contains(err.Error(), "nothing changed") {
		t.Fatalf("sync against nothing: %v", err)
	}
	if out := mustRun(t, "", "audit", "list", d); !strings.Contains(out, "directory.sync.failed") {
		t.Fatalf("audit list has no failed sync:\n%s", out)
	}
}

// TestCLISCIMToken: issue prints the tenant URL and the token once and stores only its hash;
// issuing again replaces it; list shows it without the secret; revoke ends it; bad names
// are refused; each change is one admin-audit entry.
func TestCLISCIMToken(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d")
	d := "--data=" + dir
	mustRun(t, "", "init", d)
	out := mustRun(t, "", "directory", "scim-token", "issue", "entra", d)
	tok := regexp.MustCompile(`sks_[0-9a-f]{16}_[A-Za-z0-9_-]{43}`).FindString(out)
	if tok == "" || !strings.Contains(out, "/scim/v2") {
		t.Fatalf("issue: %q", out)
	}
	out2 := mustRun(t, "", "directory", "scim-token", "issue", "entra", d)
	if tok2 := regexp.MustCompile(`sks_[0-9a-f]{16}_[A-Za-z0-9_-]{43}`).FindString(out2); tok2 == "" || tok2 == tok {
		t.Fatalf("re-issue: %q", out2)
	}
	list := mustRun(t, "", "directory", "scim-token", "list", d)
	if !strings.Contains(list, "entra") || strings.Contains(list, "sks_") || strings.Count(list, "\n") != 2 {
		t.Fatalf("list: %q", list)
	}
	mustRun(t, "", "directory", "scim-token", "revoke", "entra", d)
	if list := mustRun(t, "", "directory", "scim-token", "list", d); !strings.Contains(list, "revoked") {
		t.Fatalf("list after revoke: %q", list)
	}
	if _, err := run(t, "", "directory", "scim-token", "revoke", "entra", d); err == nil || !strings.Contains(err.Error(), "already revoked") {
		t.Fatalf("second revoke: %v", err)
	}
	if _, err := run(t, "", "directory", "scim-token", "revoke", "nobody", d); err == nil {
		t.Fatal("revoke of an unknown connector")
	}
	if _, err := run(t, "", "directory", "scim-token", "issue", "Entra ID", d); err == nil || !strings.Contains(err.Error(), "lower-case") {
		t.Fatalf("bad name: %v", err)
	}
	audit := mustRun(t, "", "audit", "list", "--action", "scim.", d)
	if strings.Count(audit, "scim.token.issue") != 2 || strings.Count(audit, "scim.token.revoke") != 1 || strings.Contains(audit, "sks_") {
		t.Fatalf("audit: %q", audit)
	}
}
