package clustertest

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The mixed load (make bench-load, test/cluster TestLoadShort): what a tenant's nodes serve
// at a busy hour. Browsers that signed in once at /login come back for SAML and WS-Fed
// sign-ins riding on their session (no password: a policy decision, an assertion signature
// and a sign-in record); MSAL-style clients sign in with WS-Trust and a password (an
// argon2id verification each); and some requests are refused, as they are expected to be:
// WS-Trust from outside the office (the demo policy's block-legacy-outside) and WS-Trust with
// a wrong password (smart lockout soon locks that user; the answer stays a refusal). A
// refusal of those is the expected answer; anything else from any kind (a transport error, a
// server fault, a refusal of an allowed request, a token for a refused one) is an unexpected
// error.

// MixKind is one kind of request of the mixed load.
type MixKind string

const (
	MixSAML           MixKind = "saml-sso"        // SAML 2.0 AuthnRequest (HTTP-Redirect) on an existing session
	MixWSFed          MixKind = "wsfed-sso"       // WS-Fed wsignin1.0 for Microsoft 365 on an existing session
	MixWSTrust        MixKind = "wstrust"         // WS-Trust 1.3 username/password (argon2id)
	MixDeniedPolicy   MixKind = "denied-policy"   // WS-Trust, right password, from outside the office: denied by the policy
	MixDeniedPassword MixKind = "denied-password" // WS-Trust with a wrong password: denied (then locked)
)

// MixKinds lists the kinds in report order.
var MixKinds = []MixKind{MixSAML, MixWSFed, MixWSTrust, MixDeniedPolicy, MixDeniedPassword}

// DefaultMixWeights is the mix: of every 10 sign-ins, 3 SAML and 3 WS-Fed on sessions, 2
// WS-Trust password sign-ins and 2 refusals (one per kind).
var DefaultMixWeights = map[MixKind]int{MixSAML: 3, MixWSFed: 3, MixWSTrust: 2, MixDeniedPolicy: 1, MixDeniedPassword: 1}

// The parts of the tenant PrepareMix adds to the demo tenant.
const (
	MixSPName     = "load-sp"
	MixSPEntity   = "https://sp.load.test/saml"
	MixSPACS      = "https://sp.load.test/saml/acs"
	MixDeniedUser = "mallory@example.com"
	// MixOutsideIP is the address the policy-denied requests come from (X-Forwarded-For from
	// the loopback, a trusted proxy in MixEnv): outside the demo's office network.
	MixOutsideIP = "198.51.100.77"
)

// MixEnv are the settings the nodes of a mixed load need: the load generator on the loopback
// is a trusted proxy, so that a request can say it comes from outside the office.
var MixEnv = []string{"SEKISHO_NETWORK_TRUSTED_PROXIES=127.0.0.1/32"}

// PrepareMix adds to a demo cluster (before its nodes start) what the mixed load uses: a
// SAML service provider and a user whose password the load gets wrong. It returns the
// options of the load; the caller sets Target.
func PrepareMix(t testing.TB, c *Cluster) MixOptions {
	t.Helper()
	c.CLI(t, "", "app", "add", "saml", MixSPName, "--entity-id", MixSPEntity, "--acs", MixSPACS)
	c.CLI(t, rand.Text()+"\n", "user", "add", MixDeniedUser, "--password-stdin", "--display-name", "Mallory (load: wrong password)")
	pick := func(users ...string) map[string]string {
		m := map[string]string{}
		for _, u := range users {
			if c.Passwords[u] == "" {
				t.Fatalf("no demo password for %s", u)
			}
			m[u] = c.Passwords[u]
		}
		return m
	}
	return MixOptions{
		// carol is in it-admins: the demo policy asks her for a second factor in a browser.
		BrowserUsers: pick("alice@example.com", "bob@example.com"),
		WSTrustUsers: pick("alice@example.com", "bob@example.com", "carol@example.com"),
		DeniedUser:   MixDeniedUser, DeniedPassword: "wrong-" + rand.Text(),
	}
}

