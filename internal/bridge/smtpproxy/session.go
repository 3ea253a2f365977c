package smtpproxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/sekisho/sekisho/internal/bridge"
	"github.com/sekisho/sekisho/internal/bridge/apppassword"
)

// ReasonSenderNotAllowed is the sign-in record reason of a message refused for its sender.
const ReasonSenderNotAllowed = "sender_not_allowed"

// backend makes go-smtp's sessions (one per EHLO, and again after STARTTLS) and counts them.
type backend struct {
	s   *Server
	ctx context.Context

	mu       sync.Mutex
	closing  bool
	sessions sync.WaitGroup
}

func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closing {
		return nil, &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "The mail bridge is shutting down"}
	}
	dev := devConnOf(c.Conn())
	if dev == nil {
		return nil, errors.New("smtp bridge: a connection that is not from its listener")
	}
	b.sessions.Add(1)
	ctx, cancel := context.WithCancel(b.ctx)
	return &session{s: b.s, b: b, c: c, dev: dev, ctx: ctx, cancel: cancel}, nil
}

func (b *backend) close() {
	b.mu.Lock()
	b.closing = true
	b.mu.Unlock()
}

// session is one go-smtp session: the device's login and its upstream connection.
type session struct {
	s      *Server
	b      *backend
	c      *smtp.Conn
	dev    *devConn
	ctx    context.Context
	cancel context.CancelFunc
	ended  sync.Once

	// mu is held by every use of the upstream connection (go-smtp's goroutine); Logout, which
	// go-smtp may call from another when the server closes, only tries it.
	mu    sync.Mutex
	login *bridge.Login
	up    *upstream // nil until the login, and after the connection was lost or dropped
	txn   bool      // a MAIL went upstream and its transaction is not over

	rawMu sync.Mutex
	raw   net.Conn    // up's network connection, for closing it from another goroutine
	gone  atomic.Bool // the login is no longer good: no new upstream connection
}

var (
	_ smtp.Session     = (*session)(nil)
	_ smtp.AuthSession = (*session)(nil)
)

func smtpErr(code int, enhanced smtp.EnhancedCode, format string, args ...any) *smtp.SMTPError {
	return &smtp.SMTPError{Code: code, EnhancedCode: enhanced, Message: fmt.Sprintf(format, args...)}
}

func (ss *session) tls() *tls.ConnectionState {
	if st, ok := ss.c.TLSConnectionState(); ok {
		return &st
	}
	return nil
}

func (ss *session) loginAllowed() bool { return ss.tls() != nil || ss.s.AllowCleartextLogin }

// AuthMechanisms implements smtp.AuthSession: none announced before TLS unless cleartext
// logins are allowed.
func (ss *session) AuthMechanisms() []string {
	if !ss.loginAllowed() {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

// Auth implements smtp.AuthSession.
func (ss *session) Auth(mech string) (sasl.Server, error) {
	if ss.dev.failures >= maxFailures {
		ss.endConn()
		return nil, smtpErr(421, smtp.EnhancedCode{4, 7, 0}, "Too many failed logins, closing the connection")
	}
	if !ss.loginAllowed() {
		return nil, smtpErr(538, smtp.EnhancedCode{5, 7, 11}, "Encryption required: use STARTTLS first, the app password must not cross the network in clear")
	}
	switch strings.ToUpper(mech) {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, username, password string) error {
			if identity != "" && identity != username {
				return ss.failed(smtpErr(535, smtp.EnhancedCode{5, 7, 8}, "Invalid credentials: the authorization identity must be the user"))
			}
			return ss.authenticate(username, password)
		}), nil
	case sasl.Login:
		return &loginServer{authenticate: ss.authenticate}, nil
	}
	return nil, smtpErr(504, smtp.EnhancedCode{5, 7, 4}, "Unsupported mechanism: use AUTH PLAIN or AUTH LOGIN")
}

