package popproxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/bridge"
	"github.com/sekisho/sekisho/internal/bridge/apppassword"
	"github.com/sekisho/sekisho/internal/bridge/bridgefake"
	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/store"
)

const alice = "alice@example.com"

// fakePOP is an upstream POP3 server that takes only bridgefake's token for the user.
type fakePOP struct {
	addr     string
	implicit bool
	inUse    bool

	mu      sync.Mutex
	auths   []string // the AUTH lines as sent
	answers []string // the answers to its error challenges
}

func startFakePOP(t *testing.T, certs bridgefake.TLS, implicit bool) *fakePOP {
	l := bridgefake.Listen(t)
	f := &fakePOP{addr: l.Addr().String(), implicit: implicit}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go f.serve(c, certs.Server)
		}
	}()
	return f
}

func (f *fakePOP) serve(c net.Conn, cfg *tls.Config) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	if f.implicit {
		c = tls.Server(c, cfg)
	}
	r := bufio.NewReader(c)
	say := func(s string) { _, _ = io.WriteString(c, s+"\r\n") }
	say("+OK fake POP3 ready")
	loggedIn := false
	for {
		line, err := readLine(r)
		if err != nil {
			return
		}
		cmd, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(cmd) {
		case "STLS":
			say("+OK Begin TLS")
			c = tls.Server(c, cfg)
			r = bufio.NewReader(c)
		case "AUTH":
			f.mu.Lock()
			f.auths = append(f.auths, line)
			f.mu.Unlock()
			mech, ir, hasIR := strings.Cut(arg, " ")
			if !hasIR {
				say("+ ")
				if ir, err = readLine(r); err != nil {
					return
				}
			}
			raw, _ := base64.StdEncoding.DecodeString(ir)
			resp := string(raw)
			good := strings.Contains(resp, "auth=Bearer "+bridgefake.TokenFor(alice)) &&
				(mech == bridge.XOAuth2 && strings.HasPrefix(resp, "user="+alice+"\x01") || mech == bridge.OAuthBearer && strings.HasPrefix(resp, "n,a="+alice+","))
			switch {
			case !good:
				say("+ " + base64.StdEncoding.EncodeToString([]byte(`{"status":"401","schemes":"bearer"}`)))
				answer, _ := readLine(r)
				f.mu.Lock()
				f.answers = append(f.answers, answer)
				f.mu.Unlock()
				say("-ERR [AUTH] Authentication failed.")
			case f.inUse:
				say("-ERR [IN-USE] Mailbox is locked by another session")
			default:
				loggedIn = true
				say("+OK Logged in.")
			}
		case "STAT":
			if loggedIn {
				say("+OK 2 320")
			} else {
				say("-ERR not logged in")
			}
		case "QUIT":
			say("+OK Logging out.")
			return
		default:
			say("-ERR Unknown command")
		}
	}
}

func (f *fakePOP) seen() (auths, answers []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.auths...), append([]string(nil), f.answers...)
}

type popEnv struct {
	t     *testing.T
	gate  *bridgefake.Gate
	certs bridgefake.TLS
	up    *fakePOP
	srv   *Server
	addrs map[bool]string // implicit TLS → address
	pw    string          // alice's pop app password
}

// startPOP runs the door (an implicit-TLS and a STLS listener) in front of a fake upstream.
func startPOP(t *testing.T, change func(*popEnv)) *popEnv {
	t.Helper()
	e := &popEnv{t: t, gate: bridgefake.NewGate(), certs: bridgefake.NewTLS(t), addrs: map[bool]string{}}
	e.up = startFakePOP(t, e.certs, true)
	e.pw = "pop-pw"
	e.gate.Add(bridgefake.Account{Password: e.pw, User: store.User{UPN: alice}, Credential: store.BridgeCredential{Scopes: []string{apppassword.ScopePOP}}})
	e.srv = &Server{bridge.Settings{Door: e.gate.Door(), TLS: e.certs.Server, Recheck: 50 * time.Millisecond, PreAuthTimeout: 5 * time.Second,
		Log: slog.New(slog.DiscardHandler),
		Upstream: &bridge.Upstream{POP: bridge.Endpoint{Address: e.up.addr, TLS: bridge.TLSImplicit}, TLS: e.certs.Client,
			Tokens: bridgefake.Tokens{}, Timeout: 5 * time.Second}}}
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
	t.Cleanup(func() { cancel(); wg.Wait() })
	return e
}

