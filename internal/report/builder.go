package report

import (
	"cmp"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sekisho/sekisho/internal/store"
)

// MaxIPsPerPair and MaxAgentsPerPair fit the uint8 indexes of pairAgg.
var _ = [1]int{}[MaxIPsPerPair/256+MaxAgentsPerPair/256]

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
	// ExportSpan makes the window the span the Entra exports cover: Since and Until are
	// ignored, every export row counts, and Sekisho's sign-in log is read over the same span
	// (from the earliest to the latest export row), so the exports must be read first (Build
	// and the handler do). When no export row is usable the window is the default, the last
	// 30 days. The CLI and the console set it when exports are given without a window.
	ExportSpan bool
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

// ipStat is what a pair keeps per source address. Only three classes of the last decision
// matter to the report (none, allow, anything else = blocked), so that is all it keeps, and the
// per-address maps hold no pointers for the collector to scan.
type ipStat struct {
	count  int
	inside bool
	dec    uint8 // decNone, decAllow, decBlocked
}

const (
	decNone uint8 = iota
	decAllow
	decBlocked
)

func decClass(d string) uint8 {
	switch d {
	case "":
		return decNone
	case "allow":
		return decAllow
	}
	return decBlocked
}

// ipKey is an address without a zone in a pointer-free form (zoned addresses, rare, are kept
// apart as netip.Addr).
type ipKey struct {
	a  [16]byte
	v4 bool
}

func (k ipKey) addr() netip.Addr {
	if k.v4 {
		return netip.AddrFrom4([4]byte(k.a[12:]))
	}
	return netip.AddrFrom16(k.a)
}

type pairAgg struct {
	user, userLower string
	client          ClientApp
	count           int
	fromSekisho     int // records per source
	fromEntra       int
	success         int // statuses; any other status in otherStatuses
	failure         int
	interrupted     int
	otherStatuses   map[string]int // nil until needed, as are the maps below
	decisions       map[string]int
	lastDecision    string
	first, last     time.Time
	// Per source address: ips (zoned for the rare addresses with a zone) gives the index in
	// ipStats, so that counting a known address costs one lookup, and neither ips nor
	// ipStats holds a pointer for the collector to scan.
	ips             map[ipKey]uint8
	zoned           map[netip.Addr]uint8
	ipStats         []ipStat
	ipsCapped       bool
	inside, outside int
	noIP            int
	agents          map[string]uint8 // user agent → index in agentCounts
	agentCounts     []int
	agentsCapped    bool
}

func (p *pairAgg) distinctIPs() int { return len(p.ipStats) }

