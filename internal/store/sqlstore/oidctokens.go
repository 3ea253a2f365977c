package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sekisho/sekisho/internal/store"
)

const refreshCols = `token_hash, family_id, client_id, user_id, scopes, state, created_at, expires_at, used_at, auth_time, amr, mfa, session_id`

func scanRefreshToken(r rowScanner) (store.RefreshToken, error) {
	var t store.RefreshToken
	var scopes, amr, state string
	err := r.Scan(bc(&t.Hash), &t.FamilyID, &t.ClientID, &t.UserID, &scopes, &state, tc(&t.CreatedAt), tc(&t.ExpiresAt),
		tc(&t.UsedAt), tc(&t.AuthTime), &amr, &t.MFA, &t.SessionID)
	t.Scopes, t.AMR, t.State = strings.Fields(scopes), strings.Fields(amr), store.RefreshTokenState(state)
	return t, err
}

func validRefreshToken(t store.RefreshToken) error {
	switch {
	case len(t.Hash) == 0:
		return errors.New("no hash")
	case t.FamilyID == "" || t.ClientID == "" || t.UserID == "":
		return errors.New("family, client and user are required")
	case t.ExpiresAt.IsZero():
		return errors.New("no expiry")
	}
	for _, s := range append(append([]string(nil), t.Scopes...), t.AMR...) {
		if s == "" || strings.ContainsAny(s, " \t\r\n") {
			return fmt.Errorf("scope or method %q: empty or with a space", s)
		}
	}
	return nil
}

// CreateRefreshToken stores the first token of a family (state active unless given); its user
// must exist (ErrNotFound otherwise).
func (s *Store) CreateRefreshToken(ctx context.Context, t store.RefreshToken) error {
	if err := validRefreshToken(t); err != nil {
		return fmt.Errorf("%s: create refresh token: %w", s.d.Name, err)
	}
	if t.State == "" {
		t.State = store.RefreshActive
	}
	_, err := s.exec(ctx, `INSERT INTO oidc_refresh_tokens (`+refreshCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.Hash, t.FamilyID, t.ClientID, t.UserID, strings.Join(t.Scopes, " "), string(t.State), s.tv(orNow(t.CreatedAt)),
		s.tv(t.ExpiresAt), s.tv(t.UsedAt), s.tv(t.AuthTime), strings.Join(t.AMR, " "), t.MFA, t.SessionID)
	if err != nil {
		return s.fail(err, "create refresh token of family %q", t.FamilyID)
	}
	return nil
}

// GetRefreshToken returns the token whose SHA-256 is hash, in whatever state.
func (s *Store) GetRefreshToken(ctx context.Context, hash []byte) (store.RefreshToken, error) {
	t, err := scanRefreshToken(s.queryRow(ctx, `SELECT `+refreshCols+` FROM oidc_refresh_tokens WHERE token_hash = ?`, hash))
	if err != nil {
		return t, s.fail(err, "get refresh token")
	}
	return t, nil
}

// lockFamily serialises, across nodes, the changes to one family: a rotation and a revocation
// of the same family never interleave, so a revocation never misses the token a concurrent
// rotation adds (PostgreSQL's per-statement snapshots would not see it otherwise).
func (s *Store) lockFamily(ctx context.Context, familyID string) error {
	return s.Lock(ctx, "oidc-refresh-family:"+familyID)
}

// RotateRefreshToken marks the active token oldHash rotated (at next's creation time) and
// stores next, of the same family, in one transaction. If oldHash is not an active token of
// that family (unknown, rotated or revoked meanwhile), nothing changes and the error is
// ErrNotFound.
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash []byte, next store.RefreshToken) error {
	if err := validRefreshToken(next); err != nil {
		return fmt.Errorf("%s: rotate refresh token: %w", s.d.Name, err)
	}
	if next.State != "" && next.State != store.RefreshActive {
		return fmt.Errorf("%s: rotate refresh token: the next token must be active", s.d.Name)
	}
	next.State, next.CreatedAt = store.RefreshActive, orNow(next.CreatedAt)
	return s.withTx(ctx, func(tx *Store) error {
		if err := tx.lockFamily(ctx, next.FamilyID); err != nil {
			return err
		}
		res, err := tx.exec(ctx, `UPDATE oidc_refresh_tokens SET state = ?, used_at = ? WHERE token_hash = ? AND family_id = ? AND state = ?`,
			string(store.RefreshRotated), tx.tv(next.CreatedAt), oldHash, next.FamilyID, string(store.RefreshActive))
		if err := tx.mustAffect(res, err, "rotate refresh token of family %q: no active token", next.FamilyID); err != nil {
			return err
		}
		return tx.CreateRefreshToken(ctx, next)
	})
}

