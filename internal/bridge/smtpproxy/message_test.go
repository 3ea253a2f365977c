package smtpproxy

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
)

func TestReadHeader(t *testing.T) {
	for _, tc := range []struct {
		name, in, header, rest string
		max                    int
		err                    error
	}{
		{name: "CRLF", in: "From: a@x\r\nTo: b@y\r\n\r\nbody\r\n", header: "From: a@x\r\nTo: b@y\r\n\r\n", rest: "body\r\n"},
		{name: "LF", in: "From: a@x\n\nbody\n", header: "From: a@x\n\n", rest: "body\n"},
		{name: "no body", in: "From: a@x\r\nSubject: s\r\n", header: "From: a@x\r\nSubject: s\r\n"},
		{name: "no line end", in: "From: a@x", header: "From: a@x"},
		{name: "a blank line with spaces is a header line", in: "From: a@x\r\n \r\n\r\nb", header: "From: a@x\r\n \r\n\r\n", rest: "b"},
		{name: "long lines", in: "X: " + strings.Repeat("v", 100) + "\r\n\r\nb", header: "X: " + strings.Repeat("v", 100) + "\r\n\r\n", rest: "b"},
		{name: "over the bound", in: "X: " + strings.Repeat("v", 100) + "\r\n\r\n", max: 50, err: errHeaderTooLarge},
		{name: "the body does not count", in: "From: a@x\r\n\r\n" + strings.Repeat("b", 200), max: 50,
			header: "From: a@x\r\n\r\n", rest: strings.Repeat("b", 200)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.max == 0 {
				tc.max = 1000
			}
			br := bufio.NewReaderSize(strings.NewReader(tc.in), 16)
			hdr, err := readHeader(br, tc.max)
			rest, _ := io.ReadAll(br)
			if !errors.Is(err, tc.err) || (err == nil && (string(hdr) != tc.header || string(rest) != tc.rest)) {
				t.Fatalf("got %q %q %v", hdr, rest, err)
			}
		})
	}
}

func TestCheckSenders(t *testing.T) {
	allowed := func(a string) bool { return a == "scans@example.com" || a == "Scans@Example.com" }
	for _, tc := range []struct {
		name, header, why, addr string
	}{
		{name: "allowed", header: "From: Scanner <scans@example.com>\r\nTo: x@y\r\n\r\n"},
		{name: "allowed, folded", header: "From: \"Scanner 3F\"\r\n <scans@example.com>\r\n\r\n"},
		{name: "allowed, a Japanese name in ISO-2022-JP", header: "From: =?ISO-2022-JP?B?GyRCJTklLSVjJUobKEI=?= <scans@example.com>\r\n\r\n"},
		{name: "allowed, no body", header: "From: scans@example.com"},
		{name: "another address", header: "From: Boss <ceo@example.com>\r\n\r\n", why: "header From <ceo@example.com>", addr: "ceo@example.com"},
		{name: "a second address", header: "From: scans@example.com, ceo@example.com\r\n\r\n", why: "header From <ceo@example.com>", addr: "ceo@example.com"},
		{name: "a second From field", header: "From: scans@example.com\r\nfrom: ceo@example.com\r\n\r\n", why: "header From <ceo@example.com>", addr: "ceo@example.com"},
		{name: "another Sender", header: "From: scans@example.com\r\nSender: ceo@example.com\r\n\r\n", why: "header Sender <ceo@example.com>", addr: "ceo@example.com"},
		{name: "no From", header: "To: x@y\r\nSubject: s\r\n\r\n", why: "header has no From field"},
		{name: "a From that cannot be read", header: "From: <<<\r\n\r\n", why: "From field cannot be read"},
		{name: "an empty From", header: "From: \r\n\r\n", why: "From field cannot be read"},
		{name: "a space before the colon", header: "From : ceo@example.com\r\n\r\n", why: "header cannot be read"},
		{name: "a line without a colon", header: "From: scans@example.com\r\nnonsense\r\n\r\n", why: "header cannot be read"},
		{name: "a first line folded", header: " From: scans@example.com\r\n\r\n", why: "header cannot be read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			why, addr := checkSenders([]byte(tc.header), allowed)
			if why != tc.why || addr != tc.addr {
				t.Fatalf("got %q %q, want %q %q", why, addr, tc.why, tc.addr)
			}
		})
	}
}

func TestLoginServer(t *testing.T) {
	for _, tc := range []struct {
		name     string
		exchange []string // responses; the server's challenges between them
		want     []string
	}{
		{"no initial response", []string{"", "alice", "pw"}, []string{"Username:", "Password:", ""}},
		{"the user name as initial response", []string{"alice", "pw"}, []string{"Password:", ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var user, pass string
			s := &loginServer{authenticate: func(u, p string) error { user, pass = u, p; return nil }}
			for i, resp := range tc.exchange {
				var r []byte
				if resp != "" {
					r = []byte(resp)
				}
				ch, done, err := s.Next(r)
				if err != nil || string(ch) != tc.want[i] || done != (i == len(tc.exchange)-1) {
					t.Fatalf("step %d: %q %v %v", i, ch, done, err)
				}
			}
			if user != "alice" || pass != "pw" {
				t.Fatalf("got %q %q", user, pass)
			}
			if _, _, err := s.Next([]byte("more")); !errors.Is(err, sasl.ErrUnexpectedClientResponse) {
				t.Fatalf("after the end: %v", err)
			}
		})
	}
}

func TestSize(t *testing.T) {
	for n, want := range map[int64]string{35 << 20: "35 MiB", 256 << 10: "256 KiB", 2000: "2000 bytes", 1536: "1536 bytes", 3 << 10: "3 KiB"} {
		if got := size(n); got != want {
			t.Errorf("%d: %q, want %q", n, got, want)
		}
	}
}

// FuzzCheckSenders: whatever the header, checkSenders never passes a header whose From is not
// all allowed addresses, and never panics.
func FuzzCheckSenders(f *testing.F) {
	for _, s := range []string{
		"From: scans@example.com\r\n\r\n",
		"From: a <scans@example.com>, b@c\r\n\r\n",
		"From: =?utf-8?q?x?= <scans@example.com>\r\nSender: x@y\r\n\r\n",
		"from:scans@example.com\n\n",
		"From: \"a\\\"b\" <scans@example.com>\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, hdr []byte) {
		var seen []string
		why, _ := checkSenders(hdr, func(a string) bool {
			seen = append(seen, a)
			return a == "scans@example.com"
		})
		if why == "" && len(seen) == 0 {
			t.Fatalf("passed without checking an address: %q", hdr)
		}
	})
}
