// Package sqlite is the embedded default store backend: one SQLite file through the pure-Go
// modernc.org/sqlite driver (no CGO).
//
// Every connection runs in WAL mode with foreign keys on and a busy timeout, and every
// transaction begins IMMEDIATE: it takes the write lock at BEGIN, so read-modify-write updates
// cannot lose writes and never fail with a lock upgrade deadlock. synchronous=NORMAL (safe with
// WAL: an application crash loses nothing; a power cut may lose the last commits).
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"modernc.org/sqlite"

	"github.com/sekisho/sekisho/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the SQLite backend of store.Store.
type Store struct {
	*sqlstore.Store
	db *sql.DB
}

// SQLite primary and extended result codes used to classify errors.
const (
	codeConstraint           = 19
	codeConstraintForeignKey = 787
	codeConstraintPrimaryKey = 1555
	codeConstraintUnique     = 2067
)

func sqliteCode(err error) (int, string, bool) {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return 0, "", false
	}
	return e.Code(), e.Error(), true
}

var dialect = &sqlstore.Dialect{
	Name: "sqlite",
	Time: func(t time.Time) any { return t.UnixMicro() },
	// BEGIN IMMEDIATE (set in the DSN) already serialises writers: no row locks needed.
	ForUpdate: "",
	MigrationsTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER)`,
	IsUnique: func(err error) bool {
		code, msg, ok := sqliteCode(err)
		return ok && (code == codeConstraintUnique || code == codeConstraintPrimaryKey ||
			code&0xff == codeConstraint && strings.Contains(msg, "UNIQUE constraint"))
	},
	IsForeignKey: func(err error) bool {
		code, msg, ok := sqliteCode(err)
		return ok && (code == codeConstraintForeignKey ||
			code&0xff == codeConstraint && strings.Contains(msg, "FOREIGN KEY constraint"))
	},
}

// dsn returns the driver data source name for the database file at path.
func dsn(path string) string {
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "busy_timeout(10000)", "foreign_keys(1)", "synchronous(NORMAL)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode()
}

const maxConns = 16

// Driver is the database/sql driver Open uses. Tests that count the store's round trips
// point it at a counting wrapper (internal/store/sqlcount); nothing else changes it.
var Driver = "sqlite"

// Open opens (creating if needed) the database file at path and applies pending migrations.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("sqlite: open: want a file path, got %q", path)
	}
	db, err := sql.Open(Driver, dsn(path))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	// Writers queue in the pool (FIFO) rather than in SQLite's sleeping busy handler; WAL
	// readers share the rest.
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	s := &Store{Store: sqlstore.New(db, dialect), db: db}
	if _, err := s.Migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return s, nil
}

// Migrate applies the embedded migrations not yet applied and reports how many it applied.
func (s *Store) Migrate(ctx context.Context) (int, error) {
	ms, err := sqlstore.LoadMigrations(migrations, "migrations")
	if err != nil {
		return 0, fmt.Errorf("sqlite: %w", err)
	}
	return sqlstore.Migrate(ctx, s.db, dialect, ms)
}

// Backup writes a consistent copy of the database to path (VACUUM INTO) while the server
// keeps serving: readers and writers carry on, and the copy is one point in time. path must
// not exist.
func (s *Store) Backup(ctx context.Context, path string) error {
	if _, err := s.db.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		return fmt.Errorf("sqlite: back up to %s: %w", path, err)
	}
	return nil
}
