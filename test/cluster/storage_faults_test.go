package cluster_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the disk-full test reads the node's SQLite file after it stopped

	"github.com/sekisho/sekisho/internal/audit"
	"github.com/sekisho/sekisho/internal/server"
	"github.com/sekisho/sekisho/internal/testutil/clustertest"
)

// Storage faults (issue 12): the disk under the embedded SQLite store fills up, and the
// PostgreSQL under two nodes becomes very slow. In both a sign-in that cannot be recorded is
// refused with a prompt answer, never allowed; the node keeps answering what needs no
// write; and once the fault is gone it serves again without a restart.

// tmpfsMiB is the size of the disk the SQLite test fills: room for the demo database, its
// WAL and some headroom, small enough to fill in a moment.
const tmpfsMiB = 24

func healthz(ctx context.Context, hc *http.Client, n *clustertest.Node) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.URL+"/healthz", nil)
	if err != nil {
		return 0
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// fill writes zeros to path until the file system has no room left and returns how much it
// wrote.
func fill(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatalf("create filler: %v", err)
	}
	defer f.Close()
	var n int64
	for _, size := range []int{1 << 20, 4 << 10, 512} {
		buf := make([]byte, size)
		for {
			k, err := f.Write(buf)
			n += int64(k)
			if errors.Is(err, syscall.ENOSPC) {
				break
			}
			if err != nil {
				t.Fatalf("write filler: %v", err)
			}
		}
	}
	return n
}

// diskBound bounds every wait of the disk-full test (refusals starting once the disk is
// full, sign-ins succeeding again once there is room); the measured times are logged.
const diskBound = 20 * time.Second

