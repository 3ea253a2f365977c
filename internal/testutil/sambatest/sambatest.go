// Package sambatest runs a real Active Directory domain controller for tests: Samba's AD DC
// (the Debian package), provisioned into a temp dir (realm EXAMPLE.TEST, no DNS), serving
// LDAP and LDAPS on loopback with a test CA's certificate. It gives what a directory
// connector must handle on a real AD: binary objectGUIDs, userAccountControl,
// userPrincipalName, memberOf with LDAP_MATCHING_RULE_IN_CHAIN, paged results, binds as a
// user by UPN.
//
// Samba's LDAP ports are fixed (389 and 636), so one domain controller runs at a time on a
// machine: Start takes a lock file for the test's lifetime.
package sambatest

import (
	"bytes"

	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/testutil/peers"
	"github.com/sekisho/sekisho/internal/testutil/testpki"
)

// Install is the command that installs the Samba AD DC peer.
const Install = "apt-get install -y --no-install-recommends samba samba-ad-dc samba-ad-provision samba-dsdb-modules winbind"

// The domain every Start provisions.
const (
	Realm         = "EXAMPLE.TEST"
	BaseDN        = "DC=example,DC=test"
	UsersDN       = "CN=Users," + BaseDN
	AdminUPN      = "Administrator@example.test"
	AdminPassword = "Adm1n-Pa55word-for-tests"
	LDAPSURL      = "ldaps://127.0.0.1:636"
	LDAPURL       = "ldap://127.0.0.1:389"
)

// Server is a running domain controller.
type Server struct {
	Dir    string
	CAFile string // the CA of the LDAPS certificate (for 127.0.0.1 and localhost)
	conf   string
	cmd    *exec.Cmd
	log    *bytes.Buffer
}

// Start provisions a domain and runs its DC until t ends; it skips (or, with
// SEKISHO_REQUIRE_PEERS=1, fails) when Samba is not installed.
func Start(t testing.TB) *Server {
	t.Helper()
	tool, err := exec.LookPath("samba-tool")
	if err != nil {
		peers.Missing(t, "samba-tool", Install)
	}
	samba := "/usr/sbin/samba"
	if _, err := os.Stat(samba); err != nil {
		peers.Missing(t, "samba (AD DC)", Install)
	}
	unlock := lock(t)
	dir, err := os.MkdirTemp("", "sambatest-")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Dir: dir, conf: filepath.Join(dir, "etc", "smb.conf"), log: &bytes.Buffer{}}
	t.Cleanup(func() { unlock(); _ = os.RemoveAll(dir) })

	pki, err := testpki.New("sambatest CA", "dc.example.test")
	if err != nil {
		t.Fatal(err)
	}
	tlsDir := filepath.Join(dir, "tls")
	if err := os.MkdirAll(tlsDir, 0o700); err != nil {
		t.Fatal(err)
	}
	s.CAFile = filepath.Join(tlsDir, "ca.pem")
	for name, b := range map[string][]byte{"ca.pem": pki.CAPEM, "cert.pem": pki.CertPEM, "key.pem": pki.KeyPEM} {
		if err := os.WriteFile(filepath.Join(tlsDir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	opts := []string{"bind interfaces only = yes", "interfaces = lo", "tls enabled = yes",
		"tls keyfile = " + filepath.Join(tlsDir, "key.pem"), "tls certfile = " + filepath.Join(tlsDir, "cert.pem"),
		"tls cafile = " + s.CAFile, "log file = " + filepath.Join(dir, "log.%m"), "pid directory = " + dir,
		// The DC's other services are not under test; LDAP, CLDAP and the KDC are what a
		// directory connector meets.
		"server services = ldap, cldap, kdc"}
	args := []string{"domain", "provision", "--realm=" + Realm, "--domain=EXAMPLE", "--server-role=dc", "--dns-backend=NONE",
		"--use-rfc2307", "--adminpass=" + AdminPassword, "--targetdir=" + dir}
	for _, o := range opts {
		args = append(args, "--option="+o)
	}
	if out, err := exec.Command(tool, args...).CombinedOutput(); err != nil {
		t.Fatalf("samba-tool domain provision: %v\n%s", err, tail(string(out), 30))
	}
	provisioned := time.Since(start)
	s.cmd = exec.Command(samba, "-i", "-s", s.conf, "--debug-stdout")
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			t.Logf("samba log:\n%s", tail(s.log.String(), 60))
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:636", time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-exited:
			t.Fatalf("samba exited at start:\n%s", tail(s.log.String(), 40))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("samba did not listen on 636 within 60s:\n%s", tail(s.log.String(), 40))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("sambatest: domain provisioned in %v, DC serving LDAPS after %v (dir %s)", provisioned.Round(time.Millisecond),
		time.Since(start).Round(time.Millisecond), dir)
	return s
}

// Tool runs samba-tool against the domain's database (user create, group addmembers, …).
func (s *Server) Tool(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command("samba-tool", append(args, "-s", s.conf)...).CombinedOutput()
	if err != nil {
		t.Fatalf("samba-tool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// lock serialises domain controllers on this machine (fixed ports).
func lock(t testing.TB) func() {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "sambatest.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); _ = f.Close() }
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
