package imapproxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/bridge"
	"github.com/sekisho/sekisho/internal/signin"
)

type denyGate struct{ attempts []signin.Attempt }

func (g *denyGate) Check(_ context.Context, a signin.Attempt) (signin.Outcome, error) {
	g.attempts = append(g.attempts, a)
	return signin.Outcome{Decision: signin.Deny, Reason: signin.ReasonWrongPassword, EventID: "EV1"}, nil
}

// converse runs the door on one end of a pipe and sends each line, returning what the door
// answered after the greeting; the connection is read until the door closes it or it is idle.
func converse(t *testing.T, s *Server, send string) (greeting string, answer []string) {
	t.Helper()
	client, server := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer server.Close()
		s.serveConn(context.Background(), server)
	}()
	_ = client.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(client)
	greeting, _ = r.ReadString('\n')
	go func() { _, _ = client.Write([]byte(send)) }()
	for {
		_ = client.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		l, err := r.ReadString('\n')
		if err != nil {
			break
		}
		answer = append(answer, strings.TrimRight(l, "\r\n"))
	}
	client.Close()
	<-done
	return greeting, answer
}

func TestPreLoginConversation(t *testing.T) {
	g := &denyGate{}
	s := &Server{bridge.Settings{Door: &bridge.Door{Gate: g, Log: slog.New(slog.DiscardHandler)}, TLS: &tls.Config{}, Log: slog.New(slog.DiscardHandler)}}
	for _, tc := range []struct {
		name, send string
		want       []string // prefixes of the answers, in order
	}{
		{"capability before TLS", "a CAPABILITY\r\n", []string{"* CAPABILITY IMAP4rev1 SASL-IR LITERAL+ ID STARTTLS LOGINDISABLED", "a OK"}},
		{"no login in clear text", "a LOGIN alice pw\r\nb AUTHENTICATE PLAIN AGFsaWNlAHB3\r\n", []string{"a NO [PRIVACYREQUIRED]", "b NO [PRIVACYREQUIRED]"}},
		{"nothing else before login", "a SELECT INBOX\r\nb NOOP\r\n", []string{"a BAD", "b OK"}},
		{"a malformed command keeps the connection", "a LOGIN \"x\r\nb NOOP\r\n", []string{"a BAD", "b OK"}},
		{"commands behind STARTTLS are refused", "a STARTTLS\r\nb LOGIN alice pw\r\n", []string{"* BYE Data sent after STARTTLS"}},
		{"logout", "a LOGOUT\r\nb NOOP\r\n", []string{"* BYE", "a OK"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			greeting, answer := converse(t, s, tc.send)
			if !strings.HasPrefix(greeting, "* OK [CAPABILITY ") || !strings.Contains(greeting, "STARTTLS") {
				t.Fatalf("greeting %q", greeting)
			}
			if len(answer) != len(tc.want) {
				t.Fatalf("answers %q, want %q", answer, tc.want)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(answer[i], w) {
					t.Errorf("answer %d %q, want %q…", i, answer[i], w)
				}
			}
		})
	}
	if len(g.attempts) != 0 {
		t.Fatalf("the gate was asked before TLS: %+v", g.attempts)
	}
}

// TestFailedLogins: with cleartext allowed, a refused login names its record, reaches the
// gate as an app-password attempt of the IMAP door, and the third failure ends the connection.
func TestFailedLogins(t *testing.T) {
	g := &denyGate{}
	s := &Server{bridge.Settings{Door: &bridge.Door{Gate: g, Log: slog.New(slog.DiscardHandler)}, AllowCleartextLogin: true, Log: slog.New(slog.DiscardHandler)}}
	plain := "AGFsaWNlAHB3" // \0alice\0pw
	_, answer := converse(t, s, "a LOGIN alice pw\r\nb AUTHENTICATE PLAIN "+plain+"\r\nc AUTHENTICATE PLAIN\r\n"+plain+"\r\nd NOOP\r\n")
	want := []string{"a NO [AUTHENTICATIONFAILED] Invalid credentials (ref EV1)", "b NO [AUTHENTICATIONFAILED]", "+ ", "c NO [AUTHENTICATIONFAILED]", "* BYE Too many failed logins"}
	if len(answer) != len(want) {
		t.Fatalf("answers %q", answer)
	}
	for i, w := range want {
		if !strings.HasPrefix(answer[i], w) {
			t.Errorf("answer %d %q, want %q…", i, answer[i], w)
		}
	}
	if len(g.attempts) != 3 {
		t.Fatalf("attempts %d", len(g.attempts))
	}
	for _, a := range g.attempts {
		if a.Protocol != "bridge-imap" || !a.AppPassword || a.Username != "alice" || a.Password != "pw" || a.HTTP == nil || a.HTTP.RemoteAddr == "" {
			t.Errorf("attempt %+v", a)
		}
	}
}
