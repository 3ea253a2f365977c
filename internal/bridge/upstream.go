package bridge

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/sekisho/sekisho/internal/bridge/apppassword"
)

// SASL mechanisms the bridge authenticates upstream with.
const (
	XOAuth2     = "XOAUTH2"     // Google's and Microsoft's: user=…^Aauth=Bearer …^A^A
	OAuthBearer = "OAUTHBEARER" // RFC 7628
)

// TLS modes of an upstream address.
const (
	TLSImplicit = "implicit" // TLS from the first byte (993, 995, 465)
	TLSStartTLS = "starttls" // cleartext greeting, then STARTTLS / STLS (143, 110, 587)
)

// Tokens gets an access token for the mailbox of an allowed login.
type Tokens interface {
	Token(ctx context.Context, l Login) (string, error)
}

// Endpoint is one upstream service.
type Endpoint struct {
	Address string // host:port
	TLS     string // TLSImplicit or TLSStartTLS
}

// Upstream is the real mail server the bridge logs in to.
type Upstream struct {
	IMAP, POP, SMTP Endpoint
	// TLS is the client configuration for the upstream (roots); ServerName defaults to the
	// endpoint's host.
	TLS       *tls.Config
	Mechanism string // XOAuth2 (default) or OAuthBearer
	Tokens    Tokens
	Timeout   time.Duration // dial and authentication; default 30 s
}

// Endpoint returns the upstream endpoint of a door's protocol.
func (u *Upstream) Endpoint(protocol string) (Endpoint, error) {
	var e Endpoint
	switch protocol {
	case apppassword.ProtocolIMAP:
		e = u.IMAP
	case apppassword.ProtocolPOP:
		e = u.POP
	case apppassword.ProtocolSMTP:
		e = u.SMTP
	}
	if e.Address == "" {
		return e, fmt.Errorf("no upstream %s server is configured", protocol)
	}
	return e, nil
}

// Dial connects to the protocol's upstream, with TLS when the endpoint is implicit TLS.
func (u *Upstream) Dial(ctx context.Context, protocol string) (net.Conn, Endpoint, error) {
	e, err := u.Endpoint(protocol)
	if err != nil {
		return nil, e, err
	}
	d := &net.Dialer{Timeout: u.timeout(), KeepAlive: time.Minute}
	if e.TLS == TLSImplicit {
		td := &tls.Dialer{NetDialer: d, Config: u.TLSConfig(e)}
		c, err := td.DialContext(ctx, "tcp", e.Address)
		if err != nil {
			return nil, e, fmt.Errorf("upstream %s: %w", e.Address, err)
		}
		return c, e, nil
	}
	c, err := d.DialContext(ctx, "tcp", e.Address)
	if err != nil {
		return nil, e, fmt.Errorf("upstream %s: %w", e.Address, err)
	}
	return c, e, nil
}

// TLSConfig is the client TLS configuration for endpoint e.
func (u *Upstream) TLSConfig(e Endpoint) *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if u.TLS != nil {
		cfg = u.TLS.Clone()
	}
	if cfg.ServerName == "" {
		if host, _, err := net.SplitHostPort(e.Address); err == nil {
			cfg.ServerName = host
		}
	}
	return cfg
}

func (u *Upstream) timeout() time.Duration {
	if u.Timeout <= 0 {
		return 30 * time.Second
	}
	return u.Timeout
}

// Deadline is when an upstream login started now must be done.
func (u *Upstream) Deadline() time.Time { return time.Now().Add(u.timeout()) }

// SASL returns the SASL client that presents token for l's user to endpoint e.
func (u *Upstream) SASL(l Login, e Endpoint, token string) sasl.Client {
	if u.Mechanism == OAuthBearer {
		host, portStr, _ := net.SplitHostPort(e.Address)
		port, _ := strconv.Atoi(portStr)
		return sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: l.User.UPN, Token: token, Host: host, Port: port})
	}
	return &xoauth2{user: l.User.UPN, token: token}
}

