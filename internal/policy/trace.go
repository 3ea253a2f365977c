package policy

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Reason is a stable code for why a condition did not hold. Codes are part of the sign-in
// log format: add new ones, never rename.
type Reason string

const (
	ReasonUserNotListed       Reason = "user_not_listed"
	ReasonGroupNotMember      Reason = "group_not_member"
	ReasonApplicationMismatch Reason = "application_mismatch"
	ReasonProtocolMismatch    Reason = "protocol_mismatch"
	ReasonClientTypeMismatch  Reason = "client_type_mismatch"
	ReasonLegacyAppMismatch   Reason = "legacy_app_mismatch"
	ReasonNetworkOutside      Reason = "network_outside"  // networks: address in none of them
	ReasonNetworkExcluded     Reason = "network_excluded" // not_networks: address in one of them
	ReasonDeviceMissing       Reason = "device_missing"   // no certificate presented
	ReasonDeviceInvalid       Reason = "device_invalid"   // presented but not valid or not bound to the user
	ReasonDevicePresent       Reason = "device_present"   // device: absent, but one was presented
	ReasonDeviceValid         Reason = "device_valid"     // device: invalid, but it is valid
	ReasonMFANotDone          Reason = "mfa_not_done"
	ReasonMFADone             Reason = "mfa_done" // mfa: false, but MFA was done
	ReasonTimeOutsideWindow   Reason = "time_outside_window"
	ReasonDateOutsideRange    Reason = "date_outside_range"
)

var reasonText = map[Reason][2]string{ // English, Japanese; %s is the rule's listed values
	ReasonUserNotListed:       {"user is not one of %s", "ユーザーが %s に含まれていません"},
	ReasonGroupNotMember:      {"user is in none of the groups %s", "ユーザーはグループ %s のいずれにも属していません"},
	ReasonApplicationMismatch: {"application is not one of %s", "アプリケーションが %s ではありません"},
	ReasonProtocolMismatch:    {"protocol is not one of %s", "プロトコルが %s ではありません"},
	ReasonClientTypeMismatch:  {"client type is not one of %s", "クライアント種別が %s ではありません"},
	ReasonLegacyAppMismatch:   {"legacy client application is not one of %s", "レガシー クライアント アプリケーションが %s ではありません"},
	ReasonNetworkOutside:      {"client address is outside the networks %s", "クライアントの IP アドレスがネットワーク %s の外です"},
	ReasonNetworkExcluded:     {"client address is inside the excluded networks %s", "クライアントの IP アドレスが除外ネットワーク %s の中です"},
	ReasonDeviceMissing:       {"no device certificate was presented (wanted: %s)", "デバイス証明書が提示されていません (条件: %s)"},
	ReasonDeviceInvalid:       {"the device certificate is not valid or not issued to this user (wanted: %s)", "デバイス証明書が無効か、このユーザーに発行されたものではありません (条件: %s)"},
	ReasonDevicePresent:       {"a device certificate was presented (wanted: %s)", "デバイス証明書が提示されました (条件: %s)"},
	ReasonDeviceValid:         {"the device certificate is valid (wanted: %s)", "デバイス証明書は有効です (条件: %s)"},
	ReasonMFANotDone:          {"multi-factor authentication has not been done (wanted: mfa %s)", "多要素認証が済んでいません (条件: mfa %s)"},
	ReasonMFADone:             {"multi-factor authentication has been done (wanted: mfa %s)", "多要素認証が済んでいます (条件: mfa %s)"},
	ReasonTimeOutsideWindow:   {"the time is outside the window %s", "時刻が時間帯 %s の外です"},
	ReasonDateOutsideRange:    {"the date is outside the range %s", "日付が期間 %s の外です"},
}

// Text renders the reason in "en" or "ja" (anything else is English). detail is the rule's
// listed values as recorded in the step.
func (r Reason) Text(lang, detail string) string {
	t, ok := reasonText[r]
	if !ok {
		return string(r)
	}
	f := t[0]
	if strings.HasPrefix(lang, "ja") {
		f = t[1]
	}
	return fmt.Sprintf(f, detail)
}

// Trace explains a Decision. It holds the input and the compiled policy and builds the
// explanation only when asked, so the hot path stays free of formatting and allocation.
type Trace struct {
	pol        *Policy
	in         Input
	matched    int
	breakGlass bool
}

// Step is one rule's outcome in a trace.
type Step struct {
	Index     int      `json:"index"`
	Rule      string   `json:"rule"`
	Matched   bool     `json:"matched,omitempty"`
	Condition string   `json:"condition,omitempty"` // first condition that failed
	Code      Reason   `json:"code,omitempty"`
	Detail    string   `json:"detail,omitempty"`    // what the rule asked for
	Satisfied []string `json:"satisfied,omitempty"` // matched rule: the conditions that held
}

// TraceRecord is the JSON form of a trace, stored with the sign-in event. It can be read
// back (json.Unmarshal) and rendered with Text, without the policy that produced it.
type TraceRecord struct {
	Rule       string `json:"rule"` // matched rule, "default" or "break_glass"
	Action     Action `json:"action"`
	BreakGlass bool   `json:"break_glass,omitempty"`
	// For break-glass: what the rules would have decided.
	WouldRule   string `json:"would_rule,omitempty"`
	WouldAction string `json:"would_action,omitempty"`
	Steps       []Step `json:"steps"`
}

