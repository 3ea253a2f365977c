package scim

import (
	"fmt"
	"strings"
)

// patchPath is a PATCH operation's target (RFC 7644 §3.5.2): attrPath [valFilter] [.subAttr].
type patchPath struct {
	attr   attrRef // attr.sub is set only without a value filter
	filter filter  // nil: no value filter
	sub    string  // the sub-attribute after a value filter
}

// maxPathLen bounds a PATCH path.
const maxPathLen = 1024

// parsePatchPath parses a PATCH path; the error is the sentence of an invalidPath answer.
func parsePatchPath(s string) (patchPath, error) {
	var pp patchPath
	s = strings.TrimSpace(s)
	if len(s) > maxPathLen {
		return pp, fmt.Errorf("the path is longer than %d characters", maxPathLen)
	}
	open := strings.IndexByte(s, '[')
	if open < 0 {
		ref, err := parseAttrRef(s)
		if err != nil {
			return pp, err
		}
		pp.attr = ref
		return pp, nil
	}
	ref, err := parseAttrRef(s[:open])
	if err != nil {
		return pp, err
	}
	if ref.sub != "" {
		return pp, fmt.Errorf("path %q: a value filter goes after the attribute, not its sub-attribute", s)
	}
	p := &filterParser{s: s, i: open + 1}
	f, err := p.or(1)
	if err != nil {
		return pp, fmt.Errorf("path %q: %w", s, err)
	}
	p.space()
	if p.i >= len(s) || s[p.i] != ']' {
		return pp, fmt.Errorf("path %q: missing \"]\"", s)
	}
	if containsValuePath(f) {
		return pp, fmt.Errorf("path %q: value filters cannot be nested", s)
	}
	rest := s[p.i+1:]
	if rest != "" {
		sub, ok := strings.CutPrefix(rest, ".")
		if !ok || !validName(sub) {
			return pp, fmt.Errorf("path %q: only .subAttribute may follow the value filter", s)
		}
		pp.sub = sub
	}
	pp.attr, pp.filter = ref, f
	return pp, nil
}

// patchOp is one operation as sent: op names are case-insensitive ("Replace" from Entra).
type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// applyOp applies one operation to a resource's JSON form. Types are not checked here: the
// patched resource is decoded by the same strict reader as a POST or PUT body.
func applyOp(res map[string]any, o patchOp, s *schema) *Error {
	op := strings.ToLower(strings.TrimSpace(o.Op))
	switch op {
	case "add", "replace", "remove":
	default:
		return errInvalidSyntax("unknown PATCH op %q: add, replace or remove", o.Op)
	}
	if strings.TrimSpace(o.Path) == "" {
		if op == "remove" {
			return &Error{Status: 400, ScimType: "noTarget", Detail: "a remove operation needs a path"}
		}
		obj, ok := o.Value.(map[string]any)
		if !ok {
			return errInvalidValue("an %s operation without a path takes an object of attributes", op)
		}
		// Each key is a path of its own: Entra sends "name.givenName" and URN-qualified
		// extension attributes as keys; an extension's object applies attribute by attribute.
		for k, v := range obj {
			if ext := s.extension(k); ext != "" {
				if m, ok := v.(map[string]any); ok {
					for k2, v2 := range m {
						if err := applyOp(res, patchOp{Op: op, Path: ext + ":" + k2, Value: v2}, s); err != nil {
							return err
						}
					}
					continue
				}
			}
			if err := applyOp(res, patchOp{Op: op, Path: k, Value: v}, s); err != nil {
				return err
			}
		}
		return nil
	}
	pp, err := parsePatchPath(o.Path)
	if err != nil {
		return &Error{Status: 400, ScimType: "invalidPath", Detail: err.Error()}
	}
	a := s.attr(pp.attr)
	if a == nil {
		return &Error{Status: 400, ScimType: "invalidPath", Detail: fmt.Sprintf("%s has no attribute %s", s.name, pp.attr)}
	}
	if a.readOnly {
		return &Error{Status: 400, ScimType: "mutability", Detail: fmt.Sprintf("%s is read-only", a.name)}
	}
	if op != "remove" && o.Value == nil {
		return errInvalidValue("the %s operation needs a value", op)
	}
	obj := res
	if pp.attr.urn != "" {
		ext, _ := res[pp.attr.urn].(map[string]any)
		if ext == nil {
			if op == "remove" {
				return nil
			}
			ext = map[string]any{}
			res[pp.attr.urn] = ext
		}
		obj = ext
	}
	key := keyCI(obj, a.name)
	if pp.filter != nil {
		return applyFiltered(obj, key, op, pp, o.Value, a)
	}
	if pp.attr.sub != "" {
		return applySub(obj, key, op, pp.attr.sub, o.Value)
	}
	switch op {
	case "remove":
		if list, ok := obj[key].([]any); ok && o.Value != nil {
			// Entra removes group members by listing them: [{"value": "id"}].
			drop := map[string]bool{}
			for _, v := range asValues(o.Value) {
				if id := memberValue(v); id != "" {
					drop[id] = true
				}
			}
			kept := list[:0:0]
			for _, el := range list {
				if !drop[memberValue(el)] {
					kept = append(kept, el)
				}
			}
			obj[key] = kept
			return nil
		}
		delete(obj, key)
	case "add":
		if a.multi {
			list, _ := obj[key].([]any)
			have := map[string]bool{}
			for _, el := range list {
				if id := memberValue(el); id != "" {
					have[id] = true
				}
			}
			for _, v := range asValues(o.Value) {
				if id := memberValue(v); id != "" {
					if have[id] {
						continue
					}
					have[id] = true
				}
				list = append(list, v)
			}
			obj[key] = list
			return nil
		}
		if m, ok := o.Value.(map[string]any); ok {
			if cur, ok := obj[key].(map[string]any); ok {
				for k, v := range m {
					cur[keyCI(cur, k)] = v
				}
				return nil
			}
		}
		obj[key] = o.Value
	case "replace":
		if a.multi {
			obj[key] = asValues(o.Value)
			return nil
		}
		obj[key] = o.Value
	}
	return nil
}

