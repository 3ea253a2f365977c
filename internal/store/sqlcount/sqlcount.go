// Package sqlcount wraps a database/sql driver and counts what reaches the database: round
// trips (every statement, prepare, begin, commit and rollback) and writes (statements that
// insert, update or delete). Tests and `make bench-store-trips` use it to measure what one
// sign-in costs the store; the server never registers it.
package sqlcount

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
)

// Counter holds the counts of one registered driver.
type Counter struct {
	trips, writes atomic.Int64

	mu     sync.Mutex
	record bool
	log    []string
}

// Counts is a snapshot.
type Counts struct {
	RoundTrips, Writes int64
	Statements         []string // the statements since Reset, when recording
}

// Reset zeroes the counts and starts recording statements (for the report).
func (c *Counter) Reset() {
	c.trips.Store(0)
	c.writes.Store(0)
	c.mu.Lock()
	c.log, c.record = nil, true
	c.mu.Unlock()
}

// Snapshot returns the counts since Reset.
func (c *Counter) Snapshot() Counts {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Counts{RoundTrips: c.trips.Load(), Writes: c.writes.Load(), Statements: append([]string(nil), c.log...)}
}

func (c *Counter) trip(what string) {
	c.trips.Add(1)
	c.note(what)
}

func (c *Counter) statement(q string) {
	c.trips.Add(1)
	if IsWrite(q) {
		c.writes.Add(1)
	}
	c.note(q)
}

func (c *Counter) note(s string) {
	c.mu.Lock()
	if c.record && len(c.log) < 10000 {
		c.log = append(c.log, strings.Join(strings.Fields(s), " "))
	}
	c.mu.Unlock()
}

// IsWrite reports whether a statement changes rows.
func IsWrite(q string) bool {
	f := strings.Fields(q)
	if len(f) == 0 {
		return false
	}
	switch strings.ToUpper(f[0]) {
	case "INSERT", "UPDATE", "DELETE", "REPLACE":
		return true
	case "WITH": // a data-modifying CTE
		u := strings.ToUpper(q)
		return strings.Contains(u, " INSERT ") || strings.Contains(u, " UPDATE ") || strings.Contains(u, " DELETE ")
	}
	return false
}

// Register registers name as base wrapped with a new Counter and returns the Counter. base
// is the driver of an existing name ("sqlite", "pgx").
func Register(name, base string) (*Counter, error) {
	db, err := sql.Open(base, "")
	if err != nil {
		return nil, err
	}
	drv := db.Driver()
	db.Close()
	c := &Counter{}
	sql.Register(name, &countingDriver{base: drv, c: c})
	return c, nil
}

type countingDriver struct {
	base driver.Driver
	c    *Counter
}

func (d *countingDriver) Open(dsn string) (driver.Conn, error) {
	conn, err := d.base.Open(dsn)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: conn, c: d.c}, nil
}

// countingConn forwards the optional interfaces database/sql looks for, counting each call
// that reaches the database.
type countingConn struct {
	driver.Conn
	c *Counter
}

func (k *countingConn) Prepare(q string) (driver.Stmt, error) {
	return k.PrepareContext(context.Background(), q)
}

func (k *countingConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	var st driver.Stmt
	var err error
	if p, ok := k.Conn.(driver.ConnPrepareContext); ok {
		st, err = p.PrepareContext(ctx, q)
	} else {
		st, err = k.Conn.Prepare(q)
	}
	if err != nil {
		return nil, err
	}
	return &countingStmt{Stmt: st, q: q, c: k.c}, nil
}

func (k *countingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	k.c.trip("BEGIN")
	b, ok := k.Conn.(driver.ConnBeginTx)
	if !ok {
		return nil, errors.New("sqlcount: the wrapped driver has no BeginTx")
	}
	tx, err := b.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &countingTx{Tx: tx, c: k.c}, nil
}

func (k *countingConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	e, ok := k.Conn.(driver.ExecerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	r, err := e.ExecContext(ctx, q, args)
	if !errors.Is(err, driver.ErrSkip) {
		k.c.statement(q)
	}
	return r, err
}

func (k *countingConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	qc, ok := k.Conn.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	r, err := qc.QueryContext(ctx, q, args)
	if !errors.Is(err, driver.ErrSkip) {
		k.c.statement(q)
	}
	return r, err
}

func (k *countingConn) Ping(ctx context.Context) error {
	if p, ok := k.Conn.(driver.Pinger); ok {
		k.c.trip("PING")
		return p.Ping(ctx)
	}
	return nil
}

func (k *countingConn) CheckNamedValue(v *driver.NamedValue) error {
	if c, ok := k.Conn.(driver.NamedValueChecker); ok {
		return c.CheckNamedValue(v)
	}
	return driver.ErrSkip
}

func (k *countingConn) ResetSession(ctx context.Context) error {
	if r, ok := k.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (k *countingConn) IsValid() bool {
	if v, ok := k.Conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

type countingTx struct {
	driver.Tx
	c *Counter
}

func (t *countingTx) Commit() error {
	t.c.trip("COMMIT")
	return t.Tx.Commit()
}

func (t *countingTx) Rollback() error {
	t.c.trip("ROLLBACK")
	return t.Tx.Rollback()
}

type countingStmt struct {
	driver.Stmt
	q string
	c *Counter
}

// The wrapped drivers (modernc sqlite, pgx) implement the context forms, which database/sql
// prefers; the deprecated Exec and Query of the embedded statement are never reached.

func (s *countingStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	e, ok := s.Stmt.(driver.StmtExecContext)
	if !ok {
		return nil, errors.New("sqlcount: the wrapped driver's statement has no ExecContext")
	}
	s.c.statement(s.q)
	return e.ExecContext(ctx, args)
}

func (s *countingStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	q, ok := s.Stmt.(driver.StmtQueryContext)
	if !ok {
		return nil, errors.New("sqlcount: the wrapped driver's statement has no QueryContext")
	}
	s.c.statement(s.q)
	return q.QueryContext(ctx, args)
}
