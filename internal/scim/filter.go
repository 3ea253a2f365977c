package scim

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// A filter is RFC 7644 §3.4.2.2's: attribute expressions (eq ne co sw ew gt ge lt le pr),
// and / or / not with parentheses, and value paths (emails[type eq "work"]). Operators
// and attribute names are case-insensitive.
type filter interface{ isFilter() }

type (
	// compare is "attr op value"; op "pr" has no value.
	compare struct {
		attr  attrRef
		op    string
		value any // string, float64, bool or nil
	}
	logical struct {
		and         bool
		left, right filter
	}
	not       struct{ f filter }
	valuePath struct {
		attr attrRef // a multi-valued attribute
		f    filter  // over its elements' sub-attributes
	}
)

func (compare) isFilter()   {}
func (logical) isFilter()   {}
func (not) isFilter()       {}
func (valuePath) isFilter() {}

// attrRef is an attribute and, optionally, one of its sub-attributes. URN-qualified names
// are split into the schema and the name.
type attrRef struct {
	urn  string // "" = the resource's core schema
	name string
	sub  string
}

func (a attrRef) String() string {
	s := a.name
	if a.urn != "" {
		s = a.urn + ":" + s
	}
	if a.sub != "" {
		s += "." + a.sub
	}
	return s
}

// maxFilterLen bounds a filter; maxFilterDepth bounds its nesting.
const (
	maxFilterLen   = 4096
	maxFilterDepth = 32
)

var compareOps = map[string]bool{"eq": true, "ne": true, "co": true, "sw": true, "ew": true, "gt": true, "ge": true, "lt": true, "le": true}

