package clustertest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"syscall"
	"time"
)

// Attempt is one WS-Trust sign-in a load client sent, and what it got.
type Attempt struct {
	Client int    // which load client sent it
	User   string // the user signing in
	// Tag is the User-Agent the request carried, unique per attempt: the node stores it in
	// the sign-in record (user_agent), which links an answer to its record.
	Tag        string
	Start, End time.Time
	// Local is the client's address of the TCP connection the attempt used (a balancer's
	// Route names the node it went to); "" if no connection was made.
	Local string
	// Sent reports whether the whole request was written (the node may have acted on it).
	Sent bool
	// Stopped reports that the load was stopped while the attempt was in flight: it got no
	// answer, but the node may have acted on it.
	Stopped bool
	Result  WSTrustResult
	Err     error
}

// Issued reports whether the attempt was answered with an issued token.
func (a Attempt) Issued() bool { return a.Err == nil && a.Result.Issued() }

// Latency is how long the attempt took.
func (a Attempt) Latency() time.Duration { return a.End.Sub(a.Start) }

// LoadOptions shape a load.
type LoadOptions struct {
	Target  *Node // where the clients send (a node, or a Balancer's Node())
	Clients int   // concurrent clients, each sending one sign-in after the other
	// Users are the users (name → password) the clients sign in as, in turn.
	Users map[string]string
	// Timeout bounds each attempt (default 20 s).
	Timeout time.Duration
	// Tag prefixes the User-Agent of every attempt (default "sekisho-load").
	Tag string
}

// Load is a running load: Clients goroutines sending WS-Trust sign-ins until Stop.
type Load struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	attempts []Attempt
	notify   chan struct{}
}

type attemptKey struct{}

// probe collects what the transport's goroutines see of one attempt.
type probe struct {
	tag   string
	mu    sync.Mutex
	local string
	sent  bool
}

func (p *probe) set(f func(p *probe)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(p)
}

// StartLoad starts o.Clients clients sending WS-Trust sign-ins to o.Target. Every client has
// its own transport with keep-alives off, so each attempt is a new TCP connection (a
// balancer spreads them over the nodes) and a dead node costs one attempt, not a pool.
func (c *Cluster) StartLoad(ctx context.Context, o LoadOptions) *Load {
	if o.Timeout == 0 {
		o.Timeout = 20 * time.Second
	}
	if o.Tag == "" {
		o.Tag = "sekisho-load"
	}
	users := make([]string, 0, len(o.Users))
	for u := range o.Users {
		users = append(users, u)
	}
	sort.Strings(users)
	ctx, cancel := context.WithCancel(ctx)
	l := &Load{cancel: cancel, notify: make(chan struct{}, 1)}
	for i := range o.Clients {
		hc := c.loadClient(o.Timeout)
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for seq := 0; ctx.Err() == nil; seq++ {
				user := users[(i+seq)%len(users)]
				a := Attempt{Client: i, User: user, Tag: fmt.Sprintf("%s/%d-%d", o.Tag, i, seq)}
				p := &probe{tag: a.Tag}
				actx := context.WithValue(ctx, attemptKey{}, p)
				actx = httptrace.WithClientTrace(actx, &httptrace.ClientTrace{
					WroteRequest: func(w httptrace.WroteRequestInfo) { p.set(func(p *probe) { p.sent = w.Err == nil }) },
				})
				a.Start = time.Now()
				a.Result, a.Err = c.WSTrust(actx, hc, o.Target, user, o.Users[user])
				a.End = time.Now()
				p.set(func(p *probe) { a.Local, a.Sent = p.local, p.sent })
				a.Stopped = ctx.Err() != nil && a.Err != nil
				l.mu.Lock()
				l.attempts = append(l.attempts, a)
				l.mu.Unlock()
				select {
				case l.notify <- struct{}{}:
				default:
				}
			}
		}()
	}
	return l
}

// loadClient is Client with a transport of its own: no keep-alives, every dial noted in the
// attempt, and the attempt's tag as User-Agent.
func (c *Cluster) loadClient(timeout time.Duration) *http.Client {
	tc := &tls.Config{}
	if b, err := os.ReadFile(filepath.Join(c.Dir, "demo-ca.pem")); err == nil {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(b)
		tc.RootCAs = pool
	} else {
		tc.InsecureSkipVerify = true //nolint:gosec // as Client
	}
	d := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := d.DialContext(ctx, network, addr)
			if p, ok := ctx.Value(attemptKey{}).(*probe); ok && err == nil {
				p.set(func(p *probe) { p.local = conn.LocalAddr().String() })
			}
			return conn, err
		}}
	return &http.Client{Timeout: timeout, Transport: tagged{tr},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type tagged struct{ rt http.RoundTripper }

func (t tagged) RoundTrip(r *http.Request) (*http.Response, error) {
	if p, ok := r.Context().Value(attemptKey{}).(*probe); ok {
		r = r.Clone(r.Context())
		r.Header.Set("User-Agent", p.tag)
	}
	return t.rt.RoundTrip(r)
}

// Attempts returns the attempts finished so far, in the order they finished.
func (l *Load) Attempts() []Attempt {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.attempts)
}

// Count returns how many finished attempts satisfy f.
func (l *Load) Count(f func(Attempt) bool) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, a := range l.attempts {
		if f(a) {
			n++
		}
	}
	return n
}

// WaitFor waits until n finished attempts satisfy f, or limit passes.
func (l *Load) WaitFor(limit time.Duration, n int, f func(Attempt) bool) error {
	deadline := time.After(limit)
	for l.Count(f) < n {
		select {
		case <-l.notify:
		case <-deadline:
			return fmt.Errorf("%d of %d attempts after %v", l.Count(f), n, limit)
		}
	}
	return nil
}

// Stop ends the load, waits for the clients (an attempt in flight is abandoned and marked
// Stopped) and returns every attempt.
func (l *Load) Stop() []Attempt {
	l.cancel()
	l.wg.Wait()
	return l.Attempts()
}

// IsTransportError reports whether err is what a client sees from a node that vanished: the
// connection refused, reset or closed before a whole answer (no HTTP answer at all).
func IsTransportError(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}
