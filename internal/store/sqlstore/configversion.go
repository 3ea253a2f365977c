package sqlstore

import "context"

// ConfigVersion reads the counter the config tables' triggers move (migration 0006).
func (s *Store) ConfigVersion(ctx context.Context) (int64, error) {
	var v int64
	if err := s.queryRow(ctx, `SELECT version FROM config_version WHERE id = 1`).Scan(&v); err != nil {
		return 0, s.fail(err, "read config version")
	}
	return v, nil
}