// RevokeRefreshFamily revokes every token of the family not revoked yet and reports how many.
func (s *Store) RevokeRefreshFamily(ctx context.Context, familyID string, at time.Time) (int64, error) {
	var n int64
	err := s.withTx(ctx, func(tx *Store) error {
		if err := tx.lockFamily(ctx, familyID); err != nil {
			return err
		}
		res, err := tx.exec(ctx, `UPDATE oidc_refresh_tokens SET state = ?, used_at = COALESCE(used_at, ?) WHERE family_id = ? AND state <> ?`,
			string(store.RefreshRevoked), tx.tv(orNow(at)), familyID, string(store.RefreshRevoked))
		if err != nil {
			return tx.fail(err, "revoke refresh family %q", familyID)
		}
		n, err = res.RowsAffected()
		if err != nil {
			return tx.fail(err, "revoke refresh family %q", familyID)
		}
		return nil
	})
	return n, err
}

// RefreshFamilyLive reports whether the family has a token and none of them is revoked (a
// family's tokens are revoked together). A family whose tokens were deleted (its user or
// client removed, or all of them expired and pruned) is not live.
func (s *Store) RefreshFamilyLive(ctx context.Context, familyID string) (bool, error) {
	var state string
	err := s.queryRow(ctx, `SELECT state FROM oidc_refresh_tokens WHERE family_id = ? AND state <> ? ORDER BY created_at DESC LIMIT 1`,
		familyID, string(store.RefreshRotated)).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, s.fail(err, "refresh family %q", familyID)
	}
	return state == string(store.RefreshActive), nil
}

// DeleteClientRefreshTokens deletes every refresh token of a client (its removal).
func (s *Store) DeleteClientRefreshTokens(ctx context.Context, clientID string) (int64, error) {
	res, err := s.exec(ctx, `DELETE FROM oidc_refresh_tokens WHERE client_id = ?`, clientID)
	if err != nil {
		return 0, s.fail(err, "delete refresh tokens of client %q", clientID)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, s.fail(err, "delete refresh tokens of client %q", clientID)
	}
	return n, nil
}

// RevokeAccessToken records that the access token tokenID is revoked until it expires; a
// second revocation keeps the first.
func (s *Store) RevokeAccessToken(ctx context.Context, tokenID, clientID string, at, expires time.Time) error {
	if tokenID == "" || expires.IsZero() {
		return fmt.Errorf("%s: revoke access token: token ID and expiry are required", s.d.Name)
	}
	_, err := s.exec(ctx, `INSERT INTO oidc_revoked_tokens (token_id, client_id, revoked_at, expires_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (token_id) DO NOTHING`, tokenID, clientID, s.tv(orNow(at)), s.tv(expires))
	if err != nil {
		return s.fail(err, "revoke access token %q", tokenID)
	}
	return nil
}

// AccessTokenRevoked reports whether the access token tokenID was revoked.
func (s *Store) AccessTokenRevoked(ctx context.Context, tokenID string) (bool, error) {
	var one int
	err := s.queryRow(ctx, `SELECT 1 FROM oidc_revoked_tokens WHERE token_id = ?`, tokenID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, s.fail(err, "revoked access token %q", tokenID)
	}
	return true, nil
}

// PruneOIDCTokens deletes the refresh tokens, the revoked access tokens and the device
// authorizations that expired before
// the given time, and reports how many rows went.
func (s *Store) PruneOIDCTokens(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for _, table := range []string{"oidc_refresh_tokens", "oidc_revoked_tokens", "oidc_device_codes"} {
		res, err := s.exec(ctx, `DELETE FROM `+table+` WHERE expires_at < ?`, s.tv(before))
		if err != nil {
			return total, s.fail(err, "prune %s", table)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, s.fail(err, "prune %s", table)
		}
		total += n
	}
	return total, nil
}

const deviceCodeCols = `device_hash, user_code, client_id, scopes, state, created_at, expires_at, polled_at, interval_s, user_id, auth_time, amr, mfa, event_id, session_id`

func scanDeviceCode(r rowScanner) (store.DeviceCode, error) {
	var d store.DeviceCode
	var scopes, amr, state string
	err := r.Scan(bc(&d.Hash), &d.UserCode, &d.ClientID, &scopes, &state, tc(&d.CreatedAt), tc(&d.ExpiresAt), tc(&d.PolledAt),
		&d.Interval, &d.UserID, tc(&d.AuthTime), &amr, &d.MFA, &d.EventID, &d.SessionID)
	d.Scopes, d.AMR, d.State = fieldsOrNil(scopes), fieldsOrNil(amr), store.DeviceCodeState(state)
	return d, err
}