// xoauth2 is the XOAUTH2 client (go-sasl has OAUTHBEARER only).
type xoauth2 struct{ user, token string }

func (x *xoauth2) Start() (string, []byte, error) {
	return XOAuth2, []byte("user=" + x.user + "\x01auth=Bearer " + x.token + "\x01\x01"), nil
}

// Next answers the server's error challenge (a JSON status) with the error: the caller
// cancels the exchange.
func (x *xoauth2) Next(challenge []byte) ([]byte, error) {
	var e struct {
		Status string `json:"status"`
	}
	if json.Unmarshal(challenge, &e) == nil && e.Status != "" {
		return nil, &UpstreamError{Message: "the mail server refused the token (" + e.Status + ")"}
	}
	return nil, &UpstreamError{Message: "the mail server refused the token"}
}

// UpstreamError is a refusal by the upstream (as opposed to a network failure).
type UpstreamError struct{ Message string }

func (e *UpstreamError) Error() string { return e.Message }

// IsUpstreamRefusal reports whether err is the upstream refusing the login.
func IsUpstreamRefusal(err error) bool {
	var ue *UpstreamError
	var oe *sasl.OAuthBearerError
	return errors.As(err, &ue) || errors.As(err, &oe)
}

// UpstreamConn is an upstream connection during its login (Upstream.Open).
type UpstreamConn struct {
	net.Conn
	R        *bufio.Reader // reads Conn (the TLS layer after STARTTLS)
	Endpoint Endpoint
	Token    string // the access token to present
	stop     func() bool
	ready    bool
}

// Open starts the login of l at protocol's upstream: it gets the access token, dials, bounds
// the login by the upstream timeout and by ctx (the connection is closed when ctx ends),
// checks the greeting with greet and, on a STARTTLS endpoint, sends the upgrade with startTLS
// (which checks its answer), refuses bytes sent ahead of the handshake and makes it. The
// caller authenticates on the result, then calls Ready, or Close when that failed.
func (u *Upstream) Open(ctx context.Context, l Login, protocol string, greet, startTLS func(net.Conn, *bufio.Reader) error) (*UpstreamConn, error) {
	token, err := u.Tokens.Token(ctx, l)
	if err != nil {
		return nil, fmt.Errorf("access token: %w", err)
	}
	nc, e, err := u.Dial(ctx, protocol)
	if err != nil {
		return nil, err
	}
	c := &UpstreamConn{Conn: nc, R: bufio.NewReader(nc), Endpoint: e, Token: token}
	raw := nc // closing it ends a TLS layer on it too
	c.stop = context.AfterFunc(ctx, func() { _ = raw.Close() })
	_ = nc.SetDeadline(u.Deadline())
	if err := greet(c.Conn, c.R); err != nil {
		c.Close()
		return nil, fmt.Errorf("upstream greeting: %w", err)
	}
	if e.TLS == TLSStartTLS {
		if err := startTLS(c.Conn, c.R); err != nil {
			c.Close()
			return nil, fmt.Errorf("upstream STARTTLS: %w", err)
		}
		if c.R.Buffered() > 0 { // the STARTTLS command injection, from the server's side
			c.Close()
			return nil, errors.New("upstream STARTTLS: data before the TLS handshake")
		}
		tc := tls.Client(nc, u.TLSConfig(e))
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, fmt.Errorf("upstream STARTTLS: %w", err)
		}
		c.Conn, c.R = tc, bufio.NewReader(tc)
	}
	return c, nil
}

// Ready ends the login: no deadline, no longer closed with the login's context.
func (c *UpstreamConn) Ready() {
	c.ready = true
	c.stop()
	_ = c.Conn.SetDeadline(time.Time{})
}

// Close closes the connection of a login that failed (Ready's connection is the caller's).
func (c *UpstreamConn) Close() error {
	c.stop()
	if c.ready {
		return nil
	}
	return c.Conn.Close()
}
