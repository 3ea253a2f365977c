package scim

import (
	"fmt"
	"strings"
)

// Schema URNs.
const (
	schemaUser       = "urn:ietf:params:scim:schemas:core:2.0:User"
	schemaGroup      = "urn:ietf:params:scim:schemas:core:2.0:Group"
	schemaEnterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	// Entra sends this one in a new group's schemas; it has no attributes Sekisho reads.
	schemaMSGroup = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"

	msgList    = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	msgPatch   = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	msgError   = "urn:ietf:params:scim:api:messages:2.0:Error"
	schemaSPC  = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
	schemaRT   = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
	schemaDefn = "urn:ietf:params:scim:schemas:core:2.0:Schema"
)

// kind is a JSON type an attribute takes.
type kind int

const (
	kString kind = iota
	kBool
	kComplex
	kAny // accepted as sent (not stored)
)

// attrDef is one attribute of a resource's schema. Attributes not stored by Sekisho are
// still known (so a strict reader accepts them) and type-checked.
type attrDef struct {
	name     string
	kind     kind
	multi    bool
	readOnly bool // refused as a PATCH target (id, meta, a user's groups)
	stored   bool
	desc     string
}

// schema is a resource type's strict set of attributes.
type schema struct {
	name       string // User, Group
	urn        string
	extensions map[string][]attrDef // by URN
	attrs      []attrDef
}

func (s *schema) find(list []attrDef, name string) *attrDef {
	for i := range list {
		if strings.EqualFold(list[i].name, name) {
			return &list[i]
		}
	}
	return nil
}

// attr finds the attribute a reference names (its sub-attribute is not checked).
func (s *schema) attr(a attrRef) *attrDef {
	if a.urn != "" {
		ext, ok := s.extensions[a.urn]
		if !ok {
			return nil
		}
		return s.find(ext, a.name)
	}
	return s.find(s.attrs, a.name)
}

// extension returns the URN of the schema extension key names, or "".
func (s *schema) extension(key string) string {
	for u := range s.extensions {
		if strings.EqualFold(u, key) {
			return u
		}
	}
	return ""
}

var userSchema = &schema{name: "User", urn: schemaUser,
	attrs: []attrDef{
		{name: "id", kind: kString, readOnly: true, stored: true, desc: "Sekisho's user ID"},
		{name: "externalId", kind: kString, stored: true, desc: "the ImmutableID (Entra: objectId or the on-premises ImmutableID)"},
		{name: "meta", kind: kAny, readOnly: true},
		{name: "schemas", kind: kString, multi: true},
		{name: "userName", kind: kString, stored: true, desc: "the user principal name"},
		{name: "displayName", kind: kString, stored: true},
		{name: "active", kind: kBool, stored: true, desc: "false = disabled (sessions end)"},
		{name: "emails", kind: kComplex, multi: true, stored: true, desc: "the work address (else the primary, else the first) is the user's mail"},
		{name: "groups", kind: kComplex, multi: true, readOnly: true, stored: true, desc: "the connector's groups the user is in"},
		{name: "name", kind: kComplex},
		{name: "nickName", kind: kString},
		{name: "profileUrl", kind: kString},
		{name: "title", kind: kString},
		{name: "userType", kind: kString},
		{name: "preferredLanguage", kind: kString},
		{name: "locale", kind: kString},
		{name: "timezone", kind: kString},
		{name: "phoneNumbers", kind: kComplex, multi: true},
		{name: "ims", kind: kComplex, multi: true},
		{name: "photos", kind: kComplex, multi: true},
		{name: "addresses", kind: kComplex, multi: true},
		{name: "entitlements", kind: kComplex, multi: true},
		{name: "roles", kind: kComplex, multi: true},
		{name: "x509Certificates", kind: kComplex, multi: true},
	},
	extensions: map[string][]attrDef{schemaEnterprise: {
		{name: "employeeNumber", kind: kString}, {name: "costCenter", kind: kString}, {name: "organization", kind: kString},
		{name: "division", kind: kString}, {name: "department", kind: kString}, {name: "manager", kind: kAny},
	}},
}

var groupSchema = &schema{name: "Group", urn: schemaGroup,
	attrs: []attrDef{
		{name: "id", kind: kString, readOnly: true, stored: true, desc: "Sekisho's group ID"},
		{name: "externalId", kind: kString, stored: true, desc: "the client's ID of the group (Entra: objectId)"},
		{name: "meta", kind: kAny, readOnly: true},
		{name: "schemas", kind: kString, multi: true},
		{name: "displayName", kind: kString, stored: true, desc: "the group's name (policies name groups by it)"},
		{name: "members", kind: kComplex, multi: true, stored: true, desc: "the connector's users in the group, by id"},
	},
	extensions: map[string][]attrDef{schemaMSGroup: {}},
}

// checkShape verifies a resource's JSON form against the schema: no unknown attribute (a
// strict schema), each attribute of its type. Values it stores are read by the caller.
func (s *schema) checkShape(res map[string]any) *Error {
	for k, v := range res {
		if ext := s.extension(k); ext != "" {
			m, ok := v.(map[string]any)
			if !ok {
				return errInvalidValue("%s must be an object", ext)
			}
			for k2, v2 := range m {
				a := s.find(s.extensions[ext], k2)
				if a == nil {
					return errInvalidSyntax("unknown attribute %s:%s", ext, k2)
				}
				if err := checkKind(ext+":"+a.name, a, v2); err != nil {
					return err
				}
			}
			continue
		}
		a := s.find(s.attrs, k)
		if a == nil {
			if strings.EqualFold(k, "password") {
				return &Error{Status: 400, ScimType: "invalidValue", Detail: "Sekisho does not take passwords by SCIM: users set theirs at Sekisho"}
			}
			return errInvalidSyntax("unknown attribute %q for a %s", k, s.name)
		}
		if err := checkKind(a.name, a, v); err != nil {
			return err
		}
	}
	return nil
}

func checkKind(name string, a *attrDef, v any) *Error {
	if v == nil || a.kind == kAny {
		return nil
	}
	if a.multi {
		list, ok := v.([]any)
		if !ok {
			return errInvalidValue("%s must be an array", name)
		}
		one := *a
		one.multi = false
		for _, el := range list {
			if err := checkKind(name, &one, el); err != nil {
				return err
			}
		}
		return nil
	}
	switch a.kind {
	case kString:
		if _, ok := v.(string); !ok {
			return errInvalidValue("%s must be a string", name)
		}
	case kBool:
		if _, err := boolOf(v); err != nil {
			return errInvalidValue("%s: %v", name, err)
		}
	case kComplex:
		if _, ok := v.(map[string]any); !ok {
			return errInvalidValue("%s must be an object", name)
		}
	}
	return nil
}

// boolOf reads a boolean; Entra sends "True" and "False" as strings.
func boolOf(v any) (bool, error) {
	switch v := v.(type) {
	case bool:
		return v, nil
	case string:
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
	}
	return false, fmt.Errorf("%v is not a boolean", v)
}

// Error is a SCIM error answer (RFC 7644 §3.12).
type Error struct {
	Status   int
	ScimType string
	Detail   string
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.ScimType, e.Detail) }

func errInvalidSyntax(f string, a ...any) *Error {
	return &Error{Status: 400, ScimType: "invalidSyntax", Detail: fmt.Sprintf(f, a...)}
}

func errInvalidValue(f string, a ...any) *Error {
	return &Error{Status: 400, ScimType: "invalidValue", Detail: fmt.Sprintf(f, a...)}
}
