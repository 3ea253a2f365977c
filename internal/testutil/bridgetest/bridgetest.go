// Package bridgetest starts the mail bridge end to end for tests and benchmarks: a running
// Sekisho (demo tenant) with its bridge doors on loopback, in front of a real Dovecot
// (internal/testutil/dovecottest) that accepts only Sekisho's OAuth tokens, validated by
// introspection against Sekisho's own endpoint.
package bridgetest

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/admin"
	"github.com/sekisho/sekisho/internal/config"
	"github.com/sekisho/sekisho/internal/setup"
	"github.com/sekisho/sekisho/internal/testutil/dovecottest"
	"github.com/sekisho/sekisho/internal/testutil/idptest"
	"github.com/sekisho/sekisho/internal/wiring"
)

// Actor is the administrator the helpers act as.
var Actor = admin.Actor{Name: "os:test", Via: "cli"}

// UpstreamClient is the application name of the OpenID Connect client that stands for the
// upstream mail server (its secret lets Dovecot introspect the bridge's tokens).
const UpstreamClient = "mailstore"

// Env is a running Sekisho with its bridge in front of Dovecot.
type Env struct {
	IdP      *idptest.IdP
	Dovecot  *dovecottest.Server
	Bridge   *wiring.MailBridge
	ClientID string // the upstream client's client_id
	Admin    *admin.Service
}

// Start runs the bridge with every door (IMAP, POP3 and SMTP submission, each with implicit
// TLS and with STARTTLS) in front of Dovecot, rechecking open connections every 200 ms;
// change adjusts the bridge's configuration before the doors open.
func Start(t testing.TB, change func(*config.Bridge)) *Env {
	t.Helper()
	return StartBehind(t, nil, change)
}

// StartBehind is Start with network.trusted_proxies set to trustedProxies (the load
// balancers a door with bridge.proxy_protocol reads PROXY headers from).
func StartBehind(t testing.TB, trustedProxies []string, change func(*config.Bridge)) *Env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e := &Env{IdP: idptest.Start(t, idptest.Options{Prepare: func(_ context.Context, in *setup.Instance) error {
		in.Config.Network.TrustedProxies = trustedProxies
		return nil
	}})}
	in := e.IdP.Services.Instance
	e.Admin = in.Admin
	added, err := in.Admin.AddOIDCClient(ctx, Actor, UpstreamClient, admin.NewOIDCClient{Grants: []string{"client_credentials"}})
	if err != nil {
		t.Fatal(err)
	}
	e.ClientID = added.Client.ClientID
	e.Dovecot = dovecottest.Start(t, dovecottest.Options{IntrospectURL: e.IdP.URL + "/oidc/introspect",
		ClientID: added.Client.ClientID, ClientSecret: added.Secret, CAFile: e.IdP.CAFile})
	ca := filepath.Join(t.TempDir(), "dovecot-ca.pem")
	if err := os.WriteFile(ca, e.Dovecot.CAPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	b := config.Bridge{
		IMAP:    config.BridgeListener{TLSListen: "127.0.0.1:0", StartTLSListen: "127.0.0.1:0"},
		POP:     config.BridgeListener{TLSListen: "127.0.0.1:0", StartTLSListen: "127.0.0.1:0"},
		SMTP:    config.BridgeListener{TLSListen: "127.0.0.1:0", StartTLSListen: "127.0.0.1:0"},
		Recheck: config.Duration(200 * time.Millisecond),
		// Dovecot's POP3 is implicit TLS only, its submission STARTTLS only.
		Upstream: config.BridgeUpstream{IMAP: e.Dovecot.IMAPAddr, IMAPTLS: "implicit", POP: e.Dovecot.POPAddr, POPTLS: "implicit",
			SMTP: e.Dovecot.SubmissionAddr, SMTPTLS: "starttls", CAFile: ca, ClientID: added.Client.ClientID},
	}
	if change != nil {
		change(&b)
	}
	in.Config.Bridge = b
	tlsCfg, err := e.IdP.Services.TLSConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Changes made through the admin service reach the doors as on a running server:
	// through the change watcher.
	go e.IdP.Services.Changes.Run(ctx)
	e.Bridge, err = e.IdP.Services.StartMailBridge(ctx, tlsCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := e.Bridge.Wait(); err != nil {
			t.Errorf("bridge: %v", err)
		}
	})
	return e
}

// Addr is a door's address with the host name in Sekisho's certificate (localhost).
func (e *Env) Addr(t testing.TB, door string) string {
	t.Helper()
	a, ok := e.Bridge.Addrs[door]
	if !ok {
		t.Fatalf("no %s door", door)
	}
	_, port, _ := net.SplitHostPort(a.String())
	return "localhost:" + port
}

// Issue makes an app password for user.
func (e *Env) Issue(t testing.TB, user, name string, scopes []string, from ...string) string {
	t.Helper()
	c, err := e.Admin.IssueBridgeCredential(context.Background(), Actor, admin.NewBridgeCredential{User: user, Name: name, Scopes: scopes, From: from})
	if err != nil {
		t.Fatal(err)
	}
	return c.Password
}
