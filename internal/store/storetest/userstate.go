package storetest

import (
	"bytes"
	"strconv"
	"sync"
	"testing"

	"github.com/sekisho/sekisho/internal/store"
)

func testUserFactors(t *testing.T, s store.Store) {
	c := ctx(t)
	u := mkUser(t, s, "uf-1", "factors@example.com")
	_, err := s.GetUserFactors(c, u.ID)
	isErr(t, err, store.ErrNotFound)
	ok(t, s.PutUserFactors(c, u.ID, []byte("sealed-1")))
	ok(t, s.PutUserFactors(c, u.ID, []byte("sealed-2")))
	got, err := s.GetUserFactors(c, u.ID)
	ok(t, err)
	equal(t, "factors", string(got), "sealed-2")
	ok(t, s.PutUserFactors(c, u.ID, nil))
	_, err = s.GetUserFactors(c, u.ID)
	isErr(t, err, store.ErrNotFound)
	ok(t, s.PutUserFactors(c, u.ID, []byte("sealed-3")))
	ok(t, s.DeleteUser(c, u.ID))
	_, err = s.GetUserFactors(c, u.ID)
	isErr(t, err, store.ErrNotFound)
	if err := s.PutUserFactors(c, "no-such-user", []byte("x")); err == nil {
		t.Fatal("factors stored for a user that does not exist")
	}
}

// testLockoutConcurrent: 20 writers × 10 read-modify-write increments starting from no row
// must end at exactly 200 — the first-insert race and later updates both serialise.
func testLockoutConcurrent(t *testing.T, s store.Store) {
	c := ctx(t)
	u := mkUser(t, s, "lo-1", "lockout@example.com")
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for w := 0; w < 20; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				errs <- s.UpdateLockout(c, u.ID, func(old []byte) ([]byte, error) {
					n := 0
					if old != nil {
						n, _ = strconv.Atoi(string(old))
					}
					return []byte(strconv.Itoa(n + 1)), nil
				})
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		ok(t, err)
	}
	got, err := s.GetLockout(c, u.ID)
	ok(t, err)
	equal(t, "counter", string(got), "200")
	ok(t, s.UpdateLockout(c, u.ID, func(old []byte) ([]byte, error) {
		if !bytes.Equal(old, []byte("200")) {
			t.Errorf("fn saw %q", old)
		}
		return nil, nil
	}))
	_, err = s.GetLockout(c, u.ID)
	isErr(t, err, store.ErrNotFound)
}
