package smtpproxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sekisho/sekisho/internal/bridge"
	"github.com/sekisho/sekisho/internal/bridge/apppassword"
)

// upstream is a session's authenticated connection to the upstream submission server.
type upstream struct {
	c   *smtp.Client
	raw net.Conn // the connection under c (TLS or not): closing it ends c, from any goroutine
}

// dialUpstream connects to the upstream SMTP server (STARTTLS or implicit TLS), says EHLO as
// the bridge's domain and authenticates l's user with an access token.
func (s *Server) dialUpstream(ctx context.Context, l bridge.Login) (*upstream, error) {
	token, err := s.Upstream.Tokens.Token(ctx, l)
	if err != nil {
		return nil, fmt.Errorf("access token: %w", err)
	}
	conn, e, err := s.Upstream.Dial(ctx, apppassword.ProtocolSMTP)
	if err != nil {
		return nil, err
	}
	// The login is bounded by the upstream's timeout, and by ctx, whatever go-smtp's own
	// per-command deadlines.
	loginCtx, cancel := context.WithDeadline(ctx, s.Upstream.Deadline())
	defer cancel()
	stop := context.AfterFunc(loginCtx, func() { _ = conn.Close() })
	ok := false
	defer func() {
		if !stop() || !ok {
			_ = conn.Close()
		}
	}()
	var c *smtp.Client
	if e.TLS == bridge.TLSStartTLS {
		c, err = smtp.NewClientStartTLS(conn, s.Upstream.TLSConfig(e))
		if err != nil {
			return nil, fmt.Errorf("upstream %s STARTTLS: %w", e.Address, err)
		}
	} else {
		c = smtp.NewClient(conn)
	}
	if err := c.Hello(s.domain()); err != nil {
		return nil, fmt.Errorf("upstream %s EHLO: %w", e.Address, err)
	}
	if err := c.Auth(s.Upstream.SASL(l, e, token)); err != nil {
		if bridge.IsUpstreamRefusal(err) {
			return nil, err
		}
		var se *smtp.SMTPError
		if errors.As(err, &se) && se.Code/100 == 5 {
			return nil, &bridge.UpstreamError{Message: fmt.Sprintf("the mail server refused the token: %d %s", se.Code, limit(se.Message))}
		}
		return nil, fmt.Errorf("upstream %s AUTH: %w", e.Address, err)
	}
	if loginCtx.Err() != nil {
		return nil, fmt.Errorf("upstream %s: %w", e.Address, context.Cause(loginCtx))
	}
	c.CommandTimeout = 5 * time.Minute
	ok = true
	return &upstream{c: c, raw: conn}, nil
}
