package simulate

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/policy"
	"github.com/sekisho/sekisho/internal/store"
)

func TestReplayFindsExactlyTheChangedOutcomes(t *testing.T) {
	nets, err := policy.NetworksFromCIDRs(map[string][]string{"office": {"203.0.113.0/24"}})
	if err != nil {
		t.Fatal(err)
	}
	// The draft blocks legacy clients outside the office and asks sales for MFA outside.
	draft, err := policy.Load("draft.yaml", []byte(`version: 1
default: deny
rules:
  - name: block-legacy-outside
    client_types: [legacy-proxied]
    not_networks: [office]
    action: deny
  - name: office
    networks: [office]
    action: allow
  - name: sales-mfa
    groups: [sales]
    action: require_mfa
  - name: others-outside
    action: allow
`), nets)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	ev := func(id, user, client, legacy, ip, decision string) store.SignInEvent {
		return store.SignInEvent{ID: id, Time: at, Username: user, Application: "microsoft365", Protocol: "wstrust",
			ClientType: client, LegacyApp: legacy, EffectiveIP: ip, Decision: decision, Rule: "old", PolicyVersion: 1}
	}
	log := []store.SignInEvent{
		ev("1", "bob@example.com", "legacy-proxied", "ActiveSync", "198.51.100.7", "allow"),                 // → deny
		ev("2", "bob@example.com", "legacy-proxied", "ActiveSync", "198.51.100.8", "allow"),                 // → deny (same group)
		ev("3", "bob@example.com", "legacy-proxied", "ActiveSync", "203.0.113.5", "allow"),                  // unchanged
		ev("4", "alice@example.com", "browser", "", "198.51.100.9", "allow"),                                // → mfa (sales)
		ev("5", "carol@example.com", "browser", "", "198.51.100.9", "deny"),                                 // → allow
		ev("6", "carol@example.com", "browser", "", "203.0.113.1", "allow"),                                 // unchanged
		{ID: "7", Time: at, Username: "mallory@example.com", Decision: "deny", Reason: "wrong_password"},    // not a policy decision
		{ID: "8", Time: at, Protocol: "saml", Decision: "error", Reason: "rejected_request: bad signature"}, // not a policy decision
	}
	groups := map[string][]string{"alice@example.com": {"staff", "sales"}}
	res, err := Replay(context.Background(), func(fn func(store.SignInEvent) error) error {
		for _, e := range log {
			if err := fn(e); err != nil {
				return err
			}
		}
		return nil
	}, draft, func(_ context.Context, upn string) []string { return groups[upn] })
	if err != nil {
		t.Fatal(err)
	}
	want := []Row{
		{Key: Key{User: "bob@example.com", Application: "microsoft365", ClientType: "legacy-proxied", LegacyApp: "ActiveSync",
			From: "allow", To: "deny", Change: AllowToDeny}, Count: 2, ExampleID: "1", NewRule: "block-legacy-outside"},
		{Key: Key{User: "alice@example.com", Application: "microsoft365", ClientType: "browser", From: "allow", To: "mfa_required",
			Change: NewlyMFA}, Count: 1, ExampleID: "4", NewRule: "sales-mfa"},
		{Key: Key{User: "carol@example.com", Application: "microsoft365", ClientType: "browser", From: "deny", To: "allow",
			Change: DenyToAllow}, Count: 1, ExampleID: "5", NewRule: "others-outside"},
	}
	if res.Evaluated != 6 || res.Skipped != 2 || res.Changed != 4 || !reflect.DeepEqual(res.Rows, want) {
		t.Fatalf("replay = %+v\nwant rows %+v", res, want)
	}
}
