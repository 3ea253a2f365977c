// Package devices tests device certificates end to end: issued by Sekisho's device CA,
// downloaded once as PKCS#12, presented over mTLS by a Go client and by curl, and judged by a
// policy that requires a device certificate.
package devices

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/sekisho/sekisho/internal/setup"
	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/testutil/idptest"
	"github.com/sekisho/sekisho/internal/testutil/peers"
)

const devicePolicy = `version: 1
default: deny
rules:
  - name: with-device
    description: Only company devices carrying a certificate issued to the user.
    device: required
    action: allow
`

type issued struct {
	p12, password string
	dev           store.Device
	cert          tls.Certificate
}

func issue(t *testing.T, p *idptest.IdP, upn, name string) issued {
	t.Helper()
	ctx := context.Background()
	u, err := p.Services.Instance.Store.GetUserByUPN(ctx, upn)
	if err != nil {
		t.Fatal(err)
	}
	dev, token, pw, err := p.Services.Devices.Issue(ctx, u.ID, name, "windows", 0)
	if err != nil {
		t.Fatal(err)
	}
	return download(t, p, dev, token, pw)
}

func download(t *testing.T, p *idptest.IdP, dev store.Device, token, pw string) issued {
	t.Helper()
	p12, err := p.Services.Devices.Download(context.Background(), token, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Services.Devices.Download(context.Background(), token, time.Now()); err == nil {
		t.Fatal("the download link worked twice")
	}
	key, cert, _, err := pkcs12.DecodeChain(p12, pw)
	if err != nil {
		t.Fatalf("PKCS#12 does not open with its one-time password: %v", err)
	}
	f := filepath.Join(t.TempDir(), dev.Name+".p12")
	if err := os.WriteFile(f, p12, 0o600); err != nil {
		t.Fatal(err)
	}
	return issued{p12: f, password: pw, dev: dev, cert: tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}}
}

