package bridge

import (
	"context"
	"fmt"
	"time"

	"github.com/sekisho/sekisho/internal/store"
)

// IssuerTokens are access tokens from Sekisho's own OpenID Connect provider, for an upstream
// mail server that trusts Sekisho (it validates them by introspection or the published
// keys): one minted per login, for the registered client ClientID, named after the login's
// sign-in record.
type IssuerTokens struct {
	Issue    func(ctx context.Context, clientID string, user store.User, scopes []string, eventID string) (string, time.Time, error)
	ClientID string
	Scopes   []string
}

// Token implements Tokens.
func (t IssuerTokens) Token(ctx context.Context, l Login) (string, error) {
	tok, _, err := t.Issue(ctx, t.ClientID, l.User, t.Scopes, l.EventID)
	if err != nil {
		return "", fmt.Errorf("token from Sekisho for client %s: %w", t.ClientID, err)
	}
	return tok, nil
}
