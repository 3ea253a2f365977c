package cluster_test

import (
	"context"
	"database/sql"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/testutil/clustertest"
)

// A token names its sign-in record: the assertion's AssertionID is "_" and the record's
// reference ID (signin.AssertionID). The fault tests compare the client's list of those IDs
// with the log; they also tag every attempt with a unique User-Agent (stored in the record)
// to classify the records of attempts that got no token, and check, without any link, that
// no user got more tokens than the log has allow records.

// demoUsers are the demo tenant's Microsoft 365 users and their passwords (the demo policy
// lets them use WS-Trust from the loopback address, which is in the office network).
func demoUsers(t *testing.T, c *clustertest.Cluster) map[string]string {
	t.Helper()
	users := map[string]string{}
	for _, u := range []string{"alice@example.com", "bob@example.com", "carol@example.com"} {
		if c.Passwords[u] == "" {
			t.Fatalf("no demo password for %s (have %v)", u, keys(c.Passwords))
		}
		users[u] = c.Passwords[u]
	}
	return users
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// record is one sign-in record of a load attempt.
type record struct{ id, decision, reason, username string }

// records reads the WS-Trust sign-in records of the load (user agents starting with tag)
// straight from the PostgreSQL database, keyed by user agent.
func records(t *testing.T, dsn, tag string) map[string][]record {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	return recordsIn(t, db, "$1", tag)
}

// recordsIn reads them from db, whose driver writes its one placeholder as param.
func recordsIn(t *testing.T, db *sql.DB, param, tag string) map[string][]record {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), `SELECT user_agent, id, decision, reason, username FROM sign_ins
		WHERE protocol = 'wstrust' AND user_agent LIKE `+param, tag+"/%")
	if err != nil {
		t.Fatalf("read sign_ins: %v", err)
	}
	defer rows.Close()
	out := map[string][]record{}
	for rows.Next() {
		var ua string
		var r record
		if err := rows.Scan(&ua, &r.id, &r.decision, &r.reason, &r.username); err != nil {
			t.Fatal(err)
		}
		out[ua] = append(out[ua], r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// orphans counts the allow records that have no token the client received, by what the
// client got instead.
type orphans struct{ noAnswer, refused, stopped, unknown int }

// checkRecorded asserts that every issued token of the load has exactly one allow record
// (matched by the attempt's User-Agent), and that no user got more tokens than the log has
// allow records for them (a check that needs no link).
func checkRecorded(t *testing.T, attempts []clustertest.Attempt, recs map[string][]record) (total int, o orphans) {
	t.Helper()
	issued, allowed := map[string]int{}, map[string]int{}
	byTag := map[string]clustertest.Attempt{}
	for _, a := range attempts {
		byTag[a.Tag] = a
		if !a.Issued() {
			continue
		}
		issued[a.User]++
		var allow int
		ref := strings.TrimPrefix(a.Result.AssertionID(), "_")
		for _, r := range recs[a.Tag] {
			if r.decision == "allow" && r.id == ref {
				allow++
			}
		}
		if allow != 1 {
			t.Errorf("token issued to %s (%s, %s…%s) but the log has %d allow records for it: %v",
				a.User, a.Tag, a.Start.Format("15:04:05.000"), a.End.Format("15:04:05.000"), allow, recs[a.Tag])
		}
	}
	for tag, rs := range recs {
		total += len(rs)
		for _, r := range rs {
			if r.decision != "allow" {
				continue
			}
			allowed[r.username]++
			switch a, ok := byTag[tag]; {
			case !ok:
				o.unknown++
			case a.Issued():
			case a.Stopped:
				o.stopped++
			case a.Err != nil:
				o.noAnswer++
			default:
				o.refused++
			}
		}
	}
	for u, n := range issued {
		if n > allowed[u] {
			t.Errorf("%s: %d tokens issued, %d allow records", u, n, allowed[u])
		}
	}
	return total, o
}

// fault returns the WS-Trust fault subcode of a refusal ("" if the answer is not a fault).
func fault(r clustertest.WSTrustResult) string {
	for _, f := range []string{"RequestFailed", "FailedAuthentication", "InvalidRequest"} {
		if r.Status == http.StatusInternalServerError && strings.Contains(r.Body, "wst:"+f+"<") {
			return f
		}
	}
	return ""
}

func readyz(ctx context.Context, hc *http.Client, n *clustertest.Node) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.URL+"/readyz", nil)
	if err != nil {
		return 0
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func errKind(err error) string {
	s := err.Error()
	for _, k := range []string{"connection reset by peer", "connection refused", "unexpected EOF", "broken pipe", "EOF", "timeout", "deadline"} {
		if strings.Contains(s, k) {
			return k
		}
	}
	return s
}

func ms(d time.Duration) string { return d.Round(time.Millisecond).String() }

// TestKillNodeUnderLoadLosesNoRecord: two nodes behind a round-robin TCP balancer serve
// WS-Trust sign-ins from several clients; one node is killed (SIGKILL) in the middle. Every
// token a client received has its sign-in record; the clients saw only transport errors, and
// only from the killed node; the other node kept serving.
func TestKillNodeUnderLoadLosesNoRecord(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Demo: true})
	a, b := c.Start(t, "node-a"), c.Start(t, "node-b")
	users := demoUsers(t, c)
	hc := c.Client()
	for _, n := range []*clustertest.Node{a, b} {
		if r, err := c.WSTrust(t.Context(), hc, n, "alice@example.com", users["alice@example.com"]); err != nil || !r.Issued() {
			t.Fatalf("%s issues no token before the test: %d %v %.300s", n.Name, r.Status, err, r.Body)
		}
	}
	lb := clustertest.NewBalancer(t, a, b)
	const tag = "kill-load"
	load := c.StartLoad(t.Context(), clustertest.LoadOptions{Target: lb.Node(), Clients: 4, Users: users, Tag: tag})
	defer load.Stop()
	issuedOn := func(n *clustertest.Node, after time.Time) func(clustertest.Attempt) bool {
		return func(x clustertest.Attempt) bool {
			return x.Issued() && lb.Route(x.Local) == n.Name && x.Start.After(after)
		}
	}

	// Both nodes serve the load for a while…
	start := time.Now()
	for _, n := range []*clustertest.Node{a, b} {
		if err := load.WaitFor(30*time.Second, 40, issuedOn(n, time.Time{})); err != nil {
			t.Fatalf("tokens issued by %s through the balancer: %v\n%s", n.Name, err, tail(n.Log()))
		}
	}
	// …then node b dies without warning, in the middle of its requests.
	killAt := time.Now()
	b.Kill()
	killed := time.Now()
	// The survivor keeps serving, and the dead node's connections fail meanwhile.
	if err := load.WaitFor(30*time.Second, 60, issuedOn(a, killed)); err != nil {
		t.Fatalf("node a after the kill: %v\n%s", err, tail(a.Log()))
	}
	if err := load.WaitFor(10*time.Second, 10, func(x clustertest.Attempt) bool { return x.Err != nil && x.Start.After(killed) }); err != nil {
		t.Fatalf("connections given to the dead node: %v", err)
	}
	attempts := load.Stop()
	end := time.Now()

	// What the clients saw: tokens, and transport errors from the killed node only.
	var issued, errs, sentErrs, afterKillOnA, inFlight int
	errKinds := map[string]int{}
	for _, x := range attempts {
		node := lb.Route(x.Local)
		if node == b.Name && x.Start.Before(killAt) && x.End.After(killAt) {
			inFlight++
		}
		switch {
		case x.Stopped:
		case x.Issued():
			issued++
			if node == b.Name && x.Start.After(killed) {
				t.Errorf("%s: a token from the killed node after it was killed: the balancer's route is wrong", x.Tag)
			}
			if node == a.Name && x.Start.After(killed) {
				afterKillOnA++
			}
		case x.Err == nil:
			t.Errorf("%s (%s on %s): a wrong answer: %d %.600s", x.Tag, x.User, node, x.Result.Status, x.Result.Body)
		default:
			errs++
			if x.Sent {
				sentErrs++
			}
			errKinds[errKind(x.Err)]++
			if node != b.Name {
				t.Errorf("%s: error from %q (not the killed node): %v", x.Tag, node, x.Err)
			} else if x.End.Before(killAt) {
				t.Errorf("%s: error from node b before it was killed: %v", x.Tag, x.Err)
			}
			if !clustertest.IsTransportError(x.Err) {
				t.Errorf("%s: not a transport error: %v", x.Tag, x.Err)
			}
		}
	}
	if n := lb.Refused(a.Name); n != 0 {
		t.Errorf("the balancer could not reach the surviving node %d times", n)
	}

	// What the store holds: every issued token has its record.
	total, orphan := checkRecorded(t, attempts, records(t, c.DSN, tag))

	// The survivor still answers directly and is ready.
	if r, err := c.WSTrust(t.Context(), hc, a, "bob@example.com", users["bob@example.com"]); err != nil || !r.Issued() {
		t.Errorf("node a after the run: %d %v %.300s", r.Status, err, r.Body)
	}
	if st := readyz(t.Context(), hc, a); st != http.StatusOK {
		t.Errorf("node a /readyz = %d after the kill", st)
	}
	t.Logf("%d sign-ins in %v (%.0f/s), node b killed after %v: %d tokens (%d from node a after the kill); %d in flight on node b at the kill; "+
		"%d transport errors, all from node b (%d after the whole request was sent; %v; the balancer reset %d connections it could not pass to node b); "+
		"%d sign-in records of the load; allow records without a received token: %+v",
		len(attempts), ms(end.Sub(start)), float64(len(attempts))/end.Sub(start).Seconds(), ms(killAt.Sub(start)),
		issued, afterKillOnA, inFlight, errs, sentErrs, errKinds, lb.Refused(b.Name), total, orphan)
}

