package storetest

import (
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/store"
)

func testDevices(t *testing.T, s store.Store) {
	c := ctx(t)
	mkUser(t, s, "u1", "u1@example.com")
	mkUser(t, s, "u2", "u2@example.com")
	d := store.Device{ID: "d1", UserID: "u1", Name: "laptop", Platform: "windows", Serial: "0a1b2c", Status: "issued",
		CertDER: []byte{0x30, 0x82, 0x00}, NotBefore: base, NotAfter: base.AddDate(1, 0, 0), IssuedAt: base,
		Data: []byte(`{"p12":"sealed"}`)}
	ok(t, s.CreateDevice(c, d))
	d2 := store.Device{ID: "d2", UserID: "u2", Name: "phone", Serial: "0d0e", Status: "issued", IssuedAt: base.Add(time.Second)}
	ok(t, s.CreateDevice(c, d2))
	d3 := store.Device{ID: "d3", UserID: "u1", Name: "desktop", Serial: "0f", Status: "issued", IssuedAt: base.Add(2 * time.Second)}
	ok(t, s.CreateDevice(c, d3))
	isErr(t, s.CreateDevice(c, store.Device{ID: "d4", UserID: "u1", Serial: "0a1b2c"}), store.ErrConflict)
	isErr(t, s.CreateDevice(c, store.Device{ID: "d1", UserID: "u1", Serial: "ff"}), store.ErrConflict)
	isErr(t, s.CreateDevice(c, store.Device{ID: "d5", UserID: "ghost", Serial: "ee"}), store.ErrNotFound)

	got, err := s.GetDevice(c, "d1")
	ok(t, err)
	equal(t, "GetDevice", got, d)
	if !got.FirstSeenAt.IsZero() || !got.RevokedAt.IsZero() {
		t.Fatalf("zero times came back non-zero: %+v", got)
	}
	got, err = s.GetDeviceBySerial(c, "0d0e")
	ok(t, err)
	equal(t, "GetDeviceBySerial", got, d2)

	list, err := s.ListDevices(c, "u1")
	ok(t, err)
	equal(t, "ListDevices(u1)", list, []store.Device{d, d3})
	list, err = s.ListDevices(c, "")
	ok(t, err)
	equal(t, "ListDevices(all)", list, []store.Device{d, d2, d3})

	revoked := base.Add(time.Hour)
	got, err = s.UpdateDevice(c, "d1", func(old store.Device) (store.Device, error) {
		old.ID, old.Status, old.RevokedAt, old.ReplacedBy, old.FirstSeenAt = "zz", "revoked", revoked, "d3", base
		return old, nil
	})
	ok(t, err)
	want := d
	want.Status, want.RevokedAt, want.ReplacedBy, want.FirstSeenAt = "revoked", revoked, "d3", base
	equal(t, "UpdateDevice", got, want)
	_, err = s.UpdateDevice(c, "d2", func(old store.Device) (store.Device, error) { old.Serial = "0f"; return old, nil })
	isErr(t, err, store.ErrConflict)

	// Devices go with their user.
	ok(t, s.DeleteUser(c, "u1"))
	_, err = s.GetDevice(c, "d1")
	isErr(t, err, store.ErrNotFound)
	list, err = s.ListDevices(c, "")
	ok(t, err)
	equal(t, "devices after user delete", list, []store.Device{d2})
}

