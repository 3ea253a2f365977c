// Package directory manages users and groups on top of the store: validation, ImmutableID
// generation, argon2id password hashing with transparent upgrade, and bulk import.
package directory

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/mail"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/sekisho/sekisho/internal/store"
)

// Errors callers distinguish (wrapped; test with errors.Is).
var (
	ErrBadCredentials = errors.New("wrong user name or password")
	ErrDisabled       = errors.New("account is disabled")
)

// Directory is the user and group service.
type Directory struct {
	Store  store.Store
	Params Params
	Policy PasswordPolicy
	Now    func() time.Time

	dummyOnce sync.Once
	dummyHash string
	// slots bound how many password checks run at once: each holds the hash's memory (19 MiB
	// by default) for its whole run, so a burst beyond the CPUs would only add memory and
	// latency. A check waits for a slot until its request's deadline.
	slots chan struct{}
	// checkCost is the duration of the last password check (nanoseconds): a check whose
	// request has less time left gives up instead of spending the hash on a certain refusal.
	checkCost *atomic.Int64
	// connectors are the directory connectors by ID (AddConnector); their users' passwords
	// are checked by the connector.
	connectors map[string]ConnectorSettings
}

// ErrBusy is returned when a password check could not start before the request's deadline.
var ErrBusy = errors.New("too many password checks at once")

// New returns a Directory. dummyHash lets Authenticate spend the same time on unknown users.
func New(s store.Store, p Params, pp PasswordPolicy) *Directory {
	return &Directory{Store: s, Params: p, Policy: pp, Now: time.Now, slots: make(chan struct{}, 2*runtime.GOMAXPROCS(0)),
		checkCost: new(atomic.Int64)}
}

// WithStore returns a Directory with the same rules on another store (a transaction), so
// that a directory change and its audit entry commit together.
func (d *Directory) WithStore(s store.Store) *Directory {
	return &Directory{Store: s, Params: d.Params, Policy: d.Policy, Now: d.Now, slots: d.slots, checkCost: d.checkCost,
		connectors: d.connectors}
}

// burn spends one verification's worth of time, so unknown users cost what known ones do.
// The dummy hash is made lazily: start-up does not pay for it.
func (d *Directory) burn(password string) {
	d.dummyOnce.Do(func() { d.dummyHash, _ = d.Params.Hash("sekisho-dummy-password-for-timing") })
	_, _, _ = d.Params.Verify(password, d.dummyHash)
}

// NewUser is the input for AddUser.
type NewUser struct {
	UPN         string
	DisplayName string
	Email       string
	ImmutableID string // generated when empty
	Password    string // may be empty: the account then cannot sign in with a password
	Groups      []string
	Disabled    bool
	Temporary   bool // the password must be changed at the first sign-in
}

// NormalizeUPN trims and validates a user principal name (name@domain).
func NormalizeUPN(upn string) (string, error) {
	upn = strings.TrimSpace(upn)
	local, domain, ok := strings.Cut(upn, "@")
	if !ok || local == "" || domain == "" || strings.ContainsAny(upn, " \t\r\n<>\"") || strings.Count(upn, "@") != 1 || !strings.Contains(domain, ".") {
		return "", fmt.Errorf("%q is not a user principal name like alice@example.com", upn)
	}
	if len(upn) > 254 {
		return "", fmt.Errorf("user principal name is longer than 254 characters")
	}
	return upn, nil
}

// NewImmutableID returns base64 of 16 random bytes, the form Entra Connect uses.
func NewImmutableID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return base64.StdEncoding.EncodeToString(b)
}

// AddUser validates and creates a user with its group memberships in one transaction.
func (d *Directory) AddUser(ctx context.Context, nu NewUser) (store.User, error) {
	upn, err := NormalizeUPN(nu.UPN)
	if err != nil {
		return store.User{}, err
	}
	if nu.Email != "" {
		if _, err := mail.ParseAddress(nu.Email); err != nil {
			return store.User{}, fmt.Errorf("%q is not an email address", nu.Email)
		}
	}
	u := store.User{
		ID: uuid.NewString(), UPN: upn, DisplayName: strings.TrimSpace(nu.DisplayName),
		Email: strings.TrimSpace(nu.Email), ImmutableID: strings.TrimSpace(nu.ImmutableID), Status: store.UserActive,
	}
	if nu.Disabled {
		u.Status = store.UserDisabled
	}
	if u.ImmutableID == "" {
		u.ImmutableID = NewImmutableID()
	}
	if nu.Password != "" {
		u.PasswordChangeRequired = nu.Temporary
		if err := d.Policy.Check(upn, nu.Password); err != nil {
			return store.User{}, err
		}
		if u.PasswordHash, err = d.Params.Hash(nu.Password); err != nil {
			return store.User{}, err
		}
	}
	now := d.Now().UTC()
	u.CreatedAt, u.UpdatedAt = now, now
	err = d.Store.InTx(ctx, func(tx store.Store) error {
		if err := tx.CreateUser(ctx, u); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return fmt.Errorf("a user with UPN %s or ImmutableID %s already exists: %w", upn, u.ImmutableID, err)
			}
			return fmt.Errorf("create user %s: %w", upn, err)
		}
		for _, g := range nu.Groups {
			if err := tx.AddMember(ctx, g, u.ID); err != nil {
				return fmt.Errorf("add %s to group %q: %w", upn, g, err)
			}
		}
		return nil
	})
	if err != nil {
		return store.User{}, err
	}
	u.Groups = nu.Groups
	return u, nil
}

