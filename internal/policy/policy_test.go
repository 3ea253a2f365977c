package policy

import (
	"encoding/json"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/ipset"
)

func mustLoad(t testing.TB, doc string) *Policy {
	t.Helper()
	p, err := Load("policy.yaml", []byte(doc), Networks{"exchange-online": mustSet(t, "40.92.0.0/15", "2a01:111::/32")})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return p
}

func mustSet(t testing.TB, cidrs ...string) *ipset.Set {
	s, err := ipset.Parse(cidrs)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var noon = time.Date(2026, 6, 10, 3, 0, 0, 0, time.UTC) // Wednesday 12:00 in Tokyo

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

// TestConditions evaluates one rule per condition: the rule must match when the condition
// holds, and otherwise fall to the default with the expected reason code.
func TestConditions(t *testing.T) {
	base := Input{User: "alice@example.com", Groups: []string{"Staff"}, Application: "m365", Protocol: "wsfed",
		ClientType: "browser", IP: ip("203.0.113.5"), Time: noon}
	with := func(f func(*Input)) Input { in := base; f(&in); return in }
	tests := []struct {
		name   string
		rule   string
		in     Input
		match  bool
		reason Reason
	}{
		{"user listed", "users: [ALICE@example.com]", base, true, ""},
		{"user not listed", "users: [bob@example.com]", base, false, ReasonUserNotListed},
		{"user domain pattern", "users: ['*@Example.com']", base, true, ""},
		{"user other domain", "users: ['*@example.org']", base, false, ReasonUserNotListed},
		{"user suffix is not a domain", "users: ['*@ample.com']", base, false, ReasonUserNotListed},
		{"group member (case-insensitive)", "groups: [staff, admins]", base, true, ""},
		{"group not member", "groups: [admins]", base, false, ReasonGroupNotMember},
		{"group none", "groups: [admins]", with(func(i *Input) { i.Groups = nil }), false, ReasonGroupNotMember},
		{"application", "applications: [M365]", base, true, ""},
		{"application mismatch", "applications: [salesforce]", base, false, ReasonApplicationMismatch},
		{"protocol", "protocols: [wsfed, saml]", base, true, ""},
		{"protocol mismatch", "protocols: [oidc]", base, false, ReasonProtocolMismatch},
		{"client type", "client_types: [browser]", base, true, ""},
		{"client type mismatch", "client_types: [legacy-proxied]", base, false, ReasonClientTypeMismatch},
		{"legacy app", "legacy_apps: [activesync]", with(func(i *Input) { i.LegacyApp = "ActiveSync" }), true, ""},
		{"legacy app mismatch", "legacy_apps: [Imap]", with(func(i *Input) { i.LegacyApp = "ActiveSync" }), false, ReasonLegacyAppMismatch},
		{"legacy app absent", "legacy_apps: [Imap]", base, false, ReasonLegacyAppMismatch},
		{"network inside", "networks: [office]", base, true, ""},
		{"network outside", "networks: [office]", with(func(i *Input) { i.IP = ip("198.51.100.1") }), false, ReasonNetworkOutside},
		{"network from resolver", "networks: [exchange-online]", with(func(i *Input) { i.IP = ip("40.93.255.255") }), true, ""},
		{"network IPv6 inside", "networks: [office]", with(func(i *Input) { i.IP = ip("2001:db8:10:ffff::1") }), true, ""},
		{"network IPv6 outside", "networks: [office]", with(func(i *Input) { i.IP = ip("2001:db8:11::1") }), false, ReasonNetworkOutside},
		{"network mapped IPv4", "networks: [office]", with(func(i *Input) { i.IP = ip("::ffff:203.0.113.255") }), true, ""},
		{"network unknown address", "networks: [office]", with(func(i *Input) { i.IP = netip.Addr{} }), false, ReasonNetworkOutside},
		{"not_networks outside", "not_networks: [office]", with(func(i *Input) { i.IP = ip("203.0.114.0") }), true, ""},
		{"not_networks inside", "not_networks: [office]", with(func(i *Input) { i.IP = ip("203.0.113.0") }), false, ReasonNetworkExcluded},
		{"not_networks unknown address", "not_networks: [office]", with(func(i *Input) { i.IP = netip.Addr{} }), true, ""},
		{"device required ok", "device: required", with(func(i *Input) { i.Device = Device{true, true, true, "1"} }), true, ""},
		{"device required missing", "device: required", base, false, ReasonDeviceMissing},
		{"device required unbound", "device: required", with(func(i *Input) { i.Device = Device{true, true, false, "1"} }), false, ReasonDeviceInvalid},
		{"device required invalid", "device: required", with(func(i *Input) { i.Device = Device{true, false, true, "1"} }), false, ReasonDeviceInvalid},
		{"device present", "device: present", with(func(i *Input) { i.Device = Device{Present: true} }), true, ""},
		{"device present missing", "device: present", base, false, ReasonDeviceMissing},
		{"device absent", "device: absent", base, true, ""},
		{"device absent but present", "device: absent", with(func(i *Input) { i.Device = Device{Present: true} }), false, ReasonDevicePresent},
		{"device invalid", "device: invalid", with(func(i *Input) { i.Device = Device{Present: true, Valid: true} }), true, ""},
		{"device invalid but valid", "device: invalid", with(func(i *Input) { i.Device = Device{true, true, true, ""} }), false, ReasonDeviceValid},
		{"mfa true", "mfa: true", with(func(i *Input) { i.MFA = true }), true, ""},
		{"mfa true not done", "mfa: true", base, false, ReasonMFANotDone},
		{"mfa false", "mfa: false", base, true, ""},
		{"mfa false but done", "mfa: false", with(func(i *Input) { i.MFA = true }), false, ReasonMFADone},
		{"time inside", `time: {zone: Asia/Tokyo, weekdays: [mon..fri], from: "08:00", to: "19:00"}`, base, true, ""},
		{"time outside hour", `time: {zone: Asia/Tokyo, from: "13:00", to: "19:00"}`, base, false, ReasonTimeOutsideWindow},
		{"time wrong weekday", `time: {zone: Asia/Tokyo, weekdays: [sat, sun]}`, base, false, ReasonTimeOutsideWindow},
		{"time dates inside", `time: {zone: Asia/Tokyo, dates: {from: 2026-06-10, to: 2026-06-10}}`, base, true, ""},
		{"time dates outside", `time: {zone: Asia/Tokyo, dates: {from: 2026-07-01}}`, base, false, ReasonDateOutsideRange},
		{"time zero", `time: {zone: UTC}`, with(func(i *Input) { i.Time = time.Time{} }), false, ReasonTimeOutsideWindow},
		{"time list ORed", "time:\n      - {zone: UTC, from: \"00:00\", to: \"01:00\"}\n      - {zone: Asia/Tokyo, from: \"11:59\", to: \"12:01\"}", base, true, ""},
		{"all conditions", "users: [alice@example.com]\n    groups: [staff]\n    networks: [office]\n    client_types: [browser]\n    mfa: false", base, true, ""},
		{"first failing condition in written order", "networks: [office]\n    groups: [admins]\n    users: [bob@example.com]", base, false, ReasonGroupNotMember},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := "default: deny\nnetworks:\n  office: [203.0.113.0/24, '2001:db8:10::/48']\nrules:\n  - name: r\n    " + tt.rule + "\n    action: allow\n"
			p := mustLoad(t, doc)
			d := p.Evaluate(tt.in)
			if got := d.Rule == "r"; got != tt.match {
				t.Fatalf("matched=%v (rule %q), want %v", got, d.Rule, tt.match)
			}
			if tt.match && d.Action != Allow || !tt.match && (d.Action != Deny || d.Rule != RuleDefault) {
				t.Fatalf("action %v rule %q", d.Action, d.Rule)
			}
			rec := d.Trace.Record()
			if tt.match {
				if len(rec.Steps) != 1 || !rec.Steps[0].Matched {
					t.Fatalf("trace %+v", rec)
				}
				return
			}
			if len(rec.Steps) != 1 || rec.Steps[0].Code != tt.reason {
				t.Fatalf("trace steps %+v, want code %s", rec.Steps, tt.reason)
			}
		})
	}
}