// applySub changes attr.sub: of the complex attribute, or of every element of a multi-valued one.
func applySub(obj map[string]any, key, op, sub string, value any) *Error {
	switch cur := obj[key].(type) {
	case []any:
		for _, el := range cur {
			if m, ok := el.(map[string]any); ok {
				setOrDelete(m, op, sub, value)
			}
		}
		return nil
	case map[string]any:
		setOrDelete(cur, op, sub, value)
		return nil
	case nil:
		if op == "remove" {
			return nil
		}
		obj[key] = map[string]any{sub: value}
		return nil
	}
	return errInvalidValue("%s is not a complex attribute", key)
}

func setOrDelete(m map[string]any, op, sub string, value any) {
	k := keyCI(m, sub)
	if op == "remove" {
		delete(m, k)
		return
	}
	m[k] = value
}

// applyFiltered changes the elements of a multi-valued attribute that match the value filter.
func applyFiltered(obj map[string]any, key, op string, pp patchPath, value any, a *attrDef) *Error {
	if !a.multi {
		return &Error{Status: 400, ScimType: "invalidPath", Detail: fmt.Sprintf("%s is not multi-valued: it takes no value filter", a.name)}
	}
	list, _ := obj[key].([]any)
	matched := 0
	kept := list[:0:0]
	for _, el := range list {
		m, ok := el.(map[string]any)
		if !ok || !matches(pp.filter, m) {
			kept = append(kept, el)
			continue
		}
		matched++
		switch {
		case op == "remove" && pp.sub == "":
			continue // dropped
		case pp.sub != "":
			setOrDelete(m, op, pp.sub, value)
		default:
			nv, ok := value.(map[string]any)
			if !ok {
				return errInvalidValue("%s[…] takes an object", a.name)
			}
			for k, v := range nv {
				m[keyCI(m, k)] = v
			}
		}
		kept = append(kept, m)
	}
	if matched == 0 {
		switch op {
		case "remove":
			return nil // already absent
		case "replace":
			return &Error{Status: 400, ScimType: "noTarget", Detail: fmt.Sprintf("no value of %s matches %s", a.name, pp.filterText())}
		}
		// add: a new element made of the filter's equalities (emails[type eq "work"].value).
		el, ok := elementOf(pp.filter)
		if !ok {
			return &Error{Status: 400, ScimType: "noTarget", Detail: fmt.Sprintf("no value of %s matches the filter, and it does not say what to add", a.name)}
		}
		if pp.sub != "" {
			el[pp.sub] = value
		} else if nv, ok := value.(map[string]any); ok {
			for k, v := range nv {
				el[k] = v
			}
		}
		kept = append(kept, el)
	}
	obj[key] = kept
	return nil
}

func (pp patchPath) filterText() string { return pp.attr.String() + "[…]" }

// elementOf builds an element from a filter of equalities joined by "and".
func elementOf(f filter) (map[string]any, bool) {
	switch f := f.(type) {
	case compare:
		if f.op != "eq" || f.attr.sub != "" || f.attr.urn != "" {
			return nil, false
		}
		return map[string]any{f.attr.name: f.value}, true
	case logical:
		if !f.and {
			return nil, false
		}
		l, ok1 := elementOf(f.left)
		r, ok2 := elementOf(f.right)
		if !ok1 || !ok2 {
			return nil, false
		}
		for k, v := range r {
			l[k] = v
		}
		return l, true
	}
	return nil, false
}

func asValues(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	if v == nil {
		return nil
	}
	return []any{v}
}

// memberValue is the "value" of an element of a multi-valued complex attribute.
func memberValue(v any) string {
	if m, ok := v.(map[string]any); ok {
		s, _ := getCI(m, "value").(string)
		return s
	}
	return ""
}
