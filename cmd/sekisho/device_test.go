package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"software.sslmate.com/src/go-pkcs12"
)

func TestCLIDevices(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d")
	d := "--data=" + dir
	mustRun(t, "", "init", d)
	mustRun(t, "", "user", "add", "alice@example.com", d)
	mustRun(t, "", "user", "add", "bob@example.com", d)

	out := mustRun(t, "", "device", "issue", "--user", "alice@example.com", "--name", "Alice laptop", "--platform", "windows", "--days", "30", d)
	tok := regexp.MustCompile(`download token:\s+(\S+)`).FindStringSubmatch(out)
	pw := regexp.MustCompile(`one-time password:\s+(\S+)`).FindStringSubmatch(out)
	id := regexp.MustCompile(`id:\s+(\S+)`).FindStringSubmatch(out)
	if tok == nil || pw == nil || id == nil {
		t.Fatalf("issue output:\n%s", out)
	}
	if _, err := run(t, "", "device", "issue", "--user", "alice@example.com", "--name", "x", "--platform", "beos", d); err == nil {
		t.Fatal("unknown platform accepted")
	}

	p12 := filepath.Join(t.TempDir(), "alice.p12")
	mustRun(t, "", "device", "download", tok[1], "--out", p12, d)
	b, err := os.ReadFile(p12)
	if err != nil {
		t.Fatal(err)
	}
	if _, cert, err := pkcs12.Decode(b, pw[1]); err != nil || cert.Subject.CommonName != "Alice laptop" {
		t.Fatalf("downloaded package: %v", err)
	}
	if _, err := run(t, "", "device", "download", tok[1], "--out", p12+".again", d); err == nil {
		t.Fatal("second download succeeded")
	}

	csvFile := filepath.Join(t.TempDir(), "devices.csv")
	os.WriteFile(csvFile, []byte("upn,name,platform\nbob@example.com,Bob phone,ios\nnobody@example.com,Ghost,ios\nbob@example.com,Bob tablet,toaster\nbob@example.com,too,many,columns\nbob@example.com,Bob mac,macos\n"), 0o600)
	out = mustRun(t, "", "device", "bulk-issue", csvFile, d)
	if n := strings.Count(out, ",issued,"); n != 2 {
		t.Fatalf("bulk issued %d rows, want 2:\n%s", n, out)
	}
	if n := strings.Count(out, ",skipped,"); n != 3 {
		t.Fatalf("bulk skipped %d rows, want 3:\n%s", n, out)
	}

	out = mustRun(t, "", "device", "list", "--user", "bob@example.com", d)
	if !strings.Contains(out, "Bob phone") || !strings.Contains(out, "Bob mac") || strings.Contains(out, "Alice") || strings.Contains(out, "Ghost") {
		t.Fatalf("list:\n%s", out)
	}
	out = mustRun(t, "", "device", "list", d)
	if !strings.Contains(out, "Alice laptop") || !strings.Contains(out, "expiring") { // 30 days: inside the renewal window
		t.Fatalf("list all:\n%s", out)
	}
	if out := mustRun(t, "", "device", "export", id[1], d); !strings.HasPrefix(out, "-----BEGIN CERTIFICATE-----") {
		t.Fatalf("export:\n%s", out)
	}
	mustRun(t, "", "device", "renew", id[1], d)
	if out := mustRun(t, "", "device", "show", id[1], d); !strings.Contains(out, "state:        replaced") {
		t.Fatalf("show after renew:\n%s", out)
	}
	mustRun(t, "", "device", "revoke", id[1], d)
	if out := mustRun(t, "", "device", "show", id[1], d); !strings.Contains(out, "state:        revoked") {
		t.Fatalf("show after revoke:\n%s", out)
	}
	if out := mustRun(t, "", "device", "crl", d); !strings.Contains(out, "BEGIN X509 CRL") {
		t.Fatalf("crl:\n%s", out)
	}
}
