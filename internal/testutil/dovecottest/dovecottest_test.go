package dovecottest_test

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/smtp"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/testutil/dovecottest"
)

const (
	user      = "alice@example.com"
	goodToken = "GOOD-token-alice"
	clientID  = "mail-bridge"
	secret    = "s3cr:et/p@ss%" // needs URL escaping in the userinfo
)

// introspector is a fake RFC 7662 endpoint: only goodToken is active.
type introspector struct {
	mu     sync.Mutex
	tokens []string
	errs   []string
}

func (in *introspector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	in.mu.Lock()
	defer in.mu.Unlock()
	id, pw, ok := r.BasicAuth()
	switch {
	case r.Method != http.MethodPost:
		in.errs = append(in.errs, "method "+r.Method)
	case !ok || id != clientID || pw != secret:
		in.errs = append(in.errs, fmt.Sprintf("basic auth %v %q %q", ok, id, pw))
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	tok := r.PostFormValue("token")
	in.tokens = append(in.tokens, tok)
	w.Header().Set("Content-Type", "application/json")
	if tok == goodToken {
		json.NewEncoder(w).Encode(map[string]any{"active": true, "username": user, "client_id": clientID, "scope": "openid email"})
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"active": false})
}

func (in *introspector) check(t *testing.T) (tokens []string) {
	t.Helper()
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, e := range in.errs {
		t.Errorf("introspection endpoint: %s", e)
	}
	return append([]string(nil), in.tokens...)
}

