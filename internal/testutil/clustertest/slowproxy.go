package clustertest

import (
	"net"
	"net/url"
	"sync/atomic"
	"testing"
	"time"
)

// SlowProxy is a TCP proxy in front of a database that adds an adjustable latency to every
// answer: each chunk the database sends is held for the delay in force when it arrived
// before it is passed on (in order, without throttling: chunks in flight overlap, as on a
// slow link). Requests go through at once, so one round trip costs exactly the delay. Nodes
// reach the database through it by the DSN from DSN.
type SlowProxy struct {
	Addr string // 127.0.0.1:PORT

	target string
	delay  atomic.Int64 // nanoseconds
	opened atomic.Int64
	set    connSet
}

// NewSlowProxy listens on a free loopback port in front of target (host:port) with no delay,
// and closes when t ends.
func NewSlowProxy(t testing.TB, target string) *SlowProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &SlowProxy{Addr: ln.Addr().String(), target: target, set: connSet{ln: ln}}
	p.set.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// DSN returns dsn (a postgres:// URL whose host is the proxy's target) pointing at the proxy.
func (p *SlowProxy) DSN(t testing.TB, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("not a URL: %v", err)
	}
	u.Host = p.Addr
	return u.String()
}

// TargetOf returns the host:port of a postgres:// URL.
func TargetOf(t testing.TB, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil || u.Host == "" {
		t.Fatalf("SEKISHO_TEST_POSTGRES is not a postgres:// URL with a host: %q", dsn)
	}
	if u.Port() == "" {
		return net.JoinHostPort(u.Hostname(), "5432")
	}
	return u.Host
}

// SetDelay sets the latency added to every answer from now on.
func (p *SlowProxy) SetDelay(d time.Duration) { p.delay.Store(int64(d)) }

// Delay is the latency in force.
func (p *SlowProxy) Delay() time.Duration { return time.Duration(p.delay.Load()) }

// Opened counts the connections accepted so far; Open those still open.
func (p *SlowProxy) Opened() int64 { return p.opened.Load() }

// Open counts the connections open now (client side).
func (p *SlowProxy) Open() int { return p.set.open() / 2 }

func (p *SlowProxy) accept() {
	defer p.set.wg.Done()
	for {
		c, err := p.set.ln.Accept()
		if err != nil {
			return
		}
		p.opened.Add(1)
		p.set.wg.Add(1)
		go p.serve(c)
	}
}

func (p *SlowProxy) serve(client net.Conn) {
	defer p.set.wg.Done()
	backend, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		client.Close()
		return
	}
	if !p.set.track(client) || !p.set.track(backend) {
		client.Close()
		backend.Close()
		return
	}
	defer p.set.untrack(client)
	defer p.set.untrack(backend)
	done := make(chan struct{}, 2)
	quit := make(chan struct{})
	go func() { _ = pipe(backend, client); done <- struct{}{} }()
	go func() { p.delayed(client, backend, quit); done <- struct{}{} }()
	<-done
	// Either side ending ends both (the database or the node closed the connection).
	close(quit)
	client.Close()
	backend.Close()
	<-done
}

type chunk struct {
	b   []byte
	due time.Time
}

// delayed copies src to dst, each chunk held until the delay in force when it was read
// has passed, until src ends or quit is closed.
func (p *SlowProxy) delayed(dst, src net.Conn, quit <-chan struct{}) {
	q := make(chan chunk, 1024)
	go func() {
		defer close(q)
		for {
			b := make([]byte, 32<<10)
			n, err := src.Read(b)
			if n > 0 {
				q <- chunk{b[:n], time.Now().Add(p.Delay())}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range q {
		if d := time.Until(c.due); d > 0 {
			timer := time.NewTimer(d)
			select {
			case <-timer.C:
			case <-quit:
				timer.Stop()
			}
		}
		if _, err := dst.Write(c.b); err != nil {
			dst.Close()
			src.Close()
			for range q {
			}
			return
		}
	}
}

// Close stops accepting, closes every open connection and waits for the copies to end.
func (p *SlowProxy) Close() { p.set.close() }
