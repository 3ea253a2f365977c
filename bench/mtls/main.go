// Command mtls measures TLS handshakes per second on loopback with device-certificate
// verification against the same listener without client certificates, in one run. The
// configurations are measured in interleaved rounds (a noisy machine then slows all of them
// alike):
//
//   - default: what `sekisho serve` runs: device rows cached at most 2 s (and dropped at every
//     change poll), verified chains remembered per certificate fingerprint — the headline;
//   - strict: a store read on every handshake (CacheTTL 0, revocation immediate), chains remembered;
//   - and both without the chain cache (every handshake verifies the chain's signatures), as
//     before the chain cache existed.
//
// Before measuring, every configuration must refuse a certificate revoked after it was accepted
// (its chain is cached by then).
//
//	go run ./bench/mtls [-d 1s] [-rounds 8] [-workers 8] [-cpuprofile FILE -profile default]
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
	"math"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"syscall"
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
	dur := flag.Duration("d", time.Second, "duration of each phase")
	rounds := flag.Int("rounds", 8, "interleaved rounds of every configuration")
	workers := flag.Int("workers", 4*runtime.GOMAXPROCS(0), "concurrent clients")
	devices := flag.Int("devices", 20, "device certificates used in rotation")
	cpuprofile := flag.String("cpuprofile", "", "after the rounds, run one more phase of -profile under the CPU profiler, written to this file")
	profile := flag.String("profile", "default", "configuration profiled with -cpuprofile: "+fmt.Sprint(names))
	flag.Parse()
	if err := run(*dur, *rounds, *workers, *devices, *cpuprofile, *profile); err != nil {
		log.Fatal(err)
	}
}

// The configurations, in the order of the first round.
var names = []string{"reference", "default", "strict", "default-nochaincache", "strict-nochaincache"}

