package report

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// appendRowJSON appends r as json.Marshal(r) writes it, byte for byte, without reflection: a
// report's JSON is mostly its rows, and encoding them through reflection cost more than
// reading the export. Anything unusual (a string json.Marshal would escape, a time it would
// refuse, a map key outside ASCII) is handed to json.Marshal itself, so the output cannot
// differ; TestRowJSON compares the two, and fails when Row gains a field this does not write.
func appendRowJSON(b []byte, r *Row) ([]byte, error) {
	var err error
	b = append(b, `{"user":`...)
	b = appendJSONString(b, r.User)
	b = append(b, `,"client":`...)
	b = appendJSONString(b, r.Client)
	b = append(b, `,"family":`...)
	b = appendJSONString(b, string(r.Family))
	b = append(b, `,"legacy":`...)
	b = strconv.AppendBool(b, r.Legacy)
	b = append(b, `,"retirement":`...)
	b = appendJSONString(b, r.Retirement)
	b = append(b, `,"retirement_text":`...)
	b = appendJSONString(b, r.RetirementText)
	b = append(b, `,"count":`...)
	b = strconv.AppendInt(b, int64(r.Count), 10)
	b = append(b, `,"by_source":`...)
	if b, err = appendJSONCounts(b, r.BySource); err != nil {
		return b, err
	}
	if len(r.Statuses) > 0 {
		b = append(b, `,"statuses":`...)
		if b, err = appendJSONCounts(b, r.Statuses); err != nil {
			return b, err
		}
	}
	if len(r.Decisions) > 0 {
		b = append(b, `,"decisions":`...)
		if b, err = appendJSONCounts(b, r.Decisions); err != nil {
			return b, err
		}
	}
	if r.CurrentDecision != "" {
		b = append(b, `,"current_decision":`...)
		b = appendJSONString(b, r.CurrentDecision)
	}
	b = append(b, `,"first_seen":`...)
	if b, err = appendJSONTime(b, r.FirstSeen); err != nil {
		return b, err
	}
	b = append(b, `,"last_seen":`...)
	if b, err = appendJSONTime(b, r.LastSeen); err != nil {
		return b, err
	}
	b = append(b, `,"distinct_ips":`...)
	b = strconv.AppendInt(b, int64(r.DistinctIPs), 10)
	if r.IPsCapped {
		b = append(b, `,"ips_capped":true`...)
	}
	b = append(b, `,"ips":`...)
	b = appendJSONStrings(b, r.IPs)
	b = append(b, `,"inside":`...)
	b = strconv.AppendInt(b, int64(r.Inside), 10)
	b = append(b, `,"outside":`...)
	b = strconv.AppendInt(b, int64(r.Outside), 10)
	b = append(b, `,"no_ip":`...)
	b = strconv.AppendInt(b, int64(r.NoIP), 10)
	b = append(b, `,"inside_share":`...)
	if r.InsideShare == nil {
		b = append(b, "null"...)
	} else if b, err = appendJSONFloat(b, *r.InsideShare); err != nil {
		return b, err
	}
	b = append(b, `,"user_agents":`...)
	if r.UserAgents == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, ua := range r.UserAgents {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"name":`...)
			b = appendJSONString(b, ua.Name)
			b = append(b, `,"count":`...)
			b = strconv.AppendInt(b, int64(ua.Count), 10)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if r.AgentsCapped {
		b = append(b, `,"agents_capped":true`...)
	}
	if len(r.Devices) > 0 {
		b = append(b, `,"devices":`...)
		b = appendJSONStrings(b, r.Devices)
	}
	b = append(b, `,"migration":`...)
	b = appendJSONString(b, r.Migration)
	b = append(b, `,"migration_text":`...)
	b = appendJSONString(b, r.MigrationText)
	if len(r.Alternatives) > 0 {
		b = append(b, `,"alternatives":[`...)
		for i, a := range r.Alternatives {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"migration":`...)
			b = appendJSONString(b, a.Migration)
			b = append(b, `,"after":`...)
			b = appendJSONString(b, string(a.After))
			b = append(b, `,"text":`...)
			b = appendJSONString(b, a.Text)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"before":`...)
	b = appendJSONString(b, string(r.Before))
	b = append(b, `,"after":`...)
	b = appendJSONString(b, string(r.After))
	b = append(b, `,"after_text":`...)
	b = appendJSONString(b, r.AfterText)
	b = append(b, `,"cannot_migrate":`...)
	b = strconv.AppendBool(b, r.CannotMigrate)
	b = append(b, `,"risks":`...)
	if r.Risks == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, k := range r.Risks {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"code":`...)
			b = appendJSONString(b, k.Code)
			b = append(b, `,"severity":`...)
			b = appendJSONString(b, k.Severity)
			b = append(b, `,"text":`...)
			b = appendJSONString(b, k.Text)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if s := r.Simulation; s != nil {
		b = append(b, `,"simulation":{"addresses":`...)
		b = strconv.AppendInt(b, int64(s.Addresses), 10)
		b = append(b, `,"newly_allowed":`...)
		b = strconv.AppendInt(b, int64(s.NewlyAllowed), 10)
		b = append(b, `,"newly_blocked":`...)
		b = strconv.AppendInt(b, int64(s.NewlyBlocked), 10)
		b = append(b, `,"same":`...)
		b = strconv.AppendInt(b, int64(s.SameDecisions), 10)
		b = append(b, '}')
	}
	return append(b, '}'), nil
}

