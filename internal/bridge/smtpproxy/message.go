package smtpproxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"mime"
	"net/mail"
	"net/textproto"
	"strings"
)

var errHeaderTooLarge = errors.New("message header too large")

// readHeader reads a message's header block from br: every line up to and including the
// first empty one (or the whole message when it has none), at most max bytes.
func readHeader(br *bufio.Reader, max int) ([]byte, error) {
	var hdr []byte
	lineStart := 0
	for {
		chunk, err := br.ReadSlice('\n')
		if len(hdr)+len(chunk) > max {
			return nil, errHeaderTooLarge
		}
		hdr = append(hdr, chunk...)
		switch {
		case err == nil:
			if line := string(hdr[lineStart:]); line == "\r\n" || line == "\n" {
				return hdr, nil
			}
			lineStart = len(hdr)
		case errors.Is(err, bufio.ErrBufferFull):
		case errors.Is(err, io.EOF):
			return hdr, nil
		default:
			return nil, err
		}
	}
}

// addressParser reads From and Sender fields. The display name is not what is checked, so
// an encoded word in a charset Go does not know (ISO-2022-JP, Shift_JIS from a Japanese
// copier) is taken as it is rather than refused.
var addressParser = mail.AddressParser{WordDecoder: &mime.WordDecoder{
	CharsetReader: func(_ string, input io.Reader) (io.Reader, error) { return input, nil },
}}

// checkSenders checks every address of the header's From and Sender fields with may. It
// returns "" when all pass, else what is wrong (for the record and the answer: "header From
// <a@example.com>", "header has no From field", …) and the refused address when it is one.
// A header that cannot be read is refused: the upstream might read it otherwise.
func checkSenders(hdr []byte, may func(address string) bool) (why, address string) {
	r := textproto.NewReader(bufio.NewReader(io.MultiReader(bytes.NewReader(hdr), strings.NewReader("\r\n\r\n"))))
	h, err := r.ReadMIMEHeader()
	if err != nil {
		return "header cannot be read", ""
	}
	for name := range h {
		// RFC 5322 field names only: "From :" is no From field to textproto, but may be one
		// to a lenient mail server.
		if !validFieldName(name) {
			return "header cannot be read", ""
		}
	}
	if len(h.Values("From")) == 0 {
		return "header has no From field", ""
	}
	for _, field := range []string{"From", "Sender"} {
		for _, v := range h.Values(field) {
			list, err := addressParser.ParseList(v)
			if err != nil || len(list) == 0 {
				return field + " field cannot be read", ""
			}
			for _, a := range list {
				if !may(a.Address) {
					return "header " + field + " <" + a.Address + ">", a.Address
				}
			}
		}
	}
	return "", ""
}

// validFieldName reports whether name is an RFC 5322 field name: printable US-ASCII except
// the colon.
func validFieldName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 33 || c > 126 || c == ':' {
			return false
		}
	}
	return true
}