// MixOptions shape a mixed load.
type MixOptions struct {
	Target *Node // a node, or a Balancer's Node()
	// Browsers is the number of virtual browsers (default 8); each signs in once at /login as
	// one of BrowserUsers, in turn.
	Browsers     int
	BrowserUsers map[string]string
	// WSTrustUsers sign in with WS-Trust in turn; the policy-denied requests use them too
	// (with their right password, from OutsideIP).
	WSTrustUsers map[string]string
	// DeniedUser is signed in with DeniedPassword, which is wrong.
	DeniedUser, DeniedPassword string
	OutsideIP                  string          // default MixOutsideIP
	SPEntity, SPACS            string          // default MixSPEntity, MixSPACS
	Weights                    map[MixKind]int // default DefaultMixWeights
	MaxInFlight                int             // open loop: at most this many requests of one kind in flight (default 256)
	Timeout                    time.Duration   // per request (default 30 s)
}

// Mix is a prepared mixed load: signed-in browsers and the clients of every kind.
type Mix struct {
	o        MixOptions
	cycle    []MixKind
	browsers []*Browser
	active   *http.Client // WS-Trust: no keep-alives, each call a new connection (a new client)
	wsUsers  []string
	seq      atomic.Uint64
}

// NewMix signs in the browsers through o.Target and sends one request of each kind, which
// must all be answered as expected.
func (c *Cluster) NewMix(ctx context.Context, o MixOptions) (*Mix, error) {
	if o.Target == nil || len(o.BrowserUsers) == 0 || len(o.WSTrustUsers) == 0 || o.DeniedUser == "" {
		return nil, fmt.Errorf("mix: Target, BrowserUsers, WSTrustUsers and DeniedUser are required (PrepareMix)")
	}
	if o.Browsers <= 0 {
		o.Browsers = 8
	}
	if o.OutsideIP == "" {
		o.OutsideIP = MixOutsideIP
	}
	if o.SPEntity == "" {
		o.SPEntity, o.SPACS = MixSPEntity, MixSPACS
	}
	if o.Weights == nil {
		o.Weights = DefaultMixWeights
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 256
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	m := &Mix{o: o, cycle: mixCycle(o.Weights)}
	if len(m.cycle) == 0 {
		return nil, fmt.Errorf("mix: no kind has a weight")
	}
	m.active = &http.Client{Timeout: o.Timeout, Transport: &http.Transport{TLSClientConfig: c.TLSConfig(nil), DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	m.wsUsers = sortedKeys(o.WSTrustUsers)
	bu := sortedKeys(o.BrowserUsers)
	for i := range o.Browsers {
		b := c.NewBrowser(nil)
		b.HTTP.Timeout = o.Timeout
		user := bu[i%len(bu)]
		p, err := b.SignIn(ctx, o.Target, user, o.BrowserUsers[user], "/")
		if err != nil || !p.Redirected("/") {
			return nil, fmt.Errorf("mix: browser %d: sign-in of %s at /login: %v %v", i, user, p, err)
		}
		m.browsers = append(m.browsers, b)
	}
	// One of each kind (and every browser's first SSO to both applications) before any timing.
	for i := range m.browsers {
		for _, k := range []MixKind{MixSAML, MixWSFed} {
			if problem := m.do(ctx, k, m.browsers[i], 0); problem != "" {
				return nil, fmt.Errorf("mix: warm-up: %s", problem)
			}
		}
	}
	for _, k := range []MixKind{MixWSTrust, MixDeniedPolicy, MixDeniedPassword} {
		if problem := m.do(ctx, k, nil, 0); problem != "" {
			return nil, fmt.Errorf("mix: warm-up: %s", problem)
		}
	}
	return m, nil
}

// mixCycle spreads the kinds over one cycle by smooth weighted round robin (the default gives
// saml, wsfed, wstrust, denied-policy, saml, wsfed, denied-password, wstrust, saml, wsfed), so
// that every stretch of the load has the mix.
func mixCycle(w map[MixKind]int) []MixKind {
	total := 0
	for _, k := range MixKinds {
		total += max(w[k], 0)
	}
	cur := map[MixKind]int{}
	var out []MixKind
	for range total {
		var best MixKind
		for _, k := range MixKinds {
			if w[k] <= 0 {
				continue
			}
			cur[k] += w[k]
			if best == "" || cur[k] > cur[best] {
				best = k
			}
		}
		cur[best] -= total
		out = append(out, best)
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// next returns the kind and the browser of the next request of the load.
func (m *Mix) next() (MixKind, *Browser, uint64) {
	s := m.seq.Add(1)
	return m.cycle[s%uint64(len(m.cycle))], m.browsers[s%uint64(len(m.browsers))], s
}

const wsfedPath = "/adfs/ls/?wa=wsignin1.0&wtrealm=urn%3Afederation%3AMicrosoftOnline&wctx="

// do sends one request of kind k and returns "" when it was answered as expected, or what
// went wrong.
func (m *Mix) do(ctx context.Context, k MixKind, b *Browser, seq uint64) string {
	problem := func(class, format string, args ...any) string {
		return fmt.Sprintf("%s #%d: %s: %s", k, seq, class, fmt.Sprintf(format, args...))
	}
	page := func(p Page, err error, want string) string {
		switch {
		case err != nil:
			return problem(errClass(err), "%v", err)
		case p.Status != http.StatusOK || !strings.Contains(p.Body, want):
			return problem(fmt.Sprintf("status %d", p.Status), "%s", p)
		}
		return ""
	}
	active := func(user, password, from string, allowed bool) string {
		r, err := m.wstrust(ctx, user, password, from)
		switch {
		case err != nil:
			return problem(errClass(err), "%s: %v", user, err)
		case r.Issued() == allowed && (allowed || (r.Status == http.StatusInternalServerError && strings.Contains(r.Body, "wst:FailedAuthentication<"))):
			return ""
		case r.Issued():
			return problem("token for a refused request", "%s: %.400s", user, r.Body)
		}
		class := fmt.Sprintf("status %d", r.Status)
		for _, f := range []string{"FailedAuthentication", "RequestFailed", "InvalidRequest"} {
			if strings.Contains(r.Body, "wst:"+f+"<") {
				class += " " + f
			}
		}
		return problem(class, "%s: %.400s", user, r.Body)
	}
	user := m.wsUsers[(seq/uint64(len(m.cycle)))%uint64(len(m.wsUsers))]
	switch k {
	case MixSAML:
		p, err := b.Get(ctx, m.o.Target, "/saml/sso?"+mixRedirect(m.o.SPEntity, m.o.SPACS, fmt.Sprintf("r%d", seq)))
		return page(p, err, `name="SAMLResponse"`)
	case MixWSFed:
		p, err := b.Get(ctx, m.o.Target, fmt.Sprintf("%sc%d", wsfedPath, seq))
		return page(p, err, `name="wresult"`)
	case MixWSTrust:
		return active(user, m.o.WSTrustUsers[user], "", true)
	case MixDeniedPolicy:
		return active(user, m.o.WSTrustUsers[user], m.o.OutsideIP, false)
	case MixDeniedPassword:
		return active(m.o.DeniedUser, m.o.DeniedPassword, "", false)
	}
	return problem("unknown kind", "")
}

// errClass names a transport error briefly, for counting.
func errClass(err error) string {
	s := err.Error()
	for _, c := range []string{"Client.Timeout", "connection reset", "connection refused", "unexpected EOF", "broken pipe", "EOF"} {
		if strings.Contains(s, c) {
			return c
		}
	}
	return "transport error"
}

// wstrust is Cluster.WSTrust on the mix's client, with an X-Forwarded-For when from is set.
func (m *Mix) wstrust(ctx context.Context, user, password, from string) (WSTrustResult, error) {
	now := time.Now().UTC()
	env := fmt.Sprintf(rstTemplate, now.Format("2006-01-02T15:04:05.000Z"), now.Add(10*time.Minute).Format("2006-01-02T15:04:05.000Z"),
		xmlEscape(user), xmlEscape(password))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.o.Target.URL+"/adfs/services/trust/13/usernamemixed", strings.NewReader(env))
	if err != nil {
		return WSTrustResult{}, err
	}
	req.Header.Set("Content-Type", "application/soap+xml; charset=utf-8")
	req.Header.Set("User-Agent", "sekisho-mixload")
	if from != "" {
		req.Header.Set("X-Forwarded-For", from)
	}
	resp, err := m.active.Do(req)
	if err != nil {
		return WSTrustResult{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return WSTrustResult{Status: resp.StatusCode, Body: string(body)}, err
}

// mixRedirect is an unsigned AuthnRequest with a new ID from entity, for the HTTP-Redirect
// binding.
func mixRedirect(entity, acs, relay string) string {
	xml := fmt.Sprintf(`<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"`+
		` ID="_%s" Version="2.0" IssueInstant="%s" AssertionConsumerServiceURL="%s" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST">`+
		`<saml:Issuer>%s</saml:Issuer></samlp:AuthnRequest>`, strings.ToLower(rand.Text()), time.Now().UTC().Format("2006-01-02T15:04:05Z"), acs, entity)
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.DefaultCompression)
	_, _ = io.WriteString(w, xml)
	_ = w.Close()
	return "SAMLRequest=" + url.QueryEscape(base64.StdEncoding.EncodeToString(buf.Bytes())) + "&RelayState=" + url.QueryEscape(relay)
}

// Phase is what one stretch of the load did.
type Phase struct {
	Name       string
	Workers    int     // closed loop: concurrent clients
	TargetRate float64 // open loop: requests per second asked for
	Elapsed    time.Duration
	// MaxLag is how late (open loop) the generator sent a request after its due time.
	MaxLag time.Duration

	mu         sync.Mutex
	lat        map[MixKind][]time.Duration // answered as expected
	unexpected map[MixKind]int
	classes    map[string]int // unexpected errors by kind and class
	samples    []string       // the first unexpected error of each class
}

func newPhase(name string) *Phase {
	return &Phase{Name: name, lat: map[MixKind][]time.Duration{}, unexpected: map[MixKind]int{}, classes: map[string]int{}}
}

func (p *Phase) record(k MixKind, d time.Duration, problem string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if problem == "" {
		p.lat[k] = append(p.lat[k], d)
		return
	}
	p.unexpected[k]++
	class := string(k)
	if f := strings.SplitN(problem, ": ", 3); len(f) == 3 {
		class += ": " + f[1]
	}
	// The first error of each class (of up to 20 classes) is kept as a sample.
	if p.classes[class]++; p.classes[class] == 1 && len(p.samples) < 20 {
		p.samples = append(p.samples, problem)
	}
}

// Count is the number of requests of kind k answered as expected.
func (p *Phase) Count(k MixKind) int { p.mu.Lock(); defer p.mu.Unlock(); return len(p.lat[k]) }

// Total is the number of requests answered (as expected or not).
func (p *Phase) Total() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, k := range MixKinds {
		n += len(p.lat[k]) + p.unexpected[k]
	}
	return n
}

// Rate is the requests answered per second.
func (p *Phase) Rate() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.Total()) / p.Elapsed.Seconds()
}

// Unexpected is the number of unexpected errors (of kind k, or of every kind when k is "").
func (p *Phase) Unexpected(k MixKind) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if k != "" {
		return p.unexpected[k]
	}
	n := 0
	for _, v := range p.unexpected {
		n += v
	}
	return n
}

// Classes counts the unexpected errors by kind and class ("wstrust: Client.Timeout").
func (p *Phase) Classes() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(p.classes))
	for c, n := range p.classes {
		out[c] = n
	}
	return out
}

