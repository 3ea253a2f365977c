package imapproxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Limits of what a device may send before it has logged in.
const (
	maxLine    = 8 << 10 // one line of a command
	maxLiteral = 4 << 10 // one literal (a user name or password)
	maxArgs    = 8
)

// command is one IMAP command as sent before login: its tag, its name in upper case and
// its arguments (atoms, quoted strings and literals, decoded).
type command struct {
	tag, name string
	args      []string
}

// errBad is a command that cannot be parsed: answered with BAD (tag known) or BYE.
type errBad struct{ msg string }

func (e *errBad) Error() string { return e.msg }

func bad(format string, args ...any) error { return &errBad{fmt.Sprintf(format, args...)} }

// readLine reads one CRLF- (or LF-) terminated line without its terminator, at most maxLine.
func readLine(r *bufio.Reader) (string, error) {
	var b []byte
	for {
		chunk, err := r.ReadSlice('\n')
		b = append(b, chunk...)
		if len(b) > maxLine {
			return "", bad("line too long")
		}
		if err == nil {
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return "", err
		}
	}
	s := strings.TrimSuffix(string(b), "\n")
	return strings.TrimSuffix(s, "\r"), nil
}

// readCommand reads one command from r. A synchronising literal ({n}) is acknowledged with
// a continuation request on w before its bytes are read; a non-synchronising one ({n+},
// LITERAL+) is read at once.
func readCommand(r *bufio.Reader, w *bufio.Writer) (command, error) {
	line, err := readLine(r)
	if err != nil {
		return command{}, err
	}
	var c command
	sp := strings.IndexByte(line, ' ')
	if sp <= 0 {
		return command{tag: validTag(line)}, bad("missing command")
	}
	c.tag = line[:sp]
	if validTag(c.tag) == "" {
		return command{}, bad("invalid tag")
	}
	rest := line[sp+1:]
	name, rest, _ := strings.Cut(rest, " ")
	c.name = strings.ToUpper(name)
	if !isAtom(c.name) {
		return c, bad("invalid command name")
	}
	hasArgs := len(line) > sp+1+len(name)
	for hasArgs {
		if len(c.args) == maxArgs {
			return c, bad("too many arguments")
		}
		var arg string
		var more bool
		arg, rest, more, err = nextArg(rest, r, w)
		if err != nil {
			return c, err
		}
		c.args = append(c.args, arg)
		if !more {
			break
		}
	}
	return c, nil
}

// nextArg decodes the argument at the start of s; more says whether another follows (s then
// starts after its separating space).
func nextArg(s string, r *bufio.Reader, w *bufio.Writer) (arg, rest string, more bool, err error) {
	switch {
	case s == "":
		return "", "", false, bad("missing argument")
	case s[0] == '"':
		var b strings.Builder
		i := 1
		for ; i < len(s); i++ {
			ch := s[i]
			if ch == '\\' {
				i++
				if i == len(s) || (s[i] != '"' && s[i] != '\\') {
					return "", "", false, bad("invalid escape in quoted string")
				}
				b.WriteByte(s[i])
				continue
			}
			if ch == '"' {
				break
			}
			b.WriteByte(ch)
		}
		if i >= len(s) {
			return "", "", false, bad("unterminated quoted string")
		}
		arg, rest = b.String(), s[i+1:]
	case s[0] == '{':
		end := strings.IndexByte(s, '}')
		if end != len(s)-1 {
			return "", "", false, bad("a literal must end the line")
		}
		spec, plus := strings.CutSuffix(s[1:end], "+")
		n, perr := strconv.Atoi(spec)
		if perr != nil || n < 0 || spec == "" || spec[0] == '+' || spec[0] == '-' {
			return "", "", false, bad("invalid literal length")
		}
		if n > maxLiteral {
			return "", "", false, bad("literal too long")
		}
		if !plus {
			if _, err := w.WriteString("+ Ready for literal data\r\n"); err != nil {
				return "", "", false, err
			}
			if err := w.Flush(); err != nil {
				return "", "", false, err
			}
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", "", false, err
		}
		line, err := readLine(r)
		if err != nil {
			return "", "", false, err
		}
		arg, rest = string(buf), line
	default:
		end := strings.IndexByte(s, ' ')
		if end < 0 {
			end = len(s)
		}
		arg, rest = s[:end], s[end:]
		if !isAtom(arg) {
			return "", "", false, bad("invalid atom")
		}
	}
	if rest == "" {
		return arg, "", false, nil
	}
	if rest[0] != ' ' || len(rest) == 1 {
		return "", "", false, bad("arguments must be separated by one space")
	}
	return arg, rest[1:], true, nil
}

// isAtom reports whether s is a non-empty IMAP atom (RFC 3501 ATOM-CHAR, with ']' allowed as
// in astring).
func isAtom(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch <= 0x20 || ch >= 0x7f || strings.IndexByte(`(){%*"\`, ch) >= 0 {
			return false
		}
	}
	return true
}

// validTag returns tag when it is a valid IMAP tag (an atom without '+'), else "".
func validTag(tag string) string {
	if !isAtom(tag) || strings.ContainsAny(tag, "+]") || len(tag) > 64 {
		return ""
	}
	return tag
}
