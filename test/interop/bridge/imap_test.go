package bridge

import (
	"context"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/published"

	"github.com/sekisho/sekisho/internal/bridge/apppassword"
	"github.com/sekisho/sekisho/internal/testutil/peers"
)

// TestIMAPThroughTheBridge: real clients read a Dovecot mailbox through the bridge with an
// app password — curl over implicit TLS, Python's imaplib over STARTTLS; each login is a
// sign-in record (client type bridge-imap, the credential named) and the credential's last
// use is noted.
func TestIMAPThroughTheBridge(t *testing.T) {
	curl := peers.Command(t, "curl", "apt-get install -y curl")
	python := peers.Command(t, "python3", "apt-get install -y python3")
	e := start(t, nil)
	e.dovecot.Seed(t, alice, 3, 2000)
	pw := e.issue(alice, "old-mail-client", []string{apppassword.ScopeIMAP})

	t.Run("curl, implicit TLS", func(t *testing.T) {
		out, err := exec.Command(curl, "-sS", "--cacert", e.idp.CAFile, "--user", alice+":"+pw,
			"imaps://"+e.addr("imap")+"/INBOX;UID=2").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Subject: Seed message 2") {
			t.Fatalf("curl: %v\n%s", err, out)
		}
		ev := e.lastSignIn(t, "bridge-imap")
		if ev.Decision != "allow" || ev.Username != alice || ev.Protocol != "bridge-imap" || ev.Application != "sekisho-mail-bridge" ||
			ev.Rule != "legacy-in-office" || ev.DeviceName != "old-mail-client (app password)" || ev.EffectiveIP != "127.0.0.1" {
			t.Fatalf("record %+v", ev)
		}
	})

	t.Run("Python imaplib, STARTTLS", func(t *testing.T) {
		script := `
import imaplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
m = imaplib.IMAP4("localhost", int(sys.argv[2]))
m.starttls(ssl_context=ctx)
m.login(sys.argv[3], sys.argv[4])
typ, data = m.select("INBOX", readonly=True)
print("EXISTS", data[0].decode())
typ, data = m.fetch("3", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
print(data[0][1].decode().strip())
m.logout()
`
		out, err := exec.Command(python, "-c", script, e.idp.CAFile, e.port("imap-starttls"), alice, pw).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "EXISTS 3") || !strings.Contains(string(out), "Subject: Seed message 3") {
			t.Fatalf("python: %v\n%s", err, out)
		}
	})

	views, err := e.adm.ListBridgeCredentials(context.Background(), alice)
	if err != nil || len(views) != 1 || views[0].LastUsedAt.IsZero() || views[0].LastIP != "127.0.0.1" {
		t.Fatalf("credential after use: %+v %v", views, err)
	}
}

