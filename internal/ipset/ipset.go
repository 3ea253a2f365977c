// Package ipset has one job: answering "is this address in these CIDR ranges?" for trusted
// proxies, Exchange Online ranges and named networks. It also holds the one parser of CIDR
// text that configuration, policy documents and the command line share, so the same string
// means the same range everywhere.
package ipset

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Key is an address in the 16-byte form (IPv4 as ::ffff:a.b.c.d), so IPv4, IPv6 and
// IPv4-mapped IPv6 all live on one number line and compare with two integer comparisons.
// The zero Key is the bottom of the line (::).
type Key struct{ hi, lo uint64 }

// Less reports whether a comes before b.
func (a Key) Less(b Key) bool { return a.hi < b.hi || (a.hi == b.hi && a.lo < b.lo) }

// Next is the key after a; false at the top of the line.
func (a Key) Next() (Key, bool) {
	if a.lo == ^uint64(0) {
		if a.hi == ^uint64(0) {
			return a, false
		}
		return Key{a.hi + 1, 0}, true
	}
	return Key{a.hi, a.lo + 1}, true
}

// KeyOf places a on the line; an IPv4 address and its mapped form share one key.
func KeyOf(a netip.Addr) Key {
	b := a.As16() // an IPv4 address becomes ::ffff:a.b.c.d, the same as its mapped form
	return Key{
		hi: uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
			uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7]),
		lo: uint64(b[8])<<56 | uint64(b[9])<<48 | uint64(b[10])<<40 | uint64(b[11])<<32 |
			uint64(b[12])<<24 | uint64(b[13])<<16 | uint64(b[14])<<8 | uint64(b[15]),
	}
}

// Range is an inclusive range [Lo, Hi] of keys.
type Range struct{ Lo, Hi Key }

// prefixRange converts a prefix to its inclusive 16-byte range. IPv4 prefixes are shifted
// into the ::ffff:0:0/96 space; an IPv4-mapped IPv6 prefix lands on the same numbers.
func prefixRange(p netip.Prefix) Range {
	p = p.Masked()
	bits := p.Bits()
	if p.Addr().Is4() {
		bits += 96
	}
	lo := KeyOf(p.Addr())
	hi := lo
	host := 128 - bits
	switch {
	case host >= 64:
		hi.lo = ^uint64(0)
		if host > 64 {
			hi.hi |= (uint64(1) << (host - 64)) - 1
		}
		if host == 128 {
			hi.hi = ^uint64(0)
		}
	case host > 0:
		hi.lo |= (uint64(1) << host) - 1
	}
	return Range{lo, hi}
}

// Set is an immutable set of addresses built from CIDR prefixes: sorted, merged, disjoint
// ranges searched by bisection, so 10,000+ prefixes cost ~14 comparisons per lookup.
type Set struct {
	ranges []Range
}

// New builds a set from prefixes. Invalid prefixes are skipped; use Parse to get errors.
func New(prefixes []netip.Prefix) *Set {
	rs := make([]Range, 0, len(prefixes))
	for _, p := range prefixes {
		if !p.IsValid() {
			continue
		}
		rs = append(rs, prefixRange(p))
	}
	return &Set{ranges: mergeRanges(rs)}
}

// Parse builds a set from CIDR text ("192.0.2.0/24", "2001:db8::/32") or single addresses,
// each read by ParsePrefix; the first bad entry is the error.
func Parse(cidrs []string) (*Set, error) {
	ps := make([]netip.Prefix, 0, len(cidrs))
	for _, s := range cidrs {
		p, err := ParsePrefix(s)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return New(ps), nil
}

// ParsePrefix reads a CIDR ("192.0.2.0/24", "2001:db8::/32") or a single address, which is a
// /32 or a /128. Surrounding spaces are ignored. The rules:
//   - zones are refused: a link-local zone (fe80::1%eth0) is a property of a socket, not of
//     an address range;
//   - an IPv4-mapped IPv6 prefix or address (::ffff:192.0.2.0/120, ::ffff:192.0.2.1) is the
//     IPv4 prefix it names (192.0.2.0/24, 192.0.2.1/32);
//   - host bits are cleared (10.1.2.3/8 is 10.0.0.0/8).
//
// The error is one sentence naming the text, as in `bad CIDR "10.0.0.0/33"`.
func ParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "%") {
		return netip.Prefix{}, fmt.Errorf("bad CIDR %q: zones are not allowed", s)
	}
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return netip.Prefix{}, fmt.Errorf("bad CIDR %q", s)
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("bad CIDR %q", s)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	// A mapped prefix shorter than /96 reaches beyond ::ffff:0:0/96 and stays IPv6.
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

func mergeRanges(rs []Range) []Range {
	slices.SortFunc(rs, func(a, b Range) int {
		switch {
		case a.Lo.Less(b.Lo):
			return -1
		case b.Lo.Less(a.Lo):
			return 1
		}
		return 0
	})
	out := rs[:0]
	for _, r := range rs {
		if n := len(out); n > 0 {
			last := &out[n-1]
			// Merge overlapping or adjacent ranges.
			if nx, ok := last.Hi.Next(); !ok || !nx.Less(r.Lo) {
				if last.Hi.Less(r.Hi) {
					last.Hi = r.Hi
				}
				continue
			}
		}
		out = append(out, r)
	}
	return slices.Clip(out)
}

// Contains reports whether a is in the set. The zero Addr is in no set. IPv4-mapped IPv6
// addresses match IPv4 prefixes and vice versa.
func (s *Set) Contains(a netip.Addr) bool {
	if s == nil || !a.IsValid() {
		return false
	}
	k := KeyOf(a)
	rs := s.ranges
	// First range whose hi >= k.
	lo, hi := 0, len(rs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if rs[m].Hi.Less(k) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo < len(rs) && !k.Less(rs[lo].Lo)
}

// Ranges returns the set's disjoint ranges in ascending order, for callers that index many
// sets together (the policy engine cuts the address line at their boundaries).
func (s *Set) Ranges() []Range {
	if s == nil {
		return nil
	}
	return slices.Clone(s.ranges)
}

// Len is the number of disjoint ranges after merging.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.ranges)
}

// Union returns a set holding the addresses of all sets.
func Union(sets ...*Set) *Set {
	var rs []Range
	for _, s := range sets {
		if s != nil {
			rs = append(rs, s.ranges...)
		}
	}
	return &Set{ranges: mergeRanges(rs)}
}
