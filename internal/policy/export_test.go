package policy

// IndexedMatch and ReferenceMatch expose the two evaluators to the external tests that use
// policygen (which imports this package).
func (pol *Policy) IndexedMatch(in Input) int   { return pol.firstMatch(&in) }
func (pol *Policy) ReferenceMatch(in Input) int { return pol.explainMatch(normalize(in), nil) }
