package ipset

import (
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
)

func TestSetBoundaries(t *testing.T) {
	s, err := Parse([]string{"192.0.2.0/24", "2001:db8::/32", "198.51.100.7", "10.0.0.0/8", "10.1.0.0/16", "0.0.0.0/32", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00/120"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ip   string
		want bool
	}{
		{"192.0.2.0", true},         // first
		{"192.0.2.255", true},       // last
		{"192.0.1.255", false},      // just below
		{"192.0.3.0", false},        // just above
		{"::ffff:192.0.2.10", true}, // IPv4-mapped IPv6 matches the IPv4 prefix
		{"2001:db8::", true},        // first IPv6
		{"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", true},
		{"2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", false},
		{"2001:db9::", false},
		{"198.51.100.7", true}, // single address
		{"198.51.100.8", false},
		{"198.51.100.6", false},
		{"10.255.255.255", true}, // nested prefixes merged
		{"11.0.0.0", false},
		{"0.0.0.0", true},
		{"0.0.0.1", false},
		{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true}, // top of the address space
		{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:feff", false},
		{"fe80::1%eth0", false},
		{"c000:0200::", false}, // 192.0.2.0 bits in IPv6 position must not match
	}
	for _, tt := range tests {
		if got := s.Contains(netip.MustParseAddr(tt.ip)); got != tt.want {
			t.Errorf("Contains(%s) = %v, want %v", tt.ip, got, tt.want)
		}
	}
	if s.Contains(netip.Addr{}) {
		t.Error("zero Addr must be in no set")
	}
	var nilSet *Set
	if nilSet.Contains(netip.MustParseAddr("192.0.2.1")) {
		t.Error("nil set contains nothing")
	}
}

func TestSetMergeAndAll(t *testing.T) {
	s := New([]netip.Prefix{netip.MustParsePrefix("192.0.2.0/25"), netip.MustParsePrefix("192.0.2.128/25"), netip.MustParsePrefix("192.0.2.64/26")})
	if s.Len() != 1 {
		t.Fatalf("adjacent/overlapping ranges not merged: %d ranges", s.Len())
	}
	all := New([]netip.Prefix{netip.MustParsePrefix("::/0")})
	for _, ip := range []string{"::", "1.2.3.4", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"} {
		if !all.Contains(netip.MustParseAddr(ip)) {
			t.Errorf("::/0 must contain %s", ip)
		}
	}
	v4all := New([]netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")})
	if !v4all.Contains(netip.MustParseAddr("255.255.255.255")) || v4all.Contains(netip.MustParseAddr("2001:db8::1")) {
		t.Error("0.0.0.0/0 must hold every IPv4 address and no other IPv6 address")
	}
}

func TestParsePrefix(t *testing.T) {
	tests := []struct {
		name, in string
		want     string // "" = error
		errHas   string
	}{
		{name: "v4 CIDR", in: "192.0.2.0/24", want: "192.0.2.0/24"},
		{name: "v4 host route", in: "192.0.2.7/32", want: "192.0.2.7/32"},
		{name: "v4 everything", in: "0.0.0.0/0", want: "0.0.0.0/0"},
		{name: "v6 CIDR", in: "2001:db8::/32", want: "2001:db8::/32"},
		{name: "v6 everything", in: "::/0", want: "::/0"},
		{name: "bare v4", in: "198.51.100.7", want: "198.51.100.7/32"},
		{name: "bare v6", in: "2001:db8::1", want: "2001:db8::1/128"},
		{name: "spaces trimmed", in: "  10.0.0.0/8\t", want: "10.0.0.0/8"},
		{name: "mapped v4 address", in: "::ffff:192.0.2.1", want: "192.0.2.1/32"},
		{name: "mapped v4 CIDR", in: "::ffff:192.0.2.0/120", want: "192.0.2.0/24"},
		{name: "mapped v4 all of IPv4", in: "::ffff:0.0.0.0/96", want: "0.0.0.0/0"},
		{name: "mapped v4 non-canonical", in: "::ffff:192.0.2.77/120", want: "192.0.2.0/24"},
		{name: "wider than the mapped space stays v6", in: "::ffff:0:0/80", want: "::/80"},
		{name: "non-canonical v4 masked", in: "10.1.2.3/8", want: "10.0.0.0/8"},
		{name: "non-canonical v6 masked", in: "2001:db8::1/32", want: "2001:db8::/32"},
		{name: "zone on an address", in: "fe80::1%eth0", errHas: "zones are not allowed"},
		{name: "zone on a CIDR", in: "fe80::1%eth0/64", errHas: "zones are not allowed"},
		{name: "v4 mask too long", in: "10.0.0.0/33", errHas: `bad CIDR "10.0.0.0/33"`},
		{name: "v6 mask too long", in: "2001:db8::/129", errHas: "bad CIDR"},
		{name: "negative mask", in: "10.0.0.0/-1", errHas: "bad CIDR"},
		{name: "octet out of range", in: "300.1.1.1", errHas: "bad CIDR"},
		{name: "empty", in: "", errHas: "bad CIDR"},
		{name: "blank", in: "   ", errHas: "bad CIDR"},
		{name: "name", in: "office", errHas: `bad CIDR "office"`},
		{name: "missing mask", in: "10.0.0.0/", errHas: "bad CIDR"},
		{name: "two slashes", in: "10.0.0.0/8/8", errHas: "bad CIDR"},
		{name: "port", in: "192.0.2.1:443", errHas: "bad CIDR"},
		{name: "brackets", in: "[2001:db8::1]", errHas: "bad CIDR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePrefix(tt.in)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("ParsePrefix(%q) = %v, want an error", tt.in, p)
				}
				if msg := err.Error(); !strings.Contains(msg, tt.errHas) || strings.Contains(msg, "\n") {
					t.Fatalf("error %q, want one line containing %q", msg, tt.errHas)
				}
				return
			}
			if err != nil || p.String() != tt.want {
				t.Fatalf("ParsePrefix(%q) = %v, %v; want %s", tt.in, p, err, tt.want)
			}
		})
	}
}

