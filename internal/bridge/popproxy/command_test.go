package popproxy

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/sekisho/sekisho/internal/bridge"
)

func TestReadLine(t *testing.T) {
	long := strings.Repeat("a", maxLine)
	for _, tc := range []struct {
		name, in string
		want     []string
		err      error // after the lines
	}{
		{"CRLF", "USER alice\r\nPASS x\r\n", []string{"USER alice", "PASS x"}, io.EOF},
		{"bare LF", "CAPA\nQUIT\n", []string{"CAPA", "QUIT"}, io.EOF},
		{"an empty line", "\r\n", []string{""}, io.EOF},
		{"a line without its end", "QUIT", nil, io.EOF},
		{"exactly maxLine", long + "\r\n", []string{long}, io.EOF},
		{"one over maxLine", long + "a\r\n", nil, errLineTooLong},
		{"far over the buffer", strings.Repeat("b", 5*maxLine) + "\r\n", nil, errLineTooLong},
		{"a CR inside stays", "US\rER\r\n", []string{"US\rER"}, io.EOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := bufio.NewReaderSize(strings.NewReader(tc.in), 16)
			var got []string
			var err error
			for {
				var l string
				if l, err = readLine(r); err != nil {
					break
				}
				got = append(got, l)
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") || !errors.Is(err, tc.err) {
				t.Fatalf("got %q, %v; want %q, %v", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestParseCommand(t *testing.T) {
	for _, tc := range []struct {
		line, name, arg string
		bad             bool
	}{
		{line: "USER alice@example.com", name: "USER", arg: "alice@example.com"},
		{line: "user alice", name: "USER", arg: "alice"},
		{line: "PASS with spaces  in it", name: "PASS", arg: "with spaces  in it"},
		{line: "CAPA", name: "CAPA"},
		{line: "AUTH PLAIN AGFsaWNlAHB3", name: "AUTH", arg: "PLAIN AGFsaWNlAHB3"},
		{line: "TOP", name: "TOP"},
		{line: "", bad: true},
		{line: "QU", bad: true},
		{line: "QUITS", bad: true},
		{line: "QU1T", bad: true},
		{line: " USER a", bad: true},
		{line: "USER a\x00b", bad: true},
		{line: "USER a\rb", bad: true},
		{line: "PASS x\x7f", bad: true},
		{line: "ÜSER a", bad: true},
	} {
		c, err := parseCommand(tc.line)
		if tc.bad {
			var b *errBad
			if !errors.As(err, &b) {
				t.Errorf("%q: got %+v, %v; want a refusal", tc.line, c, err)
			}
			continue
		}
		if err != nil || c.name != tc.name || c.arg != tc.arg {
			t.Errorf("%q: got %+v, %v; want %s %q", tc.line, c, err, tc.name, tc.arg)
		}
	}
}

func TestRespCode(t *testing.T) {
	for line, want := range map[string]string{
		"-ERR [IN-USE] Mailbox locked":       "IN-USE",
		"-ERR [sys/temp] try later":          "SYS/TEMP",
		"-ERR [AUTH] Authentication failed.": "AUTH",
		"-ERR Authentication failed.":        "",
		"-ERR [] empty":                      "",
		"-ERR [IN USE] space":                "",
		"-ERR [UNTERMINATED":                 "",
		"+OK [IN-USE] not an error":          "",
	} {
		if got := respCode(line); got != want {
			t.Errorf("%q: %q, want %q", line, got, want)
		}
	}
}

// FuzzReadCommand feeds arbitrary bytes to the pre-login reader and parser: no line is ever
// longer than maxLine, none holds a LF, and every parsed command is a 3- or 4-letter
// upper-case keyword without control characters.
func FuzzReadCommand(f *testing.F) {
	for _, s := range []string{
		"CAPA\r\nUSER alice\r\nPASS a b c\r\n",
		"AUTH PLAIN\r\n*\r\n",
		"STLS\r\nUSER injected\r\n",
		"user x\nquit\n",
		strings.Repeat("x", maxLine+10) + "\r\n",
		"\x00\r\n\r\n\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bufio.NewReaderSize(strings.NewReader(string(in)), 64)
		for {
			line, err := readLine(r)
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, errLineTooLong) {
					t.Fatalf("error %v", err)
				}
				return
			}
			if len(line) > maxLine || strings.ContainsRune(line, '\n') {
				t.Fatalf("line %q", line)
			}
			c, err := parseCommand(line)
			if err != nil {
				var b *errBad
				if !errors.As(err, &b) {
					t.Fatalf("error %v", err)
				}
				continue
			}
			if len(c.name) < 3 || len(c.name) > 4 || strings.ToUpper(c.name) != c.name || strings.ContainsFunc(c.name+c.arg, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				t.Fatalf("command %+v from %q", c, line)
			}
			if _, _, err := bridge.DecodePlain(c.arg); err == nil && c.arg == "" {
				t.Fatalf("empty PLAIN response accepted")
			}
		}
	})
}
