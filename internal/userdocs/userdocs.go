// Package userdocs adapts the store's per-user state documents to the packages that own
// them: the sealed second-factors document (internal/authn/factors) and the smart-lockout
// counters (internal/lockout). Each package has its own "no document yet" error; the store
// has one. On a transaction's store, the adapters make those packages' writes part of it.
package userdocs

import (
	"context"
	"errors"

	"github.com/sekisho/sekisho/internal/authn/factors"
	"github.com/sekisho/sekisho/internal/lockout"
	"github.com/sekisho/sekisho/internal/store"
)

type docs struct {
	get      func(ctx context.Context, userID string) ([]byte, error)
	put      func(ctx context.Context, userID string, doc []byte) error
	update   func(ctx context.Context, userID string, fn func(old []byte) ([]byte, error)) error
	notFound error
}

func (d docs) Get(ctx context.Context, userID string) ([]byte, error) {
	b, err := d.get(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, d.notFound
	}
	return b, err
}

func (d docs) Put(ctx context.Context, userID string, doc []byte) error {
	return d.put(ctx, userID, doc)
}

func (d docs) Update(ctx context.Context, userID string, fn func(old []byte) ([]byte, error)) error {
	return d.update(ctx, userID, fn)
}

// Factors is st's second-factors documents as factors.FactorStore.
func Factors(st store.Store) factors.FactorStore {
	return docs{get: st.GetUserFactors, put: st.PutUserFactors, update: st.UpdateUserFactors, notFound: factors.ErrNotFound}
}

// Lockout is st's lockout counters as lockout.Store.
func Lockout(st store.Store) lockout.Store {
	return docs{get: st.GetLockout, update: st.UpdateLockout, notFound: lockout.ErrNotFound}
}
