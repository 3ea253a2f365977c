package shibboleth

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"embed"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"
)

//go:embed testdata
var testdata embed.FS

// sp is a running Shibboleth SP: shibd plus Apache with mod_shib, all state under Dir.
type sp struct {
	Dir      string
	Port     int
	URL      string // http://127.0.0.1:PORT
	EntityID string
	shibd    *proc
	apache   *proc
}

// proc is a started daemon; done closes when it exits (Wait is called exactly once).
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
}

// startProc starts cmd in its own process group and stops the group when the test ends.
func startProc(t *testing.T, name string, cmd *exec.Cmd, out *os.File) *proc {
	t.Helper()
	// Apache's prefork parent signals its whole process group on shutdown: without a group
	// of its own that would include go test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(p.stop)
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the process group, and SIGKILL if it has not exited within 5 s.
func (p *proc) stop() {
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
}

type spConfig struct {
	Dir, EntityID, IdPEntityID string
	Port                       int
}

// shibTemplates are copied unchanged from Debian's /etc/shibboleth: the error and logout pages
// mod_shib renders and the protocol/security definitions shibd loads relative to its config.
var shibTemplates = []string{"protocols.xml", "security-policy.xml", "attrChecker.html", "bindingTemplate.html",
	"discoveryTemplate.html", "globalLogout.html", "localLogout.html", "metadataError.html", "partialLogout.html",
	"postTemplate.html", "sessionError.html", "sslError.html"}

// startSP writes the SP's configuration (trusting idpMetadata), starts shibd and Apache, and
// stops both when the test ends. Apache workers run as www-data, so the directory is
// world-readable; it holds nothing but this throwaway SP.
func startSP(t *testing.T, shibd, apache string, idpMetadata []byte, idpEntityID string) *sp {
	t.Helper()
	dir, err := os.MkdirTemp("", "sekisho-shib-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	port := freePort(t)
	s := &sp{Dir: dir, Port: port, URL: "http://127.0.0.1:" + strconv.Itoa(port)}
	s.EntityID = s.URL + "/shibboleth"
	cfg := spConfig{Dir: dir, EntityID: s.EntityID, IdPEntityID: idpEntityID, Port: port}

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{dir, filepath.Join(dir, "htdocs"), filepath.Join(dir, "cgi")} {
		must(os.MkdirAll(d, 0o755))
		must(os.Chmod(d, 0o755))
	}
	for _, name := range shibTemplates {
		b, err := os.ReadFile(filepath.Join("/etc/shibboleth", name))
		must(err)
		must(os.WriteFile(filepath.Join(dir, name), b, 0o644))
	}
	render := func(tmpl, out string) {
		t.Helper()
		tp := template.Must(template.ParseFS(testdata, "testdata/"+tmpl))
		var buf bytes.Buffer
		must(tp.Execute(&buf, cfg))
		must(os.WriteFile(filepath.Join(dir, out), buf.Bytes(), 0o644))
	}
	render("shibboleth2.xml.tmpl", "shibboleth2.xml")
	render("shibd.logger.tmpl", "shibd.logger")
	render("native.logger.tmpl", "native.logger")
	render("httpd.conf.tmpl", "httpd.conf")
	for src, dst := range map[string]string{"attribute-map.xml": "attribute-map.xml", "env.cgi": "cgi/env.cgi"} {
		b, err := testdata.ReadFile("testdata/" + src)
		must(err)
		must(os.WriteFile(filepath.Join(dir, dst), b, 0o755))
	}
	must(os.WriteFile(filepath.Join(dir, "idp-metadata.xml"), idpMetadata, 0o644))
	keyPEM, certPEM := selfSigned(t, "127.0.0.1")
	// mod_shib loads the configuration (and with it the credential) inside the www-data workers.
	must(os.WriteFile(filepath.Join(dir, "sp-key.pem"), keyPEM, 0o644))
	must(os.WriteFile(filepath.Join(dir, "sp-cert.pem"), certPEM, 0o644))
	// The workers log here; shibd (root) creates its own files.
	must(os.WriteFile(filepath.Join(dir, "native.log"), nil, 0o666))
	must(os.Chmod(filepath.Join(dir, "native.log"), 0o666))

	env := append(os.Environ(), "SHIBSP_LOGGING="+filepath.Join(dir, "shibd.logger"), "SHIBSP_CFGDIR="+dir)
	// Registered before the daemons start, so it runs after they stopped (cleanups run last
	// in, first out) and sees complete logs.
	t.Cleanup(func() { s.dumpOnFailure(t) })
	cmd := exec.Command(shibd, "-F", "-f", "-c", filepath.Join(dir, "shibboleth2.xml"))
	cmd.Env = env
	s.shibd = startProc(t, "shibd", cmd, logFile(t, dir, "shibd.out"))
	if err := waitFor(10*time.Second, func() error {
		if s.shibd.exited() {
			return stopWaiting{errors.New("shibd exited")}
		}
		_, err := os.Stat(filepath.Join(dir, "shibd.sock"))
		return err
	}); err != nil {
		t.Fatalf("shibd did not open its socket: %v", err)
	}
	// shibd starts even when a part of its configuration is broken (it then logs CRIT and,
	// e.g., maps no attributes): refuse that here, with the reason.
	for _, line := range strings.Split(s.Log("shibd.log"), "\n") {
		if strings.Contains(line, " CRIT ") || strings.Contains(line, " ERROR ") {
			t.Fatalf("shibd configuration: %s", line)
		}
	}

	cmd = exec.Command(apache, "-f", filepath.Join(dir, "httpd.conf"), "-DFOREGROUND")
	cmd.Env = env
	s.apache = startProc(t, "apache", cmd, logFile(t, dir, "apache.out"))
	if err := waitFor(15*time.Second, func() error {
		if s.apache.exited() {
			return stopWaiting{errors.New("apache exited")}
		}
		resp, err := http.Get(s.URL + "/Shibboleth.sso/Metadata")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("metadata: HTTP %d", resp.StatusCode)
		}
		return nil
	}); err != nil {
		t.Fatalf("Apache/mod_shib not ready: %v", err)
	}
	return s
}

// Metadata returns the SP metadata shibd generates.
func (s *sp) Metadata(t *testing.T) []byte {
	t.Helper()
	return getOK(t, http.DefaultClient, s.URL+"/Shibboleth.sso/Metadata", "SP metadata")
}

// getOK returns the body of a GET that must answer 200 OK; what names it in the failure.
func getOK(t *testing.T, c *http.Client, url, what string) []byte {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: HTTP %d, %v", what, resp.StatusCode, err)
	}
	return b
}

