package admin_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sekisho/sekisho/internal/admin"
	"github.com/sekisho/sekisho/internal/authn/factors"
	"github.com/sekisho/sekisho/internal/devicecert"
	"github.com/sekisho/sekisho/internal/directory"
	"github.com/sekisho/sekisho/internal/keys"
	"github.com/sekisho/sekisho/internal/lockout"
	"github.com/sekisho/sekisho/internal/secrets"
	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/store/sqlite"
)

func newService(t *testing.T) (*admin.Service, store.Store) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "admin.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	dir := directory.New(st, directory.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}, directory.PasswordPolicy{MinLength: 12})
	key, _ := secrets.GenerateKey()
	sealer, err := secrets.New(key)
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := admin.New(st, dir)
	s.Keys = keys.NewManager(st, sealer)
	s.Devices = devicecert.New(st, s.Keys, sealer)
	s.Devices.Log = quiet
	s.Factors = factors.New(nil, nil, sealer, "Sekisho") // the service binds it to each transaction's store
	s.Lockout = lockout.New(nil, lockout.Config{}, quiet, nil)
	return s, st
}

var console = admin.Actor{Name: "admin@example.com", Via: "console"}

// step is one operation of a table: what it must record, or that it must be refused.
type step struct {
	name    string
	do      func() error
	action  string // "" = must fail, leave no entry and change nothing
	target  string
	beforeK string // a key the before document must have ("" = no before)
	afterK  string // a key the after document must have ("" = no after)
}

// runSteps runs each step and checks its entry: exactly one with the step's action, target,
// actor and documents, none for a refused step (whose store state must be as it was), and
// never a secret: neither a fixed marker nor any of secrets() (read after each step, so
// values a step hands out are checked in every later entry too).
func runSteps(t *testing.T, st store.Store, steps []step, secrets func() []string) {
	t.Helper()
	ctx := context.Background()
	for _, c := range steps {
		before, _ := st.ListAdminEvents(ctx, store.AdminEventFilter{})
		was := snapshot(t, st)
		err := c.do()
		after, lerr := st.ListAdminEvents(ctx, store.AdminEventFilter{})
		if lerr != nil {
			t.Fatal(lerr)
		}
		if c.action == "" {
			if err == nil || len(after) != len(before) {
				t.Fatalf("%s: err %v, %d new entries; want an error and none", c.name, err, len(after)-len(before))
			}
			if is := snapshot(t, st); is != was {
				t.Fatalf("%s: refused, but the store changed:\n%s\n->\n%s", c.name, was, is)
			}
			continue
		}
		if err != nil || len(after) != len(before)+1 {
			t.Fatalf("%s: err %v, %d new entries; want one", c.name, err, len(after)-len(before))
		}
		e := after[len(after)-1]
		if e.Action != c.action || e.Target != c.target || e.Actor != console.Name || e.Via != "console" {
			t.Fatalf("%s: entry %+v", c.name, e)
		}
		for doc, key := range map[string]string{string(e.Before): c.beforeK, string(e.After): c.afterK} {
			if key == "" {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(doc), &m); err != nil {
				t.Fatalf("%s: document %q: %v", c.name, doc, err)
			}
			if _, ok := m[key]; !ok {
				t.Fatalf("%s: document %s lacks %q", c.name, doc, key)
			}
		}
		if (c.beforeK == "") != (len(e.Before) == 0) && c.action != "network.set" {
			t.Fatalf("%s: before %q", c.name, e.Before)
		}
		if (c.afterK == "") != (len(e.After) == 0) {
			t.Fatalf("%s: after %q", c.name, e.After)
		}
		for _, e := range after {
			docs := string(e.Before) + string(e.After)
			for _, secret := range append([]string{"argon2", "passphrase", "PRIVATE KEY", `"p12"`, "token_hash", `"secret"`, `"hash"`}, secrets()...) {
				if secret != "" && strings.Contains(docs, secret) {
					t.Fatalf("%s: a secret (%.20s…) in the audit entry %s %s: %s / %s", c.name, secret, e.Action, e.Target, e.Before, e.After)
				}
			}
		}
	}
}