// Samples are the first unexpected error of each class.
func (p *Phase) Samples() []string { p.mu.Lock(); defer p.mu.Unlock(); return slices.Clone(p.samples) }

// Percentile is the q-quantile (0 < q ≤ 1) of the latencies of kind k ("" for every kind),
// by the nearest-rank method; 0 when there is none.
func (p *Phase) Percentile(k MixKind, q float64) time.Duration {
	p.mu.Lock()
	var l []time.Duration
	if k != "" {
		l = slices.Clone(p.lat[k])
	} else {
		for _, v := range p.lat {
			l = append(l, v...)
		}
	}
	p.mu.Unlock()
	if len(l) == 0 {
		return 0
	}
	slices.Sort(l)
	i := int(math.Ceil(q*float64(len(l)))) - 1
	return l[min(max(i, 0), len(l)-1)]
}

// RunClosed runs workers clients, each sending the next request of the mix as soon as its
// previous one is answered, for d.
func (m *Mix) RunClosed(ctx context.Context, workers int, d time.Duration) *Phase {
	p := newPhase(fmt.Sprintf("closed loop, %d clients", workers))
	p.Workers = workers
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(deadline) {
				k, b, s := m.next()
				t0 := time.Now()
				problem := m.do(ctx, k, b, s)
				if ctx.Err() != nil {
					return // stopped: not an answer
				}
				p.record(k, time.Since(t0), problem)
			}
		})
	}
	wg.Wait()
	p.Elapsed = time.Since(start)
	return p
}

