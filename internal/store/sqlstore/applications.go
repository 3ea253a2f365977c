package sqlstore

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"

	"github.com/sekisho/sekisho/internal/store"
)

const appCols = `id, name, protocol, entity_id, config, created_at, updated_at`

func scanApp(r rowScanner) (store.Application, error) {
	var a store.Application
	err := r.Scan(&a.ID, &a.Name, &a.Protocol, &a.EntityID, bc(&a.Config), tc(&a.CreatedAt), tc(&a.UpdatedAt))
	return a, err
}

// CreateApplication stores a; an empty ID is replaced by a random one.
func (s *Store) CreateApplication(ctx context.Context, a store.Application) error {
	if strings.TrimSpace(a.Name) == "" {
		return fmt.Errorf("%s: create application: empty name", s.d.Name)
	}
	if a.ID == "" {
		a.ID = rand.Text()
	}
	a.CreatedAt = orNow(a.CreatedAt)
	if a.UpdatedAt.IsZero() {
		a.UpdatedAt = a.CreatedAt
	}
	_, err := s.exec(ctx, `INSERT INTO applications (id, name, name_lower, protocol, entity_id, config,
		created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.Name, strings.ToLower(a.Name), a.Protocol, a.EntityID, a.Config, s.tv(a.CreatedAt), s.tv(a.UpdatedAt))
	if err != nil {
		return s.fail(err, "create application %q", a.Name)
	}
	return nil
}

func (s *Store) getApp(ctx context.Context, lock bool, name string) (store.Application, error) {
	q := `SELECT ` + appCols + ` FROM applications WHERE name_lower = ?`
	if lock {
		q += s.d.ForUpdate
	}
	a, err := scanApp(s.queryRow(ctx, q, strings.ToLower(name)))
	if err != nil {
		return a, s.fail(err, "get application %q", name)
	}
	return a, nil
}

func (s *Store) GetApplication(ctx context.Context, name string) (store.Application, error) {
	return s.getApp(ctx, false, name)
}

func (s *Store) GetApplicationByEntityID(ctx context.Context, protocol, entityID string) (store.Application, error) {
	a, err := scanApp(s.queryRow(ctx, `SELECT `+appCols+` FROM applications WHERE protocol = ? AND entity_id = ?`,
		protocol, entityID))
	if err != nil {
		return a, s.fail(err, "get %s application %q", protocol, entityID)
	}
	return a, nil
}

// ListApplications returns every application ordered by name, case-insensitively.
func (s *Store) ListApplications(ctx context.Context) ([]store.Application, error) {
	return queryAll(ctx, s, "list applications", scanApp, `SELECT `+appCols+` FROM applications ORDER BY name_lower`)
}

// UpdateApplication applies fn under a write lock. fn may rename the application; ID and
// CreatedAt cannot change; UpdatedAt is set to now unless fn set it.
func (s *Store) UpdateApplication(ctx context.Context, name string, fn func(store.Application) (store.Application, error)) (store.Application, error) {
	var out store.Application
	err := s.withTx(ctx, func(t *Store) error {
		old, err := t.getApp(ctx, true, name)
		if err != nil {
			return fmt.Errorf("update application: %w", err)
		}
		a, err := fn(old)
		if err != nil {
			return fmt.Errorf("%s: update application %q: %w", t.d.Name, name, err)
		}
		a.ID, a.CreatedAt = old.ID, old.CreatedAt
		if strings.TrimSpace(a.Name) == "" {
			return fmt.Errorf("%s: update application %q: empty name", t.d.Name, name)
		}
		if a.UpdatedAt.Equal(old.UpdatedAt) {
			a.UpdatedAt = now()
		}
		if _, err := t.exec(ctx, `UPDATE applications SET name = ?, name_lower = ?, protocol = ?, entity_id = ?,
			config = ?, updated_at = ? WHERE id = ?`,
			a.Name, strings.ToLower(a.Name), a.Protocol, a.EntityID, a.Config, t.tv(a.UpdatedAt), a.ID); err != nil {
			return t.fail(err, "update application %q", name)
		}
		out, err = t.getApp(ctx, false, a.Name)
		return err
	})
	return out, err
}

func (s *Store) DeleteApplication(ctx context.Context, name string) error {
	res, err := s.exec(ctx, `DELETE FROM applications WHERE name_lower = ?`, strings.ToLower(name))
	return s.mustAffect(res, err, "delete application %q", name)
}
