package policy

import (
	"fmt"
	"math/bits"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sekisho/sekisho/internal/ipset"
)

// NetworkResolver supplies named networks kept outside the document (in the store), such as
// "exchange-online". Names defined in the document take precedence.
type NetworkResolver interface {
	Network(name string) (*ipset.Set, bool)
}

// Networks is a NetworkResolver backed by a map; names are matched case-insensitively.
type Networks map[string]*ipset.Set

// Network implements NetworkResolver.
func (n Networks) Network(name string) (*ipset.Set, bool) {
	if s, ok := n[name]; ok {
		return s, true
	}
	s, ok := n[strings.ToLower(name)]
	return s, ok
}

// NetworksFromCIDRs builds a resolver from name → CIDR lists (e.g. store.Network rows).
func NetworksFromCIDRs(m map[string][]string) (Networks, error) {
	out := make(Networks, len(m))
	for name, cidrs := range m {
		s, err := ipset.Parse(cidrs)
		if err != nil {
			return nil, fmt.Errorf("network %q: %w", name, err)
		}
		out[strings.ToLower(name)] = s
	}
	return out, nil
}

type condKind uint8

const (
	condUsers condKind = iota
	condGroups
	condApplications
	condProtocols
	condClientTypes
	condLegacyApps
	condNetworks
	condNotNetworks
	condDevice
	condMFA
	condTime
)

var condNames = [...]string{"users", "groups", "applications", "protocols", "client_types",
	"legacy_apps", "networks", "not_networks", "device", "mfa", "time"}

func (k condKind) String() string { return condNames[k] }

// condNamed returns the condition a rule key names (a condition's name is its key).
func condNamed(key string) condKind { return condKind(slices.Index(condNames[:], key)) }

// bitset has one bit per rule; bit i set means rule i passes some condition.
type bitset []uint64

func (b bitset) set(i int) { b[i>>6] |= 1 << (uint(i) & 63) }

// strIndex indexes a string-valued condition: rules without it always pass; the others pass
// for the values they list. Keys are lower-case.
type strIndex struct {
	none bitset
	by   map[string]bitset
}

func newStrIndex(nw int) strIndex { return strIndex{none: make(bitset, nw), by: map[string]bitset{}} }

func (x *strIndex) add(rule, nw int, value string) {
	k := strings.ToLower(value)
	b := x.by[k]
	if b == nil {
		b = make(bitset, nw)
		x.by[k] = b
	}
	b.set(rule)
}

func (x *strIndex) get(k string, zero bitset) bitset {
	if b, ok := x.by[k]; ok {
		return b
	}
	return zero
}

// rule is a compiled rule: conditions as closures (used to explain a decision) plus its time
// windows (the one condition the bitset index cannot precompute).
type rule struct {
	spec    *RuleSpec
	conds   []cond
	windows []TimeWindow
}

type cond struct {
	kind condKind
	test func(*normInput) Reason // "" when satisfied
}

// Policy is a compiled, immutable policy, safe for concurrent use.
type Policy struct {
	doc        *Document
	rules      []rule
	nw         int // words per bitset
	def        Action
	breakGlass map[string]struct{}
	zero       bitset

	users, domains, groups, apps, protocols, clientTypes, legacyApps strIndex
	device                                                           [3]bitset // by deviceState
	mfa                                                              [2]bitset
	timeFree                                                         bitset // rules without a time condition

	// Networks: the address line cut into elementary intervals; netStart[i] begins interval i
	// and netPass[i] is the set of rules whose networks/not_networks conditions hold in it.
	netStart []ipset.Key
	netPass  []bitset
	netNone  bitset // for an invalid (unknown) address: inside no network
}

type deviceState uint8

const (
	devNone deviceState = iota // no certificate
	devBad                     // presented but not valid or not bound to the user
	devGood                    // presented, valid, bound to this user
)

func stateOf(d Device) deviceState {
	switch {
	case !d.Present:
		return devNone
	case d.Valid && d.BoundToUser:
		return devGood
	}
	return devBad
}

func (c DeviceCond) holds(s deviceState) bool {
	switch c {
	case DeviceRequired:
		return s == devGood
	case DevicePresent:
		return s != devNone
	case DeviceAbsent:
		return s == devNone
	case DeviceInvalid:
		return s == devBad
	}
	return true
}

