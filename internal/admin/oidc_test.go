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
