package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/store"
)

// testConfigVersion: every change to what nodes cache moves the counter forward, including a
// change rolled back not at all and one made inside a transaction; traffic (sign-ins,
// sessions, one-time keys, users) leaves it alone, so nodes do not drop caches per sign-in.
func testConfigVersion(t *testing.T, s store.Store) {
	c := ctx(t)
	mkUser(t, s, "u1", "u1@example.com")
	last, err := s.ConfigVersion(c)
	ok(t, err)
	step := func(what string, moves bool, fn func() error) {
		t.Helper()
		ok(t, fn())
		v, err := s.ConfigVersion(c)
		ok(t, err)
		switch {
		case moves && v <= last:
			t.Fatalf("%s: config version stayed at %d", what, v)
		case !moves && v != last:
			t.Fatalf("%s: config version moved from %d to %d", what, last, v)
		}
		last = v
	}
	app := store.Application{ID: "cv-a", Name: "cv app", Protocol: "saml", EntityID: "urn:cv", CreatedAt: base, UpdatedAt: base}
	step("CreateApplication", true, func() error { return s.CreateApplication(c, app) })
	step("UpdateApplication", true, func() error {
		_, err := s.UpdateApplication(c, "cv app", func(a store.Application) (store.Application, error) {
			a.Config = []byte(`{}`)
			return a, nil
		})
		return err
	})
	step("DeleteApplication", true, func() error { return s.DeleteApplication(c, "cv app") })
	step("PutNetwork", true, func() error { return s.PutNetwork(c, store.Network{Name: "office", CIDRs: []string{"10.0.0.0/8"}}) })
	step("DeleteNetwork", true, func() error { return s.DeleteNetwork(c, "office") })
	step("AddPolicyVersion", true, func() error {
		_, err := s.AddPolicyVersion(c, store.PolicyVersion{Document: []byte("version: 1\n")})
		return err
	})
	key := store.SigningKey{ID: "cv-k", Purpose: "token", State: store.KeyNext, SealedKey: []byte("s"), CertDER: []byte("c"),
		CreatedAt: base, NotAfter: base.AddDate(1, 0, 0), UpdatedAt: base}
	step("CreateSigningKey", true, func() error { return s.CreateSigningKey(c, key) })
	step("UpdateSigningKey", true, func() error {
		_, err := s.UpdateSigningKey(c, "cv-k", func(k store.SigningKey) (store.SigningKey, error) {
			k.State = store.KeyCurrent
			return k, nil
		})
		return err
	})
	step("DeleteSigningKey", true, func() error { return s.DeleteSigningKey(c, "cv-k") })
	dev := store.Device{ID: "cv-d", UserID: "u1", Name: "laptop", Serial: "cv01", Status: "issued", IssuedAt: base}
	step("CreateDevice", true, func() error { return s.CreateDevice(c, dev) })
	step("UpdateDevice (revoke)", true, func() error {
		_, err := s.UpdateDevice(c, "cv-d", func(d store.Device) (store.Device, error) {
			d.Status, d.RevokedAt = "revoked", base.Add(time.Hour)
			return d, nil
		})
		return err
	})
	step("a change inside a transaction", true, func() error {
		return s.InTx(c, func(tx store.Store) error {
			return tx.PutNetwork(c, store.Network{Name: "branch", CIDRs: []string{"192.0.2.0/24"}})
		})
	})
	step("a rolled-back change", false, func() error {
		err := s.InTx(c, func(tx store.Store) error {
			if err := tx.PutNetwork(c, store.Network{Name: "gone", CIDRs: []string{"198.51.100.0/24"}}); err != nil {
				return err
			}
			return errRollback
		})
		if errors.Is(err, errRollback) {
			return nil
		}
		return err
	})

	step("traffic: a sign-in, a session, a one-time key, a user", false, func() error {
		if err := s.AddSignIn(c, store.SignInEvent{ID: "cv-e", Time: base, Username: "u1@example.com", Decision: "allow"}); err != nil {
			return err
		}
		if err := s.CreateSession(c, store.Session{ID: "cv-s", UserID: "u1", CreatedAt: base, LastSeenAt: base, ExpiresAt: base.Add(time.Hour)}); err != nil {
			return err
		}
		if _, err := s.UseOnce(c, "cv-once", base.Add(time.Hour)); err != nil {
			return err
		}
		mkUser(t, s, "u2", "u2@example.com")
		return nil
	})
}

var errRollback = errors.New("roll back")
