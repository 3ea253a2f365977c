package ldapconn_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/testutil/peers"
)

const (
	suffix  = "dc=example,dc=com"
	rootDN  = "cn=admin," + suffix
	rootPW  = "root-secret-for-tests"
	svcDN   = "cn=sekisho,ou=service," + suffix
	svcPW   = "service-secret-for-tests"
	install = "apt-get install -y slapd ldap-utils"
)

// adSchema gives OpenLDAP the three Active Directory attributes the connector reads by
// default (with Microsoft's OIDs), on an auxiliary class. memberOf is not needed: the test
// directory's nesting is read from the groups' member attribute.
const adSchema = `attributetype ( 1.2.840.113556.1.4.2 NAME 'objectGUID'
	EQUALITY octetStringMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.40 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.656 NAME 'userPrincipalName'
	EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.8 NAME 'userAccountControl'
	EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.4203.666.11.99.1 NAME 'sekishoADUser' SUP top AUXILIARY
	MAY ( objectGUID $ userPrincipalName $ userAccountControl ) )
`

// slapd is a throw-away OpenLDAP server on a loopback port, serving LDAPS with a test CA
// and plain LDAP (for StartTLS) on another port, its stats log (every BIND) followed.
type slapd struct {
	dir, caFile string
	ldapsURL    string
	ldapURL     string
	cmd         *exec.Cmd

	mu    sync.Mutex
	lines []string
	grew  chan struct{} // closed and replaced whenever a line arrives
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startSlapd(t *testing.T) *slapd {
	t.Helper()
	bin := "/usr/sbin/slapd"
	if _, err := os.Stat(bin); err != nil {
		bin = peers.Command(t, "slapd", install)
	}
	peers.Command(t, "ldapadd", install)
	for _, s := range []string{"core", "cosine", "inetorgperson", "nis"} {
		if _, err := os.Stat("/etc/ldap/schema/" + s + ".schema"); err != nil {
			peers.Missing(t, "OpenLDAP schema "+s, install)
		}
	}
	dir := t.TempDir()
	s := &slapd{dir: dir, caFile: filepath.Join(dir, "ca.pem"), grew: make(chan struct{})}
	writeTestPKI(t, dir)
	must(t, os.WriteFile(filepath.Join(dir, "ad.schema"), []byte(adSchema), 0o644))
	must(t, os.MkdirAll(filepath.Join(dir, "db"), 0o700))
	conf := fmt.Sprintf(`include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
include %[1]s/ad.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile %[1]s/slapd.pid
TLSCACertificateFile %[1]s/ca.pem
TLSCertificateFile %[1]s/server.pem
TLSCertificateKeyFile %[1]s/server.key
sizelimit size.soft=5 size.hard=5 size.pr=5 size.prtotal=unlimited
database mdb
maxsize 104857600
suffix "%[2]s"
rootdn "%[3]s"
rootpw %[4]s
directory %[1]s/db
access to attrs=userPassword by anonymous auth by self write by * none
access to * by users read by * none
`, dir, suffix, rootDN, rootPW)
	confFile := filepath.Join(dir, "slapd.conf")
	must(t, os.WriteFile(confFile, []byte(conf), 0o600))
	ps, pp := freePort(t), freePort(t)
	s.ldapsURL = fmt.Sprintf("ldaps://127.0.0.1:%d", ps)
	s.ldapURL = fmt.Sprintf("ldap://127.0.0.1:%d", pp)
	// -d 256: stay in the foreground and log every operation (the stats level) to stderr.
	s.cmd = exec.Command(bin, "-d", "256", "-f", confFile, "-h", s.ldapsURL+"/ "+s.ldapURL+"/")
	stderr, err := s.cmd.StderrPipe()
	must(t, err)
	must(t, s.cmd.Start())
	go s.follow(stderr)
	t.Cleanup(s.stop)
	deadline := time.Now().Add(20 * time.Second)
	for {
		c1, err1 := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", ps), time.Second)
		c2, err2 := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", pp), time.Second)
		if err1 == nil && err2 == nil {
			c1.Close()
			c2.Close()
			break
		}
		if time.Now().After(deadline) || s.cmd.ProcessState != nil {
			t.Fatalf("slapd did not listen within 20 s:\n%s", s.log())
		}
		time.Sleep(50 * time.Millisecond) // polling a port for readiness, not timing
	}
	return s
}

func (s *slapd) follow(r interface{ Read([]byte) (int, error) }) {
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

func (s *slapd) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.lines, "\n")
}

func (s *slapd) stop() {
	if s.cmd != nil && s.cmd.Process != nil && s.cmd.ProcessState == nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
	}
}

// binds counts the BIND operations slapd logged for dn. To be sure every bind made so far
// is in the log, it first binds as a sentinel DN of its own and waits (up to a deadline)
// until slapd logged that one: slapd logs operations in the order it receives them on a
// connection, and every earlier bind's connection had its answer before the sentinel's
// connection opened.
func (s *slapd) binds(t *testing.T, dn string) int {
	t.Helper()
	sentinel := fmt.Sprintf("cn=sentinel-%d,%s", time.Now().UnixNano(), suffix)
	out, _ := exec.Command("ldapwhoami", "-x", "-H", s.ldapURL, "-D", sentinel, "-w", "x").CombinedOutput()
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

// modify runs an LDAP tool (ldapadd, ldapmodify, ldapdelete) as the root DN over LDAPS.
func (s *slapd) modify(t *testing.T, tool, input string, args ...string) {
	t.Helper()
	cmd := exec.Command(tool, append([]string{"-x", "-H", s.ldapsURL, "-D", rootDN, "-w", rootPW}, args...)...)
	cmd.Env = append(os.Environ(), "LDAPTLS_CACERT="+s.caFile, "LDAPTLS_REQCERT=demand")
	cmd.Stdin = strings.NewReader(input)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s\n--- slapd log tail:\n%s", tool, args, err, out, tail(s.log(), 20))
	}
}

func tail(s string, n int) string {
	ls := strings.Split(s, "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "\n")
}

// writeTestPKI writes a CA and a server certificate for 127.0.0.1 / localhost it signed.
func writeTestPKI(t *testing.T, dir string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Sekisho test LDAP CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	must(t, err)
	ca, err := x509.ParseCertificate(caDER)
	must(t, err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	must(t, err)
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	must(t, err)
	write := func(name, typ string, b []byte, mode os.FileMode) {
		must(t, os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), mode))
	}
	write("ca.pem", "CERTIFICATE", caDER, 0o644)
	write("server.pem", "CERTIFICATE", der, 0o644)
	write("server.key", "PRIVATE KEY", pk, 0o600)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
