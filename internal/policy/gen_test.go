package policy_test

import (
	"encoding/json"
	"testing"

	"github.com/sekisho/sekisho/internal/policy"
	"github.com/sekisho/sekisho/internal/policy/policygen"
)

// generated loads a random policy of the given size and returns it with n random requests,
// everything drawn from seed.
func generated(tb testing.TB, seed uint64, rules, cidrs, n int) (*policy.Policy, []policy.Input) {
	tb.Helper()
	spec := policygen.Generate(seed, rules, cidrs)
	p, err := policy.Load("gen.yaml", spec.YAML(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	return p, spec.Requests(seed, n)
}

// TestEvaluateAgreesWithReference runs the indexed evaluator and the rule-by-rule closures
// over a large random policy and many random requests: they must pick the same rule.
func TestEvaluateAgreesWithReference(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		p, reqs := generated(t, seed, 300, 2000, 5000)
		matched := 0
		for _, in := range reqs {
			fast := p.IndexedMatch(in)
			ref := p.ReferenceMatch(in)
			if fast != ref {
				t.Fatalf("seed %d: indexed rule %d, reference rule %d for %+v", seed, fast, ref, in)
			}
			if fast >= 0 {
				matched++
			}
		}
		if matched < 500 {
			t.Fatalf("seed %d: only %d requests matched a rule; the generator is not exercising rules", seed, matched)
		}
	}
}

func TestEvaluateDoesNotAllocate(t *testing.T) {
	p, reqs := generated(t, 7, 1000, 10000, 256)
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		p.Evaluate(reqs[i%len(reqs)])
		i++
	})
	if allocs != 0 {
		t.Errorf("Evaluate allocates %.1f times per call", allocs)
	}
}

func BenchmarkEvaluate(b *testing.B) {
	p, reqs := generated(b, 42, 1000, 10000, 4096)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p.Evaluate(reqs[i&4095])
		i++
	}
}

func BenchmarkTraceJSON(b *testing.B) {
	p, reqs := generated(b, 42, 100, 1000, 1024)
	i := 0
	for b.Loop() {
		d := p.Evaluate(reqs[i&1023])
		if _, err := json.Marshal(d.Trace); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