func client(p *idptest.IdP, cert *tls.Certificate) *http.Client {
	jar, _ := cookiejar.New(nil)
	cfg := &tls.Config{RootCAs: p.CAPool}
	if cert != nil {
		c := *cert
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &c, nil }
	}
	return &http.Client{Jar: jar, Transport: &http.Transport{TLSClientConfig: cfg},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// signIn runs a WS-Fed passive sign-in with the password and reports the final status and body.
func signIn(t *testing.T, p *idptest.IdP, c *http.Client, upn string) (int, string, error) {
	t.Helper()
	start := "/adfs/ls/?wa=wsignin1.0&wtrealm=urn%3Afederation%3AMicrosoftOnline&wctx=x&username=" + url.QueryEscape(upn)
	get := func(path string) (*http.Response, string, error) {
		for i := 0; i < 10; i++ {
			resp, err := c.Get(p.URL + path)
			if err != nil {
				return nil, "", err
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusSeeOther {
				return resp, string(b), nil
			}
			path = resp.Header.Get("Location")
		}
		t.Fatal("redirect loop")
		return nil, "", nil
	}
	_, body, err := get(start)
	if err != nil {
		return 0, "", err
	}
	m := csrfRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no sign-in page:\n%.400s", body)
	}
	resp, err := c.PostForm(p.URL+"/login", url.Values{"csrf": {m[1]}, "step": {"password"}, "username": {upn},
		"password": {p.Password(upn)}, "return_to": {start}})
	if err != nil {
		return 0, "", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("password step: %d", resp.StatusCode)
	}
	resp, body, err = get(resp.Header.Get("Location"))
	if err != nil {
		return 0, "", err
	}
	return resp.StatusCode, body, nil
}

func TestDeviceCertificates(t *testing.T) {
	p := idptest.Start(t, idptest.Options{Prepare: func(ctx context.Context, in *setup.Instance) error {
		in.Config.TLS.DeviceCertificates = true
		_, err := in.Store.AddPolicyVersion(ctx, store.PolicyVersion{Document: []byte(devicePolicy), Author: "test", CreatedAt: time.Now()})
		return err
	}})
	ctx := context.Background()
	st := p.Services.Instance.Store
	alice := issue(t, p, "alice@example.com", "alice-laptop")
	bob := issue(t, p, "bob@example.com", "bob-laptop")

	t.Run("own certificate is allowed", func(t *testing.T) {
		code, body, err := signIn(t, p, client(p, &alice.cert), "alice@example.com")
		if err != nil || code != 200 || !strings.Contains(body, `name="wresult"`) {
			t.Fatalf("%d %v\n%.400s", code, err, body)
		}
		evs, _ := st.ListSignIns(ctx, store.SignInFilter{Username: "alice@example.com", Decision: "allow"})
		if len(evs) != 1 || evs[0].DeviceName != "alice-laptop" || evs[0].DeviceSerial == "" || evs[0].Rule != "with-device" {
			t.Fatalf("record %+v", evs)
		}
		if d, _ := st.GetDevice(ctx, alice.dev.ID); d.FirstSeenAt.IsZero() {
			t.Fatal("device not marked in use")
		}
	})
	t.Run("no certificate is refused", func(t *testing.T) {
		code, body, err := signIn(t, p, client(p, nil), "alice@example.com")
		if err != nil || code != http.StatusForbidden || !strings.Contains(body, `id="reference"`) {
			t.Fatalf("%d %v", code, err)
		}
	})
	t.Run("another user's certificate does not count and is flagged", func(t *testing.T) {
		code, _, err := signIn(t, p, client(p, &bob.cert), "alice@example.com")
		if err != nil || code != http.StatusForbidden {
			t.Fatalf("%d %v", code, err)
		}
		evs, _ := st.ListSignIns(ctx, store.SignInFilter{Username: "alice@example.com", Decision: "deny"})
		last := evs[len(evs)-1]
		if !strings.Contains(last.DeviceName, "other_user") {
			t.Fatalf("not flagged: %+v", last)
		}
	})
	t.Run("renewal keeps the device working through the grace period", func(t *testing.T) {
		nd, token, pw, err := p.Services.Devices.Renew(ctx, alice.dev.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		renewed := download(t, p, nd, token, pw)
		for _, c := range []*tls.Certificate{&renewed.cert, &alice.cert} {
			if code, _, err := signIn(t, p, client(p, c), "alice@example.com"); err != nil || code != 200 {
				t.Fatalf("serial %x: %d %v", c.Leaf.SerialNumber, code, err)
			}
		}
	})
	t.Run("revoked certificate fails the handshake at once", func(t *testing.T) {
		if _, err := p.Services.Devices.Revoke(ctx, bob.dev.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := signIn(t, p, client(p, &bob.cert), "bob@example.com"); err == nil {
			t.Fatal("revoked certificate accepted")
		}
	})
	t.Run("foreign CA certificate fails the handshake", func(t *testing.T) {
		foreign := selfSigned(t)
		if _, _, err := signIn(t, p, client(p, &foreign), "alice@example.com"); err == nil {
			t.Fatal("foreign certificate accepted")
		}
	})
	t.Run("curl with the PKCS#12", func(t *testing.T) {
		curl := peers.Command(t, "curl", "apt-get install -y curl")
		run := func(c issued) error {
			return exec.Command(curl, "-sf", "--cacert", p.CAFile, "--cert-type", "P12", "--cert", c.p12+":"+c.password,
				p.URL+"/healthz").Run()
		}
		other := issue(t, p, "carol@example.com", "carol-phone")
		if err := run(other); err != nil {
			t.Fatalf("curl with a valid device certificate: %v", err)
		}
		if err := run(bob); err == nil {
			t.Fatal("curl with a revoked device certificate got through")
		}
	})
}

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "foreign"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k, Leaf: c}
}

// login signs c in with the password (no application involved) and returns c.
func login(t *testing.T, p *idptest.IdP, c *http.Client, upn string) *http.Client {
	t.Helper()
	resp, err := c.Get(p.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfRe.FindStringSubmatch(string(b))
	if m == nil {
		t.Fatal("no sign-in page")
	}
	resp, err = c.PostForm(p.URL+"/login", url.Values{"csrf": {m[1]}, "step": {"password"}, "username": {upn},
		"password": {p.Password(upn)}, "return_to": {"/"}})
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login %s: %v %v", upn, resp, err)
	}
	resp.Body.Close()
	return c
}

func TestDownloadLink(t *testing.T) {
	p := idptest.Start(t, idptest.Options{})
	ctx := context.Background()
	alice, _ := p.Services.Instance.Store.GetUserByUPN(ctx, "alice@example.com")
	dev, token, pw, err := p.Services.Devices.Issue(ctx, alice.ID, "alice-mac", "macos", 0)
	if err != nil {
		t.Fatal(err)
	}
	link := p.URL + "/devices/download/" + token
	get := func(c *http.Client) (*http.Response, []byte) {
		resp, err := c.Get(link)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, b
	}
	if resp, _ := get(client(p, nil)); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("anonymous: %d, want a redirect to sign in", resp.StatusCode)
	}
	if resp, _ := get(login(t, p, client(p, nil), "bob@example.com")); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("another user's session: %d", resp.StatusCode)
	}
	owner := login(t, p, client(p, nil), "alice@example.com")
	resp, body := get(owner)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-pkcs12" {
		t.Fatalf("owner: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if _, cert, _, err := pkcs12.DecodeChain(body, pw); err != nil || cert.SerialNumber.Text(16) == "" || cert.Subject.CommonName != dev.Name {
		t.Fatalf("package: %v", err)
	}
	if resp, _ := get(owner); resp.StatusCode != http.StatusGone {
		t.Fatalf("second download: %d, want 410", resp.StatusCode)
	}
}
