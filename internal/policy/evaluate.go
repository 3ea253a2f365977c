package policy

import (
	"net/netip"
	"strings"
	"time"
)

// Device is what the gate knows about the TLS client certificate of this sign-in.
type Device struct {
	Present     bool   // a certificate was presented
	Valid       bool   // issued by our device CA, in its validity period, not revoked
	BoundToUser bool   // issued to the user signing in
	Serial      string // for the log only
}

// Input is everything a decision depends on. The engine does no I/O: the caller resolves
// groups, the client address and the device first.
type Input struct {
	User        string   // UPN, matched case-insensitively
	Groups      []string // the user's groups
	Application string   // application name
	Protocol    string   // saml, wsfed, wstrust, oidc, bridge-imap, bridge-pop, bridge-smtp
	ClientType  string   // browser, rich-client, legacy-proxied, active-direct, oidc, bridge-*
	LegacyApp   string   // ActiveSync, Imap… (clientctx.Client.LegacyApp)
	IP          netip.Addr
	Device      Device
	MFA         bool      // MFA already done in this session
	Time        time.Time // the instant of the sign-in; the zero time is outside every window
}

// Rule names reported for the two outcomes not decided by a rule.
const (
	RuleDefault    = "default"
	RuleBreakGlass = "break_glass"
)

// Decision is the outcome of one evaluation.
type Decision struct {
	// Action is what the gate must do now. Requirements the request already meets are
	// dropped: a require_mfa rule with MFA done gives Allow.
	Action Action
	// RuleAction is the action as written in the matched rule (or the default).
	RuleAction Action
	// Rule is the matched rule's name, RuleDefault, or RuleBreakGlass.
	Rule string
	// RuleIndex is the matched rule's position (0-based), or -1.
	RuleIndex int
	// BreakGlass is set when a break-glass account was let in; every such use must be
	// alerted on.
	BreakGlass bool
	// Trace explains the decision. It is computed lazily (when marshalled or rendered),
	// so Evaluate itself formats no strings.
	Trace Trace
}

// Evaluate decides one sign-in. It is safe for concurrent use and does not allocate for
// inputs whose names are already lower-case and that have at most 8 matching groups.
// The Decision keeps a reference to in.Groups for its Trace; do not modify it afterwards.
func (pol *Policy) Evaluate(in Input) Decision {
	i := pol.firstMatch(&in)
	d := Decision{RuleIndex: i, Trace: Trace{pol: pol, in: in, matched: i}}
	if i < 0 {
		d.Rule, d.RuleAction = RuleDefault, pol.def
	} else {
		d.Rule, d.RuleAction = pol.rules[i].spec.Name, pol.rules[i].spec.Action.Action
	}
	d.Action = effective(d.RuleAction, in.MFA, stateOf(in.Device) == devGood)
	if len(pol.breakGlass) > 0 {
		if _, ok := pol.breakGlass[lowerASCII(in.User)]; ok {
			d.Trace.breakGlass = true
			d.Action, d.RuleAction, d.Rule, d.RuleIndex, d.BreakGlass = Allow, Allow, RuleBreakGlass, -1, true
		}
	}
	return d
}

// explainMatch is the reference evaluation: every rule's closures, in order. Evaluate's
// indexed path must agree with it (checked by tests); the trace is built from it.
func (pol *Policy) explainMatch(in *normInput, steps func(i int, kind condKind, r Reason)) int {
	for i := range pol.rules {
		ok := true
		for _, c := range pol.rules[i].conds {
			if r := c.test(in); r != "" {
				if steps != nil {
					steps(i, c.kind, r)
				}
				ok = false
				break
			}
		}
		if ok {
			return i
		}
	}
	return -1
}

// normInput is Input with names lower-cased once, for the closures.
type normInput struct {
	Input
	user, domain string
	groups       map[string]bool
	dev          deviceState
}

