package clientctx

import (
	"errors"
	"fmt"
	"strings"
)

// ParseForwarded parses an RFC 7239 Forwarded header (several header lines joined by ", ")
// and returns the for= node of each element, in order, unquoted ("192.0.2.60",
// "[2001:db8:cafe::17]:4711", "unknown", "_hidden"). An element without for= yields "".
// Malformed syntax is an error: a proxy we trust must not send it.
func ParseForwarded(h string) ([]string, error) {
	var out []string
	i := 0
	elem, haveFor := "", false
	if len(h) > 8192 {
		return nil, errors.New("forwarded: header too long")
	}
	flush := func() {
		out = append(out, elem)
		elem, haveFor = "", false
	}
	for {
		i = skipOWS(h, i)
		if i >= len(h) {
			break
		}
		// pair: token "=" ( token / quoted-string )
		start := i
		for i < len(h) && isTchar(h[i]) {
			i++
		}
		key := strings.ToLower(h[start:i])
		if key == "" || i >= len(h) || h[i] != '=' {
			return nil, fmt.Errorf("forwarded: expected name=value at offset %d", start)
		}
		i++
		var val string
		if i < len(h) && h[i] == '"' {
			i++
			var b strings.Builder
			for {
				if i >= len(h) {
					return nil, errors.New("forwarded: unterminated quoted string")
				}
				c := h[i]
				if c == '\\' && i+1 < len(h) {
					b.WriteByte(h[i+1])
					i += 2
					continue
				}
				if c == '"' {
					i++
					break
				}
				b.WriteByte(c)
				i++
			}
			val = b.String()
		} else {
			vs := i
			for i < len(h) && isTchar(h[i]) {
				i++
			}
			val = h[vs:i]
			if val == "" {
				return nil, fmt.Errorf("forwarded: empty value for %q", key)
			}
		}
		if key == "for" {
			if haveFor {
				return nil, errors.New("forwarded: duplicate for= in one element")
			}
			elem, haveFor = val, true
		}
		i = skipOWS(h, i)
		if i >= len(h) {
			flush()
			break
		}
		switch h[i] {
		case ';':
			i++
			if skipOWS(h, i) >= len(h) {
				return nil, errors.New("forwarded: trailing ';'")
			}
		case ',':
			i++
			flush()
		default:
			return nil, fmt.Errorf("forwarded: unexpected %q at offset %d", h[i], i)
		}
	}
	return out, nil
}

func skipOWS(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

// isTchar is RFC 7230 tchar; ':' '[' ']' are allowed too because real proxies send
// unquoted IPv6 nodes and ports although the RFC asks for quotes.
func isTchar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~:[]", c) >= 0
}
