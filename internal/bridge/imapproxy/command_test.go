package imapproxy

import (
	"bufio"
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func parse(in string) (command, string, error) {
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	c, err := readCommand(bufio.NewReader(strings.NewReader(in)), w)
	_ = w.Flush()
	return c, out.String(), err
}

func TestReadCommand(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want command
		cont string // continuation requests sent
	}{
		{"a1 CAPABILITY\r\n", command{tag: "a1", name: "CAPABILITY"}, ""},
		{"a1 login alice secret\r\n", command{"a1", "LOGIN", []string{"alice", "secret"}}, ""},
		{"x LOGIN \"alice@example.com\" \"p\\\"w\\\\d\"\r\n", command{"x", "LOGIN", []string{"alice@example.com", `p"w\d`}}, ""},
		{"x LOGIN \"\" \"\"\n", command{"x", "LOGIN", []string{"", ""}}, ""},
		{"x LOGIN {5}\r\nalice {4}\r\np w\"\r\n", command{"x", "LOGIN", []string{"alice", "p w\""}}, "+ Ready for literal data\r\n+ Ready for literal data\r\n"},
		{"x LOGIN {5+}\r\nalice {0+}\r\n\r\n", command{"x", "LOGIN", []string{"alice", ""}}, ""},
		{"x AUTHENTICATE PLAIN AGFsaWNlAHB3\r\n", command{"x", "AUTHENTICATE", []string{"PLAIN", "AGFsaWNlAHB3"}}, ""},
		{"x AUTHENTICATE PLAIN =\r\n", command{"x", "AUTHENTICATE", []string{"PLAIN", "="}}, ""},
		{"a] NOOP\r\n", command{}, ""}, // ']' is no tag character
	} {
		got, cont, err := parse(tc.in)
		if tc.want.tag == "" {
			if err == nil {
				t.Errorf("%q parsed as %+v", tc.in, got)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) || cont != tc.cont {
			t.Errorf("%q: %+v %q %v", tc.in, got, cont, err)
		}
	}
}

func TestReadCommandRefuses(t *testing.T) {
	for _, in := range []string{
		"\r\n",
		"a1\r\n",
		"a+ NOOP\r\n",
		"a1 LOGIN \"unterminated\r\n",
		"a1 LOGIN \"bad\\escape\" x\r\n",
		"a1 LOGIN alice  pw\r\n",
		"a1 LOGIN alice pw \r\n",
		"a1 LOGIN {x}\r\n",
		"a1 LOGIN {-1}\r\n",
		"a1 LOGIN {99999}\r\n",
		"a1 LOGIN {3} tail\r\n",
		"a1 LOGIN (alice) pw\r\n",
		"a1 " + strings.Repeat("A ", 9) + "\r\n",
		"a1 LOGIN " + strings.Repeat("x", maxLine) + "\r\n",
	} {
		c, _, err := parse(in)
		var b *errBad
		if !errors.As(err, &b) {
			t.Errorf("%q: %+v %v", in, c, err)
		}
	}
	// A truncated literal is the connection ending, not a BAD.
	if _, _, err := parse("a1 LOGIN {10}\r\nabc"); err == nil || errors.As(err, new(*errBad)) {
		t.Errorf("truncated literal: %v", err)
	}
}

// FuzzReadCommand: no input panics, loops or yields arguments beyond the limits.
func FuzzReadCommand(f *testing.F) {
	for _, s := range []string{"a1 LOGIN alice pw\r\n", "x LOGIN {5}\r\nalice {2+}\r\npw\r\n", "a AUTHENTICATE PLAIN =\r\n", "t LOGIN \"a\\\"b\" c\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		c, _, err := parse(in)
		if err != nil {
			return
		}
		if len(c.args) > maxArgs || validTag(c.tag) == "" || !isAtom(c.name) {
			t.Fatalf("%q → %+v", in, c)
		}
		for _, a := range c.args {
			if len(a) > maxLine+maxLiteral {
				t.Fatalf("argument of %d bytes", len(a))
			}
		}
	})
}
