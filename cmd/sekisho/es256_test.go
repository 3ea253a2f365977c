package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The ES256 token key is made at init beside the RSA one and rotated on its own with --alg
// ES256; a client is set to it with --signing-alg.
func TestCLIES256KeysAndClients(t *testing.T) {
	d := "--data=" + filepath.Join(t.TempDir(), "d")
	t.Setenv("SEKISHO_ADMIN", "ops@example.com")
	mustRun(t, "", "init", d)
	row := regexp.MustCompile(`(?m)^(\S+)\s+(current|next|retired)\s`)
	listed := func(alg string) map[string]string {
		out := mustRun(t, "", "keys", "list", "--alg", alg, d)
		m := map[string]string{}
		for _, r := range row.FindAllStringSubmatch(out, -1) {
			m[r[1]] = r[2]
		}
		return m
	}
	rsa, es := listed("RS256"), listed("ES256")
	if len(rsa) != 1 || len(es) != 1 {
		t.Fatalf("after init: RS256 %v ES256 %v", rsa, es)
	}
	for id := range es {
		if _, ok := rsa[id]; ok {
			t.Fatalf("the same key under both algorithms: %s", id)
		}
	}
	if out := mustRun(t, "", "keys", "rotate", "--alg", "ES256", d); !strings.HasPrefix(out, "next key ") {
		t.Fatalf("rotate: %s", out)
	}
	if es = listed("ES256"); len(es) != 2 || len(listed("RS256")) != 1 {
		t.Fatalf("after rotate --alg ES256: %v", es)
	}
	mustRun(t, "", "keys", "promote", "--alg", "es256", d)
	if out := mustRun(t, "", "keys", "retire", "--alg", "ES256", d); !strings.HasPrefix(out, "1 retired") {
		t.Fatalf("retire: %s", out)
	}
	after := listed("ES256")
	if len(after) != 1 || len(listed("RS256")) != 1 {
		t.Fatalf("after promote and retire: %v", after)
	}
	for id, st := range after {
		if st != "current" || es[id] != "next" {
			t.Fatalf("the next key did not become current: before %v after %v", es, after)
		}
	}
	if _, err := run(t, "", "keys", "rotate", "--alg", "HS256", d); err == nil || !strings.Contains(err.Error(), "RS256 or ES256") {
		t.Fatalf("--alg HS256: %v", err)
	}
	out := mustRun(t, "", "audit", "list", d)
	if !strings.Contains(out, "token-signing-es256") {
		t.Errorf("audit list lacks the ES256 key changes:\n%s", out)
	}

	out = mustRun(t, "", "app", "add", "oidc", "batch", "--grant", "client_credentials", "--signing-alg", "ES256", d)
	if !strings.Contains(out, "tokens signed: ES256") {
		t.Fatalf("app add: %s", out)
	}
	if out := mustRun(t, "", "app", "update", "batch", "--signing-alg", "RS256", d); strings.Contains(out, "tokens signed") {
		t.Fatalf("app update --signing-alg RS256: %s", out)
	}
	if out := mustRun(t, "", "app", "update", "batch", "--signing-alg", "es256", d); !strings.Contains(out, "tokens signed: ES256") {
		t.Fatalf("app update --signing-alg es256: %s", out)
	}
	if _, err := run(t, "", "app", "update", "batch", "--signing-alg", "HS256", d); err == nil || !strings.Contains(err.Error(), "RS256 or ES256") {
		t.Fatalf("--signing-alg HS256: %v", err)
	}
	if _, err := run(t, "", "app", "add", "saml", "wiki", "--entity-id", "https://wiki.example.com/sp", "--acs", "https://wiki.example.com/acs",
		"--signing-alg", "ES256", d); err == nil || !strings.Contains(err.Error(), "OpenID Connect option") {
		t.Fatalf("saml --signing-alg: %v", err)
	}
}
