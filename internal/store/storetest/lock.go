package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/sekisho/sekisho/internal/store"
)

// testLock: "read, then write what was read plus one" under Lock loses no update across
// concurrent transactions (as several nodes creating the same thing at once would).
func testLock(t *testing.T, s store.Store) {
	c := ctx(t)
	if err := s.Lock(c, "x"); err == nil {
		t.Fatal("Lock outside a transaction succeeded")
	}
	const writers = 8
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs <- s.InTx(c, func(tx store.Store) error {
				if err := tx.Lock(c, "lock-test"); err != nil {
					return err
				}
				n, err := tx.GetNetwork(c, "lock-test")
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
				n.Name, n.UpdatedAt = "lock-test", base
				n.CIDRs = append(n.CIDRs, fmt.Sprintf("192.0.2.%d/32", i))
				return tx.PutNetwork(c, n)
			})
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		ok(t, err)
	}
	n, err := s.GetNetwork(c, "lock-test")
	ok(t, err)
	if len(n.CIDRs) != writers {
		t.Fatalf("%d of %d concurrent updates survived: %v", len(n.CIDRs), writers, n.CIDRs)
	}
}
