package federation

import (
	"context"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/sekisho/sekisho/internal/keys"
	"github.com/sekisho/sekisho/internal/m365"
	"github.com/sekisho/sekisho/internal/store"
)

// ForStored is Settings for a stored domain, with the current and (when there is one) next
// token-signing certificate: what `m365 federate` prints and the console shows.
func ForStored(ctx context.Context, st store.Store, km *keys.Manager, domain, baseURL string) (Config, error) {
	d, err := m365.GetDomain(ctx, st, domain)
	if err != nil {
		return Config{}, err
	}
	cur, err := km.Current(ctx, keys.PurposeToken)
	if err != nil {
		return Config{}, fmt.Errorf("current signing key: %w", err)
	}
	var next *x509.Certificate
	if k, ok, err := km.Next(ctx, keys.PurposeToken); err == nil && ok {
		next = k.Cert
	}
	return Settings(d, baseURL, cur.Cert, next), nil
}

// CheckStored runs Check on a stored domain against every stored domain, user and signing key.
func CheckStored(ctx context.Context, st store.Store, km *keys.Manager, domain, baseURL string, now time.Time) ([]Problem, error) {
	d, err := m365.GetDomain(ctx, st, domain)
	if err != nil {
		return nil, err
	}
	all, err := m365.LoadDomains(ctx, st)
	if err != nil {
		return nil, err
	}
	var users []store.User
	page := store.Page{Limit: 1000}
	for {
		us, next, err := st.ListUsers(ctx, page)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		users = append(users, us...)
		if next == "" {
			break
		}
		page.After = next
	}
	certs, err := km.Keys(ctx, keys.PurposeToken)
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	return Check(CheckInput{Domain: d, All: all, Users: users, Keys: certs, BaseURL: baseURL, Now: now}), nil
}