func TestActions(t *testing.T) {
	good := Device{true, true, true, "1"}
	tests := []struct {
		action string
		mfa    bool
		dev    Device
		want   Action
	}{
		{"allow", false, Device{}, Allow},
		{"deny", true, good, Deny},
		{"require_mfa", false, Device{}, RequireMFA},
		{"require_mfa", true, Device{}, Allow},
		{"require_device", false, Device{}, RequireDevice},
		{"require_device", false, Device{Present: true, Valid: true}, RequireDevice}, // not bound
		{"require_device", false, good, Allow},
		{"require_mfa+require_device", false, Device{}, RequireMFAAndDevice},
		{"require_device+require_mfa", true, Device{}, RequireDevice},
		{"require_mfa+require_device", false, good, RequireMFA},
		{"require_mfa+require_device", true, good, Allow},
	}
	for _, tt := range tests {
		p := mustLoad(t, "default: deny\nrules:\n  - name: r\n    action: "+tt.action+"\n")
		d := p.Evaluate(Input{User: "a@example.com", MFA: tt.mfa, Device: tt.dev})
		if d.Action != tt.want {
			t.Errorf("%s mfa=%v dev=%+v: got %v, want %v", tt.action, tt.mfa, tt.dev, d.Action, tt.want)
		}
		if a, _ := ParseAction(tt.action); d.RuleAction != a {
			t.Errorf("RuleAction %v, want %v", d.RuleAction, a)
		}
	}
}

