package main

import (
	"fmt"
	"strings"

	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/sekisho/sekisho/internal/policy/policygen"
)

var dayNames = map[string]string{"sun": "Sunday", "mon": "Monday", "tue": "Tuesday", "wed": "Wednesday", "thu": "Thursday", "fri": "Friday", "sat": "Saturday"}

// opaData holds the networks as [cidr, name] pairs, so one net.cidr_contains_matches call
// per query finds every network holding the address (OPA's fastest idiom for large sets).
func opaData(s *policygen.Spec) storage.Store {
	var pairs []any
	for _, n := range s.Networks {
		for _, c := range n.CIDRs {
			pairs = append(pairs, []any{c, n.Name})
		}
	}
	// AST values on read: OPA then does not convert 10,000 pairs on every query.
	return inmem.NewFromObjectWithOpts(map[string]any{"cidr_pairs": pairs}, inmem.OptReturnASTValuesOnRead(true))
}

func set(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = fmt.Sprintf("%q", strings.ToLower(v))
	}
	return "{" + strings.Join(q, ", ") + "}"
}

func clock(s string) int {
	var h, m int
	fmt.Sscanf(s, "%d:%d", &h, &m)
	return h*60 + m
}

// rego1 writes the spec as a Rego v1 module with the same first-match semantics: one
// partial-set rule per policy rule (so OPA's rule indexing applies), min() for first match.
func rego1(s *policygen.Spec) string {
	var b strings.Builder
	b.WriteString(`package sekisho

user := lower(input.user)
domain := d if {
	parts := split(user, "@")
	d := parts[count(parts) - 1]
}
groups := {lower(g) | some g in input.groups}
app := lower(input.app)

in_nets contains data.cidr_pairs[m[0]][1] if {
	some m in net.cidr_contains_matches(data.cidr_pairs, input.ip)
}

dev_good if {
	input.device.present
	input.device.valid
	input.device.bound
}

days := ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
mins(tz) := c[0] * 60 + c[1] if c := time.clock([input.time_ns, tz])
wday(tz) := time.weekday([input.time_ns, tz])
prev_wday(tz) := days[(i + 6) % 7] if {
	some i, d in days
	d == time.weekday([input.time_ns, tz])
}
date_int(tz) := d[0] * 10000 + d[1] * 100 + d[2] if d := time.date([input.time_ns, tz])

`)
	for i, r := range s.Rules {
		var conds []string
		if len(r.Users) > 0 {
			var users, domains []string
			for _, u := range r.Users {
				if d, ok := strings.CutPrefix(u, "*@"); ok {
					domains = append(domains, d)
				} else {
					users = append(users, u)
				}
			}
			if len(users) > 0 {
				fmt.Fprintf(&b, "user_ok_%d if user in %s\n", i, set(users))
			}
			if len(domains) > 0 {
				fmt.Fprintf(&b, "user_ok_%d if domain in %s\n", i, set(domains))
			}
			conds = append(conds, fmt.Sprintf("user_ok_%d", i))
		}
		// The list conditions, each tested only by the rules that list values.
		for _, l := range []struct {
			values []string
			test   string // %s is the set of values
		}{
			{r.Groups, "count(groups & %s) > 0"},
			{r.Apps, "app in %s"},
			{r.ClientTypes, "input.client_type in %s"},
			{r.LegacyApps, "lower(input.legacy_app) in %s"},
			{r.Networks, "count(in_nets & %s) > 0"},
			{r.NotNetworks, "count(in_nets & %s) == 0"},
		} {
			if len(l.values) > 0 {
				conds = append(conds, fmt.Sprintf(l.test, set(l.values)))
			}
		}
		switch r.Device {
		case "required":
			conds = append(conds, "dev_good")
		case "present":
			conds = append(conds, "input.device.present")
		case "absent":
			conds = append(conds, "not input.device.present")
		case "invalid":
			conds = append(conds, "input.device.present", "not dev_good")
		}
		if r.MFA != nil {
			conds = append(conds, fmt.Sprintf("input.mfa == %t", *r.MFA))
		}
		if w := r.Time; w != nil {
			from, to := clock(w.From), clock(w.To)
			var days []string
			for _, d := range w.Weekdays {
				days = append(days, fmt.Sprintf("%q", dayNames[d]))
			}
			dates := ""
			if w.DateFrom != "" {
				dates = fmt.Sprintf("\n\tdate_int(%q) >= %s\n\tdate_int(%q) <= %s", w.Zone, strings.ReplaceAll(w.DateFrom, "-", ""), w.Zone, strings.ReplaceAll(w.DateTo, "-", ""))
			}
			day := func(fn string) string {
				if len(days) == 0 {
					return ""
				}
				return fmt.Sprintf("\n\t%s(%q) in {%s}", fn, w.Zone, strings.Join(days, ", "))
			}
			if from < to {
				fmt.Fprintf(&b, "time_ok_%d if {\n\tm := mins(%q)\n\tm >= %d\n\tm < %d%s%s\n}\n", i, w.Zone, from, to, day("wday"), dates)
			} else {
				fmt.Fprintf(&b, "time_ok_%d if {\n\tmins(%q) >= %d%s%s\n}\n", i, w.Zone, from, day("wday"), dates)
				fmt.Fprintf(&b, "time_ok_%d if {\n\tmins(%q) < %d%s%s\n}\n", i, w.Zone, to, day("prev_wday"), dates)
			}
			conds = append(conds, fmt.Sprintf("time_ok_%d", i))
		}
		if len(conds) == 0 {
			conds = append(conds, "true")
		}
		fmt.Fprintf(&b, "match contains %d if {\n\t%s\n}\n\n", i, strings.Join(conds, "\n\t"))
	}
	var actions []string
	for _, r := range s.Rules {
		actions = append(actions, fmt.Sprintf("%q", r.Action))
	}
	fmt.Fprintf(&b, "actions := [%s]\n\n", strings.Join(actions, ", "))
	fmt.Fprintf(&b, `default first := -1
first := min(match) if count(match) > 0

rule_action := actions[first] if first >= 0
else := %q

break_glass if user in %s

needs_mfa if {
	rule_action in {"require_mfa", "require_mfa+require_device"}
	not input.mfa
}
needs_dev if {
	rule_action in {"require_device", "require_mfa+require_device"}
	not dev_good
}

action := "allow" if break_glass
else := rule_action if rule_action in {"allow", "deny"}
else := "require_mfa+require_device" if {
	needs_mfa
	needs_dev
}
else := "require_mfa" if needs_mfa
else := "require_device" if needs_dev
else := "allow"

rule := -1 if break_glass
else := first

result := {"rule": rule, "action": action, "break_glass": break_glass_flag}

break_glass_flag := true if break_glass
else := false
`, s.Default, set(s.BreakGlass))
	return b.String()
}
