package sqlstore

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/sekisho/sekisho/internal/store"
)

const sessionCols = `id, user_id, created_at, last_seen_at, expires_at, mfa, data`

func scanSession(r rowScanner) (store.Session, error) {
	var x store.Session
	err := r.Scan(&x.ID, &x.UserID, tc(&x.CreatedAt), tc(&x.LastSeenAt), tc(&x.ExpiresAt), &x.MFA, bc(&x.Data))
	return x, err
}

// CreateSession stores x; its user must exist (ErrNotFound otherwise). Sessions are deleted
// with their user.
func (s *Store) CreateSession(ctx context.Context, x store.Session) error {
	if err := requireID("session", x.ID); err != nil {
		return fmt.Errorf("%s: create session: %w", s.d.Name, err)
	}
	x.CreatedAt = orNow(x.CreatedAt)
	if x.LastSeenAt.IsZero() {
		x.LastSeenAt = x.CreatedAt
	}
	_, err := s.exec(ctx, `INSERT INTO sessions (id, user_id, created_at, last_seen_at, expires_at, mfa, data)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		x.ID, x.UserID, s.tv(x.CreatedAt), s.tv(x.LastSeenAt), s.tv(x.ExpiresAt), x.MFA, x.Data)
	if err != nil {
		return s.fail(err, "create session")
	}
	return nil
}

func (s *Store) getSession(ctx context.Context, lock bool, id string) (store.Session, error) {
	q := `SELECT ` + sessionCols + ` FROM sessions WHERE id = ?`
	if lock {
		q += s.d.ForUpdate
	}
	return scanSession(s.queryRow(ctx, q, id))
}

// GetSession returns the session as stored, expired or not: callers compare ExpiresAt.
func (s *Store) GetSession(ctx context.Context, id string) (store.Session, error) {
	x, err := s.getSession(ctx, false, id)
	if err != nil {
		// The ID is a hash of a secret cookie: keep it out of error messages.
		return x, s.fail(err, "get session")
	}
	return x, nil
}

// UpdateSession applies fn under a write lock; ID, user and CreatedAt cannot change.
func (s *Store) UpdateSession(ctx context.Context, id string, fn func(store.Session) (store.Session, error)) (store.Session, error) {
	var out store.Session
	err := s.withTx(ctx, func(t *Store) error {
		old, err := t.getSession(ctx, true, id)
		if err != nil {
			return t.fail(err, "update session")
		}
		x, err := fn(old)
		if err != nil {
			return fmt.Errorf("%s: update session: %w", t.d.Name, err)
		}
		x.ID, x.UserID, x.CreatedAt = old.ID, old.UserID, old.CreatedAt
		if x.LastSeenAt.Equal(old.LastSeenAt) && x.ExpiresAt.Equal(old.ExpiresAt) && x.MFA == old.MFA && bytes.Equal(x.Data, old.Data) {
			out = old // nothing changed: no write
			return nil
		}
		if _, err := t.exec(ctx, `UPDATE sessions SET last_seen_at = ?, expires_at = ?, mfa = ?, data = ? WHERE id = ?`,
			t.tv(x.LastSeenAt), t.tv(x.ExpiresAt), x.MFA, x.Data, id); err != nil {
			return t.fail(err, "update session")
		}
		out, err = t.getSession(ctx, false, id)
		if err != nil {
			return t.fail(err, "update session: read back")
		}
		return nil
	})
	return out, err
}

func (s *Store) DeleteSession(ctx context.Context, id string) error {
	res, err := s.exec(ctx, `DELETE FROM sessions WHERE id = ?`, id)
	return s.mustAffect(res, err, "delete session")
}

// DeleteUserSessions deletes every session of the user and reports how many there were.
func (s *Store) DeleteUserSessions(ctx context.Context, userID string) (int64, error) {
	return s.deleteCount(ctx, `DELETE FROM sessions WHERE user_id = ?`, userID, "delete sessions of user %q", userID)
}

// DeleteExpiredSessions deletes sessions whose ExpiresAt is at or before now.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error) {
	return s.deleteCount(ctx, `DELETE FROM sessions WHERE expires_at <= ?`, s.tv(now), "delete expired sessions")
}

func (s *Store) deleteCount(ctx context.Context, q string, arg any, format string, args ...any) (int64, error) {
	res, err := s.exec(ctx, q, arg)
	if err != nil {
		return 0, s.fail(err, format, args...)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, s.fail(err, format, args...)
	}
	return n, nil
}
