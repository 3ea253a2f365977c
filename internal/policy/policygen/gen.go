// Package policygen generates large, realistic random policies and requests (seeded), for
// benchmarks and for checking the indexed evaluator against the reference one.
package policygen

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"time"

	"github.com/sekisho/sekisho/internal/policy"
)

// Spec is a policy in plain data, renderable as YAML (and, by the benchmark, as Rego).
type Spec struct {
	Default    string
	BreakGlass []string
	Networks   []Network
	Rules      []Rule
	// Universe the requests draw from.
	Users, Groups, Apps []string
}

// Network is a named CIDR list.
type Network struct {
	Name  string
	CIDRs []string
}

// Window is a time condition.
type Window struct {
	Zone             string
	Weekdays         []string // "mon".."sun"
	From, To         string   // "HH:MM"
	DateFrom, DateTo string   // "YYYY-MM-DD" or ""
}

// Rule is one rule; empty lists mean "no condition".
type Rule struct {
	Name                                         string
	Users, Groups, Apps, ClientTypes, LegacyApps []string
	Networks, NotNetworks                        []string
	Device                                       string // "", required, present, absent, invalid
	MFA                                          *bool
	Time                                         *Window
	Action                                       string
}

var (
	ClientTypes = []string{"browser", "rich-client", "legacy-proxied", "active-direct", "oidc", "bridge-imap", "bridge-pop", "bridge-smtp"}
	LegacyApps  = []string{"ActiveSync", "WebServices", "Imap", "Pop", "SMTP", "RPC", "Mapi", "Autodiscover"}
	Actions     = []string{"allow", "deny", "require_mfa", "require_device", "require_mfa+require_device"}
	Zones       = []string{"Asia/Tokyo", "Europe/London", "America/New_York", "UTC"}
	Days        = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}
)

