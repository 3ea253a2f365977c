package storetest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/store"
)

func errorsIs(err, target error) bool {
	if target == nil {
		return err == nil
	}
	return errors.Is(err, target)
}

func signIn(id string, at time.Time) store.SignInEvent {
	return store.SignInEvent{ID: id, Time: at, UserID: "u1", Username: "Alice@Example.com", Application: "m365",
		Protocol: "wsfed", ClientType: "browser", EffectiveIP: "203.0.113.5", PeerIP: "203.0.113.5",
		Decision: "allow", Rule: "office", Reason: "network_match", Trace: []byte(`[{"rule":"office"}]`),
		PolicyVersion: 3, LatencyMicros: 1234}
}

func testSignIns(t *testing.T, s store.Store) {
	c := ctx(t)
	e := signIn("ref-1", base)
	e.LegacyApp, e.ForwardedIP, e.ForwardedTrusted, e.ForgedHeaders = "ActiveSync", "198.51.100.7", true, true
	e.UserAgent, e.DeviceSerial, e.DeviceName, e.MFA = "Outlook/16", "0a1b", "laptop", true
	ok(t, s.AddSignIn(c, e))
	isErr(t, s.AddSignIn(c, signIn("ref-1", base)), store.ErrConflict)
	got, err := s.GetSignIn(c, "ref-1")
	ok(t, err)
	equal(t, "GetSignIn", got, e)

	// A batch is stored whole, round-tripping as single records do; a batch holding a taken ID
	// stores nothing.
	b1, b2 := signIn("batch-1", base.Add(-48*time.Hour)), signIn("batch-2", base.Add(-48*time.Hour))
	b2.Username, b2.Decision = "other@example.com", "deny"
	ok(t, s.AddSignIns(c, []store.SignInEvent{b1, b2}))
	for _, want := range []store.SignInEvent{b1, b2} {
		got, err := s.GetSignIn(c, want.ID)
		ok(t, err)
		equal(t, "batch record", got, want)
	}
	isErr(t, s.AddSignIns(c, []store.SignInEvent{signIn("batch-3", base.Add(-48*time.Hour)), signIn("ref-1", base)}), store.ErrConflict)
	_, err = s.GetSignIn(c, "batch-3")
	isErr(t, err, store.ErrNotFound)
	ok(t, s.AddSignIns(c, nil))

	// Events in the same microsecond keep insertion order.
	for i := range 5 {
		ok(t, s.AddSignIn(c, signIn(id("same", i), base.Add(time.Minute))))
	}
	list, err := s.ListSignIns(c, store.SignInFilter{Since: base.Add(time.Minute)})
	ok(t, err)
	for i, e := range list {
		if e.ID != id("same", i) {
			t.Fatalf("event %d = %s, want insertion order", i, e.ID)
		}
	}

	// EachSignIn stops at fn's error and returns it.
	stop := fmt.Errorf("stop")
	calls := 0
	err = s.EachSignIn(c, store.SignInFilter{}, func(store.SignInEvent) error {
		calls++
		if calls == 2 {
			return stop
		}
		return nil
	})
	isErr(t, err, stop)
	if calls != 2 {
		t.Fatalf("EachSignIn called fn %d times after error, want 2", calls)
	}
}