// popConn is a device's connection to the door.
type popConn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func (e *popEnv) dial(implicit bool) *popConn {
	e.t.Helper()
	var c net.Conn
	var err error
	if implicit {
		c, err = tls.Dial("tcp", e.addrs[true], &tls.Config{RootCAs: e.certs.Pool, ServerName: "localhost"})
	} else {
		c, err = net.Dial("tcp", e.addrs[false])
	}
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	pc := &popConn{t: e.t, c: c, r: bufio.NewReader(c)}
	if g := pc.line(); !strings.HasPrefix(g, "+OK") {
		e.t.Fatalf("greeting %q", g)
	}
	return pc
}

func (pc *popConn) line() string {
	pc.t.Helper()
	return bridgefake.ReadLine(pc.t, pc.r)
}

// cmd sends one line and returns the first line of the answer.
func (pc *popConn) cmd(line string) string {
	pc.t.Helper()
	if _, err := io.WriteString(pc.c, line+"\r\n"); err != nil {
		pc.t.Fatal(err)
	}
	return pc.line()
}

// multi reads the lines of a multi-line answer after its status line, up to ".".
func (pc *popConn) multi() []string {
	pc.t.Helper()
	var out []string
	for {
		l := pc.line()
		if l == "." {
			return out
		}
		out = append(out, l)
	}
}

