// Command policy measures policy decisions per second on one core for a policy of 1,000
// rules and 10,000 CIDR ranges, against the same rules written in Rego and evaluated by
// OPA's prepared query. Both engines must agree on every sampled decision. Rates are
// decisions per CPU-second of the process with GOMAXPROCS=1, i.e. per core.
package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/sekisho/sekisho/bench/benchjson"
	"github.com/sekisho/sekisho/internal/policy"
	"github.com/sekisho/sekisho/internal/policy/policygen"
)

const (
	nRules   = 1000
	nCIDRs   = 10000
	seed     = 20260101
	nReqs    = 8192
	ourTime  = 4 * time.Second
	opaTime  = 12 * time.Second
	opaFloor = 200 // evaluate at least this many OPA decisions (also the agreement sample)
)

type result struct {
	rule   int // -1 default
	action string
	bg     bool
}

func main() {
	runtime.GOMAXPROCS(1) // one core: both engines single-threaded
	spec := policygen.Generate(seed, nRules, nCIDRs)
	reqs := spec.Requests(seed, nReqs)

	t0 := time.Now()
	pol, err := policy.Load("bench.yaml", spec.YAML(), nil)
	if err != nil {
		fail(err)
	}
	fmt.Printf("sekisho: compiled %d rules, %d CIDRs in %v\n", nRules, nCIDRs, time.Since(t0).Round(time.Millisecond))

	ours := make([]result, nReqs)
	for i, in := range reqs {
		d := pol.Evaluate(in)
		r := result{rule: d.RuleIndex, action: d.Action.String(), bg: d.BreakGlass}
		if d.BreakGlass {
			r.rule = -1
		}
		ours[i] = r
	}

	// Sekisho: decisions per second, one goroutine.
	n := 0
	start, cpu0 := time.Now(), cpuTime()
	for time.Since(start) < ourTime {
		for j := 0; j < 4096; j++ {
			pol.Evaluate(reqs[n&(nReqs-1)])
			n++
		}
	}
	ourRate := float64(n) / (cpuTime() - cpu0).Seconds()
	fmt.Printf("sekisho: %d decisions in %v wall (%.0f/s wall): %.0f decisions per CPU-second\n", n, ourTime, float64(n)/time.Since(start).Seconds(), ourRate)

	// OPA.
	module := rego1(spec)
	store := opaData(spec)
	t0 = time.Now()
	pq, err := rego.New(
		rego.Query("data.sekisho.result"),
		rego.Module("sekisho.rego", module),
		rego.ParsedInput(nil),
		rego.Store(store),
	).PrepareForEval(context.Background())
	if err != nil {
		fail(fmt.Errorf("opa prepare: %w", err))
	}
	fmt.Printf("opa: prepared %d-line module in %v\n", strings.Count(module, "\n"), time.Since(t0).Round(time.Millisecond))
	inputs := make([]ast.Value, nReqs)
	for i, in := range reqs {
		v, err := ast.InterfaceToValue(opaInput(in))
		if err != nil {
			fail(err)
		}
		inputs[i] = v
	}
	ctx := context.Background()
	if p := os.Getenv("BENCH_POLICY_CPUPROFILE"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			fail(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	theirs := make([]result, 0, 1024)
	start, cpu0 = time.Now(), cpuTime()
	for len(theirs) < nReqs && (time.Since(start) < opaTime || len(theirs) < opaFloor) {
		rs, err := pq.Eval(ctx, rego.EvalParsedInput(inputs[len(theirs)]))
		if err != nil {
			fail(fmt.Errorf("opa eval: %w", err))
		}
		theirs = append(theirs, opaResult(rs))
	}
	opaRate := float64(len(theirs)) / (cpuTime() - cpu0).Seconds()
	fmt.Printf("opa: %d decisions in %v wall (%.1f/s wall): %.1f decisions per CPU-second\n", len(theirs), time.Since(start).Round(time.Millisecond), float64(len(theirs))/time.Since(start).Seconds(), opaRate)

	mismatches, matchedRules := 0, 0
	for i, r := range theirs {
		if r != ours[i] {
			if mismatches < 5 {
				fmt.Printf("mismatch #%d: sekisho %+v, opa %+v, input %+v\n", i, ours[i], r, reqs[i])
			}
			mismatches++
		}
		if ours[i].rule >= 0 {
			matchedRules++
		}
	}
	fmt.Printf("agreement: %d sampled decisions (%d matched a rule, %d default/break-glass), mismatches: %d\n",
		len(theirs), matchedRules, len(theirs)-matchedRules, mismatches)
	if mismatches != 0 {
		fail(fmt.Errorf("%d mismatches between sekisho and opa", mismatches))
	}
	benchjson.Print(benchjson.Result{
		Bench: "policy", Value: ourRate, Unit: "decisions/s", Reference: "opa", ReferenceValue: opaRate,
		Extra: map[string]any{"rules": nRules, "cidrs": nCIDRs, "sample": len(theirs), "mismatches": mismatches},
	})
}

// cpuTime is the CPU time of the whole process (all threads, so OPA's garbage collection
// counts against it). With GOMAXPROCS=1 this is "per core" and does not depend on how busy
// the rest of the machine is.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		fail(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench-policy:", err)
	os.Exit(1)
}

func opaInput(in policy.Input) map[string]any {
	groups := make([]any, len(in.Groups))
	for i, g := range in.Groups {
		groups[i] = g
	}
	return map[string]any{
		"user": in.User, "groups": groups, "app": in.Application, "client_type": in.ClientType,
		"legacy_app": in.LegacyApp, "ip": in.IP.String(), "mfa": in.MFA, "time_ns": in.Time.UnixNano(),
		"device": map[string]any{"present": in.Device.Present, "valid": in.Device.Valid, "bound": in.Device.BoundToUser},
	}
}

func opaResult(rs rego.ResultSet) result {
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		fail(fmt.Errorf("opa: unexpected result %v", rs))
	}
	m, ok := rs[0].Expressions[0].Value.(map[string]any)
	if !ok {
		fail(fmt.Errorf("opa: unexpected value %v", rs[0].Expressions[0].Value))
	}
	var r result
	fmt.Sscan(fmt.Sprint(m["rule"]), &r.rule)
	r.action, _ = m["action"].(string)
	r.bg, _ = m["break_glass"].(bool)
	return r
}