func run(dur time.Duration, rounds, workers, nDevices int, cpuprofile, profile string) error {
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
	km := keys.NewManager(st, sealer)
	newCA := func(rowTTL time.Duration, chains int) *devicecert.CA {
		ca := devicecert.New(st, km, sealer)
		ca.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
		ca.CacheTTL, ca.ChainCacheSize = rowTTL, chains
		return ca
	}
	def := devicecert.New(st, km, sealer)
	cas := map[string]*devicecert.CA{
		"default":              newCA(def.CacheTTL, def.ChainCacheSize),
		"strict":               newCA(0, def.ChainCacheSize),
		"default-nochaincache": newCA(def.CacheTTL, 0),
		"strict-nochaincache":  newCA(0, 0),
	}
	issuer := cas["default"]

	var clientCerts []tls.Certificate
	for i := range nDevices {
		u := store.User{ID: fmt.Sprintf("u%d", i), UPN: fmt.Sprintf("user%d@example.com", i), Status: store.UserActive}
		if err := st.CreateUser(ctx, u); err != nil {
			return err
		}
		_, tok, pw, err := issuer.Issue(ctx, u.ID, "bench device", "windows", 0)
		if err != nil {
			return err
		}
		p12, err := issuer.Download(ctx, tok, time.Now())
		if err != nil {
			return err
		}
		priv, cert, err := pkcs12.Decode(p12, pw)
		if err != nil {
			return err
		}
		clientCerts = append(clientCerts, tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: priv, Leaf: cert})
	}

	srv, err := serverCert()
	if err != nil {
		return err
	}
	base := &tls.Config{Certificates: []tls.Certificate{srv}, MinVersion: tls.VersionTLS12, SessionTicketsDisabled: true}
	cfgs := map[string]*tls.Config{"reference": base}
	for name, ca := range cas {
		cfgs[name] = ca.TLSConfig(base)
	}

	// One certificate is accepted everywhere (so its chain and row are cached), then revoked:
	// every configuration must refuse it from then on. The revoking CA forgets the row itself;
	// the others are told as the change watcher tells them (ForgetAll).
	revoked := clientCerts[0]
	clientCerts = clientCerts[1:]
	for _, name := range names[1:] {
		if err := oneHandshake(cfgs[name], &revoked); err != nil {
			return fmt.Errorf("%s: a valid certificate was refused: %w", name, err)
		}
	}
	if _, err := issuer.Revoke(ctx, mustDevice(ctx, st, revoked.Leaf)); err != nil {
		return err
	}
	for _, name := range names[1:] {
		cas[name].ForgetAll()
		if err := oneHandshake(cfgs[name], &revoked); err == nil {
			return fmt.Errorf("%s: a revoked certificate was accepted", name)
		}
	}

	type total struct {
		n    int64
		secs float64   // wall clock
		cpu  float64   // CPU time of the process (both ends of every handshake)
		per  []float64 // handshakes per CPU-second, per round
	}
	totals := map[string]*total{}
	for r := range rounds {
		for i := range names {
			name := names[(i+r)%len(names)] // rotate the order: no configuration always runs first
			var certs []tls.Certificate
			if name != "reference" {
				certs = clientCerts
			}
			runtime.GC() // the previous phase's garbage is not charged to this one
			cpu0 := cpuSeconds()
			n, secs, err := phase(cfgs[name], certs, dur, workers)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			cpu := cpuSeconds() - cpu0
			t := totals[name]
			if t == nil {
				t = &total{}
				totals[name] = t
			}
			t.n, t.secs, t.cpu = t.n+n, t.secs+secs, t.cpu+cpu
			t.per = append(t.per, float64(n)/cpu)
		}
	}
	// Per CPU-second of the process: the machine is shared, and other work changes the wall
	// clock rate of a phase far more than mTLS does; the wall clock rates are printed too.
	rate := func(name string) float64 { return float64(totals[name].n) / totals[name].cpu }
	wall := func(name string) float64 { return float64(totals[name].n) / totals[name].secs }
	ref, refWall := rate("reference"), wall("reference")
	labels := map[string]string{
		"reference":            "no client certificate",
		"default":              "device certificate, default (2 s row cache, chain cache)",
		"strict":               "device certificate, store read each, chain cache",
		"default-nochaincache": "device certificate, 2 s row cache, chain verified each",
		"strict-nochaincache":  "device certificate, store read each, chain verified each",
	}
	extra := map[string]any{"workers": workers, "cpus": runtime.NumCPU(), "phase_seconds": dur.Seconds(), "rounds": rounds}
	fmt.Println("handshakes per CPU-second (ratio to the reference; each round) · per wall-clock second (ratio)")
	for _, name := range names {
		fmt.Printf("%-58s %6.0f (%.3f; %.0f) · %6.0f (%.3f)\n", labels[name]+":", rate(name), rate(name)/ref,
			totals[name].per, wall(name), wall(name)/refWall)
		extra[name+"_wall_ratio"] = benchRound(wall(name) / refWall)
		if name != "reference" && name != "default" {
			extra[name+"_value"] = benchRound(rate(name))
			extra[name+"_ratio"] = benchRound(rate(name) / ref)
		}
	}

	if cpuprofile != "" {
		cfg, ok := cfgs[profile]
		if !ok {
			return fmt.Errorf("-profile %q: one of %v", profile, names)
		}
		var certs []tls.Certificate
		if profile != "reference" {
			certs = clientCerts
		}
		f, err := os.Create(cpuprofile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		n, secs, err := phase(cfg, certs, dur, workers)
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			return err
		}
		if err != nil {
			return err
		}
		fmt.Printf("profiled %s: %.0f handshakes/s, profile in %s\n", profile, float64(n)/secs, cpuprofile)
	}

	benchjson.Print(benchjson.Result{Bench: "mtls", Value: rate("default"), Unit: "handshakes per CPU-second",
		Reference: "same listener without client certificate", ReferenceValue: ref, Extra: extra})
	return nil
}

// cpuSeconds is the user and system CPU time of this process so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		log.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func benchRound(v float64) float64 { return math.Round(v*1000) / 1000 }

func mustDevice(ctx context.Context, st store.Store, c *x509.Certificate) string {
	d, err := st.GetDeviceBySerial(ctx, devicecert.SerialString(c.SerialNumber))
	if err != nil {
		log.Fatal(err)
	}
	return d.ID
}

// phase runs workers clients doing full handshakes for dur and returns how many completed and
// in how many seconds.
func phase(cfg *tls.Config, certs []tls.Certificate, dur time.Duration, workers int) (int64, float64, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, 0, err
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
		return 0, 0, firstErr
	}
	if n := srvErr.Load(); n > 0 {
		return 0, 0, fmt.Errorf("%d server handshakes failed", n)
	}
	return done.Load(), elapsed.Seconds(), nil
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
