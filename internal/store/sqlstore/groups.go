package sqlstore

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"

	"github.com/sekisho/sekisho/internal/store"
)

const groupCols = `id, name, description, created_at, source, source_dn`

func scanGroup(r rowScanner) (store.Group, error) {
	var g store.Group
	err := r.Scan(&g.ID, &g.Name, &g.Description, tc(&g.CreatedAt), &g.Source, &g.SourceDN)
	return g, err
}

// CreateGroup stores g; an empty ID is replaced by a random one (groups are addressed by name).
func (s *Store) CreateGroup(ctx context.Context, g store.Group) error {
	if strings.TrimSpace(g.Name) == "" {
		return fmt.Errorf("%s: create group: empty name", s.d.Name)
	}
	if g.ID == "" {
		g.ID = rand.Text()
	}
	_, err := s.exec(ctx, `INSERT INTO user_groups (id, name, name_lower, description, created_at, source, source_dn)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, g.ID, g.Name, strings.ToLower(g.Name), g.Description, s.tv(orNow(g.CreatedAt)),
		g.Source, g.SourceDN)
	if err != nil {
		return s.fail(err, "create group %q", g.Name)
	}
	return nil
}

func (s *Store) GetGroup(ctx context.Context, name string) (store.Group, error) {
	g, err := scanGroup(s.queryRow(ctx, `SELECT `+groupCols+` FROM user_groups WHERE name_lower = ?`, strings.ToLower(name)))
	if err != nil {
		return g, s.fail(err, "get group %q", name)
	}
	return g, nil
}

// ListGroups returns every group ordered by name, case-insensitively.
func (s *Store) ListGroups(ctx context.Context) ([]store.Group, error) {
	return queryAll(ctx, s, "list groups", scanGroup, `SELECT `+groupCols+` FROM user_groups ORDER BY name_lower`)
}

// UpdateGroup applies fn to the group under a write lock: name, description and source DN
// change; the ID, memberships and source stay.
func (s *Store) UpdateGroup(ctx context.Context, name string, fn func(store.Group) (store.Group, error)) (store.Group, error) {
	var out store.Group
	err := s.withTx(ctx, func(tx *Store) error {
		old, err := scanGroup(tx.queryRow(ctx, `SELECT `+groupCols+` FROM user_groups WHERE name_lower = ?`+tx.d.ForUpdate, strings.ToLower(name)))
		if err != nil {
			return tx.fail(err, "update group %q", name)
		}
		g, err := fn(old)
		if err != nil {
			return fmt.Errorf("%s: update group %q: %w", tx.d.Name, name, err)
		}
		if strings.TrimSpace(g.Name) == "" {
			return fmt.Errorf("%s: update group %q: empty name", tx.d.Name, name)
		}
		if _, err := tx.exec(ctx, `UPDATE user_groups SET name = ?, name_lower = ?, description = ?, source_dn = ? WHERE id = ?`,
			g.Name, strings.ToLower(g.Name), g.Description, g.SourceDN, old.ID); err != nil {
			return tx.fail(err, "update group %q", name)
		}
		old.Name, old.Description, old.SourceDN = g.Name, g.Description, g.SourceDN
		out = old
		return nil
	})
	return out, err
}

// DeleteGroup deletes the group and its memberships.
func (s *Store) DeleteGroup(ctx context.Context, name string) error {
	res, err := s.exec(ctx, `DELETE FROM user_groups WHERE name_lower = ?`, strings.ToLower(name))
	return s.mustAffect(res, err, "delete group %q", name)
}

// AddMember adds the user to the group; adding an existing member is not an error. A missing
// group or user is ErrNotFound.
func (s *Store) AddMember(ctx context.Context, group, userID string) error {
	g, err := s.GetGroup(ctx, group)
	if err != nil {
		return fmt.Errorf("add member: %w", err)
	}
	_, err = s.exec(ctx, `INSERT INTO group_members (group_id, user_id) VALUES (?, ?)
		ON CONFLICT (group_id, user_id) DO NOTHING`, g.ID, userID)
	if err != nil {
		return s.fail(err, "add user %q to group %q", userID, group)
	}
	return nil
}

// RemoveMember removes the user from the group; ErrNotFound if the user was not a member.
func (s *Store) RemoveMember(ctx context.Context, group, userID string) error {
	res, err := s.exec(ctx, `DELETE FROM group_members WHERE user_id = ? AND group_id =
		(SELECT id FROM user_groups WHERE name_lower = ?)`, userID, strings.ToLower(group))
	return s.mustAffect(res, err, "remove user %q from group %q", userID, group)
}

// ListMembers returns the group's users ordered by UPN, with their Groups filled.
func (s *Store) ListMembers(ctx context.Context, group string) ([]store.User, error) {
	g, err := s.GetGroup(ctx, group)
	if err != nil {
		return nil, fmt.Errorf("list members: %w", err)
	}
	what := fmt.Sprintf("list members of %q", group)
	users, err := queryAll(ctx, s, what, scanUser, `SELECT `+prefixCols("u.", userCols)+` FROM users u
		JOIN group_members m ON m.user_id = u.id WHERE m.group_id = ? ORDER BY u.upn_lower`, g.ID)
	if err != nil {
		return nil, err
	}
	if err := s.fillGroups(ctx, users); err != nil {
		return nil, s.fail(err, "%s", what)
	}
	return users, nil
}

// prefixCols qualifies every column of a list with a table alias.
func prefixCols(prefix, cols string) string {
	parts := strings.Split(cols, ",")
	for i, p := range parts {
		parts[i] = prefix + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}