// TestSQLiteDiskFull: one node on the embedded SQLite store, its data folder on a small
// tmpfs, serves WS-Trust sign-ins while a filler file takes every free byte. Once writes
// fail every sign-in is refused (RequestFailed: the record cannot be written, so no token)
// promptly, and the node logs why ("database or disk is full"); /healthz still answers.
// Once the filler is deleted sign-ins succeed again without a restart. After the node
// stopped the database passes PRAGMA integrity_check and every issued token has its record.
func TestSQLiteDiskFull(t *testing.T) {
	disk := clustertest.MountTmpfs(t, tmpfsMiB)
	c := clustertest.NewSQLiteIn(t, disk, clustertest.Options{Demo: true})
	n := c.Start(t, "sqlite-node")
	users := demoUsers(t, c)
	hc := c.Client()
	if r, err := c.WSTrust(t.Context(), hc, n, "alice@example.com", users["alice@example.com"]); err != nil || !r.Issued() {
		t.Fatalf("no token before the test: %d %v %.300s", r.Status, err, r.Body)
	}
	const tag = "disk-full-load"
	load := c.StartLoad(t.Context(), clustertest.LoadOptions{Target: n, Clients: 4, Users: users, Tag: tag, Timeout: 30 * time.Second})
	defer load.Stop()
	start := time.Now()
	if err := load.WaitFor(diskBound, 30, clustertest.Attempt.Issued); err != nil {
		t.Fatalf("tokens before the disk fills: %v\n%s", err, tail(n.Log()))
	}

	// Full: the filler takes every free byte.
	filler := filepath.Join(disk, "filler")
	fillAt := time.Now()
	written := fill(t, filler)
	full := time.Now()
	dbSize, walSize := fileSize(filepath.Join(c.Dir, "sekisho.db")), fileSize(filepath.Join(c.Dir, "sekisho.db-wal"))
	refusedAfter := func(at time.Time) func(clustertest.Attempt) bool {
		return func(x clustertest.Attempt) bool { return x.Start.After(at) && x.Err == nil && !x.Issued() }
	}
	if err := load.WaitFor(diskBound, 1, refusedAfter(full)); err != nil {
		t.Fatalf("no sign-in refused with the disk full (%d MiB filler): %v\n%s", written>>20, err, tail(n.Log()))
	}
	var firstRefusal time.Time
	for _, x := range load.Attempts() {
		if refusedAfter(full)(x) && (firstRefusal.IsZero() || x.End.Before(firstRefusal)) {
			firstRefusal = x.End
		}
	}
	// From the first refusal on the disk stays full: a while of refusals, all of them
	// prompt, and meanwhile the node answers what needs no write.
	if err := load.WaitFor(diskBound, 40, refusedAfter(firstRefusal)); err != nil {
		t.Fatalf("refusals with the disk full: %v\n%s", err, tail(n.Log()))
	}
	healthFull := healthz(t.Context(), hc, n)
	if healthFull != http.StatusOK {
		t.Errorf("/healthz = %d with the disk full", healthFull)
	}
	// Not ready: the database can still be read, but no sign-in can be recorded.
	readyFull := readyz(t.Context(), hc, n)
	if readyFull != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d with the disk full, want 503", readyFull)
	}
	const notWritten = "sign-in record not written"
	var reasons []string
	for _, l := range n.Lines(notWritten) {
		if strings.Contains(l, "database or disk is full") {
			reasons = append(reasons, l)
		}
	}
	if len(reasons) == 0 {
		t.Errorf("the node does not log why it refuses (%q with \"database or disk is full\"):\n%s", notWritten, tail(n.Log()))
	}

	// Room again: sign-ins succeed, without a restart.
	freeAt := time.Now()
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	freed := time.Now()
	issuedAfter := func(at time.Time) func(clustertest.Attempt) bool {
		return func(x clustertest.Attempt) bool { return x.Start.After(at) && x.Issued() }
	}
	if err := load.WaitFor(diskBound, 30, issuedAfter(freed)); err != nil {
		t.Fatalf("tokens after the filler was deleted: %v\n%s", err, tail(n.Log()))
	}
	readyAfter := readyz(t.Context(), hc, n)
	if readyAfter != http.StatusOK {
		t.Errorf("/readyz = %d after the disk has room again", readyAfter)
	}
	attempts := load.Stop()
	end := time.Now()
	if k := len(n.Lines("Sekisho is serving on")); k != 1 {
		t.Errorf("the node started %d times", k)
	}

	// What the clients saw: tokens before and after, refusals (SOAP faults) in between, all
	// answered promptly; no token with the disk full and no answer missing.
	var before, during, after, issuedFull, refusedAfterFree int
	var slowest time.Duration
	var firstBack time.Time
	faults := map[string]int{}
	for _, x := range attempts {
		if x.Stopped {
			continue
		}
		if x.Err != nil {
			t.Errorf("%s: no answer: %v", x.Tag, x.Err)
			continue
		}
		if !x.Issued() {
			if f := fault(x.Result); f != "" {
				faults[f]++
			} else {
				t.Errorf("%s: a wrong answer: %d %.600s", x.Tag, x.Result.Status, x.Result.Body)
			}
		}
		slowest = max(slowest, x.Latency())
		switch {
		case x.End.Before(fillAt):
			before++
			if !x.Issued() {
				t.Errorf("%s before the disk filled: %d %.300s", x.Tag, x.Result.Status, x.Result.Body)
			}
		case x.Start.After(firstRefusal) && x.End.Before(freeAt):
			// The disk full, writes failing: no record, no token.
			during++
			if x.Issued() {
				issuedFull++
			} else if f := fault(x.Result); f != "RequestFailed" {
				t.Errorf("%s: %s with the disk full, want RequestFailed (no record can be written)", x.Tag, f)
			}
		case x.Start.After(freed):
			after++
			if x.Issued() && (firstBack.IsZero() || x.End.Before(firstBack)) {
				firstBack = x.End
			}
			if !x.Issued() {
				refusedAfterFree++
			}
		}
	}
	if slowest > 5*time.Second {
		t.Errorf("a sign-in took %v", slowest)
	}

	// The database after the node stopped: intact, and every token has its record.
	n.Stop()
	db, err := sql.Open("sqlite", filepath.Join(c.Dir, "sekisho.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var integrity string
	if err := db.QueryRowContext(t.Context(), `PRAGMA integrity_check`).Scan(&integrity); err != nil || integrity != "ok" {
		t.Errorf("PRAGMA integrity_check = %q, %v", integrity, err)
	}
	recs := recordsIn(t, db, "?", tag)
	total, orphan := checkRecorded(t, attempts, recs)
	var unrecorded int
	for _, x := range attempts {
		if !x.Stopped && x.Err == nil && !x.Issued() && len(recs[x.Tag]) == 0 {
			unrecorded++
		}
	}
	t.Logf("%d sign-ins in %v on a %d MiB tmpfs: %d before the disk filled (%d KiB filler written in %v beside a %d KiB database and a %d KiB WAL); "+
		"first refusal %v after it was full; "+
		"%d strictly while writes failed (%d tokens; refusals %v; %d refusals without a record, as nothing could be written); "+
		"/healthz %d and /readyz %d with the disk full; %d log lines %q with the disk-full reason, e.g. %s; "+
		"filler deleted: first token again %v later, %d sign-ins after (%d refused), /readyz %d; slowest sign-in %v; "+
		"integrity_check %s; %d sign-in records of the load; allow records without a received token: %+v",
		len(attempts), ms(end.Sub(start)), tmpfsMiB, before, written>>10, ms(full.Sub(fillAt)), dbSize>>10, walSize>>10, ms(firstRefusal.Sub(full)),
		during, issuedFull, faults, unrecorded, healthFull, readyFull, len(reasons), notWritten, first(reasons),
		ms(firstBack.Sub(freed)), after, refusedAfterFree, readyAfter, ms(slowest), integrity, total, orphan)
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return -1
	}
	return fi.Size()
}

