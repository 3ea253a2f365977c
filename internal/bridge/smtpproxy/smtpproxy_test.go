package smtpproxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/sekisho/sekisho/internal/bridge"
	"github.com/sekisho/sekisho/internal/bridge/apppassword"
	"github.com/sekisho/sekisho/internal/bridge/bridgefake"
	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/store"
)

const (
	alice = "alice@example.com"
	bob   = "bob@example.org"
)

// message is one transaction the fake upstream accepted.
type message struct {
	from string
	to   []string
	data string
}

// fakeSMTP is an upstream submission server that takes only bridgefake's token for the user
// who logs in, and refuses the recipient nobody@example.org.
type fakeSMTP struct {
	addr string
	mu   sync.Mutex
	msgs []message
	// logins counts successful AUTHs (one per upstream connection).
	logins int
	// aborted counts DATA the upstream saw begin but not end.
	aborted int
}

func startFakeSMTP(t *testing.T, certs bridgefake.TLS, implicit bool) *fakeSMTP {
	f := &fakeSMTP{}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &fakeSession{f: f}, nil }))
	srv.Domain = "upstream.test"
	srv.ErrorLog = quiet{}
	var l net.Listener = bridgefake.Listen(t)
	if implicit {
		l = tls.NewListener(l, certs.Server)
	} else {
		srv.TLSConfig = certs.Server
	}
	f.addr = l.Addr().String()
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return f
}

func (f *fakeSMTP) state() ([]message, int, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]message(nil), f.msgs...), f.logins, f.aborted
}

type quiet struct{}

func (quiet) Printf(string, ...any) {}
func (quiet) Println(...any)        {}

type fakeSession struct {
	f      *fakeSMTP
	user   string
	from   string
	to     []string
	authed bool
}

func (s *fakeSession) AuthMechanisms() []string { return []string{bridge.XOAuth2, sasl.OAuthBearer} }

func (s *fakeSession) Auth(mech string) (sasl.Server, error) {
	if mech == sasl.OAuthBearer {
		return sasl.NewOAuthBearerServer(func(o sasl.OAuthBearerOptions) *sasl.OAuthBearerError {
			if o.Token != bridgefake.TokenFor(o.Username) || o.Username != alice {
				return &sasl.OAuthBearerError{Status: "invalid_token"}
			}
			s.ok(o.Username)
			return nil
		}), nil
	}
	return &xoauth2Server{check: func(user, token string) bool {
		if user != alice || token != bridgefake.TokenFor(user) {
			return false
		}
		s.ok(user)
		return true
	}}, nil
}

func (s *fakeSession) ok(user string) {
	s.user, s.authed = user, true
	s.f.mu.Lock()
	s.f.logins++
	s.f.mu.Unlock()
}

func (s *fakeSession) Mail(from string, _ *smtp.MailOptions) error {
	if !s.authed {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *fakeSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if to == "nobody@example.org" {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "nobody@example.org: no such user here"}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *fakeSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		s.f.mu.Lock()
		s.f.aborted++
		s.f.mu.Unlock()
		return err
	}
	s.f.mu.Lock()
	s.f.msgs = append(s.f.msgs, message{from: s.from, to: s.to, data: string(b)})
	s.f.mu.Unlock()
	return nil
}

func (s *fakeSession) Reset()        { s.from, s.to = "", nil }
func (s *fakeSession) Logout() error { return nil }

// xoauth2Server is the server side of XOAUTH2: a refused token gets the error challenge,
// whose answer ends the exchange with 535.
type xoauth2Server struct {
	check  func(user, token string) bool
	failed bool
}

func (s *xoauth2Server) Next(resp []byte) ([]byte, bool, error) {
	if s.failed {
		return nil, true, &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication failed"}
	}
	if resp == nil {
		return []byte{}, false, nil
	}
	var user, token string
	for _, kv := range strings.Split(string(resp), "\x01") {
		if v, ok := strings.CutPrefix(kv, "user="); ok {
			user = v
		}
		if v, ok := strings.CutPrefix(kv, "auth=Bearer "); ok {
			token = v
		}
	}
	if s.check(user, token) {
		return nil, true, nil
	}
	s.failed = true
	return []byte(`{"status":"401","schemes":"bearer"}`), false, nil
}

