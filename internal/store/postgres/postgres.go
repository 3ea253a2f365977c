// Package postgres is the scale-out store backend: PostgreSQL through pgx's database/sql
// adapter. Several Sekisho nodes may share one database.
//
// Read-modify-write updates lock the row (SELECT … FOR UPDATE) inside a transaction; policy
// versions are numbered under a table lock; migrations run under an advisory lock so nodes
// starting together apply them once.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver

	"github.com/sekisho/sekisho/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the PostgreSQL backend of store.Store.
type Store struct {
	*sqlstore.Store
	db *sql.DB
}

// migrationLockKey identifies Sekisho's migration advisory lock ("sekisho" in ASCII).
const migrationLockKey = 0x73656b6973686f

func pgCode(err error) string {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// rebind turns "?" placeholders into $1, $2, … A "?" inside a string literal ('…', with ”
// as an escaped quote), a quoted identifier ("…") or a comment (-- to the end of the line,
// /* … */) is text, not a placeholder, and is kept.
func rebind(q string) string {
	if !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'' || c == '"':
			// Copy through the closing quote; a doubled quote is an escaped one.
			j := i + 1
			for j < len(q) {
				if q[j] == c {
					if j+1 < len(q) && q[j+1] == c {
						j += 2
						continue
					}
					break
				}
				j++
			}
			end := min(j+1, len(q))
			b.WriteString(q[i:end])
			i = end - 1
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			end := strings.IndexByte(q[i:], '\n')
			if end < 0 {
				end = len(q) - i
			}
			b.WriteString(q[i : i+end])
			i += end - 1
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			end := strings.Index(q[i+2:], "*/")
			if end < 0 {
				end = len(q) - i
			} else {
				end += 4
			}
			b.WriteString(q[i : i+end])
			i += end - 1
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

var dialect = &sqlstore.Dialect{
	Name:               "postgres",
	Rebind:             rebind,
	Time:               func(t time.Time) any { return t },
	ForUpdate:          " FOR UPDATE",
	LockPolicyVersions: `LOCK TABLE policy_versions IN SHARE ROW EXCLUSIVE MODE`,
	LockName:           `SELECT pg_advisory_xact_lock(hashtextextended(?, 0))`,
	MigrationLock:      `SELECT pg_advisory_xact_lock(` + strconv.Itoa(migrationLockKey) + `)`,
	MigrationsTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
		version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ)`,
	IsUnique:     func(err error) bool { return pgCode(err) == "23505" },
	IsForeignKey: func(err error) bool { return pgCode(err) == "23503" },
}

// Driver is the database/sql driver Open uses. Tests that count the store's round trips
// point it at a counting wrapper (internal/store/sqlcount); nothing else changes it.
var Driver = "pgx"

// Open connects to the database at dsn (a postgres:// URL or key=value string; extra
// parameters such as search_path are sent as run-time settings) and applies pending migrations.
func Open(ctx context.Context, dsn string) (*Store, error) {
	db, err := sql.Open(Driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	s := &Store{Store: sqlstore.New(db, dialect), db: db}
	if _, err := s.Migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	// The coming months' sign-in partitions; a failure here (the default partition holding
	// rows of such a month) never stops a node: the hourly pruner retries and reports it.
	_ = s.MaintainSignIns(ctx, time.Now())
	return s, nil
}

// Migrate applies the embedded migrations not yet applied and reports how many it applied.
func (s *Store) Migrate(ctx context.Context) (int, error) {
	ms, err := sqlstore.LoadMigrations(migrations, "migrations")
	if err != nil {
		return 0, fmt.Errorf("postgres: %w", err)
	}
	return sqlstore.Migrate(ctx, s.db, dialect, ms)
}
