// Command signin-log seeds the PostgreSQL sign-in log with many records (default 50 million,
// 100,000 users over 90 days, in monthly partitions as a running deployment has them) and
// measures the query an administrator runs most: one user's sign-ins over the last 30 days,
// through the store, against PostgreSQL's own execution time for the same statement (EXPLAIN
// ANALYZE) in the same run. It also times pruning one month. Last line: benchjson.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"sort"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/sekisho/sekisho/bench/benchjson"
	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/store/postgres"
)

func main() {
	dsn := flag.String("dsn", os.Getenv("SEKISHO_TEST_POSTGRES"), "PostgreSQL DSN (an empty database or schema)")
	rows := flag.Int("rows", 50_000_000, "records to seed")
	users := flag.Int("users", 100_000, "distinct users")
	days := flag.Int("days", 90, "days the records span, ending now")
	queries := flag.Int("queries", 300, "user queries to time")
	batch := flag.Int("batch", 1_000_000, "records per INSERT")
	flag.Parse()
	if *dsn == "" {
		log.Fatal("no database: set SEKISHO_TEST_POSTGRES or -dsn (bench/signin-log/run.sh starts one)")
	}
	ctx := context.Background()
	s, err := postgres.Open(ctx, *dsn)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	db := s.DB()
	now := time.Now().UTC()
	start := now.AddDate(0, 0, -*days)
	// The months a running deployment would have made as time passed.
	for m := time.Date(start.Year(), start.Month(), 1, 0, 0, 0, 0, time.UTC); m.Before(now); m = m.AddDate(0, 1, 0) {
		if err := s.MaintainSignIns(ctx, m); err != nil {
			log.Fatal(err)
		}
	}
	var have int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sign_ins`).Scan(&have); err != nil {
		log.Fatal(err)
	}
	span := now.Sub(start).Microseconds()
	t0 := time.Now()
	for from := have; from < *rows; from += *batch {
		to := min(from+*batch, *rows) - 1
		// Records spread evenly over the span; users, applications, addresses and decisions
		// vary as in a real log (a hash of the row number picks them).
		_, err := db.ExecContext(ctx, `INSERT INTO sign_ins (id, occurred_at, user_id, username, username_lower, application,
			protocol, client_type, effective_ip, peer_ip, user_agent, decision, rule, reason, policy_version, latency_micros)
			SELECT 'seed-' || g, $1::timestamptz + ((g::float8 / $3::bigint) * $2::bigint)::bigint * interval '1 microsecond',
				'u' || (h % $4), 'user' || (h % $4) || '@example.com', 'user' || (h % $4) || '@example.com',
				(ARRAY['microsoft365','wiki','sekisho-account','crm'])[1 + (h / 7) % 4],
				(ARRAY['wsfed','wstrust','saml','saml'])[1 + (h / 7) % 4],
				(ARRAY['browser','active-direct','browser','legacy-proxied'])[1 + (h / 11) % 4],
				'203.0.113.' || (h % 250), '203.0.113.' || (h % 250), 'Mozilla/5.0 (Windows NT 10.0; Win64; x64)',
				CASE WHEN h % 13 = 0 THEN 'deny' ELSE 'allow' END, 'office', CASE WHEN h % 13 = 0 THEN 'policy' ELSE '' END, 3, 900 + h % 500
			FROM (SELECT g, abs(hashint8(g)) AS h FROM generate_series($5::bigint, $6::bigint) g) x`,
			start, span, *rows, *users, from, to)
		if err != nil {
			log.Fatalf("seed rows %d-%d: %v", from, to, err)
		}
		done := to + 1
		el := time.Since(t0)
		fmt.Fprintf(os.Stderr, "seeded %d/%d records (%.0f records/s)\n", done, *rows, float64(done-have)/el.Seconds())
	}
	if _, err := db.ExecContext(ctx, `ANALYZE sign_ins`); err != nil {
		log.Fatal(err)
	}
	var total int64
	var size string
	db.QueryRowContext(ctx, `SELECT count(*) FROM sign_ins`).Scan(&total)
	db.QueryRowContext(ctx, `SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid))) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'sign_ins'::regclass`).Scan(&size)
	fmt.Printf("sign-in log: %d records in monthly partitions, %s with indexes (seeded in %v)\n", total, size, time.Since(t0).Round(time.Second))

	r := rand.New(rand.NewPCG(1, 2))
	since := now.AddDate(0, 0, -30)
	list := func(user string) (float64, int) {
		q0 := time.Now()
		evs, err := s.ListSignIns(ctx, store.SignInFilter{Username: user, Since: since})
		if err != nil {
			log.Fatal(err)
		}
		return float64(time.Since(q0).Microseconds()) / 1000, len(evs)
	}
	// Per user: the store's query as an administrator meets it (the user's pages not in
	// memory yet), then again with them in memory, then PostgreSQL's own execution time of
	// the same statement (in memory too): the warm pair is the like-for-like comparison.
	var coldMs, warmMs, dbMs []float64
	found := 0
	for range *queries {
		user := fmt.Sprintf("user%d@example.com", r.IntN(*users))
		ms, n := list(user)
		coldMs, found = append(coldMs, ms), found+n
		ms, _ = list(user)
		warmMs = append(warmMs, ms)
		var plan []byte
		if err := db.QueryRowContext(ctx, `EXPLAIN (ANALYZE, FORMAT JSON) SELECT * FROM sign_ins
			WHERE occurred_at >= $1 AND username_lower = $2 ORDER BY occurred_at, seq`, since, user).Scan(&plan); err != nil {
			log.Fatal(err)
		}
		var p []struct {
			Execution float64 `json:"Execution Time"`
		}
		if err := json.Unmarshal(plan, &p); err != nil || len(p) == 0 {
			log.Fatalf("EXPLAIN: %v %s", err, plan)
		}
		dbMs = append(dbMs, p[0].Execution)
	}
	cp50, cp99 := pct(coldMs, 50), pct(coldMs, 99)
	wp50, dp50 := pct(warmMs, 50), pct(dbMs, 50)
	fmt.Printf("one user, last 30 days (%d users, %.0f records each on average): first query p50 %.2f ms, p99 %.2f ms; "+
		"again (in memory) p50 %.2f ms through the store vs %.2f ms PostgreSQL execution\n",
		len(coldMs), float64(found)/float64(len(coldMs)), cp50, cp99, wp50, dp50)

	oldest := time.Date(start.Year(), start.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, 1, 0)
	p0 := time.Now()
	n, err := s.PruneSignIns(ctx, oldest)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("pruning the oldest month: %d records in %v\n", n, time.Since(p0).Round(time.Millisecond))

	benchjson.Print(benchjson.Result{Bench: "signin-log", Value: 1000 / wp50, Unit: "one-user 30-day queries/s through the store (in memory, p50)",
		Reference: "PostgreSQL's own execution time for the same query (EXPLAIN ANALYZE, in memory, p50)", ReferenceValue: 1000 / dp50,
		Extra: map[string]any{"records": total, "first_query_p50_ms": cp50, "first_query_p99_ms": cp99, "in_memory_p50_ms": wp50,
			"db_p50_ms": dp50, "size": size, "prune_month_records": n}})
}

func pct(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[min(len(s)-1, int(float64(len(s))*p/100))]
}
