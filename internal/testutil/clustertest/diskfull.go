package clustertest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/sekisho/sekisho/internal/testutil/peers"
)

// MountTmpfs mounts a tmpfs of sizeMiB MiB on a fresh folder and returns the folder; it is
// unmounted and removed when t ends (after everything cleaned up later, such as the nodes
// serving from it). A machine where mounting fails (not root, no CAP_SYS_ADMIN) skips t
// through peers.Missing.
func MountTmpfs(t testing.TB, sizeMiB int) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sekisho-tmpfs-")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+strconv.Itoa(sizeMiB)+"m,mode=0700", "sekisho-test", dir).CombinedOutput()
	if err != nil {
		os.Remove(dir)
		msg, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		peers.Missing(t, fmt.Sprintf("a tmpfs to fill (mount -t tmpfs: %v: %s)", err, msg),
			"root or CAP_SYS_ADMIN (as in the CI container)")
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
			return
		}
		os.Remove(dir)
	})
	return dir
}

// NewSQLiteIn prepares a one-node deployment on the embedded SQLite store (the default)
// whose data folder, and so whose database, is dir/data (dir may be a small tmpfs):
// `sekisho init` (with o.Demo, the demo tenant) writes it and the CLI keeps using it; a node
// started from the cluster serves that database file (SEKISHO_STORE_PATH, absolute) from a
// folder of its own holding copies of the config and master key. No node runs yet.
func NewSQLiteIn(t testing.TB, dir string, o Options) *Cluster {
	t.Helper()
	c := &Cluster{Bin: Binary(t), Dir: filepath.Join(dir, "data"), Passwords: map[string]string{}}
	c.Env = append([]string{"SEKISHO_STORE_DRIVER=sqlite", "SEKISHO_ADMIN=cluster-test"}, o.Env...)
	args := []string{"init"}
	if o.Demo {
		args = append(args, "--demo")
	}
	out := c.CLI(t, "", args...)
	for _, m := range initUserRE.FindAllStringSubmatch(out, -1) {
		c.Passwords[m[1]] = m[2]
	}
	if m := initAdminRE.FindStringSubmatch(out); m != nil {
		c.Passwords[m[1]] = m[2]
	}
	c.Env = append(c.Env, "SEKISHO_STORE_PATH="+filepath.Join(c.Dir, "sekisho.db"))
	t.Cleanup(func() { c.StopAll() })
	return c
}

// What `sekisho init --demo` prints (as NewOn reads it).
var (
	initUserRE  = regexp.MustCompile(`(?m)^\s+(\S+@example\.com)\s+(\S+)\s*$`)
	initAdminRE = regexp.MustCompile(`Admin user:\s+(\S+)\s+Admin password:\s+(\S+)`)
)