func first(s []string) string {
	if len(s) == 0 {
		return "(none)"
	}
	return short600(s[0])
}

func short600(s string) string {
	if len(s) > 600 {
		return s[:600] + "…"
	}
	return s
}

// slowDelay is the latency the slow-database test adds to every answer of PostgreSQL: several
// seconds per round trip, far beyond any healthy database (a few milliseconds).
const slowDelay = 3 * time.Second

// requestBound is the longest a sign-in may take with the database that slow: the node's
// deadline on a request's work, then the sign-in record's own deadline (a refusal at the
// request's deadline is still recorded), plus time to answer on a loaded 2-core machine.
const requestBound = server.DefaultRequestTimeout + audit.RecordTimeout + 3*time.Second

// goroutinesPerRequest bounds the goroutines one request in flight holds on a node (its
// connection, the connection's background read, the store's context watch).
const goroutinesPerRequest = 4

// goroutineSlack is how far above its idle count before the fault a node's go_goroutines may
// stay once the fault is over (idle keep-alive connections, timers).
const goroutineSlack = 10

// TestSlowDatabase: two nodes reach PostgreSQL through a proxy that adds latency to every
// answer. With no delay they issue tokens; with slowDelay per round trip every sign-in still
// ends within requestBound (no hang), either with a token that has its record or refused
// (RequestFailed: it could not be recorded in time), never allowed without a record; /healthz
// answers at once. The nodes' goroutines (go_goroutines from /metrics) stay bounded during
// the fault and come back to their idle count after it; the nodes issue tokens again at once,
// without a restart.
func TestSlowDatabase(t *testing.T) {
	dsn := clustertest.Schema(t, clustertest.PostgresDSN(t))
	proxy := clustertest.NewSlowProxy(t, clustertest.TargetOf(t, dsn))
	c := clustertest.NewOn(t, proxy.DSN(t, dsn), clustertest.Options{Demo: true})
	a, b := c.Start(t, "node-a"), c.Start(t, "node-b")
	nodes := []*clustertest.Node{a, b}
	users := demoUsers(t, c)
	hc := c.Client()
	goroutines := func(n *clustertest.Node) float64 {
		v, err := n.Metric(t.Context(), "go_goroutines")
		if err != nil {
			t.Fatalf("%s: %v", n.Name, err)
		}
		return v
	}
	idle := map[string]float64{}
	for _, n := range nodes {
		if r, err := c.WSTrust(t.Context(), hc, n, "alice@example.com", users["alice@example.com"]); err != nil || !r.Issued() {
			t.Fatalf("%s issues no token before the test: %d %v %.300s", n.Name, r.Status, err, r.Body)
		}
	}
	hc.CloseIdleConnections()
	for _, n := range nodes {
		idle[n.Name] = goroutines(n)
	}

	lb := clustertest.NewBalancer(t, a, b)
	const tag = "slow-db-load"
	// The clients wait far longer than any bound of the node: a hang shows as a slow answer.
	load := c.StartLoad(t.Context(), clustertest.LoadOptions{Target: lb.Node(), Clients: 4, Users: users, Tag: tag, Timeout: 60 * time.Second})
	defer load.Stop()
	on := func(n *clustertest.Node) func(clustertest.Attempt) bool {
		return func(x clustertest.Attempt) bool { return lb.Route(x.Local) == n.Name }
	}
	issuedOn := func(n *clustertest.Node, after time.Time) func(clustertest.Attempt) bool {
		return func(x clustertest.Attempt) bool { return x.Issued() && on(n)(x) && x.Start.After(after) }
	}
	start := time.Now()
	busy := map[string]float64{}
	for _, n := range nodes {
		if err := load.WaitFor(30*time.Second, 20, issuedOn(n, time.Time{})); err != nil {
			t.Fatalf("tokens issued by %s before the fault: %v\n%s", n.Name, err, tail(n.Log()))
		}
		busy[n.Name] = goroutines(n)
	}

	fast := load.Stop()

	// Slow: every answer of the database is held slowDelay. The patient clients start again
	// (every attempt of theirs now runs on the slow database); impatient ones give up after a
	// second and send the next sign-in, as clients that time out and retry do: their
	// abandoned requests must not pile up on the nodes either.
	slowAt := time.Now()
	proxy.SetDelay(slowDelay)
	load = c.StartLoad(t.Context(), clustertest.LoadOptions{Target: lb.Node(), Clients: 4, Users: users, Tag: tag + "-slow", Timeout: 60 * time.Second})
	defer load.Stop()
	impatient := c.StartLoad(t.Context(), clustertest.LoadOptions{Target: lb.Node(), Clients: 4, Users: users, Tag: tag + "-impatient", Timeout: time.Second})
	defer impatient.Stop()
	answeredOn := func(n *clustertest.Node) func(clustertest.Attempt) bool {
		return func(x clustertest.Attempt) bool { return on(n)(x) && !x.Stopped }
	}
	peak := map[string]float64{}
	var healthSlowest time.Duration
	// Both nodes answer sign-ins on the slow database (the bound is checked below), and
	// meanwhile /healthz, which needs no store, answers at once.
	if _, err := clustertest.Within(4*requestBound, func() (bool, error) {
		for _, n := range nodes {
			peak[n.Name] = max(peak[n.Name], goroutines(n))
			h := time.Now()
			if st := healthz(t.Context(), hc, n); st != http.StatusOK {
				return false, fmt.Errorf("%s /healthz = %d with the database slow", n.Name, st)
			}
			healthSlowest = max(healthSlowest, time.Since(h))
		}
		return load.Count(answeredOn(a)) >= 1 && load.Count(answeredOn(b)) >= 1 && load.Count(func(x clustertest.Attempt) bool { return !x.Stopped }) >= 4, nil
	}); err != nil {
		t.Fatalf("sign-ins answered with the database slow: %v (%d by node a, %d by node b; go_goroutines idle %v, peak %v)\n%s",
			err, load.Count(answeredOn(a)), load.Count(answeredOn(b)), idle, peak, tail(a.Log()))
	}
	abandoned := impatient.Stop()
	readySlow := map[string]int{}
	for _, n := range nodes {
		// The readiness probe's own bound (2 s) is shorter than one round trip now.
		if readySlow[n.Name] = readyz(t.Context(), hc, n); readySlow[n.Name] != http.StatusServiceUnavailable {
			t.Errorf("%s /readyz = %d with the database slow, want 503", n.Name, readySlow[n.Name])
		}
	}
	slowConns := proxy.Open()

	// Fast again: tokens at once, no restart, goroutines back to their idle count.
	fastAt := time.Now()
	proxy.SetDelay(0)
	back := map[string]string{}
	for _, n := range nodes {
		if err := load.WaitFor(2*requestBound, 10, issuedOn(n, fastAt)); err != nil {
			t.Fatalf("%s issues no token after the database is fast again: %v\n%s", n.Name, err, tail(n.Log()))
		}
		back[n.Name+" 10 tokens"] = ms(time.Since(fastAt))
	}
	slowLoad := load.Stop()
	attempts := slices.Concat(fast, slowLoad)
	end := time.Now()
	hc.CloseIdleConnections()
	after := map[string]float64{}
	for _, n := range nodes {
		if _, err := clustertest.Within(2*requestBound, func() (bool, error) {
			after[n.Name] = goroutines(n)
			return after[n.Name] <= idle[n.Name]+goroutineSlack, nil
		}); err != nil {
			t.Errorf("%s: %v goroutines after the fault, %v idle before it: they piled up", n.Name, after[n.Name], idle[n.Name])
		}
		back[n.Name+" goroutines"] = ms(time.Since(fastAt))
		if peak[n.Name] > idle[n.Name]+goroutinesPerRequest*(4+4) {
			t.Errorf("%s: %v goroutines with the database slow (%v idle): more than the clients' requests explain", n.Name, peak[n.Name], idle[n.Name])
		}
		if k := len(n.Lines("Sekisho is serving on")); k != 1 {
			t.Errorf("%s started %d times", n.Name, k)
		}
	}
	// The nodes say why they refuse: the request ran out of its bound, the record was not
	// written.
	var outOfTime, notWritten []string
	for _, n := range nodes {
		outOfTime = append(outOfTime, n.Lines("request ran out of time")...)
		notWritten = append(notWritten, n.Lines("sign-in record not written")...)
	}
	if len(outOfTime) == 0 || len(notWritten) == 0 {
		t.Errorf("the nodes do not log why they refuse: %d lines \"request ran out of time\", %d \"sign-in record not written\"", len(outOfTime), len(notWritten))
	}
	var abandonedCount int
	for _, x := range abandoned {
		if x.Err != nil {
			abandonedCount++
		}
	}

	// What the clients saw: every sign-in answered within requestBound; during the fault a
	// token (with its record) or RequestFailed.
	var slow, slowIssued, slowRefused int
	var slowest, slowestSlow time.Duration
	faults := map[string]int{}
	for _, x := range attempts {
		if x.Stopped {
			continue
		}
		slowest = max(slowest, x.Latency())
		if x.Latency() > requestBound {
			t.Errorf("%s (%s, %s…%s): took %v, more than %v: the request hung on the slow database",
				x.Tag, lb.Route(x.Local), x.Start.Format("15:04:05.000"), x.End.Format("15:04:05.000"), ms(x.Latency()), requestBound)
		}
		if x.Err != nil {
			t.Errorf("%s (%s): no answer after %v: %v", x.Tag, lb.Route(x.Local), ms(x.Latency()), x.Err)
			continue
		}
		if !x.Issued() {
			faults[fault(x.Result)]++
		}
		if x.Start.After(slowAt) && x.End.Before(fastAt) {
			slow++
			slowestSlow = max(slowestSlow, x.Latency())
			if x.Issued() {
				slowIssued++
			} else if f := fault(x.Result); f == "RequestFailed" {
				slowRefused++
			} else {
				t.Errorf("%s (%s) with the database slow: %d %.300s, want a token or RequestFailed", x.Tag, lb.Route(x.Local), x.Result.Status, x.Result.Body)
			}
		} else if x.End.Before(slowAt) && !x.Issued() {
			t.Errorf("%s (%s) before the fault: %d %.300s", x.Tag, lb.Route(x.Local), x.Result.Status, x.Result.Body)
		}
	}
	totalFast, orphan := checkRecorded(t, fast, records(t, dsn, tag))
	totalSlow, orphanSlow := checkRecorded(t, slowLoad, records(t, dsn, tag+"-slow"))
	_, orphanImpatient := checkRecorded(t, abandoned, records(t, dsn, tag+"-impatient"))
	t.Logf("%d sign-ins in %v; database answers held %v for %v: %d sign-ins strictly inside (%d tokens, %d RequestFailed, slowest %v), "+
		"slowest sign-in overall %v (bound %v); refusals %v; /healthz slowest %v and /readyz %v with the database slow; "+
		"go_goroutines idle %v, under load %v, peak with the database slow %v, after %v; %d database connections open through the proxy at the end of the fault, %d opened in all; "+
		"%d sign-ins of impatient clients (1 s) abandoned (allow records without a received token: %+v); after the fault: %v; %d+%d sign-in records of the load; allow records without a received token: %+v, %+v; "+
		"%d log lines \"request ran out of time\", e.g. %s; %d \"sign-in record not written\", e.g. %s",
		len(attempts), ms(end.Sub(start)), slowDelay, ms(fastAt.Sub(slowAt)), slow, slowIssued, slowRefused, ms(slowestSlow),
		ms(slowest), requestBound, faults, ms(healthSlowest), readySlow, idle, busy, peak, after, slowConns, proxy.Opened(), abandonedCount, orphanImpatient, back, totalFast, totalSlow, orphan, orphanSlow,
		len(outOfTime), first(outOfTime), len(notWritten), first(notWritten))
}
