package popproxy

import (
	"bufio"
	"errors"
	"strings"
)

// maxLine bounds one line a device (or the upstream, before login) may send. RFC 2449 keeps a
// command within 255 octets, but an AUTH continuation line carries a whole base64 SASL
// response (a PLAIN response with a long user name is about 700); 2 KiB leaves room.
const maxLine = 2 << 10

// errLineTooLong is a line over maxLine: the connection cannot be read in step again.
var errLineTooLong = errors.New("line too long")

// errBad is a line that is not a POP3 command; it is answered -ERR and the session goes on.
type errBad struct{ msg string }

func (e *errBad) Error() string { return e.msg }

// readLine reads one CRLF- (or LF-) terminated line without its terminator, at most maxLine
// bytes however long the line the peer sends.
func readLine(r *bufio.Reader) (string, error) {
	var b []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(b)+len(chunk) > maxLine+2 { // +2: the terminator does not count
			return "", errLineTooLong
		}
		b = append(b, chunk...)
		if err == nil {
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return "", err
		}
	}
	s := strings.TrimSuffix(string(b), "\n")
	s = strings.TrimSuffix(s, "\r")
	if len(s) > maxLine {
		return "", errLineTooLong
	}
	return s, nil
}

// command is one POP3 command: its keyword in upper case and the rest of the line after the
// single space that follows it (PASS takes that whole rest, spaces included: RFC 1939).
type command struct {
	name, arg string
}

// parseCommand splits line into its keyword (3 or 4 letters) and argument. Control
// characters are refused anywhere in the line: no name or password has them, and an
// embedded CR or NUL is how a request is smuggled past another parser.
func parseCommand(line string) (command, error) {
	for i := 0; i < len(line); i++ {
		if c := line[i]; c < 0x20 || c == 0x7f {
			return command{}, &errBad{"invalid character in command"}
		}
	}
	name, arg, _ := strings.Cut(line, " ")
	if len(name) < 3 || len(name) > 4 {
		return command{}, &errBad{"unknown command"}
	}
	for i := 0; i < len(name); i++ {
		if c := name[i] | 0x20; c < 'a' || c > 'z' {
			return command{}, &errBad{"unknown command"}
		}
	}
	return command{name: strings.ToUpper(name), arg: arg}, nil
}

// respCode returns the response code of a -ERR line ("-ERR [IN-USE] locked" → "IN-USE"),
// upper case, or "" (RFC 2449 section 8).
func respCode(line string) string {
	rest, ok := strings.CutPrefix(line, "-ERR ")
	if !ok || !strings.HasPrefix(rest, "[") {
		return ""
	}
	end := strings.IndexByte(rest, ']')
	if end < 2 || end > 64 {
		return ""
	}
	code := strings.ToUpper(rest[1:end])
	for i := 0; i < len(code); i++ {
		c := code[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '/') {
			return ""
		}
	}
	return code
}

// limit shortens s for an error message or a log line.
func limit(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}