func TestRuleOrderDefaultAndBreakGlass(t *testing.T) {
	p := mustLoad(t, `
default: deny
break_glass: [BreakGlass@example.com]
rules:
  - name: first
    groups: [admins]
    action: require_mfa
  - name: second
    groups: [admins, staff]
    action: allow
`)
	tests := []struct {
		in   Input
		rule string
		want Action
		bg   bool
	}{
		{Input{User: "a@x", Groups: []string{"admins"}}, "first", RequireMFA, false},
		{Input{User: "a@x", Groups: []string{"staff"}}, "second", Allow, false},
		{Input{User: "a@x", Groups: []string{"other"}}, RuleDefault, Deny, false},
		{Input{User: "a@x"}, RuleDefault, Deny, false},
		{Input{User: "breakglass@example.com"}, RuleBreakGlass, Allow, true},
	}
	for _, tt := range tests {
		d := p.Evaluate(tt.in)
		if d.Rule != tt.rule || d.Action != tt.want || d.BreakGlass != tt.bg {
			t.Errorf("%+v: got rule %q action %v bg %v", tt.in, d.Rule, d.Action, d.BreakGlass)
		}
	}
	d := p.Evaluate(Input{User: "BREAKGLASS@example.com"})
	rec := d.Trace.Record()
	if !rec.BreakGlass || rec.WouldRule != RuleDefault || rec.WouldAction != "deny" {
		t.Errorf("break-glass trace %+v", rec)
	}
	if !strings.Contains(d.Trace.Text("en"), "break-glass") || !strings.Contains(d.Trace.Text("ja"), "緊急用") {
		t.Errorf("break-glass text:\n%s\n%s", d.Trace.Text("en"), d.Trace.Text("ja"))
	}
}

func TestDefaultActionsAndEmptyRules(t *testing.T) {
	p := mustLoad(t, "default: require_mfa\n")
	if d := p.Evaluate(Input{}); d.Action != RequireMFA || d.Rule != RuleDefault || d.RuleIndex != -1 {
		t.Errorf("got %+v", d)
	}
	var zero Trace
	if r := zero.Record(); r.Action != Deny {
		t.Errorf("zero trace must read as deny: %+v", r)
	}
}

