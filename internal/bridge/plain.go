package bridge

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"net"

	"github.com/emersion/go-sasl"
)

// The SASL PLAIN response of the IMAP and POP3 doors (AUTHENTICATE PLAIN, AUTH PLAIN): one
// base64 line, "=" for an empty response, "*" to cancel.
var (
	ErrPlainCancelled = errors.New("authentication cancelled")
	ErrPlainBase64    = errors.New("invalid base64")
	ErrPlainInvalid   = errors.New("invalid PLAIN response")
)

// DecodePlain decodes a SASL PLAIN response line into the user and the password. The
// authorization identity must be empty or the user.
func DecodePlain(resp string) (user, pass string, err error) {
	if resp == "*" {
		return "", "", ErrPlainCancelled
	}
	var raw []byte
	if resp != "=" {
		if raw, err = base64.StdEncoding.DecodeString(resp); err != nil {
			return "", "", ErrPlainBase64
		}
	}
	srv := sasl.NewPlainServer(func(identity, username, password string) error {
		if identity != "" && identity != username {
			return errors.New("authorization identity differs")
		}
		user, pass = username, password
		return nil
	})
	if _, _, err := srv.Next(raw); err != nil {
		return "", "", ErrPlainInvalid
	}
	return user, pass, nil
}

// TLSState is the TLS state of a door's connection, nil while it is in clear text.
func TLSState(c net.Conn) *tls.ConnectionState {
	if tc, ok := c.(*tls.Conn); ok {
		st := tc.ConnectionState()
		return &st
	}
	return nil
}