func validDeviceCode(d store.DeviceCode) error {
	switch {
	case len(d.Hash) == 0 || d.UserCode == "" || d.ClientID == "":
		return errors.New("hash, user code and client are required")
	case d.ExpiresAt.IsZero() || d.Interval <= 0:
		return errors.New("an expiry and a polling interval are required")
	}
	switch d.State {
	case store.DevicePending, store.DeviceApproved, store.DeviceDenied, store.DeviceRedeemed:
	default:
		return fmt.Errorf("unknown state %q", d.State)
	}
	for _, s := range append(append([]string(nil), d.Scopes...), d.AMR...) {
		if s == "" || strings.ContainsAny(s, " \t\r\n") {
			return fmt.Errorf("scope or method %q: empty or with a space", s)
		}
	}
	return nil
}

// CreateDeviceCode stores a new device authorization. A user code still held by one not
// expired is ErrConflict (the caller draws another); one held by an expired authorization is
// taken over.
func (s *Store) CreateDeviceCode(ctx context.Context, d store.DeviceCode) error {
	if d.State == "" {
		d.State = store.DevicePending
	}
	if err := validDeviceCode(d); err != nil {
		return fmt.Errorf("%s: create device code: %w", s.d.Name, err)
	}
	d.CreatedAt = orNow(d.CreatedAt)
	return s.withTx(ctx, func(tx *Store) error {
		if _, err := tx.exec(ctx, `DELETE FROM oidc_device_codes WHERE user_code = ? AND expires_at <= ?`, d.UserCode, tx.tv(d.CreatedAt)); err != nil {
			return tx.fail(err, "create device code")
		}
		_, err := tx.exec(ctx, `INSERT INTO oidc_device_codes (`+deviceCodeCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			d.Hash, d.UserCode, d.ClientID, strings.Join(d.Scopes, " "), string(d.State), tx.tv(d.CreatedAt), tx.tv(d.ExpiresAt),
			tx.tv(d.PolledAt), d.Interval, d.UserID, tx.tv(d.AuthTime), strings.Join(d.AMR, " "), d.MFA, d.EventID, d.SessionID)
		if err != nil {
			return tx.fail(err, "create device code")
		}
		return nil
	})
}

// GetDeviceCodeByUserCode returns the authorization holding the user code, in whatever state.
func (s *Store) GetDeviceCodeByUserCode(ctx context.Context, userCode string) (store.DeviceCode, error) {
	d, err := scanDeviceCode(s.queryRow(ctx, `SELECT `+deviceCodeCols+` FROM oidc_device_codes WHERE user_code = ?`, userCode))
	if err != nil {
		return d, s.fail(err, "get device code")
	}
	return d, nil
}

// UpdateDeviceCode changes the authorization whose device code hashes to hash, in one
// transaction with the row locked: a poll and the user's decision, or two polls, never
// interleave. The hash, user code, client and creation time do not change.
func (s *Store) UpdateDeviceCode(ctx context.Context, hash []byte, fn func(store.DeviceCode) (store.DeviceCode, error)) (store.DeviceCode, error) {
	var out store.DeviceCode
	err := s.withTx(ctx, func(tx *Store) error {
		old, err := scanDeviceCode(tx.queryRow(ctx, `SELECT `+deviceCodeCols+` FROM oidc_device_codes WHERE device_hash = ?`+tx.d.ForUpdate, hash))
		if err != nil {
			return tx.fail(err, "update device code")
		}
		x, err := fn(old)
		if err != nil {
			return err
		}
		x.Hash, x.UserCode, x.ClientID, x.CreatedAt = old.Hash, old.UserCode, old.ClientID, old.CreatedAt
		if err := validDeviceCode(x); err != nil {
			return fmt.Errorf("%s: update device code: %w", tx.d.Name, err)
		}
		_, err = tx.exec(ctx, `UPDATE oidc_device_codes SET scopes = ?, state = ?, expires_at = ?, polled_at = ?, interval_s = ?, user_id = ?,
			auth_time = ?, amr = ?, mfa = ?, event_id = ?, session_id = ? WHERE device_hash = ?`,
			strings.Join(x.Scopes, " "), string(x.State), tx.tv(x.ExpiresAt), tx.tv(x.PolledAt), x.Interval, x.UserID, tx.tv(x.AuthTime),
			strings.Join(x.AMR, " "), x.MFA, x.EventID, x.SessionID, hash)
		if err != nil {
			return tx.fail(err, "update device code")
		}
		out = x
		return nil
	})
	return out, err
}

// fieldsOrNil splits a space-separated list; an empty list is nil.
func fieldsOrNil(s string) []string {
	if f := strings.Fields(s); len(f) > 0 {
		return f
	}
	return nil
}
