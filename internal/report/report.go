package report

import (
	"cmp"
	"math"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sekisho/sekisho/internal/store"
)

// NameCount is a value with how often it was seen.
type NameCount struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

// Risk is one concrete consequence of the migration for an IP-restricted tenant.
type Risk struct {
	Code     string `json:"code"`
	Severity string `json:"severity"` // high, medium, info
	Text     string `json:"text"`
	args     []any  // to render Text in another language
}

// Simulation compares today's decision per address with the policy's answer for the
// migrated client's sign-in (only when Options.Simulate is set).
type Simulation struct {
	Addresses     int `json:"addresses"`
	NewlyAllowed  int `json:"newly_allowed"`
	NewlyBlocked  int `json:"newly_blocked"`
	SameDecisions int `json:"same"`
}

// Alternative is another migration path for a client, with what the IdP enforces after it.
type Alternative struct {
	Migration string      `json:"migration"`
	After     Enforcement `json:"after"`
	Text      string      `json:"text"`
}

// Row is one (user, client) pair.
type Row struct {
	User            string         `json:"user"`
	Client          string         `json:"client"`
	Family          Family         `json:"family"`
	Legacy          bool           `json:"legacy"`
	Retirement      string         `json:"retirement"`
	RetirementText  string         `json:"retirement_text"`
	Count           int            `json:"count"`
	BySource        map[string]int `json:"by_source"`
	Statuses        map[string]int `json:"statuses,omitempty"`
	Decisions       map[string]int `json:"decisions,omitempty"`
	CurrentDecision string         `json:"current_decision,omitempty"` // the latest decision seen
	FirstSeen       time.Time      `json:"first_seen"`
	LastSeen        time.Time      `json:"last_seen"`
	DistinctIPs     int            `json:"distinct_ips"` // at most MaxIPsPerPair; IPsCapped says more
	IPsCapped       bool           `json:"ips_capped,omitempty"`
	IPs             []string       `json:"ips"`
	Inside          int            `json:"inside"`
	Outside         int            `json:"outside"`
	NoIP            int            `json:"no_ip"`
	InsideShare     *float64       `json:"inside_share"` // nil when no record had an address
	UserAgents      []NameCount    `json:"user_agents"`
	AgentsCapped    bool           `json:"agents_capped,omitempty"`
	Devices         []string       `json:"devices,omitempty"` // EAS device models
	Migration       string         `json:"migration"`
	MigrationText   string         `json:"migration_text"`
	Alternatives    []Alternative  `json:"alternatives,omitempty"`
	Before          Enforcement    `json:"before"`
	After           Enforcement    `json:"after"`
	AfterText       string         `json:"after_text"`
	CannotMigrate   bool           `json:"cannot_migrate"`
	Risks           []Risk         `json:"risks"`
	Simulation      *Simulation    `json:"simulation,omitempty"`
}

// FamilySummary totals one protocol family.
type FamilySummary struct {
	Family  Family `json:"family"`
	Name    string `json:"name"`
	Legacy  bool   `json:"legacy"`
	Status  string `json:"status"`
	Records int    `json:"records"`
	Users   int    `json:"users"`
	Inside  int    `json:"inside"`
	Outside int    `json:"outside"`
	NoIP    int    `json:"no_ip"`
}

// Day is the trend for one UTC day.
type Day struct {
	Date    string `json:"date"`
	Legacy  int    `json:"legacy"`
	Modern  int    `json:"modern"`
	Inside  int    `json:"legacy_inside"`
	Outside int    `json:"legacy_outside"`
}

// Summary is the executive summary.
type Summary struct {
	Records            int             `json:"records"`
	LegacyRecords      int             `json:"legacy_records"`
	Users              int             `json:"users"`
	LegacyUsers        int             `json:"legacy_users"`
	Pairs              int             `json:"pairs"`
	LegacyPairs        int             `json:"legacy_pairs"`
	CannotMigratePairs int             `json:"cannot_migrate_pairs"`
	LegacyInside       int             `json:"legacy_inside"`
	LegacyOutside      int             `json:"legacy_outside"`
	LegacyNoIP         int             `json:"legacy_no_ip"`
	ByFamily           []FamilySummary `json:"by_family"`
	Daily              []Day           `json:"daily"`
	DaysCapped         bool            `json:"days_capped,omitempty"`
}

// MilestoneView is a retirement milestone with its text.
type MilestoneView struct {
	Milestone
	Text string `json:"text"`
}