func pick(r *rand.Rand, from []string, min, max int) []string {
	n := min + r.IntN(max-min+1)
	seen := map[string]bool{}
	var out []string
	for len(out) < n && len(out) < len(from) {
		s := from[r.IntN(len(from))]
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// Generate builds a policy with the given number of rules and (about) cidrs CIDR ranges
// spread over 100 named networks.
func Generate(seed uint64, rules, cidrs int) *Spec {
	r := rand.New(rand.NewPCG(seed, 0x5e15))
	s := &Spec{Default: "deny", BreakGlass: []string{"breakglass@corp0.example"}}
	for i := 0; i < 5000; i++ {
		s.Users = append(s.Users, fmt.Sprintf("user%d@corp%d.example", i, i%5))
	}
	for i := 0; i < 200; i++ {
		s.Groups = append(s.Groups, fmt.Sprintf("group%d", i))
	}
	for i := 0; i < 100; i++ {
		s.Apps = append(s.Apps, fmt.Sprintf("app%d", i))
	}
	nets := 100
	if cidrs < nets {
		nets = max(1, cidrs)
	}
	var netNames []string
	for i := 0; i < nets; i++ {
		n := Network{Name: fmt.Sprintf("net%d", i)}
		for j := 0; j < cidrs/nets; j++ {
			if r.IntN(10) == 0 {
				bitsLen := 32 + r.IntN(33)
				a := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
				n.CIDRs = append(n.CIDRs, netip.PrefixFrom(a, bitsLen).Masked().String())
			} else {
				bitsLen := 16 + r.IntN(13)
				a := netip.AddrFrom4([4]byte{byte(1 + r.IntN(223)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
				n.CIDRs = append(n.CIDRs, netip.PrefixFrom(a, bitsLen).Masked().String())
			}
		}
		s.Networks = append(s.Networks, n)
		netNames = append(netNames, n.Name)
	}
	for i := 0; i < rules; i++ {
		ru := Rule{Name: fmt.Sprintf("rule%d", i), Action: Actions[r.IntN(len(Actions))]}
		if r.IntN(10) < 7 {
			ru.Apps = pick(r, s.Apps, 1, 3)
		}
		if r.IntN(10) < 4 {
			ru.Groups = pick(r, s.Groups, 1, 3)
		}
		if r.IntN(10) == 0 {
			ru.Users = pick(r, s.Users, 1, 5)
			if r.IntN(2) == 0 {
				ru.Users = append(ru.Users, fmt.Sprintf("*@corp%d.example", r.IntN(5)))
			}
		}
		if r.IntN(5) == 0 {
			ru.ClientTypes = pick(r, ClientTypes, 1, 2)
		}
		if r.IntN(20) == 0 {
			ru.ClientTypes = []string{"legacy-proxied"}
			ru.LegacyApps = pick(r, LegacyApps, 1, 3)
		}
		if r.IntN(10) < 3 {
			ru.Networks = pick(r, netNames, 1, 2)
		}
		if r.IntN(100) < 15 {
			ru.NotNetworks = pick(r, netNames, 1, 2)
		}
		if r.IntN(10) == 0 {
			ru.Device = []string{"required", "present", "absent", "invalid"}[r.IntN(4)]
		}
		if r.IntN(100) < 15 {
			b := r.IntN(2) == 0
			ru.MFA = &b
		}
		if r.IntN(10) == 0 {
			from := r.IntN(24)
			to := (from + 1 + r.IntN(22)) % 24 // sometimes crosses midnight
			w := &Window{Zone: Zones[r.IntN(len(Zones))], From: fmt.Sprintf("%02d:00", from), To: fmt.Sprintf("%02d:30", to)}
			if r.IntN(2) == 0 {
				w.Weekdays = pick(r, Days, 1, 5)
			}
			if r.IntN(4) == 0 {
				w.DateFrom, w.DateTo = "2026-03-01", "2026-10-31"
			}
			ru.Time = w
		}
		s.Rules = append(s.Rules, ru)
	}
	return s
}

// YAML renders the spec as a policy document.
func (s *Spec) YAML() []byte {
	var b strings.Builder
	list := func(key string, vs []string) {
		if len(vs) > 0 {
			fmt.Fprintf(&b, "    %s: [%s]\n", key, quoteAll(vs))
		}
	}
	fmt.Fprintf(&b, "version: 1\ndefault: %s\nbreak_glass: [%s]\nnetworks:\n", s.Default, quoteAll(s.BreakGlass))
	for _, n := range s.Networks {
		fmt.Fprintf(&b, "  %s: [%s]\n", n.Name, quoteAll(n.CIDRs))
	}
	b.WriteString("rules:\n")
	for _, r := range s.Rules {
		fmt.Fprintf(&b, "  - name: %s\n", r.Name)
		list("users", r.Users)
		list("groups", r.Groups)
		list("applications", r.Apps)
		list("client_types", r.ClientTypes)
		list("legacy_apps", r.LegacyApps)
		list("networks", r.Networks)
		list("not_networks", r.NotNetworks)
		if r.Device != "" {
			fmt.Fprintf(&b, "    device: %s\n", r.Device)
		}
		if r.MFA != nil {
			fmt.Fprintf(&b, "    mfa: %t\n", *r.MFA)
		}
		if w := r.Time; w != nil {
			fmt.Fprintf(&b, "    time: {zone: %s, from: \"%s\", to: \"%s\"", w.Zone, w.From, w.To)
			if len(w.Weekdays) > 0 {
				fmt.Fprintf(&b, ", weekdays: [%s]", strings.Join(w.Weekdays, ", "))
			}
			if w.DateFrom != "" {
				fmt.Fprintf(&b, ", dates: {from: %s, to: %s}", w.DateFrom, w.DateTo)
			}
			b.WriteString("}\n")
		}
		fmt.Fprintf(&b, "    action: %s\n", r.Action)
	}
	return []byte(b.String())
}

func quoteAll(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = fmt.Sprintf("%q", v)
	}
	return strings.Join(q, ", ")
}

// Requests draws n realistic requests: known and unknown users and apps, 0–4 groups, half
// of the addresses inside some network, random device and MFA state, times across 2026.
func (s *Spec) Requests(seed uint64, n int) []policy.Input {
	r := rand.New(rand.NewPCG(seed, 0x7e57))
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var prefixes []netip.Prefix
	for _, nw := range s.Networks {
		for _, c := range nw.CIDRs {
			prefixes = append(prefixes, netip.MustParsePrefix(c))
		}
	}
	out := make([]policy.Input, n)
	for i := range out {
		in := policy.Input{
			User:        s.Users[r.IntN(len(s.Users))],
			Groups:      pick(r, s.Groups, 0, 4),
			Application: s.Apps[r.IntN(len(s.Apps))],
			ClientType:  ClientTypes[r.IntN(len(ClientTypes))],
			MFA:         r.IntN(2) == 0,
			Time:        base.Add(time.Duration(r.Int64N(int64(365 * 24 * time.Hour)))).Truncate(time.Minute),
		}
		switch in.ClientType {
		case "legacy-proxied":
			in.LegacyApp = LegacyApps[r.IntN(len(LegacyApps))]
			in.Protocol = "wstrust"
		case "active-direct":
			in.Protocol = "wstrust"
		case "oidc":
			in.Protocol = "oidc"
		case "bridge-imap", "bridge-pop", "bridge-smtp":
			in.Protocol = in.ClientType
		default:
			in.Protocol = "wsfed"
		}
		if r.IntN(20) == 0 {
			in.Application = "unknown-app"
		}
		if r.IntN(200) == 0 {
			in.User = s.BreakGlass[0]
		}
		switch d := r.IntN(4); d {
		case 1:
			in.Device = policy.Device{Present: true, Serial: "01"}
		case 2, 3:
			in.Device = policy.Device{Present: true, Valid: true, BoundToUser: d == 3, Serial: "02"}
		}
		if r.IntN(2) == 0 && len(prefixes) > 0 {
			in.IP = randomIn(r, prefixes[r.IntN(len(prefixes))])
		} else if r.IntN(5) == 0 {
			var b [16]byte
			b[0], b[1] = 0x20, 0x01
			for j := 2; j < 16; j++ {
				b[j] = byte(r.IntN(256))
			}
			in.IP = netip.AddrFrom16(b)
		} else {
			in.IP = netip.AddrFrom4([4]byte{byte(1 + r.IntN(223)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
		}
		out[i] = in
	}
	return out
}

func randomIn(r *rand.Rand, p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		if r.IntN(2) == 0 {
			b[i/8] |= 0x80 >> (i % 8)
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
