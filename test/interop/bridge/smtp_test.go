package bridge

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/sekisho/sekisho/internal/bridge/apppassword"
	"github.com/sekisho/sekisho/internal/config"
	"github.com/sekisho/sekisho/internal/testutil/peers"
)

const (
	bob   = "bob@example.org"
	scans = "scans@example.com"
)

// TestSMTPThroughTheBridge: real clients submit mail through the SMTP door with an app
// password — curl over STARTTLS and implicit TLS (AUTH PLAIN), Python's smtplib with
// starttls and login, Node's nodemailer over implicit TLS with AUTH LOGIN — and Dovecot's
// submission service, logged in to with Sekisho's token, relays each message with the
// envelope and body the device sent.
func TestSMTPThroughTheBridge(t *testing.T) {
	curl := peers.Command(t, "curl", "apt-get install -y curl")
	python := peers.Command(t, "python3", "apt-get install -y python3")
	node, dir := nodemailerPeer(t)
	e := start(t, nil)
	pw := e.issue(alice, "old-client", []string{apppassword.ScopeSMTPSend})
	scanner := e.issue(alice, "printer-3f", []string{apppassword.ScopeSMTPSend}, scans)

	for _, tc := range []struct{ name, url string }{
		{"curl, STARTTLS", "smtp://" + e.addr("smtp-starttls")},
		{"curl, implicit TLS", "smtps://" + e.addr("smtp")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "mail.txt")
			body := "From: Alice <" + alice + ">\r\nTo: <" + bob + ">\r\nSubject: " + tc.name + "\r\n\r\nScanned page.\r\n.dot line\r\n"
			if err := os.WriteFile(f, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(curl, "-sS", "--ssl-reqd", "--cacert", e.idp.CAFile, "--user", alice+":"+pw,
				"--mail-from", alice, "--mail-rcpt", bob, "--upload-file", f, tc.url).CombinedOutput()
			if err != nil {
				t.Fatalf("curl: %v\n%s", err, out)
			}
			m := e.dovecot.Relay.Next(t, 30*time.Second)
			if m.From != alice || len(m.To) != 1 || m.To[0] != bob || !strings.Contains(string(m.Data), "Subject: "+tc.name+"\r\n") ||
				!strings.Contains(string(m.Data), "\r\n\r\nScanned page.\r\n.dot line\r\n") {
				t.Fatalf("relayed %+v\n%s", m, m.Data)
			}
			ev := e.lastSignIn(t, "bridge-smtp")
			if ev.Decision != "allow" || ev.Username != alice || ev.Protocol != "bridge-smtp" || ev.Rule != "legacy-in-office" ||
				ev.DeviceName != "old-client (app password)" || ev.EffectiveIP != "127.0.0.1" {
				t.Fatalf("record %+v", ev)
			}
		})
	}

	t.Run("Python smtplib, STARTTLS", func(t *testing.T) {
		script := `
import smtplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
s = smtplib.SMTP("localhost", int(sys.argv[2]), timeout=20)
s.ehlo("scanner.local")
print("AUTH before TLS:", s.has_extn("auth"))
s.starttls(context=ctx)
s.ehlo("scanner.local")
print("AUTH after TLS:", s.esmtp_features.get("auth"))
print(s.login(sys.argv[3], sys.argv[4]))
msg = "From: Scanner <%s>\r\nTo: %s\r\nSubject: Scan from smtplib\r\n\r\nPage 1 of 1.\r\n" % (sys.argv[5], sys.argv[6])
print(s.sendmail(sys.argv[5], [sys.argv[6]], msg))
s.quit()
`
		out, err := exec.Command(python, "-c", script, e.idp.CAFile, e.port("smtp-starttls"), alice, scanner, scans, bob).CombinedOutput()
		s := string(out)
		if err != nil || !strings.Contains(s, "AUTH before TLS: False") || !strings.Contains(s, "AUTH after TLS:  PLAIN LOGIN") || !strings.Contains(s, "235") {
			t.Fatalf("python: %v\n%s", err, out)
		}
		m := e.dovecot.Relay.Next(t, 30*time.Second)
		if m.From != scans || len(m.To) != 1 || m.To[0] != bob || !strings.Contains(string(m.Data), "Subject: Scan from smtplib") ||
			!strings.Contains(string(m.Data), "Page 1 of 1.") {
			t.Fatalf("relayed %+v\n%s", m, m.Data)
		}
		if ev := e.lastSignIn(t, "bridge-smtp"); ev.Decision != "allow" || ev.DeviceName != "printer-3f (app password)" {
			t.Fatalf("record %+v", ev)
		}
	})

	t.Run("nodemailer, implicit TLS, AUTH LOGIN", func(t *testing.T) {
		res := e.nodemailer(t, node, dir, map[string]any{"secure": true, "port": e.port("smtp"), "user": alice, "pass": scanner,
			"authMethod": "LOGIN", "from": "Scanner 3F <" + scans + ">", "to": bob, "subject": "Scan from nodemailer", "text": "Page 1."})
		if res.Error != nil || len(res.Accepted) != 1 || res.Accepted[0] != bob || !strings.HasPrefix(res.Response, "250") {
			t.Fatalf("nodemailer: %+v", res)
		}
		m := e.dovecot.Relay.Next(t, 30*time.Second)
		if m.From != scans || len(m.To) != 1 || m.To[0] != bob || !strings.Contains(string(m.Data), "Subject: Scan from nodemailer") ||
			!strings.Contains(string(m.Data), "From: Scanner 3F <"+scans+">") || !strings.Contains(string(m.Data), "Page 1.") {
			t.Fatalf("relayed %+v\n%s", m, m.Data)
		}
	})

	views, err := e.adm.ListBridgeCredentials(context.Background(), alice)
	if err != nil || len(views) != 2 || views[0].LastUsedAt.IsZero() || views[1].LastUsedAt.IsZero() {
		t.Fatalf("credentials after use: %+v %v", views, err)
	}
}