// RunOpen sends the mix at rate requests per second for d, whatever the answers take (open
// loop: every request is sent at its due time, as independent clients do, and latency is
// measured from then). At most MaxInFlight requests of one kind are in flight: a request
// due beyond that is not sent and counts as an unexpected error ("not sent"), so that a
// server that cannot keep up fails the run instead of slowing the generator down, and the
// other kinds are still sent on time.
func (m *Mix) RunOpen(ctx context.Context, rate float64, d time.Duration) *Phase {
	p := newPhase(fmt.Sprintf("open loop, %.1f/s", rate))
	p.TargetRate = rate
	interval := time.Duration(float64(time.Second) / rate)
	sems := map[MixKind]chan struct{}{}
	for _, k := range MixKinds {
		sems[k] = make(chan struct{}, m.o.MaxInFlight)
	}
	var wg sync.WaitGroup
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
loop:
	for i := 0; ; i++ {
		due := start.Add(time.Duration(i) * interval)
		if due.Sub(start) >= d {
			break
		}
		if wait := time.Until(due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				break loop
			}
		}
		if lag := time.Since(due); lag > p.MaxLag {
			p.MaxLag = lag
		}
		k, b, s := m.next()
		select {
		case sems[k] <- struct{}{}:
		default:
			p.record(k, 0, fmt.Sprintf("%s #%d: not sent: %d in flight", k, s, m.o.MaxInFlight))
			continue
		}
		wg.Go(func() {
			defer func() { <-sems[k] }()
			problem := m.do(ctx, k, b, s)
			if ctx.Err() != nil {
				return
			}
			p.record(k, time.Since(due), problem)
		})
	}
	wg.Wait()
	p.Elapsed = time.Since(start)
	return p
}