type smtpEnv struct {
	t     *testing.T
	gate  *bridgefake.Gate
	certs bridgefake.TLS
	up    *fakeSMTP
	srv   *Server
	addrs map[bool]string // implicit TLS → address
	pw    string          // alice's smtp-send app password (her own address)
	stop  func()          // ends the server (the test's end does too)
	done  chan struct{}   // closed when both listeners' Serve returned
}

func startSMTP(t *testing.T, change func(*smtpEnv)) *smtpEnv {
	t.Helper()
	e := &smtpEnv{t: t, gate: bridgefake.NewGate(), certs: bridgefake.NewTLS(t), addrs: map[bool]string{}, pw: "send-pw", done: make(chan struct{})}
	e.up = startFakeSMTP(t, e.certs, false)
	e.gate.Add(bridgefake.Account{Password: e.pw, User: store.User{UPN: alice, Email: "alice.smith@example.com"},
		Credential: store.BridgeCredential{Scopes: []string{apppassword.ScopeSMTPSend}}})
	e.srv = &Server{Settings: bridge.Settings{Door: e.gate.Door(), TLS: e.certs.Server, Recheck: 50 * time.Millisecond,
		PreAuthTimeout: 5 * time.Second, Log: slog.New(slog.DiscardHandler),
		Upstream: &bridge.Upstream{SMTP: bridge.Endpoint{Address: e.up.addr, TLS: bridge.TLSStartTLS}, TLS: e.certs.Client,
			Tokens: bridgefake.Tokens{}, Timeout: 5 * time.Second}}, Domain: "bridge.test"}
	if change != nil {
		change(e)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, implicit := range []bool{true, false} {
		l := bridgefake.Listen(t)
		e.addrs[implicit] = l.Addr().String()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := e.srv.Serve(ctx, l, implicit); err != nil {
				t.Errorf("Serve: %v", err)
			}
		}()
	}
	go func() { wg.Wait(); close(e.done) }()
	e.stop = cancel
	t.Cleanup(func() {
		cancel()
		select {
		case <-e.done:
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after its context ended")
		}
	})
	return e
}

