// Package dovecottest runs a real Dovecot 2.3 (the Debian package) on loopback as the
// upstream mail server of mail-bridge tests.
//
// The Dovecot it starts accepts only OAuth2 bearer tokens (SASL XOAUTH2 and OAUTHBEARER),
// which it validates by RFC 7662 token introspection (POST, HTTP Basic client credentials)
// against the HTTPS endpoint the test names, typically Sekisho's own /oidc/introspect.
// It serves IMAP (implicit TLS and cleartext+STARTTLS), POP3 (implicit TLS) and SMTP
// submission (STARTTLS), relaying submitted mail to a Sink the test can read from.
//
// Everything (configuration, sockets, state, logs, mail) lives in a fresh temp dir; the
// Dovecot log (auth debugging on, so it shows the introspection URL with its credentials)
// is printed when the test fails. Failed authentications still take up to 0.5 s (Dovecot
// checks its failure queue twice a second); the anvil auth penalty is off.
package dovecottest

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sekisho/sekisho/internal/testutil/peers"
	"github.com/sekisho/sekisho/internal/testutil/testpki"
)

// Install is the command that installs the Dovecot peer.
const Install = "apt-get install -y dovecot-imapd dovecot-pop3d dovecot-submissiond"

// Hostname is the name Dovecot announces (SMTP greeting, EHLO to the relay); it is in the
// server certificate together with 127.0.0.1, ::1 and localhost.
const Hostname = "mail.dovecottest.test"

// Options configure the OAuth2 validation of the Dovecot under test.
type Options struct {
	// IntrospectURL is the https URL of the RFC 7662 endpoint, e.g.
	// https://127.0.0.1:PORT/oidc/introspect. Dovecot POSTs token=<bearer> to it.
	IntrospectURL string
	// ClientID and ClientSecret are the HTTP Basic credentials Dovecot presents to the
	// introspection endpoint (Dovecot 2.3 takes them from the URL's userinfo; they are
	// URL-escaped here). Both empty: no Authorization header.
	ClientID, ClientSecret string
	// CAFile is a PEM file of the CA that signed the introspection server's certificate;
	// Dovecot verifies the endpoint against it (tls_ca_cert_file).
	CAFile string
	// UsernameAttribute is the introspection response member holding the user name
	// (default "username"). Dovecot requires it to equal the SASL user (case-insensitive).
	UsernameAttribute string
}

// Server is a running Dovecot.
type Server struct {
	IMAPAddr       string // IMAP with implicit TLS, "127.0.0.1:port"
	IMAPPlainAddr  string // IMAP in cleartext, STARTTLS offered
	POPAddr        string // POP3 with implicit TLS
	SubmissionAddr string // SMTP submission, STARTTLS offered; relays to Relay
	CAPEM          []byte // PEM of the CA that issued Dovecot's TLS certificate
	CAFile         string // the same CA as a file
	Relay          *Sink  // receives what the submission service relays
	Dir            string // the temp dir holding configuration, state, log and mail
	LogFile        string // Dovecot's log

	uid, gid int
	seq      atomic.Int64
}

