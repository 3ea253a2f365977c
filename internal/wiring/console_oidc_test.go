package wiring_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/protocol/oidc"
)

var clientSecretRe = regexp.MustCompile(`id="client-secret">([A-Za-z0-9_-]{43})<`)

// OpenID Connect clients in the console: registered from the form (the secret on that answer
// only, never on the page again), refused input kept with the sentence, settings changed and
// validated as on registration, the secret rotated with the old one kept for a day, removed.
func TestConsoleOIDCClients(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	st := e.svc.Instance.Store
	c := e.adminBrowser(t)
	post := func(path string, form url.Values) (int, string) { t.Helper(); return e.postForm(t, c, path, form) }
	web := url.Values{"name": {"grafana"}, "type": {"confidential"}, "redirect_uris": {"https://grafana.example.com/cb\r\n"},
		"grant": {"authorization_code", "refresh_token"}, "scope": {"email", "groups"}, "refresh_ttl": {"14d"}, "access_ttl": {""}}

	for _, c := range []struct {
		name string
		edit func(url.Values)
		want string
	}{
		{"plain http", func(f url.Values) { f.Set("redirect_uris", "http://grafana.example.com/cb") }, "loopback"},
		{"no redirect URI", func(f url.Values) { f.Set("redirect_uris", " \n ") }, "at least one redirect URI"},
		{"a malformed lifetime", func(f url.Values) { f.Set("access_ttl", "soon") }, "Access token lifetime"},
		{"client_credentials for a public client", func(f url.Values) { f.Set("type", "public"); f["grant"] = []string{"client_credentials"} }, "confidential"},
	} {
		f := url.Values{}
		for k, v := range web {
			f[k] = slices.Clone(v)
		}
		c.edit(f)
		code, body := post("/admin/apps/oidc", f)
		if code != http.StatusBadRequest || !strings.Contains(html.UnescapeString(body), c.want) || !strings.Contains(body, `value="grafana"`) {
			t.Fatalf("%s: %d, want the sentence %q and the form kept\n%.600s", c.name, code, c.want, body)
		}
	}
	if _, err := st.GetApplication(ctx, "grafana"); err == nil {
		t.Fatal("a refused client was registered")
	}

	code, body := post("/admin/apps/oidc", web)
	m := clientSecretRe.FindStringSubmatch(body)
	if code != http.StatusOK || m == nil || !strings.Contains(body, `id="client-id"`) || !strings.Contains(body, `id="secret-once"`) ||
		!strings.Contains(body, "/.well-known/openid-configuration") {
		t.Fatalf("register: %d\n%.1500s", code, body)
	}
	first := m[1]
	a, err := st.GetApplication(ctx, "grafana")
	if err != nil || a.Protocol != oidc.Protocol {
		t.Fatalf("stored %+v %v", a, err)
	}
	cfg, _ := oidc.ParseClientConfig(a.Config)
	if !slices.Equal(cfg.Scopes, []string{"openid", "email", "groups", "offline_access"}) || cfg.RefreshTTL() != 14*24*time.Hour ||
		!cfg.SecretMatches(e.svc.Instance.Admin.ClientSecrets, first, time.Now()) {
		t.Fatalf("registered %+v", cfg)
	}
	if _, body := page(t, c, e.ts.URL+"/admin/apps"); strings.Contains(body, first) || !strings.Contains(body, cfg.ClientID) ||
		!strings.Contains(body, "https://grafana.example.com/cb") {
		t.Fatalf("the list shows the secret, or not the client:\n%.1500s", body)
	}
	for _, lang := range []string{"en", "ja"} {
		if _, body := page(t, c, e.ts.URL+"/admin/apps?client=grafana&lang="+lang); strings.Contains(body, "⟦") || !strings.Contains(body, `id="client-settings-form"`) ||
			!strings.Contains(body, `value="14d"`) || strings.Contains(body, first) {
			t.Fatalf("settings page (%s):\n%.1500s", lang, body)
		}
	}
	if code, _ := page(t, c, e.ts.URL+"/admin/apps?client=nobody"); code != http.StatusNotFound {
		t.Fatalf("settings of no client: %d", code)
	}

	// The settings: a second redirect URI, the refresh grant dropped (its scope and lifetime go
	// with it); a refused change keeps what was typed and saves nothing.
	settings := url.Values{"client_id": {cfg.ClientID}, "redirect_uris": {"https://grafana.example.com/cb\nhttps://grafana.example.com/cb2"},
		"grant": {"authorization_code"}, "scope": {"email"}, "access_ttl": {"15m"}, "id_ttl": {"5m"}, "refresh_ttl": {"14d"}, "subject_type": {"public"}}
	bad := url.Values{}
	for k, v := range settings {
		bad[k] = v
	}
	bad.Set("redirect_uris", "https://grafana.example.com/cb\nhttps://*.example.com/cb")
	if code, body := post("/admin/apps/oidc/grafana/settings", bad); code != http.StatusBadRequest || !strings.Contains(body, `id="client-error"`) ||
		!strings.Contains(body, "https://*.example.com/cb") {
		t.Fatalf("a wildcard redirect URI: %d\n%.1500s", code, body)
	}
	if code, _ := post("/admin/apps/oidc/grafana/settings", settings); code != http.StatusSeeOther {
		t.Fatalf("settings: %d", code)
	}
	cfg, _, _ = oidc.LookupClient(ctx, st, cfg.ClientID)
	if !cfg.HasRedirectURI("https://grafana.example.com/cb2") || cfg.Allows(oidc.GrantRefreshToken) || cfg.AccessTTL() != 15*time.Minute ||
		!slices.Equal(cfg.Scopes, []string{"openid", "email"}) {
		t.Fatalf("after the settings: %+v", cfg)
	}
	if code, _ := post("/admin/apps/oidc/nobody/settings", settings); code != http.StatusNotFound {
		t.Fatalf("settings of no client: %d", code)
	}

	// Rotation, keeping the old secret a day: both work; the new one is on this answer only.
	code, body = post("/admin/apps/oidc/grafana/rotate", url.Values{"keep_old": {"24h"}})
	m = clientSecretRe.FindStringSubmatch(body)
	if code != http.StatusOK || m == nil || m[1] == first || !strings.Contains(body, `id="previous-secret"`) {
		t.Fatalf("rotate: %d\n%.1500s", code, body)
	}
	cfg, _, _ = oidc.LookupClient(ctx, st, cfg.ClientID)
	h := e.svc.Instance.Admin.ClientSecrets
	if !cfg.SecretMatches(h, first, time.Now()) || !cfg.SecretMatches(h, m[1], time.Now()) || cfg.SecretMatches(h, first, time.Now().Add(25*time.Hour)) {
		t.Fatalf("after the rotation: %+v", cfg)
	}
	if code, _ := post("/admin/apps/oidc/grafana/rotate", url.Values{"keep_old": {"90d"}}); code != http.StatusBadRequest {
		t.Fatalf("keeping the old secret 90 days: %d", code)
	}
	for _, action := range []string{"app.add", "app.update", "app.rotate-secret"} {
		evs := auditEntries(t, e, action)
		if len(evs) != 1 || evs[0].Via != "console" || strings.Contains(string(evs[0].Before)+string(evs[0].After), first) ||
			strings.Contains(string(evs[0].Before)+string(evs[0].After), m[1]) || strings.Contains(string(evs[0].After), "ecretHash") {
			t.Fatalf("%s entries: %+v", action, evs)
		}
	}
	if code, _ := post("/admin/apps/grafana/remove", url.Values{}); code != http.StatusSeeOther {
		t.Fatalf("remove: %d", code)
	}
	if _, err := st.GetApplication(ctx, "grafana"); err == nil {
		t.Fatal("the client is still registered")
	}
}
