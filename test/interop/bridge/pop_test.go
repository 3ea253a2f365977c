package bridge

import (
	"context"
	"encoding/base64"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/bridge/apppassword"
	"github.com/sekisho/sekisho/internal/testutil/peers"
)

// TestPOPThroughTheBridge: real clients download from a Dovecot mailbox through the POP3 door
// with an app password — curl over implicit TLS (it logs in with AUTH PLAIN, which CAPA
// offers), Python's poplib with STLS and USER/PASS; each login is a sign-in record (client
// type bridge-pop, the credential named).
func TestPOPThroughTheBridge(t *testing.T) {
	curl := peers.Command(t, "curl", "apt-get install -y curl")
	python := peers.Command(t, "python3", "apt-get install -y python3")
	e := start(t, nil)
	e.dovecot.Seed(t, alice, 3, 2000)
	pw := e.issue(alice, "old-pop-client", []string{apppassword.ScopePOP})

	t.Run("curl, implicit TLS", func(t *testing.T) {
		out, err := exec.Command(curl, "-sSv", "--cacert", e.idp.CAFile, "--user", alice+":"+pw,
			"pop3s://"+e.addr("pop")+"/2").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Subject: Seed message 2") || !strings.Contains(string(out), "> AUTH PLAIN") {
			t.Fatalf("curl: %v\n%s", err, out)
		}
		ev := e.lastSignIn(t, "bridge-pop")
		if ev.Decision != "allow" || ev.Username != alice || ev.Protocol != "bridge-pop" || ev.Application != "sekisho-mail-bridge" ||
			ev.Rule != "legacy-in-office" || ev.DeviceName != "old-pop-client (app password)" || ev.EffectiveIP != "127.0.0.1" {
			t.Fatalf("record %+v", ev)
		}
	})

	t.Run("Python poplib, STLS", func(t *testing.T) {
		script := `
import poplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
p = poplib.POP3("localhost", int(sys.argv[2]), timeout=20)
caps = p.capa()
print("CAPA before TLS", sorted(caps))
p.stls(context=ctx)
p.user(sys.argv[3])
print(p.pass_(sys.argv[4]).decode())
count, size = p.stat()
print("STAT", count)
resp, lines, octets = p.retr(3)
print("\n".join(l.decode() for l in lines if l.startswith(b"Subject:")))
p.quit()
`
		out, err := exec.Command(python, "-c", script, e.idp.CAFile, e.port("pop-starttls"), alice, pw).CombinedOutput()
		s := string(out)
		if err != nil || !strings.Contains(s, "STAT 3") || !strings.Contains(s, "Subject: Seed message 3") {
			t.Fatalf("python: %v\n%s", err, out)
		}
		// Before TLS the door offers STLS and no way to log in.
		if before, _, _ := strings.Cut(s, "\n"); !strings.Contains(before, "'STLS'") || strings.Contains(before, "'USER'") || strings.Contains(before, "'SASL'") {
			t.Fatalf("capabilities before TLS: %s", before)
		}
		if ev := e.lastSignIn(t, "bridge-pop"); ev.Decision != "allow" || ev.DeviceName != "old-pop-client (app password)" {
			t.Fatalf("record %+v", ev)
		}
	})
}

// TestPOPRefusals: a wrong or send-only credential, a login before TLS and a revoked
// credential are each a clear -ERR [AUTH] naming the sign-in record, whose reason says why;
// a revocation also closes a connection that is already open.
func TestPOPRefusals(t *testing.T) {
	e := start(t, nil)
	e.dovecot.Seed(t, alice, 1, 500)
	pw := e.issue(alice, "pop-reader", []string{apppassword.ScopePOP})
	sendOnly := e.issue(alice, "printer", []string{apppassword.ScopeSMTPSend})

	for _, tc := range []struct{ name, pass, reason string }{
		{"a wrong app password", "aaaa-bbbb-cccc-dddd-eeee-ffff-gggg", "wrong_password"},
		{"a send-only credential", sendOnly, "credential_scope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pc, _ := e.dialLines(t, "pop", true)
			if ans := pc.cmd("USER " + alice); !strings.HasPrefix(ans, "+OK") {
				t.Fatalf("USER: %q", ans)
			}
			ans := pc.cmd("PASS " + tc.pass)
			ev := e.lastSignIn(t, "bridge-pop")
			if !strings.HasPrefix(ans, "-ERR [AUTH] Invalid credentials") || ev.Decision != "deny" || ev.Reason != tc.reason || !strings.Contains(ans, "(ref "+ev.ID+")") {
				t.Fatalf("answer %q, record %+v", ans, ev)
			}
		})
	}

	t.Run("no login before TLS", func(t *testing.T) {
		before := e.countSignIns(t, "bridge-pop")
		pc, greeting := e.dialLines(t, "pop-starttls", false)
		if !strings.HasPrefix(greeting, "+OK") {
			t.Fatalf("greeting %q", greeting)
		}
		plain := base64.StdEncoding.EncodeToString([]byte("\x00" + alice + "\x00" + pw))
		for _, line := range []string{"USER " + alice, "AUTH PLAIN " + plain} {
			if ans := pc.cmd(line); !strings.HasPrefix(ans, "-ERR [AUTH] Use STLS first") {
				t.Fatalf("%s: %q", strings.Fields(line)[0], ans)
			}
		}
		if n := e.countSignIns(t, "bridge-pop"); n != before {
			t.Fatalf("a cleartext login was judged: %d records, was %d", n, before)
		}
	})

	t.Run("a revoked credential closes its open connection and logs in no more", func(t *testing.T) {
		pc, _ := e.dialLines(t, "pop", true)
		pc.cmd("USER " + alice)
		if ans := pc.cmd("PASS " + pw); !strings.HasPrefix(ans, "+OK") {
			t.Fatalf("login %q", ans)
		}
		if ans := pc.cmd("STAT"); !strings.HasPrefix(ans, "+OK 1 ") {
			t.Fatalf("STAT through the bridge: %q", ans)
		}
		begin := time.Now()
		if _, err := e.adm.RevokeBridgeCredential(context.Background(), cli, alice, "pop-reader"); err != nil {
			t.Fatal(err)
		}
		if !pc.closedWithin(10 * time.Second) {
			t.Fatal("the connection stayed open after the revocation")
		}
		if d := time.Since(begin); d > 5*time.Second {
			t.Errorf("closed %v after the revocation (recheck 200ms)", d)
		}
		pc2, _ := e.dialLines(t, "pop", true)
		pc2.cmd("USER " + alice)
		ans := pc2.cmd("PASS " + pw)
		if ev := e.lastSignIn(t, "bridge-pop"); !strings.HasPrefix(ans, "-ERR [AUTH]") || ev.Reason != "credential_revoked" || !strings.Contains(ans, "(ref "+ev.ID+")") {
			t.Fatalf("after revocation: %q %+v", ans, ev)
		}
	})
}
