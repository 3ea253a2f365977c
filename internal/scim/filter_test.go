package scim

import (
	"encoding/json"
	"strings"
	"testing"
)

func res(t *testing.T, js string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(js), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

const alice = `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"u1","externalId":"Ab==","userName":"Alice@Example.com",
 "displayName":"Alice Liddell","active":true,"emails":[{"value":"alice@example.com","type":"work","primary":true},{"value":"a@home.example","type":"home"}],
 "name":{"givenName":"Alice"},"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"701"},
 "meta":{"lastModified":"2026-01-02T03:04:05Z"}}`

// TestFilter: the RFC 7644 §3.4.2.2 grammar as Entra and other clients send it, evaluated on a user.
func TestFilter(t *testing.T) {
	u := res(t, alice)
	for _, tc := range []struct {
		filter string
		want   bool
	}{
		{`userName eq "alice@example.com"`, true}, // userName is not case-exact
		{`USERNAME EQ "ALICE@EXAMPLE.COM"`, true},
		{`userName eq "bob@example.com"`, false},
		{`externalId eq "Ab=="`, true},
		{`externalId eq "ab=="`, false}, // externalId is case-exact
		{`displayName eq "Alice Liddell"`, true},
		{`userName eq "alice@example.com" and active eq true`, true},
		{`userName eq "alice@example.com" and active eq false`, false},
		{`userName eq "x" or displayName sw "Ali"`, true},
		{`not (userName eq "x")`, true},
		{`not(userName eq "alice@example.com")`, false},
		{`(userName eq "x" or userName eq "y") and active eq true`, false},
		{`userName eq "x" or userName eq "y" and active eq true`, false},
		{`userName eq "alice@example.com" or userName eq "y" and active eq false`, true}, // and binds tighter
		{`emails[type eq "work" and value co "@example.com"]`, true},
		{`emails[type eq "other"]`, false},
		{`emails.value ew "home.example"`, true},
		{`emails co "home"`, true},
		{`name.givenName pr`, true},
		{`name.familyName pr`, false},
		{`title pr`, false},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701"`, true},
		{`urn:ietf:params:scim:schemas:core:2.0:User:userName sw "alice"`, true},
		{`meta.lastModified gt "2026-01-01T00:00:00Z"`, true},
		{`meta.lastModified lt "2026-01-01T00:00:00Z"`, false},
		{`displayName ne "Bob"`, true},
		{`title eq null`, true},
		{`userName eq "a\"b"`, false},
	} {
		f, err := parseFilter(tc.filter)
		if err != nil {
			t.Errorf("%s: %v", tc.filter, err)
			continue
		}
		if got := matches(f, u); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.filter, got, tc.want)
		}
	}
}

// TestFilterRefused: malformed filters and unknown operators are errors (invalidFilter), never a match-all.
func TestFilterRefused(t *testing.T) {
	for _, tc := range []struct{ filter, says string }{
		{`userName xx "a"`, "unknown operator"},
		{`userName regex "a.*"`, "unknown operator"},
		{`userName eq`, "ends where a value"},
		{`userName eq "a`, "unterminated"},
		{`userName eq a`, "bad value"},
		// Numbers are JSON's: not Go's hex floats or infinities, no leading zero or bare point.
		{`x eq 0x1p4`, "bad value"},
		{`x eq -Inf`, "bad value"},
		{`x eq 01`, "bad value"},
		{`x eq 1.`, "bad value"},
		{`x eq -`, "bad value"},
		{`x eq 1e400`, "bad value"},
		{`(userName eq "a"`, "missing \")\""},
		{`userName eq "a")`, "unexpected"},
		{`emails[type eq "work"`, "missing \"]\""},
		{`emails[type[value eq "x"] eq "y"]`, ""},
		{`not userName eq "a"`, "parenthesised"},
		{`urn:example:foo:bar eq "x"`, "unknown schema"},
		{`1abc eq "x"`, "not an attribute"},
		{``, ""},
		{strings.Repeat("(", 100) + `a eq "b"` + strings.Repeat(")", 100), "nested"},
		{strings.Repeat("x", maxFilterLen+1), "longer"},
	} {
		if _, err := parseFilter(tc.filter); err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%q: %v, want an error saying %q", tc.filter, err, tc.says)
		}
	}
}

// FuzzSCIMFilter: the filter parser never panics or loops on any input, and whatever it
// accepts can be evaluated against a resource.
func FuzzSCIMFilter(f *testing.F) {
	for _, s := range []string{`userName eq "a@b.c"`, `emails[type eq "work" and value co "@"]`, `not (a pr) or b gt 3`,
		`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "1"`, `((a eq true))`, `a eq "\u00e9\""`} {
		f.Add(s)
	}
	var u map[string]any
	json.Unmarshal([]byte(alice), &u)
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := parseFilter(s)
		if err != nil {
			return
		}
		matches(flt, u)
	})
}
