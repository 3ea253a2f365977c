package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/sekisho/sekisho/internal/store"
)

const bridgeCredCols = `id, user_id, name, scopes, from_addrs, hash, created_by, created_at, expires_at, last_used_at, last_ip, revoked_at`

func scanBridgeCredential(r rowScanner) (store.BridgeCredential, error) {
	var c store.BridgeCredential
	var scopes, from string
	err := r.Scan(&c.ID, &c.UserID, &c.Name, &scopes, &from, bc(&c.Hash), &c.CreatedBy, tc(&c.CreatedAt), tc(&c.ExpiresAt),
		tc(&c.LastUsedAt), &c.LastIP, tc(&c.RevokedAt))
	c.Scopes, c.From = fieldsOrNil(scopes), fieldsOrNil(from)
	return c, err
}

// CreateBridgeCredential stores c; its owner must exist (ErrNotFound otherwise) and its name
// be free for the owner (ErrConflict).
func (s *Store) CreateBridgeCredential(ctx context.Context, c store.BridgeCredential) error {
	if err := requireID("bridge credential", c.ID); err != nil {
		return fmt.Errorf("%s: create bridge credential: %w", s.d.Name, err)
	}
	if len(c.Hash) == 0 || strings.TrimSpace(c.Name) == "" || len(c.Scopes) == 0 {
		return fmt.Errorf("%s: create bridge credential %q: hash, name and scopes are required", s.d.Name, c.ID)
	}
	_, err := s.exec(ctx, `INSERT INTO bridge_credentials (`+bridgeCredCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.UserID, c.Name, strings.Join(c.Scopes, " "), strings.Join(c.From, " "), c.Hash, c.CreatedBy,
		s.tv(orNow(c.CreatedAt)), s.tv(c.ExpiresAt), s.tv(c.LastUsedAt), c.LastIP, s.tv(c.RevokedAt))
	if err != nil {
		return s.fail(err, "create bridge credential %q", c.Name)
	}
	return nil
}

// GetBridgeCredential returns the credential with ID id.
func (s *Store) GetBridgeCredential(ctx context.Context, id string) (store.BridgeCredential, error) {
	c, err := scanBridgeCredential(s.queryRow(ctx, `SELECT `+bridgeCredCols+` FROM bridge_credentials WHERE id = ?`, id))
	if err != nil {
		return c, s.fail(err, "get bridge credential %q", id)
	}
	return c, nil
}

// GetBridgeCredentialByHash returns the credential whose keyed hash is hash.
func (s *Store) GetBridgeCredentialByHash(ctx context.Context, hash []byte) (store.BridgeCredential, error) {
	c, err := scanBridgeCredential(s.queryRow(ctx, `SELECT `+bridgeCredCols+` FROM bridge_credentials WHERE hash = ?`, hash))
	if err != nil {
		return c, s.fail(err, "get bridge credential by hash")
	}
	return c, nil
}

// ListBridgeCredentials returns userID's credentials ("" for everyone's), oldest first.
func (s *Store) ListBridgeCredentials(ctx context.Context, userID string) ([]store.BridgeCredential, error) {
	if userID == "" {
		return queryAll(ctx, s, "list bridge credentials", scanBridgeCredential,
			`SELECT `+bridgeCredCols+` FROM bridge_credentials ORDER BY created_at, id`)
	}
	return queryAll(ctx, s, "list bridge credentials", scanBridgeCredential,
		`SELECT `+bridgeCredCols+` FROM bridge_credentials WHERE user_id = ? ORDER BY created_at, id`, userID)
}

// UpdateBridgeCredential applies fn under a write lock; only the last use, the expiry and the
// revocation change.
func (s *Store) UpdateBridgeCredential(ctx context.Context, id string, fn func(store.BridgeCredential) (store.BridgeCredential, error)) (store.BridgeCredential, error) {
	var out store.BridgeCredential
	err := s.withTx(ctx, func(tx *Store) error {
		old, err := scanBridgeCredential(tx.queryRow(ctx, `SELECT `+bridgeCredCols+` FROM bridge_credentials WHERE id = ?`+tx.d.ForUpdate, id))
		if err != nil {
			return tx.fail(err, "update bridge credential %q", id)
		}
		c, err := fn(old)
		if err != nil {
			return fmt.Errorf("%s: update bridge credential %q: %w", tx.d.Name, id, err)
		}
		if _, err := tx.exec(ctx, `UPDATE bridge_credentials SET last_used_at = ?, last_ip = ?, expires_at = ?, revoked_at = ? WHERE id = ?`,
			tx.tv(c.LastUsedAt), c.LastIP, tx.tv(c.ExpiresAt), tx.tv(c.RevokedAt), id); err != nil {
			return tx.fail(err, "update bridge credential %q", id)
		}
		old.LastUsedAt, old.LastIP, old.ExpiresAt, old.RevokedAt = c.LastUsedAt, c.LastIP, c.ExpiresAt, c.RevokedAt
		out = old
		return nil
	})
	return out, err
}