// Compile resolves network names and builds the evaluation index. Errors carry line numbers.
func Compile(doc *Document, resolver NetworkResolver) (*Policy, error) {
	if doc == nil {
		return nil, Errors{{Msg: "no policy document"}}
	}
	p := &docParser{file: doc.File}
	nets := resolveNetworks(p, doc, resolver)

	n := len(doc.Rules)
	nw := (n + 63) / 64
	if nw == 0 {
		nw = 1
	}
	pol := &Policy{
		doc: doc, nw: nw, def: doc.Default.Action, zero: make(bitset, nw),
		breakGlass: map[string]struct{}{},
		users:      newStrIndex(nw), domains: newStrIndex(nw), groups: newStrIndex(nw),
		apps: newStrIndex(nw), protocols: newStrIndex(nw), clientTypes: newStrIndex(nw),
		legacyApps: newStrIndex(nw), timeFree: make(bitset, nw),
	}
	for _, v := range doc.BreakGlass {
		pol.breakGlass[strings.ToLower(v.S)] = struct{}{}
	}
	for i := range pol.device {
		pol.device[i] = make(bitset, nw)
	}
	for i := range pol.mfa {
		pol.mfa[i] = make(bitset, nw)
	}

	type netCond struct{ in, out []*ipset.Set }
	netConds := make([]netCond, n)
	pol.rules = make([]rule, n)
	for i := range doc.Rules {
		rs := &doc.Rules[i]
		what := fmt.Sprintf("rule %q", rs.Name)
		r := rule{spec: rs, windows: rs.Time}
		for _, k := range rs.order {
			r.conds = append(r.conds, compileCond(k, rs))
		}
		// Users: exact UPNs and *@domain patterns share one condition.
		if len(rs.Users) == 0 {
			pol.users.none.set(i)
			pol.domains.none.set(i)
		}
		for _, v := range rs.Users {
			if d, ok := strings.CutPrefix(v.S, "*@"); ok {
				pol.domains.add(i, nw, d)
			} else {
				pol.users.add(i, nw, v.S)
			}
		}
		indexList(&pol.groups, i, nw, rs.Groups)
		indexList(&pol.apps, i, nw, rs.Applications)
		indexList(&pol.protocols, i, nw, rs.Protocols)
		indexList(&pol.clientTypes, i, nw, rs.ClientTypes)
		indexList(&pol.legacyApps, i, nw, rs.LegacyApps)
		for s := devNone; s <= devGood; s++ {
			if rs.Device.holds(s) {
				pol.device[s].set(i)
			}
		}
		for m := 0; m < 2; m++ {
			if rs.MFA == nil || *rs.MFA == (m == 1) {
				pol.mfa[m].set(i)
			}
		}
		if len(rs.Time) == 0 {
			pol.timeFree.set(i)
		}
		for _, v := range rs.Networks {
			if s := lookupNet(p, nets, resolver, v, what); s != nil {
				netConds[i].in = append(netConds[i].in, s)
			}
		}
		for _, v := range rs.NotNetworks {
			if s := lookupNet(p, nets, resolver, v, what); s != nil {
				netConds[i].out = append(netConds[i].out, s)
			}
		}
		pol.rules[i] = r
	}
	if len(p.errs) > 0 {
		return nil, p.errs
	}

	// Each rule's network condition is a union of sets; bind the closures to the unions.
	ins := make([]*ipset.Set, n)
	outs := make([]*ipset.Set, n)
	for i, nc := range netConds {
		if doc.Rules[i].Networks != nil {
			ins[i] = ipset.Union(nc.in...)
		}
		if doc.Rules[i].NotNetworks != nil {
			outs[i] = ipset.Union(nc.out...)
		}
		for j := range pol.rules[i].conds {
			c := &pol.rules[i].conds[j]
			switch c.kind {
			case condNetworks:
				set := ins[i]
				c.test = func(in *normInput) Reason {
					if set.Contains(in.IP) {
						return ""
					}
					return ReasonNetworkOutside
				}
			case condNotNetworks:
				set := outs[i]
				c.test = func(in *normInput) Reason {
					if set.Contains(in.IP) {
						return ReasonNetworkExcluded
					}
					return ""
				}
			}
		}
	}
	pol.buildNetIndex(ins, outs)
	return pol, nil
}