// outageBound bounds every wait of the database restart test (a node noticing the outage,
// answering during it, recovering after it); the measured times are logged.
const outageBound = 15 * time.Second

// TestDatabaseRestartUnderLoad: two nodes on a PostgreSQL of their own serve WS-Trust
// sign-ins while the database is stopped (fast shutdown: sessions ended) and started again.
// While it is down every node reports not ready and refuses every sign-in (it cannot write
// the record, so it may not allow), answering promptly; once it is up the nodes are ready
// and issue tokens again, without a restart, within outageBound.
func TestDatabaseRestartUnderLoad(t *testing.T) {
	clustertest.PostgresDSN(t) // gated like every cluster test, though the database is its own
	pg := clustertest.StartPostgres(t)
	c := clustertest.NewOn(t, pg.DSN, clustertest.Options{Demo: true})
	a, b := c.Start(t, "node-a"), c.Start(t, "node-b")
	nodes := []*clustertest.Node{a, b}
	users := demoUsers(t, c)
	hc := c.Client()
	lb := clustertest.NewBalancer(t, a, b)
	const tag = "db-restart-load"
	load := c.StartLoad(t.Context(), clustertest.LoadOptions{Target: lb.Node(), Clients: 4, Users: users, Tag: tag, Timeout: 30 * time.Second})
	defer load.Stop()
	on := func(n *clustertest.Node) func(clustertest.Attempt) bool {
		return func(x clustertest.Attempt) bool { return lb.Route(x.Local) == n.Name }
	}
	issuedOn := func(n *clustertest.Node, after time.Time) func(clustertest.Attempt) bool {
		return func(x clustertest.Attempt) bool { return x.Issued() && on(n)(x) && x.Start.After(after) }
	}
	start := time.Now()
	for _, n := range nodes {
		if err := load.WaitFor(30*time.Second, 20, issuedOn(n, time.Time{})); err != nil {
			t.Fatalf("tokens issued by %s before the outage: %v\n%s", n.Name, err, tail(n.Log()))
		}
		if st := readyz(t.Context(), hc, n); st != http.StatusOK {
			t.Fatalf("%s /readyz = %d before the outage", n.Name, st)
		}
	}

	// Down.
	stopAt := time.Now()
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	// Every node reports not ready, its change poll runs into the outage (the caches stay),
	// and the load goes on against it.
	const pollFailed, pollBack = "cannot read the configuration version", "configuration version readable again"
	noticed := map[string]string{}
	for _, n := range nodes {
		if _, err := clustertest.Within(outageBound, func() (bool, error) { return readyz(t.Context(), hc, n) == http.StatusServiceUnavailable, nil }); err != nil {
			t.Fatalf("%s /readyz is not 503 with the database down: %v", n.Name, err)
		}
		noticed[n.Name+" not ready"] = ms(time.Since(down))
	}
	for _, n := range nodes {
		if _, err := clustertest.Within(outageBound, func() (bool, error) { return len(n.Lines(pollFailed)) > 0, nil }); err != nil {
			t.Fatalf("%s: no failed change poll logged during the outage: %v\n%s", n.Name, err, tail(n.Log()))
		}
		noticed[n.Name+" poll failed"] = ms(time.Since(down))
		if err := load.WaitFor(outageBound, 10, func(x clustertest.Attempt) bool { return x.Start.After(down) && on(n)(x) }); err != nil {
			t.Fatalf("sign-ins answered by %s during the outage: %v\n%s", n.Name, err, tail(n.Log()))
		}
		if st := readyz(t.Context(), hc, n); st != http.StatusServiceUnavailable {
			t.Errorf("%s /readyz = %d during the outage", n.Name, st)
		}
	}

	// Up again: ready, issuing and polling, each measured from the moment the database
	// accepts connections again (pg_ctl start -w returned).
	upAt := time.Now()
	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	up := time.Now()
	recovered := map[string]string{}
	for _, n := range nodes {
		if _, err := clustertest.Within(outageBound, func() (bool, error) { return readyz(t.Context(), hc, n) == http.StatusOK, nil }); err != nil {
			t.Fatalf("%s /readyz not 200 after the database came back: %v\n%s", n.Name, err, tail(n.Log()))
		}
		recovered[n.Name+" ready"] = ms(time.Since(up))
	}
	for _, n := range nodes {
		if _, err := clustertest.Within(outageBound, func() (bool, error) { return load.Count(issuedOn(n, up)) > 0, nil }); err != nil {
			t.Fatalf("%s issues no token after the database came back: %v\n%s", n.Name, err, tail(n.Log()))
		}
		var first time.Time
		for _, x := range load.Attempts() {
			if issuedOn(n, up)(x) && (first.IsZero() || x.End.Before(first)) {
				first = x.End
			}
		}
		recovered[n.Name+" issues"] = ms(first.Sub(up))
	}
	for _, n := range nodes {
		if _, err := clustertest.Within(outageBound, func() (bool, error) { return len(n.Lines(pollBack)) > 0, nil }); err != nil {
			t.Fatalf("%s: change poll not back after the database came back: %v\n%s", n.Name, err, tail(n.Log()))
		}
		recovered[n.Name+" polls"] = ms(time.Since(up))
		if k := len(n.Lines("Sekisho is serving on")); k != 1 {
			t.Errorf("%s started %d times", n.Name, k)
		}
	}
	if err := load.WaitFor(outageBound, 40, func(x clustertest.Attempt) bool { return x.Issued() && x.Start.After(up) }); err != nil {
		t.Fatalf("sign-ins after the database came back: %v", err)
	}
	attempts := load.Stop()
	end := time.Now()

	// No token while the database was down; every refusal a prompt SOAP fault; every
	// attempt answered (the nodes never went away); tokens only ever with their record.
	var before, during, after, issued, refusedAfter int
	var slowest time.Duration
	faults := map[string]int{}
	for _, x := range attempts {
		if x.Stopped {
			continue
		}
		if x.Issued() {
			issued++
		} else if x.Err != nil {
			t.Errorf("%s (%s): no answer: %v", x.Tag, lb.Route(x.Local), x.Err)
			continue
		} else if f := fault(x.Result); f == "RequestFailed" || f == "FailedAuthentication" {
			faults[f]++
		} else {
			t.Errorf("%s (%s): a wrong answer: %d %.600s", x.Tag, lb.Route(x.Local), x.Result.Status, x.Result.Body)
		}
		switch {
		case x.Start.After(down) && x.End.Before(upAt):
			// Strictly inside the outage: nothing can be recorded, so nothing may be allowed.
			during++
			slowest = max(slowest, x.Latency())
			if x.Issued() {
				t.Errorf("%s (%s): a token while the database was down", x.Tag, lb.Route(x.Local))
			} else if f := fault(x.Result); f != "RequestFailed" {
				t.Errorf("%s (%s): %s during the outage, want RequestFailed (no record can be written)", x.Tag, lb.Route(x.Local), f)
			}
		case x.End.Before(stopAt):
			before++
			if !x.Issued() {
				t.Errorf("%s (%s) before the outage: %d %.300s", x.Tag, lb.Route(x.Local), x.Result.Status, x.Result.Body)
			}
		case x.Start.After(up):
			after++
			if !x.Issued() {
				refusedAfter++
			}
		}
	}
	if slowest > 5*time.Second {
		t.Errorf("a sign-in during the outage took %v: requests hang on the dead database", slowest)
	}
	total, orphan := checkRecorded(t, attempts, records(t, c.DSN, tag))
	t.Logf("%d sign-ins in %v: %d before the outage, %d while the database was down for %v (all refused, slowest %v), "+
		"%d after it came back (%d refused), the rest while PostgreSQL stopped (%v) or started (%v); %d tokens, refusals %v; "+
		"%d sign-in records of the load; allow records without a received token: %+v; outage noticed after %v; "+
		"recovery after the database accepted connections: %v",
		len(attempts), ms(end.Sub(start)), before, during, ms(upAt.Sub(down)), ms(slowest), after, refusedAfter,
		ms(down.Sub(stopAt)), ms(up.Sub(upAt)), issued, faults, total, orphan, noticed, recovered)
}