// snapshot is the state the operations change, as text.
func snapshot(t *testing.T, st store.Store) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	users, _, err := st.ListUsers(ctx, store.Page{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		f, _ := st.GetUserFactors(ctx, u.ID)
		l, _ := st.GetLockout(ctx, u.ID)
		fmt.Fprintf(&b, "user %s %s %s %v %x %s\n", u.UPN, u.Status, u.PasswordHash, u.Groups, f, l)
	}
	apps, _ := st.ListApplications(ctx)
	for _, a := range apps {
		fmt.Fprintf(&b, "app %s %s %s %s\n", a.Name, a.Protocol, a.EntityID, a.Config)
	}
	nets, _ := st.ListNetworks(ctx)
	for _, n := range nets {
		fmt.Fprintf(&b, "network %s %v\n", n.Name, n.CIDRs)
	}
	pols, _ := st.ListPolicyVersions(ctx)
	fmt.Fprintf(&b, "policy versions %d\n", len(pols))
	devs, _ := st.ListDevices(ctx, "")
	for _, d := range devs {
		fmt.Fprintf(&b, "device %s %s %s %s %s\n", d.ID, d.Serial, d.Status, d.ReplacedBy, d.Data)
	}
	for _, p := range []string{keys.PurposeToken, devicecert.PurposeDeviceCA} {
		ks, _ := st.ListSigningKeys(ctx, p)
		for _, k := range ks {
			fmt.Fprintf(&b, "key %s %s %s\n", p, k.ID, k.State)
		}
	}
	return b.String()
}

// Each operation is one transaction with one entry: the change and its entry land together,
// and a refused change leaves neither.
func TestEveryChangeHasOneEntry(t *testing.T) {
	s, st := newService(t)
	ctx := context.Background()
	runSteps(t, st, []step{
		{"add group", func() error { return s.AddGroup(ctx, console, "staff", "everyone") }, "group.add", "staff", "", "name"},
		{"add user", func() error {
			_, err := s.AddUser(ctx, console, directory.NewUser{UPN: "alice@example.com", Password: "a long passphrase 1", Groups: []string{"staff"}})
			return err
		}, "user.add", "alice@example.com", "", "upn"},
		{"duplicate user", func() error {
			_, err := s.AddUser(ctx, console, directory.NewUser{UPN: "ALICE@example.com", Password: "a long passphrase 2"})
			return err
		}, "", "", "", ""},
		{"weak password", func() error { return s.SetPassword(ctx, console, "alice@example.com", "short", false) }, "", "", "", ""},
		{"temporary password", func() error { return s.SetPassword(ctx, console, "alice@example.com", "another long passphrase", true) },
			"user.set-password", "alice@example.com", "upn", "mustChangePassword"},
		{"disable", func() error { return s.SetStatus(ctx, console, "alice@example.com", store.UserDisabled) }, "user.disable", "alice@example.com", "status", "status"},
		{"bad CIDR", func() error { return s.SetNetwork(ctx, console, "office", "", []string{"203.0.113.0/24", "nonsense"}) }, "", "", "", ""},
		{"network", func() error { return s.SetNetwork(ctx, console, "office", "HQ", []string{"203.0.113.7/24"}) }, "network.set", "office", "", "cidrs"},
		{"invalid policy", func() error {
			_, err := s.PublishPolicy(ctx, console, "p.yaml", []byte("version: 1\ndefault: deny\nrules:\n  - name: x\n    networks: [nowhere]\n    action: allow\n"), "")
			return err
		}, "", "", "", ""},
		{"policy", func() error {
			_, err := s.PublishPolicy(ctx, console, "p.yaml", []byte("version: 1\ndefault: deny\nrules:\n  - name: office\n    networks: [office]\n    action: allow\n"), "first")
			return err
		}, "policy.publish", "policy", "", "version"},
		{"network the policy needs, emptied: still compiles", func() error { return s.SetNetwork(ctx, console, "office", "HQ", nil) }, "network.set", "office", "cidrs", "cidrs"},
		{"network the policy needs: not deleted", func() error { return s.DeleteNetwork(ctx, console, "office") }, "", "", "", ""},
		{"unused network", func() error { return s.SetNetwork(ctx, console, "lab", "", []string{"198.51.100.0/24"}) }, "network.set", "lab", "", "cidrs"},
		{"delete network", func() error { return s.DeleteNetwork(ctx, console, "lab") }, "network.delete", "lab", "cidrs", ""},
		{"delete missing network", func() error { return s.DeleteNetwork(ctx, console, "lab") }, "", "", "", ""},
		{"membership", func() error { return s.SetMember(ctx, console, "staff", "alice@example.com", false) }, "group.remove-member", "staff", "member", "member"},
		{"delete", func() error { return s.DeleteUser(ctx, console, "alice@example.com") }, "user.delete", "alice@example.com", "upn", ""},
		{"delete again", func() error { return s.DeleteUser(ctx, console, "alice@example.com") }, "", "", "", ""},
	}, func() []string { return nil })
	// The refused network change left the network as it was: nothing half-written.
	if n, err := st.GetNetwork(ctx, "office"); err != nil || len(n.CIDRs) != 0 {
		t.Fatalf("office network %+v %v", n, err)
	}
	if err := s.AddGroup(ctx, admin.Actor{}, "x", ""); err == nil {
		t.Fatal("a change without an actor was made")
	}
}

