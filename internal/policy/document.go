package policy

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/sekisho/sekisho/internal/ipset"
)

// Document is a parsed, syntactically valid policy document, with source lines kept so that
// Compile can report "policy.yaml:12: …" for problems it finds later (unknown networks).
type Document struct {
	File       string
	Networks   []NetworkDef // in source order
	BreakGlass []Value      // UPNs allowed regardless of rules; every use is flagged
	Default    ActionSpec
	Rules      []RuleSpec
}

// Value is one scalar from the document with its source line.
type Value struct {
	S    string
	Line int
}

// NetworkDef is a named network defined in the document: CIDRs, single addresses, or names of
// other networks (defined in the document or supplied by the caller's NetworkResolver).
type NetworkDef struct {
	Name    string
	Line    int
	Entries []Value
}

// ActionSpec is an action as written, with its line.
type ActionSpec struct {
	Action Action
	Line   int
}

// RuleSpec is one rule as written. Conditions are ANDed; values inside one condition are ORed.
type RuleSpec struct {
	Name         string
	Line         int
	Description  string
	Users        []Value // UPNs, or "*@example.com" for a whole domain; case-insensitive
	Groups       []Value // group names; case-insensitive
	Applications []Value // application names; case-insensitive
	Protocols    []Value // saml, wsfed, wstrust, oidc, bridge-imap, bridge-pop, bridge-smtp
	ClientTypes  []Value // browser, rich-client, legacy-proxied, active-direct, oidc, bridge-*
	LegacyApps   []Value // ActiveSync, WebServices, Imap, Pop, PopImap, SMTP, RPC, Mapi, …
	Networks     []Value // client IP inside any of these networks
	NotNetworks  []Value // client IP inside none of these networks
	Device       DeviceCond
	DeviceLine   int
	MFA          *bool
	MFALine      int
	Time         []TimeWindow // ORed; empty means any time
	TimeLine     int
	Action       ActionSpec
	order        []condKind // conditions in the order written, for the trace
}

// values returns the field of a condition written as a list of values (users … not_networks),
// nil for the other conditions.
func (rs *RuleSpec) values(k condKind) *[]Value {
	lists := [...]*[]Value{condUsers: &rs.Users, condGroups: &rs.Groups, condApplications: &rs.Applications,
		condProtocols: &rs.Protocols, condClientTypes: &rs.ClientTypes, condLegacyApps: &rs.LegacyApps,
		condNetworks: &rs.Networks, condNotNetworks: &rs.NotNetworks}
	if int(k) < len(lists) {
		return lists[k]
	}
	return nil
}

// DeviceCond is the device-certificate condition.
type DeviceCond uint8

const (
	DeviceAny      DeviceCond = iota // no condition
	DeviceRequired                   // a valid certificate bound to this user was presented
	DevicePresent                    // some certificate was presented (valid or not)
	DeviceAbsent                     // no certificate was presented
	DeviceInvalid                    // a certificate was presented but is not valid or not bound to this user
)

var deviceNames = map[string]DeviceCond{"required": DeviceRequired, "present": DevicePresent, "absent": DeviceAbsent, "invalid": DeviceInvalid}

func (d DeviceCond) String() string {
	for k, v := range deviceNames {
		if v == d {
			return k
		}
	}
	return "any"
}

// Known enumerations. They mirror internal/clientctx (checked by a test) so that the engine
// stays free of HTTP.
var (
	knownClientTypes = []string{"browser", "rich-client", "legacy-proxied", "active-direct", "oidc", "bridge-imap", "bridge-pop", "bridge-smtp", "api", "scim"}
	knownProtocols   = []string{"saml", "wsfed", "wstrust", "oidc", "bridge-imap", "bridge-pop", "bridge-smtp", "api", "scim"}
	knownLegacyApps  = []string{"ActiveSync", "WebServices", "Imap", "Pop", "PopImap", "SMTP", "RPC", "Mapi", "Powershell", "Autodiscover", "OfflineAddressBook"}

	// closedValues are the list conditions whose values come from a known enumeration.
	closedValues = map[condKind][]string{condProtocols: knownProtocols, condClientTypes: knownClientTypes, condLegacyApps: knownLegacyApps}
)

