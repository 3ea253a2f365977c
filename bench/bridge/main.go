// Command bridge is `make bench-bridge`: IMAP FETCH of a 10,000-message mailbox through the
// mail bridge against the same FETCH straight to Dovecot, in the same run, on the same
// machine (goal: the bridge keeps ≥ 90% of the direct throughput), and logins per second
// (connection + TLS + authentication + the upstream login) through the bridge and direct.
//
// Sekisho (demo tenant, in this process) judges each bridge login at the gate, writes its
// sign-in record, mints an access token and logs in to Dovecot, which introspects the token
// at Sekisho; the direct path presents a token minted once to Dovecot, which introspects it
// too. The last line is the benchmark JSON (docs/benchmarks.md).
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sekisho/sekisho/bench/benchjson"
	"github.com/sekisho/sekisho/internal/bridge/apppassword"
	"github.com/sekisho/sekisho/internal/testutil/bridgetest"
	"github.com/sekisho/sekisho/internal/testutil/clustertest"
)

const user = "alice@example.com"

func main() {
	messages := flag.Int("messages", 10000, "messages in the mailbox")
	size := flag.Int("size", 4096, "bytes per message")
	rounds := flag.Int("rounds", 3, "FETCH rounds per path (the median counts)")
	loginFor := flag.Duration("login-duration", 4*time.Second, "how long each login measurement runs")
	workers := flag.Int("workers", 4, "concurrent connections for the login measurement")
	flag.Parse()
	err := clustertest.RunMain("bench-bridge", func(t testing.TB) {
		run(t, *messages, *size, *rounds, *loginFor, *workers)
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// path is one way to the mailbox: open returns a logged-in IMAP connection.
type path struct {
	name string
	open func() (*conn, error)
}

func run(t testing.TB, messages, size, rounds int, loginFor time.Duration, workers int) {
	ctx := context.Background()
	e := bridgetest.Start(t, nil)
	start := time.Now()
	e.Dovecot.Seed(t, user, messages, size)
	fmt.Printf("seeded %d messages of %d bytes in %.1fs\n", messages, size, time.Since(start).Seconds())
	pw := e.Issue(t, user, "bench", []string{apppassword.ScopeIMAP})
	u, err := e.IdP.Services.Instance.Store.GetUserByUPN(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := e.IdP.Services.OIDC.IssueAccessToken(ctx, e.ClientID, u, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	bridgeTLS := &tls.Config{RootCAs: e.IdP.CAPool, ServerName: "localhost"}
	bridgeAddr := e.Addr(t, "imap")
	through := path{"bridge", func() (*conn, error) {
		c, err := dial(bridgeAddr, bridgeTLS)
		if err != nil {
			return nil, err
		}
		return c, c.expectOK("l", "LOGIN "+user+" "+pw)
	}}
	xoauth := base64.StdEncoding.EncodeToString([]byte("user=" + user + "\x01auth=Bearer " + token + "\x01\x01"))
	direct := path{"direct", func() (*conn, error) {
		c, err := dial(e.Dovecot.IMAPAddr, e.Dovecot.TLSConfig())
		if err != nil {
			return nil, err
		}
		return c, c.expectOK("l", "AUTHENTICATE XOAUTH2 "+xoauth)
	}}

	// FETCH of every message, alternating the paths; one warm-up each (Dovecot builds its
	// index and the page cache fills).
	times := map[string][]time.Duration{}
	var bytes int64
	for r := 0; r <= rounds; r++ {
		for _, p := range []path{direct, through} {
			d, n, err := fetchAll(p, messages)
			if err != nil {
				t.Fatalf("%s FETCH: %v", p.name, err)
			}
			if r > 0 {
				times[p.name] = append(times[p.name], d)
				bytes = n
			}
		}
	}
	mbps := func(name string) float64 {
		ds := slices.Clone(times[name])
		slices.Sort(ds)
		return float64(bytes) / ds[len(ds)/2].Seconds() / 1e6
	}
	bridgeRate, directRate := mbps("bridge"), mbps("direct")
	fmt.Printf("FETCH 1:* BODY.PEEK[] of %d messages (%d bytes): bridge %.1f MB/s, direct %.1f MB/s (median of %d)\n",
		messages, bytes, bridgeRate, directRate, rounds)

	logins := map[string]float64{}
	for _, p := range []path{direct, through} {
		n, err := loginRate(p, workers, loginFor)
		if err != nil {
			t.Fatalf("%s logins: %v", p.name, err)
		}
		logins[p.name] = n
		fmt.Printf("logins (TLS connection, authentication, LOGOUT), %d at once: %s %.0f/s\n", workers, p.name, n)
	}
	benchjson.Print(benchjson.Result{Bench: "bridge-imap-fetch", Value: bridgeRate, Unit: "MB/s",
		Reference: "the same FETCH straight to Dovecot 2.3, same run", ReferenceValue: directRate,
		Extra: map[string]any{"messages": messages, "message_bytes": size, "fetched_bytes": bytes,
			"bridge_logins_per_s": round1(logins["bridge"]), "direct_logins_per_s": round1(logins["direct"]),
			"login_ratio": round3(logins["bridge"] / logins["direct"])}})
}

func round1(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }
func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

// fetchAll logs in, examines INBOX and fetches every message whole, returning the FETCH's
// duration and the literal bytes received.
func fetchAll(p path, want int) (time.Duration, int64, error) {
	c, err := p.open()
	if err != nil {
		return 0, 0, err
	}
	defer c.close()
	if err := c.expectOK("e", "EXAMINE INBOX"); err != nil {
		return 0, 0, err
	}
	start := time.Now()
	if _, err := c.w.WriteString("f FETCH 1:* (BODY.PEEK[])\r\n"); err != nil {
		return 0, 0, err
	}
	if err := c.w.Flush(); err != nil {
		return 0, 0, err
	}
	var n int64
	count := 0
	for {
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			return 0, 0, err
		}
		if strings.HasPrefix(string(line), "f ") {
			if !strings.HasPrefix(string(line), "f OK") {
				return 0, 0, fmt.Errorf("FETCH: %q", line)
			}
			break
		}
		// "* n FETCH (BODY[] {size}" then size bytes, then ")".
		if l := strings.TrimRight(string(line), "\r\n"); strings.HasSuffix(l, "}") {
			i := strings.LastIndexByte(l, '{')
			k, err := strconv.ParseInt(l[i+1:len(l)-1], 10, 64)
			if err != nil {
				return 0, 0, fmt.Errorf("literal in %q", l)
			}
			if _, err := io.CopyN(io.Discard, c.r, k); err != nil {
				return 0, 0, err
			}
			n += k
			count++
		}
	}
	d := time.Since(start)
	if count != want {
		return 0, 0, fmt.Errorf("fetched %d messages, want %d", count, want)
	}
	return d, n, nil
}

// loginRate opens, authenticates and logs out as fast as workers connections at once can,
// for d, and returns the completed logins per second.
func loginRate(p path, workers int, d time.Duration) (float64, error) {
	var done atomic.Int64
	var first error
	var once sync.Once
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				c, err := p.open()
				if err == nil {
					err = c.expectOK("q", "LOGOUT")
					c.close()
				}
				if err != nil {
					once.Do(func() { first = err })
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	return float64(done.Load()) / time.Since(start).Seconds(), first
}

type conn struct {
	c *tls.Conn
	r *bufio.Reader
	w *bufio.Writer
}

func dial(addr string, cfg *tls.Config) (*conn, error) {
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(2 * time.Minute))
	cn := &conn{c: c, r: bufio.NewReaderSize(c, 64<<10), w: bufio.NewWriter(c)}
	g, err := cn.r.ReadString('\n')
	if err != nil || !strings.HasPrefix(g, "* OK") {
		c.Close()
		return nil, fmt.Errorf("greeting %q: %v", g, err)
	}
	return cn, nil
}

func (c *conn) close() { _ = c.c.Close() }

// expectOK sends one command and reads to its tagged answer, which must be OK.
func (c *conn) expectOK(tag, cmd string) error {
	if _, err := c.w.WriteString(tag + " " + cmd + "\r\n"); err != nil {
		return err
	}
	if err := c.w.Flush(); err != nil {
		return err
	}
	for {
		l, err := c.r.ReadString('\n')
		if err != nil {
			return fmt.Errorf("%s: %w", strings.Fields(cmd)[0], err)
		}
		if strings.HasPrefix(l, tag+" ") {
			if !strings.HasPrefix(l, tag+" OK") {
				return fmt.Errorf("%s: %q", strings.Fields(cmd)[0], strings.TrimSpace(l))
			}
			return nil
		}
	}
}
