package sqlstore

import (
	"context"
	"fmt"
	"strings"
)

// memberChunk is the rows of one INSERT of AddMembers (two parameters each: far below
// SQLite's and PostgreSQL's parameter limits).
const memberChunk = 500

// AddMembers adds the users to the group, in one transaction, a few hundred rows per INSERT:
// what AddMember does for each of them (an existing member is not an error; a missing group
// or user is ErrNotFound, and then none is added), without reading the group once per user.
// A directory sync adds hundreds of thousands of memberships at once.
func (s *Store) AddMembers(ctx context.Context, group string, userIDs []string) error {
	return s.withTx(ctx, func(t *Store) error {
		g, err := t.GetGroup(ctx, group)
		if err != nil {
			return fmt.Errorf("add members: %w", err)
		}
		for start := 0; start < len(userIDs); start += memberChunk {
			part := userIDs[start:min(start+memberChunk, len(userIDs))]
			var q strings.Builder
			q.WriteString(`INSERT INTO group_members (group_id, user_id) VALUES `)
			args := make([]any, 0, 2*len(part))
			for i, id := range part {
				if i > 0 {
					q.WriteString(", ")
				}
				q.WriteString("(?, ?)")
				args = append(args, g.ID, id)
			}
			q.WriteString(` ON CONFLICT (group_id, user_id) DO NOTHING`)
			if _, err := t.exec(ctx, q.String(), args...); err != nil {
				return t.fail(err, "add %d users to group %q", len(part), group)
			}
		}
		return nil
	})
}
