// Package slapdtest runs a throw-away OpenLDAP slapd on loopback ports for the LDAP
// connector's tests and the directory-sync benchmark: LDAPS with a test CA and plain LDAP (for
// StartTLS) on another port, Active Directory's objectGUID, userPrincipalName and
// userAccountControl added by a small schema, its stats log followed. A seed LDIF can be loaded
// with slapadd before the server starts (much faster than ldapadd for large directories).
package slapdtest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/testutil/peers"
	"github.com/sekisho/sekisho/internal/testutil/testpki"
)

// The directory's suffix and root account.
const (
	Suffix  = "dc=example,dc=com"
	RootDN  = "cn=admin," + Suffix
	RootPW  = "root-secret-for-tests"
	Install = "apt-get install -y slapd ldap-utils"
)

// ADSchema gives OpenLDAP the three Active Directory attributes the connector reads by default
// (with Microsoft's OIDs), on an auxiliary class. memberOf is not needed: the directory's
// nesting is read from the groups' member attribute.
const ADSchema = `attributetype ( 1.2.840.113556.1.4.2 NAME 'objectGUID'
	EQUALITY octetStringMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.40 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.656 NAME 'userPrincipalName'
	EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.8 NAME 'userAccountControl'
	EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.4203.666.11.99.1 NAME 'sekishoADUser' SUP top AUXILIARY
	MAY ( objectGUID $ userPrincipalName $ userAccountControl ) )
`

// DefaultSizeLimit is a server size limit below the tests' number of users: only paged
// searches (RFC 2696) read them all.
const DefaultSizeLimit = "size.soft=5 size.hard=5 size.pr=5 size.prtotal=unlimited"

var schemas = []string{"core", "cosine", "inetorgperson", "nis"}

// Options configure Start. The zero value is the tests' server.
type Options struct {
	// Dir holds the configuration, the certificates and the database; it must exist.
	Dir string
	// SeedLDIF, when set, is an LDIF file loaded with slapadd (quick mode) before slapd starts.
	SeedLDIF string
	// SizeLimit is slapd's sizelimit directive (default DefaultSizeLimit).
	SizeLimit string
	// MaxSizeBytes is the mdb map size (default 100 MiB; the file is sparse).
	MaxSizeBytes int64
	// DebugLevel is slapd's -d level: 256 (the stats log, every operation; the default) or
	// e.g. 0 to log nothing.
	DebugLevel *int
}

// Server is a running slapd.
type Server struct {
	Dir, CAFile string
	LDAPSURL    string // ldaps://127.0.0.1:PORT
	LDAPURL     string // ldap://127.0.0.1:PORT (StartTLS)
	cmd         *exec.Cmd
	exited      chan struct{}

	mu    sync.Mutex
	lines []string
	grew  chan struct{} // closed and replaced whenever a line arrives
}

// Binary returns the path of slapd, or an error saying how to install it.
func Binary() (string, error) {
	if _, err := os.Stat("/usr/sbin/slapd"); err == nil {
		return "/usr/sbin/slapd", nil
	}
	p, err := exec.LookPath("slapd")
	if err != nil {
		return "", fmt.Errorf("slapd not found; install with %s", Install)
	}
	return p, nil
}

// Missing names what of slapd, slapadd, the LDAP tools and OpenLDAP's schemas is not
// installed, "" when nothing is.
func Missing() string {
	if _, err := Binary(); err != nil {
		return "slapd"
	}
	if _, err := slapadd(); err != nil {
		return "slapadd"
	}
	for _, tool := range []string{"ldapadd", "ldapsearch", "ldapwhoami"} {
		if _, err := exec.LookPath(tool); err != nil {
			return tool
		}
	}
	for _, s := range schemas {
		if _, err := os.Stat("/etc/ldap/schema/" + s + ".schema"); err != nil {
			return "OpenLDAP schema " + s
		}
	}
	return ""
}

