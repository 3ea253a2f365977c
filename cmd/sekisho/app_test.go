package main

import (
	"path/filepath"
	"regexp"
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

// app add oidc prints the client_id and, for a confidential client, the secret once; app list
// shows the client, app show and the audit log never its secret or hash; app remove works.
func TestCLIAppOIDC(t *testing.T) {
	d := "--data=" + filepath.Join(t.TempDir(), "d")
	t.Setenv("SEKISHO_ADMIN", "ops@example.com")
	mustRun(t, "", "init", d)
	out := mustRun(t, "", "app", "add", "oidc", "grafana", "--redirect-uri", "https://grafana.example.com/login/generic_oauth", d)
	id := regexp.MustCompile(`(?m)^client_id: +([0-9a-f]{32})$`).FindStringSubmatch(out)
	secret := regexp.MustCompile(`(?m)^client_secret: +([A-Za-z0-9_-]{43})$`).FindStringSubmatch(out)
	if !strings.HasPrefix(out, "registered OpenID Connect client grafana (confidential)") || id == nil || secret == nil ||
		!strings.Contains(out, "/.well-known/openid-configuration") {
		t.Fatalf("app add oidc:\n%s", out)
	}
	pub := mustRun(t, "", "app", "add", "oidc", "cli", "--public", "--redirect-uri", "http://127.0.0.1:8400/callback", "--scope", "openid,email", d)
	if !strings.Contains(pub, "(public)") || strings.Contains(pub, "client_secret") {
		t.Fatalf("public client:\n%s", pub)
	}
	refr := mustRun(t, "", "app", "add", "oidc", "portal", "--redirect-uri", "https://portal.example.com/cb",
		"--grant", "authorization_code,refresh_token", "--refresh-token-lifetime", "14d", d)
	if !strings.Contains(refr, "grants:        authorization_code, refresh_token") || !strings.Contains(refr, "valid 336h0m0s from each use") {
		t.Fatalf("client with refresh tokens:\n%s", refr)
	}
	if show := mustRun(t, "", "app", "show", "portal", d); !strings.Contains(show, `"refreshTokenLifetime": "336h0m0s"`) ||
		!strings.Contains(show, `"offline_access"`) {
		t.Errorf("app show portal:\n%s", show)
	}
	svc := mustRun(t, "", "app", "add", "oidc", "nightly-export", "--grant", "client_credentials", d)
	if !regexp.MustCompile(`(?m)^client_secret: +[A-Za-z0-9_-]{43}$`).MatchString(svc) || !strings.Contains(svc, "grants:        client_credentials") ||
		!strings.Contains(svc, "/oidc/token (the policy judges this client by its application name nightly-export)") {
		t.Fatalf("client_credentials client:\n%s", svc)
	}
	if list := mustRun(t, "", "app", "list", d); !strings.Contains(list, "grafana") || !strings.Contains(list, id[1]) ||
		!regexp.MustCompile(`cli +oidc`).MatchString(list) {
		t.Fatalf("app list:\n%s", list)
	}
	show := mustRun(t, "", "app", "show", "grafana", d)
	audit := mustRun(t, "", "audit", "list", "--action", "app.add", "--json", d)
	for what, text := range map[string]string{"app show": show, "audit list": audit} {
		if strings.Contains(text, secret[1]) || strings.Contains(text, "secretHash") {
			t.Errorf("%s reveals the secret or its hash:\n%s", what, text)
		}
	}
	if !strings.Contains(show, `"hasSecret": true`) || !strings.Contains(show, `"redirectUris"`) {
		t.Errorf("app show:\n%s", show)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"app", "add", "oidc", "x", "--redirect-uri", "http://x.example.com/cb"}, "loopback"},
		{[]string{"app", "add", "oidc", "x", "--acs", "https://x.example.com/acs"}, "--acs is a SAML option"},
		{[]string{"app", "add", "saml", "x", "--public"}, "--public is an OpenID Connect option"},
		{[]string{"app", "add", "ldap", "x"}, "supported: saml, oidc"},
		{[]string{"app", "add", "oidc", "x", "--public", "--grant", "client_credentials"}, "for confidential clients"},
		{[]string{"app", "add", "oidc", "x", "--grant", "client_credentials", "--redirect-uri", "https://x.example.com/cb"}, "redirect URIs are for the authorization code grant"},
		{[]string{"app", "add", "oidc", "x", "--redirect-uri", "https://x.example.com/cb", "--refresh-token-lifetime", "1h"}, "needs the refresh_token grant"},
		{[]string{"app", "add", "oidc", "x", "--redirect-uri", "https://x.example.com/cb", "--grant", "password"}, "not supported"},
		{[]string{"app", "add", "oidc", "x", "--refresh-token-lifetime", "soon"}, "invalid duration"},
		{[]string{"app", "add", "saml", "x", "--grant", "refresh_token"}, "--grant is an OpenID Connect option"},
	} {
		if _, err := run(t, "", append(c.args, d)...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
	}
	mustRun(t, "", "app", "remove", "grafana", d)
	if list := mustRun(t, "", "app", "list", d); strings.Contains(list, "grafana") {
		t.Fatalf("removed client still listed:\n%s", list)
	}
}
