// Package smtpproxy is the mail bridge's SMTP submission door (RFC 6409): the server side is
// github.com/emersion/go-smtp, on an implicit-TLS listener (port 465, RFC 8314) and a
// STARTTLS one (port 587, RFC 3207).
//
// A device logs in with AUTH PLAIN or AUTH LOGIN and an app password, only over TLS unless
// Server.AllowCleartextLogin (AUTH is then not announced before STARTTLS, and refused with
// 538 5.7.11). The login is judged by bridge.Door (protocol bridge-smtp, the credential's
// smtp-send scope); an allowed one opens the session's connection to the upstream
// submission server (go-smtp's client, STARTTLS or implicit TLS verified with
// Upstream.TLSConfig) authenticated with an OAuth access token (Upstream.SASL: XOAUTH2 or
// OAUTHBEARER), and the device's mail goes through it:
//
//   - MAIL FROM must be an address the credential may send as (apppassword.MaySendFrom),
//     else 550 5.7.1 with a sign-in record (Door.Refuse, reason sender_not_allowed); MAIL
//     before AUTH is 530 5.7.0.
//   - RCPT is the upstream's: its answers are passed back as they are.
//   - DATA: the header block is read first (at most maxHeaderBytes) and every From and
//     Sender address in it checked the same way; then the message is streamed upstream
//     unchanged. A message over Server.MaxMessageBytes (default 35 MiB) is refused with 552
//     5.3.4 and never reaches the upstream (its connection is dropped mid-DATA, to be opened
//     again for the next message).
//
// Refused logins name the sign-in record: 535 5.7.8 (credentials, the policy, the upstream
// refusing the token), 454 4.7.0 (Sekisho or the upstream failing); three refused logins
// close the connection. Data
// sent behind STARTTLS before the handshake is refused (command injection), and an open
// session is closed within the recheck interval when its credential is revoked.
package smtpproxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sekisho/sekisho/internal/bridge"
)

// DefaultMaxMessageBytes bounds a message when the configuration does not: Exchange Online's
// limit.
const DefaultMaxMessageBytes = 35 << 20

const (
	maxFailures    = 3         // refused logins before the connection is closed
	maxRecipients  = 500       // per message, as Exchange Online
	maxHeaderBytes = 256 << 10 // the header block read before the message goes upstream
)

// Server is the SMTP door.
type Server struct {
	// Settings: with AllowCleartextLogin, AUTH is announced before STARTTLS (old printers
	// that cannot do TLS); PreAuthTimeout bounds each read before login (5 min in all).
	bridge.Settings
	MaxMessageBytes int64         // one message (default DefaultMaxMessageBytes)
	Timeout         time.Duration // idle after login (default 5 min, RFC 5321)
	// Domain is the name in the greeting and in the EHLO to the upstream (default
	// localhost).
	Domain string
}

// Serve accepts SMTP connections on l until ctx ends; implicitTLS means TLS from the first
// byte (port 465), else STARTTLS is offered (port 587). When ctx ends the listener and every
// connection are closed, and Serve returns once their sessions have ended.
func (s *Server) Serve(ctx context.Context, l net.Listener, implicitTLS bool) error {
	b := &backend{s: s, ctx: ctx}
	srv := smtp.NewServer(b)
	srv.Domain = s.domain()
	srv.MaxMessageBytes = s.maxMessageBytes()
	srv.MaxRecipients = maxRecipients
	// The session decides who may authenticate (AuthMechanisms, Auth): its refusal says why.
	srv.AllowInsecureAuth = true
	srv.WriteTimeout = time.Minute
	srv.ErrorLog = logger{s.Log}
	if !implicitTLS {
		srv.TLSConfig = s.TLS
	}
	ll := &listener{Listener: l, s: s, implicitTLS: implicitTLS, open: map[*devConn]struct{}{}}
	maxConns := s.MaxConns
	if maxConns <= 0 {
		maxConns = 1000
	}
	ll.sem = make(chan struct{}, maxConns)
	shutdown := func() {
		b.close()
		ll.closeAll()
		_ = srv.Close()
	}
	stop := context.AfterFunc(ctx, shutdown)
	err := srv.Serve(ll)
	if stop() { // Serve failed on its own: shut down all the same
		shutdown()
	}
	ll.conns.Wait()
	b.sessions.Wait()
	if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

func (s *Server) domain() string {
	if s.Domain == "" {
		return "localhost"
	}
	return s.Domain
}

func (s *Server) maxMessageBytes() int64 {
	if s.MaxMessageBytes <= 0 {
		return DefaultMaxMessageBytes
	}
	return s.MaxMessageBytes
}

func (s *Server) timeout() time.Duration {
	if s.Timeout <= 0 {
		return 5 * time.Minute
	}
	return s.Timeout
}

// preAuthLimit bounds the whole time before login, however often the device speaks.
const preAuthLimit = 5 * time.Minute

// listener hands go-smtp the accepted connections, at most cap(sem) at a time, each wrapped
// in a devConn (and TLS on an implicit-TLS port).
type listener struct {
	net.Listener
	s           *Server
	implicitTLS bool
	sem         chan struct{}
	conns       sync.WaitGroup

	mu     sync.Mutex
	closed bool
	open   map[*devConn]struct{}
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.sem <- struct{}{}:
		default:
			l.s.Log.Warn("mail bridge: connection limit reached", "limit", cap(l.sem), "remote", c.RemoteAddr().String())
			if !l.implicitTLS {
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				_, _ = c.Write([]byte("421 4.7.0 Too many connections, try again later\r\n"))
			}
			_ = c.Close()
			continue
		}
		now := time.Now()
		dc := &devConn{Conn: c, l: l, lines: !l.implicitTLS, preAuthEnd: now.Add(preAuthLimit),
			preAuth: l.s.PreAuth(), idle: l.s.timeout()}
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			<-l.sem
			_ = c.Close()
			return nil, net.ErrClosed
		}
		l.open[dc] = struct{}{}
		l.conns.Add(1)
		l.mu.Unlock()
		if l.implicitTLS {
			return tls.Server(dc, l.s.TLS), nil
		}
		return dc, nil
	}
}