func indexList(x *strIndex, rule, nw int, vs []Value) {
	if len(vs) == 0 {
		x.none.set(rule)
		return
	}
	for _, v := range vs {
		x.add(rule, nw, v.S)
	}
}

// resolveNetworks resolves every network defined in the document (entries may name other
// networks), reporting unknown names and cycles.
func resolveNetworks(p *docParser, doc *Document, resolver NetworkResolver) map[string]*ipset.Set {
	defs := map[string]*NetworkDef{}
	for i := range doc.Networks {
		d := &doc.Networks[i]
		if _, dup := defs[strings.ToLower(d.Name)]; dup {
			p.errf(d.Line, "network %q defined twice", d.Name)
			continue
		}
		defs[strings.ToLower(d.Name)] = d
	}
	done := map[string]*ipset.Set{}
	visiting := map[string]bool{}
	var resolve func(d *NetworkDef) *ipset.Set
	resolve = func(d *NetworkDef) *ipset.Set {
		key := strings.ToLower(d.Name)
		if s, ok := done[key]; ok {
			return s
		}
		if visiting[key] {
			p.errf(d.Line, "network %q refers to itself", d.Name)
			return nil
		}
		visiting[key] = true
		defer delete(visiting, key)
		var prefixes []netip.Prefix
		var sets []*ipset.Set
		for _, e := range d.Entries {
			if pf, err := ipset.ParsePrefix(e.S); err == nil {
				prefixes = append(prefixes, pf)
				continue
			}
			if ref, ok := defs[strings.ToLower(e.S)]; ok {
				if s := resolve(ref); s != nil {
					sets = append(sets, s)
				}
				continue
			}
			if resolver != nil {
				if s, ok := resolver.Network(e.S); ok {
					sets = append(sets, s)
					continue
				}
			}
			p.errf(e.Line, "network %q: unknown network %q", d.Name, e.S)
		}
		s := ipset.Union(append(sets, ipset.New(prefixes))...)
		done[key] = s
		return s
	}
	for _, d := range doc.Networks {
		resolve(defs[strings.ToLower(d.Name)])
	}
	return done
}

func lookupNet(p *docParser, nets map[string]*ipset.Set, resolver NetworkResolver, v Value, what string) *ipset.Set {
	if s, ok := nets[strings.ToLower(v.S)]; ok {
		return s
	}
	if resolver != nil {
		if s, ok := resolver.Network(v.S); ok && s != nil {
			return s
		}
	}
	p.errf(v.Line, "%s: unknown network %q", what, v.S)
	return nil
}

// buildNetIndex cuts the address line at every range boundary of every rule's network sets,
// and precomputes, for each piece, which rules' network conditions pass there. Identical
// bitsets are shared, so memory follows the number of distinct outcomes.
func (pol *Policy) buildNetIndex(ins, outs []*ipset.Set) {
	n := len(ins)
	type event struct {
		at   ipset.Key
		set  int // index into sets
		open bool
	}
	var sets []*ipset.Set
	setID := map[*ipset.Set]int{}
	id := func(s *ipset.Set) int {
		if v, ok := setID[s]; ok {
			return v
		}
		setID[s] = len(sets)
		sets = append(sets, s)
		return len(sets) - 1
	}
	inRules := map[int][]int{}
	outRules := map[int][]int{}
	var noIn []int
	for i := 0; i < n; i++ {
		if ins[i] != nil {
			k := id(ins[i])
			inRules[k] = append(inRules[k], i)
		} else {
			noIn = append(noIn, i)
		}
		if outs[i] != nil {
			k := id(outs[i])
			outRules[k] = append(outRules[k], i)
		}
	}
	var evs []event
	for k, s := range sets {
		for _, r := range s.Ranges() {
			evs = append(evs, event{r.Lo, k, true})
			if nx, ok := r.Hi.Next(); ok {
				evs = append(evs, event{nx, k, false})
			}
		}
	}
	sort.Slice(evs, func(a, b int) bool { return evs[a].at.Less(evs[b].at) })

	intern := map[string]bitset{}
	key := make([]byte, 0, pol.nw*8)
	internB := func(b bitset) bitset {
		key = key[:0]
		for _, w := range b {
			key = append(key, byte(w), byte(w>>8), byte(w>>16), byte(w>>24), byte(w>>32), byte(w>>40), byte(w>>48), byte(w>>56))
		}
		if old, ok := intern[string(key)]; ok {
			return old
		}
		c := append(bitset(nil), b...)
		intern[string(key)] = c
		return c
	}
	active := make([]int, len(sets))
	compute := func() bitset {
		b := make(bitset, pol.nw)
		for _, i := range noIn {
			b.set(i)
		}
		for k, c := range active {
			if c > 0 {
				for _, i := range inRules[k] {
					b.set(i)
				}
			}
		}
		for k, c := range active {
			if c > 0 {
				for _, i := range outRules[k] {
					b[i>>6] &^= 1 << (uint(i) & 63)
				}
			}
		}
		return internB(b)
	}
	pol.netNone = compute()
	pol.netStart = []ipset.Key{{}}
	pol.netPass = []bitset{pol.netNone}
	for j := 0; j < len(evs); {
		at := evs[j].at
		for ; j < len(evs) && evs[j].at == at; j++ {
			if evs[j].open {
				active[evs[j].set]++
			} else {
				active[evs[j].set]--
			}
		}
		b := compute()
		last := len(pol.netStart) - 1
		if pol.netStart[last] == at {
			pol.netPass[last] = b
		} else if &pol.netPass[last][0] != &b[0] {
			pol.netStart = append(pol.netStart, at)
			pol.netPass = append(pol.netPass, b)
		}
	}
}

