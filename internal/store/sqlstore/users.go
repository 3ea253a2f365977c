package sqlstore

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/sekisho/sekisho/internal/store"
)

// Users: upn_lower carries uniqueness and order; upn keeps the case the admin typed.
// Lower-casing happens here, in Go, so every backend folds case the same way.

const userCols = `id, upn, display_name, email, immutable_id, status, password_hash, created_at, updated_at, password_change_required, source, source_dn, source_missing_since, source_disabled`

func scanUser(r rowScanner) (store.User, error) {
	var u store.User
	var status string
	var change, srcDisabled int64
	err := r.Scan(&u.ID, &u.UPN, &u.DisplayName, &u.Email, &u.ImmutableID, &status, &u.PasswordHash,
		tc(&u.CreatedAt), tc(&u.UpdatedAt), &change, &u.Source, &u.SourceDN, tc(&u.SourceMissingSince), &srcDisabled)
	u.SourceDisabled = srcDisabled != 0
	u.Status = store.UserStatus(status)
	u.PasswordChangeRequired = change != 0
	return u, err
}

// flag stores a bool as 0/1 (one column type for both backends).
func flag(b bool) int {
	if b {
		return 1
	}
	return 0
}

const defaultPageSize, maxPageSize = 100, 1000

func validUser(u store.User) error {
	if err := requireID("user", u.ID); err != nil {
		return err
	}
	if strings.TrimSpace(u.UPN) == "" {
		return fmt.Errorf("user %s: empty UPN", u.ID)
	}
	return nil
}

