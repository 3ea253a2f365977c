package postgres

import (
	"crypto/rand"
	"database/sql"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/store/sqlstore"
	"github.com/sekisho/sekisho/internal/testutil/peers"
)

// An upgrade onto the partitioned sign-in log keeps every record, in its month's partition,
// and the sequence continues after the highest existing one.
func TestUpgradeToPartitionedSignIns(t *testing.T) {
	dsn := peers.Env(t, "SEKISHO_TEST_POSTGRES", "make test (starts PostgreSQL 15)")
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	schema := "u_" + strings.ToLower(rand.Text())
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatal(err)
	}
	defer admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
	u, _ := url.Parse(dsn)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	db, err := sql.Open("pgx", u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ms, err := sqlstore.LoadMigrations(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	var before []sqlstore.Migration
	for _, m := range ms {
		if m.Version < 7 {
			before = append(before, m)
		}
	}
	ctx := t.Context()
	if _, err := sqlstore.Migrate(ctx, db, dialect, before); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	times := []time.Time{now.AddDate(0, -14, 0), now.AddDate(0, -2, 0), now.AddDate(0, -2, 1), now}
	for i, at := range times {
		if _, err := db.Exec(`INSERT INTO sign_ins (id, occurred_at, username, username_lower, decision) VALUES ($1, $2, 'u', 'u', 'allow')`,
			"old-"+string(rune('a'+i)), at); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sqlstore.Migrate(ctx, db, dialect, ms); err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	var inDefault, total int
	db.QueryRow(`SELECT count(*) FROM sign_ins_default`).Scan(&inDefault)
	db.QueryRow(`SELECT count(*) FROM sign_ins`).Scan(&total)
	if total != len(times) || inDefault != 0 {
		t.Fatalf("after the upgrade: %d records (want %d), %d in the default partition", total, len(times), inDefault)
	}
	var oldest int
	m := times[0]
	db.QueryRow(`SELECT count(*) FROM ` + "sign_ins_" + m.Format("2006") + "m" + m.Format("01")).Scan(&oldest)
	if oldest != 1 {
		t.Fatalf("the oldest month's partition holds %d records", oldest)
	}
	if _, err := db.Exec(`INSERT INTO sign_ins (id, occurred_at) VALUES ('new', now())`); err != nil {
		t.Fatal(err)
	}
	var seqNew, seqMax int64
	db.QueryRow(`SELECT seq FROM sign_ins WHERE id = 'new'`).Scan(&seqNew)
	db.QueryRow(`SELECT max(seq) FROM sign_ins WHERE id <> 'new'`).Scan(&seqMax)
	if seqNew <= seqMax {
		t.Fatalf("sequence restarted: new %d, old max %d", seqNew, seqMax)
	}
}
