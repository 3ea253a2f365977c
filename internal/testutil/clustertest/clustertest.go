// Package clustertest runs Sekisho as real `sekisho serve` processes on one PostgreSQL
// database (a fresh schema per test), the way a multi-node deployment does, for the
// multi-node, fault and load tests: the CLI runs against the same database, every node gets
// its own data folder holding the shared config and master key.
package clustertest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the schema helper talks to PostgreSQL directly

	"github.com/sekisho/sekisho/internal/testutil/peers"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds cmd/sekisho once per test process and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sekisho-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "sekisho")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/sekisho/sekisho/cmd/sekisho").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// PostgresDSN is the test database (SEKISHO_TEST_POSTGRES, started by make test).
func PostgresDSN(t testing.TB) string {
	t.Helper()
	return peers.Env(t, "SEKISHO_TEST_POSTGRES", "make test (starts PostgreSQL 15)")
}

// Schema creates a fresh schema and returns a DSN whose search_path points at it; the schema
// is dropped when t ends.
func Schema(t testing.TB, dsn string) string {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	schema := "c_" + strings.ToLower(rand.Text())
	if _, err := db.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := db.Exec(`DROP SCHEMA ` + schema + ` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("SEKISHO_TEST_POSTGRES is not a URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Cluster is one database and the nodes serving it.
type Cluster struct {
	Bin string
	DSN string
	// Dir is the data folder the CLI uses (init wrote it); nodes copy its config and key.
	Dir string
	// Passwords are the demo users' and the admin's initial passwords (Demo only).
	Passwords map[string]string
	Env       []string
	CAPool    *x509.CertPool

	mu    sync.Mutex
	nodes []*Node
}

// Options shape a cluster.
type Options struct {
	// Demo runs `sekisho init --demo` (the demo tenant, its keys) before any node starts;
	// without it the folder holds only the config and master key and the database is empty.
	Demo bool
	// Env are extra SEKISHO_* settings for every command and node.
	Env []string
}

// New prepares a cluster on a fresh schema of the test database. No node runs yet.
func New(t testing.TB, o Options) *Cluster {
	t.Helper()
	return NewOn(t, Schema(t, PostgresDSN(t)), o)
}

// NewOn prepares a cluster on the database at dsn (e.g. a dedicated PostgreSQL the test
// stops and starts). No node runs yet.
func NewOn(t testing.TB, dsn string, o Options) *Cluster {
	t.Helper()
	c := &Cluster{Bin: Binary(t), DSN: dsn, Dir: filepath.Join(t.TempDir(), "cli"), Passwords: map[string]string{}}
	c.Env = append([]string{"SEKISHO_STORE_DRIVER=postgres", "SEKISHO_STORE_DSN=" + c.DSN, "SEKISHO_ADMIN=cluster-test"}, o.Env...)
	if o.Demo {
		out := c.CLI(t, "", "init", "--demo")
		for _, m := range regexp.MustCompile(`(?m)^\s+(\S+@example\.com)\s+(\S+)\s*$`).FindAllStringSubmatch(out, -1) {
			c.Passwords[m[1]] = m[2]
		}
		if m := regexp.MustCompile(`Admin user:\s+(\S+)\s+Admin password:\s+(\S+)`).FindStringSubmatch(out); m != nil {
			c.Passwords[m[1]] = m[2]
		}
	} else {
		// What an operator gives every node: a config naming the database and one master key,
		// and nothing else (the database is empty).
		if err := os.MkdirAll(c.Dir, 0o700); err != nil {
			t.Fatal(err)
		}
		key := make([]byte, 32)
		rand.Read(key)
		c.Env = append(c.Env, "SEKISHO_MASTER_KEY="+b64(key))
		if err := os.WriteFile(filepath.Join(c.Dir, "sekisho.yaml"), []byte("store:\n  driver: postgres\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { c.StopAll() })
	return c
}

// CLI runs one sekisho command against the cluster's database and returns its standard
// output; a failure fails t.
func (c *Cluster) CLI(t testing.TB, stdin string, args ...string) string {
	t.Helper()
	out, err := c.TryCLI(stdin, args...)
	if err != nil {
		t.Fatalf("sekisho %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// TryCLI is CLI that returns the error (with standard error) instead of failing.
func (c *Cluster) TryCLI(stdin string, args ...string) (string, error) {
	cmd := exec.Command(c.Bin, append(args, "--data", c.Dir)...)
	cmd.Env = append(os.Environ(), c.Env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%w: %s", err, stderr.String())
	}
	return stdout.String(), nil
}

// Node is one running `sekisho serve`.
type Node struct {
	Name string
	URL  string // https://127.0.0.1:PORT
	Dir  string
	cmd  *exec.Cmd
	log  *syncBuffer
	done chan struct{}
}

// Start starts a node named name and waits until it serves.
func (c *Cluster) Start(t testing.TB, name string) *Node {
	t.Helper()
	n, err := c.Launch(name)
	if err == nil {
		err = n.WaitServing(90 * time.Second)
	}
	if err != nil {
		t.Fatalf("node %s: %v", name, err)
	}
	return n
}

// Launch starts a node without waiting (several nodes may be launched at the same instant).
func (c *Cluster) Launch(name string) (*Node, error) {
	dir, err := os.MkdirTemp("", "sekisho-node-"+name+"-")
	if err != nil {
		return nil, err
	}
	for _, f := range []string{"sekisho.yaml", "master.key", "demo-ca.pem"} {
		b, err := os.ReadFile(filepath.Join(c.Dir, f))
		if os.IsNotExist(err) {
			continue
		} else if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			return nil, err
		}
	}
	n := &Node{Name: name, Dir: dir, log: &syncBuffer{}, done: make(chan struct{})}
	n.cmd = exec.Command(c.Bin, "serve", "--data", dir, "--listen", "127.0.0.1:0")
	n.cmd.Env = append(os.Environ(), c.Env...)
	n.cmd.Env = append(n.cmd.Env, "SEKISHO_NODE_NAME="+name, "SEKISHO_METRICS_LISTEN=127.0.0.1:0")
	n.cmd.Stdout, n.cmd.Stderr = n.log, n.log
	if err := n.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		_ = n.cmd.Wait()
		close(n.done)
	}()
	c.mu.Lock()
	c.nodes = append(c.nodes, n)
	c.mu.Unlock()
	return n, nil
}

var servingLine = regexp.MustCompile(`Sekisho is serving on (https://\S+)`)

// WaitServing waits until the node prints that it serves, or exits.
func (n *Node) WaitServing(limit time.Duration) error {
	deadline := time.After(limit)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if m := servingLine.FindStringSubmatch(n.log.String()); m != nil {
			n.URL = m[1]
			return nil
		}
		select {
		case <-n.done:
			return fmt.Errorf("exited before serving:\n%s", n.log.String())
		case <-deadline:
			return fmt.Errorf("not serving after %v:\n%s", limit, n.log.String())
		case <-tick.C:
		}
	}
}

// Log returns everything the node printed so far.
func (n *Node) Log() string { return n.log.String() }

// Kill ends the node with SIGKILL (no graceful shutdown) and waits for it to exit.
func (n *Node) Kill() {
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.done
}

// Stop ends the node with SIGTERM (graceful) and waits.
func (n *Node) Stop() {
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
	case <-time.After(30 * time.Second):
		n.Kill()
	}
}

// StopAll stops every node still running and removes their folders.
func (c *Cluster) StopAll() {
	c.mu.Lock()
	nodes := c.nodes
	c.nodes = nil
	c.mu.Unlock()
	for _, n := range nodes {
		n.Stop()
		os.RemoveAll(n.Dir)
	}
}

// Client returns an HTTP client that trusts the cluster's managed CA (read from the
// database's CA file, or, for clusters without init, any certificate: the tests then compare
// certificates themselves). It follows no redirects and keeps no cookies.
func (c *Cluster) Client() *http.Client {
	tc := &tls.Config{}
	if b, err := os.ReadFile(filepath.Join(c.Dir, "demo-ca.pem")); err == nil {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(b)
		tc.RootCAs = pool
	} else {
		tc.InsecureSkipVerify = true //nolint:gosec // the caller checks the certificate it got
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, MaxIdleConnsPerHost: 64},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// Token creates an admin API token for admin@example.com and returns it.
func (c *Cluster) Token(t testing.TB, role string) string {
	t.Helper()
	out := c.CLI(t, "", "token", "create", "admin@example.com", "--role", role, "--name", "cluster test "+rand.Text()[:6])
	m := regexp.MustCompile(`skt_[A-Za-z0-9_-]+`).FindString(out)
	if m == "" {
		t.Fatalf("no token in %q", out)
	}
	return m
}

// API calls the admin API of node n with token and decodes the JSON answer into out (if
// non-nil); it returns the status and the body.
func (c *Cluster) API(ctx context.Context, n *Node, token, method, path string, in, out any) (int, []byte, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, n.URL+"/api/v1"+path, body)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Client().Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, b, err
	}
	if out != nil && resp.StatusCode < 300 && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, b, fmt.Errorf("decode %s %s: %w", method, path, err)
		}
	}
	return resp.StatusCode, b, nil
}

// MustAPI is API that fails t unless the answer has status want.
func (c *Cluster) MustAPI(t testing.TB, n *Node, token string, want int, method, path string, in, out any) {
	t.Helper()
	st, b, err := c.API(t.Context(), n, token, method, path, in, out)
	if err != nil || st != want {
		t.Fatalf("%s %s on %s = %d %s, %v; want %d", method, path, n.Name, st, b, err, want)
	}
}

// syncBuffer is a bytes.Buffer safe for the process's writes and the test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Lines returns the node's log lines that contain sub.
func (n *Node) Lines(sub string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(n.Log()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), sub) {
			out = append(out, sc.Text())
		}
	}
	return out
}
