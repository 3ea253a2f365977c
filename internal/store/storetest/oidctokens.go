package storetest

import (
	"crypto/sha256"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/store"
)

func hashOf(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// testRefreshTokens: a family is created, rotated once per use (the old token is rotated, the
// next one active), revoked as a whole, deleted with its user or its client; a rotation of a
// token that is not active changes nothing.
func testRefreshTokens(t *testing.T, s store.Store) {
	c := ctx(t)
	mkUser(t, s, "u1", "u1@example.com")
	mkUser(t, s, "u2", "u2@example.com")
	first := store.RefreshToken{Hash: hashOf("t1"), FamilyID: "fam1", ClientID: "client-a", UserID: "u1",
		Scopes: []string{"openid", "email", "offline_access"}, State: store.RefreshActive, CreatedAt: base,
		ExpiresAt: base.Add(30 * 24 * time.Hour), AuthTime: base.Add(-time.Minute), AMR: []string{"pwd", "otp", "mfa"}, MFA: true,
		SessionID: "_sess"}
	ok(t, s.CreateRefreshToken(c, first))
	got, err := s.GetRefreshToken(c, hashOf("t1"))
	ok(t, err)
	equal(t, "round trip", got, first)
	isErr(t, s.CreateRefreshToken(c, first), store.ErrConflict)
	bad := first
	bad.Hash, bad.UserID = hashOf("x"), "nobody"
	isErr(t, s.CreateRefreshToken(c, bad), store.ErrNotFound)
	for name, mod := range map[string]func(*store.RefreshToken){
		"no hash": func(x *store.RefreshToken) { x.Hash = nil }, "no family": func(x *store.RefreshToken) { x.FamilyID = "" },
		"no expiry": func(x *store.RefreshToken) { x.ExpiresAt = time.Time{} }, "a scope with a space": func(x *store.RefreshToken) { x.Scopes = []string{"a b"} },
	} {
		x := first
		x.Hash = hashOf(name)
		mod(&x)
		if err := s.CreateRefreshToken(c, x); err == nil {
			t.Fatalf("%s: stored", name)
		}
	}
	_, err = s.GetRefreshToken(c, hashOf("missing"))
	isErr(t, err, store.ErrNotFound)
	live, err := s.RefreshFamilyLive(c, "fam1")
	ok(t, err)
	if !live {
		t.Fatal("a new family is not live")
	}

	// Rotation: the old token is rotated, the next one is active with the grant's context.
	next := first
	next.Hash, next.CreatedAt, next.ExpiresAt = hashOf("t2"), base.Add(time.Hour), base.Add(31*24*time.Hour)
	ok(t, s.RotateRefreshToken(c, hashOf("t1"), next))
	old, err := s.GetRefreshToken(c, hashOf("t1"))
	ok(t, err)
	if old.State != store.RefreshRotated || !old.UsedAt.Equal(base.Add(time.Hour)) {
		t.Fatalf("after rotation: %+v", old)
	}
	got, err = s.GetRefreshToken(c, hashOf("t2"))
	ok(t, err)
	equal(t, "the next token", got, next)
	// A token rotated already, a token of another family, an unknown token: nothing changes.
	again := next
	again.Hash = hashOf("t3")
	isErr(t, s.RotateRefreshToken(c, hashOf("t1"), again), store.ErrNotFound)
	other := again
	other.FamilyID = "fam-other"
	isErr(t, s.RotateRefreshToken(c, hashOf("t2"), other), store.ErrNotFound)
	isErr(t, s.RotateRefreshToken(c, hashOf("missing"), again), store.ErrNotFound)
	_, err = s.GetRefreshToken(c, hashOf("t3"))
	isErr(t, err, store.ErrNotFound)

	// Revocation revokes every token of the family, once.
	n, err := s.RevokeRefreshFamily(c, "fam1", base.Add(2*time.Hour))
	ok(t, err)
	if n != 2 {
		t.Fatalf("revoked %d tokens, want 2", n)
	}
	for _, h := range []string{"t1", "t2"} {
		x, err := s.GetRefreshToken(c, hashOf(h))
		ok(t, err)
		if x.State != store.RefreshRevoked || x.UsedAt.IsZero() {
			t.Fatalf("%s after revocation: %+v", h, x)
		}
	}
	if x, _ := s.GetRefreshToken(c, hashOf("t1")); !x.UsedAt.Equal(base.Add(time.Hour)) {
		t.Fatalf("revocation changed the rotation time: %v", x.UsedAt)
	}
	if n, err = s.RevokeRefreshFamily(c, "fam1", base); err != nil || n != 0 {
		t.Fatalf("second revocation: %d %v", n, err)
	}
	if live, err = s.RefreshFamilyLive(c, "fam1"); err != nil || live {
		t.Fatalf("revoked family live=%v %v", live, err)
	}
	isErr(t, s.RotateRefreshToken(c, hashOf("t2"), again), store.ErrNotFound)
	if live, err = s.RefreshFamilyLive(c, "never"); err != nil || live {
		t.Fatalf("unknown family live=%v %v", live, err)
	}

	// A client's removal deletes its tokens; a user's deletion deletes theirs.
	for i, f := range []store.RefreshToken{
		{Hash: hashOf("b1"), FamilyID: "fam-b", ClientID: "client-b", UserID: "u1", ExpiresAt: base.Add(time.Hour)},
		{Hash: hashOf("b2"), FamilyID: "fam-c", ClientID: "client-b", UserID: "u2", ExpiresAt: base.Add(time.Hour)},
		{Hash: hashOf("c1"), FamilyID: "fam-d", ClientID: "client-c", UserID: "u2", ExpiresAt: base.Add(time.Hour)},
	} {
		if err := s.CreateRefreshToken(c, f); err != nil {
			t.Fatalf("token %d: %v", i, err)
		}
	}
	if n, err = s.DeleteClientRefreshTokens(c, "client-b"); err != nil || n != 2 {
		t.Fatalf("delete client-b's tokens: %d %v", n, err)
	}
	_, err = s.GetRefreshToken(c, hashOf("b1"))
	isErr(t, err, store.ErrNotFound)
	ok(t, s.DeleteUser(c, "u2"))
	_, err = s.GetRefreshToken(c, hashOf("c1"))
	isErr(t, err, store.ErrNotFound)
	if _, err := s.GetRefreshToken(c, hashOf("t1")); err != nil {
		t.Fatalf("u1's tokens went with u2: %v", err)
	}

	// Pruning removes what expired before the given time.
	ok(t, s.CreateRefreshToken(c, store.RefreshToken{Hash: hashOf("late"), FamilyID: "fam-late", ClientID: "client-a", UserID: "u1",
		ExpiresAt: base.Add(90 * 24 * time.Hour)}))
	n, err = s.PruneOIDCTokens(c, base.Add(60*24*time.Hour))
	ok(t, err)
	if n != 2 {
		t.Fatalf("pruned %d, want 2 (t1, t2)", n)
	}
	if _, err := s.GetRefreshToken(c, hashOf("late")); err != nil {
		t.Fatalf("a token not expired was pruned: %v", err)
	}
}

// testRefreshRotationConcurrent: of several concurrent rotations of one token exactly one
// succeeds; a revocation racing rotations leaves no active token in the family.
func testRefreshRotationConcurrent(t *testing.T, s store.Store) {
	c := ctx(t)
	mkUser(t, s, "u1", "u1@example.com")
	ok(t, s.CreateRefreshToken(c, store.RefreshToken{Hash: hashOf("r0"), FamilyID: "fam", ClientID: "c", UserID: "u1",
		ExpiresAt: base.Add(time.Hour)}))
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.RotateRefreshToken(c, hashOf("r0"), store.RefreshToken{Hash: hashOf(id("r1", i)), FamilyID: "fam", ClientID: "c",
				UserID: "u1", ExpiresAt: base.Add(time.Hour)})
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, store.ErrNotFound):
			t.Fatalf("rotation: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d rotations of one token succeeded, want 1", won)
	}

	// A chain of rotations racing one revocation: afterwards no token of the family is active.
	ok(t, s.CreateRefreshToken(c, store.RefreshToken{Hash: hashOf("chain-0"), FamilyID: "chain", ClientID: "c", UserID: "u1",
		ExpiresAt: base.Add(time.Hour)}))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 20 {
			if err := s.RotateRefreshToken(c, hashOf(id("chain", i)), store.RefreshToken{Hash: hashOf(id("chain", i+1)), FamilyID: "chain",
				ClientID: "c", UserID: "u1", ExpiresAt: base.Add(time.Hour)}); err != nil {
				return // revoked meanwhile
			}
		}
	}()
	if _, err := s.RevokeRefreshFamily(c, "chain", base); err != nil {
		t.Fatal(err)
	}
	<-done
	if live, err := s.RefreshFamilyLive(c, "chain"); err != nil || live {
		t.Fatalf("after a revocation racing rotations: live=%v %v", live, err)
	}
}