func normalize(in Input) *normInput {
	n := &normInput{Input: in, user: strings.ToLower(in.User), dev: stateOf(in.Device)}
	if at := strings.LastIndexByte(n.user, '@'); at >= 0 {
		n.domain = n.user[at+1:]
	}
	n.groups = make(map[string]bool, len(in.Groups))
	for _, g := range in.Groups {
		n.groups[strings.ToLower(g)] = true
	}
	return n
}

func lowerSet(vs []Value) map[string]bool {
	m := make(map[string]bool, len(vs))
	for _, v := range vs {
		m[strings.ToLower(v.S)] = true
	}
	return m
}

// compileCond turns one written condition into a closure. Network closures are bound later,
// once the names are resolved.
func compileCond(k condKind, rs *RuleSpec) cond {
	c := cond{kind: k}
	switch k {
	case condUsers:
		users := map[string]bool{}
		domains := map[string]bool{}
		for _, v := range rs.Users {
			if d, ok := strings.CutPrefix(v.S, "*@"); ok {
				domains[strings.ToLower(d)] = true
			} else {
				users[strings.ToLower(v.S)] = true
			}
		}
		c.test = func(in *normInput) Reason {
			if users[in.user] || (in.domain != "" && domains[in.domain]) {
				return ""
			}
			return ReasonUserNotListed
		}
	case condGroups:
		set := lowerSet(rs.Groups)
		c.test = func(in *normInput) Reason {
			for g := range in.groups {
				if set[g] {
					return ""
				}
			}
			return ReasonGroupNotMember
		}
	case condApplications:
		c.test = stringIn(lowerSet(rs.Applications), func(in *normInput) string { return in.Application }, ReasonApplicationMismatch)
	case condProtocols:
		c.test = stringIn(lowerSet(rs.Protocols), func(in *normInput) string { return in.Protocol }, ReasonProtocolMismatch)
	case condClientTypes:
		c.test = stringIn(lowerSet(rs.ClientTypes), func(in *normInput) string { return in.ClientType }, ReasonClientTypeMismatch)
	case condLegacyApps:
		c.test = stringIn(lowerSet(rs.LegacyApps), func(in *normInput) string { return in.LegacyApp }, ReasonLegacyAppMismatch)
	case condDevice:
		want := rs.Device
		c.test = func(in *normInput) Reason {
			if want.holds(in.dev) {
				return ""
			}
			switch want {
			case DeviceRequired:
				if in.dev == devNone {
					return ReasonDeviceMissing
				}
				return ReasonDeviceInvalid
			case DevicePresent:
				return ReasonDeviceMissing
			case DeviceAbsent:
				return ReasonDevicePresent
			}
			if in.dev == devNone {
				return ReasonDeviceMissing
			}
			return ReasonDeviceValid
		}
	case condMFA:
		want := rs.MFA != nil && *rs.MFA
		c.test = func(in *normInput) Reason {
			switch {
			case in.MFA == want:
				return ""
			case want:
				return ReasonMFANotDone
			}
			return ReasonMFADone
		}
	case condTime:
		ws := rs.Time
		c.test = func(in *normInput) Reason {
			dateOnly := len(ws) > 0
			for i := range ws {
				if ws[i].Contains(in.Time) {
					return ""
				}
				dateOnly = dateOnly && ws[i].dateOnly(in.Time)
			}
			if dateOnly {
				return ReasonDateOutsideRange
			}
			return ReasonTimeOutsideWindow
		}
	case condNetworks, condNotNetworks:
		c.test = func(*normInput) Reason { return ReasonNetworkOutside } // replaced in Compile
	}
	return c
}

func stringIn(set map[string]bool, get func(*normInput) string, fail Reason) func(*normInput) Reason {
	return func(in *normInput) Reason {
		if set[strings.ToLower(get(in))] {
			return ""
		}
		return fail
	}
}

// Rules returns the rule names in order.
func (pol *Policy) Rules() []string {
	out := make([]string, len(pol.rules))
	for i, r := range pol.rules {
		out[i] = r.spec.Name
	}
	return out
}

// Document returns the parsed document the policy was compiled from.
func (pol *Policy) Document() *Document { return pol.doc }

// Default returns the default action.
func (pol *Policy) Default() Action { return pol.def }