// RSSSample is one reading of a node's resident memory.
type RSSSample struct {
	At    time.Duration // since the sampling started
	Bytes int64
}

// RSSSeries is one node's readings.
type RSSSeries struct {
	Node    string
	PID     int
	Samples []RSSSample
	Err     error // the first failed reading (the process gone)
}

// MiB returns the readings in MiB.
func (s RSSSeries) MiB() []float64 {
	out := make([]float64, len(s.Samples))
	for i, x := range s.Samples {
		out[i] = float64(x.Bytes) / (1 << 20)
	}
	return out
}

// SlopeMiBPerMinute is the least-squares slope of the readings, in MiB per minute (0 with
// fewer than two).
func (s RSSSeries) SlopeMiBPerMinute() float64 {
	n := float64(len(s.Samples))
	if n < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for _, x := range s.Samples {
		t, y := x.At.Minutes(), float64(x.Bytes)/(1<<20)
		sx, sy, sxx, sxy = sx+t, sy+y, sxx+t*t, sxy+t*y
	}
	den := n*sxx - sx*sx
	if den == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / den
}

// SampleRSS reads the resident memory of every node now and then every interval until the
// returned function is called (which takes a last reading and returns the series).
func SampleRSS(nodes []*Node, every time.Duration) (stop func() []RSSSeries) {
	series := make([]RSSSeries, len(nodes))
	for i, n := range nodes {
		series[i] = RSSSeries{Node: n.Name, PID: n.PID()}
	}
	var mu sync.Mutex
	start := time.Now()
	read := func() {
		mu.Lock()
		defer mu.Unlock()
		at := time.Since(start)
		for i, n := range nodes {
			b, err := n.RSS()
			if err != nil {
				if series[i].Err == nil {
					series[i].Err = err
				}
				continue
			}
			series[i].Samples = append(series[i].Samples, RSSSample{At: at, Bytes: b})
		}
	}
	read()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				read()
			case <-done:
				return
			}
		}
	})
	return func() []RSSSeries {
		close(done)
		wg.Wait()
		read()
		mu.Lock()
		defer mu.Unlock()
		out := make([]RSSSeries, len(series))
		for i, s := range series {
			out[i] = s
			out[i].Samples = slices.Clone(s.Samples)
		}
		return out
	}
}

