package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/sekisho/sekisho/internal/store"
)

// The admin audit log, like the sign-in log: no foreign keys, ordered by time then insertion.

// AddAdminEvent appends e; a zero Time is set to now.
func (s *Store) AddAdminEvent(ctx context.Context, e store.AdminEvent) error {
	if err := requireID("admin event", e.ID); err != nil {
		return fmt.Errorf("%s: add admin event: %w", s.d.Name, err)
	}
	if _, err := s.exec(ctx, `INSERT INTO admin_audit (id, occurred_at, actor, via, action, target, before_doc, after_doc)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, e.ID, s.tv(orNow(e.Time)), e.Actor, e.Via, e.Action, e.Target, e.Before, e.After); err != nil {
		return s.fail(err, "add admin event %q", e.ID)
	}
	return nil
}

// ListAdminEvents returns the entries f selects, oldest first (with f.Limit: the newest Limit).
func (s *Store) ListAdminEvents(ctx context.Context, f store.AdminEventFilter) ([]store.AdminEvent, error) {
	var where []string
	var args []any
	if !f.Since.IsZero() {
		where, args = append(where, "occurred_at >= ?"), append(args, s.tv(f.Since))
	}
	if !f.Until.IsZero() {
		where, args = append(where, "occurred_at < ?"), append(args, s.tv(f.Until))
	}
	if f.Actor != "" {
		where, args = append(where, "actor = ?"), append(args, f.Actor)
	}
	if f.Action != "" {
		if strings.HasSuffix(f.Action, ".") {
			where, args = append(where, "substr(action, 1, ?) = ?"), append(args, len(f.Action), f.Action)
		} else {
			where, args = append(where, "action = ?"), append(args, f.Action)
		}
	}
	if f.Target != "" {
		where, args = append(where, "target = ?"), append(args, f.Target)
	}
	q := `SELECT id, occurred_at, actor, via, action, target, before_doc, after_doc FROM admin_audit`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY occurred_at DESC, seq DESC"
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	out, err := queryAll(ctx, s, "list admin events", func(r rowScanner) (store.AdminEvent, error) {
		var e store.AdminEvent
		err := r.Scan(&e.ID, tc(&e.Time), &e.Actor, &e.Via, &e.Action, &e.Target, bc(&e.Before), bc(&e.After))
		return e, err
	}, q, args...)
	if err != nil {
		return nil, err
	}
	slices.Reverse(out)
	return out, nil
}
