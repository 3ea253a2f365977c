// Package apppassword is the mail bridge's app passwords: per-device credentials a user's
// printer or script sends instead of the user's own password (docs/mail-bridge.md). How one
// is written (28 letters and digits in groups of four, 140 random bits: short enough to type
// on a printer's panel), kept (a keyed hash under a key derived from the master key, never
// the secret; 140 random bits need no slow hash, as with API tokens) and checked.
package apppassword

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/sekisho/sekisho/internal/secrets"
	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/store"
)

// Scopes: what a credential may do.
const (
	ScopeIMAP     = "imap"      // read and manage the mailbox over IMAP
	ScopePOP      = "pop"       // download over POP3
	ScopeSMTPSend = "smtp-send" // send mail (from the allowed addresses only)
)

// AllScopes lists every scope, in the order they are shown.
var AllScopes = []string{ScopeIMAP, ScopePOP, ScopeSMTPSend}

// Protocols of the bridge's doors (signin.Attempt.Protocol and the client type).
const (
	ProtocolIMAP = "bridge-imap"
	ProtocolPOP  = "bridge-pop"
	ProtocolSMTP = "bridge-smtp"
)

// ScopeOf is the scope a door's protocol needs.
func ScopeOf(protocol string) string {
	switch protocol {
	case ProtocolIMAP:
		return ScopeIMAP
	case ProtocolPOP:
		return ScopePOP
	case ProtocolSMTP:
		return ScopeSMTPSend
	}
	return ""
}

// DefaultLifetime is how long a credential lasts when its issuer does not say.
const DefaultLifetime = 365 * 24 * time.Hour

// MaxLifetime bounds a credential's life: a forgotten printer's password must end some day.
const MaxLifetime = 3 * 365 * 24 * time.Hour

// alphabet has 32 symbols without the look-alikes 0/o and 1/l.
const alphabet = "abcdefghijkmnpqrstuvwxyz23456789"

const secretLen = 28 // 28 × 5 bits = 140 bits

// Hasher computes the keyed hash of app passwords.
type Hasher struct{ key []byte }

// NewHasher returns a hasher under key (32 bytes derived from the master key).
func NewHasher(key []byte) (*Hasher, error) {
	if len(key) < 32 {
		return nil, errors.New("app password key: need 32 bytes")
	}
	return &Hasher{key: key}, nil
}

// Normalize is what a presented password is hashed as: lower case, without the group
// separators and spaces a user or a device may add or drop; "" when it cannot be one of ours.
func Normalize(pw string) string {
	if len(pw) > 128 {
		return ""
	}
	var b strings.Builder
	for _, r := range strings.ToLower(pw) {
		switch {
		case r == '-' || r == ' ':
		case strings.ContainsRune(alphabet, r):
			b.WriteRune(r)
		default:
			return ""
		}
	}
	if b.Len() != secretLen {
		return ""
	}
	return b.String()
}

// Hash is the stored form of a presented password (nil when it cannot be one).
func (h *Hasher) Hash(pw string) []byte {
	n := Normalize(pw)
	if n == "" {
		return nil
	}
	return secrets.KeyedHash(h.key, "bridge-app-password", n)
}

// NewSecret returns a fresh password, formatted for display: xxxx-xxxx-…-xxxx.
func NewSecret() (string, error) {
	raw := make([]byte, secretLen)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("app password: %w", err)
	}
	var b strings.Builder
	for i, c := range raw {
		if i > 0 && i%4 == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(alphabet[int(c)%len(alphabet)]) // 256 is a multiple of 32: no bias
	}
	return b.String(), nil
}

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// CheckName validates a credential name: lower-case letters, digits, dots, hyphens and
// underscores, at most 63 (it appears in the sign-in log).
func CheckName(name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("credential name %q: use lower-case letters, digits, '.', '-' and '_' (at most 63), e.g. printer-3f", name)
	}
	return nil
}

// CheckScopes validates scopes and returns them deduplicated in the order of AllScopes.
func CheckScopes(scopes []string) ([]string, error) {
	if len(scopes) == 0 {
		return nil, fmt.Errorf("no scope: give one or more of %s", strings.Join(AllScopes, ", "))
	}
	for _, s := range scopes {
		if !slices.Contains(AllScopes, s) {
			return nil, fmt.Errorf("scope %q: use %s", s, strings.Join(AllScopes, ", "))
		}
	}
	var out []string
	for _, s := range AllScopes {
		if slices.Contains(scopes, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

// CheckFrom validates the sender addresses of an smtp-send credential and returns them in
// lower case.
func CheckFrom(from []string) ([]string, error) {
	var out []string
	for _, f := range from {
		a, err := mail.ParseAddress(f)
		if err != nil || a.Name != "" || a.Address != f {
			return nil, fmt.Errorf("sender address %q: give a bare address such as scans@example.com", f)
		}
		out = append(out, strings.ToLower(a.Address))
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// Reasons a credential is refused (sign-in record reason codes beyond wrong_password).
const (
	ReasonRevoked = signin.Reason("credential_revoked")
	ReasonExpired = signin.Reason("credential_expired")
	ReasonScope   = signin.Reason("credential_scope") // the credential does not cover this door
)

// Verifier checks presented app passwords against the store (the gate's AppPasswords).
type Verifier struct {
	Store  store.Store
	Hasher *Hasher
}

// Verify finds the credential of user that password is, and says whether it opens the door
// of protocol at now: "" when it does, else a reason (wrong_password for an unknown secret
// or another user's, credential_revoked, credential_expired, credential_scope). The
// credential is returned whenever the secret was recognised. An error is the store's.
func (v Verifier) Verify(ctx context.Context, user store.User, password, protocol string, now time.Time) (store.BridgeCredential, signin.Reason, error) {
	h := v.Hasher.Hash(password)
	if h == nil {
		return store.BridgeCredential{}, signin.ReasonWrongPassword, nil
	}
	c, err := v.Store.GetBridgeCredentialByHash(ctx, h)
	if errors.Is(err, store.ErrNotFound) {
		return store.BridgeCredential{}, signin.ReasonWrongPassword, nil
	}
	if err != nil {
		return store.BridgeCredential{}, signin.ReasonDirectoryError, fmt.Errorf("app password: %w", err)
	}
	// The hash was found by an index; compare again in constant time, and the owner.
	if !hmac.Equal(c.Hash, h) || len(h) != sha256.Size || c.UserID != user.ID {
		return store.BridgeCredential{}, signin.ReasonWrongPassword, nil
	}
	return c, Opens(c, protocol, now), nil
}

// Opens says whether credential c opens protocol's door at now: "" when it does, else why
// not (credential_revoked, credential_expired, credential_scope).
func Opens(c store.BridgeCredential, protocol string, now time.Time) signin.Reason {
	switch {
	case !c.RevokedAt.IsZero():
		return ReasonRevoked
	case !now.Before(c.ExpiresAt):
		return ReasonExpired
	case !slices.Contains(c.Scopes, ScopeOf(protocol)):
		return ReasonScope
	}
	return ""
}

// MaySendFrom reports whether credential c of user may send as address (the envelope or
// header sender): one of c.From, or when c.From is empty the user's own UPN or mail.
func MaySendFrom(c store.BridgeCredential, user store.User, address string) bool {
	address = strings.ToLower(strings.TrimSpace(address))
	if address == "" {
		return false
	}
	if len(c.From) > 0 {
		return slices.Contains(c.From, address)
	}
	return address == strings.ToLower(user.UPN) || (user.Email != "" && address == strings.ToLower(user.Email))
}
