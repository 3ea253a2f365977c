// Package sqlstore implements store.Store once, over database/sql, for every SQL backend.
//
// The backends (internal/store/sqlite, internal/store/postgres) own their drivers, their
// migrations and a small Dialect describing where their SQL differs: placeholders, how times are
// stored, row locking and how constraint violations are reported. Queries here are written with
// "?" placeholders and rebound by the dialect.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sekisho/sekisho/internal/store"
)

// Dialect is what differs between SQL backends.
type Dialect struct {
	// Name prefixes every error ("sqlite", "postgres").
	Name string
	// Rebind rewrites "?" placeholders into the driver's form; nil keeps them.
	Rebind func(query string) string
	// Time converts a non-zero UTC time into the value stored in a time column.
	Time func(t time.Time) any
	// ForUpdate is appended to the SELECT that reads a row before UpdateX changes it
	// (" FOR UPDATE" where row locks exist; "" where the transaction already serialises writers).
	ForUpdate string
	// LockPolicyVersions, if set, runs in the transaction before the next policy version is
	// chosen, so that concurrent AddPolicyVersion calls queue instead of picking the same number.
	LockPolicyVersions string
	// LockName, if set, takes a transaction-scoped exclusive lock on the name passed as its one
	// argument (PostgreSQL: an advisory lock); "" where the transaction already serialises
	// writers (SQLite's BEGIN IMMEDIATE).
	LockName string
	// MigrationLock, if set, runs first in the migration transaction (several nodes may start
	// at once).
	MigrationLock string
	// MigrationsTable creates the schema_migrations table if it does not exist.
	MigrationsTable string
	// IsUnique reports a uniqueness violation; IsForeignKey a reference to a missing row.
	IsUnique     func(error) bool
	IsForeignKey func(error) bool
}

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Store is a store.Store over one database/sql handle, or bound to one transaction of it.
type Store struct {
	db    *sql.DB
	q     querier
	tx    *sql.Tx // non-nil when bound to a transaction (InTx)
	d     *Dialect
	stmts *stmtCache // shared by the Store and the Stores bound to its transactions
}

var _ store.Store = (*Store)(nil)

// New wraps an open database whose schema is already migrated.
func New(db *sql.DB, d *Dialect) *Store {
	return &Store{db: db, q: db, d: d, stmts: &stmtCache{m: map[string]*sql.Stmt{}}}
}

// DB returns the underlying handle (for tests and tools).
func (s *Store) DB() *sql.DB { return s.db }

// Ping reports whether the database is reachable.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("%s: ping: %w", s.d.Name, err)
	}
	return nil
}

// Close closes the database. On a Store bound to a transaction it does nothing: the
// transaction ends when InTx returns.
func (s *Store) Close() error {
	if s.tx != nil {
		return nil
	}
	return s.db.Close()
}

// InTx runs fn in one transaction. Inside a transaction it runs fn on the same transaction.
// After an error from the store inside fn, fn should return it: PostgreSQL refuses further
// statements in a failed transaction.
func (s *Store) InTx(ctx context.Context, fn func(tx store.Store) error) error {
	return s.withTx(ctx, func(t *Store) error { return fn(t) })
}

// withTx runs fn on a Store bound to a transaction, reusing the current one if any.
func (s *Store) withTx(ctx context.Context, fn func(t *Store) error) (err error) {
	if s.tx != nil {
		return fn(s)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: begin: %w", s.d.Name, err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if err = fn(&Store{db: s.db, q: tx, tx: tx, d: s.d, stmts: s.stmts}); err != nil {
		return err
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("%s: commit: %w", s.d.Name, err)
	}
	return nil
}

func (s *Store) rebind(q string) string {
	if s.d.Rebind == nil {
		return q
	}
	return s.d.Rebind(q)
}

func (s *Store) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return s.q.ExecContext(ctx, s.rebind(q), args...)
}