// testRevokedAccessTokens: a revoked token ID is remembered until it expires; twice is fine.
func testRevokedAccessTokens(t *testing.T, s store.Store) {
	c := ctx(t)
	revoked, err := s.AccessTokenRevoked(c, "_ev1")
	ok(t, err)
	if revoked {
		t.Fatal("a token nobody revoked is revoked")
	}
	ok(t, s.RevokeAccessToken(c, "_ev1", "client-a", base, base.Add(10*time.Minute)))
	ok(t, s.RevokeAccessToken(c, "_ev1", "client-a", base.Add(time.Minute), base.Add(10*time.Minute)))
	if err := s.RevokeAccessToken(c, "", "client-a", base, base.Add(time.Minute)); err == nil {
		t.Fatal("a revocation without a token ID was stored")
	}
	ok(t, s.RevokeAccessToken(c, "_ev2", "client-a", base, base.Add(time.Hour)))
	if revoked, err = s.AccessTokenRevoked(c, "_ev1"); err != nil || !revoked {
		t.Fatalf("revoked=%v %v", revoked, err)
	}
	n, err := s.PruneOIDCTokens(c, base.Add(30*time.Minute))
	ok(t, err)
	if n != 1 {
		t.Fatalf("pruned %d, want 1", n)
	}
	if revoked, _ = s.AccessTokenRevoked(c, "_ev1"); revoked {
		t.Fatal("an expired revocation was kept")
	}
	if revoked, _ = s.AccessTokenRevoked(c, "_ev2"); !revoked {
		t.Fatal("a live revocation was pruned")
	}
}

