// Package imapproxy is the mail bridge's IMAP door: it speaks IMAP4rev1 to a device until
// the device has logged in (CAPABILITY, NOOP, ID, STARTTLS, LOGIN, AUTHENTICATE PLAIN,
// LOGOUT), has the login judged by bridge.Door, logs in to the upstream server with an OAuth
// access token (AUTHENTICATE XOAUTH2 or OAUTHBEARER) and from then on relays the connection
// unchanged: the mailbox stays on the mail server, and every later command is the server's.
package imapproxy

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

// Server is the IMAP door.
type Server struct {
	bridge.Settings
}

const maxFailures = 3

// Serve accepts IMAP connections on l until ctx ends; implicitTLS means TLS from the first
// byte (port 993), else STARTTLS is offered (port 143).
func (s *Server) Serve(ctx context.Context, l net.Listener, implicitTLS bool) error {
	return s.Accept(ctx, l, implicitTLS, "imap", "* BYE [UNAVAILABLE] Too many connections, try again later\r\n", s.serveConn)
}

// session is one device connection before login.
type session struct {
	s        *Server
	conn     net.Conn
	r        *bufio.Reader
	w        *bufio.Writer
	failures int
}

func (s *Server) serveConn(ctx context.Context, c net.Conn) {
	ss := &session{s: s, conn: c, r: bufio.NewReaderSize(c, 4096), w: bufio.NewWriterSize(c, 4096)}
	ss.reply("* OK [CAPABILITY %s] Sekisho mail bridge ready", ss.capabilities())
	for {
		_ = c.SetDeadline(time.Now().Add(s.PreAuth()))
		cmd, err := readCommand(ss.r, ss.w)
		if err != nil {
			var b *errBad
			if errors.As(err, &b) {
				if cmd.tag != "" {
					ss.reply("%s BAD %s", cmd.tag, b.msg)
					continue
				}
				ss.reply("* BYE %s", b.msg)
			}
			return
		}
		done, login := ss.handle(ctx, cmd)
		if login != nil {
			ss.relay(ctx, cmd.tag, *login)
			return
		}
		if done {
			return
		}
	}
}

func (ss *session) tls() *tls.ConnectionState { return bridge.TLSState(ss.conn) }

func (ss *session) loginAllowed() bool { return ss.tls() != nil || ss.s.AllowCleartextLogin }

func (ss *session) capabilities() string {
	caps := []string{"IMAP4rev1", "SASL-IR", "LITERAL+", "ID"}
	if ss.tls() == nil && ss.s.TLS != nil {
		caps = append(caps, "STARTTLS")
	}
	if ss.loginAllowed() {
		caps = append(caps, "AUTH=PLAIN")
	} else {
		caps = append(caps, "LOGINDISABLED")
	}
	return strings.Join(caps, " ")
}

func (ss *session) reply(format string, args ...any) {
	fmt.Fprintf(ss.w, format, args...)
	ss.w.WriteString("\r\n")
	_ = ss.w.Flush()
}

// handle answers one command before login; done ends the connection, a login hands it on.
func (ss *session) handle(ctx context.Context, c command) (done bool, login *bridge.Login) {
	switch c.name {
	case "CAPABILITY":
		ss.reply("* CAPABILITY %s", ss.capabilities())
		ss.reply("%s OK CAPABILITY completed", c.tag)
	case "NOOP":
		ss.reply("%s OK NOOP completed", c.tag)
	case "ID":
		ss.reply(`* ID ("name" "Sekisho mail bridge")`)
		ss.reply("%s OK ID completed", c.tag)
	case "LOGOUT":
		ss.reply("* BYE Logging out")
		ss.reply("%s OK LOGOUT completed", c.tag)
		return true, nil
	case "STARTTLS":
		return ss.startTLS(ctx, c), nil
	case "LOGIN":
		if len(c.args) != 2 {
			ss.reply("%s BAD LOGIN needs a user name and a password", c.tag)
			return false, nil
		}
		return ss.login(ctx, c.tag, c.args[0], c.args[1])
	case "AUTHENTICATE":
		return ss.authenticate(ctx, c)
	default:
		ss.reply("%s BAD Log in first (LOGIN or AUTHENTICATE PLAIN)", c.tag)
	}
	return false, nil
}