func testSignInFilters(t *testing.T, s store.Store) {
	c := ctx(t)
	// Inserted out of time order: results must still be oldest first.
	events := []store.SignInEvent{
		func() store.SignInEvent {
			e := signIn("e3", base.Add(3*time.Hour))
			e.Username = "bob@example.com"
			e.Decision = "deny"
			e.ForwardedIP = "192.0.2.99" // from an untrusted peer: the effective address stays the peer's
			return e
		}(),
		signIn("e0", base),
		func() store.SignInEvent {
			e := signIn("e1", base.Add(time.Hour))
			e.ClientType, e.LegacyApp, e.PeerIP, e.EffectiveIP, e.ForwardedIP = "legacy-proxied", "Imap", "40.92.0.1", "198.51.100.7", "198.51.100.7"
			return e
		}(),
		func() store.SignInEvent {
			e := signIn("e2", base.Add(2*time.Hour))
			e.Application, e.EffectiveIP, e.PeerIP, e.Decision = "portal", "2001:db8::1", "2001:db8::1", "mfa_required"
			return e
		}(),
		func() store.SignInEvent {
			e := signIn("e4", base.Add(4*time.Hour))
			e.Username = "ALICE@example.COM"
			return e
		}(),
	}
	for _, e := range events {
		ok(t, s.AddSignIn(c, e))
	}
	tests := []struct {
		name string
		f    store.SignInFilter
		want []string
	}{
		{"all, oldest first", store.SignInFilter{}, []string{"e0", "e1", "e2", "e3", "e4"}},
		{"since inclusive", store.SignInFilter{Since: base.Add(time.Hour)}, []string{"e1", "e2", "e3", "e4"}},
		{"until exclusive", store.SignInFilter{Until: base.Add(2 * time.Hour)}, []string{"e0", "e1"}},
		{"window", store.SignInFilter{Since: base.Add(time.Hour), Until: base.Add(3 * time.Hour)}, []string{"e1", "e2"}},
		{"since in another zone", store.SignInFilter{Since: base.Add(3 * time.Hour).In(time.FixedZone("JST", 9*3600))}, []string{"e3", "e4"}},
		{"username any case", store.SignInFilter{Username: "alice@EXAMPLE.com"}, []string{"e0", "e1", "e2", "e4"}},
		{"application", store.SignInFilter{Application: "portal"}, []string{"e2"}},
		{"client type", store.SignInFilter{ClientType: "legacy-proxied"}, []string{"e1"}},
		{"decision", store.SignInFilter{Decision: "deny"}, []string{"e3"}},
		{"IP effective and forwarded", store.SignInFilter{IP: "198.51.100.7"}, []string{"e1"}},
		{"IP peer", store.SignInFilter{IP: "40.92.0.1"}, []string{"e1"}},
		{"IP forwarded, not trusted", store.SignInFilter{IP: "192.0.2.99"}, []string{"e3"}},
		{"IP effective", store.SignInFilter{IP: "203.0.113.5"}, []string{"e0", "e3", "e4"}},
		{"IPv4-mapped IPv6", store.SignInFilter{IP: "::ffff:203.0.113.5"}, []string{"e0", "e3", "e4"}},
		{"IPv6", store.SignInFilter{IP: "2001:db8::1"}, []string{"e2"}},
		{"IP nobody", store.SignInFilter{IP: "192.0.2.1"}, nil},
		{"combined", store.SignInFilter{Username: "ALICE@EXAMPLE.COM", Decision: "allow", Application: "m365",
			ClientType: "browser", Since: base, Until: base.Add(5 * time.Hour)}, []string{"e0", "e4"}},
		{"limit", store.SignInFilter{Limit: 2}, []string{"e0", "e1"}},
		{"limit with filter", store.SignInFilter{Username: "alice@example.com", Limit: 3, Since: base.Add(time.Minute)}, []string{"e1", "e2", "e4"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			list, err := s.ListSignIns(c, tc.f)
			ok(t, err)
			var got []string
			for _, e := range list {
				got = append(got, e.ID)
			}
			equal(t, "ListSignIns", got, tc.want)
			got = nil
			ok(t, s.EachSignIn(c, tc.f, func(e store.SignInEvent) error { got = append(got, e.ID); return nil }))
			equal(t, "EachSignIn", got, tc.want)
		})
	}
}

func testPruneSignIns(t *testing.T, s store.Store) {
	c := ctx(t)
	for i := range 6 {
		ok(t, s.AddSignIn(c, signIn(id("e", i), base.Add(time.Duration(i)*time.Hour))))
	}
	n, err := s.PruneSignIns(c, base.Add(2*time.Hour)) // strictly before
	ok(t, err)
	if n != 2 {
		t.Fatalf("PruneSignIns removed %d, want 2", n)
	}
	list, err := s.ListSignIns(c, store.SignInFilter{})
	ok(t, err)
	if len(list) != 4 || list[0].ID != "e-0002" {
		t.Fatalf("after prune: %d events, first %v", len(list), list)
	}
	_, err = s.GetSignIn(c, "e-0001")
	isErr(t, err, store.ErrNotFound)
	n, err = s.PruneSignIns(c, base)
	ok(t, err)
	if n != 0 {
		t.Fatalf("second prune removed %d", n)
	}
}

func testUseOnce(t *testing.T, s store.Store) {
	c := ctx(t)
	future := time.Now().Add(time.Hour)
	steps := []struct {
		key     string
		expires time.Time
		want    bool
	}{
		{"saml:id-1", future, true},
		{"saml:id-1", future, false},
		{"saml:id-1", future.Add(time.Hour), false},
		{"saml:id-2", future, true},
		{"totp:u1:123456", time.Now().Add(-time.Second), true}, // stored already expired
		{"totp:u1:123456", future, true},                       // expired: may be used again
		{"totp:u1:123456", future, false},                      // now live again
	}
	for i, st := range steps {
		got, err := s.UseOnce(c, st.key, st.expires)
		ok(t, err)
		if got != st.want {
			t.Fatalf("step %d: UseOnce(%q) = %v, want %v", i, st.key, got, st.want)
		}
	}
}

func testUseOnceConcurrent(t *testing.T, s store.Store) {
	c := ctx(t)
	const workers = 16
	var wins atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			ok, err := s.UseOnce(c, "download:token", time.Now().Add(time.Minute))
			if err != nil {
				errs <- err
			}
			if ok {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("UseOnce: %v", err)
	}
	if wins.Load() != 1 {
		t.Fatalf("%d callers won the same key, want exactly 1", wins.Load())
	}
}
