package clustertest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/sekisho/sekisho/internal/testutil/peers"
)

// Postgres is a throw-away PostgreSQL server of one test (its own data folder and port), for
// fault tests that stop and start the database under running nodes.
type Postgres struct {
	DSN  string // postgres://sekisho@127.0.0.1:PORT/postgres?sslmode=disable
	Dir  string
	Port int
	bin  string
}

// postgresBin finds the folder of initdb and pg_ctl: on PATH, or PostgreSQL 15's Debian folder.
func postgresBin(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if _, err := exec.LookPath("initdb"); err == nil {
			if r, err := filepath.EvalSymlinks(p); err == nil {
				p = r
			}
			return filepath.Dir(p)
		}
	}
	for _, d := range []string{"/usr/lib/postgresql/15/bin", "/usr/local/pgsql/bin"} {
		if _, err := os.Stat(filepath.Join(d, "pg_ctl")); err == nil {
			return d
		}
	}
	peers.Missing(t, "PostgreSQL server (initdb, pg_ctl)", "apt-get install postgresql-15")
	return ""
}

// StartPostgres initialises and starts a PostgreSQL server on a free loopback port; it is
// stopped and its folder removed when t ends. As root (a CI container) the server runs as the
// postgres user, which initdb requires.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	bin := postgresBin(t)
	dir, err := os.MkdirTemp("", "sekisho-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if os.Getuid() == 0 {
		u, err := user.Lookup("postgres")
		if _, lerr := exec.LookPath("runuser"); err != nil || lerr != nil {
			peers.Missing(t, "the postgres user (PostgreSQL refuses to run as root)", "apt-get install postgresql-15")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	p := &Postgres{Dir: filepath.Join(dir, "data"), Port: port, bin: bin,
		DSN: fmt.Sprintf("postgres://sekisho@127.0.0.1:%d/postgres?sslmode=disable", port)}
	if out, err := p.run("initdb", "-D", p.Dir, "-A", "trust", "-U", "sekisho", "--no-sync"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop() })
	return p
}

// Start starts the server (again) and waits until it accepts connections.
func (p *Postgres) Start() error {
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", p.Port, filepath.Dir(p.Dir))
	if out, err := p.run("pg_ctl", "-D", p.Dir, "-o", opts, "-l", filepath.Join(filepath.Dir(p.Dir), "log"), "-w", "-t", "60", "start"); err != nil {
		return fmt.Errorf("pg_ctl start: %v\n%s\n%s", err, out, p.Log())
	}
	return nil
}

// Stop stops the server with the fast mode (sessions are ended, as an operator's restart
// or a failover does) and waits until it is down.
func (p *Postgres) Stop() error {
	if out, err := p.run("pg_ctl", "-D", p.Dir, "-m", "fast", "-w", "-t", "60", "stop"); err != nil {
		return fmt.Errorf("pg_ctl stop: %v\n%s", err, out)
	}
	return nil
}

// Log returns the server's log.
func (p *Postgres) Log() string {
	b, _ := os.ReadFile(filepath.Join(filepath.Dir(p.Dir), "log"))
	return string(b)
}

func (p *Postgres) run(name string, args ...string) ([]byte, error) {
	path := filepath.Join(p.bin, name)
	var cmd *exec.Cmd
	if os.Getuid() == 0 {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	return cmd.CombinedOutput()
}
