package admin_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sekisho/sekisho/internal/admin"
	"github.com/sekisho/sekisho/internal/directory"
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
	return admin.New(st, dir), st
}

var console = admin.Actor{Name: "admin@example.com", Via: "console"}

// Each operation is one transaction with one entry: the change and its entry land together,
// and a refused change leaves neither.
func TestEveryChangeHasOneEntry(t *testing.T) {
	s, st := newService(t)
	ctx := context.Background()
	steps := []struct {
		name    string
		do      func() error
		action  string // "" = must fail and leave no entry
		target  string
		beforeK string // a key the before document must have ("" = no before)
		afterK  string
	}{
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
		{"membership", func() error { return s.SetMember(ctx, console, "staff", "alice@example.com", false) }, "group.remove-member", "staff", "member", "member"},
		{"delete", func() error { return s.DeleteUser(ctx, console, "alice@example.com") }, "user.delete", "alice@example.com", "upn", ""},
		{"delete again", func() error { return s.DeleteUser(ctx, console, "alice@example.com") }, "", "", "", ""},
	}
	for _, c := range steps {
		before, _ := st.ListAdminEvents(ctx, store.AdminEventFilter{})
		err := c.do()
		after, lerr := st.ListAdminEvents(ctx, store.AdminEventFilter{})
		if lerr != nil {
			t.Fatal(lerr)
		}
		if c.action == "" {
			if err == nil || len(after) != len(before) {
				t.Fatalf("%s: err %v, %d new entries; want an error and none", c.name, err, len(after)-len(before))
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
		if strings.Contains(string(e.Before)+string(e.After), "argon2") || strings.Contains(string(e.After), "passphrase") {
			t.Fatalf("%s: a secret in the audit log: %s / %s", c.name, e.Before, e.After)
		}
	}
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