// client logs in to the door with go-smtp's client: STARTTLS or implicit TLS.
func (e *smtpEnv) client(t *testing.T, implicit bool) *smtp.Client {
	t.Helper()
	cfg := &tls.Config{RootCAs: e.certs.Pool, ServerName: "localhost"}
	var c *smtp.Client
	var err error
	if implicit {
		c, err = smtp.DialTLS(e.addrs[true], cfg)
	} else {
		c, err = smtp.DialStartTLS(e.addrs[false], cfg)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func (e *smtpEnv) login(t *testing.T, implicit bool, user, pass string) *smtp.Client {
	t.Helper()
	c := e.client(t, implicit)
	if err := c.Auth(sasl.NewPlainClient("", user, pass)); err != nil {
		t.Fatalf("AUTH: %v", err)
	}
	return c
}

func send(c *smtp.Client, from string, to []string, msg string) error {
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	for _, r := range to {
		if err := c.Rcpt(r, nil); err != nil {
			return err
		}
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

func msg(from, to, body string) string {
	return fmt.Sprintf("From: <%s>\r\nTo: <%s>\r\nSubject: scan\r\n\r\n%s\r\n", from, to, body)
}

// code is the SMTP code and enhanced code of err, "" when it is not an SMTP reply.
func code(err error) (string, string) {
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		return "", ""
	}
	return fmt.Sprintf("%d %d.%d.%d", se.Code, se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2]), se.Message
}

func TestSendThroughTheBridge(t *testing.T) {
	e := startSMTP(t, nil)
	for _, tc := range []struct {
		name     string
		implicit bool
		auth     func(u, p string) sasl.Client
		from     string
	}{
		{"STARTTLS, AUTH PLAIN", false, func(u, p string) sasl.Client { return sasl.NewPlainClient("", u, p) }, alice},
		{"implicit TLS, AUTH LOGIN", true, sasl.NewLoginClient, "Alice.Smith@example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, logins, _ := e.up.state()
			c := e.client(t, tc.implicit)
			if ok, mechs := c.Extension("AUTH"); !ok || mechs != "PLAIN LOGIN" {
				t.Fatalf("AUTH %v %q", ok, mechs)
			}
			if size, ok := c.MaxMessageSize(); !ok || size != DefaultMaxMessageBytes {
				t.Fatalf("SIZE %d %v", size, ok)
			}
			if err := c.Auth(tc.auth(alice, e.pw)); err != nil {
				t.Fatalf("AUTH: %v", err)
			}
			if ev := e.gate.Last(); ev.Decision != "allow" || ev.Protocol != apppassword.ProtocolSMTP {
				t.Fatalf("record %+v", ev)
			}
			// Two messages through the one upstream connection.
			for i := range 2 {
				if err := send(c, tc.from, []string{bob, "carol@example.org"}, msg(tc.from, bob, fmt.Sprintf("page %d\r\n.leading dot", i))); err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
			}
			if err := c.Quit(); err != nil {
				t.Fatal(err)
			}
			msgs, logins2, _ := e.up.state()
			if len(msgs) != len(before)+2 || logins2 != logins+1 {
				t.Fatalf("upstream got %d messages in %d logins", len(msgs)-len(before), logins2-logins)
			}
			m := msgs[len(msgs)-1]
			if m.from != tc.from || strings.Join(m.to, ",") != bob+",carol@example.org" || m.data != msg(tc.from, bob, "page 1\r\n.leading dot") {
				t.Fatalf("relayed %+v", m)
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	e := startSMTP(t, nil)
	e.gate.Add(bridgefake.Account{Password: "scanner", User: store.User{UPN: alice},
		Credential: store.BridgeCredential{Scopes: []string{apppassword.ScopeSMTPSend}, From: []string{"scans@example.com"}}})
	e.gate.Add(bridgefake.Account{Password: "reader", User: store.User{UPN: alice}, Credential: store.BridgeCredential{Scopes: []string{apppassword.ScopePOP}}})
	e.gate.Add(bridgefake.Account{Password: "policy", User: store.User{UPN: alice}, Credential: store.BridgeCredential{Scopes: []string{apppassword.ScopeSMTPSend}}, Deny: signin.ReasonPolicy})
	e.gate.Add(bridgefake.Account{Password: "broken", User: store.User{UPN: alice}, Credential: store.BridgeCredential{Scopes: []string{apppassword.ScopeSMTPSend}}, Temporary: true})

	for _, tc := range []struct {
		name, pass, code, text, reason string
	}{
		{"a wrong app password", "wrong", "535 5.7.8", "Invalid credentials", "wrong_password"},
		{"a POP-only credential", "reader", "535 5.7.8", "Invalid credentials", "credential_scope"},
		{"the policy", "policy", "535 5.7.8", "Your organisation's access policy refuses this connection", "policy"},
		{"Sekisho failing", "broken", "454 4.7.0", "Sekisho cannot check the login now", "directory_error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := e.client(t, true)
			err := c.Auth(sasl.NewPlainClient("", alice, tc.pass))
			got, text := code(err)
			ev := e.gate.Last()
			if got != tc.code || !strings.HasPrefix(text, tc.text) || !strings.HasSuffix(text, "(ref "+ev.ID+")") || ev.Reason != tc.reason {
				t.Fatalf("AUTH: %v; record %+v", err, ev)
			}
		})
	}

	t.Run("senders outside the credential's scope", func(t *testing.T) {
		c := e.login(t, false, alice, "scanner")
		err := c.Mail(alice, nil)
		got, text := code(err)
		ev := e.gate.Last()
		if got != "550 5.7.1" || !strings.Contains(text, "<"+alice+"> is not allowed") || !strings.HasSuffix(text, "(ref "+ev.ID+")") ||
			ev.Decision != "error" || ev.Reason != "rejected_request: sender_not_allowed: envelope sender <"+alice+">" {
			t.Fatalf("MAIL: %v; record %+v", err, ev)
		}
		for _, tc := range []struct{ header, reason, text string }{
			{msg(alice, bob, "hi"), "header From <" + alice + ">", "The message's sender <" + alice + "> is not allowed"},
			{"From: scans@example.com\r\nSender: " + alice + "\r\n\r\nhi\r\n", "header Sender <" + alice + ">", "The message's sender <" + alice + "> is not allowed"},
			{"To: " + bob + "\r\n\r\nhi\r\n", "header has no From field", "The message's header has no From field"},
		} {
			err := send(c, "scans@example.com", []string{bob}, tc.header)
			got, text := code(err)
			ev := e.gate.Last()
			if got != "550 5.7.1" || !strings.HasPrefix(text, tc.text) || !strings.HasSuffix(text, "(ref "+ev.ID+")") ||
				ev.Reason != "rejected_request: sender_not_allowed: "+tc.reason {
				t.Fatalf("DATA %q: %v; record %+v", tc.header, err, ev)
			}
		}
		// The session goes on, and a message from the allowed sender is sent.
		before, _, _ := e.up.state()
		if err := send(c, "scans@example.com", []string{bob}, msg("scans@example.com", bob, "ok")); err != nil {
			t.Fatal(err)
		}
		if msgs, _, _ := e.up.state(); len(msgs) != len(before)+1 {
			t.Fatalf("upstream messages %d → %d", len(before), len(msgs))
		}
	})

	t.Run("a recipient the upstream refuses", func(t *testing.T) {
		c := e.login(t, true, alice, e.pw)
		if err := c.Mail(alice, nil); err != nil {
			t.Fatal(err)
		}
		err := c.Rcpt("nobody@example.org", nil)
		if got, text := code(err); got != "550 5.1.1" || text != "nobody@example.org: no such user here" {
			t.Fatalf("RCPT: %v", err)
		}
	})

	t.Run("MAIL before AUTH", func(t *testing.T) {
		c := e.client(t, true)
		if got, _ := code(c.Mail(alice, nil)); got != "530 5.7.0" {
			t.Fatalf("MAIL: %v", got)
		}
	})

	t.Run("no AUTH before TLS", func(t *testing.T) {
		records := len(e.gate.Records())
		rc := e.raw(t)
		if ehlo := rc.cmd("EHLO printer"); strings.Contains(ehlo, "AUTH") || !strings.Contains(ehlo, "STARTTLS") {
			t.Fatalf("EHLO before TLS: %q", ehlo)
		}
		ans := rc.cmd("AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00"+alice+"\x00"+e.pw)))
		if !strings.HasPrefix(ans, "538 5.7.11 Encryption required") {
			t.Fatalf("AUTH: %q", ans)
		}
		if n := len(e.gate.Records()); n != records {
			t.Fatal("the gate judged a cleartext login")
		}
	})

	t.Run("data behind STARTTLS is refused", func(t *testing.T) {
		records := len(e.gate.Records())
		rc := e.raw(t)
		rc.cmd("EHLO printer")
		ans := rc.cmd("STARTTLS\r\nAUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00"+alice+"\x00"+e.pw)))
		if !strings.HasPrefix(ans, "220 ") {
			t.Fatalf("STARTTLS: %q", ans)
		}
		tc := tls.Client(rc.c, &tls.Config{RootCAs: e.certs.Pool, ServerName: "localhost"})
		if err := tc.Handshake(); err == nil {
			t.Fatal("TLS after injected data")
		}
		if n := len(e.gate.Records()); n != records {
			t.Fatal("the injected login was judged")
		}
	})

	t.Run("three refused logins close the connection", func(t *testing.T) {
		c := e.client(t, true)
		for i := range 3 {
			if got, _ := code(c.Auth(sasl.NewPlainClient("", alice, "wrong"))); got != "535 5.7.8" {
				t.Fatalf("attempt %d: %s", i, got)
			}
		}
		if err := c.Noop(); err == nil {
			t.Fatal("the connection stayed open")
		}
	})

	t.Run("an unsupported mechanism", func(t *testing.T) {
		c := e.client(t, true)
		if got, _ := code(c.Auth(sasl.NewAnonymousClient("x"))); got != "504 5.7.4" {
			t.Fatalf("AUTH ANONYMOUS: %s", got)
		}
	})
}

