package oidc

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sekisho/sekisho/internal/secrets"
)

// What crosses the browser or the relying party between two requests is sealed (AES-256-GCM
// under a key derived from the master key), so that any node can continue a flow another
// started, with nothing kept in process memory: the validated authorization request while the
// browser signs in (the resume parameter), and the authorization code, which carries the
// grant to the token endpoint. Each has a one-time ID spent through the store (UseOnce).

const maxSealed = 16 << 10

// sealer seals values of one kind under one key; the kind is the additional data, so a value
// of one kind never opens as another.
type sealer struct{ s *secrets.Sealer }

func newSealer(key []byte) (sealer, error) {
	s, err := secrets.New(key)
	if err != nil {
		return sealer{}, err
	}
	return sealer{s}, nil
}

func (s sealer) seal(kind string, v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("seal %s: %w", kind, err)
	}
	out, err := s.s.Seal(b, []byte("sekisho-oidc:"+kind))
	if err != nil {
		return "", fmt.Errorf("seal %s: %w", kind, err)
	}
	return base64.RawURLEncoding.EncodeToString(out), nil
}

var errSealed = errors.New("not a value Sekisho sealed (malformed, tampered with, or of another kind)")

func (s sealer) open(kind, tok string, v any) error {
	if tok == "" || len(tok) > maxSealed {
		return errSealed
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return errSealed
	}
	plain, err := s.s.Open(b, []byte("sekisho-oidc:"+kind))
	if err != nil {
		return errSealed
	}
	if err := json.Unmarshal(plain, v); err != nil {
		return errSealed
	}
	return nil
}

// authzState is a validated authorization request, carried across the sign-in page.
type authzState struct {
	ID        string   `json:"i"` // one-time ID (the resume link is answered once)
	Client    string   `json:"c"`
	Redirect  string   `json:"r"`
	Scopes    []string `json:"s"`
	State     string   `json:"st,omitempty"`
	Nonce     string   `json:"n,omitempty"`
	Challenge string   `json:"p,omitempty"` // PKCE S256 code_challenge
	LoginHint string   `json:"lh,omitempty"`
	Force     bool     `json:"f,omitempty"`   // prompt=login: a credential proven after the request
	MaxAge    *int64   `json:"ma,omitempty"`  // max_age in seconds
	Silent    bool     `json:"pn,omitempty"`  // prompt=none: no page; errors go to the client
	MFA       bool     `json:"mfa,omitempty"` // acr_values asked for multi-factor authentication
	Received  int64    `json:"t"`             // unix seconds
	Expires   int64    `json:"x"`
}

// grant is what an authorization code stands for: the request, who signed in, how, and the
// sign-in record the gate wrote.
type grant struct {
	ID        string   `json:"i"` // one-time ID: the code is redeemed once
	Client    string   `json:"c"`
	Redirect  string   `json:"r"`
	Scopes    []string `json:"s"`
	Nonce     string   `json:"n,omitempty"`
	Challenge string   `json:"p,omitempty"`
	User      string   `json:"u"`
	AuthTime  int64    `json:"at"`
	AMR       []string `json:"m,omitempty"`
	MFA       bool     `json:"mfa,omitempty"`
	Event     string   `json:"e,omitempty"`   // the sign-in record's ID
	Session   string   `json:"sid,omitempty"` // the SSO session's public reference
	Expires   int64    `json:"x"`
}

func (g grant) expired(now time.Time) bool { return now.Unix() >= g.Expires }

func oneTimeID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
