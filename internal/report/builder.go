package report

import (
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/sekisho/sekisho/internal/store"
)

// Caps that keep aggregation memory proportional to the number of (user, client) pairs, not
// to the number of rows. Beyond a cap the pair is marked as capped and counting continues.
const (
	MaxIPsPerPair        = 64   // distinct source addresses remembered per (user, client)
	MaxAgentsPerPair     = 16   // distinct user agents remembered per (user, client)
	MaxDays              = 3660 // distinct days in the trend (ten years)
	MaxMalformedReported = 1000 // malformed rows listed with line numbers (all are counted)
)

// Options configures a report.
type Options struct {
	Since, Until time.Time // window; zero = unbounded. Since inclusive, Until exclusive.
	Lang         string    // "ja" or "en" (default) for texts in JSON/CSV output
	// Networks are the organisation's named networks; an address inside any of them counts as
	// "inside". Leave out ranges that are not the organisation's own (e.g. Exchange Online).
	Networks map[string][]netip.Prefix
	// Inside overrides Networks when set.
	Inside func(netip.Addr) bool
	// Simulate, when set, evaluates Sekisho's current policy for a synthetic sign-in (the
	// integrator passes the policy simulator). It lets the report say, per address, whether
	// the migrated client's sign-in would be allowed, and compare with today's decision.
	Simulate func(store.SignInEvent) string
	Now      time.Time // default time.Now()
}

// Record is one sign-in from any source, normalised.
type Record struct {
	Source    string // "sekisho" or "entra"
	Time      time.Time
	User      string
	Client    ClientApp
	IP        netip.Addr // invalid when absent or unparseable
	UserAgent string
	Status    string // Entra: success, failure, interrupted; Sekisho: success (allow) or failure
	Decision  string // Sekisho's decision (allow, deny, mfa_required, device_required, error)
}

// Malformed is a row that could not be used.
type Malformed struct {
	Source string `json:"source"`
	Line   int    `json:"line"`             // 1-based line in the file (0 if unknown)
	Record int    `json:"record,omitempty"` // 1-based record index (JSON elements)
	Reason string `json:"reason"`
}

// SourceSummary counts what one input contributed.
type SourceSummary struct {
	Name          string `json:"name"`
	Kind          string `json:"kind"` // sekisho, entra-csv, entra-json
	Rows          int    `json:"rows"`
	Used          int    `json:"used"`
	OutsideWindow int    `json:"outside_window"`
	Malformed     int    `json:"malformed"`
	Error         string `json:"error,omitempty"` // the rest of the file could not be read
}

type ipStat struct {
	count        int
	inside       bool
	lastDecision string
}

type pairAgg struct {
	user, userLower string
	client          ClientApp
	count           int
	bySource        map[string]int
	statuses        map[string]int
	decisions       map[string]int
	lastDecision    string
	first, last     time.Time
	ips             map[netip.Addr]ipStat
	ipsCapped       bool
	inside, outside int
	noIP            int
	agents          map[string]int
	agentsCapped    bool
}

type pairKey struct{ user, client string }

type dayAgg struct {
	legacy, modern  int
	inside, outside int // legacy records only
}

// Builder accumulates records from several sources. It is not safe for concurrent use.
type Builder struct {
	opts        Options
	pairs       map[pairKey]*pairAgg
	days        map[int64]*dayAgg // UTC day number since the epoch
	daysCapped  bool
	sources     []*SourceSummary
	malformed   []Malformed
	malformedN  int
	sekisho     *SourceSummary
	unknownApps map[string]int
}

// NewBuilder starts a report.
func NewBuilder(opts Options) *Builder {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	if opts.Lang != "ja" {
		opts.Lang = "en"
	}
	return &Builder{opts: opts, pairs: map[pairKey]*pairAgg{}, days: map[int64]*dayAgg{},
		unknownApps: map[string]int{}}
}

func (b *Builder) inside(a netip.Addr) bool {
	if b.opts.Inside != nil {
		return b.opts.Inside(a)
	}
	for _, ps := range b.opts.Networks {
		for _, p := range ps {
			if p.Contains(a) {
				return true
			}
		}
	}
	return false
}

func (b *Builder) source(name, kind string) *SourceSummary {
	s := &SourceSummary{Name: name, Kind: kind}
	b.sources = append(b.sources, s)
	return s
}

func (b *Builder) addMalformed(s *SourceSummary, m Malformed) {
	s.Malformed++
	b.malformedN++
	if len(b.malformed) < MaxMalformedReported {
		m.Source = s.Name
		b.malformed = append(b.malformed, m)
	}
}