// Error is one problem in a policy document.
type Error struct {
	File string
	Line int // 0 when unknown
	Msg  string
}

func (e *Error) Error() string {
	f := e.File
	if f == "" {
		f = "policy"
	}
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", f, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", f, e.Msg)
}

// Errors is every problem found, in source order; the admin fixes them all in one pass.
type Errors []*Error

func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

type docParser struct {
	file string
	errs Errors
}

func (p *docParser) errf(line int, format string, args ...any) {
	if len(p.errs) >= 100 { // enough to fix; bounds work on hostile input
		return
	}
	p.errs = append(p.errs, &Error{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// Parse parses a policy document. file is used in error messages only. Every error is an
// Errors value whose entries carry line numbers.
func Parse(file string, data []byte) (doc *Document, err error) {
	p := &docParser{file: file}
	defer func() {
		// The YAML library is third-party code; a panic on hostile input must not take the
		// server down.
		if r := recover(); r != nil {
			doc, err = nil, Errors{{File: file, Msg: fmt.Sprintf("invalid YAML: %v", r)}}
		}
	}()
	f, perr := parser.ParseBytes(data, 0)
	if perr != nil {
		var ye yaml.Error
		if errors.As(perr, &ye) {
			line := 0
			if tk := ye.GetToken(); tk != nil && tk.Position != nil {
				line = tk.Position.Line
			}
			return nil, Errors{{File: file, Line: line, Msg: "invalid YAML: " + ye.GetMessage()}}
		}
		return nil, Errors{{File: file, Msg: "invalid YAML: " + perr.Error()}}
	}
	doc = &Document{File: file}
	var body ast.Node
	for i, d := range f.Docs {
		if d == nil || d.Body == nil {
			continue
		}
		if body != nil {
			p.errf(lineOf(d.Body), "only one YAML document is allowed (document %d)", i+1)
			break
		}
		body = d.Body
	}
	p.document(doc, body)
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	return doc, nil
}

func lineOf(n ast.Node) int {
	if n == nil {
		return 0
	}
	if tk := n.GetToken(); tk != nil && tk.Position != nil {
		return tk.Position.Line
	}
	return 0
}

// deref strips anchors; aliases and tags are refused (no billion-laughs, no surprises).
func (p *docParser) deref(n ast.Node) ast.Node {
	for {
		switch v := n.(type) {
		case *ast.AnchorNode:
			n = v.Value
		case *ast.AliasNode:
			p.errf(lineOf(n), "YAML aliases are not supported")
			return nil
		case *ast.TagNode:
			p.errf(lineOf(n), "YAML tags are not supported")
			return nil
		default:
			return n
		}
	}
}

type field struct {
	key   string
	line  int
	value ast.Node
}

// fields returns the entries of a mapping; keys must be unique and known (allowed).
func (p *docParser) fields(n ast.Node, what string, allowed ...string) []field {
	n = p.deref(n)
	if n == nil {
		return nil
	}
	if _, ok := n.(*ast.NullNode); ok {
		return nil
	}
	m, ok := n.(*ast.MappingNode)
	if !ok {
		p.errf(lineOf(n), "%s must be a mapping", what)
		return nil
	}
	seen := map[string]bool{}
	var out []field
	for _, mv := range m.Values {
		if mv == nil || mv.Key == nil {
			continue
		}
		k, ok := p.scalar(mv.Key)
		line := lineOf(mv.Key)
		if !ok {
			p.errf(line, "%s: keys must be strings", what)
			continue
		}
		if seen[k] {
			p.errf(line, "%s: duplicate key %q", what, k)
			continue
		}
		seen[k] = true
		if allowed != nil && !contains(allowed, k) {
			p.errf(line, "%s: unknown key %q (known: %s)", what, k, strings.Join(allowed, ", "))
			continue
		}
		out = append(out, field{k, line, mv.Value})
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// scalar returns the text of a scalar node.
func (p *docParser) scalar(n ast.Node) (string, bool) {
	n = p.deref(n)
	switch v := n.(type) {
	case *ast.StringNode:
		return v.Value, true
	case *ast.LiteralNode:
		if v.Value != nil {
			return v.Value.Value, true
		}
		return "", true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		if tk := n.GetToken(); tk != nil {
			return tk.Value, true
		}
	case *ast.MappingKeyNode:
		return p.scalar(v.Value)
	}
	return "", false
}

func (p *docParser) str(f field, what string) (string, bool) {
	s, ok := p.scalar(f.value)
	if !ok {
		p.errf(f.line, "%s: %s must be a string", what, f.key)
		return "", false
	}
	return strings.TrimSpace(s), true
}

// list accepts a sequence of scalars or one scalar.
func (p *docParser) list(f field, what string) []Value {
	n := p.deref(f.value)
	if n == nil {
		return nil
	}
	if s, ok := p.scalar(n); ok {
		return []Value{{strings.TrimSpace(s), f.line}}
	}
	seq, ok := n.(*ast.SequenceNode)
	if !ok {
		p.errf(f.line, "%s: %s must be a list of strings", what, f.key)
		return nil
	}
	out := make([]Value, 0, len(seq.Values))
	for _, e := range seq.Values {
		s, ok := p.scalar(e)
		l := lineOf(e)
		if l == 0 {
			l = f.line
		}
		if !ok {
			p.errf(l, "%s: %s must be a list of strings", what, f.key)
			continue
		}
		s = strings.TrimSpace(s)
		if s == "" {
			p.errf(l, "%s: empty value in %s", what, f.key)
			continue
		}
		out = append(out, Value{s, l})
	}
	if len(out) == 0 && len(seq.Values) == 0 {
		p.errf(f.line, "%s: %s is empty (remove the key to mean \"any\")", what, f.key)
	}
	return out
}

func (p *docParser) document(doc *Document, body ast.Node) {
	if body == nil {
		p.errf(0, "empty policy: a \"default\" action is required")
		return
	}
	haveDefault := false
	for _, f := range p.fields(body, "policy", "version", "networks", "break_glass", "default", "rules") {
		switch f.key {
		case "version":
			if s, ok := p.str(f, "policy"); ok && s != "1" {
				p.errf(f.line, "unsupported policy version %q (only 1)", s)
			}
		case "networks":
			p.networks(doc, f)
		case "break_glass":
			doc.BreakGlass = p.list(f, "break_glass")
		case "default":
			haveDefault = true
			if s, ok := p.str(f, "policy"); ok {
				a, err := ParseAction(s)
				if err != nil {
					p.errf(f.line, "default: %v", err)
				}
				doc.Default = ActionSpec{a, f.line}
			}
		case "rules":
			p.rules(doc, f)
		}
	}
	if !haveDefault {
		p.errf(lineOf(body), "missing \"default\" action (write \"default: deny\")")
	}
}

func (p *docParser) networks(doc *Document, f field) {
	for _, nf := range p.fields(f.value, "networks") {
		if !validName(nf.key) {
			p.errf(nf.line, "network %q: names use letters, digits, '-', '_' and '.', starting with a letter", nf.key)
			continue
		}
		what := fmt.Sprintf("network %q", nf.key)
		entries := p.list(field{key: "entries", line: nf.line, value: nf.value}, what)
		for _, e := range entries {
			if _, err := ipset.ParsePrefix(e.S); err != nil && !validName(e.S) {
				p.errf(e.Line, "%s: %v", what, err)
			}
		}
		doc.Networks = append(doc.Networks, NetworkDef{Name: nf.key, Line: nf.line, Entries: entries})
	}
}

func validName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'):
		default:
			return false
		}
	}
	return true
}

var ruleKeys = []string{"name", "description", "users", "groups", "applications", "protocols",
	"client_types", "legacy_apps", "networks", "not_networks", "device", "mfa", "time", "action"}

func (p *docParser) rules(doc *Document, f field) {
	n := p.deref(f.value)
	if n == nil {
		return
	}
	if _, ok := n.(*ast.NullNode); ok {
		return
	}
	seq, ok := n.(*ast.SequenceNode)
	if !ok {
		p.errf(f.line, "rules must be a list")
		return
	}
	names := map[string]int{}
	for i, rn := range seq.Values {
		r := RuleSpec{Line: lineOf(rn)}
		what := fmt.Sprintf("rule %d", i+1)
		all := p.fields(rn, what)
		for _, rf := range all {
			if rf.key == "name" {
				if s, ok := p.str(rf, what); ok {
					if !validName(s) {
						p.errf(rf.line, "%s: name %q: use letters, digits, '-', '_' and '.', starting with a letter", what, s)
					} else if s == "default" || s == "break_glass" {
						p.errf(rf.line, "%s: name %q is reserved", what, s)
					} else if prev, dup := names[s]; dup {
						p.errf(rf.line, "%s: duplicate rule name %q (first at line %d)", what, s, prev)
					} else {
						names[s] = rf.line
					}
					r.Name = s
					what = fmt.Sprintf("rule %q", s)
				}
			}
		}
		if r.Name == "" {
			p.errf(r.Line, "%s: missing \"name\"", what)
		}
		var fs []field
		for _, rf := range all {
			if !contains(ruleKeys, rf.key) {
				p.errf(rf.line, "%s: unknown key %q (known: %s)", what, rf.key, strings.Join(ruleKeys, ", "))
				continue
			}
			fs = append(fs, rf)
		}
		haveAction := false
		for _, rf := range fs {
			switch rf.key {
			case "name":
			case "description":
				r.Description, _ = p.str(rf, what)
			case "users":
				r.Users = p.list(rf, what)
				for _, v := range r.Users {
					if strings.Contains(v.S, "*") && (!strings.HasPrefix(v.S, "*@") || strings.Count(v.S, "*") > 1 || len(v.S) < 3) {
						p.errf(v.Line, "%s: user pattern %q: only \"*@domain\" is supported", what, v.S)
					}
				}
				r.order = append(r.order, condUsers)
			case "groups", "applications", "networks", "not_networks":
				k := condNamed(rf.key)
				*r.values(k) = p.list(rf, what)
				r.order = append(r.order, k)
			case "protocols", "client_types", "legacy_apps":
				k := condNamed(rf.key)
				*r.values(k) = p.enumList(rf, what, closedValues[k])
				r.order = append(r.order, k)
			case "device":
				if s, ok := p.str(rf, what); ok {
					d, known := deviceNames[strings.ToLower(s)]
					if !known {
						p.errf(rf.line, "%s: device %q: want required, present, absent or invalid", what, s)
					}
					r.Device, r.DeviceLine = d, rf.line
					r.order = append(r.order, condDevice)
				}
			case "mfa":
				if s, ok := p.str(rf, what); ok {
					b, err := strconv.ParseBool(s)
					if err != nil {
						p.errf(rf.line, "%s: mfa %q: want true or false", what, s)
					}
					r.MFA, r.MFALine = &b, rf.line
					r.order = append(r.order, condMFA)
				}
			case "time":
				r.Time = p.timeWindows(rf, what)
				r.TimeLine = rf.line
				r.order = append(r.order, condTime)
			case "action":
				haveAction = true
				if s, ok := p.str(rf, what); ok {
					a, err := ParseAction(s)
					if err != nil {
						p.errf(rf.line, "%s: %v", what, err)
					}
					r.Action = ActionSpec{a, rf.line}
				}
			}
		}
		if !haveAction {
			p.errf(r.Line, "%s: missing \"action\"", what)
		}
		doc.Rules = append(doc.Rules, r)
	}
}

// enumList checks values against a closed list, case-insensitively, and canonicalises them.
func (p *docParser) enumList(f field, what string, known []string) []Value {
	vs := p.list(f, what)
	for i, v := range vs {
		found := false
		for _, k := range known {
			if strings.EqualFold(k, v.S) {
				vs[i].S, found = k, true
				break
			}
		}
		if !found {
			p.errf(v.Line, "%s: %s: unknown value %q (known: %s)", what, f.key, v.S, strings.Join(known, ", "))
		}
	}
	return vs
}

// KnownClientTypes lists the client types a rule may name.
func KnownClientTypes() []string { return append([]string(nil), knownClientTypes...) }

// KnownLegacyApps lists the Exchange client application names a rule may name.
func KnownLegacyApps() []string { return append([]string(nil), knownLegacyApps...) }

// KnownProtocols lists the protocols a rule may name.
func KnownProtocols() []string { return append([]string(nil), knownProtocols...) }