// ACSPosts counts the requests that delivered a SAML response to the SP (Apache's access log).
func (s *sp) ACSPosts(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.Dir, "apache_access.log"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return strings.Count(string(b), `"POST /Shibboleth.sso/SAML2/POST `)
}

// Log returns one of the SP's log files ("" if absent).
func (s *sp) Log(name string) string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, name))
	return string(b)
}

var logNames = []string{"shibd.out", "shibd.log", "shibd_warn.log", "transaction.log", "native.log",
	"apache.out", "apache_error.log", "apache_access.log"}

// logs returns the tail of every log, for failure messages.
func (s *sp) logs() string {
	var b strings.Builder
	for _, n := range logNames {
		l := s.Log(n)
		if len(l) > 4000 {
			l = "…" + l[len(l)-4000:]
		}
		fmt.Fprintf(&b, "==== %s ====\n%s\n", n, l)
	}
	return b.String()
}

// dumpOnFailure copies the logs into the artifacts folder and prints their tails.
func (s *sp) dumpOnFailure(t *testing.T) {
	if !t.Failed() {
		return
	}
	if dir := os.Getenv("SEKISHO_ARTIFACTS"); dir != "" {
		out := filepath.Join(dir, "shibboleth")
		if err := os.MkdirAll(out, 0o755); err == nil {
			for _, n := range append(logNames, "shibboleth2.xml", "httpd.conf", "idp-metadata.xml") {
				_ = os.WriteFile(filepath.Join(out, n), []byte(s.Log(n)), 0o644)
			}
			t.Logf("SP logs copied to %s", out)
		}
	}
	t.Logf("SP logs:\n%s", s.logs())
}

func logFile(t *testing.T, dir, name string) *os.File {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// stopWaiting is a condition error that ends waitFor at once (the daemon died).
type stopWaiting struct{ error }

// waitFor polls cond until it returns nil or stopWaiting, or the timeout passes (startup of
// external daemons offers nothing to block on but their socket or port).
func waitFor(timeout time.Duration, cond func() error) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if _, stop := err.(stopWaiting); err == nil || stop {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-tick.C:
		}
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// selfSigned returns a fresh SP key and certificate (PEM), as shib-keygen would make them.
func selfSigned(t *testing.T, cn string) (keyPEM, certPEM []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