// failed counts a refused login and returns err; the third closes the connection after its
// answer.
func (ss *session) failed(err error) error {
	ss.dev.failures++
	if ss.dev.failures >= maxFailures {
		ss.endConn()
	}
	return err
}

// endConn ends the device's connection after the answer being written (the next read is
// EOF).
func (ss *session) endConn() { ss.dev.end() }

// authenticate judges the login and opens the upstream session for it.
func (ss *session) authenticate(user, pass string) error {
	d := ss.s.Door
	l, r := d.Login(ss.ctx, bridge.ConnOf(ss.c.Conn()), apppassword.ProtocolSMTP, user, pass)
	if r != nil {
		switch {
		case r.Temporary:
			return ss.failed(smtpErr(454, smtp.EnhancedCode{4, 7, 0}, "Sekisho cannot check the login now, try again later (ref %s)", r.EventID))
		case r.Policy:
			return ss.failed(smtpErr(535, smtp.EnhancedCode{5, 7, 8}, "Your organisation's access policy refuses this connection (ref %s)", r.EventID))
		}
		return ss.failed(smtpErr(535, smtp.EnhancedCode{5, 7, 8}, "Invalid credentials (ref %s)", r.EventID))
	}
	up, err := ss.s.dialUpstream(ss.ctx, l)
	if err != nil {
		ref := d.UpstreamFailed(ss.ctx, l, err)
		if bridge.IsUpstreamRefusal(err) {
			return ss.failed(smtpErr(535, smtp.EnhancedCode{5, 7, 8}, "The mail server refused the bridge's token for this mailbox (ref %s)", ref))
		}
		return ss.failed(smtpErr(454, smtp.EnhancedCode{4, 7, 0}, "The mail server cannot be reached, try again later (ref %s)", ref))
	}
	ss.mu.Lock()
	ss.login = &l
	kept := ss.setUpstream(up)
	ss.mu.Unlock()
	if !kept {
		return errClosing
	}
	ss.dev.loggedIn.Store(true)
	go d.Watch(ss.ctx, l, ss.s.Recheck, func(error) {
		// The credential was revoked or expired, or the user disabled: close both sides.
		ss.gone.Store(true)
		ss.dev.end()
		_ = ss.dev.Close()
		ss.closeUpstream()
	})
	return nil
}

// Mail implements smtp.Session: the sender must be one the credential may use.
func (ss *session) Mail(from string, opts *smtp.MailOptions) error {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.login == nil {
		return smtpErr(530, smtp.EnhancedCode{5, 7, 0}, "Authentication required: log in with your app password (AUTH PLAIN or AUTH LOGIN)")
	}
	l := *ss.login
	if !apppassword.MaySendFrom(l.Credential, l.User, from) {
		ref := ss.s.Door.Refuse(ss.ctx, l, fmt.Sprintf("%s: envelope sender <%s>", ReasonSenderNotAllowed, limit(from)))
		return smtpErr(550, smtp.EnhancedCode{5, 7, 1}, "Sender <%s> is not allowed for this app password (ref %s)", limit(from), ref)
	}
	for attempt := 0; ; attempt++ {
		if err := ss.ensureUpstream(); err != nil {
			return err
		}
		err := ss.up.c.Mail(from, opts)
		if err == nil {
			ss.txn = true
			return nil
		}
		if reply := ss.upstreamReply(err); reply != nil || attempt > 0 {
			return ss.failure(reply, err)
		}
		// The connection was lost (the upstream's idle timeout, say): once more on a new one.
		ss.dropUpstream()
	}
}

// Rcpt implements smtp.Session: the upstream's answer is the device's.
func (ss *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.up == nil {
		return ss.lost()
	}
	if err := ss.up.c.Rcpt(to, opts); err != nil {
		return ss.failure(ss.upstreamReply(err), err)
	}
	return nil
}

