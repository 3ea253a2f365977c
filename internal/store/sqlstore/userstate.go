package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/sekisho/sekisho/internal/store"
)

// Per-user state documents live in tables of one shape (user_id, data, updated_at). The table
// names below are constants, never input.
const (
	tableFactors = "user_factors"
	tableLockout = "lockout_state"
)

func (s *Store) getUserDoc(ctx context.Context, table, userID string, lock bool) ([]byte, error) {
	q := `SELECT data FROM ` + table + ` WHERE user_id = ?`
	if lock {
		q += s.d.ForUpdate
	}
	var b []byte
	if err := s.queryRow(ctx, q, userID).Scan(&b); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("%s: %s of user %q: %w", s.d.Name, table, userID, store.ErrNotFound)
		}
		return nil, s.fail(err, "read %s of user %q", table, userID)
	}
	return b, nil
}

// updateUserDoc runs fn on the current document (nil when none) under a row lock and stores
// its result; a nil result deletes the row. The empty row is created first (insert-if-absent)
// so that two first writers serialise on the same lock instead of racing to insert.
func (s *Store) updateUserDoc(ctx context.Context, table, userID string, fn func(old []byte) ([]byte, error)) error {
	return s.withTx(ctx, func(t *Store) error {
		if _, err := t.exec(ctx, `INSERT INTO `+table+` (user_id, data, updated_at) VALUES (?, ?, ?) ON CONFLICT (user_id) DO NOTHING`,
			userID, []byte{}, t.tv(time.Now())); err != nil {
			return t.fail(err, "update %s of user %q", table, userID)
		}
		old, err := t.getUserDoc(ctx, table, userID, true)
		if err != nil {
			return err
		}
		if len(old) == 0 {
			old = nil
		}
		nb, err := fn(old)
		if err != nil {
			return fmt.Errorf("%s: update %s of user %q: %w", t.d.Name, table, userID, err)
		}
		if nb == nil {
			_, err = t.exec(ctx, `DELETE FROM `+table+` WHERE user_id = ?`, userID)
		} else {
			_, err = t.exec(ctx, `UPDATE `+table+` SET data = ?, updated_at = ? WHERE user_id = ?`, nb, t.tv(time.Now()), userID)
		}
		if err != nil {
			return t.fail(err, "update %s of user %q", table, userID)
		}
		return nil
	})
}

// GetUserFactors returns the user's sealed second-factor document (ErrNotFound when none).
func (s *Store) GetUserFactors(ctx context.Context, userID string) ([]byte, error) {
	b, err := s.getUserDoc(ctx, tableFactors, userID, false)
	if err == nil && len(b) == 0 {
		return nil, fmt.Errorf("%s: factors of user %q: %w", s.d.Name, userID, store.ErrNotFound)
	}
	return b, err
}

// PutUserFactors replaces the user's sealed second-factor document; nil deletes it.
func (s *Store) PutUserFactors(ctx context.Context, userID string, sealed []byte) error {
	return s.updateUserDoc(ctx, tableFactors, userID, func([]byte) ([]byte, error) { return sealed, nil })
}

// UpdateUserFactors changes the user's sealed second-factor document atomically (fn gets nil
// when there is none; a nil result deletes it).
func (s *Store) UpdateUserFactors(ctx context.Context, userID string, fn func(old []byte) ([]byte, error)) error {
	return s.updateUserDoc(ctx, tableFactors, userID, fn)
}

// GetLockout returns the user's lockout state document (ErrNotFound when none).
func (s *Store) GetLockout(ctx context.Context, userID string) ([]byte, error) {
	b, err := s.getUserDoc(ctx, tableLockout, userID, false)
	if err == nil && len(b) == 0 {
		return nil, fmt.Errorf("%s: lockout state of user %q: %w", s.d.Name, userID, store.ErrNotFound)
	}
	return b, err
}

// UpdateLockout changes the user's lockout state atomically (read-modify-write under a lock).
func (s *Store) UpdateLockout(ctx context.Context, userID string, fn func(old []byte) ([]byte, error)) error {
	return s.updateUserDoc(ctx, tableLockout, userID, fn)
}
