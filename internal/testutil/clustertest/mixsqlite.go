package clustertest

import (
	"path/filepath"
	"regexp"
	"testing"
)

// NewSQLiteCluster prepares a one-node deployment on SQLite: `sekisho init` (with o.Demo,
// the demo tenant) writes the CLI's data folder and its database, and a node started from
// the cluster serves that same database file (SEKISHO_STORE_PATH, absolute) from a data
// folder of its own holding copies of the config and master key. SQLite is for one node; the
// CLI may run beside it (WAL). No node runs yet.
func NewSQLiteCluster(t testing.TB, o Options) *Cluster {
	t.Helper()
	c := &Cluster{Bin: Binary(t), Dir: filepath.Join(t.TempDir(), "cli"), Passwords: map[string]string{}}
	c.Env = append([]string{"SEKISHO_ADMIN=cluster-test"}, o.Env...)
	args := []string{"init"}
	if o.Demo {
		args = append(args, "--demo")
	}
	out := c.CLI(t, "", args...)
	for _, m := range sqliteDemoUserRE.FindAllStringSubmatch(out, -1) {
		c.Passwords[m[1]] = m[2]
	}
	if m := sqliteAdminRE.FindStringSubmatch(out); m != nil {
		c.Passwords[m[1]] = m[2]
	}
	c.Env = append(c.Env, "SEKISHO_STORE_DRIVER=sqlite", "SEKISHO_STORE_PATH="+filepath.Join(c.Dir, "sekisho.db"))
	t.Cleanup(func() { c.StopAll() })
	return c
}

// What `sekisho init --demo` prints (as NewOn reads it).
var (
	sqliteDemoUserRE = regexp.MustCompile(`(?m)^\s+(\S+@example\.com)\s+(\S+)\s*$`)
	sqliteAdminRE    = regexp.MustCompile(`Admin user:\s+(\S+)\s+Admin password:\s+(\S+)`)
)