// stmtCache holds the prepared statements of the hottest writes (one sign-in record per
// sign-in): preparing the statement again on every call costs about a tenth of the insert.
// database/sql prepares a cached statement once per pooled connection, on first use there.
type stmtCache struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// execPrepared is exec through a statement prepared once per connection.
func (s *Store) execPrepared(ctx context.Context, q string, args ...any) (sql.Result, error) {
	st, err := s.prepared(ctx, q)
	if err != nil {
		return nil, err
	}
	if s.tx != nil {
		return s.tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return st.ExecContext(ctx, args...)
}

func (s *Store) prepared(ctx context.Context, q string) (*sql.Stmt, error) {
	s.stmts.mu.Lock()
	defer s.stmts.mu.Unlock()
	if st, ok := s.stmts.m[q]; ok {
		return st, nil
	}
	// Prepared on the database handle, not a transaction, so that it outlives the transaction.
	st, err := s.db.PrepareContext(ctx, s.rebind(q))
	if err != nil {
		return nil, err
	}
	s.stmts.m[q] = st
	return st, nil
}

func (s *Store) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return s.q.QueryContext(ctx, s.rebind(q), args...)
}

func (s *Store) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return s.q.QueryRowContext(ctx, s.rebind(q), args...)
}

// fail wraps err with the backend name and what was being done, mapping driver errors onto
// store.ErrNotFound / store.ErrConflict so that errors.Is works.
func (s *Store) fail(err error, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%s: %s: %w", s.d.Name, what, store.ErrNotFound)
	case s.d.IsUnique(err):
		return fmt.Errorf("%s: %s: %w: %w", s.d.Name, what, store.ErrConflict, err)
	case s.d.IsForeignKey(err):
		return fmt.Errorf("%s: %s: referenced row: %w: %w", s.d.Name, what, store.ErrNotFound, err)
	}
	return fmt.Errorf("%s: %s: %w", s.d.Name, what, err)
}

// mustAffect turns "no row changed" into ErrNotFound.
func (s *Store) mustAffect(res sql.Result, err error, format string, args ...any) error {
	if err != nil {
		return s.fail(err, format, args...)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.fail(err, format, args...)
	}
	if n == 0 {
		return s.fail(sql.ErrNoRows, format, args...)
	}
	return nil
}

// Time values are stored as UTC with microsecond precision (PostgreSQL's); the zero time is
// stored as NULL.

// tv is the stored form of t.
func (s *Store) tv(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return s.d.Time(norm(t))
}

// norm is t as the store keeps it.
func norm(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// now is the current time as the store keeps it.
func now() time.Time { return norm(time.Now()) }

// orNow returns t, or now if t is zero.
func orNow(t time.Time) time.Time {
	if t.IsZero() {
		return now()
	}
	return t
}

// timeCol scans a time column in any stored form into a UTC time.Time.
type timeCol struct{ t *time.Time }

func (c timeCol) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*c.t = time.Time{}
	case int64:
		*c.t = time.UnixMicro(x).UTC()
	case time.Time:
		*c.t = x.UTC()
	default:
		return fmt.Errorf("time column: unexpected %T", v)
	}
	return nil
}

// tc returns a scanner into t.
func tc(t *time.Time) timeCol { return timeCol{t} }

// bytesCol scans a possibly NULL blob, keeping a nil slice for NULL.
type bytesCol struct{ b *[]byte }

func (c bytesCol) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*c.b = nil
	case []byte:
		*c.b = append([]byte(nil), x...)
	case string:
		*c.b = []byte(x)
	default:
		return fmt.Errorf("blob column: unexpected %T", v)
	}
	return nil
}

func bc(b *[]byte) bytesCol { return bytesCol{b} }

// rowScanner is *sql.Row or *sql.Rows.
type rowScanner interface{ Scan(dest ...any) error }

// queryAll runs q and reads every row with scan; what names the read in errors (see fail).
func queryAll[T any](ctx context.Context, s *Store, what string, scan func(rowScanner) (T, error), q string, args ...any) ([]T, error) {
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, s.fail(err, "%s", what)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, s.fail(err, "%s", what)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(err, "%s", what)
	}
	return out, nil
}

// placeholders returns "?, ?, …" for n arguments.
func placeholders(n int) string {
	b := make([]byte, 0, 3*n)
	for i := range n {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, '?')
	}
	return string(b)
}

func requireID(kind, id string) error {
	if id == "" {
		return fmt.Errorf("%s: empty ID", kind)
	}
	return nil
}

// Lock implements store.Store.
func (s *Store) Lock(ctx context.Context, name string) error {
	if s.tx == nil {
		return fmt.Errorf("%s: lock %q outside a transaction", s.d.Name, name)
	}
	if s.d.LockName == "" {
		return nil
	}
	var ignored any
	if err := s.queryRow(ctx, s.d.LockName, name).Scan(&ignored); err != nil {
		return s.fail(err, "lock %q", name)
	}
	return nil
}
