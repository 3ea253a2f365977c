package sqlstore

import (
	"context"
	"fmt"

	"github.com/sekisho/sekisho/internal/store"
)

const keyCols = `id, purpose, state, sealed_key, cert_der, created_at, not_after, updated_at`

func scanKey(r rowScanner) (store.SigningKey, error) {
	var k store.SigningKey
	var state string
	err := r.Scan(&k.ID, &k.Purpose, &state, bc(&k.SealedKey), bc(&k.CertDER), tc(&k.CreatedAt), tc(&k.NotAfter), tc(&k.UpdatedAt))
	k.State = store.KeyState(state)
	return k, err
}

func (s *Store) CreateSigningKey(ctx context.Context, k store.SigningKey) error {
	if err := requireID("signing key", k.ID); err != nil {
		return fmt.Errorf("%s: create signing key: %w", s.d.Name, err)
	}
	k.CreatedAt = orNow(k.CreatedAt)
	if k.UpdatedAt.IsZero() {
		k.UpdatedAt = k.CreatedAt
	}
	_, err := s.exec(ctx, `INSERT INTO signing_keys (id, purpose, state, sealed_key, cert_der, created_at, not_after,
		updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.Purpose, string(k.State), k.SealedKey, k.CertDER, s.tv(k.CreatedAt), s.tv(k.NotAfter), s.tv(k.UpdatedAt))
	if err != nil {
		return s.fail(err, "create signing key %q", k.ID)
	}
	return nil
}

// ListSigningKeys returns the keys of one purpose ("" = all), oldest first.
func (s *Store) ListSigningKeys(ctx context.Context, purpose string) ([]store.SigningKey, error) {
	q, args := `SELECT `+keyCols+` FROM signing_keys`, []any{}
	if purpose != "" {
		q, args = q+` WHERE purpose = ?`, append(args, purpose)
	}
	return queryAll(ctx, s, "list signing keys", scanKey, q+` ORDER BY created_at, id`, args...)
}

// UpdateSigningKey applies fn under a write lock; ID and CreatedAt cannot change; UpdatedAt is
// set to now unless fn set it.
func (s *Store) UpdateSigningKey(ctx context.Context, id string, fn func(store.SigningKey) (store.SigningKey, error)) (store.SigningKey, error) {
	var out store.SigningKey
	err := s.withTx(ctx, func(t *Store) error {
		old, err := scanKey(t.queryRow(ctx, `SELECT `+keyCols+` FROM signing_keys WHERE id = ?`+t.d.ForUpdate, id))
		if err != nil {
			return t.fail(err, "update signing key %q", id)
		}
		k, err := fn(old)
		if err != nil {
			return fmt.Errorf("%s: update signing key %q: %w", t.d.Name, id, err)
		}
		k.ID, k.CreatedAt = old.ID, old.CreatedAt
		if k.UpdatedAt.Equal(old.UpdatedAt) {
			k.UpdatedAt = now()
		}
		if _, err := t.exec(ctx, `UPDATE signing_keys SET purpose = ?, state = ?, sealed_key = ?, cert_der = ?,
			not_after = ?, updated_at = ? WHERE id = ?`,
			k.Purpose, string(k.State), k.SealedKey, k.CertDER, t.tv(k.NotAfter), t.tv(k.UpdatedAt), id); err != nil {
			return t.fail(err, "update signing key %q", id)
		}
		out, err = scanKey(t.queryRow(ctx, `SELECT `+keyCols+` FROM signing_keys WHERE id = ?`, id))
		if err != nil {
			return t.fail(err, "update signing key %q: read back", id)
		}
		return nil
	})
	return out, err
}

func (s *Store) DeleteSigningKey(ctx context.Context, id string) error {
	res, err := s.exec(ctx, `DELETE FROM signing_keys WHERE id = ?`, id)
	return s.mustAffect(res, err, "delete signing key %q", id)
}