// parseFilter parses a filter; the error is the sentence for an invalidFilter answer.
func parseFilter(s string) (filter, error) {
	if len(s) > maxFilterLen {
		return nil, fmt.Errorf("the filter is longer than %d characters", maxFilterLen)
	}
	p := &filterParser{s: s}
	f, err := p.or(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i < len(p.s) {
		return nil, fmt.Errorf("unexpected %q at offset %d", p.rest(), p.i)
	}
	return f, nil
}

type filterParser struct {
	s string
	i int
}

func (p *filterParser) rest() string {
	r := p.s[p.i:]
	if len(r) > 20 {
		r = r[:20] + "…"
	}
	return r
}

func (p *filterParser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

// word reads a run of characters that may form an attribute path, keyword or literal.
func (p *filterParser) word() string {
	p.space()
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c == ' ' || c == '\t' || c == '(' || c == ')' || c == '[' || c == ']' || c == '"' {
			break
		}
		p.i++
	}
	return p.s[start:p.i]
}

// keyword consumes kw (case-insensitive) followed by a space or an opening parenthesis.
func (p *filterParser) keyword(kw string) bool {
	p.space()
	if len(p.s)-p.i < len(kw) || !strings.EqualFold(p.s[p.i:p.i+len(kw)], kw) {
		return false
	}
	j := p.i + len(kw)
	if j < len(p.s) && p.s[j] != ' ' && p.s[j] != '(' && p.s[j] != '\t' {
		return false
	}
	p.i = j
	return true
}

func (p *filterParser) or(depth int) (filter, error) {
	left, err := p.and(depth)
	if err != nil {
		return nil, err
	}
	for p.keyword("or") {
		right, err := p.and(depth)
		if err != nil {
			return nil, err
		}
		left = logical{and: false, left: left, right: right}
	}
	return left, nil
}

func (p *filterParser) and(depth int) (filter, error) {
	left, err := p.unary(depth)
	if err != nil {
		return nil, err
	}
	for p.keyword("and") {
		right, err := p.unary(depth)
		if err != nil {
			return nil, err
		}
		left = logical{and: true, left: left, right: right}
	}
	return left, nil
}

func (p *filterParser) unary(depth int) (filter, error) {
	if depth > maxFilterDepth {
		return nil, fmt.Errorf("the filter is nested more than %d levels", maxFilterDepth)
	}
	p.space()
	if p.keyword("not") {
		p.space()
		if p.i >= len(p.s) || p.s[p.i] != '(' {
			return nil, fmt.Errorf("\"not\" must be followed by a parenthesised filter")
		}
		f, err := p.group(depth + 1)
		if err != nil {
			return nil, err
		}
		return not{f}, nil
	}
	if p.i < len(p.s) && p.s[p.i] == '(' {
		return p.group(depth + 1)
	}
	return p.attrExp(depth)
}

func (p *filterParser) group(depth int) (filter, error) {
	p.i++ // (
	f, err := p.or(depth)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i >= len(p.s) || p.s[p.i] != ')' {
		return nil, fmt.Errorf("missing \")\" at offset %d", p.i)
	}
	p.i++
	return f, nil
}

func (p *filterParser) attrExp(depth int) (filter, error) {
	start := p.i
	name := p.word()
	if name == "" {
		if p.i >= len(p.s) {
			return nil, fmt.Errorf("the filter ends where an attribute was expected")
		}
		return nil, fmt.Errorf("an attribute was expected at offset %d, not %q", start, p.rest())
	}
	ref, err := parseAttrRef(name)
	if err != nil {
		return nil, err
	}
	if p.i < len(p.s) && p.s[p.i] == '[' {
		if ref.sub != "" {
			return nil, fmt.Errorf("%s: a value filter goes after the attribute, not its sub-attribute", name)
		}
		p.i++
		inner, err := p.or(depth + 1)
		if err != nil {
			return nil, err
		}
		p.space()
		if p.i >= len(p.s) || p.s[p.i] != ']' {
			return nil, fmt.Errorf("missing \"]\" at offset %d", p.i)
		}
		p.i++
		if containsValuePath(inner) {
			return nil, fmt.Errorf("%s: value filters cannot be nested", name)
		}
		return valuePath{attr: ref, f: inner}, nil
	}
	opAt := p.i
	op := strings.ToLower(p.word())
	if op == "pr" {
		return compare{attr: ref, op: "pr"}, nil
	}
	if !compareOps[op] {
		if op == "" {
			return nil, fmt.Errorf("an operator was expected after %s", name)
		}
		return nil, fmt.Errorf("unknown operator %q at offset %d (eq ne co sw ew gt ge lt le pr)", op, opAt)
	}
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	return compare{attr: ref, op: op, value: v}, nil
}

func containsValuePath(f filter) bool {
	switch f := f.(type) {
	case valuePath:
		return true
	case logical:
		return containsValuePath(f.left) || containsValuePath(f.right)
	case not:
		return containsValuePath(f.f)
	}
	return false
}

// value reads a comparison value: a JSON string, a number, true, false or null.
func (p *filterParser) value() (any, error) {
	p.space()
	if p.i >= len(p.s) {
		return nil, fmt.Errorf("the filter ends where a value was expected")
	}
	if p.s[p.i] == '"' {
		j := p.i + 1
		for j < len(p.s) && p.s[j] != '"' {
			if p.s[j] == '\\' {
				j++
			}
			j++
		}
		if j >= len(p.s) {
			return nil, fmt.Errorf("unterminated string at offset %d", p.i)
		}
		lit := p.s[p.i : j+1]
		str, err := strconv.Unquote(lit)
		if err != nil {
			// JSON escapes that Go's syntax lacks (\/) are the only difference that matters.
			str, err = strconv.Unquote(strings.ReplaceAll(lit, `\/`, `/`))
			if err != nil {
				return nil, fmt.Errorf("bad string %s", lit)
			}
		}
		p.i = j + 1
		return str, nil
	}
	w := p.word()
	switch strings.ToLower(w) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	case "null":
		return nil, nil
	}
	// A JSON number (RFC 7644 §3.4.2.2 takes RFC 7159's): ParseFloat alone would also take
	// Go's forms (0x1p4, -Inf, 1_0 after a prefix) and JSON's excluded ones (01, 1.).
	if w != "" && (unicode.IsDigit(rune(w[0])) || w[0] == '-') && json.Valid([]byte(w)) {
		if f, err := strconv.ParseFloat(w, 64); err == nil {
			return f, nil
		}
	}
	return nil, fmt.Errorf("bad value %q: a quoted string, number, true, false or null", w)
}

// knownURNs are the schemas an attribute may be qualified with.
var knownURNs = []string{schemaUser, schemaGroup, schemaEnterprise, schemaMSGroup}

// parseAttrRef reads attr[.sub], optionally qualified by a schema URN.
func parseAttrRef(s string) (attrRef, error) {
	var ref attrRef
	rest := s
	if strings.HasPrefix(strings.ToLower(s), "urn:") || strings.HasPrefix(strings.ToLower(s), "http") {
		found := false
		for _, u := range knownURNs {
			if len(s) > len(u)+1 && strings.EqualFold(s[:len(u)], u) && s[len(u)] == ':' {
				ref.urn, rest, found = u, s[len(u)+1:], true
				break
			}
		}
		if !found {
			return ref, fmt.Errorf("attribute %q: unknown schema", s)
		}
		if ref.urn == schemaUser || ref.urn == schemaGroup {
			ref.urn = "" // the core schema's attributes are the resource's own
		}
	}
	name, sub, hasSub := strings.Cut(rest, ".")
	if !validName(name) || hasSub && !validName(sub) {
		return ref, fmt.Errorf("attribute %q: not an attribute name", s)
	}
	ref.name, ref.sub = name, sub
	return ref, nil
}

