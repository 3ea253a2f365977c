package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// run executes the CLI in-process with stdin and returns stdout and the error.
func run(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func mustRun(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, err := run(t, stdin, args...)
	if err != nil {
		t.Fatalf("sekisho %v: %v\n%s", args, err, out)
	}
	return out
}

func TestCLIUsersGroupsPolicy(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d")
	d := "--data=" + dir
	if _, err := run(t, "", "user", "list", d); err == nil || !strings.Contains(err.Error(), "sekisho init") {
		t.Fatalf("uninitialised folder: %v", err)
	}
	mustRun(t, "", "init", d)
	mustRun(t, "", "group", "add", "staff", d)
	out := mustRun(t, "a very long passphrase\n", "user", "add", "Dave@Example.com", "--password-stdin", "--group", "staff",
		"--immutable-id", "AAECAwQFBgcICQoLDA0ODw==", d)
	if !strings.Contains(out, "ImmutableID AAECAwQFBgcICQoLDA0ODw==") {
		t.Fatalf("add output %q", out)
	}
	if _, err := run(t, "another long passphrase\n", "user", "add", "dave@example.com", "--password-stdin", d); err == nil ||
		!strings.Contains(err.Error(), "already exists") {
		t.Fatalf("duplicate UPN: %v", err)
	}
	if _, err := run(t, "short\n", "user", "add", "erin@example.com", "--password-stdin", d); err == nil || !strings.Contains(err.Error(), "too short") {
		t.Fatalf("weak password: %v", err)
	}
	out = mustRun(t, "", "user", "list", d)
	if !strings.Contains(out, "Dave@Example.com") || !strings.Contains(out, "staff") || strings.Contains(out, "erin@") {
		t.Fatalf("list:\n%s", out)
	}
	mustRun(t, "", "user", "disable", "dave@example.com", d)
	if out := mustRun(t, "", "user", "show", "dave@example.com", d); !strings.Contains(out, `"status": "disabled"`) || strings.Contains(out, "argon2") {
		t.Fatalf("show:\n%s", out)
	}

	csv := filepath.Join(t.TempDir(), "users.csv")
	os.WriteFile(csv, []byte("userPrincipalName,displayName,mail,onPremisesImmutableId\nfrank@example.com,Frank,frank@example.com,\nbad row,,,\n"), 0o600)
	out, err := run(t, "", "user", "import", "--csv", csv, d)
	if err == nil || !strings.Contains(out, "created 1, skipped 0, errors 1") || !strings.Contains(out, "line 3: error") {
		t.Fatalf("import: %v\n%s", err, out)
	}

	mustRun(t, "", "network", "set", "office", "192.0.2.0/24", d)
	pol := filepath.Join(t.TempDir(), "p.yaml")
	os.WriteFile(pol, []byte("version: 1\ndefault: deny\nrules:\n  - name: office\n    networks: [office]\n    action: allow\n"), 0o600)
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("version: 1\ndefault: deny\nrules:\n  - name: office\n    networks: [ofice]\n    action: allow\n"), 0o600)
	if _, err := run(t, "", "policy", "import", bad, d); err == nil || !strings.Contains(err.Error(), ":5") {
		t.Fatalf("bad policy: %v", err)
	}
	mustRun(t, "", "policy", "import", pol, d)
	out = mustRun(t, "", "policy", "test", "--user", "frank@example.com", "--ip", "192.0.2.9", "--app", "m365", d)
	if !strings.HasPrefix(out, "decision: allow (rule office, policy version 1)") {
		t.Fatalf("policy test:\n%s", out)
	}
	out = mustRun(t, "", "policy", "test", "--user", "frank@example.com", "--ip", "198.51.100.1", "--format", "json", d)
	if !strings.Contains(out, `"decision": "deny"`) {
		t.Fatalf("policy test json:\n%s", out)
	}
	os.WriteFile(pol, []byte("version: 1\ndefault: allow\nrules: []\n"), 0o600)
	mustRun(t, "", "policy", "import", pol, "--comment", "open up", d)
	mustRun(t, "", "policy", "rollback", "1", d)
	out = mustRun(t, "", "policy", "history", d)
	if !strings.Contains(out, "rollback to version 1") || !strings.Contains(out, "open up") {
		t.Fatalf("history:\n%s", out)
	}
	if out := mustRun(t, "", "policy", "export", d); !strings.Contains(out, "networks: [office]") {
		t.Fatalf("rollback did not restore version 1:\n%s", out)
	}
	if _, err := run(t, "", "policy", "rollback", "99", d); err == nil {
		t.Fatal("rollback to a missing version succeeded")
	}
	if _, err := run(t, "", "network", "delete", "office", d); err == nil || !strings.Contains(err.Error(), "would no longer compile") {
		t.Fatalf("deleting a network the policy names: %v", err)
	}
	mustRun(t, "", "network", "set", "lab", "198.51.100.0/24", d)
	if out := mustRun(t, "", "network", "delete", "lab", d); out != "deleted network lab\n" {
		t.Fatalf("network delete output %q", out)
	}

	// Every change above is in the admin audit log, once, with who made it; refused changes
	// (duplicate UPN, weak password, invalid policy) left nothing.
	t.Setenv("SEKISHO_ADMIN", "")
	out = mustRun(t, "", "audit", "list", d)
	for want, n := range map[string]int{"group.add": 1, "user.add": 1, "user.disable": 1, "user.import": 1, "network.set": 2,
		"network.delete": 1, "policy.publish": 2, "policy.rollback": 1} {
		if got := strings.Count(out, " "+want+" "); got != n {
			t.Errorf("audit list: %q appears %d times, want %d:\n%s", want, got, n, out)
		}
	}
	if strings.Contains(out, "erin@") || !strings.Contains(out, "os:") || !strings.Contains(out, "cli") {
		t.Errorf("audit list:\n%s", out)
	}
	js := mustRun(t, "", "audit", "list", "--action", "user.disable", "--json", d)
	if !strings.Contains(js, `"status": "active"`) || !strings.Contains(js, `"status": "disabled"`) || strings.Contains(js, "argon2") {
		t.Errorf("user.disable entry lacks before/after or leaks the hash:\n%s", js)
	}
}

