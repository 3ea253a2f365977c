// Package cluster_test runs Sekisho as several `sekisho serve` processes on one PostgreSQL
// and proves what a multi-node deployment promises: a change made on one node, or with the
// CLI on the database, is in force on every node within the stated bound without a restart;
// the first keys are created once when nodes start together on an empty database.
package cluster_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/testutil/clustertest"
)

// bound is the documented propagation bound (docs/deployment.md): the default change poll
// (node.change_poll, 1 s) plus the reload, with room for a loaded CI machine. The measured
// delays are logged and summarised at the end of the test.
const bound = 3 * time.Second

type measured struct {
	mu sync.Mutex
	d  map[string]time.Duration
}

func (m *measured) add(what string, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.d[what] = d
}

func TestChangesReachEveryNode(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Demo: true})
	a, b := c.Start(t, "node-a"), c.Start(t, "node-b")
	token := c.Token(t, "admin")
	hc := c.Client()
	alice, bob := "alice@example.com", "bob@example.com"
	delays := &measured{d: map[string]time.Duration{}}
	t.Cleanup(func() {
		for what, d := range delays.d {
			t.Logf("in force on the other node after %v: %s", d.Round(time.Millisecond), what)
		}
	})

	issued := func(n *clustertest.Node, user, password string) (bool, error) {
		r, err := c.WSTrust(t.Context(), hc, n, user, password)
		if err != nil {
			return false, err
		}
		if r.Status != http.StatusOK && r.Status != http.StatusInternalServerError && r.Status != http.StatusBadRequest {
			return false, fmt.Errorf("WS-Trust on %s answered %d: %.300s", n.Name, r.Status, r.Body)
		}
		return r.Issued(), nil
	}
	// eventually waits until every node gives want for user, and records the delay.
	eventually := func(t *testing.T, what string, want bool, user, password string, nodes ...*clustertest.Node) {
		t.Helper()
		for _, n := range nodes {
			d, err := clustertest.Within(bound, func() (bool, error) {
				got, err := issued(n, user, password)
				return got == want, err
			})
			if err != nil {
				t.Fatalf("%s: %s on %s: token issued should be %v: %v\n%s", what, user, n.Name, want, err, tail(n.Log()))
			}
			delays.add(what+" ("+n.Name+")", d)
		}
	}
	now := func(t *testing.T, what string, want bool, user, password string, n *clustertest.Node) {
		t.Helper()
		got, err := issued(n, user, password)
		if err != nil || got != want {
			t.Fatalf("%s: %s on %s: issued=%v, %v; want %v", what, user, n.Name, got, err, want)
		}
	}
	for _, n := range []*clustertest.Node{a, b} {
		resp, err := hc.Get(n.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "ready "+n.Name {
			t.Fatalf("%s /readyz = %d %q, want 200 naming the node", n.Name, resp.StatusCode, body)
		}
	}
	now(t, "demo tenant", true, alice, c.Passwords[alice], a)
	now(t, "demo tenant", true, alice, c.Passwords[alice], b)

	t.Run("Microsoft 365 domain added with the CLI while the nodes run", func(t *testing.T) {
		const pw = "Kashiwa-Mochi-2026!"
		c.CLI(t, pw+"\n", "user", "add", "dave@contoso.test", "--password-stdin")
		now(t, "before the domain", false, "dave@contoso.test", pw, b)
		c.CLI(t, "", "m365", "domain", "add", "contoso.test")
		eventually(t, "m365 domain add (CLI)", true, "dave@contoso.test", pw, b, a)
	})

	t.Run("network narrowed through node a's API, restored with the CLI", func(t *testing.T) {
		var networks []struct {
			Name  string   `json:"name"`
			CIDRs []string `json:"cidrs"`
		}
		c.MustAPI(t, a, token, 200, "GET", "/networks", nil, &networks)
		var office struct{ CIDRs []string }
		for _, n := range networks {
			if n.Name == "office" {
				office.CIDRs = n.CIDRs
			}
		}
		if len(office.CIDRs) == 0 {
			t.Fatal("office network has no ranges")
		}
		c.MustAPI(t, a, token, 200, "PUT", "/networks/office", map[string]any{"cidrs": []string{"192.0.2.0/24"}}, nil)
		eventually(t, "network set (API, node a)", false, alice, c.Passwords[alice], b, a)
		c.CLI(t, "", append([]string{"network", "set", "office"}, office.CIDRs...)...)
		eventually(t, "network set (CLI)", true, alice, c.Passwords[alice], b, a)
	})

	t.Run("policy published through node b's API, rolled back on node a", func(t *testing.T) {
		var cur struct {
			Version  int64  `json:"version"`
			Document string `json:"document"`
		}
		c.MustAPI(t, b, token, 200, "GET", "/policy", nil, &cur)
		doc := strings.Replace(cur.Document, "\nrules:\n", "\nrules:\n  - name: alice-stopped\n    users: [alice@example.com]\n    applications: [microsoft365]\n    action: deny\n\n", 1)
		if doc == cur.Document {
			t.Fatalf("cannot place a rule in the demo policy:\n%s", cur.Document)
		}
		c.MustAPI(t, b, token, 201, "POST", "/policy", map[string]any{"document": doc, "baseVersion": cur.Version, "comment": "stop alice"}, nil)
		eventually(t, "policy publish (API, node b)", false, alice, c.Passwords[alice], a, b)
		now(t, "others unaffected", true, bob, c.Passwords[bob], a)
		c.MustAPI(t, a, token, 201, "POST", "/policy/rollback", map[string]any{"version": cur.Version}, nil)
		eventually(t, "policy rollback (API, node a)", true, alice, c.Passwords[alice], b, a)
	})

	t.Run("user disabled and enabled through node a's API", func(t *testing.T) {
		c.MustAPI(t, a, token, 200, "POST", "/users/bob@example.com/disable", nil, nil)
		eventually(t, "user disable (API, node a)", false, bob, c.Passwords[bob], b)
		c.MustAPI(t, a, token, 200, "POST", "/users/bob@example.com/enable", nil, nil)
		eventually(t, "user enable (API, node a)", true, bob, c.Passwords[bob], b)
	})

	t.Run("group membership changed through node b's API", func(t *testing.T) {
		// A rule for a group the user is not in yet: in force on node a once the member is added.
		var cur struct {
			Version  int64  `json:"version"`
			Document string `json:"document"`
		}
		c.MustAPI(t, b, token, 201, "POST", "/groups", map[string]any{"name": "suspended"}, nil)
		c.MustAPI(t, b, token, 200, "GET", "/policy", nil, &cur)
		doc := strings.Replace(cur.Document, "\nrules:\n", "\nrules:\n  - name: suspended-nowhere\n    groups: [suspended]\n    action: deny\n\n", 1)
		c.MustAPI(t, b, token, 201, "POST", "/policy", map[string]any{"document": doc, "baseVersion": cur.Version}, nil)
		eventually(t, "policy publish (API, node b)", true, bob, c.Passwords[bob], a)
		c.MustAPI(t, b, token, 204, "PUT", "/groups/suspended/members/bob@example.com", nil, nil)
		eventually(t, "group member added (API, node b)", false, bob, c.Passwords[bob], a)
		c.MustAPI(t, b, token, 204, "DELETE", "/groups/suspended/members/bob@example.com", nil, nil)
		eventually(t, "group member removed (API, node b)", true, bob, c.Passwords[bob], a)
	})

	t.Run("signing key rotated and promoted through node a's API", func(t *testing.T) {
		before, err := c.WSTrust(t.Context(), hc, b, alice, c.Passwords[alice])
		if err != nil || before.SigningCert() == "" {
			t.Fatalf("no signing certificate in the token: %v %.300s", err, before.Body)
		}
		c.MustAPI(t, a, token, 200, "POST", "/keys/rotate", nil, nil)
		c.MustAPI(t, a, token, 200, "POST", "/keys/promote", nil, nil)
		var after clustertest.WSTrustResult
		d, err := clustertest.Within(bound, func() (bool, error) {
			r, err := c.WSTrust(t.Context(), hc, b, alice, c.Passwords[alice])
			after = r
			return err == nil && r.Issued() && r.SigningCert() != before.SigningCert(), err
		})
		if err != nil {
			t.Fatalf("node b still signs with the old key after %v: %v", d, err)
		}
		delays.add("keys rotate + promote (API, node a) (node-b)", d)
		// Node a made the change: it signs with the new key at once.
		onA, err := c.WSTrust(t.Context(), hc, a, alice, c.Passwords[alice])
		if err != nil || onA.SigningCert() != after.SigningCert() {
			t.Fatalf("nodes sign with different keys: a %q, b %q (%v)", short(onA.SigningCert()), short(after.SigningCert()), err)
		}
	})

	t.Run("lockout counted across nodes", func(t *testing.T) {
		const pw = "Warabi-Mochi-2026!"
		c.CLI(t, pw+"\n", "user", "add", "erin@example.com", "--password-stdin")
		now(t, "erin", true, "erin@example.com", pw, a)
		// Ten failures, alternating nodes: the threshold (10) is reached only if both count
		// into one counter.
		for i := range 10 {
			n := []*clustertest.Node{a, b}[i%2]
			if got, err := issued(n, "erin@example.com", "wrong password "+fmt.Sprint(i)); err != nil || got {
				t.Fatalf("wrong password %d on %s: issued=%v, %v", i, n.Name, got, err)
			}
		}
		now(t, "locked on a", false, "erin@example.com", pw, a)
		now(t, "locked on b", false, "erin@example.com", pw, b)
		c.MustAPI(t, b, token, 200, "POST", "/users/erin@example.com/unlock", nil, nil)
		eventually(t, "unlock (API, node b)", true, "erin@example.com", pw, a)
	})
}

func short(s string) string {
	if len(s) > 24 {
		return s[:12] + "…" + s[len(s)-12:]
	}
	return s
}

func tail(s string) string {
	if len(s) > 3000 {
		return "…" + s[len(s)-3000:]
	}
	return s
}