// MixPlan is a whole run: a capacity ramp, then a sustained stretch at a fraction of it.
type MixPlan struct {
	// RampClients are the closed-loop steps of the capacity ramp (default 1, 2, 4, 8, 16); the
	// ramp stops early once two steps in a row gain less than 5% over the best before them.
	RampClients []int
	RampStep    time.Duration // each step (default 5 s)
	Fraction    float64       // of the capacity, for the sustained stretch (default 0.8)
	Duration    time.Duration // of the sustained stretch (default 2 min)
	RSSEvery    time.Duration // reading interval of the nodes' memory (default 10 s)
	Nodes       []*Node       // whose memory is read
	Logf        func(format string, args ...any)
}

// MixReport is what a run measured.
type MixReport struct {
	Ramp       []*Phase
	Capacity   float64 // the best rate of the ramp
	TargetRate float64 // Fraction × Capacity
	Sustained  *Phase
	RSS        []RSSSeries // during the sustained stretch (the first reading at its start)
	RampRSS    []RSSSeries // during the ramp, every second
}

// Unexpected counts the unexpected errors of the whole run (ramp and sustained).
func (r *MixReport) Unexpected() int {
	n := 0
	for _, p := range r.Ramp {
		n += p.Unexpected("")
	}
	if r.Sustained != nil {
		n += r.Sustained.Unexpected("")
	}
	return n
}

// Samples are the first unexpected error of each class, per phase of the run.
func (r *MixReport) Samples() []string {
	var out []string
	for _, p := range append(slices.Clone(r.Ramp), r.Sustained) {
		if p != nil {
			out = append(out, p.Samples()...)
		}
	}
	return out
}

// Classes counts the unexpected errors of the run by kind and class.
func (r *MixReport) Classes() map[string]int {
	out := map[string]int{}
	for _, p := range append(slices.Clone(r.Ramp), r.Sustained) {
		if p != nil {
			for c, n := range p.Classes() {
				out[c] += n
			}
		}
	}
	return out
}

// MaxSlope is the steepest memory slope of the nodes (MiB per minute).
func (r *MixReport) MaxSlope() float64 {
	s := math.Inf(-1)
	for _, x := range r.RSS {
		s = max(s, x.SlopeMiBPerMinute())
	}
	if math.IsInf(s, -1) {
		return 0
	}
	return s
}

