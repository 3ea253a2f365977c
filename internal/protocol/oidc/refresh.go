package oidc

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/store"
)

// Refresh tokens. A client registered with the refresh_token grant that was granted the
// offline_access scope receives one with the code grant's tokens. It is 256 random bits,
// stored only as its SHA-256 (a hash of a random value that long cannot be reversed or found
// by guessing; docs/oidc.md), in a store row every node reads: its family (every token of one
// grant), client, user, scopes, expiry, state, and the grant's context (when and how the user
// signed in).
//
// A refresh token is used once. Each use passes the gate again, for the user, the client's
// application and the caller's address as they are now (a refusal is recorded and renews
// nothing), and rotates the token: the presented one is marked rotated and a new one of the
// same family is issued, both in one transaction, only once the answer is ready. Presenting
// a rotated token again is reuse: someone kept a copy, so the whole family is revoked (the
// newest token too) and the refusal is recorded. Two uses of one token at once are the same
// thing — only one rotation succeeds, and the other revokes the family.

// refreshTokenBytes is the entropy of a refresh token.
const refreshTokenBytes = 32

// maxRefreshToken bounds what is hashed and looked up.
const maxRefreshToken = 512

// newRefreshToken returns a fresh token and its hash.
func newRefreshToken() (token string, hash []byte, err error) {
	var b [refreshTokenBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, fmt.Errorf("refresh token: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(b[:])
	return token, refreshHash(token), nil
}

// refreshHash is the stored form of a refresh token: its SHA-256.
func refreshHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// refreshRequest implements op.RefreshTokenRequest over the presented token's row.
type refreshRequest struct {
	t       store.RefreshToken
	sub     string   // the subject the client sees (pairwise clients: their own)
	scopes  []string // the scopes of this refresh (a subset of the token's, RFC 6749 section 6)
	tokenID string   // the new access and ID tokens' jti: the gate's record of this refresh
}

var _ op.RefreshTokenRequest = (*refreshRequest)(nil)

func (r *refreshRequest) GetAMR() []string       { return r.t.AMR }
func (r *refreshRequest) GetAudience() []string  { return []string{r.t.ClientID} }
func (r *refreshRequest) GetAuthTime() time.Time { return r.t.AuthTime }
func (r *refreshRequest) GetClientID() string    { return r.t.ClientID }
func (r *refreshRequest) GetScopes() []string    { return r.scopes }
func (r *refreshRequest) GetSubject() string {
	if r.sub != "" {
		return r.sub
	}
	return r.t.UserID
}
func (r *refreshRequest) SetCurrentScopes(s []string) { r.scopes = s }

// errRefused is a refusal the library would not know how to phrase: its answer to the client.
type errRefused struct{ e *zoidc.Error }

func (e errRefused) Error() string { return e.e.Error() }

// TokenRequestByRefreshToken finds the presented token (after the client authenticated) and
// refuses what cannot be renewed: unknown, another client's, expired, revoked — and a rotated
// token, whose reuse revokes its whole family.
func (s storage) TokenRequestByRefreshToken(ctx context.Context, token string) (op.RefreshTokenRequest, error) {
	at := attemptOf(ctx)
	if token == "" || len(token) > maxRefreshToken {
		at.detail = "malformed refresh token"
		return nil, op.ErrInvalidRefreshToken
	}
	t, err := s.h.cfg.Tokens.GetRefreshToken(ctx, refreshHash(token))
	if errors.Is(err, store.ErrNotFound) {
		at.detail = "unknown refresh token (never issued, long expired, or its user or client removed)"
		return nil, op.ErrInvalidRefreshToken
	}
	if err != nil {
		at.detail, at.fault = "refresh token store: "+err.Error(), err
		return nil, oidcServerError(err)
	}
	at.userID = t.UserID
	if at.client != nil && at.client.ClientID != t.ClientID {
		at.detail = "the refresh token was issued to another client"
		return nil, op.ErrInvalidRefreshToken
	}
	now := s.h.cfg.Clock()
	switch t.State {
	case store.RefreshRotated:
		at.detail = s.reused(ctx, t, now)
		return nil, op.ErrInvalidRefreshToken
	case store.RefreshRevoked:
		at.detail = "refresh token revoked (its grant was revoked)"
		return nil, op.ErrInvalidRefreshToken
	case store.RefreshActive:
	default:
		at.detail = fmt.Sprintf("refresh token in an unknown state %q", t.State)
		return nil, op.ErrInvalidRefreshToken
	}
	if !now.Before(t.ExpiresAt) {
		at.detail = "refresh token expired"
		return nil, op.ErrInvalidRefreshToken
	}
	rr := &refreshRequest{t: t, scopes: t.Scopes}
	if at.client != nil {
		rr.sub = s.h.subjectFor(*at.client, t.UserID)
	}
	return rr, nil
}

// reused revokes the family of a token presented after its rotation and says so for the record.
func (s storage) reused(ctx context.Context, t store.RefreshToken, now time.Time) string {
	n, err := s.h.cfg.Tokens.RevokeRefreshFamily(ctx, t.FamilyID, now)
	if err != nil {
		attemptOf(ctx).fault = err
		return "refresh token reused (rotated at " + t.UsedAt.UTC().Format(time.RFC3339) + "), and revoking its grant failed: " + err.Error()
	}
	s.h.cfg.Logger.WarnContext(ctx, "oidc refresh token reused: grant revoked", "client", t.ClientID, "user", t.UserID,
		"family", t.FamilyID, "rotated_at", t.UsedAt, "revoked", n)
	return fmt.Sprintf("refresh token reused (rotated at %s): every token of its grant is revoked (%d)", t.UsedAt.UTC().Format(time.RFC3339), n)
}

// CreateAccessAndRefreshTokens is called for a code exchange with offline_access (the first
// token of a new family) and for every refresh (the gate judges it first, then the next
// token of the family). The refresh token reaches the store in commit, once the whole answer
// is ready.
func (s storage) CreateAccessAndRefreshTokens(ctx context.Context, req op.TokenRequest, _ string) (string, string, time.Time, error) {
	at := attemptOf(ctx)
	now := s.h.cfg.Clock().UTC()
	switch r := req.(type) {
	case authRequest:
		c, err := s.clientOf(ctx, r.g.Client)
		if err != nil {
			return "", "", time.Time{}, err
		}
		token, hash, err := newRefreshToken()
		if err != nil {
			return "", "", time.Time{}, oidcServerError(err)
		}
		t := store.RefreshToken{Hash: hash, FamilyID: oneTimeID(), ClientID: r.g.Client, UserID: r.g.User, Scopes: r.g.Scopes,
			State: store.RefreshActive, CreatedAt: now, ExpiresAt: now.Add(c.RefreshTTL()), AuthTime: time.Unix(r.g.AuthTime, 0).UTC(),
			AMR: r.g.AMR, MFA: r.g.MFA, SessionID: r.g.Session}
		at.family = t.FamilyID
		at.commit = func(ctx context.Context) error { return s.h.cfg.Tokens.CreateRefreshToken(ctx, t) }
		return tokenID(r.g), token, now.Add(c.AccessTTL()), nil
	case *refreshRequest:
		c, err := s.clientOf(ctx, r.t.ClientID)
		if err != nil {
			return "", "", time.Time{}, err
		}
		if err := s.judgeRefresh(ctx, r); err != nil {
			return "", "", time.Time{}, err
		}
		token, hash, err := newRefreshToken()
		if err != nil {
			return "", "", time.Time{}, oidcServerError(err)
		}
		next := r.t
		next.Hash, next.State, next.CreatedAt, next.ExpiresAt, next.UsedAt = hash, store.RefreshActive, now, now.Add(c.RefreshTTL()), time.Time{}
		at.family = next.FamilyID
		at.commit = func(ctx context.Context) error { return s.rotate(ctx, r.t, next) }
		return r.tokenID, token, now.Add(c.AccessTTL()), nil
	}
	return "", "", time.Time{}, zoidc.ErrUnsupportedGrantType()
}

// clientOf is the client the request authenticated as, or the stored one.
func (s storage) clientOf(ctx context.Context, clientID string) (ClientConfig, error) {
	if c := attemptOf(ctx).client; c != nil && c.ClientID == clientID {
		return *c, nil
	}
	c, _, err := LookupClient(ctx, s.h.cfg.Apps, clientID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return c, zoidc.ErrInvalidClient().WithDescription("the client is no longer registered")
		}
		attemptOf(ctx).fault = err
		return c, oidcServerError(err)
	}
	return c, nil
}

// judgeRefresh asks the gate about the refresh as about a sign-in: the user (a disabled user
// is refused), the client's application, the caller's address and the policy in force, with
// the grant's original sign-in (its time and whether a second factor was used). The gate's
// record names the new tokens; a refusal is that record.
func (s storage) judgeRefresh(ctx context.Context, r *refreshRequest) error {
	at := attemptOf(ctx)
	out, err := s.h.cfg.Gate.Check(ctx, signin.Attempt{Protocol: Protocol, Application: at.app, Endpoint: signin.Passive, HTTP: at.r,
		Session: &signin.Session{ID: r.t.SessionID, UserID: r.t.UserID, AuthnInstant: r.t.AuthTime, MFA: r.t.MFA}})
	if err != nil {
		at.fault = fmt.Errorf("gate: %w", err)
		at.recorded = out.EventID != ""
		return oidcServerError(err)
	}
	if !out.Allowed {
		at.recorded = true
		desc := "the access policy refuses this refresh (reference " + out.EventID + ")"
		if out.Message != "" {
			desc += ": " + out.Message
		}
		return zoidc.ErrInvalidGrant().WithDescription("%s", desc)
	}
	r.tokenID = signin.AssertionID(out.EventID)
	if r.tokenID == "" {
		r.tokenID = "_" + oneTimeID()
	}
	return nil
}

// rotate replaces the presented token by next. If it is no longer active, another use got
// there first (a copy was used at the same time): that is reuse, and the family is revoked.
func (s storage) rotate(ctx context.Context, old, next store.RefreshToken) error {
	err := s.h.cfg.Tokens.RotateRefreshToken(ctx, old.Hash, next)
	if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	at := attemptOf(ctx)
	cur, gerr := s.h.cfg.Tokens.GetRefreshToken(ctx, old.Hash)
	switch {
	case gerr != nil && !errors.Is(gerr, store.ErrNotFound):
		return gerr
	case gerr == nil && cur.State == store.RefreshRotated:
		at.detail = s.reused(ctx, cur, s.h.cfg.Clock()) + " (used twice at once)"
	case gerr == nil && cur.State == store.RefreshRevoked:
		at.detail = "refresh token revoked while it was being renewed"
	default:
		at.detail = "refresh token removed while it was being renewed (its user or client removed)"
	}
	if at.fault != nil {
		return at.fault
	}
	return errRefused{zoidc.ErrInvalidGrant().WithDescription("the refresh token is no longer valid")}
}
