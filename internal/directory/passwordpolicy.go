package directory

import (
	"crypto/rand"
	_ "embed"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"unicode/utf8"
)

//go:embed common-passwords.txt
var commonPasswordsText string

var (
	commonOnce      sync.Once
	commonPasswords map[string]struct{}
)

// PasswordPolicy is the rule a new password must meet.
type PasswordPolicy struct {
	MinLength int
}

// PolicyError says why a new password was refused: a stable code (too_short, too_long,
// common, contains_user) for pages to translate, the minimum length, and an English sentence.
type PolicyError struct {
	Code      string
	MinLength int
	msg       string
}

func (e *PolicyError) Error() string { return e.msg }

// Check reports, in one sentence, why password is not acceptable for upn, or nil. The
// error is a *PolicyError.
func (pp PasswordPolicy) Check(upn, password string) error {
	if n := utf8.RuneCountInString(password); n < pp.MinLength {
		return &PolicyError{"too_short", pp.MinLength, fmt.Sprintf("password is too short: %d characters, at least %d required", n, pp.MinLength)}
	}
	if len(password) > 1024 {
		return &PolicyError{"too_long", pp.MinLength, "password is too long: at most 1024 bytes"}
	}
	lower := strings.ToLower(password)
	commonOnce.Do(func() {
		commonPasswords = map[string]struct{}{}
		for _, l := range strings.Split(commonPasswordsText, "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				commonPasswords[strings.ToLower(l)] = struct{}{}
			}
		}
	})
	if _, bad := commonPasswords[lower]; bad {
		return &PolicyError{"common", pp.MinLength, "password is on the list of commonly used passwords"}
	}
	if local, _, _ := strings.Cut(strings.ToLower(upn), "@"); len(local) >= 3 && strings.Contains(lower, local) {
		return &PolicyError{"contains_user", pp.MinLength, "password must not contain the user name"}
	}
	return nil
}

// GeneratePassword returns a password to hand over once (the demo admin's, an
// administrator's reset): 20 characters from an unambiguous alphabet, about 110 bits.
func GeneratePassword() (string, error) {
	const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 20)
	for i := range b {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			return "", fmt.Errorf("generate password: %w", err)
		}
		b[i] = alphabet[n.Int64()]
	}
	return string(b), nil
}
