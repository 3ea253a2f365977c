package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/store"
)

func testTxCommit(t *testing.T, s store.Store) {
	c := ctx(t)
	ok(t, s.InTx(c, func(tx store.Store) error {
		if err := tx.CreateUser(c, user("u1", "u1@example.com")); err != nil {
			return err
		}
		if err := tx.CreateGroup(c, store.Group{ID: "g1", Name: "g"}); err != nil {
			return err
		}
		if err := tx.AddMember(c, "g", "u1"); err != nil {
			return err
		}
		// Reads inside the transaction see its writes; nested InTx joins it.
		return tx.InTx(c, func(inner store.Store) error {
			u, err := inner.GetUser(c, "u1")
			if err != nil {
				return err
			}
			if len(u.Groups) != 1 {
				return errors.New("membership not visible inside the transaction")
			}
			_, err = inner.UpdateUser(c, "u1", func(u store.User) (store.User, error) { u.DisplayName = "in tx"; return u, nil })
			return err
		})
	}))
	u, err := s.GetUser(c, "u1")
	ok(t, err)
	if u.DisplayName != "in tx" || len(u.Groups) != 1 {
		t.Fatalf("committed transaction lost writes: %+v", u)
	}
}

func testTxRollback(t *testing.T, s store.Store) {
	c := ctx(t)
	mkUser(t, s, "keep", "keep@example.com")
	fail := errors.New("fail after writes")
	err := s.InTx(c, func(tx store.Store) error {
		steps := []func() error{
			func() error { return tx.CreateUser(c, user("u1", "u1@example.com")) },
			func() error { return tx.CreateGroup(c, store.Group{ID: "g1", Name: "g"}) },
			func() error { return tx.AddMember(c, "g", "keep") },
			func() error {
				_, err := tx.UpdateUser(c, "keep", func(u store.User) (store.User, error) { u.DisplayName = "changed"; return u, nil })
				return err
			},
			func() error { _, err := tx.AddPolicyVersion(c, store.PolicyVersion{Document: []byte("x")}); return err },
			func() error { return tx.PutNetwork(c, store.Network{Name: "n", CIDRs: []string{"10.0.0.0/8"}}) },
			func() error { return tx.AddSignIn(c, signIn("ref", base)) },
			func() error { _, err := tx.UseOnce(c, "once", time.Now().Add(time.Hour)); return err },
			func() error { return tx.DeleteUser(c, "keep") },
		}
		for _, step := range steps {
			if err := step(); err != nil {
				return err
			}
		}
		return fail
	})
	isErr(t, err, fail)

	_, err = s.GetUser(c, "u1")
	isErr(t, err, store.ErrNotFound)
	_, err = s.GetGroup(c, "g")
	isErr(t, err, store.ErrNotFound)
	_, err = s.LatestPolicyVersion(c)
	isErr(t, err, store.ErrNotFound)
	_, err = s.GetNetwork(c, "n")
	isErr(t, err, store.ErrNotFound)
	_, err = s.GetSignIn(c, "ref")
	isErr(t, err, store.ErrNotFound)
	fresh, err := s.UseOnce(c, "once", time.Now().Add(time.Hour))
	ok(t, err)
	if !fresh {
		t.Fatal("UseOnce key from a rolled-back transaction is still recorded")
	}
	u, err := s.GetUser(c, "keep")
	ok(t, err)
	if u.DisplayName == "changed" || len(u.Groups) != 0 {
		t.Fatalf("rolled-back update is visible: %+v", u)
	}

	// A panic in fn rolls back too, and the panic goes on.
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("panic was swallowed")
			}
		}()
		_ = s.InTx(c, func(tx store.Store) error {
			if err := tx.CreateUser(c, user("p", "p@example.com")); err != nil {
				return err
			}
			panic("boom")
		})
	}()
	_, err = s.GetUser(c, "p")
	isErr(t, err, store.ErrNotFound)
}