func startIntrospector(t *testing.T) (*introspector, string, string) {
	in := &introspector{}
	ts := httptest.NewTLSServer(in)
	t.Cleanup(ts.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	return in, ts.URL + "/oidc/introspect", caFile
}

func xoauth2(u, tok string) string {
	return base64.StdEncoding.EncodeToString([]byte("user=" + u + "\x01auth=Bearer " + tok + "\x01\x01"))
}

func oauthbearer(u, host, port, tok string) string {
	return base64.StdEncoding.EncodeToString([]byte("n,a=" + u + ",\x01host=" + host + "\x01port=" + port + "\x01auth=Bearer " + tok + "\x01\x01"))
}

// conn is a line-oriented client for IMAP and POP3.
type conn struct {
	t  *testing.T
	nc net.Conn
	r  *textproto.Reader
	n  int
}

func dial(t *testing.T, addr string, cfg *tls.Config) *conn {
	t.Helper()
	var nc net.Conn
	var err error
	if cfg != nil {
		nc, err = tls.Dial("tcp", addr, cfg)
	} else {
		nc, err = net.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	return &conn{t: t, nc: nc, r: textproto.NewReader(bufio.NewReader(nc))}
}

func (c *conn) line() string {
	c.t.Helper()
	l, err := c.r.ReadLine()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return l
}

func (c *conn) send(s string) {
	c.t.Helper()
	if _, err := fmt.Fprintf(c.nc, "%s\r\n", s); err != nil {
		c.t.Fatal(err)
	}
}

// imap sends a tagged command and returns the untagged lines and the tagged status line.
// A SASL challenge ("+ ...", e.g. the error JSON of XOAUTH2) is answered with an empty line.
func (c *conn) imap(cmd string) (untagged []string, status string) {
	c.t.Helper()
	c.n++
	tag := fmt.Sprintf("a%d", c.n)
	c.send(tag + " " + cmd)
	for {
		l := c.line()
		switch {
		case strings.HasPrefix(l, tag+" "):
			return untagged, strings.TrimPrefix(l, tag+" ")
		case strings.HasPrefix(l, "+"):
			c.send("")
		default:
			untagged = append(untagged, l)
		}
	}
}

// pop sends a POP3 command and returns its status line; a SASL challenge is answered with
// an empty line.
func (c *conn) pop(cmd string) string {
	c.t.Helper()
	c.send(cmd)
	for {
		l := c.line()
		if strings.HasPrefix(l, "+ ") || l == "+" {
			c.send("")
			continue
		}
		return l
	}
}

func TestDovecot(t *testing.T) {
	in, url, caFile := startIntrospector(t)
	begin := time.Now()
	s := dovecottest.Start(t, dovecottest.Options{IntrospectURL: url, ClientID: clientID, ClientSecret: secret, CAFile: caFile})
	t.Logf("Start took %v", time.Since(begin))
	s.Seed(t, user, 3, 2000)
	if ents, err := os.ReadDir(filepath.Join(s.Mailbox(user), "cur")); err != nil || len(ents) != 3 {
		t.Fatalf("Maildir cur: %d entries, %v", len(ents), err)
	}

	t.Run("IMAPS", func(t *testing.T) {
		c := dial(t, s.IMAPAddr, s.TLSConfig())
		if g := c.line(); !strings.HasPrefix(g, "* OK") {
			t.Fatalf("greeting %q", g)
		}
		caps, st := c.imap("CAPABILITY")
		if !strings.HasPrefix(st, "OK") || !strings.Contains(strings.Join(caps, " "), "AUTH=XOAUTH2") {
			t.Fatalf("CAPABILITY: %q %q", caps, st)
		}
		if strings.Contains(strings.Join(caps, " "), "AUTH=PLAIN") {
			t.Errorf("PLAIN offered: %q", caps)
		}
		if _, st := c.imap("LOGIN alice pw"); strings.HasPrefix(st, "OK") {
			t.Fatalf("LOGIN accepted: %q", st)
		} else {
			t.Logf("LOGIN: %s", st)
		}
		if _, st := c.imap("AUTHENTICATE XOAUTH2 " + xoauth2(user, "BAD-token")); !strings.HasPrefix(st, "NO") {
			t.Fatalf("bad token: %q", st)
		}
		if _, st := c.imap("AUTHENTICATE XOAUTH2 " + xoauth2(user, goodToken)); !strings.HasPrefix(st, "OK") {
			t.Fatalf("good token: %q", st)
		}
		un, st := c.imap("SELECT INBOX")
		if !strings.HasPrefix(st, "OK") || !contains(un, "* 3 EXISTS") {
			t.Fatalf("SELECT: %q %q", un, st)
		}
		un, st = c.imap("FETCH 2 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
		if !strings.HasPrefix(st, "OK") || !strings.Contains(strings.Join(un, "\n"), "Subject: Seed message 2") {
			t.Fatalf("FETCH: %q %q", un, st)
		}
		c.imap("LOGOUT")
	})

	t.Run("IMAPStartTLSOAuthBearer", func(t *testing.T) {
		c := dial(t, s.IMAPPlainAddr, nil)
		if g := c.line(); !strings.HasPrefix(g, "* OK") {
			t.Fatalf("greeting %q", g)
		}
		if _, st := c.imap("STARTTLS"); !strings.HasPrefix(st, "OK") {
			t.Fatalf("STARTTLS: %q", st)
		}
		tc := tls.Client(c.nc, s.TLSConfig())
		c.nc, c.r = tc, textproto.NewReader(bufio.NewReader(tc))
		_, port, _ := net.SplitHostPort(s.IMAPPlainAddr)
		if _, st := c.imap("AUTHENTICATE OAUTHBEARER " + oauthbearer(user, "127.0.0.1", port, goodToken)); !strings.HasPrefix(st, "OK") {
			t.Fatalf("OAUTHBEARER: %q", st)
		}
		if un, st := c.imap("STATUS INBOX (MESSAGES)"); !strings.HasPrefix(st, "OK") || !strings.Contains(strings.Join(un, " "), "MESSAGES 3") {
			t.Fatalf("STATUS: %q %q", un, st)
		}
	})

	t.Run("IMAPUsernameMismatch", func(t *testing.T) {
		c := dial(t, s.IMAPAddr, s.TLSConfig())
		c.line()
		if _, st := c.imap("AUTHENTICATE XOAUTH2 " + xoauth2("mallory@example.com", goodToken)); strings.HasPrefix(st, "OK") {
			t.Fatalf("token of alice accepted for mallory: %q", st)
		}
	})

	t.Run("POP3S", func(t *testing.T) {
		c := dial(t, s.POPAddr, s.TLSConfig())
		if g := c.line(); !strings.HasPrefix(g, "+OK") {
			t.Fatalf("greeting %q", g)
		}
		if st := c.pop("AUTH XOAUTH2 " + xoauth2(user, "BAD-token")); !strings.HasPrefix(st, "-ERR") {
			t.Fatalf("bad token: %q", st)
		}
		if st := c.pop("AUTH XOAUTH2 " + xoauth2(user, goodToken)); !strings.HasPrefix(st, "+OK") {
			t.Fatalf("AUTH: %q", st)
		}
		if st := c.pop("STAT"); !strings.HasPrefix(st, "+OK 3 ") {
			t.Fatalf("STAT: %q", st)
		}
		c.pop("QUIT")
	})

	t.Run("Submission", func(t *testing.T) {
		nc, err := net.Dial("tcp", s.SubmissionAddr)
		if err != nil {
			t.Fatal(err)
		}
		nc.SetDeadline(time.Now().Add(30 * time.Second))
		c, err := smtp.NewClient(nc, "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Hello("client.test"); err != nil {
			t.Fatal(err)
		}
		if err := c.StartTLS(s.TLSConfig()); err != nil {
			t.Fatal(err)
		}
		if ok, mechs := c.Extension("AUTH"); !ok || !strings.Contains(mechs, "XOAUTH2") || strings.Contains(mechs, "PLAIN") {
			t.Fatalf("AUTH %v %q", ok, mechs)
		}
		if err := c.Auth(xoauth2Auth{user, goodToken}); err != nil {
			t.Fatal(err)
		}
		from, to := user, "bob@example.org"
		if err := c.Mail(from); err != nil {
			t.Fatal(err)
		}
		if err := c.Rcpt(to); err != nil {
			t.Fatal(err)
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(w, "From: <%s>\r\nTo: <%s>\r\nSubject: relayed\r\nMessage-ID: <relay-1@client.test>\r\n\r\nHello Bob.\r\n", from, to)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		c.Quit()
		m := s.Relay.Next(t, 30*time.Second)
		if m.From != from || len(m.To) != 1 || m.To[0] != to || !strings.Contains(string(m.Data), "Subject: relayed") || !strings.Contains(string(m.Data), "Hello Bob.") {
			t.Fatalf("relayed %+v", m)
		}
	})

	tokens := in.check(t)
	if !contains(tokens, goodToken) || !contains(tokens, "BAD-token") {
		t.Errorf("introspected tokens %q", tokens)
	}
}

// TestSeedMany: 10,000 seeded messages are all in the mailbox Dovecot serves (the time it
// takes is logged, not asserted).
func TestSeedMany(t *testing.T) {
	_, url, caFile := startIntrospector(t)
	s := dovecottest.Start(t, dovecottest.Options{IntrospectURL: url, ClientID: clientID, ClientSecret: secret, CAFile: caFile})
	begin := time.Now()
	s.Seed(t, user, 10000, 1024)
	t.Logf("Seed of 10,000 messages took %v", time.Since(begin)) // measured, not asserted (make bench-bridge seeds the same)
	c := dial(t, s.IMAPAddr, s.TLSConfig())
	c.line()
	if _, st := c.imap("AUTHENTICATE XOAUTH2 " + xoauth2(user, goodToken)); !strings.HasPrefix(st, "OK") {
		t.Fatalf("AUTHENTICATE: %q", st)
	}
	begin = time.Now()
	un, st := c.imap("SELECT INBOX")
	if !strings.HasPrefix(st, "OK") || !contains(un, "* 10000 EXISTS") {
		t.Fatalf("SELECT: %q %q", un, st)
	}
	t.Logf("first SELECT of 10,000 took %v", time.Since(begin))
	un, st = c.imap("SEARCH HEADER Subject \"Seed message 9999\"")
	if !strings.HasPrefix(st, "OK") || !contains(un, "* SEARCH 9999") {
		t.Fatalf("SEARCH: %q %q", un, st)
	}
}

type xoauth2Auth struct{ user, token string }

func (a xoauth2Auth) Start(*smtp.ServerInfo) (string, []byte, error) {
	return "XOAUTH2", []byte("user=" + a.user + "\x01auth=Bearer " + a.token + "\x01\x01"), nil
}

func (a xoauth2Auth) Next(_ []byte, more bool) ([]byte, error) {
	if more {
		return []byte{}, nil // acknowledge the error challenge; the server then fails the AUTH
	}
	return nil, nil
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
