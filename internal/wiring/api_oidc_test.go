package wiring_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/protocol/oidc"
)

// apiOIDCClients drives the OpenID Connect operations of the API (TestAPI calls it with an
// admin's token, every request and answer checked against the document): a registration shows
// the secret once, the list shows both protocols and never a hash, a change is validated as on
// registration, a rotation with keepOld leaves the old secret working, removal works for both.
func (e *env) apiOIDCClients(t *testing.T, c *apiClient) {
	t.Helper()
	ctx := context.Background()
	st := e.svc.Instance.Store
	var p problem
	var added struct {
		Application  struct{ Name, Protocol, EntityID string }
		ClientID     string
		ClientSecret string
	}
	c.must(201, "POST", "/applications/oidc", map[string]any{"name": "grafana", "redirectUris": []string{"https://grafana.example.com/cb"},
		"grants": []string{"authorization_code", "refresh_token"}, "refreshTokenLifetime": "14d"}, &added)
	if added.Application.Protocol != "oidc" || added.ClientID == "" || added.Application.EntityID != added.ClientID || len(added.ClientSecret) != 43 {
		t.Fatalf("added client: %+v", added)
	}
	if c.do("POST", "/applications/oidc", map[string]any{"name": "bad", "redirectUris": []string{"http://bad.example.com/cb"}}, &p); p.Status != 422 ||
		!strings.Contains(p.Detail, "loopback") {
		t.Fatalf("a plain-http redirect URI: %+v", p)
	}
	if c.do("POST", "/applications/oidc", map[string]any{"name": "bad", "redirectUris": []string{"https://bad.example.com/cb"}, "accessTokenLifetime": "soon"}, &p); p.Status != 422 {
		t.Fatalf("a malformed lifetime: %+v", p)
	}
	if _, err := st.GetApplication(ctx, "bad"); err == nil {
		t.Fatal("a refused client was registered")
	}
	var pub struct{ ClientSecret string }
	c.must(201, "POST", "/applications/oidc", map[string]any{"name": "cli", "public": true, "grants": []string{"device_code"}}, &pub)
	if pub.ClientSecret != "" {
		t.Fatalf("a public client got a secret: %+v", pub)
	}
	c.must(201, "POST", "/applications", map[string]any{"name": "wiki2", "metadata": wikiMetadata}, nil)
	var list []struct {
		Name, Protocol string
		Settings       json.RawMessage
	}
	c.must(200, "GET", "/applications", nil, &list)
	protocols := map[string]string{}
	for _, a := range list {
		protocols[a.Name] = a.Protocol
		if strings.Contains(string(a.Settings), "ecretHash") || strings.Contains(string(a.Settings), added.ClientSecret) {
			t.Errorf("the list shows a secret or its hash: %s", a.Settings)
		}
	}
	if protocols["grafana"] != "oidc" || protocols["cli"] != "oidc" || protocols["wiki2"] != "saml" {
		t.Fatalf("list: %v", protocols)
	}

	var upd struct {
		Settings struct {
			RedirectURIs        []string `json:"redirectUris"`
			AccessTokenLifetime string   `json:"accessTokenLifetime"`
			Grants, Scopes      []string
		}
	}
	c.must(200, "PATCH", "/applications/oidc/grafana", map[string]any{"redirectUris": []string{"https://grafana.example.com/cb", "https://grafana.example.com/cb2"},
		"accessTokenLifetime": "15m", "grants": []string{"authorization_code"}}, &upd)
	if !slices.Equal(upd.Settings.RedirectURIs, []string{"https://grafana.example.com/cb", "https://grafana.example.com/cb2"}) ||
		upd.Settings.AccessTokenLifetime != "15m0s" || slices.Contains(upd.Settings.Scopes, "offline_access") {
		t.Fatalf("updated: %+v", upd)
	}
	for _, bad := range []map[string]any{{"redirectUris": []string{"https://*.example.com/cb"}}, {"grants": []string{"password"}},
		{"idTokenLifetime": "48h"}, {"subjectType": "random"}} {
		if c.do("PATCH", "/applications/oidc/grafana", bad, &p); p.Status != 422 {
			t.Fatalf("update %v: %+v", bad, p)
		}
	}
	if c.do("PATCH", "/applications/oidc/wiki2", map[string]any{}, &p); p.Status != 422 || !strings.Contains(p.Detail, "not an OpenID Connect client") {
		t.Fatalf("updating a SAML application as a client: %+v", p)
	}
	if c.do("PATCH", "/applications/oidc/nobody", map[string]any{}, &p); p.Status != 404 {
		t.Fatalf("updating no client: %+v", p)
	}

	var rot struct {
		ClientID, ClientSecret string
		PreviousSecretExpires  *time.Time
	}
	c.must(200, "POST", "/applications/oidc/grafana/rotate-secret", map[string]any{"keepOld": "24h"}, &rot)
	if rot.ClientID != added.ClientID || len(rot.ClientSecret) != 43 || rot.ClientSecret == added.ClientSecret || rot.PreviousSecretExpires == nil ||
		time.Until(*rot.PreviousSecretExpires) < 23*time.Hour {
		t.Fatalf("rotated: %+v", rot)
	}
	cfg, _, err := oidc.LookupClient(ctx, st, added.ClientID)
	if err != nil || !cfg.SecretMatches(e.svc.Instance.Admin.ClientSecrets, added.ClientSecret, time.Now()) ||
		!cfg.SecretMatches(e.svc.Instance.Admin.ClientSecrets, rot.ClientSecret, time.Now()) {
		t.Fatalf("after a rotation with keepOld both secrets work: %+v %v", cfg, err)
	}
	if c.do("POST", "/applications/oidc/cli/rotate-secret", map[string]any{}, &p); p.Status != 422 {
		t.Fatalf("rotating a public client: %+v", p)
	}
	if c.do("POST", "/applications/oidc/grafana/rotate-secret", map[string]any{"keepOld": "90d"}, &p); p.Status != 422 {
		t.Fatalf("keeping the old secret 90 days: %+v", p)
	}
	rot.PreviousSecretExpires = nil
	c.must(200, "POST", "/applications/oidc/grafana/rotate-secret", map[string]any{}, &rot)
	if rot.PreviousSecretExpires != nil {
		t.Fatalf("a rotation without keepOld: %+v", rot)
	}
	for _, name := range []string{"grafana", "cli", "wiki2"} {
		c.must(204, "DELETE", "/applications/"+name, nil, nil)
	}
	if _, err := st.GetApplicationByEntityID(ctx, oidc.Protocol, added.ClientID); err == nil {
		t.Fatal("the removed client is still registered")
	}
}
