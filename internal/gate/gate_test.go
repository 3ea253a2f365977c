package gate

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/audit"
	"github.com/sekisho/sekisho/internal/clientctx"
	"github.com/sekisho/sekisho/internal/directory"
	"github.com/sekisho/sekisho/internal/ipset"
	"github.com/sekisho/sekisho/internal/published"
	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/store/sqlite"
)

// failingRecords is a store whose sign-in log cannot be written.
type failingRecords struct{ store.Store }

func (failingRecords) AddSignIn(context.Context, store.SignInEvent) error {
	return errors.New("disk full")
}

// failingPolicies is a store whose policy versions cannot be read.
type failingPolicies struct{ store.Store }

func (failingPolicies) LatestPolicyVersion(context.Context) (store.PolicyVersion, error) {
	return store.PolicyVersion{}, errors.New("connection reset")
}

const officePolicy = `version: 1
default: deny
rules:
  - name: office
    networks: [office]
    action: allow
  - name: outside-mfa
    action: require_mfa
`

type env struct {
	st      store.Store
	gate    *Gate
	alice   store.User
	touched []string
}

// newEnv builds a gate on a real SQLite store: one user (alice, password "correct horse 1")
// and the office network 203.0.113.0/24. wrap may replace the store the gate sees.
func newEnv(t *testing.T, doc string, wrap func(store.Store) store.Store) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "gate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	fast := directory.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}
	dir := directory.New(st, fast, directory.PasswordPolicy{MinLength: 8})
	alice, err := dir.AddUser(ctx, directory.NewUser{UPN: "alice@example.com", Password: "correct horse 1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutNetwork(ctx, store.Network{Name: "office", CIDRs: []string{"203.0.113.0/24"}, UpdatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if doc != "" {
		if _, err := st.AddPolicyVersion(ctx, store.PolicyVersion{Document: []byte(doc), Author: "test", CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	var seen store.Store = st
	if wrap != nil {
		seen = wrap(st)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e := &env{st: st, alice: alice}
	dir.Store = seen
	e.gate = &Gate{Store: seen, Directory: dir, Audit: audit.NewRecorder(seen, log), Policies: published.NewSource(seen, log),
		ClientConfig: func(context.Context) clientctx.Config {
			return clientctx.Config{TrustedProxies: ipset.New(nil), ExchangeOnline: ipset.New(nil)}
		},
		RememberApp: func(_ *http.Request, app string, _ netip.Addr) error { e.touched = append(e.touched, app); return nil },
		Now:         time.Now, Log: log}
	return e
}

func request(remote string) *http.Request {
	r := httptest.NewRequest("GET", "https://idp.example.com/saml/sso", nil)
	r.RemoteAddr = remote
	return r
}

func (e *env) records(t *testing.T) []store.SignInEvent {
	t.Helper()
	evs, err := e.st.ListSignIns(context.Background(), store.SignInFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func TestCheck(t *testing.T) {
	cases := []struct {
		name         string
		remote       string
		user, pw     string
		session, mfa bool
		want         signin.Decision
		reason       signin.Reason
		rule         string
	}{
		{name: "password, office", remote: "203.0.113.9:5000", user: "alice@example.com", pw: "correct horse 1", want: signin.Allow, reason: signin.ReasonPolicy, rule: "office"},
		{name: "password, outside", remote: "198.51.100.1:5000", user: "alice@example.com", pw: "correct horse 1", want: signin.MFARequired, reason: signin.ReasonPolicy, rule: "outside-mfa"},
		{name: "session with MFA, outside", remote: "198.51.100.1:5000", session: true, mfa: true, want: signin.Allow, reason: signin.ReasonPolicy, rule: "outside-mfa"},
		{name: "wrong password", remote: "203.0.113.9:5000", user: "alice@example.com", pw: "wrong", want: signin.Deny, reason: signin.ReasonWrongPassword},
		{name: "unknown user", remote: "203.0.113.9:5000", user: "nobody@example.com", pw: "x", want: signin.Deny, reason: signin.ReasonUnknownUser},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, officePolicy, nil)
			a := signin.Attempt{Protocol: "saml", Application: "wiki", Endpoint: signin.Passive, HTTP: request(c.remote),
				Username: c.user, Password: c.pw}
			if c.session {
				a.Session = &signin.Session{ID: "_s", UserID: e.alice.ID, MFA: c.mfa, AuthnInstant: time.Now()}
			}
			o, err := e.gate.Check(context.Background(), a)
			if err != nil {
				t.Fatal(err)
			}
			if o.Decision != c.want || o.Reason != c.reason || o.Allowed != (c.want == signin.Allow) {
				t.Fatalf("outcome %s/%s allowed=%v, want %s/%s", o.Decision, o.Reason, o.Allowed, c.want, c.reason)
			}
			evs := e.records(t)
			if len(evs) != 1 || evs[0].ID != o.EventID || evs[0].Decision != string(c.want) || evs[0].Reason != string(c.reason) || evs[0].Rule != c.rule {
				t.Fatalf("record %+v, want one %s/%s rule %q with the outcome's ID", evs, c.want, c.reason, c.rule)
			}
			// Only an allowed session is remembered on the browser's session (single logout).
			if want := c.session && c.want == signin.Allow; (len(e.touched) == 1) != want {
				t.Fatalf("RememberApp calls %v, want one: %v", e.touched, want)
			}
		})
	}
}

// No record, no access: when the sign-in log cannot be written, nothing is allowed.
func TestNoRecordNoAccess(t *testing.T) {
	e := newEnv(t, officePolicy, func(s store.Store) store.Store { return failingRecords{s} })
	o, err := e.gate.Check(context.Background(), signin.Attempt{Protocol: "saml", Application: "wiki", Endpoint: signin.Passive,
		HTTP: request("203.0.113.9:5000"), Username: "alice@example.com", Password: "correct horse 1"})
	if err == nil || o.Allowed || o.Decision != signin.Error || o.Reason != signin.ReasonAuditUnavailable {
		t.Fatalf("outcome %+v err %v, want error/audit_unavailable", o, err)
	}
	if len(e.touched) != 0 {
		t.Fatal("an unrecorded sign-in was remembered on the session")
	}
}

// A policy that cannot be read refuses (recorded), never allows.
func TestPolicyUnavailable(t *testing.T) {
	e := newEnv(t, officePolicy, func(s store.Store) store.Store { return failingPolicies{s} })
	o, err := e.gate.Check(context.Background(), signin.Attempt{Protocol: "saml", Application: "wiki", Endpoint: signin.Passive,
		HTTP: request("203.0.113.9:5000"), Username: "alice@example.com", Password: "correct horse 1"})
	if err != nil {
		t.Fatal(err)
	}
	if o.Allowed || o.Decision != signin.Error || o.Reason != signin.ReasonPolicyUnavailable {
		t.Fatalf("outcome %+v, want error/policy_unavailable", o)
	}
	if evs := e.records(t); len(evs) != 1 || evs[0].Reason != string(signin.ReasonPolicyUnavailable) {
		t.Fatalf("records %+v", evs)
	}
}

// With no policy published, nothing is allowed.
func TestNoPolicy(t *testing.T) {
	e := newEnv(t, "", nil)
	o, err := e.gate.Check(context.Background(), signin.Attempt{Protocol: "saml", Application: "wiki", Endpoint: signin.Passive,
		HTTP: request("203.0.113.9:5000"), Username: "alice@example.com", Password: "correct horse 1"})
	if err != nil || o.Allowed || o.Reason != signin.ReasonNoPolicy {
		t.Fatalf("outcome %+v err %v, want deny/no_policy", o, err)
	}
}

// Evaluate judges like Check and writes nothing; it refuses password attempts.
func TestEvaluateWritesNothing(t *testing.T) {
	e := newEnv(t, officePolicy, nil)
	sess := &signin.Session{ID: "_s", UserID: e.alice.ID, AuthnInstant: time.Now()}
	for _, c := range []struct {
		remote string
		want   signin.Decision
	}{{"203.0.113.9:5000", signin.Allow}, {"198.51.100.1:5000", signin.MFARequired}} {
		o, err := e.gate.Evaluate(context.Background(), signin.Attempt{Protocol: "web", Application: signin.AppAccount,
			Endpoint: signin.Passive, HTTP: request(c.remote), Session: sess})
		if err != nil || o.Decision != c.want || o.ClientIP.String() != c.remote[:len(c.remote)-5] {
			t.Fatalf("%s: %+v %v, want %s", c.remote, o, err, c.want)
		}
	}
	if _, err := e.gate.Evaluate(context.Background(), signin.Attempt{Protocol: "web", HTTP: request("203.0.113.9:5000"),
		Username: "alice@example.com", Password: "correct horse 1"}); err == nil {
		t.Fatal("Evaluate took a password attempt")
	}
	if evs := e.records(t); len(evs) != 0 || len(e.touched) != 0 {
		t.Fatalf("Evaluate wrote %d records and remembered %v", len(evs), e.touched)
	}
}

// Eligibility checks run after authentication and before the policy; their reason is the record's.
func TestEligibleRefusesWithItsReason(t *testing.T) {
	e := newEnv(t, officePolicy, nil)
	e.gate.Eligible = func(_ context.Context, a signin.Attempt, u store.User) signin.Reason {
		if a.Application == signin.AppAdmin {
			return signin.ReasonNotAdmin
		}
		return ""
	}
	o, err := e.gate.Check(context.Background(), signin.Attempt{Protocol: "web", Application: signin.AppAdmin, Endpoint: signin.Passive,
		HTTP: request("203.0.113.9:5000"), Username: "alice@example.com", Password: "correct horse 1"})
	if err != nil || o.Allowed || o.Reason != signin.ReasonNotAdmin || o.User.ID != e.alice.ID {
		t.Fatalf("outcome %+v err %v", o, err)
	}
	if evs := e.records(t); len(evs) != 1 || evs[0].Reason != "not_admin" || evs[0].Rule != "" {
		t.Fatalf("records %+v", evs)
	}
}

// A client acting in its own name (OAuth 2.0 client_credentials) is judged without a user: its
// application, protocol and address decide; rules naming users or groups never match it, a
// require_mfa outcome refuses it, and the record names the client_id and no user.
func TestClientAttempt(t *testing.T) {
	const clientPolicy = `version: 1
default: deny
rules:
  - name: alice-anywhere
    users: [alice@example.com]
    action: allow
  - name: everyone-in-a-group
    groups: [staff, sales, it-admins]
    action: allow
  - name: batch-from-office
    applications: [batch]
    networks: [office]
    action: allow
  - name: outside-mfa
    action: require_mfa
`
	cases := []struct {
		name    string
		app     string
		remote  string
		want    signin.Decision
		rule    string
		allowed bool
	}{
		{"its application from the office", "batch", "203.0.113.9:5000", signin.Allow, "batch-from-office", true},
		{"its application from outside: a client has no second factor", "batch", "198.51.100.1:5000", signin.MFARequired, "outside-mfa", false},
		{"another application from the office", "reports", "203.0.113.9:5000", signin.MFARequired, "outside-mfa", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, clientPolicy, nil)
			o, err := e.gate.Check(context.Background(), signin.Attempt{Protocol: "oidc", Application: c.app, Endpoint: signin.Passive,
				HTTP: request(c.remote), Client: "5f0c6a1e9b2d4c7e"})
			if err != nil {
				t.Fatal(err)
			}
			if o.Decision != c.want || o.Allowed != c.allowed || o.User.ID != "" {
				t.Fatalf("outcome %+v, want %s", o, c.want)
			}
			evs := e.records(t)
			if len(evs) != 1 || evs[0].ID != o.EventID || evs[0].Rule != c.rule || evs[0].Username != "5f0c6a1e9b2d4c7e" || evs[0].UserID != "" ||
				evs[0].ClientType != "oidc" || evs[0].Application != c.app {
				t.Fatalf("record %+v, want rule %s naming the client and no user", evs, c.rule)
			}
			if len(e.touched) != 0 {
				t.Fatal("a client attempt was remembered on a browser session")
			}
		})
	}
	t.Run("a client attempt with a user's credentials is refused", func(t *testing.T) {
		e := newEnv(t, clientPolicy, nil)
		o, err := e.gate.Check(context.Background(), signin.Attempt{Protocol: "oidc", Application: "batch", HTTP: request("203.0.113.9:5000"),
			Client: "c", Session: &signin.Session{UserID: e.alice.ID, AuthnInstant: time.Now()}})
		if err != nil || o.Allowed || o.Decision != signin.Error {
			t.Fatalf("outcome %+v err %v", o, err)
		}
	})
}
