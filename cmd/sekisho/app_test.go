package main

import (
	"context"
	"io"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/protocol/oidc"
	"github.com/sekisho/sekisho/internal/setup"
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

// app update changes an OpenID Connect client's options given (redirect URIs replaced, added or
// removed, grants, scopes, lifetimes, subjects, logout URIs), refuses what registration refuses
// and SAML options; app rotate-secret prints a new secret once, and with --keep-old the old one
// keeps working until the time it prints.
func TestCLIAppOIDCUpdateAndRotate(t *testing.T) {
	data := filepath.Join(t.TempDir(), "d")
	d := "--data=" + data
	t.Setenv("SEKISHO_ADMIN", "ops@example.com")
	mustRun(t, "", "init", d)
	out := mustRun(t, "", "app", "add", "oidc", "grafana", "--redirect-uri", "https://grafana.example.com/cb", d)
	first := regexp.MustCompile(`(?m)^client_secret: +([A-Za-z0-9_-]{43})$`).FindStringSubmatch(out)
	mustRun(t, "", "app", "add", "oidc", "cli", "--public", "--redirect-uri", "http://127.0.0.1:8400/cb", d)
	mustRun(t, "", "app", "add", "saml", "wiki", "--entity-id", "https://wiki.example.com/sp", "--acs", "https://wiki.example.com/acs", d)

	steps := []struct {
		args []string
		want []string // in the output, or in the error when err is set
		err  bool
	}{
		{[]string{"--add-redirect-uri", "https://grafana.example.com/cb2"}, []string{"redirect URIs: https://grafana.example.com/cb, https://grafana.example.com/cb2"}, false},
		{[]string{"--remove-redirect-uri", "https://grafana.example.com/cb"}, []string{"redirect URIs: https://grafana.example.com/cb2\n"}, false},
		{[]string{"--redirect-uri", "https://grafana.example.com/login", "--redirect-uri", "https://grafana.example.com/login2"},
			[]string{"redirect URIs: https://grafana.example.com/login, https://grafana.example.com/login2"}, false},
		{[]string{"--grant", "authorization_code,refresh_token", "--refresh-token-lifetime", "14d", "--access-token-lifetime", "15m",
			"--id-token-lifetime", "2m"}, []string{"grants:        authorization_code, refresh_token", "offline_access",
			"lifetimes:     access token 15m0s, ID token 2m0s, refresh token 336h0m0s"}, false},
		{[]string{"--grant", "authorization_code"}, []string{"lifetimes:     access token 15m0s, ID token 2m0s\n"}, false},
		{[]string{"--subject-type", "pairwise", "--post-logout-redirect-uri", "https://grafana.example.com/bye",
			"--backchannel-logout-uri", "https://grafana.example.com/bc"}, []string{"subjects:      pairwise (sector grafana.example.com)",
			"every user's sub", "after logout:  https://grafana.example.com/bye", "back-channel logout: https://grafana.example.com/bc"}, false},
		{[]string{"--scope", "openid,email"}, []string{"scopes:        openid, email\n"}, false},
		{[]string{"--redirect-uri", "http://grafana.example.com/cb"}, []string{"loopback"}, true},
		{[]string{"--add-redirect-uri", "https://other.example.com/cb"}, []string{"one sector"}, true},
		{[]string{"--remove-redirect-uri", "https://nowhere.example.com/cb"}, []string{"no such redirect URI"}, true},
		{[]string{"--add-redirect-uri", "https://grafana.example.com/login"}, []string{"already"}, true},
		{[]string{"--grant", "password"}, []string{"not supported"}, true},
		{[]string{"--access-token-lifetime", "48h"}, []string{"accessTokenLifetime"}, true},
		{[]string{"--refresh-token-lifetime", "1h"}, []string{"needs the refresh_token grant"}, true},
		{[]string{"--subject-type", "random"}, []string{"public or pairwise"}, true},
		{[]string{"--attribute", "mail=email"}, []string{"--attribute is a SAML option"}, true},
	}
	for _, s := range steps {
		out, err := run(t, "", append(append([]string{"app", "update", "grafana"}, s.args...), d)...)
		text := out
		if s.err {
			if err == nil {
				t.Fatalf("app update %v: no error:\n%s", s.args, out)
			}
			text = err.Error()
		} else if err != nil {
			t.Fatalf("app update %v: %v", s.args, err)
		}
		for _, w := range s.want {
			if !strings.Contains(text, w) {
				t.Errorf("app update %v: %q lacks %q", s.args, text, w)
			}
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"app", "update", "wiki", "--redirect-uri", "https://wiki.example.com/cb"}, "--redirect-uri is an OpenID Connect option"},
		{[]string{"app", "update", "cli", "--backchannel-logout-uri", "https://cli.example.com/bc"}, "confidential clients"},
		{[]string{"app", "update", "nobody", "--grant", "authorization_code"}, "not found"},
		{[]string{"app", "rotate-secret", "cli"}, "public client"},
		{[]string{"app", "rotate-secret", "wiki"}, "not an OpenID Connect client"},
		{[]string{"app", "rotate-secret", "grafana", "--keep-old", "60d"}, "keep the old secret"},
	} {
		if _, err := run(t, "", append(c.args, d)...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
	}
	show := mustRun(t, "", "app", "show", "grafana", d)
	for _, w := range []string{`"https://grafana.example.com/login2"`, `"subjectType": "pairwise"`, `"accessTokenLifetime": "15m0s"`, `"hasSecret": true`} {
		if !strings.Contains(show, w) {
			t.Errorf("app show lacks %s:\n%s", w, show)
		}
	}

	rot := mustRun(t, "", "app", "rotate-secret", "grafana", "--keep-old", "1d", d)
	second := regexp.MustCompile(`(?m)^client_secret: +([A-Za-z0-9_-]{43})$`).FindStringSubmatch(rot)
	until := regexp.MustCompile(`(?m)^the previous secret works until (\S+)$`).FindStringSubmatch(rot)
	if second == nil || until == nil || second[1] == first[1] {
		t.Fatalf("rotate-secret --keep-old:\n%s", rot)
	}
	expires, err := time.Parse(time.RFC3339, until[1])
	if err != nil || time.Until(expires) < 23*time.Hour || time.Until(expires) > 25*time.Hour {
		t.Fatalf("the previous secret works until %s (%v)", until[1], err)
	}
	if show := mustRun(t, "", "app", "show", "grafana", d); !strings.Contains(show, `"hasPreviousSecret": true`) || !strings.Contains(show, `"previousSecretExpires"`) {
		t.Errorf("app show after a rotation:\n%s", show)
	}
	matches := func(secrets ...string) []bool {
		in, err := setup.Open(context.Background(), data, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		defer in.Close()
		a, err := in.Store.GetApplication(context.Background(), "grafana")
		if err != nil {
			t.Fatal(err)
		}
		c, err := oidc.ParseClientConfig(a.Config)
		if err != nil {
			t.Fatal(err)
		}
		var out []bool
		for _, s := range secrets {
			out = append(out, c.SecretMatches(in.Admin.ClientSecrets, s, time.Now()))
		}
		return out
	}
	if got := matches(first[1], second[1]); !slices.Equal(got, []bool{true, true}) {
		t.Fatalf("during --keep-old, old and new secret match: %v", got)
	}
	rot = mustRun(t, "", "app", "rotate-secret", "grafana", d)
	third := regexp.MustCompile(`(?m)^client_secret: +([A-Za-z0-9_-]{43})$`).FindStringSubmatch(rot)
	if third == nil || !strings.Contains(rot, "the previous secret no longer works") {
		t.Fatalf("rotate-secret:\n%s", rot)
	}
	if got := matches(first[1], second[1], third[1]); !slices.Equal(got, []bool{false, false, true}) {
		t.Fatalf("after a rotation without --keep-old, secrets match: %v", got)
	}
	audit := mustRun(t, "", "audit", "list", "--json", d)
	for _, s := range []string{first[1], second[1], third[1], "secretHash", "SecretHash"} {
		if strings.Contains(audit, s) {
			t.Errorf("the audit log holds %.8s…", s)
		}
	}
	if n := strings.Count(mustRun(t, "", "audit", "list", "--action", "app.rotate-secret", d), " app.rotate-secret "); n != 2 {
		t.Errorf("%d app.rotate-secret entries", n)
	}
	if n := strings.Count(mustRun(t, "", "audit", "list", "--action", "app.update", d), " app.update "); n != 7 {
		t.Errorf("%d app.update entries, want one per accepted change", n)
	}
}
