package main

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestCLIBridgeCredential: issue prints the app password once, list never shows it, revoke
// ends it and frees its name, and bad scopes, names and senders are refused with what to do.
func TestCLIBridgeCredential(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d")
	d := "--data=" + dir
	mustRun(t, "", "init", d)
	mustRun(t, "", "user", "add", "alice@example.com", d)
	pwRE := regexp.MustCompile(`[a-z2-9]{4}(-[a-z2-9]{4}){6}`)
	out := mustRun(t, "", "bridge", "credential", "issue", "--user", "alice@example.com", "--name", "printer-3f",
		"--scope", "smtp-send", "--from", "Scans@Example.com", d)
	pw := pwRE.FindString(out)
	if pw == "" || !strings.Contains(out, "scans@example.com") {
		t.Fatalf("issue: %q", out)
	}
	var list []struct {
		Name, User string
		Scopes     []string
		From       []string
	}
	js := mustRun(t, "", "bridge", "credential", "list", "--json", d)
	if err := json.Unmarshal([]byte(js), &list); err != nil || len(list) != 1 || list[0].Name != "printer-3f" ||
		strings.Join(list[0].Scopes, ",") != "smtp-send" || strings.Contains(js, pw) || strings.Contains(js, "hash") {
		t.Fatalf("list: %q %v", js, err)
	}
	if _, err := run(t, "", "bridge", "credential", "issue", "--user", "alice@example.com", "--name", "printer-3f", "--scope", "imap", d); err == nil ||
		!strings.Contains(err.Error(), "already has an app password named") {
		t.Fatalf("same name twice: %v", err)
	}
	mustRun(t, "", "bridge", "credential", "revoke", "--user", "alice@example.com", "--name", "printer-3f", d)
	if out := mustRun(t, "", "bridge", "credential", "list", d); !strings.Contains(out, "revoked") {
		t.Fatalf("list after revoke: %q", out)
	}
	// The revoked credential's name may be used again.
	out = mustRun(t, "", "bridge", "credential", "issue", "--user", "alice@example.com", "--name", "printer-3f", "--scope", "imap,pop", d)
	if pw2 := pwRE.FindString(out); pw2 == "" || pw2 == pw {
		t.Fatalf("reissue: %q", out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--user", "alice@example.com", "--name", "x", "--scope", "mail"}, "scope"},
		{[]string{"--user", "alice@example.com", "--name", "Printer 3F", "--scope", "imap"}, "credential name"},
		{[]string{"--user", "alice@example.com", "--name", "x", "--scope", "imap", "--from", "a@example.com"}, "smtp-send scope only"},
		{[]string{"--user", "nobody@example.com", "--name", "x", "--scope", "imap"}, "nobody@example.com"},
		{[]string{"--user", "alice@example.com", "--name", "x", "--scope", "imap", "--lifetime", "5000d"}, "at most"},
	} {
		if _, err := run(t, "", append([]string{"bridge", "credential", "issue", d}, tc.args...)...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v", tc.args, err)
		}
	}
	audit := mustRun(t, "", "audit", "list", "--action", "bridge.", d)
	if strings.Count(audit, "bridge.credential.issue") != 2 || strings.Count(audit, "bridge.credential.revoke") != 1 || strings.Contains(audit, pw) {
		t.Fatalf("audit: %q", audit)
	}
}
