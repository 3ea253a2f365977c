package server

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

type okPinger struct{}

func (okPinger) Ping(context.Context) error { return nil }

// A second server on a port that is already taken says so in one sentence and does not start.
func TestServeOnBusyPort(t *testing.T) {
	busy, err := net.Listen("tcp", ":0") // what a first `sekisho serve` holds
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, port, _ := net.SplitHostPort(busy.Addr().String())
	for _, addr := range []string{":" + port, "127.0.0.1:" + port} {
		t.Run(addr, func(t *testing.T) {
			s := New(slog.New(slog.NewTextHandler(io.Discard, nil)), okPinger{})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			started := false
			err := s.Serve(ctx, addr, &tls.Config{}, func(net.Addr) { started = true })
			want := "cannot listen on " + addr + ": the port is already in use (another sekisho serve?)"
			if err == nil || err.Error() != want {
				t.Fatalf("Serve on a busy port: %v\nwant: %s", err, want)
			}
			if !errors.Is(err, syscall.EADDRINUSE) {
				t.Errorf("error %v does not unwrap to EADDRINUSE", err)
			}
			if started {
				t.Error("ready was called although nothing listens")
			}
		})
	}
}

// Other listen failures keep the socket layer's reason after the same opening words.
func TestListenOtherError(t *testing.T) {
	_, err := listen("127.0.0.1:99999")
	if err == nil || !strings.HasPrefix(err.Error(), "cannot listen on 127.0.0.1:99999: ") ||
		strings.Contains(err.Error(), "already in use") {
		t.Fatalf("listen on an invalid port: %v", err)
	}
}

// Cancelling the context (what SIGTERM or Ctrl-C does in `sekisho serve`) shuts the server
// down gracefully: Serve returns nil and the port is free again.
func TestServeStopsOnCancel(t *testing.T) {
	s := New(slog.New(slog.NewTextHandler(io.Discard, nil)), okPinger{})
	ctx, cancel := context.WithCancel(context.Background())
	bound := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, "127.0.0.1:0", &tls.Config{}, func(a net.Addr) { bound <- a }) }()
	var addr net.Addr
	select {
	case addr = <-bound:
	case err := <-done:
		t.Fatalf("Serve: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("server did not start")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve after cancel: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("server did not stop")
	}
	ln, err := net.Listen("tcp", addr.String())
	if err != nil {
		t.Fatalf("port still held after shutdown: %v", err)
	}
	ln.Close()
}