func TestCleartextLogin(t *testing.T) {
	e := startSMTP(t, func(e *smtpEnv) { e.srv.AllowCleartextLogin = true })
	c, err := smtp.Dial(e.addrs[false])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ok, mechs := c.Extension("AUTH"); !ok || mechs != "PLAIN LOGIN" {
		t.Fatalf("AUTH %v %q", ok, mechs)
	}
	if err := c.Auth(sasl.NewLoginClient(alice, e.pw)); err != nil {
		t.Fatal(err)
	}
	// A body line that reads STARTTLS is only text.
	if err := send(c, alice, []string{bob}, msg(alice, bob, "STARTTLS\r\nmore")); err != nil {
		t.Fatal(err)
	}
	if msgs, _, _ := e.up.state(); len(msgs) != 1 || !strings.Contains(msgs[0].data, "STARTTLS\r\nmore") {
		t.Fatalf("relayed %+v", msgs)
	}
}

func TestMessageSize(t *testing.T) {
	e := startSMTP(t, func(e *smtpEnv) { e.srv.MaxMessageBytes = 4000 })
	c := e.login(t, false, alice, e.pw)
	big := msg(alice, bob, strings.Repeat("0123456789abcdef\r\n", 300))
	err := send(c, alice, []string{bob}, big)
	if got, text := code(err); got != "552 5.3.4" || text != "The message is larger than the 4000 bytes this mail bridge accepts" {
		t.Fatalf("a large message: %v", err)
	}
	if err := c.Mail(alice, &smtp.MailOptions{Size: 5000}); err == nil {
		t.Fatal("MAIL with SIZE over the limit accepted")
	}
	// The next message goes through, on a new upstream connection.
	if err := send(c, alice, []string{bob}, msg(alice, bob, "small")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		msgs, logins, aborted := e.up.state()
		if len(msgs) == 1 && strings.Contains(msgs[0].data, "small") && logins == 2 && aborted == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("upstream: %d messages, %d logins, %d aborted", len(msgs), logins, aborted)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestUpstream(t *testing.T) {
	for _, tc := range []struct {
		name      string
		implicit  bool
		mechanism string
		user      string
		down      bool
		code      string
		text      string
		reason    string
	}{
		{name: "implicit TLS, OAUTHBEARER", implicit: true, mechanism: bridge.OAuthBearer},
		{name: "STARTTLS, XOAUTH2"},
		{name: "a token the server refuses (XOAUTH2)", user: "bob@example.com", code: "535 5.7.8", text: "The mail server refused the bridge's token",
			reason: "rejected_request: upstream: the mail server refused the token (401)"},
		{name: "a token the server refuses (OAUTHBEARER)", user: "bob@example.com", mechanism: bridge.OAuthBearer, code: "535 5.7.8",
			text: "The mail server refused the bridge's token", reason: "rejected_request: upstream: "},
		{name: "the server down", down: true, code: "454 4.7.0", text: "The mail server cannot be reached", reason: "rejected_request: upstream: upstream 127.0.0.1:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := startSMTP(t, func(e *smtpEnv) {
				e.up = startFakeSMTP(t, e.certs, tc.implicit)
				mode := bridge.TLSStartTLS
				if tc.implicit {
					mode = bridge.TLSImplicit
				}
				addr := e.up.addr
				if tc.down {
					l := bridgefake.Listen(t)
					addr = l.Addr().String()
					_ = l.Close()
				}
				e.srv.Upstream = &bridge.Upstream{SMTP: bridge.Endpoint{Address: addr, TLS: mode}, TLS: e.certs.Client,
					Mechanism: tc.mechanism, Tokens: bridgefake.Tokens{}, Timeout: 5 * time.Second}
			})
			user := alice
			if tc.user != "" {
				user = tc.user
				e.gate.Add(bridgefake.Account{Password: e.pw, User: store.User{UPN: user}, Credential: store.BridgeCredential{Scopes: []string{apppassword.ScopeSMTPSend}}})
			}
			c := e.client(t, true)
			err := c.Auth(sasl.NewPlainClient("", user, e.pw))
			if tc.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				if err := send(c, user, []string{bob}, msg(user, bob, "hi")); err != nil {
					t.Fatal(err)
				}
				return
			}
			got, text := code(err)
			recs := e.gate.Records()
			last := recs[len(recs)-1]
			if got != tc.code || !strings.HasPrefix(text, tc.text) || len(recs) != 2 || recs[0].Decision != "allow" ||
				!strings.HasPrefix(last.Reason, tc.reason) || !strings.HasSuffix(text, "(ref "+last.ID+")") {
				t.Fatalf("AUTH: %v; records %+v", err, recs)
			}
		})
	}
}