// testDeviceCodes: a device authorization round-trips, its user code is unique while it lives
// (an expired holder is taken over), updates keep its identity, fn's error changes nothing,
// concurrent redemptions let exactly one through, and pruning removes the expired.
func testDeviceCodes(t *testing.T, s store.Store) {
	c := ctx(t)
	d := store.DeviceCode{Hash: hashOf("dev1"), UserCode: "BCDFGHJK", ClientID: "client-a", Scopes: []string{"openid", "offline_access"},
		State: store.DevicePending, CreatedAt: base, ExpiresAt: base.Add(10 * time.Minute), Interval: 5}
	ok(t, s.CreateDeviceCode(c, d))
	got, err := s.GetDeviceCodeByUserCode(c, "BCDFGHJK")
	ok(t, err)
	equal(t, "round trip", got, d)
	_, err = s.GetDeviceCodeByUserCode(c, "MISSING")
	isErr(t, err, store.ErrNotFound)
	// The user code is taken while the first lives; a second pair drawing it must draw again.
	dup := d
	dup.Hash, dup.CreatedAt = hashOf("dev2"), base.Add(time.Minute)
	isErr(t, s.CreateDeviceCode(c, dup), store.ErrConflict)
	for name, mod := range map[string]func(*store.DeviceCode){
		"no hash": func(x *store.DeviceCode) { x.Hash = nil }, "no user code": func(x *store.DeviceCode) { x.UserCode = "" },
		"no interval": func(x *store.DeviceCode) { x.Interval = 0 }, "unknown state": func(x *store.DeviceCode) { x.State = "maybe" },
	} {
		x := d
		x.Hash, x.UserCode = hashOf(name), "X"+name
		mod(&x)
		if err := s.CreateDeviceCode(c, x); err == nil {
			t.Fatalf("%s: stored", name)
		}
	}

	// The user's decision: identity fields cannot change.
	approved, err := s.UpdateDeviceCode(c, hashOf("dev1"), func(x store.DeviceCode) (store.DeviceCode, error) {
		x.State, x.UserID, x.AuthTime, x.AMR, x.MFA, x.EventID, x.SessionID = store.DeviceApproved, "u1", base.Add(time.Minute), []string{"pwd", "otp", "mfa"}, true, "EV1", "_s1"
		x.UserCode, x.ClientID = "CHANGED", "other"
		return x, nil
	})
	ok(t, err)
	got, err = s.GetDeviceCodeByUserCode(c, "BCDFGHJK")
	ok(t, err)
	equal(t, "after approval", got, approved)
	if got.ClientID != "client-a" || got.State != store.DeviceApproved || got.UserID != "u1" || !got.MFA {
		t.Fatalf("approval: %+v", got)
	}
	stop := errors.New("stop")
	if _, err := s.UpdateDeviceCode(c, hashOf("dev1"), func(x store.DeviceCode) (store.DeviceCode, error) {
		x.State = store.DeviceDenied
		return x, stop
	}); !errors.Is(err, stop) {
		t.Fatalf("fn's error: %v", err)
	}
	if got, _ := s.GetDeviceCodeByUserCode(c, "BCDFGHJK"); got.State != store.DeviceApproved {
		t.Fatalf("a failed update changed the row: %+v", got)
	}
	_, err = s.UpdateDeviceCode(c, hashOf("missing"), func(x store.DeviceCode) (store.DeviceCode, error) { return x, nil })
	isErr(t, err, store.ErrNotFound)

	// Two polls at once: one redeems, the other sees it redeemed.
	var wg sync.WaitGroup
	var mu sync.Mutex
	redeemed := 0
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.UpdateDeviceCode(c, hashOf("dev1"), func(x store.DeviceCode) (store.DeviceCode, error) {
				if x.State != store.DeviceApproved {
					return x, stop
				}
				x.State = store.DeviceRedeemed
				return x, nil
			})
			if err == nil {
				mu.Lock()
				redeemed++
				mu.Unlock()
			} else if !errors.Is(err, stop) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if redeemed != 1 {
		t.Fatalf("%d concurrent redemptions succeeded", redeemed)
	}

	// Expired: its user code may be drawn again, and pruning removes it.
	later := d
	later.Hash, later.CreatedAt, later.ExpiresAt = hashOf("dev3"), base.Add(11*time.Minute), base.Add(21*time.Minute)
	ok(t, s.CreateDeviceCode(c, later))
	got, err = s.GetDeviceCodeByUserCode(c, "BCDFGHJK")
	ok(t, err)
	equal(t, "the new holder", got.Hash, hashOf("dev3"))
	_, err = s.PruneOIDCTokens(c, base.Add(30*time.Minute))
	ok(t, err)
	_, err = s.GetDeviceCodeByUserCode(c, "BCDFGHJK")
	isErr(t, err, store.ErrNotFound)
}
