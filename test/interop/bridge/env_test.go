// Package bridge tests the mail bridge end to end: a running Sekisho (demo tenant) with its
// bridge doors, a real Dovecot as the upstream mail server that accepts only Sekisho's OAuth
// tokens (validated by introspection against Sekisho), and real mail clients (curl,
// Python's imaplib) logging in with app passwords.
package bridge

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/admin"
	"github.com/sekisho/sekisho/internal/config"
	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/testutil/dovecottest"
	"github.com/sekisho/sekisho/internal/testutil/idptest"
	"github.com/sekisho/sekisho/internal/wiring"
)

var cli = admin.Actor{Name: "os:test", Via: "cli"}

const alice = "alice@example.com"

type env struct {
	t       *testing.T
	idp     *idptest.IdP
	dovecot *dovecottest.Server
	bridge  *wiring.MailBridge
	st      store.Store
	adm     *admin.Service
	pool    *x509.CertPool
}

// start runs Sekisho with the bridge in front of Dovecot; change adjusts the bridge's
// configuration before its doors open.
func start(t *testing.T, change func(*config.Bridge)) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e := &env{t: t, idp: idptest.Start(t, idptest.Options{})}
	in := e.idp.Services.Instance
	e.st, e.adm, e.pool = in.Store, in.Admin, e.idp.CAPool
	// The upstream mail server is an OpenID Connect client of Sekisho: its secret lets Dovecot
	// introspect the tokens the bridge presents.
	added, err := in.Admin.AddOIDCClient(ctx, cli, "mailstore", admin.NewOIDCClient{Grants: []string{"client_credentials"}})
	if err != nil {
		t.Fatal(err)
	}
	e.dovecot = dovecottest.Start(t, dovecottest.Options{IntrospectURL: e.idp.URL + "/oidc/introspect",
		ClientID: added.Client.ClientID, ClientSecret: added.Secret, CAFile: e.idp.CAFile})
	ca := filepath.Join(t.TempDir(), "dovecot-ca.pem")
	if err := os.WriteFile(ca, e.dovecot.CAPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	b := config.Bridge{
		IMAP:    config.BridgeListener{TLSListen: "127.0.0.1:0", StartTLSListen: "127.0.0.1:0"},
		Recheck: config.Duration(200 * time.Millisecond),
		Upstream: config.BridgeUpstream{IMAP: e.dovecot.IMAPAddr, IMAPTLS: "implicit", CAFile: ca,
			ClientID: added.Client.ClientID},
	}
	if change != nil {
		change(&b)
	}
	in.Config.Bridge = b
	tlsCfg, err := e.idp.Services.TLSConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Changes made through the admin service reach the doors as on a running server: through
	// the change watcher.
	go e.idp.Services.Changes.Run(ctx)
	e.bridge, err = e.idp.Services.StartMailBridge(ctx, tlsCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := e.bridge.Wait(); err != nil {
			t.Errorf("bridge: %v", err)
		}
	})
	return e
}

// addr is the door's address as host localhost (the name in Sekisho's certificate).
func (e *env) addr(door string) string {
	a, ok := e.bridge.Addrs[door]
	if !ok {
		e.t.Fatalf("no %s door", door)
	}
	_, port, _ := net.SplitHostPort(a.String())
	return "localhost:" + port
}

func (e *env) port(door string) string {
	_, port, _ := net.SplitHostPort(e.addr(door))
	return port
}

// issue makes an app password for user.
func (e *env) issue(user, name string, scopes []string, from ...string) string {
	e.t.Helper()
	c, err := e.adm.IssueBridgeCredential(context.Background(), cli, admin.NewBridgeCredential{User: user, Name: name, Scopes: scopes, From: from})
	if err != nil {
		e.t.Fatal(err)
	}
	return c.Password
}

// lastSignIn is the newest sign-in record of the client type.
func (e *env) lastSignIn(t *testing.T, clientType string) store.SignInEvent {
	t.Helper()
	evs, err := e.st.ListSignIns(context.Background(), store.SignInFilter{ClientType: clientType})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) == 0 {
		t.Fatalf("no %s sign-in record", clientType)
	}
	return evs[len(evs)-1]
}

// imapConn is a raw IMAP connection over implicit TLS, for exchanges clients hide.
type imapConn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func (e *env) dialIMAP(t *testing.T) *imapConn {
	t.Helper()
	c, err := tls.Dial("tcp", e.addr("imap"), &tls.Config{RootCAs: e.pool, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	ic := &imapConn{t: t, c: c, r: bufio.NewReader(c)}
	if g := ic.line(); !strings.HasPrefix(g, "* OK") {
		t.Fatalf("greeting %q", g)
	}
	return ic
}

func (ic *imapConn) line() string {
	ic.t.Helper()
	l, err := ic.r.ReadString('\n')
	if err != nil {
		ic.t.Fatalf("read: %v (after %q)", err, l)
	}
	return strings.TrimRight(l, "\r\n")
}

// cmd sends one command and returns its untagged lines and the tagged answer.
func (ic *imapConn) cmd(tag, command string) ([]string, string) {
	ic.t.Helper()
	if _, err := ic.c.Write([]byte(tag + " " + command + "\r\n")); err != nil {
		ic.t.Fatal(err)
	}
	var untagged []string
	for {
		l := ic.line()
		if strings.HasPrefix(l, tag+" ") {
			return untagged, strings.TrimPrefix(l, tag+" ")
		}
		untagged = append(untagged, l)
	}
}

func netDial(addr string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err == nil {
		_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	}
	return c, err
}

func newReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }

// waitForPolicy waits until the policy version v is in force (the change watcher's bound).
func (e *env) waitForPolicy(t *testing.T, v int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		comp, err := e.idp.Services.Policies.Current(context.Background())
		if err == nil && comp.Version == v {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("policy version %d not in force after 5s (err %v)", v, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