// closed reports whether the door closed the connection.
func (pc *popConn) closed() bool {
	_ = pc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := pc.r.ReadByte()
	return err != nil && !errors.Is(err, context.DeadlineExceeded) && !isTimeout(err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// startTLS upgrades a STLS-door connection.
func (pc *popConn) startTLS(pool *x509.CertPool) {
	pc.t.Helper()
	if ans := pc.cmd("STLS"); !strings.HasPrefix(ans, "+OK") {
		pc.t.Fatalf("STLS: %q", ans)
	}
	tc := tls.Client(pc.c, &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err := tc.Handshake(); err != nil {
		pc.t.Fatal(err)
	}
	pc.c, pc.r = tc, bufio.NewReader(tc)
}

func plain(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
}

func TestLoginAndRelay(t *testing.T) {
	e := startPOP(t, nil)
	for _, tc := range []struct {
		name     string
		implicit bool
		login    func(pc *popConn) string
	}{
		{"USER and PASS over TLS", true, func(pc *popConn) string {
			if ans := pc.cmd("USER " + alice); !strings.HasPrefix(ans, "+OK") {
				t.Fatalf("USER: %q", ans)
			}
			return pc.cmd("PASS " + e.pw)
		}},
		{"AUTH PLAIN with an initial response", true, func(pc *popConn) string {
			return pc.cmd("AUTH PLAIN " + plain(alice, e.pw))
		}},
		{"AUTH PLAIN after the continuation, after STLS", false, func(pc *popConn) string {
			pc.startTLS(e.certs.Pool)
			if ans := pc.cmd("auth plain"); ans != "+ " {
				t.Fatalf("AUTH PLAIN: %q", ans)
			}
			return pc.cmd(plain(alice, e.pw))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pc := e.dial(tc.implicit)
			pc.t = t
			if ans := tc.login(pc); ans != "+OK Logged in." {
				t.Fatalf("login: %q", ans)
			}
			if ev := e.gate.Last(); ev.Decision != "allow" || ev.Protocol != apppassword.ProtocolPOP || ev.Username != alice {
				t.Fatalf("record %+v", ev)
			}
			if ans := pc.cmd("STAT"); ans != "+OK 2 320" {
				t.Fatalf("STAT through the bridge: %q", ans)
			}
			if ans := pc.cmd("QUIT"); !strings.HasPrefix(ans, "+OK") {
				t.Fatalf("QUIT: %q", ans)
			}
		})
	}
	if auths, _ := e.up.seen(); len(auths) != 3 || !strings.HasPrefix(auths[0], "AUTH XOAUTH2 ") {
		t.Fatalf("upstream AUTH lines %q", auths)
	}
}

// longTokens are access tokens too long for an initial response on the AUTH line.
type longTokens struct{}

func (longTokens) Token(_ context.Context, l bridge.Login) (string, error) {
	return bridgefake.TokenFor(l.User.UPN) + strings.Repeat("x", 300), nil
}

func TestCapabilities(t *testing.T) {
	e := startPOP(t, nil)
	pc := e.dial(false)
	if ans := pc.cmd("CAPA"); !strings.HasPrefix(ans, "+OK") {
		t.Fatalf("CAPA: %q", ans)
	}
	before := strings.Join(pc.multi(), ",")
	if !strings.Contains(before, "STLS") || strings.Contains(before, "USER") || strings.Contains(before, "SASL") ||
		!strings.Contains(before, "RESP-CODES") || !strings.Contains(before, "AUTH-RESP-CODE") || !strings.Contains(before, "IMPLEMENTATION") {
		t.Fatalf("CAPA before TLS: %s", before)
	}
	if ans := pc.cmd("AUTH"); ans != "+OK" || len(pc.multi()) != 0 {
		t.Fatalf("AUTH list before TLS: %q", ans)
	}
	pc.startTLS(e.certs.Pool)
	pc.cmd("CAPA")
	after := strings.Join(pc.multi(), ",")
	if strings.Contains(after, "STLS") || !strings.Contains(after, "USER") || !strings.Contains(after, "SASL PLAIN") {
		t.Fatalf("CAPA after TLS: %s", after)
	}
	if ans := pc.cmd("AUTH"); ans != "+OK" || strings.Join(pc.multi(), ",") != "PLAIN" {
		t.Fatalf("AUTH list after TLS: %q", ans)
	}
	if ans := pc.cmd("STLS"); !strings.HasPrefix(ans, "-ERR") {
		t.Fatalf("STLS twice: %q", ans)
	}
}

func TestRefusals(t *testing.T) {
	e := startPOP(t, nil)
	e.gate.Add(bridgefake.Account{Password: "send-only", User: store.User{UPN: alice}, Credential: store.BridgeCredential{Scopes: []string{apppassword.ScopeSMTPSend}}})
	e.gate.Add(bridgefake.Account{Password: "policy", User: store.User{UPN: alice}, Credential: store.BridgeCredential{Scopes: []string{apppassword.ScopePOP}}, Deny: signin.ReasonPolicy})
	e.gate.Add(bridgefake.Account{Password: "broken", User: store.User{UPN: alice}, Credential: store.BridgeCredential{Scopes: []string{apppassword.ScopePOP}}, Temporary: true})
	for _, tc := range []struct {
		name, pass, answer, reason string
	}{
		{"a wrong app password", "wrong", "-ERR [AUTH] Invalid credentials", "wrong_password"},
		{"a send-only credential", "send-only", "-ERR [AUTH] Invalid credentials", "credential_scope"},
		{"the policy", "policy", "-ERR [AUTH] Your organisation's access policy refuses this connection", "policy"},
		{"Sekisho failing", "broken", "-ERR [SYS/TEMP] Sekisho cannot check the login now", "directory_error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pc := e.dial(true)
			pc.t = t
			pc.cmd("USER " + alice)
			ans := pc.cmd("PASS " + tc.pass)
			ev := e.gate.Last()
			if !strings.HasPrefix(ans, tc.answer) || !strings.HasSuffix(ans, "(ref "+ev.ID+")") || ev.Reason != tc.reason {
				t.Fatalf("answer %q, record %+v", ans, ev)
			}
			// The session goes on after a refusal.
			if ans := pc.cmd("AUTH PLAIN " + plain(alice, e.pw)); ans != "+OK Logged in." {
				t.Fatalf("login after a refusal: %q", ans)
			}
		})
	}

	t.Run("no login before TLS", func(t *testing.T) {
		records := len(e.gate.Records())
		pc := e.dial(false)
		pc.t = t
		for _, line := range []string{"USER " + alice, "AUTH PLAIN " + plain(alice, e.pw)} {
			if ans := pc.cmd(line); !strings.HasPrefix(ans, "-ERR [AUTH] Use STLS first") {
				t.Fatalf("%s: %q", line, ans)
			}
		}
		if ans := pc.cmd("PASS " + e.pw); !strings.HasPrefix(ans, "-ERR Send USER first") {
			t.Fatalf("PASS: %q", ans)
		}
		if n := len(e.gate.Records()); n != records {
			t.Fatalf("the gate judged a cleartext login (%d records, was %d)", n, records)
		}
	})

	t.Run("data behind STLS is refused", func(t *testing.T) {
		records := len(e.gate.Records())
		pc := e.dial(false)
		pc.t = t
		if _, err := io.WriteString(pc.c, "STLS\r\nUSER "+alice+"\r\nPASS "+e.pw+"\r\n"); err != nil {
			t.Fatal(err)
		}
		if ans := pc.line(); !strings.HasPrefix(ans, "-ERR Data sent after STLS") {
			t.Fatalf("answer %q", ans)
		}
		if !pc.closed() {
			t.Fatal("the connection stayed open")
		}
		if n := len(e.gate.Records()); n != records {
			t.Fatal("the injected login was judged")
		}
	})

	t.Run("three refused logins close the connection", func(t *testing.T) {
		pc := e.dial(true)
		pc.t = t
		for i := 0; i < 3; i++ {
			if ans := pc.cmd("AUTH PLAIN " + plain(alice, "wrong")); !strings.HasPrefix(ans, "-ERR [AUTH]") {
				t.Fatalf("attempt %d: %q", i, ans)
			}
		}
		if !pc.closed() {
			t.Fatal("the connection stayed open")
		}
	})

	t.Run("protocol", func(t *testing.T) {
		pc := e.dial(true)
		pc.t = t
		for _, tc := range []struct{ send, want string }{
			{"STAT", "-ERR Log in first"},
			{"NOOP", "-ERR Log in first"},
			{"APOP alice 0123456789abcdef", "-ERR APOP is not supported"},
			{"USER", "-ERR USER needs one user name"},
			{"PASS x", "-ERR Send USER first"},
			{"AUTH CRAM-MD5", "-ERR Unsupported mechanism"},
			{"AUTH PLAIN !!", "-ERR Invalid base64"},
			{"AUTH PLAIN *", "-ERR Authentication cancelled"},
			{"AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("bob\x00alice\x00pw")), "-ERR [AUTH] Invalid credentials"},
			{"X", "-ERR unknown command"},
			{"USER a\x00b", "-ERR invalid character in command"},
		} {
			if ans := pc.cmd(tc.send); !strings.HasPrefix(ans, tc.want) {
				t.Errorf("%q: %q, want %q", tc.send, ans, tc.want)
			}
		}
		if ans := pc.cmd("AUTH PLAIN"); ans != "+ " {
			t.Fatalf("AUTH PLAIN: %q", ans)
		}
		if ans := pc.cmd("*"); ans != "-ERR Authentication cancelled" {
			t.Fatalf("cancel: %q", ans)
		}
		if ans := pc.cmd("QUIT"); !strings.HasPrefix(ans, "+OK") || !pc.closed() {
			t.Fatalf("QUIT: %q", ans)
		}
	})

	t.Run("a line too long", func(t *testing.T) {
		pc := e.dial(true)
		pc.t = t
		if ans := pc.cmd("USER " + strings.Repeat("a", 3*maxLine)); ans != "-ERR Line too long" || !pc.closed() {
			t.Fatalf("answer %q", ans)
		}
	})
}

func TestUpstream(t *testing.T) {
	for _, tc := range []struct {
		name      string
		implicit  bool // the upstream's TLS
		mechanism string
		tokens    bridge.Tokens
		inUse     bool
		down      bool
		answer    string // the device's answer to its login
		reason    string // the second record's
		challenge string // the bridge's answer to the upstream's error challenge
	}{
		{name: "STLS and OAUTHBEARER", mechanism: bridge.OAuthBearer, answer: "+OK Logged in."},
		{name: "implicit TLS and XOAUTH2", implicit: true, answer: "+OK Logged in."},
		{name: "a long token after the continuation", implicit: true, tokens: longTokens{}, answer: "+OK Logged in."},
		{name: "a token the server refuses (XOAUTH2)", implicit: true, answer: "-ERR [AUTH] The mail server refused the bridge's token",
			reason: "rejected_request: upstream: the mail server refused the token (401)", challenge: ""},
		{name: "a token the server refuses (OAUTHBEARER)", implicit: true, mechanism: bridge.OAuthBearer, answer: "-ERR [AUTH] The mail server refused the bridge's token",
			reason: "rejected_request: upstream: ", challenge: "AQ=="},
		{name: "the mailbox in use", implicit: true, inUse: true, answer: "-ERR [IN-USE] The mailbox is in use by another session",
			reason: "rejected_request: upstream: the mail server answered -ERR [IN-USE]"},
		{name: "no token", implicit: true, tokens: bridgefake.Tokens{Err: errors.New("no grant")}, answer: "-ERR [SYS/TEMP] The mail server cannot be reached",
			reason: "rejected_request: upstream: access token: no grant"},
		{name: "the server down", implicit: true, down: true, answer: "-ERR [SYS/TEMP] The mail server cannot be reached", reason: "rejected_request: upstream: upstream 127.0.0.1:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			refused := strings.Contains(tc.name, "refuses")
			e := startPOP(t, func(e *popEnv) {
				e.up = startFakePOP(t, e.certs, tc.implicit)
				e.up.inUse = tc.inUse
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
				tokens := tc.tokens
				if tokens == nil {
					tokens = bridgefake.Tokens{}
				}
				e.srv.Upstream = &bridge.Upstream{POP: bridge.Endpoint{Address: addr, TLS: mode}, TLS: e.certs.Client,
					Mechanism: tc.mechanism, Tokens: tokens, Timeout: 5 * time.Second}
				if refused {
					// The upstream takes alice's token only.
					e.gate.Add(bridgefake.Account{Password: "bobs", User: store.User{UPN: "bob@example.com"},
						Credential: store.BridgeCredential{Scopes: []string{apppassword.ScopePOP}}})
				}
			})
			user, pw := alice, e.pw
			if refused {
				user, pw = "bob@example.com", "bobs"
			}
			pc := e.dial(true)
			pc.cmd("USER " + user)
			ans := pc.cmd("PASS " + pw)
			if !strings.HasPrefix(ans, tc.answer) {
				t.Fatalf("answer %q", ans)
			}
			recs := e.gate.Records()
			if tc.reason == "" {
				if len(recs) != 1 || pc.cmd("STAT") != "+OK 2 320" {
					t.Fatalf("records %+v", recs)
				}
				mech := tc.mechanism
				if mech == "" {
					mech = bridge.XOAuth2
				}
				want := "AUTH " + mech + " " // the initial response on the AUTH line…
				if _, long := tc.tokens.(longTokens); long {
					want = "AUTH " + mech // …unless it would make the line over 255 octets
				}
				if auths, _ := e.up.seen(); len(auths) != 1 || !strings.HasPrefix(auths[0], want) || len(auths[0]) > maxCommand-2 {
					t.Fatalf("upstream AUTH %q, want %q…", auths, want)
				}
				return
			}
			last := recs[len(recs)-1]
			if len(recs) != 2 || recs[0].Decision != "allow" || last.Decision != "error" || !strings.HasPrefix(last.Reason, tc.reason) ||
				!strings.HasSuffix(ans, "(ref "+last.ID+")") {
				t.Fatalf("answer %q, records %+v", ans, recs)
			}
			if !pc.closed() {
				t.Fatal("the connection stayed open")
			}
			if refused {
				if _, answers := e.up.seen(); len(answers) != 1 || answers[0] != tc.challenge {
					t.Fatalf("answers to the error challenge %q", answers)
				}
			}
		})
	}
}

func TestRevocationClosesTheConnection(t *testing.T) {
	e := startPOP(t, nil)
	pc := e.dial(true)
	if ans := pc.cmd("AUTH PLAIN " + plain(alice, e.pw)); ans != "+OK Logged in." {
		t.Fatalf("login %q", ans)
	}
	if ans := pc.cmd("STAT"); ans != "+OK 2 320" {
		t.Fatalf("STAT %q", ans)
	}
	e.gate.Store.Revoke("c-" + e.pw)
	if !pc.closed() {
		t.Fatal("the connection stayed open after the revocation")
	}
	pc = e.dial(true)
	if ans := pc.cmd("AUTH PLAIN " + plain(alice, e.pw)); !strings.HasPrefix(ans, "-ERR [AUTH] Invalid credentials") || e.gate.Last().Reason != "credential_revoked" {
		t.Fatalf("after the revocation: %q %+v", ans, e.gate.Last())
	}
}

func TestConnectionLimit(t *testing.T) {
	e := startPOP(t, func(e *popEnv) { e.srv.MaxConns = 1 })
	pc := e.dial(false)
	c, err := net.Dial("tcp", e.addrs[false])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	l, _ := bufio.NewReader(c).ReadString('\n')
	if !strings.HasPrefix(l, "-ERR [SYS/TEMP] Too many connections") {
		t.Fatalf("second connection: %q", l)
	}
	if ans := pc.cmd("CAPA"); !strings.HasPrefix(ans, "+OK") {
		t.Fatalf("first connection: %q", ans)
	}
}