// Data implements smtp.Session: the header's senders are checked, then the message streamed
// upstream. r ends with go-smtp's ErrDataTooLarge past MaxMessageBytes.
func (ss *session) Data(r io.Reader) error {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.login == nil {
		return smtpErr(530, smtp.EnhancedCode{5, 7, 0}, "Authentication required")
	}
	if ss.up == nil {
		return ss.lost()
	}
	l := *ss.login
	br := bufio.NewReaderSize(r, 32<<10)
	hdr, err := readHeader(br, maxHeaderBytes)
	if err != nil {
		return ss.dataError(err)
	}
	if why, addr := checkSenders(hdr, func(a string) bool { return apppassword.MaySendFrom(l.Credential, l.User, a) }); why != "" {
		ref := ss.s.Door.Refuse(ss.ctx, l, fmt.Sprintf("%s: %s", ReasonSenderNotAllowed, limit(why)))
		if addr != "" {
			return smtpErr(550, smtp.EnhancedCode{5, 7, 1}, "The message's sender <%s> is not allowed for this app password (ref %s)", limit(addr), ref)
		}
		return smtpErr(550, smtp.EnhancedCode{5, 7, 1}, "The message's %s (ref %s)", why, ref)
	}
	w, err := ss.up.c.Data()
	if err != nil {
		return ss.failure(ss.upstreamReply(err), err)
	}
	ew := &errWriter{w: w}
	if _, err := ew.Write(hdr); err == nil {
		_, err = io.Copy(ew, br)
		if err == nil && ew.err == nil {
			if err := w.Close(); err != nil {
				return ss.failure(ss.upstreamReply(err), err)
			}
			ss.txn = false
			return nil
		}
		if ew.err == nil {
			// The device's message went wrong (too large, or its connection failed): the
			// upstream must not send the part it has, and a DATA cannot be abandoned but by
			// closing the connection. The next message opens another.
			ss.dropUpstream()
			return ss.dataError(err)
		}
	}
	return ss.failure(nil, ew.err)
}

// dataError is the answer to a message the device did not send whole or in bounds.
func (ss *session) dataError(err error) error {
	switch {
	case errors.Is(err, smtp.ErrDataTooLarge):
		return smtpErr(552, smtp.EnhancedCode{5, 3, 4}, "The message is larger than the %s this mail bridge accepts", size(ss.s.maxMessageBytes()))
	case errors.Is(err, errHeaderTooLarge):
		return smtpErr(552, smtp.EnhancedCode{5, 3, 4}, "The message header is larger than the %s this mail bridge accepts", size(maxHeaderBytes))
	}
	return err
}

// Reset implements smtp.Session: the upstream transaction is abandoned too.
func (ss *session) Reset() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.up != nil && ss.txn {
		if err := ss.up.c.Reset(); err != nil {
			ss.dropUpstream()
		}
	}
	ss.txn = false
}

// Logout implements smtp.Session.
func (ss *session) Logout() error {
	ss.ended.Do(func() {
		ss.cancel()
		if ss.mu.TryLock() {
			ss.closeUpstreamLocked(ss.b.ctx.Err() == nil)
			ss.mu.Unlock()
		} else {
			// Another goroutine is using the upstream (go-smtp's, the server closing): end
			// its connection under it.
			ss.closeUpstream()
		}
		ss.b.sessions.Done()
	})
	return nil
}

// ensureUpstream opens the upstream connection again when it was lost. Its mutex is held.
func (ss *session) ensureUpstream() error {
	if ss.up != nil {
		return nil
	}
	if ss.gone.Load() || ss.ctx.Err() != nil {
		return smtpErr(421, smtp.EnhancedCode{4, 7, 0}, "The login is no longer good, closing the connection")
	}
	up, err := ss.s.dialUpstream(ss.ctx, *ss.login)
	if err != nil {
		ref := ss.s.Door.UpstreamFailed(ss.ctx, *ss.login, err)
		if bridge.IsUpstreamRefusal(err) {
			return smtpErr(451, smtp.EnhancedCode{4, 7, 0}, "The mail server refused the bridge's token for this mailbox, try again later (ref %s)", ref)
		}
		return smtpErr(451, smtp.EnhancedCode{4, 4, 1}, "The mail server cannot be reached, try again later (ref %s)", ref)
	}
	if !ss.setUpstream(up) {
		return errClosing
	}
	return nil
}