// Record builds the explanation by re-running the rules' closures in order.
func (t Trace) Record() TraceRecord {
	if t.pol == nil {
		return TraceRecord{Rule: RuleDefault, Action: Deny, Steps: []Step{}}
	}
	pol := t.pol
	in := normalize(t.in)
	steps := []Step{}
	matched := pol.explainMatch(in, func(i int, k condKind, r Reason) {
		steps = append(steps, Step{Index: i, Rule: pol.rules[i].spec.Name, Condition: k.String(), Code: r, Detail: detailOf(pol.rules[i].spec, k)})
	})
	rec := TraceRecord{Steps: steps}
	if matched >= 0 {
		r := pol.rules[matched]
		s := Step{Index: matched, Rule: r.spec.Name, Matched: true}
		for _, c := range r.conds {
			s.Satisfied = append(s.Satisfied, c.kind.String())
		}
		rec.Steps = append(rec.Steps, s)
		rec.Rule, rec.Action = r.spec.Name, effective(r.spec.Action.Action, t.in.MFA, in.dev == devGood)
	} else {
		rec.Rule, rec.Action = RuleDefault, effective(pol.def, t.in.MFA, in.dev == devGood)
	}
	if t.breakGlass {
		rec.WouldRule, rec.WouldAction = rec.Rule, rec.Action.String()
		rec.Rule, rec.Action, rec.BreakGlass = RuleBreakGlass, Allow, true
	}
	return rec
}

// MarshalJSON writes the TraceRecord.
func (t Trace) MarshalJSON() ([]byte, error) { return json.Marshal(t.Record()) }

// Text renders the trace for a person, in "en" or "ja".
func (t Trace) Text(lang string) string { r := t.Record(); return r.Text(lang) }

// Text renders a stored trace, one line per rule, in "en" or "ja".
func (r TraceRecord) Text(lang string) string {
	ja := strings.HasPrefix(lang, "ja")
	var b strings.Builder
	for _, s := range r.Steps {
		if s.Matched {
			if ja {
				fmt.Fprintf(&b, "ルール %q: 一致 (%s)\n", s.Rule, strings.Join(s.Satisfied, ", "))
			} else {
				fmt.Fprintf(&b, "rule %q: matched (%s)\n", s.Rule, strings.Join(s.Satisfied, ", "))
			}
			continue
		}
		if ja {
			fmt.Fprintf(&b, "ルール %q: 不一致 — %s\n", s.Rule, s.Code.Text(lang, s.Detail))
		} else {
			fmt.Fprintf(&b, "rule %q: skipped — %s\n", s.Rule, s.Code.Text(lang, s.Detail))
		}
	}
	switch {
	case r.BreakGlass && ja:
		fmt.Fprintf(&b, "緊急用アカウント: 許可 (ルールによる判定は %s: %s)\n", r.WouldRule, r.WouldAction)
	case r.BreakGlass:
		fmt.Fprintf(&b, "break-glass account: allowed (the rules would have given %s: %s)\n", r.WouldRule, r.WouldAction)
	case r.Rule == RuleDefault && ja:
		fmt.Fprintf(&b, "どのルールにも一致しないため既定の動作: %s\n", r.Action)
	case r.Rule == RuleDefault:
		fmt.Fprintf(&b, "no rule matched; default action: %s\n", r.Action)
	case ja:
		fmt.Fprintf(&b, "結果: %s\n", r.Action)
	default:
		fmt.Fprintf(&b, "decision: %s\n", r.Action)
	}
	return b.String()
}

func detailOf(rs *RuleSpec, k condKind) string {
	if vs := rs.values(k); vs != nil {
		s := make([]string, len(*vs))
		for i, v := range *vs {
			s[i] = v.S
		}
		return "[" + strings.Join(s, ", ") + "]"
	}
	switch k {
	case condDevice:
		return rs.Device.String()
	case condMFA:
		if rs.MFA != nil && *rs.MFA {
			return "true"
		}
		return "false"
	case condTime:
		parts := make([]string, len(rs.Time))
		for i, w := range rs.Time {
			parts[i] = w.String()
		}
		return strings.Join(parts, " | ")
	}
	return ""
}

// String describes the window, e.g. "mon,tue 08:00-19:00 Asia/Tokyo 2026-01-01..2026-12-31".
func (w TimeWindow) String() string {
	var b strings.Builder
	if w.Weekdays != 0 {
		days := []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}
		var ds []string
		for d := 0; d < 7; d++ {
			if w.Weekdays&(1<<d) != 0 {
				ds = append(ds, days[d])
			}
		}
		b.WriteString(strings.Join(ds, ",") + " ")
	}
	if w.From != w.To {
		fmt.Fprintf(&b, "%02d:%02d-%02d:%02d ", w.From/60, w.From%60, w.To/60, w.To%60)
	}
	b.WriteString(w.Zone)
	if w.DateFrom != 0 || w.DateTo != 0 {
		fmt.Fprintf(&b, " %s..%s", fmtDate(w.DateFrom), fmtDate(w.DateTo))
	}
	return b.String()
}

func fmtDate(v int) string {
	if v == 0 {
		return ""
	}
	return fmt.Sprintf("%04d-%02d-%02d", v/10000, v/100%100, v%100)
}

// Load parses and compiles a document in one step.
func Load(file string, data []byte, networks NetworkResolver) (*Policy, error) {
	doc, err := Parse(file, data)
	if err != nil {
		return nil, err
	}
	return Compile(doc, networks)
}
