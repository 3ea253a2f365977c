package popproxy

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"

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
	// answerOK sends what (if any) and expects a +OK line.
	answerOK := func(what string) func(net.Conn, *bufio.Reader) error {
		return func(c net.Conn, r *bufio.Reader) error {
			if what != "" {
				if _, err := c.Write([]byte(what + "\r\n")); err != nil {
					return err
				}
			}
			line, err := readLine(r)
			if err != nil {
				return err
			}
			if !strings.HasPrefix(line, "+OK") {
				return fmt.Errorf("%q", limit(line))
			}
			return nil
		}
	}
	uc, err := s.Upstream.Open(ctx, l, apppassword.ProtocolPOP, answerOK(""), answerOK("STLS"))
	if err != nil {
		return nil, nil, "", err
	}
	defer uc.Close()
	c, r := uc.Conn, uc.R
	client := s.Upstream.SASL(l, uc.Endpoint, uc.Token)
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
			uc.Ready()
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