// Start runs Dovecot for the rest of the test. A missing Dovecot skips the test, or fails it
// with SEKISHO_REQUIRE_PEERS=1. Start returns once every port has sent its greeting.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	bin := "/usr/sbin/dovecot" // /usr/sbin is not always in PATH
	if _, err := os.Stat(bin); err != nil {
		bin = peers.Command(t, "dovecot", Install)
	}
	if o.IntrospectURL == "" {
		t.Fatal("dovecottest: Options.IntrospectURL is required")
	}
	if o.UsernameAttribute == "" {
		o.UsernameAttribute = "username"
	}
	introspect, err := introspectionURL(o)
	if err != nil {
		t.Fatalf("dovecottest: %v", err)
	}

	// A short dir of our own (not t.TempDir): unix socket paths must stay under 108 bytes,
	// and the dir must be traversable by Dovecot's unprivileged processes.
	dir, err := os.MkdirTemp("", "dovecottest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := &Server{Dir: dir, LogFile: filepath.Join(dir, "dovecot.log")}
	s.uid, s.gid, err = mailOwner()
	if err != nil {
		t.Fatalf("dovecottest: %v", err)
	}
	for _, d := range []string{"run", "state", "tls"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "mail"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(filepath.Join(dir, "mail"), s.uid, s.gid); err != nil {
		t.Fatal(err)
	}

	// TLS: a fresh CA and a certificate for loopback.
	pki, err := testpki.New("dovecottest CA", Hostname)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, certPEM, keyPEM := pki.CAPEM, pki.CertPEM, pki.KeyPEM
	s.CAPEM = caPEM
	s.CAFile = filepath.Join(dir, "tls", "ca.pem")
	writeFile(t, s.CAFile, caPEM, 0o644)
	writeFile(t, filepath.Join(dir, "tls", "cert.pem"), append(append([]byte{}, certPEM...), caPEM...), 0o644)
	writeFile(t, filepath.Join(dir, "tls", "key.pem"), keyPEM, 0o600)
	// The auth process runs as the dovecot user: give it a readable copy of the peer's CA.
	var peerCA string
	if o.CAFile != "" {
		b, err := os.ReadFile(o.CAFile)
		if err != nil {
			t.Fatalf("dovecottest: CAFile: %v", err)
		}
		peerCA = filepath.Join(dir, "tls", "introspect-ca.pem")
		writeFile(t, peerCA, b, 0o644)
	}

	s.Relay = startSink(t)
	ports := freePorts(t, 4)
	s.IMAPAddr = "127.0.0.1:" + strconv.Itoa(ports[0])
	s.IMAPPlainAddr = "127.0.0.1:" + strconv.Itoa(ports[1])
	s.POPAddr = "127.0.0.1:" + strconv.Itoa(ports[2])
	s.SubmissionAddr = "127.0.0.1:" + strconv.Itoa(ports[3])

	oauth2 := filepath.Join(dir, "dovecot-oauth2.conf.ext")
	writeFile(t, oauth2, []byte(oauth2Conf(introspect, o.UsernameAttribute, peerCA)), 0o644)
	conf := filepath.Join(dir, "dovecot.conf")
	writeFile(t, conf, []byte(s.dovecotConf(ports, oauth2)), 0o644)

	var stderr lockedBuffer
	cmd := exec.Command(bin, "-F", "-c", conf)
	cmd.Stdout = &stderr
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	begin := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("dovecottest: start dovecot: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		stop(cmd, exited)
		if t.Failed() {
			s.dumpLog(t, stderr.String())
		}
	})

	deadline := time.Now().Add(30 * time.Second)
	for _, a := range []struct {
		addr string
		tls  bool
	}{{s.IMAPAddr, true}, {s.IMAPPlainAddr, false}, {s.POPAddr, true}, {s.SubmissionAddr, false}} {
		if err := s.waitGreeting(a.addr, a.tls, deadline, exited); err != nil {
			t.Fatalf("dovecottest: %s not ready: %v", a.addr, err)
		}
	}
	t.Logf("dovecottest: dovecot ready in %v (dir %s)", time.Since(begin).Round(time.Millisecond), dir)
	return s
}