// Report is the finished report.
type Report struct {
	GeneratedAt time.Time `json:"generated_at"`
	Since       time.Time `json:"since,omitzero"`
	Until       time.Time `json:"until,omitzero"`
	// WindowFromExports says the window is the span the Entra exports cover (Since is the
	// earliest export row, Until just after the latest), not one that was asked for.
	WindowFromExports bool            `json:"window_from_exports,omitempty"`
	Lang              string          `json:"lang"`
	Summary           Summary         `json:"summary"`
	Rows              []Row           `json:"rows"`
	Sources           []SourceSummary `json:"sources"`
	MalformedTotal    int             `json:"malformed_total"`
	Malformed         []Malformed     `json:"malformed"`
	UnknownClientApps []NameCount     `json:"unknown_client_apps,omitempty"`
	Milestones        []MilestoneView `json:"milestones"`

	opts Options
}

// Finish computes the report. The builder may keep receiving records and Finish again.
func (b *Builder) Finish() *Report {
	lang := b.opts.Lang
	rep := &Report{GeneratedAt: b.opts.Now.UTC(), Since: b.opts.Since, Until: b.opts.Until,
		WindowFromExports: b.fromExports, Lang: lang, MalformedTotal: b.malformedN, opts: b.opts,
		Malformed: append([]Malformed{}, b.malformed...), UnknownClientApps: sortedCounts(b.unknownApps)}
	if b.sekisho != nil { // Sekisho's own log first, whichever was read first
		rep.Sources = append(rep.Sources, *b.sekisho)
	}
	for _, s := range b.sources {
		if s != b.sekisho {
			rep.Sources = append(rep.Sources, *s)
		}
	}
	if len(rep.UnknownClientApps) == 0 {
		rep.UnknownClientApps = nil
	}
	for _, m := range Milestones {
		rep.Milestones = append(rep.Milestones, MilestoneView{m, T(lang, "ms."+m.Key)})
	}

	users, legacyUsers := map[string]bool{}, map[string]bool{}
	famUsers := map[Family]map[string]bool{}
	fams := map[Family]*FamilySummary{}
	// The rows' order (legacy first, then by count, user and client: a total order, as no two
	// pairs share user and client) is settled on the pairs, so that no Row is ever moved.
	pairs := slices.Clone(b.pairs)
	slices.SortFunc(pairs, func(a, c *pairAgg) int {
		if la, lc := a.client.Family.Legacy(), c.client.Family.Legacy(); la != lc {
			if la {
				return -1
			}
			return 1
		}
		if a.count != c.count {
			return cmp.Compare(c.count, a.count)
		}
		if a.user != c.user {
			return strings.Compare(a.user, c.user)
		}
		return strings.Compare(a.client.Name, c.client.Name)
	})
	texts := map[Family]*familyTexts{}
	rep.Rows = make([]Row, 0, len(pairs))
	for _, p := range pairs {
		ft := texts[p.client.Family]
		if ft == nil {
			ft = b.familyTexts(p.client.Family)
			texts[p.client.Family] = ft
		}
		row := b.row(p, ft)
		rep.Rows = append(rep.Rows, row)
		s := &rep.Summary
		s.Records += p.count
		s.Pairs++
		users[p.userLower] = true
		f := fams[p.client.Family]
		if f == nil {
			f = &FamilySummary{Family: p.client.Family, Name: T(lang, "fam."+string(p.client.Family)),
				Legacy: p.client.Family.Legacy(), Status: RetirementStatus(p.client.Family, b.opts.Now)}
			fams[p.client.Family] = f
			famUsers[p.client.Family] = map[string]bool{}
		}
		f.Records += p.count
		f.Inside += p.inside
		f.Outside += p.outside
		f.NoIP += p.noIP
		famUsers[p.client.Family][p.userLower] = true
		if row.Legacy {
			s.LegacyRecords += p.count
			s.LegacyPairs++
			legacyUsers[p.userLower] = true
			s.LegacyInside += p.inside
			s.LegacyOutside += p.outside
			s.LegacyNoIP += p.noIP
			if row.CannotMigrate {
				s.CannotMigratePairs++
			}
		}
	}
	rep.Summary.Users, rep.Summary.LegacyUsers = len(users), len(legacyUsers)
	for _, fam := range Families {
		if f := fams[fam]; f != nil {
			f.Users = len(famUsers[fam])
			rep.Summary.ByFamily = append(rep.Summary.ByFamily, *f)
		}
	}
	for d, a := range b.days {
		rep.Summary.Daily = append(rep.Summary.Daily, Day{time.Unix(d*86400, 0).UTC().Format("2006-01-02"), a.legacy, a.modern, a.inside, a.outside})
	}
	sort.Slice(rep.Summary.Daily, func(i, j int) bool { return rep.Summary.Daily[i].Date < rep.Summary.Daily[j].Date })
	rep.Summary.DaysCapped = b.daysCapped
	return rep
}