// validName is RFC 7643's ATTRNAME (ALPHA *(nameChar)), with "$ref".
func validName(s string) bool {
	if s == "$ref" {
		return true
	}
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isAlpha(c) && !(c >= '0' && c <= '9') && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// matches evaluates f against a resource (or an element of a multi-valued attribute).
func matches(f filter, res map[string]any) bool {
	switch f := f.(type) {
	case logical:
		if f.and {
			return matches(f.left, res) && matches(f.right, res)
		}
		return matches(f.left, res) || matches(f.right, res)
	case not:
		return !matches(f.f, res)
	case valuePath:
		for _, el := range asList(lookup(res, attrRef{urn: f.attr.urn, name: f.attr.name})) {
			if m, ok := el.(map[string]any); ok && matches(f.f, m) {
				return true
			}
		}
		return false
	case compare:
		v := lookup(res, f.attr)
		// A comparison with a multi-valued attribute matches when one of its values does
		// (for complex values, their "value" sub-attribute).
		for _, x := range asList(v) {
			if m, ok := x.(map[string]any); ok {
				x = getCI(m, "value")
			}
			if compareOne(f, x) {
				return true
			}
		}
		return false
	}
	return false
}

func asList(v any) []any {
	switch v := v.(type) {
	case nil:
		return []any{nil}
	case []any:
		if len(v) == 0 {
			return []any{nil}
		}
		return v
	}
	return []any{v}
}

// caseExact attributes compare strings exactly; every other string case-insensitively.
var caseExact = map[string]bool{"id": true, "externalid": true, "value": false}

func compareOne(f compare, x any) bool {
	if f.op == "pr" {
		switch x := x.(type) {
		case nil:
			return false
		case string:
			return x != ""
		}
		return true
	}
	switch want := f.value.(type) {
	case nil:
		switch f.op {
		case "eq":
			return x == nil
		case "ne":
			return x != nil
		}
		return false
	case bool:
		got, ok := x.(bool)
		if !ok {
			return f.op == "ne"
		}
		switch f.op {
		case "eq":
			return got == want
		case "ne":
			return got != want
		}
		return false
	case float64:
		got, ok := x.(float64)
		if !ok {
			return f.op == "ne"
		}
		return ordered(f.op, cmpFloat(got, want))
	case string:
		got, ok := x.(string)
		if !ok {
			return f.op == "ne"
		}
		exact := caseExact[strings.ToLower(f.attr.name)] && f.attr.sub == ""
		if !exact {
			got, want = strings.ToLower(got), strings.ToLower(want)
		}
		switch f.op {
		case "co":
			return strings.Contains(got, want)
		case "sw":
			return strings.HasPrefix(got, want)
		case "ew":
			return strings.HasSuffix(got, want)
		}
		return ordered(f.op, strings.Compare(got, want))
	}
	return false
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func ordered(op string, c int) bool {
	switch op {
	case "eq":
		return c == 0
	case "ne":
		return c != 0
	case "gt":
		return c > 0
	case "ge":
		return c >= 0
	case "lt":
		return c < 0
	case "le":
		return c <= 0
	}
	return false
}

// lookup finds an attribute (case-insensitively) in a resource.
func lookup(res map[string]any, a attrRef) any {
	obj := res
	if a.urn != "" {
		ext, _ := getCI(res, a.urn).(map[string]any)
		if ext == nil {
			return nil
		}
		obj = ext
	}
	v := getCI(obj, a.name)
	if a.sub == "" {
		return v
	}
	switch v := v.(type) {
	case map[string]any:
		return getCI(v, a.sub)
	case []any:
		var out []any
		for _, el := range v {
			if m, ok := el.(map[string]any); ok {
				if x := getCI(m, a.sub); x != nil {
					out = append(out, x)
				}
			}
		}
		return out
	}
	return nil
}

// getCI reads a key case-insensitively.
func getCI(m map[string]any, key string) any {
	if v, ok := m[key]; ok {
		return v
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return nil
}

// keyCI returns the key of m equal to key case-insensitively, or key itself.
func keyCI(m map[string]any, key string) string {
	if _, ok := m[key]; ok {
		return key
	}
	for k := range m {
		if strings.EqualFold(k, key) {
			return k
		}
	}
	return key
}
