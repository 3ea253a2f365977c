package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Migration is one embedded SQL file, named NNNN_description.sql.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// LoadMigrations reads every *.sql file in dir of fsys, ordered by version.
func LoadMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []Migration
	seen := map[int]string{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %q: name must start with a positive version and '_'", name)
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %q and %q share version %d", prev, name, v)
		}
		seen[v] = name
		body, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("read migration %q: %w", name, err)
		}
		ms = append(ms, Migration{Version: v, Name: name, SQL: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	return ms, nil
}

// Migrate applies the migrations not yet recorded in schema_migrations, in version order, in
// one transaction, and reports how many it applied.
func Migrate(ctx context.Context, db *sql.DB, d *Dialect, ms []Migration) (applied int, err error) {
	s := New(db, d)
	err = s.withTx(ctx, func(t *Store) error {
		if d.MigrationLock != "" {
			if _, err := t.exec(ctx, d.MigrationLock); err != nil {
				return fmt.Errorf("%s: migration lock: %w", d.Name, err)
			}
		}
		if _, err := t.exec(ctx, d.MigrationsTable); err != nil {
			return fmt.Errorf("%s: create schema_migrations: %w", d.Name, err)
		}
		done := map[int]bool{}
		rows, err := t.query(ctx, `SELECT version FROM schema_migrations`)
		if err != nil {
			return fmt.Errorf("%s: read schema_migrations: %w", d.Name, err)
		}
		for rows.Next() {
			var v int
			if err := rows.Scan(&v); err != nil {
				rows.Close()
				return fmt.Errorf("%s: read schema_migrations: %w", d.Name, err)
			}
			done[v] = true
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("%s: read schema_migrations: %w", d.Name, err)
		}
		rows.Close()
		for _, m := range ms {
			if done[m.Version] {
				continue
			}
			// No arguments: drivers run the whole multi-statement file.
			if _, err := t.q.ExecContext(ctx, m.SQL); err != nil {
				return fmt.Errorf("%s: migration %s: %w", d.Name, m.Name, err)
			}
			if _, err := t.exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.Version, m.Name, t.tv(time.Now())); err != nil {
				return fmt.Errorf("%s: record migration %s: %w", d.Name, m.Name, err)
			}
			applied++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return applied, nil
}
