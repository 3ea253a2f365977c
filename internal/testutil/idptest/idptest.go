// Package idptest starts a complete Sekisho (demo tenant, SQLite, every adapter, the managed
// TLS certificate) on a loopback port for end-to-end and interop tests.
package idptest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/sekisho/sekisho/internal/setup"
	"github.com/sekisho/sekisho/internal/wiring"
)

// Options adjust the instance before the server is built.
type Options struct {
	// Host is the name in the base URL: "localhost" (default) or "127.0.0.1"; both are in
	// the managed certificate.
	Host string
	// Prepare runs after init and before the server is built (add domains, apps, policy…).
	Prepare func(ctx context.Context, in *setup.Instance) error
}

// IdP is a running Sekisho.
type IdP struct {
	URL      string // https://localhost:PORT, also the configured base URL
	DataDir  string
	CAFile   string // PEM of the managed CA that issued the server certificate
	CAPool   *x509.CertPool
	Services *wiring.Services
	Init     setup.InitResult
	Server   *httptest.Server
}

// Password returns the initial password of a demo user (or the admin).
func (p *IdP) Password(upn string) string { return p.Init.Password(upn) }

// Start initialises a demo data folder in a temp dir and serves it until the test ends.
func Start(t testing.TB, opts Options) *IdP {
	t.Helper()
	ctx := context.Background()
	if opts.Host == "" {
		opts.Host = "localhost"
	}
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	base := "https://" + opts.Host + ":" + port
	res, err := setup.Init(ctx, dir, setup.InitOptions{Demo: true, BaseURL: base, Listen: ln.Addr().String()}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	in, err := setup.Open(ctx, dir, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close() })
	if opts.Prepare != nil {
		if err := opts.Prepare(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	svc, err := wiring.Build(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := svc.TLSConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ts := &httptest.Server{Listener: ln, Config: &http.Server{Handler: svc.Server.Handler()}}
	ts.TLS = tlsCfg
	ts.StartTLS()
	t.Cleanup(ts.Close)
	caPEM, err := os.ReadFile(filepath.Join(dir, setup.DemoCAFile))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return &IdP{URL: base, DataDir: dir, CAFile: filepath.Join(dir, setup.DemoCAFile), CAPool: pool, Services: svc,
		Init: res, Server: ts}
}

// Client returns an HTTP client that trusts the instance's CA (no cookie jar, follows no
// redirects).
func (p *IdP) Client() *http.Client {
	return &http.Client{
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.CAPool}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// WikiEntityID and WikiMetadata are a minimal SAML SP (one HTTP-POST ACS, no certificate) for
// tests that register one the way an administrator does, from its metadata.
const (
	WikiEntityID = "https://wiki.example.com/shibboleth"
	WikiMetadata = `<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="` + WikiEntityID + `">
 <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
  <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://wiki.example.com/Shibboleth.sso/SAML2/POST" index="1"/>
 </md:SPSSODescriptor>
</md:EntityDescriptor>`
)
