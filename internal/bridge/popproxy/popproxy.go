// Package popproxy is the mail bridge's POP3 door. It speaks POP3 (RFC 1939) to a device
// until the device has logged in — the AUTHORIZATION state only: CAPA (RFC 2449), STLS
// (RFC 2595), USER and PASS, AUTH PLAIN (RFC 5034, with an initial response or after the
// "+ " continuation; "*" cancels) and QUIT — has the login judged by bridge.Door (protocol
// bridge-pop, the credential's pop scope), logs in to the upstream server with an OAuth
// access token (AUTH XOAUTH2 or OAUTHBEARER, after STLS or over implicit TLS) and from then
// on relays the connection unchanged: every later command is the mail server's.
//
// Refusals carry RFC 3206 response codes and name the sign-in record: "-ERR [AUTH] Invalid
// credentials (ref …)" for a wrong, revoked, expired or out-of-scope app password, [AUTH]
// with its own text for the access policy, "[SYS/TEMP]" when Sekisho or the mail server fails,
// and the mail server's own [IN-USE] or [LOGIN-DELAY] when it gives one. Before TLS no login
// is taken (CAPA does not list USER or SASL) unless Server.AllowCleartextLogin; data sent
// behind STLS before the handshake is refused (command injection), lines are bounded
// (maxLine), and a connection is closed after three refused logins.
package popproxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/sekisho/sekisho/internal/bridge"
	"github.com/sekisho/sekisho/internal/bridge/apppassword"
)

// Server is the POP3 door.
type Server struct {
	bridge.Settings
}

const (
	maxFailures = 3  // refused logins before the connection is closed
	maxErrors   = 20 // unknown or malformed commands before it is closed
)

// Serve accepts POP3 connections on l until ctx ends; implicitTLS means TLS from the first
// byte (port 995), else STLS is offered (port 110).
func (s *Server) Serve(ctx context.Context, l net.Listener, implicitTLS bool) error {
	return s.Accept(ctx, l, implicitTLS, "pop", "-ERR [SYS/TEMP] Too many connections, try again later\r\n", s.serveConn)
}

// session is one device connection before login.
type session struct {
	s        *Server
	conn     net.Conn
	r        *bufio.Reader
	w        *bufio.Writer
	user     string // from USER, for PASS
	failures int
	errors   int
}

func (s *Server) serveConn(ctx context.Context, c net.Conn) {
	ss := &session{s: s, conn: c, r: bufio.NewReaderSize(c, 4096), w: bufio.NewWriterSize(c, 4096)}
	ss.reply("+OK Sekisho mail bridge ready")
	for {
		_ = ss.conn.SetDeadline(time.Now().Add(s.PreAuth()))
		line, err := readLine(ss.r)
		if err != nil {
			if errors.Is(err, errLineTooLong) {
				ss.reply("-ERR Line too long")
			}
			return
		}
		cmd, err := parseCommand(line)
		if err != nil {
			ss.reply("-ERR %s", err.(*errBad).msg)
			if ss.protocolError() {
				return
			}
			continue
		}
		done, login := ss.handle(ctx, cmd)
		if login != nil {
			ss.relay(ctx, *login)
			return
		}
		if done {
			return
		}
	}
}

func (ss *session) tls() *tls.ConnectionState { return bridge.TLSState(ss.conn) }

func (ss *session) loginAllowed() bool { return ss.tls() != nil || ss.s.AllowCleartextLogin }

