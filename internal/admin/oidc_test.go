package admin_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/admin"
	"github.com/sekisho/sekisho/internal/config"
	"github.com/sekisho/sekisho/internal/protocol/oidc"
	"github.com/sekisho/sekisho/internal/store"
)

// OpenID Connect clients are application rows: each registration or removal is one
// transaction with one entry, which never holds the secret nor its hash; the secret is
// handed out once and only its keyed hash is stored.
func TestOIDCClients(t *testing.T) {
	s, st := newService(t)
	ctx := context.Background()
	var err error
	if s.ClientSecrets, err = oidc.NewSecretHasher(bytes.Repeat([]byte{9}, 32)); err != nil {
		t.Fatal(err)
	}
	var conf, pub, svc, refr admin.AddedOIDCClient
	add := func(out *admin.AddedOIDCClient, name string, nc admin.NewOIDCClient) func() error {
		return func() error {
			c, err := s.AddOIDCClient(ctx, console, name, nc)
			if out != nil {
				*out = c
			}
			return err
		}
	}
	web := admin.NewOIDCClient{RedirectURIs: []string{"https://intranet.example.com/cb"}}
	runSteps(t, st, []step{
		{"confidential client", add(&conf, "intranet", web), "app.add", "intranet", "", "config"},
		{"public client", add(&pub, "cli", admin.NewOIDCClient{Public: true, RedirectURIs: []string{"http://127.0.0.1:8400/cb"},
			Scopes: []string{"openid", "email"}}), "app.add", "cli", "", "config"},
		{"the same name again", add(nil, "INTRANET", web), "", "", "", ""},
		{"Sekisho's own application name", add(nil, "sekisho-admin", web), "", "", "", ""},
		{"no redirect URI", add(nil, "x", admin.NewOIDCClient{}), "", "", "", ""},
		{"plain http redirect", add(nil, "x", admin.NewOIDCClient{RedirectURIs: []string{"http://intranet.example.com/cb"}}), "", "", "", ""},
		{"a grant not served", add(nil, "x", admin.NewOIDCClient{RedirectURIs: web.RedirectURIs, Grants: []string{"password"}}), "", "", "", ""},
		{"a service with client_credentials alone", add(&svc, "batch", admin.NewOIDCClient{Grants: []string{"client_credentials"}}),
			"app.add", "batch", "", "config"},
		{"refresh tokens with a lifetime", add(&refr, "portal", admin.NewOIDCClient{RedirectURIs: web.RedirectURIs,
			Grants: []string{"authorization_code", "refresh_token"}, RefreshTokenLifetime: 7 * 24 * time.Hour}), "app.add", "portal", "", "config"},
		{"client_credentials for a public client", add(nil, "x", admin.NewOIDCClient{Public: true, RedirectURIs: []string{"http://127.0.0.1:8400/cb"},
			Grants: []string{"authorization_code", "client_credentials"}}), "", "", "", ""},
		{"redirect URIs without the code grant", add(nil, "x", admin.NewOIDCClient{RedirectURIs: web.RedirectURIs, Grants: []string{"client_credentials"}}),
			"", "", "", ""},
		{"a refresh lifetime without the grant", add(nil, "x", admin.NewOIDCClient{RedirectURIs: web.RedirectURIs, RefreshTokenLifetime: time.Hour}),
			"", "", "", ""},
		{"remove", func() error { return s.RemoveApplication(ctx, console, "cli") }, "app.remove", "cli", "config", ""},
	}, func() []string {
		out := []string{conf.Secret, pub.Secret, svc.Secret, refr.Secret}
		if len(conf.Client.SecretHash) > 0 {
			out = append(out, base64.StdEncoding.EncodeToString(conf.Client.SecretHash), "secretHash")
		}
		return out
	})
	if len(conf.Secret) != 43 || pub.Secret != "" || conf.Client.ClientID == "" || conf.Client.ClientID == pub.Client.ClientID {
		t.Fatalf("secrets %q %q, client ids %q %q", conf.Secret, pub.Secret, conf.Client.ClientID, pub.Client.ClientID)
	}
	a, err := st.GetApplicationByEntityID(ctx, oidc.Protocol, conf.Client.ClientID)
	if err != nil || a.Name != "intranet" {
		t.Fatalf("stored %+v %v", a, err)
	}
	if strings.Contains(string(a.Config), conf.Secret) {
		t.Fatal("the secret itself is stored")
	}
	c, name, err := oidc.LookupClient(ctx, st, conf.Client.ClientID)
	if err != nil || name != "intranet" || c.Type != oidc.Confidential || !s.ClientSecrets.Check(c.ClientID, conf.Secret, c.SecretHash) {
		t.Fatalf("lookup %+v %s %v", c, name, err)
	}
	if c, _, err := oidc.LookupClient(ctx, st, svc.Client.ClientID); err != nil || len(c.RedirectURIs) != 0 || !c.Allows(oidc.GrantClientCredentials) ||
		svc.Secret == "" {
		t.Fatalf("service %+v %v", c, err)
	}
	c, _, err = oidc.LookupClient(ctx, st, refr.Client.ClientID)
	if err != nil || c.RefreshTTL() != 7*24*time.Hour || !slices.Contains(c.Scopes, oidc.ScopeOfflineAccess) {
		t.Fatalf("refreshing client %+v %v", c, err)
	}

	// Removing a client ends its grants: its refresh tokens go in the same transaction.
	if err := st.CreateUser(ctx, store.User{ID: "u1", UPN: "u1@example.com", Status: store.UserActive}); err != nil {
		t.Fatal(err)
	}
	for i, client := range []string{refr.Client.ClientID, conf.Client.ClientID} {
		if err := st.CreateRefreshToken(ctx, store.RefreshToken{Hash: []byte{byte(i + 1)}, FamilyID: fmt.Sprint("f", i), ClientID: client,
			UserID: "u1", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RemoveApplication(ctx, console, "portal"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetRefreshToken(ctx, []byte{1}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the removed client's refresh token: %v", err)
	}
	if _, err := st.GetRefreshToken(ctx, []byte{2}); err != nil {
		t.Fatalf("another client's refresh token went too: %v", err)
	}
}

// An OpenID Connect client's settings change by app.update, validated as on registration, and
// its secret by app.rotate-secret: the new secret is handed out once, the old one works until
// --keep-old runs out (or stops at once), and no entry holds a secret or a hash.
func TestOIDCClientUpdateAndRotate(t *testing.T) {
	s, st := newService(t)
	ctx := context.Background()
	var err error
	if s.ClientSecrets, err = oidc.NewSecretHasher(bytes.Repeat([]byte{9}, 32)); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)
	s.Now = func() time.Time { return now }
	web, err := s.AddOIDCClient(ctx, console, "portal", admin.NewOIDCClient{RedirectURIs: []string{"https://portal.example.com/cb"},
		Grants: []string{"authorization_code", "refresh_token"}})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := s.AddOIDCClient(ctx, console, "cli", admin.NewOIDCClient{Public: true, RedirectURIs: []string{"http://127.0.0.1:8400/cb"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddApplication(ctx, console, "wiki", wiki); err != nil {
		t.Fatal(err)
	}
	update := func(name string, edit func(*oidc.ClientConfig)) func() error {
		return func() error {
			_, err := s.UpdateOIDCClient(ctx, console, name, func(c *oidc.ClientConfig) error { edit(c); return nil })
			return err
		}
	}
	var rot, rot2 admin.RotatedSecret
	rotate := func(out *admin.RotatedSecret, name string, keep time.Duration) func() error {
		return func() error {
			r, err := s.RotateOIDCSecret(ctx, console, name, keep)
			if out != nil {
				*out = r
			}
			return err
		}
	}
	runSteps(t, st, []step{
		{"a second redirect URI, lifetimes, pairwise, logout URIs", update("portal", func(c *oidc.ClientConfig) {
			c.RedirectURIs = append(c.RedirectURIs, "https://portal.example.com/cb2")
			c.AccessTokenLifetime, c.IDTokenLifetime = config.Duration(20*time.Minute), config.Duration(2*time.Minute)
			c.RefreshTokenLifetime, c.SubjectType = config.Duration(7*24*time.Hour), oidc.SubjectPairwise
			c.PostLogoutRedirectURIs, c.BackchannelLogoutURI = []string{"https://portal.example.com/bye"}, "https://portal.example.com/bc"
		}), "app.update", "portal", "config", "config"},
		{"a redirect URI with a wildcard", update("portal", func(c *oidc.ClientConfig) { c.RedirectURIs = []string{"https://*.example.com/cb"} }), "", "", "", ""},
		{"pairwise over two hosts", update("portal", func(c *oidc.ClientConfig) {
			c.RedirectURIs = append(c.RedirectURIs, "https://other.example.com/cb")
		}), "", "", "", ""},
		{"a lifetime too long", update("portal", func(c *oidc.ClientConfig) { c.AccessTokenLifetime = config.Duration(48 * time.Hour) }), "", "", "", ""},
		{"an unknown grant", update("portal", func(c *oidc.ClientConfig) { c.Grants = []string{"password"} }), "", "", "", ""},
		{"the client_id", update("portal", func(c *oidc.ClientConfig) { c.ClientID = "mine" }), "", "", "", ""},
		{"confidential to public", update("portal", func(c *oidc.ClientConfig) { c.Type, c.SecretHash = oidc.Public, nil }), "", "", "", ""},
		{"the secret's hash", update("portal", func(c *oidc.ClientConfig) { c.SecretHash = bytes.Repeat([]byte{1}, 32) }), "", "", "", ""},
		{"a SAML application", update("wiki", func(*oidc.ClientConfig) {}), "", "", "", ""},
		{"no such application", update("nobody", func(*oidc.ClientConfig) {}), "", "", "", ""},
		{"the device grant by its alias on a public client", update("cli", func(c *oidc.ClientConfig) {
			c.Grants = append(c.Grants, "device_code")
		}), "app.update", "cli", "config", "config"},
		{"client_credentials for a public client", update("cli", func(c *oidc.ClientConfig) { c.Grants = []string{"client_credentials"} }), "", "", "", ""},
		{"rotate a public client", rotate(nil, "cli", 0), "", "", "", ""},
		{"rotate a SAML application", rotate(nil, "wiki", 0), "", "", "", ""},
		{"keep the old one too long", rotate(nil, "portal", 31*24*time.Hour), "", "", "", ""},
		{"keep the old one a negative time", rotate(nil, "portal", -time.Hour), "", "", "", ""},
		{"rotate, keeping the old one a day", rotate(&rot, "portal", 24*time.Hour), "app.rotate-secret", "portal", "config", "config"},
		{"rotate again, the old one stops at once", rotate(&rot2, "portal", 0), "app.rotate-secret", "portal", "config", "config"},
		{"the refresh grant goes, and what follows it", update("portal", func(c *oidc.ClientConfig) {
			c.Grants = []string{"authorization_code"}
		}), "app.update", "portal", "config", "config"},
	}, func() []string {
		out := []string{web.Secret, rot.Secret, rot2.Secret, base64.StdEncoding.EncodeToString(web.Client.SecretHash), "secretHash", "SecretHash"}
		for _, h := range [][]byte{rot.Client.SecretHash, rot2.Client.SecretHash} {
			if len(h) > 0 {
				out = append(out, base64.StdEncoding.EncodeToString(h))
			}
		}
		return out
	})

	h := s.ClientSecrets
	// The first rotation: the new secret works, the old one until a day later.
	if len(rot.Secret) != 43 || rot.Secret == web.Secret || !rot.PreviousExpires.Equal(now.Add(24*time.Hour)) ||
		!rot.Client.SecretMatches(h, rot.Secret, now) || !rot.Client.SecretMatches(h, web.Secret, now.Add(23*time.Hour)) ||
		rot.Client.SecretMatches(h, web.Secret, now.Add(24*time.Hour)) {
		t.Fatalf("first rotation %+v", rot)
	}
	// The second, without --keep-old: only the newest secret works, the grace period of the first
	// one's predecessor ends too.
	c, _, err := oidc.LookupClient(ctx, st, web.Client.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	for secret, want := range map[string]bool{rot2.Secret: true, rot.Secret: false, web.Secret: false} {
		if c.SecretMatches(h, secret, now) != want {
			t.Errorf("after the second rotation, secret %.6s… matches = %v", secret, !want)
		}
	}
	if !rot2.PreviousExpires.IsZero() || len(c.PreviousSecretHash) != 0 {
		t.Errorf("second rotation kept a previous secret: %+v", rot2)
	}
	// The update's settings held through the rotations; the refresh grant took offline_access
	// and its lifetime with it.
	if !slices.Equal(c.RedirectURIs, []string{"https://portal.example.com/cb", "https://portal.example.com/cb2"}) || c.AccessTTL() != 20*time.Minute ||
		c.IDTTL() != 2*time.Minute || !c.IsPairwise() || c.BackchannelLogoutURI != "https://portal.example.com/bc" ||
		!c.HasPostLogoutRedirectURI("https://portal.example.com/bye") || c.Allows(oidc.GrantRefreshToken) ||
		slices.Contains(c.Scopes, oidc.ScopeOfflineAccess) || c.RefreshTTL() != 0 {
		t.Fatalf("portal after the changes: %+v", c)
	}
	if c, _, _ := oidc.LookupClient(ctx, st, pub.Client.ClientID); !c.Allows(oidc.GrantDeviceCode) || !c.IsPublic() {
		t.Fatalf("cli after the changes: %+v", c)
	}
	// The rotation's entry shows that a previous secret exists and until when, nothing more.
	evs, _ := st.ListAdminEvents(ctx, store.AdminEventFilter{Action: "app.rotate-secret"})
	if len(evs) != 2 || !strings.Contains(string(evs[0].After), `"hasPreviousSecret":true`) ||
		!strings.Contains(string(evs[0].After), `"previousSecretExpires":"2026-04-02T09:00:00Z"`) || strings.Contains(string(evs[1].After), "previousSecret") {
		t.Fatalf("rotation entries: %+v", evs)
	}
}
