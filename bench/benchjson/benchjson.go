// Package benchjson prints the one-line result every `make bench-NAME` ends with.
package benchjson

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
)

// Result is the benchmark convention: value measured against a reference measured in the
// same run (a peer or the physical limit). Extra fields (e.g. peak RSS) go in Extra.
type Result struct {
	Bench          string
	Value          float64
	Unit           string
	Reference      string
	ReferenceValue float64
	Extra          map[string]any
}

// Print writes r as the last line of output: one JSON object with ratio = value / reference.
func Print(r Result) {
	m := map[string]any{}
	for k, v := range r.Extra {
		m[k] = v
	}
	ratio := 0.0
	if r.ReferenceValue != 0 {
		ratio = r.Value / r.ReferenceValue
	}
	m["bench"] = r.Bench
	m["value"] = round(r.Value)
	m["unit"] = r.Unit
	m["reference"] = r.Reference
	m["reference_value"] = round(r.ReferenceValue)
	m["ratio"] = math.Round(ratio*1000) / 1000
	b, err := json.Marshal(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchjson:", err)
		os.Exit(1)
	}
	fmt.Println(string(b))
}

func round(v float64) float64 {
	if math.Abs(v) >= 100 {
		return math.Round(v)
	}
	return math.Round(v*1000) / 1000
}