func testTimeZones(t *testing.T, s store.Store) {
	c := ctx(t)
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	ok(t, err)
	newYork, err := time.LoadLocation("America/New_York")
	ok(t, err)
	for i, loc := range []*time.Location{tokyo, newYork} {
		// Microsecond precision; New York in summer time, Tokyo near midnight (another UTC day).
		at := time.Date(2025, 7, 1, 0, 30, 45, 987654000, loc)
		later := at.Add(90 * time.Minute)
		uid := id("tz", i)

		u := user(uid, uid+"@example.com")
		u.CreatedAt, u.UpdatedAt = at, later
		ok(t, s.CreateUser(c, u))
		gu, err := s.GetUser(c, uid)
		ok(t, err)
		sameTime(t, loc.String()+" user CreatedAt", gu.CreatedAt, at)
		sameTime(t, loc.String()+" user UpdatedAt", gu.UpdatedAt, later)

		ok(t, s.CreateSession(c, store.Session{ID: uid, UserID: uid, CreatedAt: at, LastSeenAt: at, ExpiresAt: later}))
		gs, err := s.GetSession(c, uid)
		ok(t, err)
		sameTime(t, loc.String()+" session ExpiresAt", gs.ExpiresAt, later)

		ok(t, s.CreateDevice(c, store.Device{ID: uid, UserID: uid, Serial: uid, NotBefore: at, NotAfter: later, IssuedAt: at}))
		gd, err := s.GetDevice(c, uid)
		ok(t, err)
		sameTime(t, loc.String()+" device NotBefore", gd.NotBefore, at)
		sameTime(t, loc.String()+" device NotAfter", gd.NotAfter, later)

		ok(t, s.AddSignIn(c, signIn(uid, at)))
		ge, err := s.GetSignIn(c, uid)
		ok(t, err)
		sameTime(t, loc.String()+" sign-in Time", ge.Time, at)
		// A window given in yet another zone finds it.
		list, err := s.ListSignIns(c, store.SignInFilter{Since: at.In(time.UTC), Until: at.Add(time.Microsecond).In(newYork)})
		ok(t, err)
		if len(list) != 1 || list[0].ID != uid {
			t.Fatalf("%s: window around the event found %v", loc, list)
		}

		p, err := s.AddPolicyVersion(c, store.PolicyVersion{Document: []byte("x"), CreatedAt: at})
		ok(t, err)
		gp, err := s.GetPolicyVersion(c, p.Version)
		ok(t, err)
		sameTime(t, loc.String()+" policy CreatedAt", gp.CreatedAt, at)
	}
	// Expiry compares instants, not wall clocks: 09:00 Tokyo is before 21:00 New York the day before.
	ok(t, s.CreateSession(c, store.Session{ID: "x", UserID: "tz-0000", ExpiresAt: time.Date(2025, 7, 2, 9, 0, 0, 0, tokyo)}))
	n, err := s.DeleteExpiredSessions(c, time.Date(2025, 7, 1, 20, 0, 0, 0, newYork)) // = 09:00 Tokyo
	ok(t, err)
	_, err = s.GetSession(c, "x")
	isErr(t, err, store.ErrNotFound)
	if n < 1 {
		t.Fatalf("DeleteExpiredSessions = %d", n)
	}
}

func testNotFound(t *testing.T, s store.Store) {
	c := ctx(t)
	calls := map[string]func() error{
		"GetUser":              func() error { _, err := s.GetUser(c, "x"); return err },
		"GetUserByUPN":         func() error { _, err := s.GetUserByUPN(c, "x@example.com"); return err },
		"GetUserByImmutableID": func() error { _, err := s.GetUserByImmutableID(c, "x"); return err },
		"UpdateUser": func() error {
			_, err := s.UpdateUser(c, "x", func(u store.User) (store.User, error) { return u, nil })
			return err
		},
		"DeleteUser":        func() error { return s.DeleteUser(c, "x") },
		"GetGroup":          func() error { _, err := s.GetGroup(c, "x"); return err },
		"DeleteGroup":       func() error { return s.DeleteGroup(c, "x") },
		"AddMember":         func() error { return s.AddMember(c, "x", "x") },
		"RemoveMember":      func() error { return s.RemoveMember(c, "x", "x") },
		"ListMembers":       func() error { _, err := s.ListMembers(c, "x"); return err },
		"GetApplication":    func() error { _, err := s.GetApplication(c, "x"); return err },
		"GetApplicationBy":  func() error { _, err := s.GetApplicationByEntityID(c, "saml", "x"); return err },
		"DeleteApplication": func() error { return s.DeleteApplication(c, "x") },
		"GetNetwork":        func() error { _, err := s.GetNetwork(c, "x"); return err },
		"DeleteNetwork":     func() error { return s.DeleteNetwork(c, "x") },
		"GetPolicyVersion":  func() error { _, err := s.GetPolicyVersion(c, 1); return err },
		"LatestPolicy":      func() error { _, err := s.LatestPolicyVersion(c); return err },
		"GetDevice":         func() error { _, err := s.GetDevice(c, "x"); return err },
		"GetDeviceBySerial": func() error { _, err := s.GetDeviceBySerial(c, "x"); return err },
		"UpdateDevice": func() error {
			_, err := s.UpdateDevice(c, "x", func(d store.Device) (store.Device, error) { return d, nil })
			return err
		},
		"GetSession": func() error { _, err := s.GetSession(c, "x"); return err },
		"UpdateSession": func() error {
			_, err := s.UpdateSession(c, "x", func(x store.Session) (store.Session, error) { return x, nil })
			return err
		},
		"DeleteSession":    func() error { return s.DeleteSession(c, "x") },
		"DeleteSigningKey": func() error { return s.DeleteSigningKey(c, "x") },
		"GetSignIn":        func() error { _, err := s.GetSignIn(c, "x"); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s on an empty store = %v, want ErrNotFound", name, err)
		}
	}
	// Empty listings are empty, not errors.
	if us, next, err := s.ListUsers(c, store.Page{}); err != nil || len(us) != 0 || next != "" {
		t.Errorf("ListUsers on an empty store = %v, %q, %v", us, next, err)
	}
	if n, err := s.DeleteUserSessions(c, "x"); err != nil || n != 0 {
		t.Errorf("DeleteUserSessions on an empty store = %d, %v", n, err)
	}
}