// Run measures the capacity of the mix with a short closed-loop ramp, then sends it at
// Fraction of that for Duration while reading the nodes' memory.
func (m *Mix) Run(ctx context.Context, plan MixPlan) *MixReport {
	if len(plan.RampClients) == 0 {
		plan.RampClients = []int{1, 2, 4, 8, 16}
	}
	if plan.RampStep <= 0 {
		plan.RampStep = 5 * time.Second
	}
	if plan.Fraction <= 0 {
		plan.Fraction = 0.8
	}
	if plan.Duration <= 0 {
		plan.Duration = 2 * time.Minute
	}
	if plan.RSSEvery <= 0 {
		plan.RSSEvery = 10 * time.Second
	}
	logf := plan.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	r := &MixReport{}
	stopRamp := SampleRSS(plan.Nodes, time.Second)
	flat := 0
	for _, n := range plan.RampClients {
		p := m.RunClosed(ctx, n, plan.RampStep)
		r.Ramp = append(r.Ramp, p)
		logf("ramp: %d clients: %.1f sign-ins/s, p50 %v, p99 %v, %d unexpected", n, p.Rate(),
			p.Percentile("", 0.5).Round(time.Millisecond), p.Percentile("", 0.99).Round(time.Millisecond), p.Unexpected(""))
		if p.Rate() > r.Capacity*1.05 {
			flat = 0
		} else {
			flat++
		}
		r.Capacity = max(r.Capacity, p.Rate())
		// Saturated when two steps in a row gain less than 5% (one may be noise on a shared
		// machine).
		if flat == 2 || ctx.Err() != nil {
			break
		}
	}
	r.RampRSS = stopRamp()
	r.TargetRate = plan.Fraction * r.Capacity
	if r.TargetRate <= 0 || ctx.Err() != nil {
		return r
	}
	logf("sustained: %.1f sign-ins/s (%.0f%% of %.1f) for %v", r.TargetRate, plan.Fraction*100, r.Capacity, plan.Duration)
	stop := SampleRSS(plan.Nodes, plan.RSSEvery)
	r.Sustained = m.RunOpen(ctx, r.TargetRate, plan.Duration)
	r.RSS = stop()
	return r
}

// WarmPeak is the highest memory reading of node i (in the order of MixPlan.Nodes) up to
// the start of the sustained stretch: the ramp (read every second, at up to its most
// concurrent step) and the stretch's first reading. Every password check in flight holds
// its own argon2id buffer (19 MiB), so single readings swing with the concurrency; peaks
// are what compare.
func (r *MixReport) WarmPeak(i int) int64 {
	var peak int64
	if i < len(r.RampRSS) {
		for _, x := range r.RampRSS[i].Samples {
			peak = max(peak, x.Bytes)
		}
	}
	if i < len(r.RSS) && len(r.RSS[i].Samples) > 0 {
		peak = max(peak, r.RSS[i].Samples[0].Bytes)
	}
	return peak
}

// EndPeak is the highest memory reading of node i in the last quarter of the sustained
// stretch (at least its last reading).
func (r *MixReport) EndPeak(i int) int64 { return r.stretchPeak(i, 3, 4, 4) }

// FirstHalfPeak is the highest memory reading of node i in the first half of the sustained
// stretch: the working size the load settles at, which a short ramp may not have reached
// (a backlog of password checks, each holding 19 MiB, raises it in steps). A leak grows from
// there to the end; a step within it does not.
func (r *MixReport) FirstHalfPeak(i int) int64 { return r.stretchPeak(i, 0, 2, 4) }

// stretchPeak is the highest reading of node i between from/den and to/den of the stretch.
func (r *MixReport) stretchPeak(i int, from, to, den time.Duration) int64 {
	if i >= len(r.RSS) || len(r.RSS[i].Samples) == 0 {
		return 0
	}
	s := r.RSS[i].Samples
	last := s[len(s)-1].At
	var peak int64
	for _, x := range s {
		if x.At >= last*from/den && x.At <= last*to/den {
			peak = max(peak, x.Bytes)
		}
	}
	return peak
}