// windowText is the window for a message: "2026-01-31T00:00:00Z – now" and the like (the end
// is exclusive).
func (r *Report) windowText() string {
	from, to := "the beginning", "now"
	if !r.Since.IsZero() {
		from = r.Since.UTC().Format(time.RFC3339)
	}
	if !r.Until.IsZero() {
		to = r.Until.UTC().Format(time.RFC3339)
	}
	return from + " – " + to
}

func isBlocked(decision string) bool {
	return decision != "" && decision != "allow"
}

// familyTexts are the parts of a row that depend only on its family (and the report's
// language and date), computed once per family.
type familyTexts struct {
	retirement, retirementText string
	migs                       []Migration
	best, bridge               Migration // the best path, and the bridge/relay for clients that cannot do OAuth
	hasBridge                  bool
	alternatives               map[string][]Alternative // by the chosen migration
}

func (b *Builder) familyTexts(fam Family) *familyTexts {
	lang := b.opts.Lang
	ft := &familyTexts{retirement: RetirementStatus(fam, b.opts.Now), migs: MigrationsFor(fam),
		alternatives: map[string][]Alternative{}}
	ft.retirementText = T(lang, "status."+ft.retirement)
	ft.best = ft.migs[0]
	for _, m := range ft.migs {
		if m.Key == "mail_bridge" {
			ft.bridge, ft.hasBridge = m, true
			break
		}
	}
	return ft
}

// alternativesTo are the migrations other than best (the caller copies the slice).
func (ft *familyTexts) alternativesTo(best Migration, lang string) []Alternative {
	alts, ok := ft.alternatives[best.Key]
	if !ok {
		for _, m := range ft.migs {
			if m.Key != best.Key {
				alts = append(alts, Alternative{m.Key, m.After, T(lang, "mig."+m.Key) + " — " + T(lang, "enf."+string(m.After))})
			}
		}
		ft.alternatives[best.Key] = alts
	}
	return alts
}

