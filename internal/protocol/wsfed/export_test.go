package wsfed

import "net/url"

// ParseValues exposes the parameter parser to the fuzz test.
func ParseValues(v url.Values) (Request, error) { return parseValues(v) }