// FuzzParsePrefix: any text is an error or a prefix in the normal form (masked, no zone, a
// mapped IPv4 range as IPv4) that reads back as itself.
func FuzzParsePrefix(f *testing.F) {
	for _, s := range []string{"192.0.2.0/24", "2001:db8::1", "::ffff:192.0.2.0/120", "fe80::1%eth0", "10.1.2.3/8", "office", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePrefix(s)
		if err != nil {
			return
		}
		if !p.IsValid() || p != p.Masked() || p.Addr().Zone() != "" || (p.Addr().Is4In6() && p.Bits() >= 96) {
			t.Fatalf("ParsePrefix(%q) = %v, not in normal form", s, p)
		}
		if again, err := ParsePrefix(p.String()); err != nil || again != p {
			t.Fatalf("ParsePrefix(%q) = %v, which reads back as %v, %v", s, p, again, err)
		}
	})
}

// TestSetRandom checks bisection against a linear scan over many random prefixes.
func TestSetRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var ps []netip.Prefix
	for i := 0; i < 2000; i++ {
		if i%5 == 0 {
			var b [16]byte
			for j := range b {
				b[j] = byte(r.IntN(256))
			}
			ps = append(ps, netip.PrefixFrom(netip.AddrFrom16(b), 16+r.IntN(100)).Masked())
		} else {
			ps = append(ps, netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))}), 8+r.IntN(25)).Masked())
		}
	}
	s := New(ps)
	for i := 0; i < 20000; i++ {
		var a netip.Addr
		if i%2 == 0 {
			p := ps[r.IntN(len(ps))]
			b := p.Addr().AsSlice()
			for k := p.Bits(); k < len(b)*8; k++ {
				if r.IntN(2) == 0 {
					b[k/8] |= 0x80 >> (k % 8)
				}
			}
			a, _ = netip.AddrFromSlice(b)
		} else {
			a = netip.AddrFrom4([4]byte{byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
		}
		want := false
		for _, p := range ps {
			if p.Contains(a) {
				want = true
				break
			}
		}
		if got := s.Contains(a); got != want {
			t.Fatalf("Contains(%s) = %v, want %v", a, got, want)
		}
	}
}

func BenchmarkSetContains(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	var ps []netip.Prefix
	for i := 0; i < 10000; i++ {
		ps = append(ps, netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256)), 0}), 24))
	}
	s := New(ps)
	a := netip.MustParseAddr("192.0.2.1")
	for b.Loop() {
		s.Contains(a)
	}
}

// TestRangesAndKeys: an IPv4 prefix and its mapped form are the same range on the one line,
// Ranges returns a copy, and Next stops at the top.
func TestRangesAndKeys(t *testing.T) {
	v4 := New([]netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")})
	mapped := New([]netip.Prefix{netip.MustParsePrefix("::ffff:192.0.2.0/120")})
	r := v4.Ranges()
	if len(r) != 1 || r[0] != mapped.Ranges()[0] {
		t.Fatalf("ranges %v and %v differ", r, mapped.Ranges())
	}
	if r[0].Lo != KeyOf(netip.MustParseAddr("192.0.2.0")) || r[0].Hi != KeyOf(netip.MustParseAddr("::ffff:192.0.2.255")) {
		t.Fatalf("range %v", r[0])
	}
	r[0].Lo = Key{}
	if v4.Contains(netip.MustParseAddr("192.0.1.1")) {
		t.Fatal("changing the result of Ranges changed the set")
	}
	if _, ok := KeyOf(netip.MustParseAddr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")).Next(); ok {
		t.Fatal("Next past the top")
	}
	if n, ok := (Key{}).Next(); !ok || n != KeyOf(netip.MustParseAddr("::1")) {
		t.Fatalf("Next(::) = %v, %v", n, ok)
	}
	var none *Set
	if none.Ranges() != nil || none.Len() != 0 {
		t.Fatal("nil set has ranges")
	}
}