func (pol *Policy) netLookup(a netip.Addr) bitset {
	if !a.IsValid() {
		return pol.netNone
	}
	k := ipset.KeyOf(a)
	// Last interval whose start <= k; netStart[0] is zero so one always exists.
	lo, hi := 0, len(pol.netStart)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if k.Less(pol.netStart[m]) {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return pol.netPass[lo-1]
}

// lowerASCII lower-cases s, allocating only when s has upper-case letters.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 0x80 {
			return strings.ToLower(s)
		}
	}
	return s
}

// firstMatch returns the index of the first rule whose conditions all hold, or -1. It ANDs,
// word by word, the precomputed pass sets of each condition, so 1,000 rules cost 16 words,
// and only the surviving candidates have their time windows checked.
func (pol *Policy) firstMatch(in *Input) int {
	user := lowerASCII(in.User)
	u1 := pol.users.get(user, pol.zero)
	u2 := pol.zero
	if at := strings.LastIndexByte(user, '@'); at >= 0 {
		u2 = pol.domains.get(user[at+1:], pol.zero)
	}
	var gbuf [8]bitset
	gs := gbuf[:0]
	for _, g := range in.Groups {
		if b, ok := pol.groups.by[lowerASCII(g)]; ok {
			gs = append(gs, b)
		}
	}
	app := pol.apps.get(lowerASCII(in.Application), pol.zero)
	proto := pol.protocols.get(lowerASCII(in.Protocol), pol.zero)
	ct := pol.clientTypes.get(lowerASCII(in.ClientType), pol.zero)
	la := pol.legacyApps.get(lowerASCII(in.LegacyApp), pol.zero)
	dev := pol.device[stateOf(in.Device)]
	mfa := pol.mfa[0]
	if in.MFA {
		mfa = pol.mfa[1]
	}
	net := pol.netLookup(in.IP)

	for w := 0; w < pol.nw; w++ {
		c := net[w] & dev[w] & mfa[w]
		c &= (pol.users.none[w] & pol.domains.none[w]) | u1[w] | u2[w]
		c &= pol.apps.none[w] | app[w]
		c &= pol.protocols.none[w] | proto[w]
		c &= pol.clientTypes.none[w] | ct[w]
		c &= pol.legacyApps.none[w] | la[w]
		if c == 0 {
			continue
		}
		g := pol.groups.none[w]
		for _, b := range gs {
			g |= b[w]
		}
		c &= g
		for c != 0 {
			i := w<<6 + bits.TrailingZeros64(c)
			if pol.timeFree[w]&(c&-c) != 0 || pol.rules[i].timeOK(in.Time) {
				return i
			}
			c &= c - 1
		}
	}
	return -1
}

func (r *rule) timeOK(t time.Time) bool {
	for i := range r.windows {
		if r.windows[i].Contains(t) {
			return true
		}
	}
	return false
}