// capabilities are the CAPA lines. TOP and UIDL are the upstream's (every POP3 server a
// bridge fronts has them), listed now because clients decide on them before logging in.
func (ss *session) capabilities() []string {
	var caps []string
	if ss.loginAllowed() {
		caps = append(caps, "USER", "SASL PLAIN")
	}
	if ss.tls() == nil && ss.s.TLS != nil {
		caps = append(caps, "STLS")
	}
	return append(caps, "TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "IMPLEMENTATION Sekisho-mail-bridge")
}

func (ss *session) reply(format string, args ...any) {
	fmt.Fprintf(ss.w, format, args...)
	ss.w.WriteString("\r\n")
	_ = ss.w.Flush()
}

// protocolError counts an unknown or malformed command; true ends the connection.
func (ss *session) protocolError() bool {
	ss.errors++
	if ss.errors >= maxErrors {
		ss.reply("-ERR Too many errors, closing the connection")
		return true
	}
	return false
}

// handle answers one command before login; done ends the connection, a login hands it on.
func (ss *session) handle(ctx context.Context, c command) (done bool, login *bridge.Login) {
	switch c.name {
	case "CAPA":
		ss.reply("+OK Capability list follows")
		for _, cp := range ss.capabilities() {
			ss.reply("%s", cp)
		}
		ss.reply(".")
	case "QUIT":
		ss.reply("+OK Sekisho mail bridge signing off")
		return true, nil
	case "STLS":
		return ss.startTLS(ctx), nil
	case "USER":
		ss.user = ""
		switch {
		case !ss.loginAllowed():
			ss.reply("-ERR [AUTH] Use STLS first: the app password must not cross the network in clear")
		case c.arg == "" || strings.ContainsRune(c.arg, ' '):
			ss.reply("-ERR USER needs one user name")
		default:
			ss.user = c.arg
			ss.reply("+OK Send the app password with PASS")
		}
	case "PASS":
		user := ss.user
		ss.user = ""
		if user == "" {
			ss.reply("-ERR Send USER first")
			return false, nil
		}
		return ss.login(ctx, user, c.arg)
	case "AUTH":
		return ss.authenticate(ctx, c)
	case "APOP":
		ss.reply("-ERR APOP is not supported: log in with USER and PASS and an app password")
	default:
		ss.reply("-ERR Log in first (USER and PASS, or AUTH PLAIN)")
		return ss.protocolError(), nil
	}
	return false, nil
}

func (ss *session) startTLS(ctx context.Context) bool {
	if ss.tls() != nil {
		ss.reply("-ERR TLS is already on")
		return false
	}
	if ss.s.TLS == nil {
		ss.reply("-ERR STLS is not available")
		return false
	}
	// Commands sent behind STLS in the same packet would be read as if protected (command
	// injection, RFC 2595 section 4 / CVE-2011-0411): refuse them.
	if ss.r.Buffered() > 0 {
		ss.reply("-ERR Data sent after STLS before the TLS handshake")
		return true
	}
	ss.reply("+OK Begin TLS negotiation now")
	tc := tls.Server(ss.conn, ss.s.TLS)
	if err := tc.HandshakeContext(ctx); err != nil {
		ss.s.Log.Debug("pop bridge: STLS handshake", "err", err)
		return true
	}
	// What was said before TLS is forgotten (RFC 2595: the client sends CAPA again).
	ss.conn, ss.r, ss.w, ss.user = tc, bufio.NewReaderSize(tc, 4096), bufio.NewWriterSize(tc, 4096), ""
	return false
}

// authenticate runs AUTH: without an argument it lists the mechanisms (as RFC 1734 clients
// ask); PLAIN is the only one.
func (ss *session) authenticate(ctx context.Context, c command) (bool, *bridge.Login) {
	if c.arg == "" {
		ss.reply("+OK")
		if ss.loginAllowed() {
			ss.reply("PLAIN")
		}
		ss.reply(".")
		return false, nil
	}
	mech, resp, hasIR := strings.Cut(c.arg, " ")
	if !strings.EqualFold(mech, sasl.Plain) {
		ss.reply("-ERR Unsupported mechanism: only AUTH PLAIN is supported")
		return false, nil
	}
	if !ss.loginAllowed() {
		ss.reply("-ERR [AUTH] Use STLS first: the app password must not cross the network in clear")
		return false, nil
	}
	if !hasIR {
		ss.reply("+ ")
		line, err := readLine(ss.r)
		if err != nil {
			if errors.Is(err, errLineTooLong) {
				ss.reply("-ERR Line too long")
			}
			return true, nil
		}
		resp = line
	}
	user, pass, err := bridge.DecodePlain(resp)
	if err == nil && user == "" {
		err = bridge.ErrPlainInvalid
	}
	switch {
	case errors.Is(err, bridge.ErrPlainCancelled):
		ss.reply("-ERR Authentication cancelled")
		return false, nil
	case errors.Is(err, bridge.ErrPlainBase64):
		ss.reply("-ERR Invalid base64")
		return false, nil
	case err != nil:
		ss.reply("-ERR [AUTH] Invalid credentials")
		return ss.failed(), nil
	}
	return ss.login(ctx, user, pass)
}

// failed counts a refused login; true ends the connection.
func (ss *session) failed() bool {
	ss.failures++
	return ss.failures >= maxFailures
}

// login judges the device's login; an allowed one is returned for the upstream step.
func (ss *session) login(ctx context.Context, user, pass string) (bool, *bridge.Login) {
	if !ss.loginAllowed() {
		ss.reply("-ERR [AUTH] Use STLS first: the app password must not cross the network in clear")
		return false, nil
	}
	l, r := ss.s.Door.Login(ctx, bridge.ConnOf(ss.conn), apppassword.ProtocolPOP, user, pass)
	if r != nil {
		switch {
		case r.Temporary:
			ss.reply("-ERR [SYS/TEMP] Sekisho cannot check the login now, try again later (ref %s)", r.EventID)
		case r.Policy:
			ss.reply("-ERR [AUTH] Your organisation's access policy refuses this connection (ref %s)", r.EventID)
		default:
			ss.reply("-ERR [AUTH] Invalid credentials (ref %s)", r.EventID)
		}
		return ss.failed(), nil
	}
	return false, &l
}

// relay logs in upstream for l and joins the two connections.
func (ss *session) relay(ctx context.Context, l bridge.Login) {
	up, ur, okLine, err := ss.s.upstreamLogin(ctx, l)
	if err != nil {
		ref := ss.s.Door.UpstreamFailed(ctx, l, err)
		var busy *busyError
		switch {
		case errors.As(err, &busy):
			ss.reply("-ERR [%s] %s (ref %s)", busy.code, busy.say(), ref)
		case bridge.IsUpstreamRefusal(err):
			ss.reply("-ERR [AUTH] The mail server refused the bridge's token for this mailbox (ref %s)", ref)
		default:
			ss.reply("-ERR [SYS/TEMP] The mail server cannot be reached, try again later (ref %s)", ref)
		}
		return
	}
	// The upstream's own +OK: the device is now in its TRANSACTION state.
	ss.reply("%s", okLine)
	ss.s.Door.Relay(ctx, l, ss.s.Recheck, ss.conn, ss.r, up, ur)
}
