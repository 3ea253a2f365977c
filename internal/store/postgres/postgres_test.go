package postgres_test

import (
	"crypto/rand"
	"database/sql"
	"net/url"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/store/postgres"
	"github.com/sekisho/sekisho/internal/store/storetest"
	"github.com/sekisho/sekisho/internal/testutil/peers"
)

// schemaDSN creates a fresh schema in the test database and returns a DSN whose search_path
// points at it; the schema is dropped when t ends, so runs never collide.
func schemaDSN(t *testing.T, dsn string) string {
	t.Helper()
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	schema := "t_" + strings.ToLower(rand.Text())
	if _, err := admin.ExecContext(t.Context(), `CREATE SCHEMA `+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		// t.Context is already cancelled during cleanup.
		if _, err := admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return withParam(t, dsn, "search_path", schema)
}

func withParam(t *testing.T, dsn, key, value string) string {
	t.Helper()
	if !strings.Contains(dsn, "://") { // key=value form
		return dsn + " " + key + "=" + value
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("SEKISHO_TEST_POSTGRES is not a valid URL: %v", err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

func open(t *testing.T, dsn string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func testDSN(t *testing.T) string {
	t.Helper()
	return peers.Env(t, "SEKISHO_TEST_POSTGRES", "make test (starts PostgreSQL 15)")
}

func TestConformance(t *testing.T) {
	dsn := testDSN(t)
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, schemaDSN(t, dsn)) })
}

func TestMigrateIsIdempotent(t *testing.T) {
	dsn := schemaDSN(t, testDSN(t))
	s := open(t, dsn)
	n, err := s.Migrate(t.Context())
	if err != nil || n != 0 {
		t.Fatalf("second Migrate = %d, %v; want 0, nil", n, err)
	}
	// A second node opening the same schema applies nothing and sees the first node's rows.
	if err := s.CreateUser(t.Context(), store.User{ID: "u1", UPN: "a@example.com"}); err != nil {
		t.Fatal(err)
	}
	other := open(t, dsn)
	if _, err := other.GetUserByUPN(t.Context(), "A@EXAMPLE.COM"); err != nil {
		t.Fatalf("second node: %v", err)
	}
	var tables int
	if err := s.DB().QueryRowContext(t.Context(),
		`SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()`).Scan(&tables); err != nil || tables < 10 {
		t.Fatalf("tables in the test schema = %d, %v", tables, err)
	}
}

func TestOpenUnreachable(t *testing.T) {
	if _, err := postgres.Open(t.Context(), "postgres://nobody@127.0.0.1:1/x?sslmode=disable&connect_timeout=2"); err == nil {
		t.Fatal("Open of an unreachable server succeeded")
	}
}
