package admin

import (
	"context"
	"fmt"
	"strings"

	"github.com/sekisho/sekisho/internal/keys"
	"github.com/sekisho/sekisho/internal/store"
)

// The reads the console and the API share, where a read is more than one store call.

// UserMatches is one page of a user search, with how many matched in all.
type UserMatches struct {
	Users   []store.User // at most the limit asked for, by UPN
	Matched int          // every user that matched
}

// FindUsers returns the users whose UPN or display name contains q (case-insensitive; "" is
// everyone), at most limit of them, and how many matched: a caller shows both numbers, so a
// long list is never cut silently.
func (s *Service) FindUsers(ctx context.Context, q string, limit int) (UserMatches, error) {
	var m UserMatches
	q = strings.ToLower(strings.TrimSpace(q))
	page := store.Page{Limit: 1000}
	for {
		us, next, err := s.Store.ListUsers(ctx, page)
		if err != nil {
			return m, fmt.Errorf("list users: %w", err)
		}
		for _, u := range us {
			if q != "" && !strings.Contains(strings.ToLower(u.UPN), q) && !strings.Contains(strings.ToLower(u.DisplayName), q) {
				continue
			}
			m.Matched++
			if len(m.Users) < limit {
				m.Users = append(m.Users, u)
			}
		}
		if next == "" {
			return m, nil
		}
		page.After = next
	}
}

// SigningKeys lists the token-signing keys, the RS256 ones then the ES256 ones, each oldest first.
func (s *Service) SigningKeys(ctx context.Context) ([]KeyView, error) {
	var out []KeyView
	for _, purpose := range keys.TokenPurposes {
		ks, err := tx{Store: s.Store, s: s}.tokenKeysOf(ctx, purpose)
		if err != nil {
			return nil, err
		}
		out = append(out, ks["keys"]...)
	}
	return out, nil
}
