package main

import (
	"net"
	"os"
	"path/filepath"
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
