package policy

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

func TestIPSetBoundaries(t *testing.T) {
	s, err := ParseIPSet([]string{"192.0.2.0/24", "2001:db8::/32", "198.51.100.7", "10.0.0.0/8", "10.1.0.0/16", "0.0.0.0/32", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00/120"})
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
	var nilSet *IPSet
	if nilSet.Contains(netip.MustParseAddr("192.0.2.1")) {
		t.Error("nil set contains nothing")
	}
}

func TestIPSetMergeAndAll(t *testing.T) {
	s := NewIPSet([]netip.Prefix{netip.MustParsePrefix("192.0.2.0/25"), netip.MustParsePrefix("192.0.2.128/25"), netip.MustParsePrefix("192.0.2.64/26")})
	if s.Len() != 1 {
		t.Fatalf("adjacent/overlapping ranges not merged: %d ranges", s.Len())
	}
	all := NewIPSet([]netip.Prefix{netip.MustParsePrefix("::/0")})
	for _, ip := range []string{"::", "1.2.3.4", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"} {
		if !all.Contains(netip.MustParseAddr(ip)) {
			t.Errorf("::/0 must contain %s", ip)
		}
	}
	v4all := NewIPSet([]netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")})
	if !v4all.Contains(netip.MustParseAddr("255.255.255.255")) || v4all.Contains(netip.MustParseAddr("2001:db8::1")) {
		t.Error("0.0.0.0/0 must hold every IPv4 address and no other IPv6 address")
	}
}

func TestParsePrefixErrors(t *testing.T) {
	for _, s := range []string{"10.0.0.0/33", "300.1.1.1", "fe80::1%eth0", "", "2001:db8::/129", "office"} {
		if _, err := ParsePrefix(s); err == nil {
			t.Errorf("ParsePrefix(%q): want error", s)
		}
	}
}

// TestIPSetRandom checks bisection against a linear scan over many random prefixes.
func TestIPSetRandom(t *testing.T) {
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
	s := NewIPSet(ps)
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

func BenchmarkIPSetContains(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	var ps []netip.Prefix
	for i := 0; i < 10000; i++ {
		ps = append(ps, netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256)), 0}), 24))
	}
	s := NewIPSet(ps)
	a := netip.MustParseAddr("192.0.2.1")
	for b.Loop() {
		s.Contains(a)
	}
}