// row turns an aggregate into a report row with the migration advice and the risks.
func (b *Builder) row(p *pairAgg, ft *familyTexts) Row {
	lang, fam := b.opts.Lang, p.client.Family
	r := Row{User: p.user, Client: p.client.Name, Family: fam, Legacy: fam.Legacy(),
		Count: p.count, BySource: make(map[string]int, 2), CurrentDecision: p.lastDecision,
		FirstSeen: p.first.UTC(), LastSeen: p.last.UTC(), DistinctIPs: p.distinctIPs(),
		IPsCapped: p.ipsCapped, Inside: p.inside, Outside: p.outside, NoIP: p.noIP,
		AgentsCapped: p.agentsCapped, Risks: []Risk{}}
	if p.fromSekisho > 0 {
		r.BySource["sekisho"] = p.fromSekisho
	}
	if p.fromEntra > 0 {
		r.BySource["entra"] = p.fromEntra
	}
	if n := len(p.otherStatuses); n > 0 || p.success+p.failure+p.interrupted > 0 {
		r.Statuses = make(map[string]int, n+3)
		for k, v := range p.otherStatuses {
			r.Statuses[k] = v
		}
		if p.success > 0 {
			r.Statuses["success"] = p.success
		}
		if p.failure > 0 {
			r.Statuses["failure"] = p.failure
		}
		if p.interrupted > 0 {
			r.Statuses["interrupted"] = p.interrupted
		}
	}
	if len(p.decisions) > 0 {
		r.Decisions = make(map[string]int, len(p.decisions))
		for k, v := range p.decisions {
			r.Decisions[k] = v
		}
	}
	r.Retirement, r.RetirementText = ft.retirement, ft.retirementText
	if n := p.inside + p.outside; n > 0 {
		v := math.Round(float64(p.inside)/float64(n)*1000) / 1000
		r.InsideShare = &v
	}
	// Addresses, most used first.
	type ipc struct {
		a netip.Addr
		s ipStat
	}
	ips := make([]ipc, 0, p.distinctIPs())
	for k, i := range p.ips {
		ips = append(ips, ipc{k.addr(), p.ipStats[i]})
	}
	for a, i := range p.zoned {
		ips = append(ips, ipc{a, p.ipStats[i]})
	}
	slices.SortFunc(ips, func(x, y ipc) int {
		if x.s.count != y.s.count {
			return cmp.Compare(y.s.count, x.s.count)
		}
		return x.a.Compare(y.a)
	})
	// One string holds every address of the row.
	var text []byte
	ends := make([]int, len(ips))
	for i, x := range ips {
		text = x.a.AppendTo(text)
		ends[i] = len(text)
	}
	all := string(text)
	r.IPs = make([]string, len(ips))
	start := 0
	for i, end := range ends {
		r.IPs[i], start = all[start:end], end
	}
	r.UserAgents = p.userAgents()
	devs := map[string]bool{}
	for _, ua := range r.UserAgents {
		if fam == FamEAS {
			if d := deviceModel(ua.Name); d != "" && !devs[d] {
				devs[d] = true
				r.Devices = append(r.Devices, d)
			}
		}
		if likelyCannotMigrate(ua.Name) {
			r.CannotMigrate = true
		}
	}
	if !r.Legacy {
		r.CannotMigrate = false
	}

	// Migration: the best path, or the bridge/relay when the client cannot do OAuth.
	best := ft.best
	if r.CannotMigrate && ft.hasBridge {
		best = ft.bridge
	}
	r.Migration, r.MigrationText, r.After = best.Key, T(lang, "mig."+best.Key), best.After
	r.Alternatives = slices.Clone(ft.alternativesTo(best, lang))
	r.AfterText = T(lang, "enf."+string(r.After))
	r.Before = SignInOnly
	if r.Legacy || fam == FamBridge {
		r.Before = EveryConnection
	}
	if !r.Legacy {
		return r
	}

	// Risks for IP-restricted tenants.
	add := func(code, sev string, args ...any) {
		r.Risks = append(r.Risks, Risk{code, sev, T(lang, "risk."+code, args...), args})
	}
	if r.CannotMigrate {
		switch fam {
		case FamSMTP, FamIMAP, FamPOP:
			add("cannot_migrate", "high")
		default:
			add("cannot_migrate_other", "high")
		}
	}
	blockedOutside, allowedToday := 0, 0
	for _, x := range ips {
		if !x.s.inside && x.s.dec == decBlocked {
			blockedOutside++
		}
		if x.s.dec == decAllow {
			allowedToday++
		}
	}
	if r.After == SignInOnly {
		outsidePct := 0
		if n := p.inside + p.outside; n > 0 {
			outsidePct = int(math.Round(float64(p.outside) * 100 / float64(n)))
		}
		sev := "medium"
		if blockedOutside > 0 {
			sev = "high"
		}
		add("token_outlives_network", sev, outsidePct)
		if blockedOutside > 0 {
			add("blocked_outside_opens", "high", blockedOutside)
		}
	}
	switch fam {
	case FamEWS:
		add("app_only_bypass", "high")
		add("ews_retiring", "high")
	case FamSMTP:
		add("app_only_bypass", "medium")
	case FamEAS:
		add("cloud_sync", "medium")
	}
	if p.decisions["mfa_required"] > 0 {
		add("mfa_now_possible", "info")
	}
	if b.opts.Simulate != nil && len(ips) > 0 && r.After != Never {
		sim := &Simulation{}
		for _, x := range ips {
			if x.s.dec == decNone {
				continue
			}
			sim.Addresses++
			after := b.opts.Simulate(store.SignInEvent{Time: b.opts.Now, Username: p.user,
				Protocol: "wsfed", ClientType: "rich-client", EffectiveIP: x.a.String(), PeerIP: x.a.String()})
			switch {
			case x.s.dec == decBlocked && after == "allow":
				sim.NewlyAllowed++
			case x.s.dec != decBlocked && isBlocked(after):
				sim.NewlyBlocked++
			default:
				sim.SameDecisions++
			}
		}
		r.Simulation = sim
		if sim.NewlyBlocked > 0 {
			add("newly_blocked", "high", sim.NewlyBlocked)
		}
		if sim.NewlyAllowed > 0 {
			add("newly_allowed", "high", sim.NewlyAllowed)
		}
	} else if allowedToday > 0 && r.After == SignInOnly {
		add("interactive_needed", "info")
	}
	if retired := milestone("basic_off_2022").Date; r.Retirement == StatusBlocked || r.Retirement == StatusBlockedEWSRetire {
		if !p.last.Before(retired) {
			add("already_broken", "medium", p.last.UTC().Format("2006-01-02"))
		}
	}
	return r
}
