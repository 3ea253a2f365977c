package sqlstore

import (
	"context"
	"fmt"

	"github.com/sekisho/sekisho/internal/store"
)

const apiTokenCols = `id, name, user_id, role, hash, created_by, created_at, expires_at, last_used_at, last_ip, revoked_at`

func scanAPIToken(r rowScanner) (store.APIToken, error) {
	var t store.APIToken
	err := r.Scan(&t.ID, &t.Name, &t.UserID, &t.Role, bc(&t.Hash), &t.CreatedBy, tc(&t.CreatedAt), tc(&t.ExpiresAt),
		tc(&t.LastUsedAt), &t.LastIP, tc(&t.RevokedAt))
	return t, err
}

// CreateAPIToken stores t; its owner must exist (ErrNotFound otherwise).
func (s *Store) CreateAPIToken(ctx context.Context, t store.APIToken) error {
	if err := requireID("api token", t.ID); err != nil {
		return fmt.Errorf("%s: create api token: %w", s.d.Name, err)
	}
	if len(t.Hash) == 0 {
		return fmt.Errorf("%s: create api token %q: no hash", s.d.Name, t.ID)
	}
	_, err := s.exec(ctx, `INSERT INTO api_tokens (`+apiTokenCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, t.Name, t.UserID, t.Role, t.Hash, t.CreatedBy, s.tv(orNow(t.CreatedAt)), s.tv(t.ExpiresAt),
		s.tv(t.LastUsedAt), t.LastIP, s.tv(t.RevokedAt))
	if err != nil {
		return s.fail(err, "create api token %q", t.ID)
	}
	return nil
}

func (s *Store) getAPIToken(ctx context.Context, lock bool, id string) (store.APIToken, error) {
	q := `SELECT ` + apiTokenCols + ` FROM api_tokens WHERE id = ?`
	if lock {
		q += s.d.ForUpdate
	}
	return scanAPIToken(s.queryRow(ctx, q, id))
}

// GetAPIToken returns the token with its hash.
func (s *Store) GetAPIToken(ctx context.Context, id string) (store.APIToken, error) {
	t, err := s.getAPIToken(ctx, false, id)
	if err != nil {
		return t, s.fail(err, "get api token %q", id)
	}
	return t, nil
}

// ListAPITokens returns every token, revoked ones included, oldest first.
func (s *Store) ListAPITokens(ctx context.Context) ([]store.APIToken, error) {
	return queryAll(ctx, s, "list api tokens", scanAPIToken, `SELECT `+apiTokenCols+` FROM api_tokens ORDER BY created_at, id`)
}

// UpdateAPIToken applies fn under a write lock; only the last use and the revocation change.
func (s *Store) UpdateAPIToken(ctx context.Context, id string, fn func(store.APIToken) (store.APIToken, error)) (store.APIToken, error) {
	var out store.APIToken
	err := s.withTx(ctx, func(tx *Store) error {
		old, err := tx.getAPIToken(ctx, true, id)
		if err != nil {
			return tx.fail(err, "update api token %q", id)
		}
		t, err := fn(old)
		if err != nil {
			return fmt.Errorf("%s: update api token %q: %w", tx.d.Name, id, err)
		}
		if _, err := tx.exec(ctx, `UPDATE api_tokens SET last_used_at = ?, last_ip = ?, revoked_at = ? WHERE id = ?`,
			tx.tv(t.LastUsedAt), t.LastIP, tx.tv(t.RevokedAt), id); err != nil {
			return tx.fail(err, "update api token %q", id)
		}
		old.LastUsedAt, old.LastIP, old.RevokedAt = t.LastUsedAt, t.LastIP, t.RevokedAt
		out = old
		return nil
	})
	return out, err
}
