package bridge

import (
	"bufio"
	"crypto/tls"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/bridge/apppassword"
	"github.com/sekisho/sekisho/internal/config"
	"github.com/sekisho/sekisho/internal/testutil/peers"
)

// TestDoorsBehindALoadBalancer: with bridge.proxy_protocol the doors take the device's
// address from a trusted balancer's PROXY header. curl's own PROXY v1 header
// (--haproxy-protocol) is accepted; a header naming an address outside the office makes the
// gate judge and record that address (refused by the policy, the balancer as the peer); a
// connection from the balancer without a header is closed before any login.
func TestDoorsBehindALoadBalancer(t *testing.T) {
	curl := peers.Command(t, "curl", "apt-get install -y curl")
	e := startBehind(t, []string{"127.0.0.0/8"}, func(b *config.Bridge) { b.ProxyProtocol = true })
	e.dovecot.Seed(t, alice, 1, 500)
	pw := e.issue(alice, "behind-balancer", []string{apppassword.ScopeIMAP})

	out, err := exec.Command(curl, "-sS", "--haproxy-protocol", "--cacert", e.idp.CAFile, "--user", alice+":"+pw,
		"imaps://"+e.addr("imap")+"/INBOX;UID=1").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Subject: Seed message 1") {
		t.Fatalf("curl --haproxy-protocol: %v\n%s", err, out)
	}
	if ev := e.lastSignIn(t, "bridge-imap"); ev.Decision != "allow" || ev.EffectiveIP != "127.0.0.1" || ev.PeerIP != "127.0.0.1" {
		t.Fatalf("record of curl's login: %+v", ev)
	}

	// A device outside the office, as the balancer names it.
	raw, err := net.Dial("tcp", e.addr("imap"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := raw.Write([]byte("PROXY TCP4 198.51.100.7 127.0.0.1 40000 993\r\n")); err != nil {
		t.Fatal(err)
	}
	c := tls.Client(raw, &tls.Config{RootCAs: e.pool, ServerName: "localhost"})
	r := bufio.NewReader(c)
	if g, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(g, "* OK") {
		t.Fatalf("greeting behind the header: %q, %v", g, err)
	}
	if _, err := c.Write([]byte("a1 LOGIN " + alice + " " + pw + "\r\n")); err != nil {
		t.Fatal(err)
	}
	answer, _ := r.ReadString('\n')
	if !strings.HasPrefix(answer, "a1 NO") {
		t.Fatalf("a login from outside the office: %q\nrecord %+v", answer, e.lastSignIn(t, "bridge-imap"))
	}
	ev := e.lastSignIn(t, "bridge-imap")
	if ev.Decision == "allow" || ev.EffectiveIP != "198.51.100.7" || ev.PeerIP != "127.0.0.1" {
		t.Fatalf("record of the login from 198.51.100.7: %+v", ev)
	}

	// The balancer's address without a header: closed, no login reaches the gate.
	before := e.countSignIns(t, "bridge-imap")
	if out, err := exec.Command(curl, "-sS", "--cacert", e.idp.CAFile, "--user", alice+":"+pw,
		"imaps://"+e.addr("imap")+"/INBOX;UID=1").CombinedOutput(); err == nil {
		t.Fatalf("curl without a PROXY header from the balancer's address got through:\n%s", out)
	}
	if n := e.countSignIns(t, "bridge-imap"); n != before {
		t.Fatalf("a connection without a PROXY header wrote %d sign-in records", n-before)
	}
}
