package cluster_test

import (
	"bytes"
	"crypto/tls"
	"database/sql"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/testutil/clustertest"
)

// TestNodesStartingTogetherOnAnEmptyDatabase: two nodes given only a config and the master
// key start at the same instant on an empty database; they migrate it once, create one
// token-signing key and one TLS CA and server certificate, and serve the same certificate;
// two device certificates issued at the same instant create one device CA.
func TestNodesStartingTogetherOnAnEmptyDatabase(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{})
	var nodes []*clustertest.Node
	for _, name := range []string{"node-a", "node-b"} {
		n, err := c.Launch(name)
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, n)
	}
	for _, n := range nodes {
		if err := n.WaitServing(90 * time.Second); err != nil {
			t.Fatalf("%s: %v", n.Name, err)
		}
	}
	var certs [][]byte
	for _, n := range nodes {
		conn, err := tls.Dial("tcp", strings.TrimPrefix(n.URL, "https://"), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // compared below
		if err != nil {
			t.Fatalf("%s: %v", n.Name, err)
		}
		certs = append(certs, conn.ConnectionState().PeerCertificates[0].Raw)
		conn.Close()
	}
	if !bytes.Equal(certs[0], certs[1]) {
		t.Fatal("the two nodes serve different TLS certificates: each made its own")
	}

	c.CLI(t, "Dango-Mochi-2026!\n", "user", "add", "frank@example.com", "--password-stdin")
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, name := range []string{"laptop", "phone"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = c.TryCLI("", "device", "issue", "--user", "frank@example.com", "--name", name, "--platform", "windows")
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}

	db, err := sql.Open("pgx", c.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	counts := map[string]int{}
	rows, err := db.Query(`SELECT purpose, count(*) FROM signing_keys GROUP BY purpose`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var p string
		var n int
		if err := rows.Scan(&p, &n); err != nil {
			t.Fatal(err)
		}
		counts[p] = n
	}
	rows.Close()
	want := map[string]int{"token": 1, "tls-ca": 1, "tls-server": 1, "device-ca": 1}
	for p, n := range want {
		if counts[p] != n {
			t.Errorf("%d %s keys, want %d (all: %v)", counts[p], p, n, counts)
		}
	}
	var migrations int
	if err := db.QueryRow(`SELECT count(*) FROM schema_migrations`).Scan(&migrations); err != nil || migrations == 0 {
		t.Fatalf("schema_migrations: %d, %v", migrations, err)
	}
}