// TestSMTPRefusals: a sender outside the credential's scope (envelope, header), a wrong or
// POP-only or revoked credential, an AUTH before TLS and a message over the size limit are
// each a clear SMTP answer naming the sign-in record, whose reason says why; nothing refused
// reaches the mail server, and a revocation closes a session that is already open.
func TestSMTPRefusals(t *testing.T) {
	python := peers.Command(t, "python3", "apt-get install -y python3")
	node, dir := nodemailerPeer(t)
	e := start(t, func(b *config.Bridge) { b.MaxMessageBytes = 64 << 10 })
	ctx := context.Background()
	scanner := e.issue(alice, "printer-3f", []string{apppassword.ScopeSMTPSend}, scans)
	reader := e.issue(alice, "reader", []string{apppassword.ScopePOP})

	t.Run("an envelope sender outside the scope (smtplib)", func(t *testing.T) {
		script := `
import smtplib, ssl, sys
s = smtplib.SMTP("localhost", int(sys.argv[2]), timeout=20)
s.starttls(context=ssl.create_default_context(cafile=sys.argv[1]))
s.login(sys.argv[3], sys.argv[4])
try:
    s.sendmail("ceo@example.com", ["bob@example.org"], "From: ceo@example.com\r\nSubject: x\r\n\r\nx\r\n")
except smtplib.SMTPSenderRefused as e:
    print("REFUSED", e.smtp_code, e.smtp_error.decode())
s.quit()
`
		out, err := exec.Command(python, "-c", script, e.idp.CAFile, e.port("smtp-starttls"), alice, scanner).CombinedOutput()
		ev := e.lastSignIn(t, "bridge-smtp")
		if err != nil || !strings.Contains(string(out), "REFUSED 550 5.7.1 Sender <ceo@example.com> is not allowed for this app password (ref "+ev.ID+")") ||
			ev.Decision != "error" || ev.Reason != "rejected_request: sender_not_allowed: envelope sender <ceo@example.com>" || ev.Username != alice {
			t.Fatalf("python: %v\n%s\nrecord %+v", err, out, ev)
		}
	})

	t.Run("a header From outside the scope (nodemailer)", func(t *testing.T) {
		res := e.nodemailer(t, node, dir, map[string]any{"secure": false, "port": e.port("smtp-starttls"), "user": alice, "pass": scanner,
			"authMethod": "PLAIN", "from": "The Boss <ceo@example.com>", "envelopeFrom": scans, "to": bob, "subject": "x", "text": "x"})
		ev := e.lastSignIn(t, "bridge-smtp")
		if res.Error == nil || res.Error.ResponseCode != 550 ||
			!strings.Contains(res.Error.Response, "5.7.1 The message's sender <ceo@example.com> is not allowed for this app password (ref "+ev.ID+")") ||
			ev.Reason != "rejected_request: sender_not_allowed: header From <ceo@example.com>" {
			t.Fatalf("nodemailer: %+v\nrecord %+v", res, ev)
		}
	})

	for _, tc := range []struct{ name, pass, reason string }{
		{"a wrong app password", "aaaa-bbbb-cccc-dddd-eeee-ffff-gggg", "wrong_password"},
		{"a POP-only credential", reader, "credential_scope"},
		{"the directory password", e.idp.Password(alice), "wrong_password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := e.smtpClient(t, "smtp")
			err := c.Auth(sasl.NewPlainClient("", alice, tc.pass))
			ev := e.lastSignIn(t, "bridge-smtp")
			if reply, text := smtpReply(err); reply != "535 5.7.8" || text != "Invalid credentials (ref "+ev.ID+")" || ev.Decision != "deny" || ev.Reason != tc.reason {
				t.Fatalf("AUTH: %v; record %+v", err, ev)
			}
		})
	}

	t.Run("no AUTH before TLS", func(t *testing.T) {
		before := e.countSignIns(t, "bridge-smtp")
		lc, greeting := e.dialLines(t, "smtp-starttls", false)
		if !strings.HasPrefix(greeting, "220 ") {
			t.Fatalf("greeting %q", greeting)
		}
		lc.cmd("EHLO printer.local")
		ehlo := lc.reply()
		if strings.Contains(ehlo, "AUTH") || !strings.Contains(ehlo, "STARTTLS") {
			t.Fatalf("EHLO before TLS: %q", ehlo)
		}
		plain := base64.StdEncoding.EncodeToString([]byte("\x00" + alice + "\x00" + scanner))
		if ans := lc.cmd("AUTH PLAIN " + plain); !strings.HasPrefix(ans, "538 5.7.11 Encryption required") {
			t.Fatalf("AUTH: %q", ans)
		}
		if ans := lc.cmd("MAIL FROM:<" + scans + ">"); !strings.HasPrefix(ans, "530 5.7.0") {
			t.Fatalf("MAIL: %q", ans)
		}
		if n := e.countSignIns(t, "bridge-smtp"); n != before {
			t.Fatalf("a cleartext login was judged: %d records, was %d", n, before)
		}
	})

	t.Run("a message over the size limit", func(t *testing.T) {
		c := e.smtpClient(t, "smtp-starttls")
		if err := c.Auth(sasl.NewPlainClient("", alice, scanner)); err != nil {
			t.Fatal(err)
		}
		big := "From: " + scans + "\r\nSubject: big\r\n\r\n" + strings.Repeat("0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstu\r\n", 2000)
		err := sendVia(c, scans, bob, big)
		if reply, text := smtpReply(err); reply != "552 5.3.4" || text != "The message is larger than the 64 KiB this mail bridge accepts" {
			t.Fatalf("a large message: %v", err)
		}
		// The session goes on; the next message is the only one the mail server relays.
		if err := sendVia(c, scans, bob, "From: "+scans+"\r\nSubject: small\r\n\r\nsmall\r\n"); err != nil {
			t.Fatal(err)
		}
		if m := e.dovecot.Relay.Next(t, 30*time.Second); !strings.Contains(string(m.Data), "Subject: small") {
			t.Fatalf("relayed %+v\n%.300s", m, m.Data)
		}
	})

	t.Run("a revoked credential closes its open session and logs in no more", func(t *testing.T) {
		pw := e.issue(alice, "old-printer", []string{apppassword.ScopeSMTPSend})
		c := e.smtpClient(t, "smtp")
		if err := c.Auth(sasl.NewPlainClient("", alice, pw)); err != nil {
			t.Fatal(err)
		}
		if err := c.Mail(alice, nil); err != nil {
			t.Fatal(err)
		}
		begin := time.Now()
		if _, err := e.adm.RevokeBridgeCredential(ctx, cli, alice, "old-printer"); err != nil {
			t.Fatal(err)
		}
		for c.Noop() == nil {
			if time.Since(begin) > 5*time.Second {
				t.Fatal("the session stayed open after the revocation (recheck 200ms)")
			}
			time.Sleep(50 * time.Millisecond)
		}
		c2 := e.smtpClient(t, "smtp")
		err := c2.Auth(sasl.NewPlainClient("", alice, pw))
		ev := e.lastSignIn(t, "bridge-smtp")
		if reply, text := smtpReply(err); reply != "535 5.7.8" || !strings.HasSuffix(text, "(ref "+ev.ID+")") || ev.Reason != "credential_revoked" {
			t.Fatalf("after revocation: %v %+v", err, ev)
		}
	})

	select {
	case m := <-e.dovecot.Relay.C():
		t.Fatalf("a refused message reached the mail server: %+v", m)
	case <-time.After(500 * time.Millisecond):
	}
}