func (ss *session) startTLS(ctx context.Context, c command) bool {
	if ss.tls() != nil || ss.s.TLS == nil {
		ss.reply("%s BAD TLS is already on", c.tag)
		return false
	}
	// Commands sent behind STARTTLS in the same packet would be read as if protected
	// (command injection): refuse them.
	if ss.r.Buffered() > 0 {
		ss.reply("* BYE Data sent after STARTTLS before the TLS handshake")
		return true
	}
	ss.reply("%s OK Begin TLS negotiation now", c.tag)
	tc := tls.Server(ss.conn, ss.s.TLS)
	if err := tc.HandshakeContext(ctx); err != nil {
		ss.s.Log.Debug("imap bridge: STARTTLS handshake", "err", err)
		return true
	}
	ss.conn, ss.r, ss.w = tc, bufio.NewReaderSize(tc, 4096), bufio.NewWriterSize(tc, 4096)
	return false
}

func (ss *session) authenticate(ctx context.Context, c command) (bool, *bridge.Login) {
	if len(c.args) == 0 || len(c.args) > 2 {
		ss.reply("%s BAD AUTHENTICATE needs a mechanism", c.tag)
		return false, nil
	}
	if !strings.EqualFold(c.args[0], sasl.Plain) {
		ss.reply("%s NO [CANNOT] Only AUTHENTICATE PLAIN is supported", c.tag)
		return false, nil
	}
	if !ss.loginAllowed() {
		ss.reply("%s NO [PRIVACYREQUIRED] Use STARTTLS first", c.tag)
		return false, nil
	}
	var resp string
	if len(c.args) == 2 {
		resp = c.args[1] // SASL-IR
	} else {
		ss.reply("+ ")
		line, err := readLine(ss.r)
		if err != nil {
			return true, nil
		}
		resp = line
	}
	user, pass, err := bridge.DecodePlain(resp)
	switch {
	case errors.Is(err, bridge.ErrPlainCancelled):
		ss.reply("%s BAD Authentication cancelled", c.tag)
		return false, nil
	case errors.Is(err, bridge.ErrPlainBase64):
		ss.reply("%s BAD Invalid base64", c.tag)
		return false, nil
	case err != nil:
		ss.reply("%s NO [AUTHENTICATIONFAILED] Invalid credentials", c.tag)
		return ss.failed(), nil
	}
	return ss.login(ctx, c.tag, user, pass)
}

func (ss *session) failed() bool {
	ss.failures++
	if ss.failures >= maxFailures {
		ss.reply("* BYE Too many failed logins")
		return true
	}
	return false
}

// login judges the device's login; an allowed one is returned for the upstream step.
func (ss *session) login(ctx context.Context, tag, user, pass string) (bool, *bridge.Login) {
	if !ss.loginAllowed() {
		ss.reply("%s NO [PRIVACYREQUIRED] Use STARTTLS first", tag)
		return false, nil
	}
	l, r := ss.s.Door.Login(ctx, bridge.ConnOf(ss.conn), apppassword.ProtocolIMAP, user, pass)
	if r != nil {
		switch {
		case r.Temporary:
			ss.reply("%s NO [UNAVAILABLE] Sekisho cannot check the login now, try again later (ref %s)", tag, r.EventID)
		case r.Policy:
			ss.reply("%s NO [AUTHORIZATIONFAILED] Your organisation's access policy refuses this connection (ref %s)", tag, r.EventID)
		default:
			ss.reply("%s NO [AUTHENTICATIONFAILED] Invalid credentials (ref %s)", tag, r.EventID)
		}
		return ss.failed(), nil
	}
	return false, &l
}

// relay logs in upstream for l and joins the two connections.
func (ss *session) relay(ctx context.Context, tag string, l bridge.Login) {
	up, ur, okLine, err := ss.s.upstreamLogin(ctx, l)
	if err != nil {
		ref := ss.s.Door.UpstreamFailed(ctx, l, err)
		if bridge.IsUpstreamRefusal(err) {
			ss.reply("%s NO [AUTHENTICATIONFAILED] The mail server refused the bridge's token for this mailbox (ref %s)", tag, ref)
		} else {
			ss.reply("%s NO [UNAVAILABLE] The mail server cannot be reached, try again later (ref %s)", tag, ref)
		}
		return
	}
	// The upstream's answer, with the device's tag: it may carry the capabilities after login.
	ss.reply("%s %s", tag, okLine)
	ss.s.Door.Relay(ctx, l, ss.s.Recheck, ss.conn, ss.r, up, ur)
}
