package imapproxy

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"strings"

	"github.com/sekisho/sekisho/internal/bridge"
	"github.com/sekisho/sekisho/internal/bridge/apppassword"
)

// upstreamLogin connects to the upstream IMAP server and authenticates l's user with an
// access token. It returns the connection, its reader (empty in practice, passed on in
// case) and the tagged OK line without its tag.
func (s *Server) upstreamLogin(ctx context.Context, l bridge.Login) (net.Conn, *bufio.Reader, string, error) {
	uc, err := s.Upstream.Open(ctx, l, apppassword.ProtocolIMAP, func(_ net.Conn, r *bufio.Reader) error {
		greeting, err := readLine(r)
		if err != nil {
			return err
		}
		if !strings.HasPrefix(greeting, "* OK") {
			return fmt.Errorf("%q", limit(greeting))
		}
		return nil
	}, func(c net.Conn, r *bufio.Reader) error {
		if _, err := c.Write([]byte("s1 STARTTLS\r\n")); err != nil {
			return err
		}
		line, err := tagged(r, "s1", nil)
		if err != nil {
			return err
		}
		if !strings.HasPrefix(line, "OK") {
			return fmt.Errorf("%q", limit(line))
		}
		return nil
	})
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
	if _, err := fmt.Fprintf(c, "s2 AUTHENTICATE %s %s\r\n", mech, base64.StdEncoding.EncodeToString(ir)); err != nil {
		return nil, nil, "", err
	}
	var refusal error
	line, err := tagged(r, "s2", func(challenge string) string {
		// The server's error challenge: answer it so it ends the exchange with NO.
		raw, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(challenge))
		if _, err := client.Next(raw); err != nil {
			refusal = err
		}
		if mech == bridge.OAuthBearer {
			return "AQ==" // %x01, RFC 7628 section 3.2.3
		}
		return ""
	}, c)
	if err != nil {
		return nil, nil, "", err
	}
	if !strings.HasPrefix(line, "OK") {
		if refusal != nil {
			return nil, nil, "", refusal
		}
		return nil, nil, "", &bridge.UpstreamError{Message: "the mail server refused the token: " + limit(line)}
	}
	uc.Ready()
	return c, r, line, nil
}

// tagged reads responses until the one tagged tag and returns it without the tag; a
// continuation request is answered with what cont returns (written to w[0]).
func tagged(r *bufio.Reader, tag string, cont func(string) string, w ...net.Conn) (string, error) {
	for {
		line, err := readLine(r)
		if err != nil {
			return "", fmt.Errorf("upstream: %w", err)
		}
		switch {
		case strings.HasPrefix(line, tag+" "):
			return line[len(tag)+1:], nil
		case strings.HasPrefix(line, "+"):
			if cont == nil || len(w) == 0 {
				return "", fmt.Errorf("upstream: unexpected continuation %q", limit(line))
			}
			if _, err := w[0].Write([]byte(cont(strings.TrimPrefix(line, "+")) + "\r\n")); err != nil {
				return "", err
			}
		case strings.HasPrefix(line, "* BYE"):
			return "", fmt.Errorf("upstream closed: %q", limit(line))
		}
	}
}

func limit(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}