// smtpClient is go-smtp's client logged in to nothing yet: implicit TLS on the "smtp" door,
// STARTTLS on "smtp-starttls".
func (e *env) smtpClient(t *testing.T, door string) *smtp.Client {
	t.Helper()
	cfg := &tls.Config{RootCAs: e.pool, ServerName: "localhost"}
	var c *smtp.Client
	var err error
	if door == "smtp" {
		c, err = smtp.DialTLS(e.addr(door), cfg)
	} else {
		c, err = smtp.DialStartTLS(e.addr(door), cfg)
	}
	if err != nil {
		t.Fatal(err)
	}
	c.CommandTimeout = 20 * time.Second
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func sendVia(c *smtp.Client, from, to, msg string) error {
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	if err := c.Rcpt(to, nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, msg); err != nil {
		return err
	}
	return w.Close()
}

// smtpReply is "code x.y.z" and the text of an SMTP error reply.
func smtpReply(err error) (string, string) {
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		return "", fmt.Sprint(err)
	}
	return fmt.Sprintf("%d %d.%d.%d", se.Code, se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2]), se.Message
}

// nodemailerPeer returns node and test/interop/node with nodemailer installed, or skips/fails.
func nodemailerPeer(t *testing.T) (node, dir string) {
	t.Helper()
	node = peers.Command(t, "node", "apt-get install -y nodejs npm")
	_, file, _, _ := runtime.Caller(0)
	dir = filepath.Join(filepath.Dir(file), "..", "node")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "nodemailer", "package.json")); err != nil {
		peers.Missing(t, "node_modules/nodemailer", "make test (runs npm install in test/interop/node)")
	}
	return node, dir
}

type nodemailerResult struct {
	Accepted []string `json:"accepted"`
	Rejected []string `json:"rejected"`
	Response string   `json:"response"`
	Error    *struct {
		Code         string `json:"code"`
		ResponseCode int    `json:"responseCode"`
		Response     string `json:"response"`
		Command      string `json:"command"`
		Message      string `json:"message"`
	} `json:"error"`
}

// nodemailer sends one message with test/interop/node/nodemailer-send.mjs.
func (e *env) nodemailer(t *testing.T, node, dir string, o map[string]any) nodemailerResult {
	t.Helper()
	o["host"], o["ca"], o["servername"] = "localhost", e.idp.CAFile, "localhost"
	if p, ok := o["port"].(string); ok {
		o["port"], _ = strconv.Atoi(p)
	}
	in, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, "nodemailer-send.mjs")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("nodemailer-send.mjs: %v: %s", err, stderr.String())
	}
	var res nodemailerResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("nodemailer-send.mjs: not JSON: %s", out)
	}
	return res
}
