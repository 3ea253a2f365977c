// Package simulate answers "what if": it re-evaluates recorded sign-ins against a draft
// policy and lists every user, application and client whose outcome would change.
package simulate

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/sekisho/sekisho/internal/policy"
	"github.com/sekisho/sekisho/internal/store"
)

// Change kinds, stable codes.
const (
	AllowToDeny     = "allow->deny"
	DenyToAllow     = "deny->allow"
	NewlyMFA        = "newly-needs-mfa"
	NewlyDevice     = "newly-needs-device"
	NoLongerMFA     = "no-longer-needs-mfa"
	NoLongerDevice  = "no-longer-needs-device"
	OtherTransition = "changed"
)

// Key groups changes.
type Key struct {
	User        string `json:"user"`
	Application string `json:"application"`
	ClientType  string `json:"clientType"`
	LegacyApp   string `json:"legacyApp,omitempty"`
	From        string `json:"from"`
	To          string `json:"to"`
	Change      string `json:"change"`
}

// Row is one group of changed outcomes.
type Row struct {
	Key
	Count     int    `json:"count"`
	ExampleID string `json:"exampleId"` // a sign-in record showing the change
	NewRule   string `json:"newRule"`
}

// Result summarises a replay.
type Result struct {
	Evaluated int   `json:"evaluated"`
	Skipped   int   `json:"skipped"` // records the policy never decided (wrong password, malformed requests)
	Changed   int   `json:"changed"`
	Rows      []Row `json:"rows"`
}

// GroupsOf returns a user's current groups.
type GroupsOf func(ctx context.Context, upn string) []string

// Replay re-evaluates each recorded policy decision in events against draft.
func Replay(ctx context.Context, events func(func(store.SignInEvent) error) error, draft *policy.Policy, groups GroupsOf) (Result, error) {
	var res Result
	rows := map[Key]*Row{}
	cache := map[string][]string{}
	err := events(func(e store.SignInEvent) error {
		if !decidedByPolicy(e) {
			res.Skipped++
			return nil
		}
		res.Evaluated++
		g, ok := cache[strings.ToLower(e.Username)]
		if !ok {
			g = groups(ctx, e.Username)
			cache[strings.ToLower(e.Username)] = g
		}
		d := draft.Evaluate(InputOf(e, g))
		to := d.Action.Decision()
		if to == e.Decision {
			return nil
		}
		res.Changed++
		k := Key{User: strings.ToLower(e.Username), Application: e.Application, ClientType: e.ClientType, LegacyApp: e.LegacyApp,
			From: e.Decision, To: to, Change: classify(e.Decision, to)}
		r, ok := rows[k]
		if !ok {
			r = &Row{Key: k, ExampleID: e.ID, NewRule: d.Rule}
			rows[k] = r
		}
		r.Count++
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("replay: %w", err)
	}
	for _, r := range rows {
		res.Rows = append(res.Rows, *r)
	}
	sort.Slice(res.Rows, func(i, j int) bool {
		a, b := res.Rows[i], res.Rows[j]
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		return fmt.Sprint(a.Key) < fmt.Sprint(b.Key)
	})
	return res, nil
}

// decidedByPolicy tells records the policy judged from those refused before it
// (authentication failures, rejected messages), which a policy change cannot alter.
func decidedByPolicy(e store.SignInEvent) bool {
	switch e.Decision {
	case "allow", "deny", "mfa_required", "device_required":
	default:
		return false
	}
	return e.Rule != "" || e.PolicyVersion > 0
}

// InputOf is the policy input a recorded sign-in was judged on, as far as the record keeps
// it: who (with the user's groups now), which application and protocol, the client, its
// address, whether a second factor was used and when. A presented device certificate counts
// as valid and the user's own unless the record flagged it ("name [reason]").
func InputOf(e store.SignInEvent, groups []string) policy.Input {
	ip, _ := netip.ParseAddr(e.EffectiveIP)
	present := e.DeviceSerial != ""
	ok := present && !strings.HasSuffix(e.DeviceName, "]")
	return policy.Input{User: e.Username, Groups: groups, Application: e.Application, Protocol: e.Protocol,
		ClientType: e.ClientType, LegacyApp: e.LegacyApp, IP: ip.Unmap(), MFA: e.MFA, Time: e.Time,
		Device: policy.Device{Present: present, Valid: ok, BoundToUser: ok, Serial: e.DeviceSerial}}
}

func classify(from, to string) string {
	switch {
	case from == "allow" && to == "deny":
		return AllowToDeny
	case from == "deny" && to == "allow":
		return DenyToAllow
	case to == "mfa_required":
		return NewlyMFA
	case to == "device_required":
		return NewlyDevice
	case from == "mfa_required":
		return NoLongerMFA
	case from == "device_required":
		return NoLongerDevice
	}
	return OtherTransition
}