func TestRevocationClosesTheSession(t *testing.T) {
	e := startSMTP(t, nil)
	c := e.login(t, true, alice, e.pw)
	if err := send(c, alice, []string{bob}, msg(alice, bob, "one")); err != nil {
		t.Fatal(err)
	}
	e.gate.Store.Revoke("c-" + e.pw)
	deadline := time.Now().Add(5 * time.Second)
	for c.Noop() == nil {
		if time.Now().After(deadline) {
			t.Fatal("the session stayed open after the revocation")
		}
		time.Sleep(20 * time.Millisecond)
	}
	c2 := e.client(t, true)
	if got, _ := code(c2.Auth(sasl.NewPlainClient("", alice, e.pw))); got != "535 5.7.8" || e.gate.Last().Reason != "credential_revoked" {
		t.Fatalf("after the revocation: %s %+v", got, e.gate.Last())
	}
}

func TestShutdownClosesSessions(t *testing.T) {
	e := startSMTP(t, nil)
	c := e.login(t, false, alice, e.pw)
	if err := c.Mail(alice, nil); err != nil {
		t.Fatal(err)
	}
	e.stop()
	select {
	case <-e.done:
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
	if err := c.Noop(); err == nil {
		t.Fatal("the session stayed open")
	}
}

func TestConnectionLimit(t *testing.T) {
	e := startSMTP(t, func(e *smtpEnv) { e.srv.MaxConns = 1 })
	first := e.raw(t)
	second := e.raw0(t)
	if l := second.line(); !strings.HasPrefix(l, "421 4.7.0 Too many connections") {
		t.Fatalf("second connection: %q", l)
	}
	if ans := first.cmd("NOOP"); !strings.HasPrefix(ans, "250") {
		t.Fatalf("first connection: %q", ans)
	}
}

// rawConn is a device speaking SMTP by hand, for what clients will not send.
type rawConn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

// raw connects to the STARTTLS door and reads its greeting.
func (e *smtpEnv) raw(t *testing.T) *rawConn {
	t.Helper()
	rc := e.raw0(t)
	if g := rc.line(); !strings.HasPrefix(g, "220 bridge.test ESMTP") {
		t.Fatalf("greeting %q", g)
	}
	return rc
}

func (e *smtpEnv) raw0(t *testing.T) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", e.addrs[false])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawConn{t: t, c: c, r: bufio.NewReader(c)}
}

func (rc *rawConn) line() string {
	rc.t.Helper()
	return bridgefake.ReadLine(rc.t, rc.r)
}

// cmd sends line and returns the reply, its lines joined with "|".
func (rc *rawConn) cmd(line string) string {
	rc.t.Helper()
	if _, err := io.WriteString(rc.c, line+"\r\n"); err != nil {
		rc.t.Fatal(err)
	}
	var out []string
	for {
		l := rc.line()
		out = append(out, l)
		if len(l) < 4 || l[3] != '-' {
			return strings.Join(out, "|")
		}
	}
}