func slapadd() (string, error) {
	if _, err := os.Stat("/usr/sbin/slapadd"); err == nil {
		return "/usr/sbin/slapadd", nil
	}
	p, err := exec.LookPath("slapadd")
	if err != nil {
		return "", fmt.Errorf("slapadd not found; install with %s", Install)
	}
	return p, nil
}

// New starts a server for t in a temp folder of t, stopped when t ends; a missing slapd
// skips t (or fails it when peers are required).
func New(t testing.TB, o Options) *Server {
	t.Helper()
	if what := Missing(); what != "" {
		peers.Missing(t, what, Install)
	}
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	s, err := Start(o)
	if s != nil {
		t.Cleanup(s.Stop)
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Start writes the configuration and a test PKI into o.Dir, loads o.SeedLDIF if any, starts
// slapd and waits until both ports listen. The caller stops it (Stop). On an error after slapd
// started, the returned Server is non-nil (its log says why) and must be stopped too.
func Start(o Options) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	if o.SizeLimit == "" {
		o.SizeLimit = DefaultSizeLimit
	}
	if o.MaxSizeBytes == 0 {
		o.MaxSizeBytes = 100 << 20
	}
	level := 256
	if o.DebugLevel != nil {
		level = *o.DebugLevel
	}
	dir := o.Dir
	s := &Server{Dir: dir, CAFile: filepath.Join(dir, "ca.pem"), grew: make(chan struct{}), exited: make(chan struct{})}
	if err := writeTestPKI(dir); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "ad.schema"), []byte(ADSchema), 0o644); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "db"), 0o700); err != nil {
		return nil, err
	}
	var conf strings.Builder
	for _, sc := range schemas {
		fmt.Fprintf(&conf, "include /etc/ldap/schema/%s.schema\n", sc)
	}
	fmt.Fprintf(&conf, `include %[1]s/ad.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile %[1]s/slapd.pid
TLSCACertificateFile %[1]s/ca.pem
TLSCertificateFile %[1]s/server.pem
TLSCertificateKeyFile %[1]s/server.key
sizelimit %[5]s
database mdb
maxsize %[6]d
suffix "%[2]s"
rootdn "%[3]s"
rootpw %[4]s
directory %[1]s/db
access to attrs=userPassword by anonymous auth by self write by * none
access to * by users read by * none
`, dir, Suffix, RootDN, RootPW, o.SizeLimit, o.MaxSizeBytes)
	confFile := filepath.Join(dir, "slapd.conf")
	if err := os.WriteFile(confFile, []byte(conf.String()), 0o600); err != nil {
		return nil, err
	}
	if o.SeedLDIF != "" {
		add, err := slapadd()
		if err != nil {
			return nil, err
		}
		if out, err := exec.Command(add, "-q", "-f", confFile, "-l", o.SeedLDIF).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("slapadd %s: %w\n%s", o.SeedLDIF, err, tail(string(out), 20))
		}
	}
	ps, err := freePort()
	if err != nil {
		return nil, err
	}
	pp, err := freePort()
	if err != nil {
		return nil, err
	}
	s.LDAPSURL = fmt.Sprintf("ldaps://127.0.0.1:%d", ps)
	s.LDAPURL = fmt.Sprintf("ldap://127.0.0.1:%d", pp)
	// -d: stay in the foreground and log (256: every operation, the stats level) to stderr.
	s.cmd = exec.Command(bin, "-d", fmt.Sprint(level), "-f", confFile, "-h", s.LDAPSURL+"/ "+s.LDAPURL+"/")
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start slapd: %w", err)
	}
	go func() {
		s.follow(stderr)
		_ = s.cmd.Wait()
		close(s.exited)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c1, err1 := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", ps), time.Second)
		c2, err2 := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", pp), time.Second)
		if c1 != nil {
			c1.Close()
		}
		if c2 != nil {
			c2.Close()
		}
		if err1 == nil && err2 == nil {
			return s, nil
		}
		select {
		case <-s.exited:
			return s, fmt.Errorf("slapd exited before listening:\n%s", tail(s.Log(), 30))
		default:
		}
		if time.Now().After(deadline) {
			return s, fmt.Errorf("slapd did not listen within 20 s:\n%s", tail(s.Log(), 30))
		}
		time.Sleep(50 * time.Millisecond) // polling a port for readiness, not timing
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) follow(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		s.mu.Lock()
		s.lines = append(s.lines, sc.Text())
		close(s.grew)
		s.grew = make(chan struct{})
		s.mu.Unlock()
	}
}