// introspectionURL puts the client credentials in the userinfo of the endpoint URL, which is
// how Dovecot 2.3's HTTP client sends Basic authentication.
func introspectionURL(o Options) (string, error) {
	u, err := url.Parse(o.IntrospectURL)
	if err != nil {
		return "", fmt.Errorf("IntrospectURL: %w", err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return "", fmt.Errorf("IntrospectURL %q: want an https URL", o.IntrospectURL)
	}
	if o.ClientID != "" || o.ClientSecret != "" {
		u.User = url.UserPassword(o.ClientID, o.ClientSecret)
	}
	return u.String(), nil
}

// mailOwner is the uid/gid the mail processes run as (Dovecot refuses uid 0).
func mailOwner() (int, int, error) {
	if os.Getuid() != 0 {
		return os.Getuid(), os.Getgid(), nil
	}
	u, err := user.Lookup("dovecot")
	if err != nil {
		return 0, 0, fmt.Errorf("no dovecot system user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return uid, gid, nil
}

func oauth2Conf(introspect, userAttr, caFile string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "introspection_mode = post\n")
	fmt.Fprintf(&b, "introspection_url = %s\n", introspect)
	fmt.Fprintf(&b, "force_introspection = yes\n")
	fmt.Fprintf(&b, "username_attribute = %s\n", userAttr)
	fmt.Fprintf(&b, "active_attribute = active\n")
	fmt.Fprintf(&b, "active_value = true\n")
	fmt.Fprintf(&b, "timeout_msecs = 10000\n")
	fmt.Fprintf(&b, "debug = yes\n")
	if caFile != "" {
		fmt.Fprintf(&b, "tls_ca_cert_file = %s\n", caFile)
	}
	return b.String()
}

func (s *Server) dovecotConf(ports []int, oauth2 string) string {
	d := s.Dir
	var b strings.Builder
	w := func(f string, a ...any) { fmt.Fprintf(&b, f+"\n", a...) }
	w("# generated by internal/testutil/dovecottest")
	w("instance_name = dovecottest-%s", filepath.Base(d))
	w("base_dir = %s/run", d)
	w("state_dir = %s/state", d)
	w("log_path = %s", s.LogFile)
	w("protocols = imap pop3 submission")
	w("listen = 127.0.0.1")
	w("hostname = %s", Hostname)
	w("shutdown_clients = yes")
	if os.Getuid() != 0 {
		// Unprivileged Dovecot: every service runs as the current user.
		if u, err := user.Current(); err == nil {
			w("default_internal_user = %s", u.Username)
			w("default_login_user = %s", u.Username)
		}
	}
	w("first_valid_uid = 1") // the dovecot system user is below the default 500
	w("first_valid_gid = 1")
	w("")
	w("ssl = yes")
	w("ssl_cert = <%s/tls/cert.pem", d)
	w("ssl_key = <%s/tls/key.pem", d)
	w("ssl_min_protocol = TLSv1.2")
	if _, err := os.Stat("/usr/share/dovecot/dh.pem"); err == nil {
		w("ssl_dh = </usr/share/dovecot/dh.pem")
	}
	w("")
	w("# Only OAuth2 bearer tokens; no password mechanism at all.")
	w("auth_mechanisms = xoauth2 oauthbearer")
	w("disable_plaintext_auth = no")
	w("auth_failure_delay = 0")
	w("# No anvil auth penalty (2-15 s delays after failures from 127.0.0.1) for fast tests.")
	w("service anvil {")
	w("  unix_listener anvil-auth-penalty {")
	w("    mode = 0")
	w("  }")
	w("}")
	w("auth_verbose = yes")
	w("auth_debug = yes")
	w("passdb {")
	w("  driver = oauth2")
	w("  mechanisms = xoauth2 oauthbearer")
	w("  args = %s", oauth2)
	w("}")
	w("userdb {")
	w("  driver = static")
	w("  args = uid=%d gid=%d home=%s/mail/%%u", s.uid, s.gid, d)
	w("}")
	w("mail_location = maildir:%s/mail/%%u/Maildir", d)
	w("namespace inbox {")
	w("  inbox = yes")
	w("}")
	w("")
	w("service imap-login {")
	w("  inet_listener imap {")
	w("    address = 127.0.0.1")
	w("    port = %d", ports[1])
	w("  }")
	w("  inet_listener imaps {")
	w("    address = 127.0.0.1")
	w("    port = %d", ports[0])
	w("    ssl = yes")
	w("  }")
	w("}")
	w("service pop3-login {")
	w("  inet_listener pop3 {")
	w("    port = 0")
	w("  }")
	w("  inet_listener pop3s {")
	w("    address = 127.0.0.1")
	w("    port = %d", ports[2])
	w("    ssl = yes")
	w("  }")
	w("}")
	w("service submission-login {")
	w("  inet_listener submission {")
	w("    address = 127.0.0.1")
	w("    port = %d", ports[3])
	w("  }")
	w("}")
	w("submission_relay_host = 127.0.0.1")
	w("submission_relay_port = %d", s.Relay.Port)
	w("submission_relay_trusted = yes")
	w("submission_relay_ssl = no")
	return b.String()
}

// waitGreeting polls addr until it sends a greeting line, the deadline passes or Dovecot exits.
func (s *Server) waitGreeting(addr string, useTLS bool, deadline time.Time, exited <-chan struct{}) error {
	var last error
	for {
		select {
		case <-exited:
			return errors.New("dovecot exited")
		default:
		}
		if time.Now().After(deadline) {
			return last
		}
		last = greet(addr, useTLS, s.CAPEM)
		if last == nil {
			return nil
		}
		select {
		case <-exited:
			return errors.New("dovecot exited")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func greet(addr string, useTLS bool, caPEM []byte) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	var r io.Reader = c
	if useTLS {
		tc := tlsClient(c, caPEM)
		if err := tc.Handshake(); err != nil {
			return err
		}
		r = tc
	}
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "* OK") && !strings.HasPrefix(line, "+OK") && !strings.HasPrefix(line, "220") {
		return fmt.Errorf("unexpected greeting %q", line)
	}
	return nil
}

// TLSConfig trusts Dovecot's CA, for clients of IMAPAddr, POPAddr and STARTTLS.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{RootCAs: caPool(s.CAPEM), ServerName: "127.0.0.1"}
}

func caPool(caPEM []byte) *x509.CertPool {
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(caPEM)
	return p
}

func tlsClient(c net.Conn, caPEM []byte) *tls.Conn {
	return tls.Client(c, &tls.Config{RootCAs: caPool(caPEM), ServerName: "127.0.0.1"})
}

// stop ends Dovecot. The master is told to shut down (SIGTERM) so that it reaps its
// children itself (an orphan's zombie may never be reaped in a container), and the
// children are killed at once, since the master otherwise lingers for about a second.
func stop(cmd *exec.Cmd, exited <-chan struct{}) {
	pid := cmd.Process.Pid
	_ = syscall.Kill(pid, syscall.SIGTERM)
	for _, c := range groupMembers(pid) {
		if c != pid {
			_ = syscall.Kill(c, syscall.SIGKILL)
		}
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-exited
	}
}

// groupMembers lists the processes of process group pgid (from /proc; nil elsewhere).
func groupMembers(pgid int) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may contain spaces and parentheses.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 2 && f[2] == strconv.Itoa(pgid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func (s *Server) dumpLog(t testing.TB, out string) {
	if out != "" {
		t.Logf("dovecot output:\n%s", out)
	}
	if b, err := os.ReadFile(s.LogFile); err == nil {
		t.Logf("dovecot log (%s):\n%s", s.LogFile, b)
	}
}

// Mailbox returns the path of user's Maildir (INBOX). Dovecot names the user as the
// introspection response does, lowercased: pass user in that form.
func (s *Server) Mailbox(user string) string {
	return filepath.Join(s.Dir, "mail", user, "Maildir")
}

// Seed writes n messages of about size bytes into user's INBOX, directly as Maildir files in
// cur/ (unseen, not \Recent). Each has a distinct Subject ("Seed message N") and Message-ID.
func (s *Server) Seed(t testing.TB, user string, n int, size int) {
	t.Helper()
	home := filepath.Join(s.Dir, "mail", user)
	md := s.Mailbox(user)
	for _, d := range []string{home, md, filepath.Join(md, "cur"), filepath.Join(md, "new"), filepath.Join(md, "tmp")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(d, s.uid, s.gid); err != nil {
			t.Fatal(err)
		}
	}
	body := filler(size)
	now := time.Now()
	pid := os.Getpid()
	var buf bytes.Buffer
	for i := 0; i < n; i++ {
		k := s.seq.Add(1)
		buf.Reset()
		fmt.Fprintf(&buf, "Return-Path: <sender@example.org>\n")
		fmt.Fprintf(&buf, "From: Seeder <sender@example.org>\n")
		fmt.Fprintf(&buf, "To: <%s>\n", user)
		fmt.Fprintf(&buf, "Subject: Seed message %d\n", k)
		fmt.Fprintf(&buf, "Message-ID: <seed-%d-%d@dovecottest.test>\n", k, now.UnixNano())
		fmt.Fprintf(&buf, "Date: %s\n", now.Add(time.Duration(k)*time.Second).Format(time.RFC1123Z))
		fmt.Fprintf(&buf, "MIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\n")
		fmt.Fprintf(&buf, "Message %d for %s.\n", k, user)
		if rest := size - buf.Len(); rest > 0 {
			buf.Write(body[:min(rest, len(body))])
		}
		name := fmt.Sprintf("%d.M%dP%d.dovecottest,S=%d:2,", now.Unix(), k, pid, buf.Len())
		p := filepath.Join(md, "cur", name)
		if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, s.uid, s.gid); err != nil {
			t.Fatal(err)
		}
	}
}

// filler returns about size bytes of 76-column text lines.
func filler(size int) []byte {
	line := []byte(strings.Repeat("abcdefghijklmnopqrstuvwxyz0123456789", 3)[:75] + "\n")
	var b bytes.Buffer
	for b.Len() < size {
		b.Write(line)
	}
	return b.Bytes()
}

// Message is one mail transaction the Sink received.
type Message struct {
	From string   // envelope MAIL FROM
	To   []string // envelope RCPT TO
	Data []byte   // the message as relayed (CRLF line ends)
}

// Sink is an SMTP server on loopback standing in for the MTA that Dovecot's submission
// service relays to. It accepts every transaction without authentication.
type Sink struct {
	Addr string // "127.0.0.1:port"
	Port int
	msgs chan Message
	done chan struct{}
}

// C delivers each received message, in order.
func (k *Sink) C() <-chan Message { return k.msgs }

// Next waits up to timeout for the next received message.
func (k *Sink) Next(t testing.TB, timeout time.Duration) Message {
	t.Helper()
	select {
	case m := <-k.msgs:
		return m
	case <-time.After(timeout):
		t.Fatalf("dovecottest: no message reached the relay sink within %v", timeout)
		return Message{}
	}
}

func startSink(t testing.TB) *Sink {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	k := &Sink{Addr: ln.Addr().String(), Port: ln.Addr().(*net.TCPAddr).Port, msgs: make(chan Message, 4096), done: make(chan struct{})}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &sinkSession{sink: k}, nil }))
	srv.Domain = "relay.dovecottest.test"
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	srv.MaxMessageBytes = 64 << 20
	srv.ErrorLog = testLogger{t}
	go srv.Serve(ln)
	t.Cleanup(func() { close(k.done); srv.Close() })
	return k
}

type sinkSession struct {
	sink *Sink
	from string
	to   []string
}

func (s *sinkSession) Reset()        { s.from, s.to = "", nil }
func (s *sinkSession) Logout() error { return nil }
func (s *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}
func (s *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}
func (s *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	select {
	case s.sink.msgs <- Message{From: s.from, To: s.to, Data: b}:
		return nil
	case <-s.sink.done:
		return errors.New("sink closed")
	}
}

type testLogger struct{ t testing.TB }

func (l testLogger) Printf(f string, a ...any) { l.t.Logf("dovecottest sink: "+f, a...) }
func (l testLogger) Println(a ...any)          { l.t.Log(append([]any{"dovecottest sink:"}, a...)...) }

func freePorts(t testing.TB, n int) []int {
	var lns []net.Listener
	var ports []int
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

func writeFile(t testing.TB, p string, b []byte, mode os.FileMode) {
	if err := os.WriteFile(p, b, mode); err != nil {
		t.Fatal(err)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
