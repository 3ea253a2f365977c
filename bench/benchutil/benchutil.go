// Package benchutil holds what several benchmarks measure the same way: OpenSSL's RSA-2048
// signing rate as a same-run reference, process CPU time, a ResponseWriter that costs
// nothing, and the fixtures they share (a signing key, a browser that is signed in).
package benchutil

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sekisho/sekisho/internal/signin"
)

// OpenSSLRSA2048Sign runs `openssl speed -seconds 3 rsa2048` and returns its sign/s column
// (OpenSSL divides by CPU time).
func OpenSSLRSA2048Sign() (float64, error) {
	out, err := exec.Command("openssl", "speed", "-seconds", "3", "rsa2048").Output()
	if err != nil {
		return 0, fmt.Errorf("openssl speed: %w: %s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		// "rsa 2048 bits 0.000598s 0.000018s   1672.1  55555.0" (OpenSSL 3 may add columns).
		if f := strings.Fields(line); len(f) >= 7 && f[0] == "rsa" && f[1] == "2048" && f[2] == "bits" {
			return strconv.ParseFloat(f[5], 64)
		}
	}
	return 0, fmt.Errorf("no rsa 2048 line in openssl output:\n%s", out)
}

// CPUTime is the process's user+system CPU time. Rates divided by it are comparable with
// `openssl speed` on a shared machine (GC and every thread count against us).
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Discard is a minimal http.ResponseWriter (httptest.ResponseRecorder would measure its buffer).
type Discard struct {
	H    http.Header
	Code int
	N    int
}

// NewDiscard returns an empty Discard.
func NewDiscard() *Discard { return &Discard{H: http.Header{}} }

func (d *Discard) Header() http.Header         { return d.H }
func (d *Discard) WriteHeader(c int)           { d.Code = c }
func (d *Discard) Write(b []byte) (int, error) { d.N += len(b); return len(b), nil }

// SelfSigned returns a new RSA-2048 key (the size the signing benchmarks measure) and a
// self-signed certificate for it, valid for a day.
func SelfSigned() (*rsa.PrivateKey, *x509.Certificate, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return key, cert, nil
}

// SignedIn is a signin.Sessions whose browser always has Session: the SSO benchmarks measure
// the answer to a user who is already signed in.
type SignedIn struct{ Session *signin.Session }

func (s SignedIn) Require(http.ResponseWriter, *http.Request, signin.SessionOptions) (*signin.Session, bool) {
	return s.Session, true
}

func (SignedIn) End(context.Context, http.ResponseWriter, *http.Request) ([]string, error) {
	return nil, nil
}
