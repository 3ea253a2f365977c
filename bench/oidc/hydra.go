package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
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
	"sync"
	"syscall"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/sekisho/sekisho/internal/testutil/clustertest"
)

// hydraConfig is one way of running Ory Hydra for the comparison.
type hydraConfig struct {
	Key, Name   string // in the JSON; for people
	AccessToken string // strategies.access_token: jwt (RS256, like Sekisho) or opaque (HMAC, Hydra's default)
	Iterations  int    // oauth2.hashers.pbkdf2.iterations (Hydra's default 25,000; 1 = one HMAC-SHA256, like Sekisho)
	// RSA2048 imports an RSA-2048 key as Hydra's access-token signing key (the size of
	// Sekisho's) before the first token; without it Hydra generates its default, RSA-4096.
	RSA2048 bool
	// ES256 imports a P-256 key instead (ES256 JWT access tokens, like Sekisho's ES256 clients).
	ES256 bool
}

type hydraServer struct {
	cmd      *exec.Cmd
	log      bytes.Buffer
	done     chan struct{}
	public   string
	admin    string
	http     *http.Client
	id, secr string
}

// loopbackCert is a self-signed RSA-2048 server certificate for 127.0.0.1.
func loopbackCert() (*rsa.PrivateKey, *x509.Certificate, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return key, cert, err
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startHydra runs `hydra serve all --dev` with an in-memory SQLite database (DSN=memory),
// HTTPS on two loopback ports with a throw-away certificate, the given access token strategy
// and PBKDF2 iterations, and logs at level error (Hydra logs every request at info).
func startHydra(t testing.TB, bin string, hc hydraConfig, workers int) *hydraServer {
	dir := t.TempDir()
	key, cert, err := loopbackCert()
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.key"), keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	pub, err1 := freePort()
	adm, err2 := freePort()
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	sys := make([]byte, 32)
	rand.Read(sys)
	cfg := fmt.Sprintf(`dsn: memory
log:
  level: error
serve:
  public: {host: 127.0.0.1, port: %d}
  admin: {host: 127.0.0.1, port: %d}
  tls:
    enabled: true
    cert: {path: %q}
    key: {path: %q}
urls:
  self: {issuer: "https://127.0.0.1:%d/"}
secrets:
  system: [%q]
strategies:
  access_token: %s
oauth2:
  hashers:
    algorithm: pbkdf2
    pbkdf2: {iterations: %d}
`, pub, adm, filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), pub, base64.RawURLEncoding.EncodeToString(sys),
		hc.AccessToken, hc.Iterations)
	if err := os.WriteFile(filepath.Join(dir, "hydra.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	h := &hydraServer{done: make(chan struct{}), public: "https://127.0.0.1:" + strconv.Itoa(pub),
		admin: "https://127.0.0.1:" + strconv.Itoa(adm)}
	h.cmd = exec.Command(bin, "serve", "all", "--dev", "--sqa-opt-out", "--config", filepath.Join(dir, "hydra.yaml"))
	h.cmd.Env = append(os.Environ(), "SQA_OPT_OUT=true")
	w := &lockedWriter{b: &h.log}
	h.cmd.Stdout, h.cmd.Stderr = w, w
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = h.cmd.Wait(); close(h.done) }()
	t.Cleanup(h.stop)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	h.http = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool},
		MaxIdleConnsPerHost: workers}}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := h.http.Get(h.admin + "/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-h.done:
			t.Fatalf("hydra exited before it was ready:\n%s", w.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("hydra not ready after 60 s: %v\n%s", err, w.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if hc.RSA2048 || hc.ES256 {
		if err := h.importKey(hc.ES256); err != nil {
			t.Fatalf("hydra: import the access-token key: %v", err)
		}
	}
	// A client with a secret as strong as Sekisho's: 32 random bytes, base64url (43 characters).
	secret := make([]byte, 32)
	rand.Read(secret)
	h.secr = base64.RawURLEncoding.EncodeToString(secret)
	body, _ := json.Marshal(map[string]any{"client_name": "bench-cc", "client_secret": h.secr,
		"grant_types": []string{"client_credentials"}, "response_types": []string{"token"},
		"token_endpoint_auth_method": "client_secret_basic"})
	resp, err := h.http.Post(h.admin+"/admin/clients", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var c struct {
		ClientID string `json:"client_id"`
	}
	if err := json.Unmarshal(b, &c); err != nil || resp.StatusCode != http.StatusCreated || c.ClientID == "" {
		t.Fatalf("hydra: create client: %d %s %v", resp.StatusCode, b, err)
	}
	h.id = c.ClientID
	return h
}

// importKey makes an RSA-2048 key (or with es256 a P-256 key) the only key of Hydra's
// access-token key set (hydra.jwt.access-token), through its admin API.
func (h *hydraServer) importKey(es256 bool) error {
	var key any
	alg := jose.RS256
	var err error
	if es256 {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		alg = jose.ES256
	} else {
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		return err
	}
	kid := make([]byte, 8)
	rand.Read(kid)
	jwk := jose.JSONWebKey{Key: key, KeyID: fmt.Sprintf("%x", kid), Algorithm: string(alg), Use: "sig"}
	body, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{jwk}})
	if err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodPut, h.admin+"/admin/keys/hydra.jwt.access-token", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("PUT /admin/keys/hydra.jwt.access-token: %d %s", resp.StatusCode, b)
	}
	return nil
}