func TestCIDRBoundariesThroughPolicy(t *testing.T) {
	p := mustLoad(t, `
default: deny
networks:
  v4: [192.0.2.64/26]
  v6: ["2001:db8:abcd:12::/64"]
rules:
  - {name: v4, networks: [v4], action: allow}
  - {name: v6, networks: [v6], action: require_mfa}
`)
	tests := map[string]string{
		"192.0.2.63": RuleDefault, "192.0.2.64": "v4", "192.0.2.127": "v4", "192.0.2.128": RuleDefault,
		"::ffff:192.0.2.64":                    "v4",
		"2001:db8:abcd:11:ffff:ffff:ffff:ffff": RuleDefault, "2001:db8:abcd:12::": "v6",
		"2001:db8:abcd:12:ffff:ffff:ffff:ffff": "v6", "2001:db8:abcd:13::": RuleDefault,
	}
	for a, want := range tests {
		if d := p.Evaluate(Input{IP: ip(a)}); d.Rule != want {
			t.Errorf("%s: rule %q, want %q", a, d.Rule, want)
		}
	}
}

func TestTimeWindows(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	london, _ := time.LoadLocation("Europe/London")
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	tests := []struct {
		name   string
		window string
		at     time.Time
		want   bool
	}{
		// 2026-03-08: New York springs forward at 02:00 EST -> 03:00 EDT.
		{"NY before DST 01:59 EST", `{zone: America/New_York, from: "01:00", to: "03:00"}`, time.Date(2026, 3, 8, 6, 59, 0, 0, time.UTC), true},
		{"NY after DST is 03:00 EDT", `{zone: America/New_York, from: "01:00", to: "03:00"}`, time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC), false},
		{"NY 08:00 EDT local after DST", `{zone: America/New_York, from: "08:00", to: "09:00"}`, time.Date(2026, 3, 9, 12, 0, 0, 0, time.UTC), true},
		{"NY 08:00 EST local before DST", `{zone: America/New_York, from: "08:00", to: "09:00"}`, time.Date(2026, 3, 6, 13, 0, 0, 0, time.UTC), true},
		{"NY same UTC hour is 07:00 before DST", `{zone: America/New_York, from: "08:00", to: "09:00"}`, time.Date(2026, 3, 6, 12, 0, 0, 0, time.UTC), false},
		// 2026-10-25: London falls back 02:00 BST -> 01:00 GMT; 01:30 happens twice.
		{"London 01:30 BST", `{zone: Europe/London, from: "01:00", to: "02:00"}`, time.Date(2026, 10, 25, 0, 30, 0, 0, time.UTC), true},
		{"London 01:30 GMT (repeated hour)", `{zone: Europe/London, from: "01:00", to: "02:00"}`, time.Date(2026, 10, 25, 1, 30, 0, 0, time.UTC), true},
		{"London 02:00 GMT", `{zone: Europe/London, from: "01:00", to: "02:00"}`, time.Date(2026, 10, 25, 2, 0, 0, 0, time.UTC), false},
		{"London summer 09:00 BST is 08:00 UTC", `{zone: Europe/London, from: "09:00", to: "17:00"}`, time.Date(2026, 7, 1, 8, 0, 0, 0, time.UTC), true},
		{"London winter 08:00 UTC is 08:00 GMT", `{zone: Europe/London, from: "09:00", to: "17:00"}`, time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC), false},
		// Windows crossing midnight: Friday 22:00 -> Saturday 06:00 belongs to Friday.
		{"night shift Fri 23:00", `{zone: Asia/Tokyo, weekdays: [fri], from: "22:00", to: "06:00"}`, time.Date(2026, 6, 12, 23, 0, 0, 0, tokyo), true},
		{"night shift Sat 05:59", `{zone: Asia/Tokyo, weekdays: [fri], from: "22:00", to: "06:00"}`, time.Date(2026, 6, 13, 5, 59, 0, 0, tokyo), true},
		{"night shift Sat 06:00", `{zone: Asia/Tokyo, weekdays: [fri], from: "22:00", to: "06:00"}`, time.Date(2026, 6, 13, 6, 0, 0, 0, tokyo), false},
		{"night shift Fri 03:00 belongs to Thu", `{zone: Asia/Tokyo, weekdays: [fri], from: "22:00", to: "06:00"}`, time.Date(2026, 6, 12, 3, 0, 0, 0, tokyo), false},
		{"night shift Fri 21:59", `{zone: Asia/Tokyo, weekdays: [fri], from: "22:00", to: "06:00"}`, time.Date(2026, 6, 12, 21, 59, 0, 0, tokyo), false},
		{"weekday range wraps fri..mon", `{zone: Asia/Tokyo, weekdays: [fri..mon]}`, time.Date(2026, 6, 14, 12, 0, 0, 0, tokyo), true},
		{"weekday range wraps excludes wed", `{zone: Asia/Tokyo, weekdays: [fri-mon]}`, time.Date(2026, 6, 10, 12, 0, 0, 0, tokyo), false},
		{"to 24:00", `{zone: UTC, from: "22:00", to: "24:00"}`, time.Date(2026, 6, 10, 23, 59, 0, 0, time.UTC), true},
		{"00:00-24:00 whole day", `{zone: UTC, from: "00:00", to: "24:00"}`, time.Date(2026, 6, 10, 0, 0, 0, 0, time.UTC), true},
		{"zone changes the day", `{zone: Asia/Tokyo, weekdays: [thu]}`, time.Date(2026, 6, 10, 20, 0, 0, 0, time.UTC), true}, // Wed 20:00 UTC = Thu 05:00 JST
		{"date range inclusive end local", `{zone: Asia/Tokyo, dates: {to: 2026-06-10}}`, time.Date(2026, 6, 10, 14, 59, 0, 0, time.UTC), true},
		{"date range past end local", `{zone: Asia/Tokyo, dates: {to: 2026-06-10}}`, time.Date(2026, 6, 10, 15, 0, 0, 0, time.UTC), false},
		{"input zone does not matter", `{zone: Europe/London, from: "09:00", to: "10:00"}`, time.Date(2026, 1, 5, 4, 30, 0, 0, ny), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_ = london
			p := mustLoad(t, "default: deny\nrules:\n  - name: r\n    time: "+tt.window+"\n    action: allow\n")
			if got := p.Evaluate(Input{Time: tt.at}).Rule == "r"; got != tt.want {
				t.Fatalf("at %v: inside=%v, want %v", tt.at, got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"missing default", "rules: []\n", `policy.yaml:1: missing "default"`},
		{"empty", "", `policy.yaml: empty policy`},
		{"unknown top key", "default: deny\npolicy: x\n", `policy.yaml:2: policy: unknown key "policy"`},
		{"unknown rule key", "default: deny\nrules:\n  - name: a\n    action: allow\n    netwroks: [x]\n", `policy.yaml:5: rule "a": unknown key "netwroks"`},
		{"unknown network", "default: deny\nnetworks:\n  office: [10.0.0.0/8]\nrules:\n  - name: office\n    networks:\n      - ofice\n    action: allow\n", `policy.yaml:7: rule "office": unknown network "ofice"`},
		{"unknown network in network", "default: deny\nnetworks:\n  office: [10.0.0.0/8, branch]\n", `policy.yaml:3: network "office": unknown network "branch"`},
		{"network cycle", "default: deny\nnetworks:\n  a: [b]\n  b: [a]\n", `refers to itself`},
		{"bad CIDR", "default: deny\nnetworks:\n  office:\n    - 10.0.0.0/8\n    - 10.0.0.0/33\n", `policy.yaml:5: network "office": bad CIDR "10.0.0.0/33"`},
		{"bad time", "default: deny\nrules:\n  - name: a\n    time: {zone: UTC, from: \"25:00\", to: \"26:00\"}\n    action: allow\n", `policy.yaml:4: rule "a": time: from: bad time "25:00"`},
		{"bad zone", "default: deny\nrules:\n  - name: a\n    time:\n      zone: Mars/Olympus\n    action: allow\n", `policy.yaml:5: rule "a": time: unknown zone "Mars/Olympus"`},
		{"missing zone", "default: deny\nrules:\n  - name: a\n    time: {from: \"08:00\", to: \"09:00\"}\n    action: allow\n", `"zone" is required`},
		{"bad weekday", "default: deny\nrules:\n  - name: a\n    time: {zone: UTC, weekdays: [funday]}\n    action: allow\n", `bad weekday "funday"`},
		{"bad date", "default: deny\nrules:\n  - name: a\n    time: {zone: UTC, dates: {from: 2026-13-01}}\n    action: allow\n", `bad date "2026-13-01"`},
		{"from without to", "default: deny\nrules:\n  - name: a\n    time: {zone: UTC, from: \"08:00\"}\n    action: allow\n", `give both "from" and "to"`},
		{"bad action", "default: deny\nrules:\n  - name: a\n    action: permit\n", `policy.yaml:4: rule "a": unknown action "permit"`},
		{"bad default", "default: maybe\n", `policy.yaml:1: default: unknown action "maybe"`},
		{"missing action", "default: deny\nrules:\n  - name: a\n    users: [x]\n", `policy.yaml:3: rule "a": missing "action"`},
		{"missing name", "default: deny\nrules:\n  - action: allow\n", `policy.yaml:3: rule 1: missing "name"`},
		{"duplicate rule", "default: deny\nrules:\n  - {name: a, action: allow}\n  - {name: a, action: deny}\n", `policy.yaml:4: rule 2: duplicate rule name "a" (first at line 3)`},
		{"reserved name", "default: deny\nrules:\n  - {name: default, action: allow}\n", `reserved`},
		{"unknown client type", "default: deny\nrules:\n  - name: a\n    client_types: [browsr]\n    action: allow\n", `policy.yaml:4: rule "a": client_types: unknown value "browsr"`},
		{"unknown legacy app", "default: deny\nrules:\n  - name: a\n    legacy_apps: [Fax]\n    action: allow\n", `unknown value "Fax"`},
		{"bad device", "default: deny\nrules:\n  - name: a\n    device: maybe\n    action: allow\n", `policy.yaml:4: rule "a": device "maybe"`},
		{"bad mfa", "default: deny\nrules:\n  - name: a\n    mfa: sometimes\n    action: allow\n", `mfa "sometimes"`},
		{"bad user pattern", "default: deny\nrules:\n  - name: a\n    users: ['a*b@x']\n    action: allow\n", `only "*@domain"`},
		{"empty list", "default: deny\nrules:\n  - name: a\n    groups: []\n    action: allow\n", `groups is empty`},
		{"rules not a list", "default: deny\nrules: {a: b}\n", `rules must be a list`},
		{"syntax error", "default: deny\nrules:\n  - name: [unclosed\n", `policy.yaml:3: invalid YAML`},
		{"alias refused", "default: deny\nx: &a [1]\nrules:\n  - name: a\n    groups: *a\n    action: allow\n", `unknown key "x"`},
		{"version", "version: 2\ndefault: deny\n", `unsupported policy version "2"`},
		{"two documents", "default: deny\n---\ndefault: allow\n", `only one YAML document`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load("policy.yaml", []byte(tt.doc), nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v\nwant it to contain %q", err, tt.want)
			}
		})
	}
}

