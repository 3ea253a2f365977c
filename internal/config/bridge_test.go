package config

import (
	"slices"
	"strings"
	"testing"
)

// TestBridgeUpstreamTokens: microsoft365 fills in the tenant's endpoints, the scopes of the
// doors configured (or .default for app-only) and Exchange Online's addresses; oauth takes
// its endpoints as given; a bad upstream token section is refused with the key, the line and
// what to do — also before any door is open, so that mailboxes can be connected first.
func TestBridgeUpstreamTokens(t *testing.T) {
	m365 := "bridge:\n  imap:\n    tls_listen: \":993\"\n  smtp:\n    starttls_listen: \":587\"\n  upstream:\n    tokens: microsoft365\n" +
		"    oauth:\n      tenant: contoso.onmicrosoft.com\n      client_id: 11111111-2222-3333-4444-555555555555\n"
	cfg, err := Parse("sekisho.yaml", []byte(m365), t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	b := cfg.Bridge.WithDefaults()
	o := b.Upstream.OAuth
	if o.Profile != "microsoft365" || o.TokenURL != "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token" ||
		o.DeviceAuthorizationURL != "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/devicecode" {
		t.Fatalf("microsoft365 endpoints: %+v", o)
	}
	if want := []string{M365ScopeIMAP, M365ScopeSMTP, "offline_access", "openid", "profile"}; !slices.Equal(o.Scopes, want) {
		t.Fatalf("delegated scopes for the IMAP and SMTP doors: %q, want %q", o.Scopes, want)
	}
	if u := b.Upstream; u.IMAP != "outlook.office365.com:993" || u.POP != "outlook.office365.com:995" || u.SMTP != "smtp.office365.com:587" ||
		UpstreamTLS(u.SMTPTLS, u.SMTP) != "starttls" || UpstreamTLS(u.IMAPTLS, u.IMAP) != "implicit" {
		t.Fatalf("Exchange Online addresses: %+v", u)
	}
	if cfg.Bridge.Upstream.IMAP != "" {
		t.Fatal("WithDefaults changed the loaded configuration")
	}
	// Given addresses and scopes are kept.
	cfg, err = Parse("sekisho.yaml", []byte(m365+"      scopes: [offline_access, https://outlook.office.com/IMAP.AccessAsUser.All]\n"), t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if o := cfg.Bridge.WithDefaults().Upstream.OAuth; len(o.Scopes) != 2 {
		t.Fatalf("given scopes: %q", o.Scopes)
	}

	appOnly := "bridge:\n  pop:\n    tls_listen: \":995\"\n  upstream:\n    pop: pop.example.net:995\n    tokens: microsoft365\n    oauth:\n" +
		"      tenant: 0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0\n      client_id: app\n      client_secret_file: m365.secret\n      app_only: true\n"
	cfg, err = Parse("sekisho.yaml", []byte(appOnly), t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	b = cfg.Bridge.WithDefaults()
	if o := b.Upstream.OAuth; !slices.Equal(o.Scopes, []string{M365ScopeAppOnly}) || o.DeviceAuthorizationURL != "" ||
		!strings.Contains(o.TokenURL, "/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0/oauth2/v2.0/token") || b.Upstream.POP != "pop.example.net:995" {
		t.Fatalf("app-only: %+v", b.Upstream)
	}

	generic := "bridge:\n  imap:\n    tls_listen: \":993\"\n  upstream:\n    imap: mail.example.com:993\n    tokens: oauth\n    oauth:\n" +
		"      token_url: https://sso.example.com/token\n      device_authorization_url: https://sso.example.com/device\n" +
		"      client_id: bridge\n      scopes: [openid, email, offline_access]\n"
	cfg, err = Parse("sekisho.yaml", []byte(generic), t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if o := cfg.Bridge.WithDefaults().Upstream.OAuth; o.Profile != "oauth" || len(o.Scopes) != 3 || cfg.Bridge.WithDefaults().Upstream.POP != "" {
		t.Fatalf("generic: %+v", o)
	}
	// No door yet: the upstream tokens are checked all the same (the mailboxes are connected
	// before the doors open), and all three protocols' scopes are asked for.
	noDoor := "bridge:\n  upstream:\n    tokens: microsoft365\n    oauth:\n      tenant: contoso.com\n      client_id: app\n"
	cfg, err = Parse("sekisho.yaml", []byte(noDoor), t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if o := cfg.Bridge.WithDefaults().Upstream.OAuth; !slices.Contains(o.Scopes, M365ScopePOP) || !slices.Contains(o.Scopes, M365ScopeIMAP) {
		t.Fatalf("scopes without doors: %q", o.Scopes)
	}

	for _, tc := range []struct{ yaml, want string }{
		{strings.Replace(m365, "      tenant: contoso.onmicrosoft.com\n", "", 1), "bridge.upstream.oauth.tenant: name the Entra ID tenant"},
		{strings.Replace(m365, "contoso.onmicrosoft.com", "common", 1), "sekisho.yaml:9: bridge.upstream.oauth.tenant: \"common\" is not one tenant"},
		{strings.Replace(m365, "contoso.onmicrosoft.com", "contoso", 1), "bridge.upstream.oauth.tenant: \"contoso\" is neither a domain"},
		{strings.Replace(m365, "      client_id: 11111111-2222-3333-4444-555555555555\n", "", 1), "bridge.upstream.oauth.client_id: give the client (application) ID"},
		{m365 + "      token_url: http://login.example.com/token\n", "sekisho.yaml:11: bridge.upstream.oauth.token_url: must be an absolute https URL"},
		{strings.Replace(appOnly, "      client_secret_file: m365.secret\n", "", 1), "bridge.upstream.oauth.client_secret_file: app_only (the client credentials grant) needs the client's secret"},
		{appOnly + "      scopes: [https://outlook.office.com/IMAP.AccessAsUser.All]\n", "sekisho.yaml:12: bridge.upstream.oauth.scopes[0]: app-only tokens from Microsoft name the resource's .default scope"},
		{strings.Replace(generic, "      device_authorization_url: https://sso.example.com/device\n", "", 1), "bridge.upstream.oauth.device_authorization_url: give the device authorization endpoint (RFC 8628)"},
		{strings.Replace(generic, "      token_url: https://sso.example.com/token\n", "", 1), "bridge.upstream.oauth.token_url: give the token endpoint"},
		{strings.Replace(generic, "https://sso.example.com/device", "sso.example.com/device", 1), "sekisho.yaml:9: bridge.upstream.oauth.device_authorization_url: must be an absolute https URL"},
		{generic + "      tenant: contoso.com\n", "bridge.upstream.oauth.tenant: is for tokens: microsoft365"},
		{generic + "      profile: Contoso Mail\n", "bridge.upstream.oauth.profile: use lower-case letters"},
		{strings.Replace(generic, "[openid, email, offline_access]", "[\"openid email\"]", 1), "bridge.upstream.oauth.scopes[0]: \"openid email\" is not a scope"},
		{strings.Replace(generic, "    tokens: oauth\n", "    tokens: oauth\n    client_id: mailstore\n", 1), "sekisho.yaml:7: bridge.upstream.client_id: is for tokens: sekisho"},
		{strings.Replace(generic, "tokens: oauth", "tokens: google", 1), "sekisho.yaml:6: bridge.upstream.tokens: use sekisho, oauth or microsoft365, got \"google\""},
		{strings.Replace(generic, "tokens: oauth", "tokens: sekisho\n    client_id: mailstore", 1), "bridge.upstream.oauth: is for tokens: oauth or microsoft365"},
		{strings.Replace(noDoor, "      client_id: app\n", "", 1), "bridge.upstream.oauth.client_id"},
		{"bridge:\n  imap:\n    tls_listen: \":993\"\n  upstream:\n    tokens: oauth\n", "bridge.upstream.imap: the imap listener needs the upstream imap server"},
	} {
		_, err := Parse("sekisho.yaml", []byte(tc.yaml), t.TempDir(), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s\n got %v\nwant %q", tc.yaml, err, tc.want)
		}
	}
	// The environment reaches the block too.
	cfg, err = Parse("sekisho.yaml", []byte(noDoor), t.TempDir(), []string{"SEKISHO_BRIDGE_UPSTREAM_OAUTH_APP_ONLY=true",
		"SEKISHO_BRIDGE_UPSTREAM_OAUTH_CLIENT_SECRET_FILE=m365.secret"})
	if err != nil || !cfg.Bridge.Upstream.OAuth.AppOnly {
		t.Fatalf("environment: %v", err)
	}
}

// TestBridgeSelfService: users may issue their own app passwords only when the administrator
// says so (off by default, with or without doors), from the file or the environment.
func TestBridgeSelfService(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		env        []string
		want       bool
		wantErr    string
	}{
		{name: "off by default", yaml: "bridge:\n  imap:\n    tls_listen: \":993\"\n  upstream:\n    imap: mail.example.com:993\n    client_id: mailstore\n"},
		{name: "on, doors open", yaml: "bridge:\n  self_service: true\n  imap:\n    tls_listen: \":993\"\n  upstream:\n    imap: mail.example.com:993\n    client_id: mailstore\n", want: true},
		{name: "on before any door is open", yaml: "bridge:\n  self_service: true\n", want: true},
		{name: "from the environment", env: []string{"SEKISHO_BRIDGE_SELF_SERVICE=true"}, want: true},
		{name: "not a boolean", yaml: "bridge:\n  self_service: sometimes\n", wantErr: "of type bool"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse("sekisho.yaml", []byte(tc.yaml), t.TempDir(), tc.env)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Bridge.SelfService != tc.want {
				t.Fatalf("self_service = %v, want %v", cfg.Bridge.SelfService, tc.want)
			}
		})
	}
}

func TestBridgeProxyProtocol(t *testing.T) {
	const doors = "bridge:\n  proxy_protocol: true\n  imap:\n    tls_listen: \":993\"\n  upstream:\n    imap: mail.example.com:993\n    client_id: mailstore\n"
	for _, tc := range []struct {
		name, yaml string
		wantErr    string
	}{
		{name: "with the balancers listed", yaml: doors + "network:\n  trusted_proxies: [10.0.0.0/24]\n"},
		{name: "without any balancer", yaml: doors, wantErr: "bridge.proxy_protocol"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse("sekisho.yaml", []byte(tc.yaml), t.TempDir(), nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !cfg.Bridge.ProxyProtocol {
				t.Fatalf("proxy_protocol = %v, %v", cfg.Bridge.ProxyProtocol, err)
			}
		})
	}
}