// A rollback publishes the old document as a new version, recorded as policy.rollback.
func TestRollback(t *testing.T) {
	s, st := newService(t)
	ctx := context.Background()
	docs := []string{"version: 1\ndefault: deny\n", "version: 1\ndefault: allow\n"}
	for _, d := range docs {
		if _, err := s.PublishPolicy(ctx, console, "p.yaml", []byte(d), ""); err != nil {
			t.Fatal(err)
		}
	}
	v, err := s.RollbackPolicy(ctx, console, 1)
	if err != nil || v.Version != 3 || string(v.Document) != docs[0] {
		t.Fatalf("rollback: %+v %v", v, err)
	}
	evs, _ := st.ListAdminEvents(ctx, store.AdminEventFilter{Action: "policy."})
	if len(evs) != 3 || evs[2].Action != "policy.rollback" || !strings.Contains(string(evs[2].Before), `"version":2`) {
		t.Fatalf("entries %+v", evs)
	}
	if _, err := s.RollbackPolicy(ctx, console, 9); err == nil {
		t.Fatal("rollback to a missing version")
	}
}

// An editor that opened version 1 cannot overwrite a version 2 published meanwhile.
func TestPublishOverDetectsConcurrentEdits(t *testing.T) {
	s, st := newService(t)
	ctx := context.Background()
	doc := []byte("version: 1\ndefault: deny\n")
	if _, err := s.PublishPolicyOver(ctx, console, "p.yaml", doc, "", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PublishPolicy(ctx, admin.Actor{Name: "os:root", Via: "cli"}, "p.yaml", []byte("version: 1\ndefault: allow\n"), "meanwhile"); err != nil {
		t.Fatal(err)
	}
	_, err := s.PublishPolicyOver(ctx, console, "p.yaml", []byte("version: 1\ndefault: deny\nrules: []\n"), "", 1)
	if !errors.Is(err, admin.ErrStalePolicy) || !strings.Contains(err.Error(), "version 2 is in force") {
		t.Fatalf("stale publish: %v", err)
	}
	if v, _ := st.LatestPolicyVersion(ctx); v.Version != 2 || v.Comment != "meanwhile" {
		t.Fatalf("the stale publish changed the policy: %+v", v)
	}
	if _, err := s.PublishPolicyOver(ctx, console, "p.yaml", doc, "", 2); err != nil {
		t.Fatalf("publish over the version in force: %v", err)
	}
}
