package clustertest

import (
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// Balancer is a plain TCP load balancer in front of nodes, as a deployment puts one: each
// accepted connection goes to the next node, round robin, and bytes are copied both ways
// (TLS ends at the node). It has no health checks and does not retry: a connection given to a
// node that is gone is reset, so a client sees what it would see without the balancer (a
// reset connection), and the test can tell which node each connection went to.
type Balancer struct {
	URL string // https://127.0.0.1:PORT

	nodes []*Node
	set   connSet

	mu     sync.Mutex
	next   int
	routes map[string]string // client address (as the balancer sees it) → node name
	// refused counts, per node, the connections reset because the node could not be reached.
	refused map[string]int
}

// NewBalancer listens on a free loopback port in front of nodes (which must serve already)
// and closes when t ends.
func NewBalancer(t testing.TB, nodes ...*Node) *Balancer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &Balancer{URL: "https://" + ln.Addr().String(), nodes: nodes, set: connSet{ln: ln},
		routes: map[string]string{}, refused: map[string]int{}}
	b.set.wg.Add(1)
	go b.accept()
	t.Cleanup(b.Close)
	return b
}

// Node is a stand-in Node whose URL is the balancer's, for Cluster.WSTrust and Cluster.API.
func (b *Balancer) Node() *Node { return &Node{Name: "balancer", URL: b.URL} }

// Route returns the name of the node the connection from client address addr (the client's
// local address, host:port) was given to, or "" if the balancer has not seen it. (A port the
// kernel reuses names the latest connection; a test's few hundred connections do not wrap.)
func (b *Balancer) Route(addr string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.routes[addr]
}

// Refused returns how many connections given to the node named name were reset because the
// node could not be reached.
func (b *Balancer) Refused(name string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.refused[name]
}

func (b *Balancer) accept() {
	defer b.set.wg.Done()
	for {
		c, err := b.set.ln.Accept()
		if err != nil {
			return
		}
		b.mu.Lock()
		n := b.nodes[b.next%len(b.nodes)]
		b.next++
		b.routes[c.RemoteAddr().String()] = n.Name
		b.mu.Unlock()
		if !b.set.track(c) {
			return
		}
		b.set.wg.Add(1)
		go b.proxy(c, n)
	}
}

func (b *Balancer) proxy(client net.Conn, n *Node) {
	defer b.set.wg.Done()
	defer b.set.untrack(client)
	backend, err := net.DialTimeout("tcp", strings.TrimPrefix(n.URL, "https://"), 5*time.Second)
	if err != nil {
		// Reset once the client has sent its first bytes (the TLS ClientHello): its dial has
		// then returned, so it knows its address and can ask Route where it was sent.
		_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _ = client.Read(make([]byte, 1))
		b.mu.Lock()
		b.refused[n.Name]++
		b.mu.Unlock()
		reset(client)
		return
	}
	if !b.set.track(backend) {
		return
	}
	defer b.set.untrack(backend)
	// A clean end of one direction is passed on as a half close and the other runs on; an
	// error (a killed node's socket is reset by the kernel) resets the client's connection.
	done := make(chan error, 2)
	go func() { done <- pipe(client, backend) }()
	go func() { done <- pipe(backend, client) }()
	for range 2 {
		if err := <-done; err != nil {
			reset(client)
			backend.Close()
		}
	}
}

// pipe copies src to dst; a clean end of src is passed on as a half close.
func pipe(dst, src net.Conn) error {
	_, err := io.Copy(dst, src)
	if err == nil {
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		return nil
	}
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// reset closes c with a TCP RST instead of a FIN.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
}

// Close stops accepting, closes every open connection and waits for the copies to end.
func (b *Balancer) Close() { b.set.close() }
