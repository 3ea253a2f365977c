// Command startup measures start-to-ready of `sekisho serve` on an initialised SQLite data
// folder (process start until /readyz answers 200 over HTTPS) and the idle resident memory
// after warm-up. The reference is the floor of starting the same binary at all
// (`sekisho version`), measured in the same run; ratio = start-to-ready / floor.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sekisho/sekisho/bench/benchjson"
)

func main() {
	runs := flag.Int("runs", 7, "start-ups to measure (median reported)")
	flag.Parse()
	if err := run(*runs); err != nil {
		fmt.Fprintln(os.Stderr, "bench startup:", err)
		os.Exit(1)
	}
}

func run(runs int) error {
	tmp, err := os.MkdirTemp("", "sekisho-bench-startup")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "sekisho")
	build := exec.Command("go", "build", "-o", bin, "./cmd/sekisho")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	data := filepath.Join(tmp, "data")
	if out, err := exec.Command(bin, "init", "--demo", "--data", data).CombinedOutput(); err != nil {
		return fmt.Errorf("init: %v\n%s", err, out)
	}
	var floor, ready []float64
	var rss int64
	for i := 0; i < runs; i++ {
		start := time.Now()
		if err := exec.Command(bin, "version").Run(); err != nil {
			return err
		}
		floor = append(floor, time.Since(start).Seconds()*1000)
		ms, r, err := startOnce(bin, data)
		if err != nil {
			return err
		}
		ready = append(ready, ms)
		rss = r
	}
	f, v := median(floor), median(ready)
	fmt.Printf("start-to-ready median %.1f ms over %d runs (floor: process start %.1f ms); idle RSS %.1f MiB\n", v, runs, f, float64(rss)/1024)
	benchjson.Print(benchjson.Result{Bench: "startup", Value: v, Unit: "ms", Reference: "process-start-floor", ReferenceValue: f,
		Extra: map[string]any{"idle_rss_mib": float64(rss) / 1024, "store": "sqlite"}})
	return nil
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// startOnce starts the server, waits for /readyz (polling the socket is the measurement),
// warms it with 100 requests, reads VmRSS and stops it with SIGTERM.
func startOnce(bin, data string) (float64, int64, error) {
	addr, err := freePort()
	if err != nil {
		return 0, 0, err
	}
	caPEM, err := os.ReadFile(filepath.Join(data, "demo-ca.pem"))
	if err != nil {
		return 0, 0, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}}
	start := time.Now()
	cmd := exec.Command(bin, "serve", "--data", data, "--listen", addr)
	cmd.Env = append(os.Environ(), "SEKISHO_METRICS_LISTEN=127.0.0.1:0") // any free port: runs may overlap a dev server
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}()
	// The server prints a line once its listener is up; then one /readyz confirms the store.
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "is serving") {
			break
		}
	}
	go io.Copy(io.Discard, stdout)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", "https://"+addr+"/readyz", nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if ctx.Err() != nil {
			return 0, 0, fmt.Errorf("server not ready within 10 s")
		}
	}
	ms := time.Since(start).Seconds() * 1000
	for i := 0; i < 100; i++ {
		if resp, err := client.Get("https://" + addr + "/healthz"); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	return ms, vmRSS(cmd.Process.Pid), nil
}

func vmRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return 0
}

func median(xs []float64) float64 {
	sort.Float64s(xs)
	return xs[len(xs)/2]
}
