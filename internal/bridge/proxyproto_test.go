package bridge

import (
	"bufio"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/ipset"
)

// TestProxyListener: a trusted balancer's PROXY header (written here by hand, as HAProxy
// sends it) names the client the gate sees as forwarded by that proxy; a connection from the
// balancer without one is closed; from anyone else the header is not read, so it cannot name
// a client.
func TestProxyListener(t *testing.T) {
	const v1 = "PROXY TCP4 203.0.113.7 127.0.0.1 40000 993\r\n"
	v2 := "\r\n\r\n\x00\r\nQUIT\n" + "\x21\x11\x00\x0c" + "\xc6\x33\x64\x09" + "\x7f\x00\x00\x01" + "\x9c\x40" + "\x03\xe1" // 198.51.100.9 → 127.0.0.1
	for _, tc := range []struct {
		name, trusted, sent string
		wantClient          string // "" = none
		wantRead            string // what the door reads first
		wantErr             bool
	}{
		{"trusted balancer, v1 header", "127.0.0.0/8", v1 + "a1 NOOP\r\n", "203.0.113.7", "a1 NOOP", false},
		{"trusted balancer, v2 header", "127.0.0.0/8", v2 + "a1 NOOP\r\n", "198.51.100.9", "a1 NOOP", false},
		{"trusted balancer without a header: closed", "127.0.0.0/8", "a1 NOOP\r\n", "", "", true},
		{"untrusted peer: the header is data", "10.0.0.0/8", v1 + "a1 NOOP\r\n", "", strings.TrimSuffix(v1, "\r\n"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inner, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer inner.Close()
			l := ProxyListener(inner, ipset.New([]netip.Prefix{netip.MustParsePrefix(tc.trusted)}), 5*time.Second)
			go func() {
				c, err := net.Dial("tcp", inner.Addr().String())
				if err != nil {
					return
				}
				defer c.Close()
				_, _ = io.WriteString(c, tc.sent)
				_, _ = io.Copy(io.Discard, c)
			}()
			c, err := l.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			line, err := bufio.NewReader(c).ReadString('\n')
			if tc.wantErr {
				if err == nil {
					t.Fatalf("read %q from a trusted peer that sent no header", line)
				}
				return
			}
			if err != nil || strings.TrimRight(line, "\r\n") != tc.wantRead {
				t.Fatalf("first line %q, %v; want %q", line, err, tc.wantRead)
			}
			conn := ConnOf(c)
			if got := conn.Remote.String(); !strings.HasPrefix(got, "127.0.0.1:") {
				t.Fatalf("Remote %s, want the balancer (the TCP peer)", got)
			}
			r := conn.request()
			if tc.wantClient == "" {
				if conn.Client != nil || r.Header.Get("X-Forwarded-For") != "" {
					t.Fatalf("a client was named: %v %q", conn.Client, r.Header.Get("X-Forwarded-For"))
				}
				return
			}
			if conn.Client == nil || r.Header.Get("X-Forwarded-For") != tc.wantClient || !strings.HasPrefix(r.RemoteAddr, "127.0.0.1:") {
				t.Fatalf("client %v, X-Forwarded-For %q, RemoteAddr %s; want %s forwarded by the balancer", conn.Client,
					r.Header.Get("X-Forwarded-For"), r.RemoteAddr, tc.wantClient)
			}
		})
	}
}

// FuzzProxyHeader: whatever a trusted peer sends first, reading it and asking ConnOf for the
// addresses neither panics nor names a client unless a header was read.
func FuzzProxyHeader(f *testing.F) {
	f.Add([]byte("PROXY TCP4 203.0.113.7 127.0.0.1 40000 993\r\na1 NOOP\r\n"))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add([]byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c\xc6\x33\x64\x09\x7f\x00\x00\x01\x9c\x40\x03\xe1"))
	f.Add([]byte("a1 NOOP\r\n"))
	trusted := ipset.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})
	f.Fuzz(func(t *testing.T, data []byte) {
		inner, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Skip(err)
		}
		defer inner.Close()
		l := ProxyListener(inner, trusted, time.Second)
		go func() {
			c, err := net.Dial("tcp", inner.Addr().String())
			if err != nil {
				return
			}
			_, _ = c.Write(data)
			_ = c.Close()
		}()
		c, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		_, readErr := io.ReadAll(c)
		conn := ConnOf(c)
		if conn.Remote == nil {
			t.Fatal("no peer address")
		}
		if readErr != nil && conn.Client != nil && !strings.HasPrefix(string(data), "PROXY") && !strings.HasPrefix(string(data), "\r\n\r\n") {
			t.Fatalf("a client %v named by data that is no header: %q", conn.Client, data)
		}
		_ = conn.request()
	})
}