// AddSignInEvent adds one record of Sekisho's own sign-in log.
func (b *Builder) AddSignInEvent(e store.SignInEvent) {
	if b.sekisho == nil {
		b.sekisho = b.source("sekisho", "sekisho")
	}
	s := b.sekisho
	s.Rows++
	user := e.Username
	if user == "" {
		user = e.UserID
	}
	if user == "" || e.Time.IsZero() {
		b.addMalformed(s, Malformed{Reason: "sign-in event " + e.ID + " without user or time"})
		return
	}
	ip := e.EffectiveIP
	if ip == "" {
		ip = e.ForwardedIP
	}
	addr, _ := netip.ParseAddr(ip)
	status := "failure"
	if e.Decision == "allow" {
		status = "success"
	}
	b.add(s, Record{Source: "sekisho", Time: e.Time, User: user,
		Client: ClassifySekisho(e.ClientType, e.LegacyApp), IP: addr.Unmap(),
		UserAgent: e.UserAgent, Status: status, Decision: e.Decision})
}

// add aggregates a normalised record into its (user, client) pair.
func (b *Builder) add(s *SourceSummary, r Record) {
	if (!b.opts.Since.IsZero() && r.Time.Before(b.opts.Since)) ||
		(!b.opts.Until.IsZero() && !r.Time.Before(b.opts.Until)) {
		s.OutsideWindow++
		return
	}
	s.Used++
	ul := lowerASCII(r.User)
	k := pairKey{ul, r.Client.Name}
	p := b.pairs[k] // the lookup with a transient key does not allocate
	if p == nil {
		// Clone what the pair keeps: a CSV reader's fields share one string per line, and
		// holding a field would hold the whole line.
		ul = strings.Clone(ul)
		r.Client.Name = strings.Clone(r.Client.Name)
		p = &pairAgg{user: strings.Clone(r.User), userLower: ul, client: r.Client, bySource: map[string]int{},
			statuses: map[string]int{}, decisions: map[string]int{}, ips: map[netip.Addr]ipStat{},
			agents: map[string]int{}, first: r.Time, last: r.Time}
		b.pairs[k] = p
	}
	p.count++
	p.bySource[r.Source]++
	if r.Status != "" {
		p.statuses[r.Status]++
	}
	if r.Decision != "" {
		p.decisions[r.Decision]++
	}
	if r.Time.Before(p.first) {
		p.first = r.Time
	}
	if !r.Time.Before(p.last) {
		p.last = r.Time
		if r.Decision != "" {
			p.lastDecision = r.Decision
		}
	}
	in := false
	if r.IP.IsValid() {
		in = b.inside(r.IP)
		if in {
			p.inside++
		} else {
			p.outside++
		}
		st, seen := p.ips[r.IP]
		if seen || len(p.ips) < MaxIPsPerPair {
			st.inside = in
			st.count++
			if r.Decision != "" {
				st.lastDecision = r.Decision
			}
			p.ips[r.IP] = st
		} else {
			p.ipsCapped = true
		}
	} else {
		p.noIP++
	}
	if r.UserAgent != "" {
		if _, ok := p.agents[r.UserAgent]; ok {
			p.agents[r.UserAgent]++
		} else if len(p.agents) < MaxAgentsPerPair {
			p.agents[strings.Clone(r.UserAgent)] = 1
		} else {
			p.agentsCapped = true
		}
	}
	dk := r.Time.Unix() / 86400
	if r.Time.Unix() < 0 && r.Time.Unix()%86400 != 0 {
		dk--
	}
	d := b.days[dk]
	if d == nil {
		if len(b.days) >= MaxDays {
			b.daysCapped = true
			return
		}
		d = &dayAgg{}
		b.days[dk] = d
	}
	if r.Client.Family.Legacy() {
		d.legacy++
		if r.IP.IsValid() {
			if in {
				d.inside++
			} else {
				d.outside++
			}
		}
	} else {
		d.modern++
	}
}

// sortedKeys returns map keys by descending count, then name.
func sortedCounts(m map[string]int) []NameCount {
	out := make([]NameCount, 0, len(m))
	for k, v := range m {
		out = append(out, NameCount{k, v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// lowerASCII lower-cases s, allocating only when s has an upper-case letter (the common case
// of exports with lower-case UPNs costs nothing).
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' || c >= 0x80 {
			return strings.ToLower(s)
		}
	}
	return s
}
