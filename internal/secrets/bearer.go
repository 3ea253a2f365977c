package secrets

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// BearerFormat is the form of Sekisho's bearer tokens: the prefix (say "skt_"), a 64-bit ID
// in hex that finds the stored row, "_", and a 256-bit secret in base64url that only its keyed
// hash (KeyedHash) is stored of. The admin API's tokens and the SCIM connectors' tokens use it.
type BearerFormat string

// New draws a token: its ID, its secret, and the value to hand over once.
func (f BearerFormat) New() (id, secret, token string, err error) {
	var idb [8]byte
	var sec [32]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return "", "", "", fmt.Errorf("bearer token: %w", err)
	}
	if _, err := rand.Read(sec[:]); err != nil {
		return "", "", "", fmt.Errorf("bearer token: %w", err)
	}
	id, secret = hex.EncodeToString(idb[:]), base64.RawURLEncoding.EncodeToString(sec[:])
	return id, secret, string(f) + id + "_" + secret, nil
}

// Parse splits a presented token of this format into its ID and secret.
func (f BearerFormat) Parse(token string) (id, secret string, ok bool) {
	rest, found := strings.CutPrefix(token, string(f))
	if !found {
		return "", "", false
	}
	id, secret, found = strings.Cut(rest, "_")
	if !found || len(id) != 16 || len(secret) != 43 {
		return "", "", false
	}
	if _, err := hex.DecodeString(id); err != nil {
		return "", "", false
	}
	return id, secret, true
}