const bridgeGrantCols = `profile, user_id, sealed, updated_at`

func scanBridgeGrant(r rowScanner) (store.BridgeUpstreamGrant, error) {
	var g store.BridgeUpstreamGrant
	err := r.Scan(&g.Profile, &g.UserID, bc(&g.Sealed), tc(&g.UpdatedAt))
	return g, err
}

// GetBridgeUpstreamGrant returns the grant of profile for userID.
func (s *Store) GetBridgeUpstreamGrant(ctx context.Context, profile, userID string) (store.BridgeUpstreamGrant, error) {
	g, err := scanBridgeGrant(s.queryRow(ctx, `SELECT `+bridgeGrantCols+` FROM bridge_upstream_grants WHERE profile = ? AND user_id = ?`, profile, userID))
	if err != nil {
		return g, s.fail(err, "get bridge upstream grant %s/%s", profile, userID)
	}
	return g, nil
}

// ListBridgeUpstreamGrants returns every grant of profile, by user ID.
func (s *Store) ListBridgeUpstreamGrants(ctx context.Context, profile string) ([]store.BridgeUpstreamGrant, error) {
	return queryAll(ctx, s, "list bridge upstream grants", scanBridgeGrant,
		`SELECT `+bridgeGrantCols+` FROM bridge_upstream_grants WHERE profile = ? ORDER BY user_id`, profile)
}

// UpdateBridgeUpstreamGrant runs fn on the grant (found false when there is none) with the
// row locked, and stores its result; a nil Sealed deletes the row. A first grant for a
// profile and user is serialised by the store's write lock (SQLite) or the primary key
// (PostgreSQL: the second inserter gets ErrConflict and may retry).
func (s *Store) UpdateBridgeUpstreamGrant(ctx context.Context, profile, userID string, fn func(store.BridgeUpstreamGrant, bool) (store.BridgeUpstreamGrant, error)) (store.BridgeUpstreamGrant, error) {
	var out store.BridgeUpstreamGrant
	err := s.withTx(ctx, func(tx *Store) error {
		old, err := scanBridgeGrant(tx.queryRow(ctx, `SELECT `+bridgeGrantCols+` FROM bridge_upstream_grants WHERE profile = ? AND user_id = ?`+tx.d.ForUpdate, profile, userID))
		found := err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return tx.fail(err, "update bridge upstream grant %s/%s", profile, userID)
		}
		if !found {
			old = store.BridgeUpstreamGrant{Profile: profile, UserID: userID}
		}
		g, err := fn(old, found)
		if err != nil {
			return fmt.Errorf("%s: update bridge upstream grant %s/%s: %w", tx.d.Name, profile, userID, err)
		}
		g.Profile, g.UserID = profile, userID
		switch {
		case g.Sealed == nil && found:
			_, err = tx.exec(ctx, `DELETE FROM bridge_upstream_grants WHERE profile = ? AND user_id = ?`, profile, userID)
		case g.Sealed == nil:
		case found:
			g.UpdatedAt = orNow(g.UpdatedAt)
			_, err = tx.exec(ctx, `UPDATE bridge_upstream_grants SET sealed = ?, updated_at = ? WHERE profile = ? AND user_id = ?`,
				g.Sealed, tx.tv(g.UpdatedAt), profile, userID)
		default:
			g.UpdatedAt = orNow(g.UpdatedAt)
			_, err = tx.exec(ctx, `INSERT INTO bridge_upstream_grants (`+bridgeGrantCols+`) VALUES (?, ?, ?, ?)`,
				profile, userID, g.Sealed, tx.tv(g.UpdatedAt))
		}
		if err != nil {
			return tx.fail(err, "update bridge upstream grant %s/%s", profile, userID)
		}
		out = g
		return nil
	})
	return out, err
}