// Log returns what slapd logged so far.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.lines, "\n")
}

// Stop kills slapd and waits for it; stopping twice is fine.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// Pid is slapd's process ID.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// ToolEnv is the environment the OpenLDAP tools need to verify the server's certificate.
func (s *Server) ToolEnv() []string {
	return append(os.Environ(), "LDAPTLS_CACERT="+s.CAFile, "LDAPTLS_REQCERT=demand")
}

// Binds counts the BIND operations slapd logged for dn (the server must log at level 256).
// To be sure every bind made so far is in the log, it first binds as a sentinel DN of its own
// and waits (up to a deadline) until slapd logged that one: slapd logs operations in the order
// it receives them on a connection, and every earlier bind's connection had its answer before
// the sentinel's connection opened.
func (s *Server) Binds(t testing.TB, dn string) int {
	t.Helper()
	sentinel := fmt.Sprintf("cn=sentinel-%d,%s", time.Now().UnixNano(), Suffix)
	out, _ := exec.Command("ldapwhoami", "-x", "-H", s.LDAPURL, "-D", sentinel, "-w", "x").CombinedOutput()
	_ = out // the bind fails (no such entry); it only has to be logged
	deadline := time.After(10 * time.Second)
	for {
		s.mu.Lock()
		n, seen := 0, false
		for _, l := range s.lines {
			l = strings.ToLower(l)
			if strings.Contains(l, `bind dn="`+strings.ToLower(sentinel)+`"`) {
				seen = true
			}
			// One "BIND dn=… method=128" line per simple bind received (a successful one
			// adds a "mech=SIMPLE" line).
			if strings.Contains(l, `bind dn="`+strings.ToLower(dn)+`" method=`) {
				n++
			}
		}
		grew := s.grew
		s.mu.Unlock()
		if seen {
			return n
		}
		select {
		case <-grew:
		case <-deadline:
			t.Fatalf("slapd did not log the sentinel bind within 10 s")
		}
	}
}

// Modify runs an LDAP tool (ldapadd, ldapmodify, ldapdelete) as the root DN over LDAPS.
func (s *Server) Modify(t testing.TB, tool, input string, args ...string) {
	t.Helper()
	cmd := exec.Command(tool, append([]string{"-x", "-H", s.LDAPSURL, "-D", RootDN, "-w", RootPW}, args...)...)
	cmd.Env = s.ToolEnv()
	cmd.Stdin = strings.NewReader(input)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s\n--- slapd log tail:\n%s", tool, args, err, out, tail(s.Log(), 20))
	}
}

func tail(s string, n int) string {
	ls := strings.Split(s, "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "\n")
}

// writeTestPKI writes a CA (ca.pem) and a server certificate for 127.0.0.1 / localhost it
// signed (server.pem, server.key).
func writeTestPKI(dir string) error {
	pki, err := testpki.New("Sekisho test LDAP CA")
	if err != nil {
		return err
	}
	return errors.Join(os.WriteFile(filepath.Join(dir, "ca.pem"), pki.CAPEM, 0o644),
		os.WriteFile(filepath.Join(dir, "server.pem"), pki.CertPEM, 0o644),
		os.WriteFile(filepath.Join(dir, "server.key"), pki.KeyPEM, 0o600))
}
