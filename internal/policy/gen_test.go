package policy_test

import (
	"encoding/json"
	"testing"

	"github.com/sekisho/sekisho/internal/policy"
	"github.com/sekisho/sekisho/internal/policy/policygen"
)

// TestEvaluateAgreesWithReference runs the indexed evaluator and the rule-by-rule closures
// over a large random policy and many random requests: they must pick the same rule.
func TestEvaluateAgreesWithReference(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		spec := policygen.Generate(seed, 300, 2000)
		p, err := policy.Load("gen.yaml", spec.YAML(), nil)
		if err != nil {
			t.Fatal(err)
		}
		matched := 0
		for _, in := range spec.Requests(seed, 5000) {
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
	spec := policygen.Generate(7, 1000, 10000)
	p, err := policy.Load("gen.yaml", spec.YAML(), nil)
	if err != nil {
		t.Fatal(err)
	}
	reqs := spec.Requests(7, 256)
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
	spec := policygen.Generate(42, 1000, 10000)
	p, err := policy.Load("gen.yaml", spec.YAML(), nil)
	if err != nil {
		b.Fatal(err)
	}
	reqs := spec.Requests(42, 4096)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p.Evaluate(reqs[i&4095])
		i++
	}
}

func BenchmarkTraceJSON(b *testing.B) {
	spec := policygen.Generate(42, 100, 1000)
	p, err := policy.Load("gen.yaml", spec.YAML(), nil)
	if err != nil {
		b.Fatal(err)
	}
	reqs := spec.Requests(42, 1024)
	i := 0
	for b.Loop() {
		d := p.Evaluate(reqs[i&1023])
		if _, err := json.Marshal(d.Trace); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