// rowJSONFields is the number of Row fields appendRowJSON writes.
const rowJSONFields = 32

// appendJSONString appends s quoted. Printable ASCII other than " \ < > & and valid UTF-8
// other than U+2028 and U+2029 are written as they are, which is what json.Marshal does;
// anything else goes through json.Marshal.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
				return appendMarshalled(b, s)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || r == '\u2028' || r == '\u2029' {
			return appendMarshalled(b, s)
		}
		i += n
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func appendMarshalled(b []byte, s string) []byte {
	m, _ := json.Marshal(s) // a string always marshals
	return append(b, m...)
}

func appendJSONStrings(b []byte, ss []string) []byte {
	if ss == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	return append(b, ']')
}

// appendJSONCounts appends m with its keys in order, as json.Marshal does for ASCII keys (it
// is given any other map).
func appendJSONCounts(b []byte, m map[string]int) ([]byte, error) {
	if m == nil {
		return append(b, "null"...), nil
	}
	var arr [8]string
	keys := arr[:0]
	for k := range m {
		for i := 0; i < len(k); i++ {
			if k[i] >= utf8.RuneSelf {
				mb, err := json.Marshal(m)
				return append(b, mb...), err
			}
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(m[k]), 10)
	}
	return append(b, '}'), nil
}

// appendJSONTime appends t as time.Time's MarshalJSON does (RFC 3339 with nanoseconds) for a
// UTC time in years 0–9999, and through json.Marshal otherwise.
func appendJSONTime(b []byte, t time.Time) ([]byte, error) {
	if y := t.Year(); t.Location() != time.UTC || y < 0 || y > 9999 {
		m, err := json.Marshal(t)
		return append(b, m...), err
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), nil
}

// appendJSONFloat appends f as json.Marshal does for the values a share takes (0, or between
// 1e-6 and 1e21: the shortest decimal), and through json.Marshal otherwise.
func appendJSONFloat(b []byte, f float64) ([]byte, error) {
	if a := math.Abs(f); a != 0 && (a < 1e-6 || a >= 1e21) || f != f || a == 0 && math.Signbit(f) {
		m, err := json.Marshal(f)
		return append(b, m...), err
	}
	return strconv.AppendFloat(b, f, 'f', -1, 64), nil
}
