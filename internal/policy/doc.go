// Package policy is Sekisho's access-policy engine: a YAML document of ordered rules (users,
// groups, applications, protocols, client types, legacy apps, networks, device, second factor,
// time windows) compiled into an immutable Policy whose Evaluate returns the first matching
// rule's action with a trace of why every earlier rule did not match, in English and
// Japanese. Evaluation is pure (no I/O): callers resolve groups, the client's address and the
// device first.
//
// The hot path is an index, not an interpretation of the rules: every condition value
// (a user, a group, an application…) maps to a bitset of the rules it satisfies, the address
// line is cut into intervals each carrying the bitset of rules whose network conditions hold
// there, and the first rule is the lowest bit set in the intersection. Per-rule closures are
// kept for the trace and as the reference the index is tested against.
package policy
