package admin

import (
	"context"

	"github.com/sekisho/sekisho/internal/authn/factors"
	"github.com/sekisho/sekisho/internal/lockout"
	"github.com/sekisho/sekisho/internal/store"
)

// factorsView is a user's second factors in the audit log: which there are and how many,
// never a seed, a code or a credential.
type factorsView struct {
	TOTP            bool  `json:"totp"`
	Pending         bool  `json:"pendingEnrolment"`
	EmergencyLeft   int   `json:"emergencyCodesLeft"`
	Passkeys        int   `json:"passkeys"`
	EmergencyIssued int   `json:"emergencyCodesIssued,omitempty"`
	SessionsEnded   int64 `json:"sessionsEnded,omitempty"`
}

func factorsOf(ctx context.Context, m *factors.Manager, userID string) (factorsView, error) {
	st, err := m.Status(ctx, userID)
	return factorsView{TOTP: st.TOTP, Pending: st.Pending, EmergencyLeft: st.EmergencyLeft, Passkeys: st.WebAuthn}, err
}

// userChange runs a change of one user's second factors or lockout state: the target is the
// UPN, and fn gets the user and the manager on the transaction's store.
func userChange[M, T any](ctx context.Context, s *Service, a Actor, action, upn string, manager func(tx) (M, error),
	fn func(t tx, m M, u store.User) (T, any, any, error)) (T, error) {
	return changeTo(ctx, s, a, action, upn, func(t tx) (T, any, any, error) {
		var zero T
		u, err := t.user(ctx, upn)
		if err != nil {
			return zero, nil, nil, err
		}
		m, err := manager(t)
		if err != nil {
			return zero, nil, nil, err
		}
		return fn(t, m, u)
	})
}

// ResetFactors removes every second factor of a user (lost phone) and ends their sessions
// ("factors.reset").
func (s *Service) ResetFactors(ctx context.Context, a Actor, upn string) (store.User, error) {
	return userChange(ctx, s, a, "factors.reset", upn, tx.factors, func(t tx, m *factors.Manager, u store.User) (store.User, any, any, error) {
		before, err := factorsOf(ctx, m, u.ID)
		if err != nil {
			return u, nil, nil, err
		}
		if err := m.Reset(ctx, u.ID); err != nil {
			return u, nil, nil, err
		}
		after, err := factorsOf(ctx, m, u.ID)
		if err != nil {
			return u, nil, nil, err
		}
		after.SessionsEnded, err = t.DeleteUserSessions(ctx, u.ID)
		return u, before, after, err
	})
}

// EmergencyCodes replaces a user's emergency codes with n new ones (10 when n <= 0)
// ("factors.emergency-codes"): the caller shows them once; the entry says how many.
func (s *Service) EmergencyCodes(ctx context.Context, a Actor, upn string, n int) (store.User, []string, error) {
	type issued struct {
		u     store.User
		codes []string
	}
	out, err := userChange(ctx, s, a, "factors.emergency-codes", upn, tx.factors, func(t tx, m *factors.Manager, u store.User) (issued, any, any, error) {
		before, err := factorsOf(ctx, m, u.ID)
		if err != nil {
			return issued{}, nil, nil, err
		}
		codes, err := m.IssueEmergencyCodes(ctx, u.ID, n)
		if err != nil {
			return issued{}, nil, nil, err
		}
		after, err := factorsOf(ctx, m, u.ID)
		after.EmergencyIssued = len(codes)
		return issued{u, codes}, before, after, err
	})
	return out.u, out.codes, err
}

// lockoutView is a user's lockout counters in the audit log.
type lockoutView struct {
	Counters map[lockout.Side]lockout.Counter `json:"counters"`
}

// Unlock lifts a user's smart lockout on both sides, familiar and unfamiliar sources
// ("lockout.unlock"). It fails when smart lockout is switched off.
func (s *Service) Unlock(ctx context.Context, a Actor, upn string) (store.User, error) {
	return userChange(ctx, s, a, "lockout.unlock", upn, tx.lockout, func(t tx, l *lockout.Lockout, u store.User) (store.User, any, any, error) {
		before, err := l.Status(ctx, u.ID)
		if err != nil {
			return u, nil, nil, err
		}
		if err := l.Unlock(ctx, u.ID, s.Now()); err != nil {
			return u, nil, nil, err
		}
		after, err := l.Status(ctx, u.ID)
		return u, lockoutView{before.Counters}, lockoutView{after.Counters}, err
	})
}