// The changes made through the managers with their own storage (devices, keys, applications,
// Microsoft 365 domains, second factors, lockout) are in the admin audit log too, once each,
// with what the operator needs and none of the secrets the commands print.
func TestCLIAuditOfManagedChanges(t *testing.T) {
	d := "--data=" + filepath.Join(t.TempDir(), "d")
	t.Setenv("SEKISHO_ADMIN", "ops@example.com")
	mustRun(t, "", "init", d)
	mustRun(t, "", "user", "add", "alice@example.com", d)
	out := mustRun(t, "", "device", "issue", "--user", "alice@example.com", "--name", "Alice laptop", "--platform", "windows", d)
	tok := regexp.MustCompile(`download token:\s+(\S+)`).FindStringSubmatch(out)
	pw := regexp.MustCompile(`one-time password:\s+(\S+)`).FindStringSubmatch(out)
	id := regexp.MustCompile(`id:\s+(\S+)`).FindStringSubmatch(out)
	if tok == nil || pw == nil || id == nil {
		t.Fatalf("issue output:\n%s", out)
	}
	if out := mustRun(t, "", "device", "revoke", id[1], d); !strings.HasPrefix(out, "revoked "+id[1]) {
		t.Fatalf("revoke output:\n%s", out)
	}
	if out := mustRun(t, "", "keys", "rotate", d); !strings.HasPrefix(out, "next key ") {
		t.Fatalf("rotate output:\n%s", out)
	}
	if out := mustRun(t, "", "app", "add", "saml", "wiki", "--entity-id", "https://wiki.example.com/sp", "--acs", "https://wiki.example.com/acs", d); !strings.HasPrefix(out, "registered SAML application wiki") {
		t.Fatalf("app add output:\n%s", out)
	}
	if _, err := run(t, "", "app", "add", "saml", "wiki2", "--entity-id", "https://wiki.example.com/sp", "--acs", "https://wiki.example.com/acs", d); err == nil ||
		!strings.Contains(err.Error(), "exists already") {
		t.Fatalf("duplicate entity ID: %v", err)
	}
	out = mustRun(t, "", "m365", "domain", "add", "contoso.com", "--protocol", "saml", d)
	if !strings.Contains(out, "registered Microsoft 365") || !strings.Contains(out, "domain contoso.com federated by saml") {
		t.Fatalf("m365 domain add output:\n%s", out)
	}
	out = mustRun(t, "", "mfa", "emergency-codes", "alice@example.com", "--count", "3", d)
	codes := strings.Split(strings.TrimSpace(out), "\n")[1:]
	if len(codes) != 3 {
		t.Fatalf("emergency-codes output:\n%s", out)
	}
	mustRun(t, "", "mfa", "reset", "alice@example.com", d)
	if out := mustRun(t, "", "lockout", "unlock", "alice@example.com", d); out != "alice@example.com unlocked\n" {
		t.Fatalf("unlock output %q", out)
	}

	out = mustRun(t, "", "audit", "list", d)
	for _, want := range []string{"device.issue", "device.revoke", "key.rotate", "app.add", "m365.domain-add", "factors.emergency-codes", "factors.reset", "lockout.unlock"} {
		if n := strings.Count(out, " "+want+" "); n != 1 {
			t.Errorf("audit list: %q appears %d times:\n%s", want, n, out)
		}
	}
	if !strings.Contains(out, "ops@example.com") {
		t.Errorf("audit list lacks the actor:\n%s", out)
	}
	js := mustRun(t, "", "audit", "list", "--json", d)
	for _, secret := range append([]string{tok[1], pw[1], "PRIVATE KEY", "p12"}, codes...) {
		if strings.Contains(js, secret) {
			t.Errorf("a secret (%q) in the audit log:\n%s", secret, js)
		}
	}
	js = mustRun(t, "", "audit", "list", "--action", "device.", "--json", d)
	if strings.Count(js, `"serial"`) != 3 || !strings.Contains(js, `"revokedAt"`) || !strings.Contains(js, `"name": "Alice laptop"`) {
		t.Errorf("device entries lack the device:\n%s", js)
	}
}