// upstreamReply is the upstream's SMTP answer in err, or nil when err is the connection's.
func (ss *session) upstreamReply(err error) *smtp.SMTPError {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se
	}
	return nil
}

// failure is the device's answer to an upstream step that failed: the upstream's own reply
// (its connection dropped when it is closing, 421), else the connection is lost.
func (ss *session) failure(reply *smtp.SMTPError, err error) error {
	if reply != nil {
		if reply.Code == 421 {
			ss.dropUpstream()
		}
		return reply
	}
	ss.s.Log.WarnContext(ss.ctx, "smtp bridge: upstream connection lost", "err", err)
	ss.dropUpstream()
	return ss.lost()
}

func (ss *session) lost() error {
	return smtpErr(451, smtp.EnhancedCode{4, 4, 2}, "The connection to the mail server was lost, send the message again")
}

// dropUpstream closes the upstream connection at once. Its mutex is held.
func (ss *session) dropUpstream() {
	if ss.up != nil {
		_ = ss.up.raw.Close()
		ss.setUpstream(nil)
	}
}

// closeUpstreamLocked ends the upstream connection, with QUIT when polite. Its mutex is held.
func (ss *session) closeUpstreamLocked(polite bool) {
	if ss.up == nil {
		return
	}
	if polite {
		_ = ss.up.raw.SetDeadline(time.Now().Add(5 * time.Second))
		ss.up.c.CommandTimeout = 5 * time.Second
		_ = ss.up.c.Quit()
	}
	_ = ss.up.raw.Close()
	ss.setUpstream(nil)
}

// closeUpstream closes the upstream's network connection without the session's mutex (a
// use of it under way then fails); the session drops it when it next holds the mutex.
func (ss *session) closeUpstream() {
	ss.rawMu.Lock()
	raw := ss.raw
	ss.rawMu.Unlock()
	if raw != nil {
		_ = raw.Close()
	}
}

// setUpstream sets the upstream connection (nil: none). The session's mutex is held. A
// connection opened while Logout ran is closed instead (false): Logout cancels ss.ctx before
// it looks at ss.raw, both under rawMu.
func (ss *session) setUpstream(up *upstream) bool {
	ss.rawMu.Lock()
	defer ss.rawMu.Unlock()
	if up != nil && ss.ctx.Err() != nil {
		_ = up.raw.Close()
		up = nil
	}
	ss.up, ss.txn, ss.raw = up, false, nil
	if up != nil {
		ss.raw = up.raw
	}
	return up != nil
}

var errClosing = smtpErr(421, smtp.EnhancedCode{4, 3, 2}, "The session is closing")

// errWriter remembers the error of the upstream writes, to tell them from the device's read
// errors in io.Copy.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	n, err := e.w.Write(p)
	if err != nil && e.err == nil {
		e.err = err
	}
	return n, err
}

// loginServer is the server side of SASL LOGIN (draft-murchison-sasl-login): "Username:",
// "Password:", each answered in base64; an initial response is the user name.
type loginServer struct {
	authenticate func(user, pass string) error
	step         int
	user         string
}

func (s *loginServer) Next(response []byte) ([]byte, bool, error) {
	switch s.step {
	case 0:
		s.step = 1
		if len(response) == 0 {
			return []byte("Username:"), false, nil
		}
		fallthrough
	case 1:
		s.user, s.step = string(response), 2
		return []byte("Password:"), false, nil
	case 2:
		s.step = 3
		return nil, true, s.authenticate(s.user, string(response))
	}
	return nil, false, sasl.ErrUnexpectedClientResponse
}

func limit(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

// size writes n bytes for people: 35 MiB, 256 KiB.
func size(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

var _ net.Conn = (*devConn)(nil)
