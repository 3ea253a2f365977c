package saml

import (
	"strings"
	"testing"
)

func TestParseAttributeMapping(t *testing.T) {
	cases := []struct {
		spec string
		want AttributeMapping
		err  string
	}{
		{"mail=email", AttributeMapping{Name: "mail", Source: SourceEmail}, ""},
		{"upn=upn;BASIC", AttributeMapping{Name: "upn", Source: SourceUPN, NameFormat: AttrNameFormatBasic}, ""},
		{"urn:oid:2.5.4.3=displayName;uri", AttributeMapping{Name: "urn:oid:2.5.4.3", Source: SourceDisplayName, NameFormat: AttrNameFormatURI}, ""},
		{"g=groups;urn:example:format", AttributeMapping{Name: "g", Source: SourceGroups, NameFormat: "urn:example:format"}, ""},
		{"g=groups;fancy", AttributeMapping{}, "name format"},
		{"=email", AttributeMapping{}, "NAME=SOURCE"},
		{"mail", AttributeMapping{}, "NAME=SOURCE"},
		{"mail=", AttributeMapping{}, "NAME=SOURCE"},
	}
	for _, c := range cases {
		got, err := ParseAttributeMapping(c.spec)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: err = %v, want %q", c.spec, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q = %+v, %v; want %+v", c.spec, got, err, c.want)
		}
	}
	// The source is judged with the SP, as the server reads it.
	sp := testSP(false)
	m, err := ParseAttributeMapping("pw=password")
	if err != nil {
		t.Fatal(err)
	}
	sp.Attributes = append(sp.Attributes, m)
	if err := sp.Validate(); err == nil || !strings.Contains(err.Error(), `attribute pw: source "password" not supported`) {
		t.Errorf("unknown source: %v", err)
	}
}

func TestCheckAttributeNames(t *testing.T) {
	if err := CheckAttributeNames([]AttributeMapping{{Name: "mail"}, {Name: "Mail"}}); err != nil {
		t.Errorf("names differing in case refused: %v", err)
	}
	if err := CheckAttributeNames([]AttributeMapping{{Name: "mail", Source: SourceEmail}, {Name: "mail", Source: SourceUPN}}); err == nil ||
		!strings.Contains(err.Error(), "mail is mapped twice") {
		t.Errorf("duplicate: %v", err)
	}
}

func TestNameIDFormatURI(t *testing.T) {
	if NameIDFormatURI("emailAddress") != NameIDEmail || NameIDFormatURI(NameIDTransient) != NameIDTransient || NameIDFormatURI("") != "" {
		t.Error("NameIDFormatURI")
	}
}