// SetPassword checks the policy and stores a new hash; existing sessions end.
func (d *Directory) SetPassword(ctx context.Context, upn, password string) error {
	return d.setPassword(ctx, upn, password, false)
}

// SetTemporaryPassword is SetPassword for a password an administrator hands over: the
// user must choose a new one at the next sign-in.
func (d *Directory) SetTemporaryPassword(ctx context.Context, upn, password string) error {
	return d.setPassword(ctx, upn, password, true)
}

// ErrSamePassword: a required password change must choose a different password.
var ErrSamePassword = &PolicyError{Code: "same_as_old", msg: "the new password must differ from the current one"}

// ChangeOwnPassword replaces the password of a user who proved the current one (the
// sign-in page's required change): the policy applies, the new password must differ, and
// the change requirement is cleared.
func (d *Directory) ChangeOwnPassword(ctx context.Context, userID, password string) error {
	u, err := d.Store.GetUser(ctx, userID)
	if err != nil {
		return fmt.Errorf("user %s: %w", userID, err)
	}
	if same, _, err := d.Params.Verify(password, u.PasswordHash); err == nil && same {
		return ErrSamePassword
	}
	return d.setPassword(ctx, u.UPN, password, false)
}

func (d *Directory) setPassword(ctx context.Context, upn, password string, temporary bool) error {
	u, err := d.Store.GetUserByUPN(ctx, upn)
	if err != nil {
		return fmt.Errorf("user %s: %w", upn, err)
	}
	if err := d.Policy.Check(u.UPN, password); err != nil {
		return err
	}
	h, err := d.Params.Hash(password)
	if err != nil {
		return err
	}
	_, err = d.Store.UpdateUser(ctx, u.ID, func(old store.User) (store.User, error) {
		old.PasswordHash = h
		old.PasswordChangeRequired = temporary
		old.UpdatedAt = d.Now().UTC()
		return old, nil
	})
	if err != nil {
		return fmt.Errorf("set password for %s: %w", upn, err)
	}
	if _, err := d.Store.DeleteUserSessions(ctx, u.ID); err != nil {
		return fmt.Errorf("end sessions of %s: %w", upn, err)
	}
	return nil
}

// SetStatus enables or disables a user; disabling ends the user's sessions.
func (d *Directory) SetStatus(ctx context.Context, upn string, status store.UserStatus) error {
	u, err := d.Store.GetUserByUPN(ctx, upn)
	if err != nil {
		return fmt.Errorf("user %s: %w", upn, err)
	}
	if _, err := d.Store.UpdateUser(ctx, u.ID, func(old store.User) (store.User, error) {
		old.Status = status
		old.UpdatedAt = d.Now().UTC()
		return old, nil
	}); err != nil {
		return fmt.Errorf("update %s: %w", upn, err)
	}
	if status == store.UserDisabled {
		if _, err := d.Store.DeleteUserSessions(ctx, u.ID); err != nil {
			return fmt.Errorf("end sessions of %s: %w", upn, err)
		}
	}
	return nil
}

// Authenticate checks a password. Unknown users cost the same time as known ones, and all
// failures but "disabled" come back as ErrBadCredentials. On success with outdated hash
// parameters the hash is upgraded transparently.
func (d *Directory) Authenticate(ctx context.Context, upn, password string) (store.User, error) {
	if d.slots != nil {
		select {
		case d.slots <- struct{}{}:
			defer func() { <-d.slots }()
		case <-ctx.Done():
			return store.User{}, fmt.Errorf("check the password of %s: %w (%w)", upn, ErrBusy, ctx.Err())
		}
		if dl, ok := ctx.Deadline(); ok && d.checkCost != nil && time.Until(dl) < time.Duration(d.checkCost.Load()) {
			return store.User{}, fmt.Errorf("check the password of %s: %w (less time left than one check takes)", upn, ErrBusy)
		}
		if d.checkCost != nil {
			start := time.Now()
			defer func() { d.checkCost.Store(int64(time.Since(start))) }()
		}
	}
	u, err := d.Store.GetUserByUPN(ctx, strings.TrimSpace(upn))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			d.burn(password)
			return store.User{}, fmt.Errorf("unknown user: %w", ErrBadCredentials)
		}
		return store.User{}, fmt.Errorf("look up %s: %w", upn, err)
	}
	if cs, ok := d.connectors[u.Source]; ok && u.Source != "" {
		if v, ok := cs.Connector.(PasswordVerifier); ok {
			return d.authenticateExternal(ctx, u, cs, v, password)
		}
	}
	if u.PasswordHash == "" {
		d.burn(password)
		return u, fmt.Errorf("no password set: %w", ErrBadCredentials)
	}
	ok, rehash, err := d.Params.Verify(password, u.PasswordHash)
	if err != nil {
		return u, fmt.Errorf("stored hash of %s: %w", u.UPN, err)
	}
	if !ok {
		return u, fmt.Errorf("wrong password: %w", ErrBadCredentials)
	}
	if u.Status != store.UserActive {
		return u, ErrDisabled
	}
	if rehash {
		if h, err := d.Params.Hash(password); err == nil {
			if nu, err := d.Store.UpdateUser(ctx, u.ID, func(old store.User) (store.User, error) {
				old.PasswordHash = h
				return old, nil
			}); err == nil {
				u = nu
			}
		}
	}
	return u, nil
}
