package directory

import (
	_ "embed"
	"fmt"
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

// Check reports, in one sentence, why password is not acceptable for upn, or nil.
func (pp PasswordPolicy) Check(upn, password string) error {
	if n := utf8.RuneCountInString(password); n < pp.MinLength {
		return fmt.Errorf("password is too short: %d characters, at least %d required", n, pp.MinLength)
	}
	if len(password) > 1024 {
		return fmt.Errorf("password is too long: at most 1024 bytes")
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
		return fmt.Errorf("password is on the list of commonly used passwords")
	}
	if local, _, _ := strings.Cut(strings.ToLower(upn), "@"); len(local) >= 3 && strings.Contains(lower, local) {
		return fmt.Errorf("password must not contain the user name")
	}
	return nil
}
