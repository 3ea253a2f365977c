package oidc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/sekisho/sekisho/internal/store"
)

// ErrNotIssuable is returned by IssueAccessToken for a client that cannot receive tokens
// minted for a user (unknown, or public), or a user who cannot sign in.
var ErrNotIssuable = errors.New("oidc: tokens cannot be issued for this client")

// IssueAccessToken mints an access token of client clientID for user, for a part of Sekisho
// that has itself judged the user at the gate (the mail bridge: the token it presents to an
// upstream mail server that trusts Sekisho). The token is the same JWT the code grant hands
// out (jti from the sign-in record eventID, the scopes, the client's lifetime and signing
// algorithm, a pairwise subject when the client has one), so userinfo and introspection
// treat it as any other. The client must be confidential: it is the upstream server, which
// introspects the tokens with its secret; a public client is an app on a user's device.
func (h *Handler) IssueAccessToken(ctx context.Context, clientID string, user store.User, scopes []string, eventID string) (string, time.Time, error) {
	c, _, err := LookupClient(ctx, h.cfg.Apps, clientID)
	if errors.Is(err, store.ErrNotFound) {
		return "", time.Time{}, fmt.Errorf("%w: %q is not a registered client", ErrNotIssuable, clientID)
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("oidc: issue access token: %w", err)
	}
	if c.IsPublic() {
		return "", time.Time{}, fmt.Errorf("%w: client %q is public; the upstream must be a confidential client", ErrNotIssuable, clientID)
	}
	if user.Status != store.UserActive {
		return "", time.Time{}, fmt.Errorf("%w: user %s can no longer sign in", ErrNotIssuable, user.UPN)
	}
	now := h.cfg.Clock()
	ctx = op.ContextWithIssuer(context.WithValue(ctx, attemptKey{}, &attempt{client: &c, userID: user.ID}), h.cfg.Issuer)
	g := grant{ID: oneTimeID(), Client: c.ClientID, Scopes: scopes, User: user.ID, AuthTime: now.Unix(), AMR: []string{"pwd"}, Event: eventID}
	tok, _, validity, err := op.CreateAccessToken(ctx, authRequest{g: g, sub: h.subjectFor(c, user.ID)}, op.AccessTokenTypeJWT, h.op, client{c}, "")
	if err != nil {
		return "", time.Time{}, fmt.Errorf("oidc: issue access token for %s: %w", clientID, err)
	}
	return tok, now.Add(validity), nil
}
