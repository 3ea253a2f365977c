// Package bridge tests the mail bridge end to end: a running Sekisho (demo tenant) with its
// bridge doors (IMAP, POP3, SMTP submission), a real Dovecot as the upstream mail server that
// accepts only Sekisho's OAuth tokens (validated by introspection against Sekisho) and relays
// submitted mail to a sink the tests read, and real mail clients (curl, Python's imaplib,
// poplib and smtplib, Node's nodemailer) logging in with app passwords.
package bridge

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/bridge/bridgefake"
	"github.com/sekisho/sekisho/internal/published"

	"github.com/sekisho/sekisho/internal/admin"
	"github.com/sekisho/sekisho/internal/config"
	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/testutil/bridgetest"
	"github.com/sekisho/sekisho/internal/testutil/dovecottest"
	"github.com/sekisho/sekisho/internal/testutil/idptest"
	"github.com/sekisho/sekisho/internal/wiring"
)

var cli = bridgetest.Actor

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

// start runs Sekisho with the bridge in front of Dovecot (internal/testutil/bridgetest);
// change adjusts the bridge's configuration before its doors open.
func start(t *testing.T, change func(*config.Bridge)) *env {
	t.Helper()
	return startBehind(t, nil, change)
}

// startBehind is start with network.trusted_proxies (the doors' load balancers).
func startBehind(t *testing.T, trustedProxies []string, change func(*config.Bridge)) *env {
	t.Helper()
	b := bridgetest.StartBehind(t, trustedProxies, change)
	in := b.IdP.Services.Instance
	return &env{t: t, idp: b.IdP, dovecot: b.Dovecot, bridge: b.Bridge, st: in.Store, adm: in.Admin, pool: b.IdP.CAPool}
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

// countSignIns is the number of sign-in records of the client type.
func (e *env) countSignIns(t *testing.T, clientType string) int {
	t.Helper()
	evs, err := e.st.ListSignIns(context.Background(), store.SignInFilter{ClientType: clientType})
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
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
	return bridgefake.ReadLine(ic.t, ic.r)
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

// lineConn is a raw line-oriented connection (POP3, SMTP) to a door.
type lineConn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

// dialLines connects to door, over TLS when useTLS, and reads its greeting.
func (e *env) dialLines(t *testing.T, door string, useTLS bool) (*lineConn, string) {
	t.Helper()
	var c net.Conn
	var err error
	if useTLS {
		c, err = tls.Dial("tcp", e.addr(door), &tls.Config{RootCAs: e.pool, ServerName: "localhost"})
	} else {
		c, err = netDial(e.addr(door))
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	lc := &lineConn{t: t, c: c, r: bufio.NewReader(c)}
	return lc, lc.line()
}

func (lc *lineConn) line() string {
	lc.t.Helper()
	return bridgefake.ReadLine(lc.t, lc.r)
}

// cmd sends one line and returns the first line of the answer.
func (lc *lineConn) cmd(line string) string {
	lc.t.Helper()
	if _, err := lc.c.Write([]byte(line + "\r\n")); err != nil {
		lc.t.Fatal(err)
	}
	return lc.line()
}

// reply reads an SMTP reply and returns its lines joined with "|".
func (lc *lineConn) reply() string {
	lc.t.Helper()
	var out []string
	for {
		l := lc.line()
		out = append(out, l)
		if len(l) < 4 || l[3] != '-' {
			return strings.Join(out, "|")
		}
	}
}

// closedWithin reports whether the door closes the connection within d.
func (lc *lineConn) closedWithin(d time.Duration) bool {
	_ = lc.c.SetReadDeadline(time.Now().Add(d))
	for {
		if _, err := lc.r.ReadString('\n'); err != nil {
			var ne net.Error
			return !(errors.As(err, &ne) && ne.Timeout())
		}
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
	e.waitFor(t, fmt.Sprintf("policy version %d", v), func(c *published.Compiled) bool { return c.Version == v })
}

// waitFor waits until the compiled policy in force satisfies ok (the change watcher's bound).
func (e *env) waitFor(t *testing.T, what string, ok func(*published.Compiled) bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		comp, err := e.idp.Services.Policies.Current(context.Background())
		if err == nil && ok(comp) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not in force after 5s (err %v)", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