func TestDemoPolicy(t *testing.T) {
	b, err := os.ReadFile("testdata/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Load("demo.yaml", b, nil)
	if err != nil {
		t.Fatal(err)
	}
	office, home := ip("203.0.113.20"), ip("192.0.2.9")
	tests := []struct {
		in   Input
		rule string
		want Action
	}{
		{Input{User: "u@example.com", ClientType: "legacy-proxied", LegacyApp: "ActiveSync", IP: home}, "block-legacy-outside", Deny},
		{Input{User: "u@example.com", ClientType: "legacy-proxied", LegacyApp: "ActiveSync", IP: office}, "legacy-in-office", Allow},
		{Input{User: "u@example.com", ClientType: "active-direct", IP: ip("198.51.100.10")}, "legacy-in-office", Allow}, // vpn via corporate
		{Input{User: "u@example.com", ClientType: "browser", IP: office}, "office", Allow},
		{Input{User: "u@example.com", ClientType: "browser", IP: home}, "outside", RequireMFA},
		{Input{User: "u@example.com", ClientType: "rich-client", IP: home, MFA: true}, "outside", Allow},
		{Input{User: "u@example.com", Groups: []string{"admins"}, ClientType: "browser", IP: office}, "admins-need-device", RequireMFAAndDevice},
		{Input{User: "breakglass@example.com", ClientType: "legacy-proxied", IP: home}, RuleBreakGlass, Allow},
	}
	for _, tt := range tests {
		d := p.Evaluate(tt.in)
		if d.Rule != tt.rule || d.Action != tt.want {
			t.Errorf("%+v: got %q %v, want %q %v", tt.in, d.Rule, d.Action, tt.rule, tt.want)
		}
	}
}

func TestTraceJSONAndText(t *testing.T) {
	p := mustLoad(t, `
default: deny
networks: {office: [203.0.113.0/24]}
rules:
  - {name: office, networks: [office], action: allow}
  - {name: admins, groups: [admins], action: require_mfa}
`)
	d := p.Evaluate(Input{User: "a@x", Groups: []string{"admins"}, IP: ip("192.0.2.1")})
	b, err := json.Marshal(d.Trace)
	if err != nil {
		t.Fatal(err)
	}
	var rec TraceRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatalf("trace JSON does not read back: %v\n%s", err, b)
	}
	if rec.Rule != "admins" || rec.Action != RequireMFA || len(rec.Steps) != 2 ||
		rec.Steps[0].Code != ReasonNetworkOutside || rec.Steps[0].Condition != "networks" || rec.Steps[0].Detail != "[office]" ||
		!rec.Steps[1].Matched || rec.Steps[1].Satisfied[0] != "groups" {
		t.Fatalf("record %s", b)
	}
	en, ja := rec.Text("en"), rec.Text("ja")
	for _, want := range []string{`rule "office": skipped — client address is outside the networks [office]`, `rule "admins": matched (groups)`, "decision: require_mfa"} {
		if !strings.Contains(en, want) {
			t.Errorf("en text lacks %q:\n%s", want, en)
		}
	}
	if !strings.Contains(ja, "ネットワーク [office] の外です") || ja == en {
		t.Errorf("ja text:\n%s", ja)
	}
	for code, txt := range reasonText {
		if txt[0] == "" || txt[1] == "" || Reason(code).Text("ja", "x") == Reason(code).Text("en", "x") {
			t.Errorf("reason %s lacks a translation", code)
		}
	}
}

func FuzzParse(f *testing.F) {
	demo, _ := os.ReadFile("testdata/demo.yaml")
	f.Add(demo)
	f.Add([]byte("default: deny\nrules:\n  - {name: a, time: {zone: UTC, from: \"22:00\", to: \"06:00\", weekdays: [fri..mon]}, action: allow}\n"))
	f.Add([]byte("default: deny\nnetworks: {a: [b], b: [10.0.0.0/8]}\nrules: [{name: r, networks: [a], not_networks: [b], action: deny}]\n"))
	f.Add([]byte("x: &a [1, *a]\n"))
	f.Add([]byte("- - - [\n"))
	f.Add([]byte("default: !!binary deny\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Load("fuzz.yaml", data, nil)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		// A policy that compiles must evaluate and explain without panicking.
		d := p.Evaluate(Input{User: "a@b", Groups: []string{"g"}, IP: ip("192.0.2.1"), Time: noon})
		if _, err := json.Marshal(d.Trace); err != nil {
			t.Fatal(err)
		}
	})
}