func testSessions(t *testing.T, s store.Store) {
	c := ctx(t)
	mkUser(t, s, "u1", "u1@example.com")
	mkUser(t, s, "u2", "u2@example.com")
	mk := func(id, user string, expires time.Time) store.Session {
		x := store.Session{ID: id, UserID: user, CreatedAt: base, LastSeenAt: base, ExpiresAt: expires,
			Data: []byte(`{"apps":["m365"]}`)}
		ok(t, s.CreateSession(c, x))
		return x
	}
	a := mk("s-a", "u1", base.Add(8*time.Hour))
	mk("s-b", "u1", base.Add(time.Hour))
	mk("s-c", "u2", base.Add(2*time.Hour))
	mk("s-d", "u2", base.Add(9*time.Hour))
	isErr(t, s.CreateSession(c, store.Session{ID: "s-a", UserID: "u1", ExpiresAt: base}), store.ErrConflict)
	isErr(t, s.CreateSession(c, store.Session{ID: "s-x", UserID: "ghost", ExpiresAt: base}), store.ErrNotFound)

	got, err := s.GetSession(c, "s-a")
	ok(t, err)
	equal(t, "GetSession", got, a)

	seen := base.Add(30 * time.Minute)
	got, err = s.UpdateSession(c, "s-a", func(old store.Session) (store.Session, error) {
		old.UserID, old.LastSeenAt, old.MFA = "u2", seen, true
		return old, nil
	})
	ok(t, err)
	want := a
	want.LastSeenAt, want.MFA = seen, true
	equal(t, "UpdateSession", got, want)

	// Expiry: sessions ending at or before now go; the others stay.
	n, err := s.DeleteExpiredSessions(c, base.Add(2*time.Hour))
	ok(t, err)
	if n != 2 {
		t.Fatalf("DeleteExpiredSessions removed %d, want 2 (s-b, s-c)", n)
	}
	for id, wantErr := range map[string]error{"s-a": nil, "s-b": store.ErrNotFound, "s-c": store.ErrNotFound, "s-d": nil} {
		_, err := s.GetSession(c, id)
		if !errorsIs(err, wantErr) {
			t.Fatalf("GetSession(%s) after expiry = %v, want %v", id, err, wantErr)
		}
	}

	n, err = s.DeleteUserSessions(c, "u1")
	ok(t, err)
	if n != 1 {
		t.Fatalf("DeleteUserSessions(u1) = %d, want 1", n)
	}
	ok(t, s.DeleteSession(c, "s-d"))
	isErr(t, s.DeleteSession(c, "s-d"), store.ErrNotFound)

	// Sessions go with their user.
	mk("s-e", "u2", base.Add(time.Hour))
	ok(t, s.DeleteUser(c, "u2"))
	_, err = s.GetSession(c, "s-e")
	isErr(t, err, store.ErrNotFound)
}

func testSigningKeys(t *testing.T, s store.Store) {
	c := ctx(t)
	mk := func(id, purpose string, state store.KeyState, created time.Time) store.SigningKey {
		k := store.SigningKey{ID: id, Purpose: purpose, State: state, SealedKey: []byte("sealed-" + id),
			CertDER: []byte("cert-" + id), CreatedAt: created, NotAfter: created.AddDate(2, 0, 0), UpdatedAt: created}
		ok(t, s.CreateSigningKey(c, k))
		return k
	}
	k2 := mk("k2", "token", store.KeyNext, base.Add(time.Hour))
	k1 := mk("k1", "token", store.KeyCurrent, base)
	ca := mk("ca", "device-ca", store.KeyCurrent, base)
	isErr(t, s.CreateSigningKey(c, store.SigningKey{ID: "k1", Purpose: "token"}), store.ErrConflict)

	list, err := s.ListSigningKeys(c, "token")
	ok(t, err)
	equal(t, "ListSigningKeys(token) oldest first", list, []store.SigningKey{k1, k2})
	list, err = s.ListSigningKeys(c, "")
	ok(t, err)
	if len(list) != 3 {
		t.Fatalf("ListSigningKeys(all) = %d keys, want 3", len(list))
	}
	list, err = s.ListSigningKeys(c, "device-ca")
	ok(t, err)
	equal(t, "ListSigningKeys(device-ca)", list, []store.SigningKey{ca})

	// Rotation: next becomes current, current retires.
	got, err := s.UpdateSigningKey(c, "k1", func(k store.SigningKey) (store.SigningKey, error) {
		k.State = store.KeyRetired
		return k, nil
	})
	ok(t, err)
	if got.State != store.KeyRetired || !got.UpdatedAt.After(k1.UpdatedAt) || !got.CreatedAt.Equal(k1.CreatedAt) {
		t.Fatalf("UpdateSigningKey = %+v", got)
	}
	ok(t, s.DeleteSigningKey(c, "k1"))
	isErr(t, s.DeleteSigningKey(c, "k1"), store.ErrNotFound)
	_, err = s.UpdateSigningKey(c, "k1", func(k store.SigningKey) (store.SigningKey, error) { return k, nil })
	isErr(t, err, store.ErrNotFound)
}