// userAgents are the pair's user agents by descending count, then name (as sortedCounts).
func (p *pairAgg) userAgents() []NameCount {
	out := make([]NameCount, 0, len(p.agents))
	for ua, i := range p.agents {
		out = append(out, NameCount{ua, p.agentCounts[i]})
	}
	slices.SortFunc(out, func(a, b NameCount) int {
		if a.Count != b.Count {
			return cmp.Compare(b.Count, a.Count)
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// userPairs holds one user's pairs by the builder's client number: the first clients (every
// documented client app fits) in a slice, the rest (unknown client-app values) in a map, so
// that a tenant with many odd values does not cost users × values.
type userPairs struct {
	lower    string // the user, lower-cased (the key in Builder.users)
	byClient []*pairAgg
	more     map[int]*pairAgg
}

const clientSlots = 32

type dayAgg struct {
	legacy, modern  int
	inside, outside int // legacy records only
}

// Builder accumulates records from several sources. It is not safe for concurrent use.
type Builder struct {
	opts        Options
	prefixes    []netip.Prefix        // every prefix of opts.Networks
	users       map[string]*userPairs // by lower-cased user
	clients     map[string]int        // client name → index in userPairs.byClient
	clientNames []string              // by index
	// The client of the last record and its index (exports often repeat the client app; the
	// name may hold on to one record's line).
	lastClientName string
	lastClient     int
	lastClientSet  bool
	lowerBuf       []byte            // knownPair's lower-cased user
	pairs          []*pairAgg        // in the order they were first seen
	days           map[int64]*dayAgg // UTC day number since the epoch
	lastDay        int64             // the day of the last record, and its aggregate
	lastDayAgg     *dayAgg
	daysCapped     bool
	sources        []*SourceSummary
	malformed      []Malformed
	malformedN     int
	sekisho        *SourceSummary
	unknownApps    map[string]int
	// The span of the export rows used (their earliest and latest time).
	exportFirst, exportLast time.Time
	exportSeen              bool
	fromExports             bool // the window is the exports' span (see Options.ExportSpan)
}

// NewBuilder starts a report.
func NewBuilder(opts Options) *Builder {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	if opts.Lang != "ja" {
		opts.Lang = "en"
	}
	if opts.ExportSpan {
		// Every export row counts; the window is set from them (useExportSpan).
		opts.Since, opts.Until = time.Time{}, time.Time{}
	}
	b := &Builder{opts: opts, users: map[string]*userPairs{}, clients: map[string]int{},
		days: map[int64]*dayAgg{}, unknownApps: map[string]int{}}
	for _, ps := range opts.Networks {
		b.prefixes = append(b.prefixes, ps...)
	}
	return b
}

func (b *Builder) inside(a netip.Addr) bool {
	if b.opts.Inside != nil {
		return b.opts.Inside(a)
	}
	for _, p := range b.prefixes {
		if p.Contains(a) {
			return true
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

// pair returns the aggregate of (user, client), creating it when new.
func (b *Builder) pair(r *Record) *pairAgg {
	ul := lowerASCII(r.User)
	ci := b.lastClient
	if !b.lastClientSet || r.Client.Name != b.lastClientName {
		var ok bool
		ci, ok = b.clients[r.Client.Name] // lookups with transient keys do not allocate
		if !ok {
			ci = len(b.clients)
			name := strings.Clone(r.Client.Name)
			b.clients[name] = ci
			b.clientNames = append(b.clientNames, name)
		}
		b.lastClient, b.lastClientName, b.lastClientSet = ci, r.Client.Name, true
	}
	u := b.users[ul]
	if u == nil {
		// Clone what the builder keeps: a CSV reader's fields share one string per line, and
		// holding a field would hold the whole line.
		u = &userPairs{lower: strings.Clone(ul)}
		b.users[u.lower] = u
	}
	if ci < len(u.byClient) {
		if p := u.byClient[ci]; p != nil {
			return p
		}
	} else if ci >= clientSlots {
		if p := u.more[ci]; p != nil {
			return p
		}
	}
	c := r.Client
	c.Name = b.clientNames[ci]
	user := u.lower
	if r.User != user {
		user = strings.Clone(r.User)
	}
	p := &pairAgg{user: user, userLower: u.lower, client: c, first: r.Time, last: r.Time}
	switch {
	case ci >= clientSlots:
		if u.more == nil {
			u.more = map[int]*pairAgg{}
		}
		u.more[ci] = p
	default:
		for len(u.byClient) <= ci {
			u.byClient = append(u.byClient, nil)
		}
		u.byClient[ci] = p
	}
	b.pairs = append(b.pairs, p)
	return p
}

// add aggregates a normalised record into its (user, client) pair.
func (b *Builder) add(s *SourceSummary, r Record) {
	if !b.inWindow(s, r.Time) {
		return
	}
	p := b.pair(&r)
	b.count(p, &r)
	p.addAgent(r.UserAgent)
}

// inWindow counts a record of s as used, or as outside the window.
func (b *Builder) inWindow(s *SourceSummary, t time.Time) bool {
	if (!b.opts.Since.IsZero() && t.Before(b.opts.Since)) || (!b.opts.Until.IsZero() && !t.Before(b.opts.Until)) {
		s.OutsideWindow++
		return false
	}
	s.Used++
	return true
}

// knownPair is the pair of user (trimmed) and client when the builder has it, found without
// making a string; nil otherwise, and for a user with non-ASCII letters (pair lower-cases
// those).
func (b *Builder) knownPair(user []byte, client string) *pairAgg {
	lower := user
	for i, c := range user {
		if c >= utf8.RuneSelf {
			return nil
		}
		if 'A' <= c && c <= 'Z' {
			b.lowerBuf = append(b.lowerBuf[:0], user...)
			for j := i; j < len(b.lowerBuf); j++ {
				if c := b.lowerBuf[j]; 'A' <= c && c <= 'Z' {
					b.lowerBuf[j] = c + 'a' - 'A'
				}
			}
			lower = b.lowerBuf
			break
		}
	}
	ci := b.lastClient
	if !b.lastClientSet || client != b.lastClientName {
		var ok bool
		if ci, ok = b.clients[client]; !ok {
			return nil
		}
		b.lastClient, b.lastClientName, b.lastClientSet = ci, client, true
	}
	u := b.users[string(lower)]
	switch {
	case u == nil:
		return nil
	case ci < len(u.byClient):
		return u.byClient[ci]
	case ci >= clientSlots:
		return u.more[ci]
	}
	return nil
}

// count aggregates r, in the window, into its pair p (but for its user agent: addAgent).
func (b *Builder) count(p *pairAgg, r *Record) {
	p.count++
	if r.Source == "sekisho" {
		p.fromSekisho++
	} else {
		p.fromEntra++
	}
	switch r.Status {
	case "":
	case "success":
		p.success++
	case "failure":
		p.failure++
	case "interrupted":
		p.interrupted++
	default:
		if _, ok := p.otherStatuses[r.Status]; ok {
			p.otherStatuses[r.Status]++
		} else {
			if p.otherStatuses == nil {
				p.otherStatuses = map[string]int{}
			}
			p.otherStatuses[strings.Clone(r.Status)] = 1
		}
	}
	if r.Decision != "" {
		if _, ok := p.decisions[r.Decision]; ok {
			p.decisions[r.Decision]++
		} else {
			if p.decisions == nil {
				p.decisions = map[string]int{}
			}
			p.decisions[strings.Clone(r.Decision)] = 1
		}
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
		p.addIP(r.IP, in, r.Decision)
	} else {
		p.noIP++
	}
	dk := r.Time.Unix() / 86400
	if r.Time.Unix() < 0 && r.Time.Unix()%86400 != 0 {
		dk--
	}
	d := b.lastDayAgg
	if d == nil || dk != b.lastDay {
		d = b.days[dk]
		if d == nil {
			if len(b.days) >= MaxDays {
				b.daysCapped = true
				return
			}
			d = &dayAgg{}
			b.days[dk] = d
		}
		b.lastDay, b.lastDayAgg = dk, d
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

// addAgent counts a record from user agent ua in the pair.
func (p *pairAgg) addAgent(ua string) {
	if ua == "" {
		return
	}
	if i, ok := p.agents[ua]; ok {
		p.agentCounts[i]++
	} else if len(p.agents) < MaxAgentsPerPair {
		if p.agents == nil {
			p.agents = make(map[string]uint8, 4)
		}
		p.agents[strings.Clone(ua)] = uint8(len(p.agentCounts))
		p.agentCounts = append(p.agentCounts, 1)
	} else {
		p.agentsCapped = true
	}
}

// addAgentBytes is addAgent for a user agent read from an export line (a string of it is
// made only when the pair keeps it).
func (p *pairAgg) addAgentBytes(ua []byte) {
	if len(ua) == 0 {
		return
	}
	if i, ok := p.agents[string(ua)]; ok {
		p.agentCounts[i]++
	} else if len(p.agents) < MaxAgentsPerPair {
		if p.agents == nil {
			p.agents = make(map[string]uint8, 4)
		}
		p.agents[string(ua)] = uint8(len(p.agentCounts))
		p.agentCounts = append(p.agentCounts, 1)
	} else {
		p.agentsCapped = true
	}
}

// addIP counts a record from address a (valid) in the pair's per-address statistics.
func (p *pairAgg) addIP(a netip.Addr, in bool, decision string) {
	var i uint8
	var seen bool
	var k ipKey
	zoned := a.Zone() != ""
	if zoned {
		i, seen = p.zoned[a]
	} else {
		k = ipKey{a: a.As16(), v4: a.Is4()}
		i, seen = p.ips[k]
	}
	if !seen {
		if len(p.ipStats) >= MaxIPsPerPair {
			p.ipsCapped = true
			return
		}
		i = uint8(len(p.ipStats))
		p.ipStats = append(p.ipStats, ipStat{})
		switch {
		case zoned && p.zoned == nil:
			p.zoned = map[netip.Addr]uint8{a: i}
		case zoned:
			p.zoned[a] = i
		case p.ips == nil:
			p.ips = make(map[ipKey]uint8, 8)
			p.ips[k] = i
		default:
			p.ips[k] = i
		}
	}
	st := &p.ipStats[i]
	st.inside = in
	st.count++
	if decision != "" {
		st.dec = decClass(decision)
	}
}

// useExportSpan sets the window once the exports have been read (Options.ExportSpan): from the
// earliest to the latest export row, or the default window when no export row was usable.
func (b *Builder) useExportSpan() {
	if !b.exportSeen {
		b.opts.Since, _ = ParseSince("", b.opts.Now)
		b.opts.Until = time.Time{}
		return
	}
	b.opts.Since, b.opts.Until = b.exportFirst, b.exportLast.Add(time.Nanosecond)
	b.fromExports = true
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