func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	if err := validUser(u); err != nil {
		return fmt.Errorf("%s: create user: %w", s.d.Name, err)
	}
	if u.Status == "" {
		u.Status = store.UserActive
	}
	u.CreatedAt = orNow(u.CreatedAt)
	if u.UpdatedAt.IsZero() {
		u.UpdatedAt = u.CreatedAt
	}
	_, err := s.exec(ctx, `INSERT INTO users (id, upn, upn_lower, display_name, email, immutable_id, status,
		password_hash, created_at, updated_at, password_change_required, source, source_dn, source_missing_since, source_disabled)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.UPN, strings.ToLower(u.UPN), u.DisplayName, u.Email, u.ImmutableID, string(u.Status),
		u.PasswordHash, s.tv(u.CreatedAt), s.tv(u.UpdatedAt), flag(u.PasswordChangeRequired), u.Source, u.SourceDN,
		s.tv(u.SourceMissingSince), flag(u.SourceDisabled))
	if err != nil {
		return s.fail(err, "create user %q", u.UPN)
	}
	return nil
}

func (s *Store) getUserWhere(ctx context.Context, lock bool, where string, arg any) (store.User, error) {
	q := `SELECT ` + userCols + ` FROM users WHERE ` + where
	if lock {
		q += s.d.ForUpdate
	}
	u, err := scanUser(s.queryRow(ctx, q, arg))
	if err != nil {
		return u, err
	}
	us := []store.User{u}
	if err := s.fillGroups(ctx, us); err != nil {
		return store.User{}, err
	}
	return us[0], nil
}

func (s *Store) GetUser(ctx context.Context, id string) (store.User, error) {
	u, err := s.getUserWhere(ctx, false, `id = ?`, id)
	if err != nil {
		return u, s.fail(err, "get user %q", id)
	}
	return u, nil
}

func (s *Store) GetUserByUPN(ctx context.Context, upn string) (store.User, error) {
	u, err := s.getUserWhere(ctx, false, `upn_lower = ?`, strings.ToLower(upn))
	if err != nil {
		return u, s.fail(err, "get user by UPN %q", upn)
	}
	return u, nil
}

func (s *Store) GetUserByImmutableID(ctx context.Context, immutableID string) (store.User, error) {
	if immutableID == "" {
		return store.User{}, fmt.Errorf("%s: get user by empty ImmutableID: %w", s.d.Name, store.ErrNotFound)
	}
	// The repeated condition lets SQLite use the partial index (immutable_id <> ''), which
	// it does not infer from the equality; without it the lookup scans every user.
	u, err := s.getUserWhere(ctx, false, `immutable_id = ? AND immutable_id <> ''`, immutableID)
	if err != nil {
		return u, s.fail(err, "get user by ImmutableID %q", immutableID)
	}
	return u, nil
}

// ListUsers returns users ordered by lower-case UPN. next is an opaque cursor (the last
// lower-case UPN of the page), "" on the last page.
func (s *Store) ListUsers(ctx context.Context, p store.Page) ([]store.User, string, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = defaultPageSize
	}
	limit = min(limit, maxPageSize)
	after := ""
	if p.After != "" {
		b, err := base64.RawURLEncoding.DecodeString(p.After)
		if err != nil || len(b) == 0 {
			return nil, "", fmt.Errorf("%s: list users: invalid page cursor %q", s.d.Name, p.After)
		}
		after = string(b)
	}
	users, err := queryAll(ctx, s, "list users", scanUser, `SELECT `+userCols+` FROM users WHERE upn_lower > ? ORDER BY upn_lower LIMIT ?`,
		after, limit+1)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(users) > limit {
		users = users[:limit]
		next = base64.RawURLEncoding.EncodeToString([]byte(strings.ToLower(users[limit-1].UPN)))
	}
	if err := s.fillGroups(ctx, users); err != nil {
		return nil, "", s.fail(err, "list users")
	}
	return users, next, nil
}

// UpdateUser reads the user under a write lock, applies fn and stores the result. The ID and
// CreatedAt cannot change; UpdatedAt is set to now unless fn set it. Groups are ignored.
func (s *Store) UpdateUser(ctx context.Context, id string, fn func(store.User) (store.User, error)) (store.User, error) {
	var out store.User
	err := s.withTx(ctx, func(t *Store) error {
		old, err := t.getUserWhere(ctx, true, `id = ?`, id)
		if err != nil {
			return t.fail(err, "update user %q", id)
		}
		u, err := fn(old)
		if err != nil {
			return fmt.Errorf("%s: update user %q: %w", t.d.Name, id, err)
		}
		u.ID, u.CreatedAt = old.ID, old.CreatedAt
		if err := validUser(u); err != nil {
			return fmt.Errorf("%s: update user: %w", t.d.Name, err)
		}
		if u.UpdatedAt.Equal(old.UpdatedAt) {
			u.UpdatedAt = now()
		}
		if _, err := t.exec(ctx, `UPDATE users SET upn = ?, upn_lower = ?, display_name = ?, email = ?,
			immutable_id = ?, status = ?, password_hash = ?, updated_at = ?, password_change_required = ?,
			source = ?, source_dn = ?, source_missing_since = ?, source_disabled = ? WHERE id = ?`,
			u.UPN, strings.ToLower(u.UPN), u.DisplayName, u.Email, u.ImmutableID, string(u.Status),
			u.PasswordHash, t.tv(u.UpdatedAt), flag(u.PasswordChangeRequired), u.Source, u.SourceDN,
			t.tv(u.SourceMissingSince), flag(u.SourceDisabled), id); err != nil {
			return t.fail(err, "update user %q", id)
		}
		out, err = t.getUserWhere(ctx, false, `id = ?`, id)
		if err != nil {
			return t.fail(err, "update user %q: read back", id)
		}
		return nil
	})
	return out, err
}

// DeleteUser deletes the user; memberships, sessions and devices go with it (ON DELETE CASCADE).
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	res, err := s.exec(ctx, `DELETE FROM users WHERE id = ?`, id)
	return s.mustAffect(res, err, "delete user %q", id)
}

// fillGroups sets Groups (names, ordered case-insensitively) on every user.
func (s *Store) fillGroups(ctx context.Context, users []store.User) error {
	const chunk = 500
	idx := make(map[string]int, len(users))
	for i := range users {
		users[i].Groups = nil
		idx[users[i].ID] = i
	}
	for start := 0; start < len(users); start += chunk {
		part := users[start:min(start+chunk, len(users))]
		args := make([]any, len(part))
		for i, u := range part {
			args[i] = u.ID
		}
		rows, err := s.query(ctx, `SELECT m.user_id, g.name FROM group_members m
			JOIN user_groups g ON g.id = m.group_id
			WHERE m.user_id IN (`+placeholders(len(args))+`) ORDER BY g.name_lower`, args...)
		if err != nil {
			return fmt.Errorf("read groups: %w", err)
		}
		for rows.Next() {
			var uid, name string
			if err := rows.Scan(&uid, &name); err != nil {
				rows.Close()
				return fmt.Errorf("read groups: %w", err)
			}
			if i, ok := idx[uid]; ok {
				users[i].Groups = append(users[i].Groups, name)
			}
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("read groups: %w", err)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read groups: %w", err)
		}
	}
	return nil
}