// Print writes the report for a person.
func (r *MixReport) Print(w io.Writer, title string) {
	fmt.Fprintf(w, "== %s ==\n", title)
	fmt.Fprintf(w, "capacity ramp (closed loop):")
	for _, p := range r.Ramp {
		fmt.Fprintf(w, " %d clients %.1f/s;", p.Workers, p.Rate())
	}
	fmt.Fprintf(w, " capacity %.1f sign-ins/s\n", r.Capacity)
	s := r.Sustained
	if s == nil {
		fmt.Fprintln(w, "no sustained stretch")
		return
	}
	fmt.Fprintf(w, "sustained (open loop): target %.1f/s, achieved %.1f/s (%.3f of capacity) over %v, %d requests, %d unexpected errors (whole run %d), generator lag max %v\n",
		r.TargetRate, s.Rate(), s.Rate()/r.Capacity, s.Elapsed.Round(time.Millisecond), s.Total(), s.Unexpected(""), r.Unexpected(), s.MaxLag.Round(time.Millisecond))
	fmt.Fprintf(w, "  %-16s %7s %10s %10s %10s\n", "kind", "count", "p50", "p99", "unexpected")
	for _, k := range append(slices.Clone(MixKinds), "") {
		name := string(k)
		if k == "" {
			name = "all"
		}
		fmt.Fprintf(w, "  %-16s %7d %10v %10v %10d\n", name, s.countAll(k), s.Percentile(k, 0.5).Round(100*time.Microsecond),
			s.Percentile(k, 0.99).Round(100*time.Microsecond), s.Unexpected(k))
	}
	for i, x := range r.RSS {
		fmt.Fprintf(w, "  RSS %s (pid %d), MiB every %v:", x.Node, x.PID, rssStep(x))
		for _, v := range x.MiB() {
			fmt.Fprintf(w, " %.1f", v)
		}
		fmt.Fprintf(w, "; slope %+.3f MiB/min; peak %.1f MiB up to the stretch, %.1f MiB in its last quarter\n",
			x.SlopeMiBPerMinute(), float64(r.WarmPeak(i))/(1<<20), float64(r.EndPeak(i))/(1<<20))
		if x.Err != nil {
			fmt.Fprintf(w, "  RSS %s: %v\n", x.Node, x.Err)
		}
	}
	classes := r.Classes()
	for _, c := range slices.Sorted(maps.Keys(classes)) {
		fmt.Fprintf(w, "  unexpected errors: %5d × %s\n", classes[c], c)
	}
	for _, e := range r.Samples() {
		fmt.Fprintf(w, "  unexpected, e.g.: %.600s\n", e)
	}
}

func (p *Phase) countAll(k MixKind) int {
	if k != "" {
		return p.Count(k)
	}
	n := 0
	for _, k := range MixKinds {
		n += p.Count(k)
	}
	return n
}

func rssStep(s RSSSeries) time.Duration {
	if len(s.Samples) < 2 {
		return 0
	}
	return (s.Samples[1].At - s.Samples[0].At).Round(time.Second)
}

// Summary is the report as JSON-friendly values (for the benchmark's result line).
func (r *MixReport) Summary() map[string]any {
	out := map[string]any{"capacity": round3(r.Capacity), "target": round3(r.TargetRate), "unexpected_errors": r.Unexpected()}
	if c := r.Classes(); len(c) > 0 {
		out["unexpected_by_class"] = c
	}
	var ramp []any
	for _, p := range r.Ramp {
		ramp = append(ramp, map[string]any{"clients": p.Workers, "rate": round3(p.Rate())})
	}
	out["ramp"] = ramp
	if s := r.Sustained; s != nil {
		out["achieved"] = round3(s.Rate())
		out["requests"] = s.Total()
		out["duration_s"] = round3(s.Elapsed.Seconds())
		lat := map[string]any{}
		for _, k := range append(slices.Clone(MixKinds), "") {
			name := string(k)
			if k == "" {
				name = "all"
			}
			lat[name] = map[string]any{"count": s.countAll(k), "p50_ms": ms3(s.Percentile(k, 0.5)), "p99_ms": ms3(s.Percentile(k, 0.99))}
		}
		out["latency"] = lat
	}
	rss := map[string]any{}
	for i, x := range r.RSS {
		series := make([]float64, 0, len(x.Samples))
		for _, v := range x.MiB() {
			series = append(series, math.Round(v*10)/10)
		}
		rss[x.Node] = map[string]any{"mib": series, "every_s": rssStep(x).Seconds(), "slope_mib_per_min": round3(x.SlopeMiBPerMinute()),
			"warm_peak_mib": math.Round(float64(r.WarmPeak(i))/(1<<20)*10) / 10, "end_peak_mib": math.Round(float64(r.EndPeak(i))/(1<<20)*10) / 10}
	}
	out["rss"] = rss
	out["rss_slope_max_mib_per_min"] = round3(r.MaxSlope())
	return out
}

func round3(v float64) float64    { return math.Round(v*1000) / 1000 }
func ms3(d time.Duration) float64 { return round3(float64(d) / float64(time.Millisecond)) }
