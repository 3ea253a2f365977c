package popproxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/sekisho/sekisho/internal/bridge"
	"github.com/sekisho/sekisho/internal/bridge/apppassword"
)

// maxCommand is RFC 5034's bound on an AUTH command line with its CRLF: a longer initial
// response (an access token usually is) is sent after the server's "+ " instead.
const maxCommand = 255

// busyError is the upstream refusing the login with a response code that is not about the
// token — the mailbox in use by another session, a login delay, a system failure — which the
// device is told as the upstream said it.
type busyError struct{ code, line string }

func (e *busyError) Error() string { return "the mail server answered " + limit(e.line) }

// say is the device's answer text for the code.
func (e *busyError) say() string {
	switch e.code {
	case "IN-USE":
		return "The mailbox is in use by another session, try again later"
	case "LOGIN-DELAY":
		return "The mail server asks to wait before logging in again"
	case "SYS/PERM":
		return "The mail server refuses this mailbox"
	}
	return "The mail server has a temporary problem, try again later"
}

// upstreamLogin connects to the upstream POP3 server and authenticates l's user with an
// access token. It returns the connection, its reader (empty in practice, passed on in
// case) and the server's +OK line.
func (s *Server) upstreamLogin(ctx context.Context, l bridge.Login) (net.Conn, *bufio.Reader, string, error) {
	token, err := s.Upstream.Tokens.Token(ctx, l)
	if err != nil {
		return nil, nil, "", fmt.Errorf("access token: %w", err)
	}
	c, e, err := s.Upstream.Dial(ctx, apppassword.ProtocolPOP)
	if err != nil {
		return nil, nil, "", err
	}
	ok := false
	raw := c // closed when ctx ends during the login (closing it ends a TLS layer on it too)
	stop := context.AfterFunc(ctx, func() { _ = raw.Close() })
	defer func() {
		stop()
		if !ok {
			_ = c.Close()
		}
	}()
	_ = c.SetDeadline(s.Upstream.Deadline())
	r := bufio.NewReader(c)
	greeting, err := readLine(r)
	if err != nil {
		return nil, nil, "", fmt.Errorf("upstream greeting: %w", err)
	}
	if !strings.HasPrefix(greeting, "+OK") {
		return nil, nil, "", fmt.Errorf("upstream greeting: %q", limit(greeting))
	}
	if e.TLS == bridge.TLSStartTLS {
		if _, err := c.Write([]byte("STLS\r\n")); err != nil {
			return nil, nil, "", err
		}
		line, err := readLine(r)
		if err != nil {
			return nil, nil, "", fmt.Errorf("upstream STLS: %w", err)
		}
		if !strings.HasPrefix(line, "+OK") {
			return nil, nil, "", fmt.Errorf("upstream STLS: %q", limit(line))
		}
		if r.Buffered() > 0 { // the same injection, from the other side
			return nil, nil, "", errors.New("upstream STLS: data before the TLS handshake")
		}
		tc := tls.Client(c, s.Upstream.TLSConfig(e))
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, nil, "", fmt.Errorf("upstream STLS: %w", err)
		}
		c, r = tc, bufio.NewReader(tc)
	}
	client := s.Upstream.SASL(l, e, token)
	mech, ir, err := client.Start()
	if err != nil {
		return nil, nil, "", err
	}
	enc := base64.StdEncoding.EncodeToString(ir)
	if len(ir) == 0 {
		enc = "="
	}
	pending := ""
	if cmd := "AUTH " + mech + " " + enc; len(cmd)+2 <= maxCommand {
		_, err = fmt.Fprintf(c, "%s\r\n", cmd)
	} else {
		_, err = fmt.Fprintf(c, "AUTH %s\r\n", mech)
		pending = enc
	}
	if err != nil {
		return nil, nil, "", err
	}
	var refusal error
	for range 3 {
		line, err := readLine(r)
		if err != nil {
			return nil, nil, "", fmt.Errorf("upstream AUTH: %w", err)
		}
		switch {
		case strings.HasPrefix(line, "+OK"):
			_ = c.SetDeadline(time.Time{})
			ok = true
			return c, r, line, nil
		case line == "+" || strings.HasPrefix(line, "+ "):
			answer := ""
			if pending != "" {
				// The server's ready response: the initial response follows.
				answer, pending = pending, ""
			} else {
				// The server's error challenge: answer it so it ends the exchange with -ERR.
				raw, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(strings.TrimPrefix(line, "+")))
				if _, err := client.Next(raw); err != nil {
					refusal = err
				}
				if mech == bridge.OAuthBearer {
					answer = "AQ==" // %x01, RFC 7628 section 3.2.3
				}
			}
			if _, err := fmt.Fprintf(c, "%s\r\n", answer); err != nil {
				return nil, nil, "", err
			}
		case strings.HasPrefix(line, "-ERR"):
			switch code := respCode(line); code {
			case "IN-USE", "LOGIN-DELAY", "SYS/TEMP", "SYS/PERM":
				return nil, nil, "", &busyError{code: code, line: line}
			}
			if refusal != nil {
				return nil, nil, "", refusal
			}
			return nil, nil, "", &bridge.UpstreamError{Message: "the mail server refused the token: " + limit(line)}
		default:
			return nil, nil, "", fmt.Errorf("upstream AUTH: unexpected %q", limit(line))
		}
	}
	return nil, nil, "", errors.New("upstream AUTH: too many challenges")
}
