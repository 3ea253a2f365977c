package saml

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Short-lived state carried by the browser (the resume parameter after sign-in, the RelayState
// of the logout chain) is protected by an HMAC so that any node can continue the flow without
// server-side storage (stateless servers, DESIGN.md).

type envelope struct {
	Kind string          `json:"k"`
	Exp  int64           `json:"e"`
	Data json.RawMessage `json:"d"`
}

func seal(key []byte, kind string, exp time.Time, v any) (string, error) {
	d, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("seal %s: %w", kind, err)
	}
	b, err := json.Marshal(envelope{Kind: kind, Exp: exp.Unix(), Data: d})
	if err != nil {
		return "", fmt.Errorf("seal %s: %w", kind, err)
	}
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + base64.RawURLEncoding.EncodeToString(mac(key, payload)), nil
}

func open(key []byte, kind, tok string, now time.Time, v any) error {
	if len(tok) > 16<<10 {
		return errors.New("state token too long")
	}
	payload, sig, ok := strings.Cut(tok, ".")
	if !ok {
		return errors.New("malformed state token")
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, mac(key, payload)) {
		return errors.New("state token signature invalid")
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return errors.New("malformed state token")
	}
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return errors.New("malformed state token")
	}
	if env.Kind != kind {
		return errors.New("state token of the wrong kind")
	}
	if now.Unix() >= env.Exp {
		return errors.New("state token expired")
	}
	if err := json.Unmarshal(env.Data, v); err != nil {
		return errors.New("malformed state token")
	}
	return nil
}

func mac(key []byte, payload string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("sekisho-saml-state\x00"))
	m.Write([]byte(payload))
	return m.Sum(nil)
}