// closeAll closes the listener and every open connection.
func (l *listener) closeAll() {
	l.mu.Lock()
	l.closed = true
	open := make([]*devConn, 0, len(l.open))
	for c := range l.open {
		open = append(open, c)
	}
	l.mu.Unlock()
	_ = l.Listener.Close()
	for _, c := range open {
		_ = c.Close()
	}
}

func (l *listener) release(c *devConn) {
	l.mu.Lock()
	delete(l.open, c)
	l.mu.Unlock()
	<-l.sem
	l.conns.Done()
}

// devConn is a device's TCP connection as go-smtp reads it.
//
// Its read deadline is its own: each read may wait preAuth (until login, and no later than
// preAuthEnd) or idle (after), so that a long DATA is bounded by silence, not by its length;
// go-smtp's read deadlines are ignored.
//
// Until STARTTLS (lines), it hands go-smtp one line per read, so that go-smtp's buffer never
// holds more than the command it is handling: when that command is STARTTLS and more bytes
// are already waiting, they were sent before the handshake and would be taken as if
// protected — the connection is closed instead. After the login (or TLS) it reads through.
type devConn struct {
	net.Conn
	l          *listener
	preAuth    time.Duration
	idle       time.Duration
	preAuthEnd time.Time

	loggedIn atomic.Bool
	ended    atomic.Bool // end: reads return EOF
	once     sync.Once

	// Only go-smtp's goroutine reads these.
	failures int // refused logins, across the sessions of the connection (STARTTLS, EHLO)
	lines    bool
	starttls bool   // the line handed over last was STARTTLS
	prefix   []byte // the first bytes of the line being handed over
	buf      [4096]byte
	pending  []byte
}

// NetConn is the connection under the limits (bridge.ConnOf reads the peer there).
func (d *devConn) NetConn() net.Conn { return d.Conn }

var errInjected = errors.New("data sent after STARTTLS before the TLS handshake")

func (c *devConn) Read(p []byte) (int, error) {
	if c.ended.Load() {
		return 0, io.EOF
	}
	loggedIn := c.loggedIn.Load()
	d := time.Now().Add(c.idle)
	if !loggedIn {
		if d = time.Now().Add(c.preAuth); d.After(c.preAuthEnd) {
			d = c.preAuthEnd
		}
	}
	_ = c.Conn.SetReadDeadline(d)
	if loggedIn {
		// A cleartext login (AllowCleartextLogin): nothing is protected by a later STARTTLS
		// that the device has not already sent in clear.
		c.lines, c.starttls = false, false
	}
	if c.starttls {
		// go-smtp answered STARTTLS and is reading the TLS handshake.
		c.starttls = false
		if len(c.pending) > 0 {
			c.l.s.Log.Warn("smtp bridge: data after STARTTLS before the handshake: closing", "remote", c.RemoteAddr().String())
			c.ended.Store(true)
			_ = c.Close()
			return 0, errInjected
		}
		c.lines = false
	}
	if len(c.pending) == 0 && !c.lines {
		return c.Conn.Read(p)
	}
	if len(c.pending) == 0 {
		n, err := c.Conn.Read(c.buf[:])
		if n == 0 {
			return 0, err
		}
		c.pending = c.buf[:n]
	}
	chunk := c.pending
	if c.lines {
		if i := bytes.IndexByte(chunk, '\n'); i >= 0 {
			chunk = chunk[:i+1]
		}
	}
	n := copy(p, chunk)
	if c.lines {
		c.track(p[:n])
	}
	c.pending = c.pending[n:]
	return n, nil
}

// track notes whether the line handed over is STARTTLS (go-smtp's test: the line starts with
// it, in any case).
func (c *devConn) track(b []byte) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		part := b
		if i >= 0 {
			part = b[:i]
		}
		if room := 8 - len(c.prefix); room > 0 {
			c.prefix = append(c.prefix, part[:min(room, len(part))]...)
		}
		if i < 0 {
			return
		}
		c.starttls = strings.EqualFold(string(c.prefix), "STARTTLS")
		c.prefix = c.prefix[:0]
		b = b[i+1:]
	}
}

// SetDeadline sets the write deadline only (reads have their own).
func (c *devConn) SetDeadline(t time.Time) error { return c.Conn.SetWriteDeadline(t) }

// SetReadDeadline is ignored (reads have their own).
func (c *devConn) SetReadDeadline(time.Time) error { return nil }

// end makes the next read return EOF, so go-smtp closes the connection after its answer.
func (c *devConn) end() { c.ended.Store(true) }

func (c *devConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c) })
	return err
}

// devConnOf finds the devConn under a go-smtp connection (TLS or not).
func devConnOf(nc net.Conn) *devConn {
	for nc != nil {
		switch x := nc.(type) {
		case *devConn:
			return x
		case *tls.Conn:
			nc = x.NetConn()
		default:
			return nil
		}
	}
	return nil
}

// logger puts go-smtp's connection errors in the debug log.
type logger struct{ log *slog.Logger }

func (l logger) Printf(format string, v ...any) {
	l.log.Debug("smtp bridge: " + fmt.Sprintf(format, v...))
}

func (l logger) Println(v ...any) {
	l.log.Debug("smtp bridge: " + strings.TrimSuffix(fmt.Sprintln(v...), "\n"))
}
