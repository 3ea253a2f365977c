// Command mtls measures TLS handshakes per second on loopback with device-certificate
// verification (chain, validity and a revocation lookup in a SQLite store on every handshake)
// against the same listener without client certificates, in one run.
//
//	go run ./bench/mtls [-d 3s] [-workers 8]
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/sekisho/sekisho/bench/benchjson"
	"github.com/sekisho/sekisho/internal/devicecert"
	"github.com/sekisho/sekisho/internal/keys"
	"github.com/sekisho/sekisho/internal/secrets"
	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/store/sqlite"
)

func main() {
	dur := flag.Duration("d", 3*time.Second, "duration of each phase")
	workers := flag.Int("workers", 4*runtime.GOMAXPROCS(0), "concurrent clients")
	devices := flag.Int("devices", 20, "device certificates used in rotation")
	flag.Parse()
	if err := run(*dur, *workers, *devices); err != nil {
		log.Fatal(err)
	}
}

func run(dur time.Duration, workers, nDevices int) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "bench-mtls")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	st, err := sqlite.Open(ctx, filepath.Join(dir, "s.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	key, _ := secrets.GenerateKey()
	sealer, _ := secrets.New(key)
	ca := devicecert.New(st, keys.NewManager(st, sealer), sealer)
	ca.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	ca.CacheTTL = 0 // a store read on every handshake: the strict case

	var clientCerts []tls.Certificate
	for i := range nDevices {
		u := store.User{ID: fmt.Sprintf("u%d", i), UPN: fmt.Sprintf("user%d@example.com", i), Status: store.UserActive}
		if err := st.CreateUser(ctx, u); err != nil {
			return err
		}
		_, tok, pw, err := ca.Issue(ctx, u.ID, "bench device", "windows", 0)
		if err != nil {
			return err
		}
		p12, err := ca.Download(ctx, tok, time.Now())
		if err != nil {
			return err
		}
		priv, cert, err := pkcs12.Decode(p12, pw)
		if err != nil {
			return err
		}
		clientCerts = append(clientCerts, tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: priv, Leaf: cert})
	}
	// One revoked certificate among them must be refused: the check is really done.
	if _, err := ca.Revoke(ctx, mustDevice(ctx, st, clientCerts[0].Leaf)); err != nil {
		return err
	}
	revoked, clientCerts := clientCerts[0], clientCerts[1:]

	srv, err := serverCert()
	if err != nil {
		return err
	}
	base := &tls.Config{Certificates: []tls.Certificate{srv}, MinVersion: tls.VersionTLS12, SessionTicketsDisabled: true}

	ref, err := phase(base, nil, dur, workers)
	if err != nil {
		return fmt.Errorf("reference: %w", err)
	}
	mtlsCfg := ca.TLSConfig(base)
	if err := oneHandshake(mtlsCfg, &revoked); err == nil {
		return errors.New("a revoked certificate was accepted")
	}
	strict, err := phase(mtlsCfg, clientCerts, dur, workers)
	if err != nil {
		return fmt.Errorf("mtls: %w", err)
	}
	ca.CacheTTL = 2 * time.Second
	cached, err := phase(mtlsCfg, clientCerts, dur, workers)
	if err != nil {
		return fmt.Errorf("mtls cached: %w", err)
	}
	fmt.Printf("no client certificate:                 %8.0f handshakes/s\n", ref)
	fmt.Printf("device certificate, store read each:   %8.0f handshakes/s\n", strict)
	fmt.Printf("device certificate, 2 s row cache:     %8.0f handshakes/s\n", cached)
	benchjson.Print(benchjson.Result{Bench: "mtls", Value: strict, Unit: "handshakes/s",
		Reference: "same listener without client certificate", ReferenceValue: ref,
		Extra: map[string]any{"cached_2s_value": cached, "workers": workers, "cpus": runtime.NumCPU(), "phase_seconds": dur.Seconds()}})
	return nil
}

func mustDevice(ctx context.Context, st store.Store, c *x509.Certificate) string {
	d, err := st.GetDeviceBySerial(ctx, devicecert.SerialString(c.SerialNumber))
	if err != nil {
		log.Fatal(err)
	}
	return d.ID
}

// phase runs workers clients doing full handshakes for dur and returns handshakes per second.
func phase(cfg *tls.Config, certs []tls.Certificate, dur time.Duration, workers int) (float64, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	var srvErr atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if err := tls.Server(c, cfg).Handshake(); err != nil {
					srvErr.Add(1)
				}
			}()
		}
	}()
	var done atomic.Int64
	var firstErr error
	var mu sync.Mutex
	stop := time.Now().Add(dur)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; time.Now().Before(stop); i += workers {
				cc := &tls.Config{InsecureSkipVerify: true, SessionTicketsDisabled: true}
				if len(certs) > 0 {
					cert := certs[i%len(certs)]
					cc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
				}
				c, err := tls.Dial("tcp", ln.Addr().String(), cc)
				if err == nil {
					// TLS 1.3: the server's verdict on the client certificate arrives after the
					// client's handshake; a read makes a rejection visible.
					c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
					_, err = c.Read(make([]byte, 1))
					var ne net.Error
					if errors.Is(err, io.EOF) || (errors.As(err, &ne) && ne.Timeout()) {
						err = nil
					}
					c.Close()
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					continue
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return 0, firstErr
	}
	if n := srvErr.Load(); n > 0 {
		return 0, fmt.Errorf("%d server handshakes failed", n)
	}
	return float64(done.Load()) / elapsed.Seconds(), nil
}

func oneHandshake(cfg *tls.Config, cert *tls.Certificate) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	errc := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			errc <- err
			return
		}
		defer c.Close()
		errc <- tls.Server(c, cfg).Handshake()
	}()
	cc := &tls.Config{InsecureSkipVerify: true,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }}
	if c, err := tls.Dial("tcp", ln.Addr().String(), cc); err == nil {
		c.Read(make([]byte, 1))
		c.Close()
	}
	return <-errc
}

func serverCert() (tls.Certificate, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv}, nil
}
