// Command load runs the mixed load of internal/testutil/clustertest (mixload.go) against real
// `sekisho serve` processes on loopback: on SQLite (one node) and on PostgreSQL (two nodes
// behind a round-robin TCP balancer; SEKISHO_TEST_POSTGRES, which bench/load/run.sh starts).
// The mix: SAML and WS-Fed sign-ins riding on browser sessions (each virtual browser signed
// in once at /login), WS-Trust password sign-ins (argon2id), and requests the server must
// refuse (WS-Trust from outside the office, denied by the demo policy; a wrong password).
// Per backend it measures the capacity of the mix (closed-loop ramp), then sends the mix at
// 80% of it (open loop) for -d (DURATION), reading each server's VmRSS every 10 s. It fails
// (exit 1) on any unexpected error. Last line: benchjson, value = the sustained rate on
// PostgreSQL (SQLite when PostgreSQL is not run), reference = the capacity measured in the
// same run, so ratio ≈ 0.8 says it ran at its target.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/bench/benchjson"
	"github.com/sekisho/sekisho/internal/testutil/clustertest"
)

func main() {
	def := 2 * time.Minute
	if v := os.Getenv("DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench load: DURATION=%q: %v\n", v, err)
			os.Exit(2)
		}
		def = d
	}
	dur := flag.Duration("d", def, "sustained stretch per backend (env DURATION)")
	backends := flag.String("backends", envOr("BACKENDS", "sqlite,postgres"), "backends to run, in order (env BACKENDS)")
	browsers := flag.Int("browsers", 8, "virtual browsers (each signs in once at /login)")
	rampStep := flag.Duration("ramp-step", 10*time.Second, "each step of the capacity ramp")
	fraction := flag.Float64("fraction", 0.8, "of the capacity, for the sustained stretch")
	rssEvery := flag.Duration("rss-every", 10*time.Second, "memory reading interval")
	flag.Parse()

	plan := clustertest.MixPlan{RampStep: *rampStep, Fraction: *fraction, Duration: *dur, RSSEvery: *rssEvery,
		Logf: func(f string, a ...any) { fmt.Fprintf(os.Stderr, "bench load: "+f+"\n", a...) }}
	load0 := loadavg()
	reports := map[string]*clustertest.MixReport{}
	var order []string
	failed := false
	var names []string
	for _, b := range strings.Split(*backends, ",") {
		switch b = strings.TrimSpace(b); b {
		case "":
		case "sqlite", "postgres":
			names = append(names, b)
		default:
			fmt.Fprintf(os.Stderr, "bench load: unknown backend %q (sqlite, postgres)\n", b)
			os.Exit(2)
		}
	}
	for _, b := range names {
		if b == "postgres" && os.Getenv("SEKISHO_TEST_POSTGRES") == "" {
			fmt.Println("postgres: skipped (SEKISHO_TEST_POSTGRES is unset; make bench-load starts a throw-away PostgreSQL)")
			continue
		}
		err := clustertest.RunMain("load-"+b, func(t testing.TB) {
			reports[b] = runBackend(t, b, *browsers, plan)
		})
		if err != nil || reports[b] == nil {
			fmt.Fprintf(os.Stderr, "bench load: %s: the run did not complete: %v\n", b, err)
			failed = true
			continue
		}
		order = append(order, b)
		reports[b].Print(os.Stdout, title(b))
	}
	// The sekisho binary the clusters were started from (built once, into a folder of its own).
	if len(order) > 0 {
		_ = clustertest.RunMain("load-cleanup", func(t testing.TB) { os.RemoveAll(filepath.Dir(clustertest.Binary(t))) })
	}
	if len(order) == 0 {
		fmt.Fprintln(os.Stderr, "bench load: nothing measured")
		os.Exit(1)
	}
	primary := order[len(order)-1]
	if _, ok := reports["postgres"]; ok {
		primary = "postgres"
	}
	r := reports[primary]
	extra := map[string]any{"backend": primary, "fraction": *fraction, "browsers": *browsers, "mix": clustertest.DefaultMixWeights,
		"loadavg_start": load0, "loadavg_end": loadavg()}
	errs := 0
	for _, b := range order {
		extra[b] = reports[b].Summary()
		errs += reports[b].Unexpected()
	}
	extra["unexpected_errors"] = errs
	extra["rss_slope_mib_per_min"] = r.MaxSlope()
	lat := map[string]any{}
	if s := r.Sustained; s != nil {
		for _, k := range clustertest.MixKinds {
			lat[string(k)] = map[string]float64{"p50_ms": ms(s.Percentile(k, 0.5)), "p99_ms": ms(s.Percentile(k, 0.99))}
		}
	}
	extra["latency"] = lat
	value := 0.0
	if r.Sustained != nil {
		value = r.Sustained.Rate()
	}
	if errs > 0 {
		fmt.Fprintf(os.Stderr, "bench load: FAILED: %d unexpected errors (see above)\n", errs)
		failed = true
	}
	benchjson.Print(benchjson.Result{Bench: "load", Value: value, Unit: "signins/s",
		Reference:      "capacity of the same mix on the same backend, closed-loop ramp in the same run (" + primary + ")",
		ReferenceValue: r.Capacity, Extra: extra})
	if failed {
		os.Exit(1)
	}
}

func title(b string) string {
	if b == "postgres" {
		return "PostgreSQL: two nodes behind a round-robin TCP balancer"
	}
	return "SQLite: one node"
}

// keepLogs writes the nodes' logs where a person can read them after the run.
func keepLogs(backend string, nodes []*clustertest.Node) {
	for _, n := range nodes {
		f := filepath.Join(os.TempDir(), fmt.Sprintf("sekisho-bench-load-%s-%s.log", backend, n.Name))
		if err := os.WriteFile(f, []byte(n.Log()), 0o644); err == nil {
			fmt.Printf("  log of %s: %s\n", n.Name, f)
		}
	}
}

func runBackend(t testing.TB, backend string, browsers int, plan clustertest.MixPlan) *clustertest.MixReport {
	o := clustertest.Options{Demo: true, Env: clustertest.MixEnv}
	var c *clustertest.Cluster
	if backend == "postgres" {
		c = clustertest.New(t, o)
	} else {
		c = clustertest.NewSQLiteCluster(t, o)
	}
	mo := clustertest.PrepareMix(t, c)
	mo.Browsers = browsers
	if backend == "postgres" {
		a, b := c.Start(t, "node-a"), c.Start(t, "node-b")
		mo.Target = clustertest.NewBalancer(t, a, b).Node()
		plan.Nodes = []*clustertest.Node{a, b}
	} else {
		n := c.Start(t, "node-1")
		mo.Target = n
		plan.Nodes = []*clustertest.Node{n}
	}
	mix, err := c.NewMix(t.Context(), mo)
	if err != nil {
		keepLogs(backend, plan.Nodes)
		t.Fatal(err)
	}
	r := mix.Run(t.Context(), plan)
	if t.Context().Err() != nil {
		t.Fatal("interrupted")
	}
	if r.Unexpected() > 0 {
		keepLogs(backend, plan.Nodes)
	}
	return r
}

func envOr(k, d string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return d
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func loadavg() string {
	f, err := os.Open("/proc/loadavg")
	if err != nil {
		return ""
	}
	defer f.Close()
	b, _ := io.ReadAll(f)
	fields := strings.Fields(string(b))
	if len(fields) < 3 {
		return ""
	}
	return strings.Join(fields[:3], " ")
}
