package report

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"
)

var trickyStrings = []string{"", "plain", `quote " and \ backslash`, "<script>&amp;</script>", "tab\tnew\nline\r\x00\x1f\x7f",
	"日本語のテキスト", "emoji 😀", "\u2028\u2029", "bad \xff\xfe utf-8", "\xe2\x28\xa1", "replacement \ufffd", "é", "'single'"}

func checkRowJSON(t *testing.T, r *Row) {
	t.Helper()
	want, werr := json.Marshal(r)
	got, gerr := appendRowJSON(nil, r)
	if (werr != nil) != (gerr != nil) {
		t.Fatalf("errors differ: json.Marshal %v, appendRowJSON %v", werr, gerr)
	}
	if werr == nil && !bytes.Equal(got, want) {
		t.Fatalf("row JSON differs:\n got %s\nwant %s", got, want)
	}
	var ind []byte
	wantInd, _ := json.MarshalIndent(r, "    ", "  ")
	if werr == nil && !bytes.Equal(appendIndent(ind, got, "    ", "  "), wantInd) {
		t.Fatalf("indented row differs:\n got %s\nwant %s", appendIndent(nil, got, "    ", "  "), wantInd)
	}
}

func TestRowJSON(t *testing.T) {
	if n := reflect.TypeOf(Row{}).NumField(); n != rowJSONFields {
		t.Fatalf("Row has %d fields, appendRowJSON writes %d: teach it the new ones", n, rowJSONFields)
	}
	for _, lang := range []string{"en", "ja"} {
		rep := corpusReport(t, lang)
		for i := range rep.Rows {
			checkRowJSON(t, &rep.Rows[i])
		}
	}
	share := 0.125
	full := Row{User: "u", Client: "c", Family: FamEAS, Legacy: true, Retirement: "r", RetirementText: "rt", Count: 7,
		BySource: map[string]int{"sekisho": 1, "entra": 6}, Statuses: map[string]int{"success": 1, "zz": 2, "a b": 3},
		Decisions: map[string]int{"allow": 1, "deny": 2}, CurrentDecision: "deny",
		FirstSeen: time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC), LastSeen: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		DistinctIPs: 2, IPsCapped: true, IPs: []string{"203.0.113.1", "2001:db8::1"}, Inside: 1, Outside: 2, NoIP: 3,
		InsideShare: &share, UserAgents: []NameCount{{"ua", 3}}, AgentsCapped: true, Devices: []string{"Apple iPhone"},
		Migration: "m", MigrationText: "mt", Alternatives: []Alternative{{"a", SignInOnly, "at"}}, Before: EveryConnection,
		After: SignInOnly, AfterText: "aft", CannotMigrate: true, Risks: []Risk{{"code", "high", "text", nil}},
		Simulation: &Simulation{1, 2, 3, 4}}
	checkRowJSON(t, &full)
	// Every field left at its zero value, nil slices and maps included.
	checkRowJSON(t, &Row{})
	for _, s := range trickyStrings {
		r := full
		r.User, r.Client, r.Family, r.RetirementText, r.IPs = s, s, Family(s), s, []string{s}
		r.UserAgents = []NameCount{{s, 1}}
		r.Risks = []Risk{{s, s, s, nil}}
		r.Alternatives = []Alternative{{s, Enforcement(s), s}}
		r.Statuses = map[string]int{s: 1, "success": 2}
		r.Decisions = map[string]int{s + "x": 1}
		checkRowJSON(t, &r)
	}
	for _, f := range []float64{0, math.Copysign(0, -1), 1, 0.001, 0.333, 1e-7, 1e21, 123456789.125} {
		r := full
		r.InsideShare = &f
		checkRowJSON(t, &r)
	}
	for _, tm := range []time.Time{{}, time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("JST", 9*3600)), time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)} {
		r := full
		r.FirstSeen = tm
		checkRowJSON(t, &r)
	}
}

// FuzzRowJSON: whatever the user, client, user agent and status texts, the hand-written row
// encoder writes what json.Marshal writes.
func FuzzRowJSON(f *testing.F) {
	for _, s := range trickyStrings {
		f.Add(s, s+"x")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		r := Row{User: a, Client: b, BySource: map[string]int{a: 1, b: 2}, Statuses: map[string]int{b: 3},
			UserAgents: []NameCount{{a, 1}, {b, 2}}, IPs: []string{a}, Risks: []Risk{{a, b, a + b, nil}}}
		checkRowJSON(t, &r)
	})
}
