package simulate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sekisho/sekisho/internal/policy"
	"github.com/sekisho/sekisho/internal/published"
	"github.com/sekisho/sekisho/internal/store"
)

// ErrNoPolicy: nothing to evaluate (no draft given and no policy published).
var ErrNoPolicy = errors.New("no policy is stored; give a draft or publish one")

// Compile validates draft (named file, for line-numbered errors) against the stored
// networks and compiles it; a nil draft means the policy in force.
func Compile(ctx context.Context, st store.Store, file string, draft []byte) (*published.Compiled, error) {
	var doc *store.PolicyVersion
	if draft != nil {
		nets, _, err := published.StoredNetworks(ctx, st)
		if err != nil {
			return nil, err
		}
		if _, err := policy.Load(file, draft, nets); err != nil {
			return nil, err
		}
		doc = &store.PolicyVersion{Document: draft}
	}
	comp, err := published.Load(ctx, st, doc)
	if err != nil {
		return nil, err
	}
	if comp.Policy == nil {
		return nil, ErrNoPolicy
	}
	return comp, nil
}

// StoreGroups reads a user's current groups from st (none for an unknown user).
func StoreGroups(st store.Store) GroupsOf {
	return func(ctx context.Context, upn string) []string {
		if u, err := st.GetUserByUPN(ctx, upn); err == nil {
			return u.Groups
		}
		return nil
	}
}

// ReplayStored re-evaluates the sign-ins recorded since since under pol.
func ReplayStored(ctx context.Context, st store.Store, pol *policy.Policy, since time.Time) (Result, error) {
	f := store.SignInFilter{Since: since}
	res, err := Replay(ctx, func(fn func(store.SignInEvent) error) error { return st.EachSignIn(ctx, f, fn) }, pol, StoreGroups(st))
	if err != nil {
		return res, fmt.Errorf("replay since %s: %w", since.UTC().Format(time.RFC3339), err)
	}
	return res, nil
}
