package sqlstore

import (
	"context"
	"fmt"

	"github.com/sekisho/sekisho/internal/store"
)

const deviceCols = `id, user_id, name, platform, serial, status, cert_der, not_before, not_after, issued_at,
	first_seen_at, revoked_at, replaced_by, data`

func scanDevice(r rowScanner) (store.Device, error) {
	var d store.Device
	err := r.Scan(&d.ID, &d.UserID, &d.Name, &d.Platform, &d.Serial, &d.Status, bc(&d.CertDER),
		tc(&d.NotBefore), tc(&d.NotAfter), tc(&d.IssuedAt), tc(&d.FirstSeenAt), tc(&d.RevokedAt),
		&d.ReplacedBy, bc(&d.Data))
	return d, err
}

// CreateDevice stores d; its user must exist (ErrNotFound otherwise). Devices are deleted with
// their user.
func (s *Store) CreateDevice(ctx context.Context, d store.Device) error {
	if err := requireID("device", d.ID); err != nil {
		return fmt.Errorf("%s: create device: %w", s.d.Name, err)
	}
	d.IssuedAt = orNow(d.IssuedAt)
	_, err := s.exec(ctx, `INSERT INTO devices (id, user_id, name, platform, serial, status, cert_der, not_before,
		not_after, issued_at, first_seen_at, revoked_at, replaced_by, data)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		d.ID, d.UserID, d.Name, d.Platform, d.Serial, d.Status, d.CertDER, s.tv(d.NotBefore), s.tv(d.NotAfter),
		s.tv(d.IssuedAt), s.tv(d.FirstSeenAt), s.tv(d.RevokedAt), d.ReplacedBy, d.Data)
	if err != nil {
		return s.fail(err, "create device %q", d.ID)
	}
	return nil
}

func (s *Store) getDevice(ctx context.Context, lock bool, where string, arg any) (store.Device, error) {
	q := `SELECT ` + deviceCols + ` FROM devices WHERE ` + where
	if lock {
		q += s.d.ForUpdate
	}
	return scanDevice(s.queryRow(ctx, q, arg))
}

func (s *Store) GetDevice(ctx context.Context, id string) (store.Device, error) {
	d, err := s.getDevice(ctx, false, `id = ?`, id)
	if err != nil {
		return d, s.fail(err, "get device %q", id)
	}
	return d, nil
}

func (s *Store) GetDeviceBySerial(ctx context.Context, serial string) (store.Device, error) {
	if serial == "" {
		return store.Device{}, fmt.Errorf("%s: get device by empty serial: %w", s.d.Name, store.ErrNotFound)
	}
	d, err := s.getDevice(ctx, false, `serial = ?`, serial)
	if err != nil {
		return d, s.fail(err, "get device by serial %q", serial)
	}
	return d, nil
}

// ListDevices returns the user's devices ("" = every device), oldest issued first.
func (s *Store) ListDevices(ctx context.Context, userID string) ([]store.Device, error) {
	q, args := `SELECT `+deviceCols+` FROM devices`, []any{}
	if userID != "" {
		q, args = q+` WHERE user_id = ?`, append(args, userID)
	}
	return queryAll(ctx, s, "list devices", scanDevice, q+` ORDER BY issued_at, id`, args...)
}

// UpdateDevice applies fn under a write lock; the ID cannot change.
func (s *Store) UpdateDevice(ctx context.Context, id string, fn func(store.Device) (store.Device, error)) (store.Device, error) {
	var out store.Device
	err := s.withTx(ctx, func(t *Store) error {
		old, err := t.getDevice(ctx, true, `id = ?`, id)
		if err != nil {
			return t.fail(err, "update device %q", id)
		}
		d, err := fn(old)
		if err != nil {
			return fmt.Errorf("%s: update device %q: %w", t.d.Name, id, err)
		}
		d.ID = old.ID
		if _, err := t.exec(ctx, `UPDATE devices SET user_id = ?, name = ?, platform = ?, serial = ?, status = ?,
			cert_der = ?, not_before = ?, not_after = ?, issued_at = ?, first_seen_at = ?, revoked_at = ?,
			replaced_by = ?, data = ? WHERE id = ?`,
			d.UserID, d.Name, d.Platform, d.Serial, d.Status, d.CertDER, t.tv(d.NotBefore), t.tv(d.NotAfter),
			t.tv(d.IssuedAt), t.tv(d.FirstSeenAt), t.tv(d.RevokedAt), d.ReplacedBy, d.Data, id); err != nil {
			return t.fail(err, "update device %q", id)
		}
		out, err = t.getDevice(ctx, false, `id = ?`, id)
		if err != nil {
			return t.fail(err, "update device %q: read back", id)
		}
		return nil
	})
	return out, err
}
