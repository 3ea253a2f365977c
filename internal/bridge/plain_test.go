package bridge

import (
	"encoding/base64"
	"errors"
	"testing"
)

func TestDecodePlain(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, tc := range []struct {
		name, resp, user, pass string
		err                    error
	}{
		{"no identity", b64("\x00alice@example.com\x00pw pw"), "alice@example.com", "pw pw", nil},
		{"identity is the user", b64("alice\x00alice\x00pw"), "alice", "pw", nil},
		{"identity of another", b64("bob\x00alice\x00pw"), "", "", ErrPlainInvalid},
		{"cancelled", "*", "", "", ErrPlainCancelled},
		{"empty: no user, left to the door", "=", "", "", nil},
		{"not base64", "!!!", "", "", ErrPlainBase64},
		{"two fields", b64("alice\x00pw"), "", "", ErrPlainInvalid},
		{"no user: left to the door", b64("\x00\x00pw"), "", "pw", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, p, err := DecodePlain(tc.resp)
			if u != tc.user || p != tc.pass || !errors.Is(err, tc.err) {
				t.Fatalf("got %q %q %v, want %q %q %v", u, p, err, tc.user, tc.pass, tc.err)
			}
		})
	}
}