// TestIMAPRefusals: every refusal is a clear IMAP answer and a sign-in record with its
// reason — a wrong password, the user's own directory password, a send-only credential, a
// revoked one, a login before TLS, the policy — and a revocation closes a connection that is
// already open within the recheck interval.
func TestIMAPRefusals(t *testing.T) {
	e := start(t, nil)
	ctx := context.Background()
	pw := e.issue(alice, "reader", []string{apppassword.ScopeIMAP})
	sendOnly := e.issue(alice, "printer", []string{apppassword.ScopeSMTPSend})

	for _, tc := range []struct {
		name, user, pass, code, reason string
	}{
		{"a wrong app password", alice, "aaaa-bbbb-cccc-dddd-eeee-ffff-gggg", "[AUTHENTICATIONFAILED]", "wrong_password"},
		{"the directory password", alice, e.idp.Password(alice), "[AUTHENTICATIONFAILED]", "wrong_password"},
		{"an unknown user", "nobody@example.com", pw, "[AUTHENTICATIONFAILED]", "unknown_user"},
		{"another user's credential", "bob@example.com", pw, "[AUTHENTICATIONFAILED]", "wrong_password"},
		{"a send-only credential", alice, sendOnly, "[AUTHENTICATIONFAILED]", "credential_scope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ic := e.dialIMAP(t)
			_, ans := ic.cmd("a1", "LOGIN "+quote(tc.user)+" "+quote(tc.pass))
			if !strings.HasPrefix(ans, "NO "+tc.code) {
				t.Fatalf("answer %q", ans)
			}
			ev := e.lastSignIn(t, "bridge-imap")
			if ev.Decision != "deny" || ev.Reason != tc.reason || !strings.Contains(ans, "ref "+ev.ID) {
				t.Fatalf("answer %q, record %+v", ans, ev)
			}
		})
	}

	t.Run("no login before TLS", func(t *testing.T) {
		c, err := netDial(e.addr("imap-starttls"))
		if err != nil {
			t.Fatal(err)
		}
		ic := &imapConn{t: t, c: c, r: newReader(c)}
		if g := ic.line(); !strings.Contains(g, "LOGINDISABLED") || !strings.Contains(g, "STARTTLS") {
			t.Fatalf("greeting %q", g)
		}
		if _, ans := ic.cmd("a1", "LOGIN "+alice+" "+pw); !strings.HasPrefix(ans, "NO [PRIVACYREQUIRED]") {
			t.Fatalf("cleartext login: %q", ans)
		}
	})

	t.Run("a revoked credential closes its open connection and logs in no more", func(t *testing.T) {
		ic := e.dialIMAP(t)
		if _, ans := ic.cmd("a1", "LOGIN "+alice+" "+pw); !strings.HasPrefix(ans, "OK") {
			t.Fatalf("login %q", ans)
		}
		if _, ans := ic.cmd("a2", "SELECT INBOX"); !strings.HasPrefix(ans, "OK") {
			t.Fatalf("select through the bridge: %q", ans)
		}
		start := time.Now()
		if _, err := e.adm.RevokeBridgeCredential(ctx, cli, alice, "reader"); err != nil {
			t.Fatal(err)
		}
		if _, err := ic.r.ReadString('\n'); err == nil {
			t.Fatal("the connection stayed open after the revocation")
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("closed %v after the revocation (recheck 200ms)", d)
		}
		ic2 := e.dialIMAP(t)
		_, ans := ic2.cmd("a1", "LOGIN "+alice+" "+pw)
		if ev := e.lastSignIn(t, "bridge-imap"); !strings.HasPrefix(ans, "NO [AUTHENTICATIONFAILED]") || ev.Reason != "credential_revoked" {
			t.Fatalf("after revocation: %q %+v", ans, ev)
		}
	})

	t.Run("an address outside the office is refused, and its open connections closed", func(t *testing.T) {
		pw := e.issue(alice, "reader3", []string{apppassword.ScopeIMAP})
		open := e.dialIMAP(t)
		if _, ans := open.cmd("a1", "LOGIN "+alice+" "+pw); !strings.HasPrefix(ans, "OK") {
			t.Fatalf("login from the office: %q", ans)
		}
		// The office no longer holds loopback: the demo policy's block-legacy-outside applies.
		if err := e.adm.SetNetwork(ctx, cli, "office", "head office", []string{"203.0.113.0/24"}); err != nil {
			t.Fatal(err)
		}
		loopback := netip.MustParseAddr("127.0.0.1")
		e.waitFor(t, "the new office network", func(c *published.Compiled) bool { return len(c.Inside(loopback)) == 0 })
		ic := e.dialIMAP(t)
		_, ans := ic.cmd("a1", "LOGIN "+alice+" "+pw)
		ev := e.lastSignIn(t, "bridge-imap")
		if !strings.HasPrefix(ans, "NO [AUTHORIZATIONFAILED]") || ev.Decision != "deny" || ev.Rule != "block-legacy-outside" || ev.EffectiveIP != "127.0.0.1" {
			t.Fatalf("answer %q, record %+v", ans, ev)
		}
		if _, err := open.r.ReadString('\n'); err == nil {
			t.Fatal("a connection from outside the office stayed open")
		}
		if err := e.adm.SetNetwork(ctx, cli, "office", "head office", []string{"127.0.0.0/8", "203.0.113.0/24"}); err != nil {
			t.Fatal(err)
		}
		e.waitFor(t, "the office with loopback again", func(c *published.Compiled) bool { return len(c.Inside(loopback)) > 0 })
	})

	t.Run("the policy refuses, and closes the connections it no longer allows", func(t *testing.T) {
		other := e.issue(alice, "reader2", []string{apppassword.ScopeIMAP})
		open := e.dialIMAP(t)
		if _, ans := open.cmd("a1", "LOGIN "+alice+" "+other); !strings.HasPrefix(ans, "OK") {
			t.Fatalf("login before the change: %q", ans)
		}
		policy := "version: 1\ndefault: allow\nrules:\n  - name: no-imap-bridge\n    client_types: [bridge-imap]\n    action: deny\n"
		v, err := e.adm.PublishPolicy(ctx, cli, "test.yaml", []byte(policy), "refuse the bridge")
		if err != nil {
			t.Fatal(err)
		}
		e.waitForPolicy(t, v.Version)
		ic := e.dialIMAP(t)
		_, ans := ic.cmd("a1", "LOGIN "+alice+" "+other)
		ev := e.lastSignIn(t, "bridge-imap")
		if !strings.HasPrefix(ans, "NO [AUTHORIZATIONFAILED]") || ev.Decision != "deny" || ev.Rule != "no-imap-bridge" {
			t.Fatalf("answer %q, record %+v", ans, ev)
		}
		// The connection opened before the change is re-judged within the recheck and closed.
		if _, err := open.r.ReadString('\n'); err == nil {
			t.Fatal("a connection the policy no longer allows stayed open")
		}
	})
}

func quote(s string) string { return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"` }
