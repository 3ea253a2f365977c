package sqlstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/sekisho/sekisho/internal/store"
)

const scimTokenCols = `connector, id, hash, created_by, created_at, last_used_at, last_ip, revoked_at`

func scanSCIMToken(r rowScanner) (store.SCIMToken, error) {
	var t store.SCIMToken
	err := r.Scan(&t.Connector, &t.ID, bc(&t.Hash), &t.CreatedBy, tc(&t.CreatedAt), tc(&t.LastUsedAt), &t.LastIP, tc(&t.RevokedAt))
	return t, err
}

// PutSCIMToken stores the connector's token, replacing the one it had.
func (s *Store) PutSCIMToken(ctx context.Context, t store.SCIMToken) error {
	if strings.TrimSpace(t.Connector) == "" {
		return fmt.Errorf("%s: put scim token: no connector", s.d.Name)
	}
	if err := requireID("scim token", t.ID); err != nil {
		return fmt.Errorf("%s: put scim token: %w", s.d.Name, err)
	}
	if len(t.Hash) == 0 {
		return fmt.Errorf("%s: put scim token of %q: no hash", s.d.Name, t.Connector)
	}
	_, err := s.exec(ctx, `INSERT INTO scim_tokens (`+scimTokenCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (connector) DO UPDATE SET id = excluded.id, hash = excluded.hash, created_by = excluded.created_by,
		created_at = excluded.created_at, last_used_at = excluded.last_used_at, last_ip = excluded.last_ip, revoked_at = excluded.revoked_at`,
		t.Connector, t.ID, t.Hash, t.CreatedBy, s.tv(orNow(t.CreatedAt)), s.tv(t.LastUsedAt), t.LastIP, s.tv(t.RevokedAt))
	if err != nil {
		return s.fail(err, "put scim token of %q", t.Connector)
	}
	return nil
}

// GetSCIMToken returns the token with ID id, with its hash.
func (s *Store) GetSCIMToken(ctx context.Context, id string) (store.SCIMToken, error) {
	t, err := scanSCIMToken(s.queryRow(ctx, `SELECT `+scimTokenCols+` FROM scim_tokens WHERE id = ?`, id))
	if err != nil {
		return t, s.fail(err, "get scim token %q", id)
	}
	return t, nil
}

// ListSCIMTokens returns every connector's token, revoked ones included, by connector.
func (s *Store) ListSCIMTokens(ctx context.Context) ([]store.SCIMToken, error) {
	return queryAll(ctx, s, "list scim tokens", scanSCIMToken, `SELECT `+scimTokenCols+` FROM scim_tokens ORDER BY connector`)
}

// UpdateSCIMToken applies fn under a write lock; only the last use and the revocation change.
func (s *Store) UpdateSCIMToken(ctx context.Context, connector string, fn func(store.SCIMToken) (store.SCIMToken, error)) (store.SCIMToken, error) {
	var out store.SCIMToken
	err := s.withTx(ctx, func(tx *Store) error {
		old, err := scanSCIMToken(tx.queryRow(ctx, `SELECT `+scimTokenCols+` FROM scim_tokens WHERE connector = ?`+tx.d.ForUpdate, connector))
		if err != nil {
			return tx.fail(err, "update scim token of %q", connector)
		}
		t, err := fn(old)
		if err != nil {
			return fmt.Errorf("%s: update scim token of %q: %w", tx.d.Name, connector, err)
		}
		if _, err := tx.exec(ctx, `UPDATE scim_tokens SET last_used_at = ?, last_ip = ?, revoked_at = ? WHERE connector = ?`,
			tx.tv(t.LastUsedAt), t.LastIP, tx.tv(t.RevokedAt), connector); err != nil {
			return tx.fail(err, "update scim token of %q", connector)
		}
		old.LastUsedAt, old.LastIP, old.RevokedAt = t.LastUsedAt, t.LastIP, t.RevokedAt
		out = old
		return nil
	})
	return out, err
}
