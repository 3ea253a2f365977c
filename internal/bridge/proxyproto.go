package bridge

import (
	"net"
	"net/netip"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/sekisho/sekisho/internal/ipset"
)

// ProxyListener wraps a door's listener for a TCP load balancer in front of it (config
// bridge.proxy_protocol): a connection from one of the trusted addresses must begin with a
// PROXY protocol header (HAProxy's, v1 or v2) within timeout, or it is closed; the header's
// source is the client the door judges (ConnOf). A connection from any other address is served
// as it comes, its first bytes never read as a header: no one else can name a client.
func ProxyListener(l net.Listener, trusted *ipset.Set, timeout time.Duration) net.Listener {
	return &proxyproto.Listener{Listener: l, ReadHeaderTimeout: timeout,
		ConnPolicy: func(o proxyproto.ConnPolicyOptions) (proxyproto.Policy, error) {
			if ap, err := netip.ParseAddrPort(o.Upstream.String()); err == nil && trusted.Contains(ap.Addr().Unmap()) {
				return proxyproto.REQUIRE, nil
			}
			return proxyproto.SKIP, nil
		}}
}

// ConnOf is what the door knows of a device's connection c (under TLS or not): its TLS
// state, its peer and, when the peer is a trusted load balancer that sent a PROXY header, the
// client it named.
func ConnOf(c net.Conn) Conn {
	st := TLSState(c)
	raw := c
	for { // under TLS and the doors' own wrappers (each gives its NetConn, as tls.Conn does)
		w, ok := raw.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		raw = w.NetConn()
	}
	pc, ok := raw.(*proxyproto.Conn)
	if !ok {
		return Conn{Remote: c.RemoteAddr(), TLS: st}
	}
	conn := Conn{Remote: pc.Raw().RemoteAddr(), TLS: st}
	if h := pc.ProxyHeader(); h != nil && h.Command.IsProxy() {
		conn.Client = h.SourceAddr
	}
	return conn
}
