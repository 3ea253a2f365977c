package imapproxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/sekisho/sekisho/internal/bridge"
	"github.com/sekisho/sekisho/internal/bridge/apppassword"
)

// upstreamLogin connects to the upstream IMAP server and authenticates l's user with an
// access token. It returns the connection, its reader (empty in practice, passed on in
// case) and the tagged OK line without its tag.
func (s *Server) upstreamLogin(ctx context.Context, l bridge.Login) (net.Conn, *bufio.Reader, string, error) {
	token, err := s.Upstream.Tokens.Token(ctx, l)
	if err != nil {
		return nil, nil, "", fmt.Errorf("access token: %w", err)
	}
	c, e, err := s.Upstream.Dial(ctx, apppassword.ProtocolIMAP)
	if err != nil {
		return nil, nil, "", err
	}
	ok := false
	defer func() {
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
	if !strings.HasPrefix(greeting, "* OK") {
		return nil, nil, "", fmt.Errorf("upstream greeting: %q", limit(greeting))
	}
	if e.TLS == bridge.TLSStartTLS {
		if _, err := c.Write([]byte("s1 STARTTLS\r\n")); err != nil {
			return nil, nil, "", err
		}
		line, err := tagged(r, "s1", nil)
		if err != nil {
			return nil, nil, "", err
		}
		if !strings.HasPrefix(line, "OK") {
			return nil, nil, "", fmt.Errorf("upstream STARTTLS: %q", limit(line))
		}
		tc := tls.Client(c, s.Upstream.TLSConfig(e))
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, nil, "", fmt.Errorf("upstream STARTTLS: %w", err)
		}
		c, r = tc, bufio.NewReader(tc)
	}
	client := s.Upstream.SASL(l, e, token)
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
	_ = c.SetDeadline(time.Time{})
	ok = true
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