func (h *hydraServer) stop() {
	_ = h.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-h.done:
	case <-time.After(15 * time.Second):
		_ = h.cmd.Process.Kill()
		<-h.done
	}
}

func (h *hydraServer) clientCredentials(ctx context.Context, _ int) string {
	return tokenPost(ctx, h.http, h.public+"/oauth2/token", h.id, h.secr, ccForm, nil)
}

// hydraRun is the client_credentials figure of one Hydra configuration.
type hydraRun struct {
	Config      hydraConfig
	CC          phase
	TokenLength int
	RSS         int64
}

func runHydra(t testing.TB, bin string, hc hydraConfig, workers int, warm, d time.Duration, logf func(string, ...any)) hydraRun {
	h := startHydra(t, bin, hc, workers)
	defer h.stop()
	var tr tokenResponse
	if p := tokenPost(t.Context(), h.http, h.public+"/oauth2/token", h.id, h.secr, ccForm, &tr); p != "" {
		t.Fatalf("hydra %s: client_credentials: %s", hc.Name, p)
	}
	if hc.AccessToken == "jwt" {
		// The signature's length is the key's size: 256 bytes for RSA-2048, 512 for RSA-4096,
		// 64 for P-256.
		alg, want := "RS256", 512
		switch {
		case hc.ES256:
			alg, want = "ES256", 64
		case hc.RSA2048:
			want = 256
		}
		if err := checkJWT(tr.AccessToken, alg, want); err != nil {
			t.Fatalf("hydra %s: %v", hc.Name, err)
		}
	}
	r := hydraRun{Config: hc, TokenLength: len(tr.AccessToken)}
	var err error
	if r.CC, err = measure(t.Context(), "hydra "+hc.Name+" client_credentials", h.cmd.Process.Pid, workers, warm, d, h.clientCredentials); err != nil {
		t.Fatal(err)
	}
	logf("%s", r.CC)
	r.RSS, _ = clustertest.ReadRSS(h.cmd.Process.Pid)
	return r
}

// checkJWT checks that tok is a JWS of alg with a signature of sigLen bytes.
func checkJWT(tok, alg string, sigLen int) error {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return fmt.Errorf("not a JWT: %.80q", tok)
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	sig, err2 := base64.RawURLEncoding.DecodeString(parts[2])
	var h struct{ Alg string }
	if err1 != nil || err2 != nil || json.Unmarshal(hb, &h) != nil {
		return fmt.Errorf("not a JWT: %.80q", tok)
	}
	if h.Alg != alg || len(sig) != sigLen {
		return fmt.Errorf("alg %s with a %d-byte signature, want %s with %d", h.Alg, len(sig), alg, sigLen)
	}
	return nil
}

// lockedWriter collects a child's output (its stdout and stderr are written from two
// goroutines).
type lockedWriter struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
