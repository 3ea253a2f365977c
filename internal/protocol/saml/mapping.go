package saml

import (
	"fmt"
	"net/url"
	"strings"
)

// What an administrator types for an SP (the CLI's flags, the console's form) is read here, so
// both read it alike: short names for the NameID and attribute name formats, and attribute
// mappings as NAME=SOURCE[;FORMAT].

// NameIDFormats maps the short NameID format names to their URIs.
var NameIDFormats = map[string]string{"persistent": NameIDPersistent, "transient": NameIDTransient,
	"emailaddress": NameIDEmail, "email": NameIDEmail, "unspecified": NameIDUnspecified}

// NameIDFormatURI returns the URI of a short NameID format name (any case); anything else is
// returned as it is (a URI, or empty for the default) for Validate to judge.
func NameIDFormatURI(s string) string {
	if full, ok := NameIDFormats[strings.ToLower(s)]; ok {
		return full
	}
	return s
}

// AttrNameFormats maps the short attribute name formats to their URIs.
var AttrNameFormats = map[string]string{"basic": AttrNameFormatBasic, "uri": AttrNameFormatURI, "unspecified": AttrNameFormatUnspecified}

// AttributeSources are the user fields an attribute can be taken from.
var AttributeSources = []string{SourceUPN, SourceEmail, SourceDisplayName, SourceImmutableID, SourceGroups}

// NewAttributeMapping builds a mapping from its parts: format is a short name (basic, uri,
// unspecified, any case), a full name-format URI, or empty (sent as unspecified). The name and
// source are judged by Validate, with the rest of the SP.
func NewAttributeMapping(name, source, format string) (AttributeMapping, error) {
	m := AttributeMapping{Name: strings.TrimSpace(name), Source: strings.TrimSpace(source)}
	format = strings.TrimSpace(format)
	if format == "" {
		return m, nil
	}
	if full, ok := AttrNameFormats[strings.ToLower(format)]; ok {
		m.NameFormat = full
		return m, nil
	}
	if u, err := url.Parse(format); err != nil || u.Scheme == "" || strings.ContainsAny(format, " \t\r\n") {
		return m, fmt.Errorf("attribute %s: name format %q must be basic, uri, unspecified or a full URI", m.Name, format)
	}
	m.NameFormat = format
	return m, nil
}

// ParseAttributeMapping reads NAME=SOURCE[;FORMAT] (the CLI's --attribute).
func ParseAttributeMapping(spec string) (AttributeMapping, error) {
	n, rest, ok := strings.Cut(spec, "=")
	src, format, _ := strings.Cut(rest, ";")
	if !ok || strings.TrimSpace(n) == "" || strings.TrimSpace(src) == "" {
		return AttributeMapping{}, fmt.Errorf("attribute mapping %q must be NAME=SOURCE[;FORMAT] (sources: %s)", spec, strings.Join(AttributeSources, ", "))
	}
	return NewAttributeMapping(n, src, format)
}

// CheckAttributeNames refuses two mappings with the same name, when settings are written (an
// SP would see one attribute twice, with different values). Reading stored settings does not
// check it, so settings written before keep working.
func CheckAttributeNames(ms []AttributeMapping) error {
	seen := map[string]bool{}
	for _, m := range ms {
		if seen[m.Name] {
			return fmt.Errorf("attribute %s is mapped twice", m.Name)
		}
		seen[m.Name] = true
	}
	return nil
}
