// Package factors holds a user's second factors: TOTP (RFC 6238) enrolment and validation,
// administrator-issued single-use emergency codes, the user's passkey (WebAuthn) credentials
// (the ceremonies themselves are internal/authn/passkey), and reset.
//
// A user's factors are one JSON document sealed with the master key (AAD "factors:<userID>")
// and kept through FactorStore, so the store never sees a TOTP seed. Cross-node guarantees
// come from store.UseOnce: a code is accepted once per time step, an emergency code once, and
// attempts per user are limited per window (slots claimed with UseOnce), so parallel guesses
// on several nodes share one budget.
package factors

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/sekisho/sekisho/internal/secrets"
)

// Errors callers test with errors.Is. Show the user one message for all of the code errors.
var (
	ErrNotFound     = errors.New("no factors")        // FactorStore.Get: nothing stored
	ErrNotEnrolled  = errors.New("no confirmed TOTP") // no authenticator app confirmed
	ErrInvalidCode  = errors.New("invalid code")
	ErrReplay       = errors.New("code already used")
	ErrRateLimited  = errors.New("too many attempts; try again later")
	ErrNoEnrolment  = errors.New("no pending TOTP enrolment")
	errCorruptState = errors.New("factors document")
)

// FactorStore keeps each user's sealed factors document. Put with nil removes it.
//
// Schema the SQL backends need (one row per user, deleted with the user):
//
//	CREATE TABLE user_factors (
//	    user_id    TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
//	    sealed     BLOB NOT NULL,   -- BYTEA on PostgreSQL; secrets.Sealer output
//	    updated_at TIMESTAMP NOT NULL
//	);
type FactorStore interface {
	Get(ctx context.Context, userID string) ([]byte, error) // ErrNotFound when none
	Put(ctx context.Context, userID string, sealed []byte) error
}

// OnceStore is the part of store.Store used for replay protection and rate limiting.
type OnceStore interface {
	UseOnce(ctx context.Context, key string, expires time.Time) (bool, error)
}

// Factors is the sealed document.
type Factors struct {
	TOTP      *Seed           `json:"totp,omitempty"`      // confirmed authenticator app
	Pending   *Seed           `json:"pending,omitempty"`   // enrolled, waiting for its first code
	Emergency []EmergencyCode `json:"emergency,omitempty"` // hashed single-use codes
	WebAuthn  []Credential    `json:"webauthn,omitempty"`  // passkeys and security keys (webauthn.go)
}

// Seed is a TOTP secret (base32) and when it was set up.
type Seed struct {
	Secret    string    `json:"secret"`
	CreatedAt time.Time `json:"created_at"`
}

// EmergencyCode is one hashed emergency code.
type EmergencyCode struct {
	Hash   string    `json:"hash"`
	UsedAt time.Time `json:"used_at,omitzero"`
}

// Enrollment is what the user needs to add the account to an authenticator app.
type Enrollment struct {
	Secret string // base32, for typing in by hand
	URL    string // otpauth:// URL
	PNG    []byte // QR code of URL
}

// Status summarises a user's factors without secrets.
type Status struct {
	TOTP          bool
	Pending       bool
	EmergencyLeft int
	WebAuthn      int // registered WebAuthn credentials
}

// Manager enrols and checks second factors.
type Manager struct {
	Factors  FactorStore
	Once     OnceStore
	Sealer   *secrets.Sealer
	Issuer   string        // shown in authenticator apps ("Sekisho")
	Skew     uint          // accepted steps before/after now (1)
	MaxTries int           // code checks per user per Window (5)
	Window   time.Duration // rate-limit window (5 min)
}

// New returns a Manager with ±1 step and 5 attempts per 5 minutes.
func New(f FactorStore, once OnceStore, sealer *secrets.Sealer, issuer string) *Manager {
	if issuer == "" {
		issuer = "Sekisho"
	}
	return &Manager{Factors: f, Once: once, Sealer: sealer, Issuer: issuer, Skew: 1, MaxTries: 5, Window: 5 * time.Minute}
}

const period = 30

func aad(userID string) []byte { return []byte("factors:" + userID) }

// Load opens the user's factors (empty when none).
func (m *Manager) Load(ctx context.Context, userID string) (Factors, error) {
	sealed, err := m.Factors.Get(ctx, userID)
	if errors.Is(err, ErrNotFound) {
		return Factors{}, nil
	} else if err != nil {
		return Factors{}, fmt.Errorf("factors of %s: %w", userID, err)
	}
	return m.open(userID, sealed)
}

// Updater is a FactorStore that can change a document atomically (read-modify-write under a
// lock), so two nodes changing one user's factors at once cannot lose either change.
type Updater interface {
	Update(ctx context.Context, userID string, fn func(old []byte) ([]byte, error)) error
}

// update applies fn to the user's factors and stores the result, atomically when the store
// is an Updater. An error from fn leaves the document unchanged.
func (m *Manager) update(ctx context.Context, userID string, fn func(f *Factors) error) error {
	u, ok := m.Factors.(Updater)
	if !ok {
		f, err := m.Load(ctx, userID)
		if err != nil {
			return err
		}
		if err := fn(&f); err != nil {
			return err
		}
		return m.save(ctx, userID, f)
	}
	var fnErr error
	err := u.Update(ctx, userID, func(old []byte) ([]byte, error) {
		f, err := m.open(userID, old)
		if err != nil {
			return nil, err
		}
		if fnErr = fn(&f); fnErr != nil {
			return nil, fnErr
		}
		return m.seal(userID, f)
	})
	if fnErr != nil {
		return fnErr // unwrapped, so callers can test for ErrReplay and friends
	}
	if err != nil {
		return fmt.Errorf("store factors of %s: %w", userID, err)
	}
	return nil
}

func (m *Manager) open(userID string, sealed []byte) (Factors, error) {
	var f Factors
	if len(sealed) == 0 {
		return f, nil
	}
	plain, err := m.Sealer.Open(sealed, aad(userID))
	if err != nil {
		return f, fmt.Errorf("factors of %s: %w", userID, err)
	}
	if err := json.Unmarshal(plain, &f); err != nil {
		return f, fmt.Errorf("%w of %s: %v", errCorruptState, userID, err)
	}
	return f, nil
}

func (m *Manager) seal(userID string, f Factors) ([]byte, error) {
	plain, err := json.Marshal(f)
	if err != nil {
		return nil, fmt.Errorf("encode factors: %w", err)
	}
	sealed, err := m.Sealer.Seal(plain, aad(userID))
	if err != nil {
		return nil, fmt.Errorf("seal factors: %w", err)
	}
	return sealed, nil
}

func (m *Manager) save(ctx context.Context, userID string, f Factors) error {
	sealed, err := m.seal(userID, f)
	if err != nil {
		return err
	}
	if err := m.Factors.Put(ctx, userID, sealed); err != nil {
		return fmt.Errorf("store factors of %s: %w", userID, err)
	}
	return nil
}

// Status reports which factors the user has.
func (m *Manager) Status(ctx context.Context, userID string) (Status, error) {
	f, err := m.Load(ctx, userID)
	if err != nil {
		return Status{}, err
	}
	s := Status{TOTP: f.TOTP != nil, Pending: f.Pending != nil, WebAuthn: len(f.WebAuthn)}
	for _, c := range f.Emergency {
		if c.UsedAt.IsZero() {
			s.EmergencyLeft++
		}
	}
	return s, nil
}

// Enroll starts enrolment of an authenticator app for userID (account name upn). The seed is
// pending until Confirm sees a code from it; an existing confirmed app keeps working meanwhile.
func (m *Manager) Enroll(ctx context.Context, userID, upn string, now time.Time) (Enrollment, error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: m.Issuer, AccountName: upn, Period: period, SecretSize: 20,
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return Enrollment{}, fmt.Errorf("generate TOTP seed: %w", err)
	}
	img, err := key.Image(256, 256)
	if err != nil {
		return Enrollment{}, fmt.Errorf("QR code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return Enrollment{}, fmt.Errorf("QR code: %w", err)
	}
	if err := m.update(ctx, userID, func(f *Factors) error {
		f.Pending = &Seed{Secret: key.Secret(), CreatedAt: now.UTC()}
		return nil
	}); err != nil {
		return Enrollment{}, err
	}
	return Enrollment{Secret: key.Secret(), URL: key.URL(), PNG: buf.Bytes()}, nil
}

// Confirm checks a code from the pending seed and makes it the user's TOTP factor.
func (m *Manager) Confirm(ctx context.Context, userID, code string, now time.Time) error {
	// Replay protection (UseOnce) runs before the atomic update, never inside it: inside, it
	// would wait on the very lock the update holds (SQLite has one writer).
	pending, err := m.checkCode(ctx, userID, code, now, func(f Factors) *Seed { return f.Pending }, ErrNoEnrolment)
	if err != nil {
		return err
	}
	return m.update(ctx, userID, func(f *Factors) error {
		if f.Pending == nil || f.Pending.Secret != pending {
			return ErrNoEnrolment // a new enrolment started meanwhile: confirm that one
		}
		f.TOTP, f.Pending = f.Pending, nil
		return nil
	})
}

// Validate checks a TOTP code of userID at now: within ±Skew steps, once per step, within the
// attempt limit. It returns nil when the code is accepted.
func (m *Manager) Validate(ctx context.Context, userID, code string, now time.Time) error {
	_, err := m.checkCode(ctx, userID, code, now, func(f Factors) *Seed { return f.TOTP }, ErrNotEnrolled)
	return err
}

// checkCode puts a code through what Confirm and Validate both ask: the attempt limit, a
// match with the seed picked from the user's factors (none: missing) within ±Skew steps, and
// one use per step. It returns the seed's secret.
func (m *Manager) checkCode(ctx context.Context, userID, code string, now time.Time, pick func(Factors) *Seed, missing error) (string, error) {
	if err := m.claimTry(ctx, userID, now); err != nil {
		return "", err
	}
	f, err := m.Load(ctx, userID)
	if err != nil {
		return "", err
	}
	seed := pick(f)
	if seed == nil {
		return "", missing
	}
	step, ok := m.match(seed.Secret, code, now)
	if !ok {
		return "", ErrInvalidCode
	}
	if err := m.useStep(ctx, userID, step, now); err != nil {
		return "", err
	}
	return seed.Secret, nil
}

// match returns the time step whose code equals code.
func (m *Manager) match(secret, code string, now time.Time) (int64, bool) {
	code = strings.TrimSpace(code)
	if len(code) != 6 {
		return 0, false
	}
	cur := now.Unix() / period
	found, step := 0, int64(0)
	for off := -int64(m.Skew); off <= int64(m.Skew); off++ {
		want, err := totp.GenerateCodeCustom(secret, time.Unix((cur+off)*period, 0),
			totp.ValidateOpts{Period: period, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			return 0, false
		}
		// Compare every candidate in constant time; no early exit.
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && found == 0 {
			found, step = 1, cur+off
		}
	}
	return step, found == 1
}

func (m *Manager) useStep(ctx context.Context, userID string, step int64, now time.Time) error {
	// Remember the step until it can no longer be accepted.
	exp := time.Unix((step+int64(m.Skew)+2)*period, 0)
	fresh, err := m.Once.UseOnce(ctx, fmt.Sprintf("totp:%s:%d", userID, step), exp)
	if err != nil {
		return fmt.Errorf("totp replay check: %w", err)
	}
	if !fresh {
		return ErrReplay
	}
	return nil
}

// claimTry takes one of MaxTries attempt slots of the current window, shared by every node.
// Successful checks use a slot too; a person needs far fewer than the limit.
func (m *Manager) claimTry(ctx context.Context, userID string, now time.Time) error {
	w := int64(m.Window / time.Second)
	if w <= 0 || m.MaxTries <= 0 {
		return nil
	}
	bucket := now.Unix() / w
	exp := time.Unix((bucket+1)*w, 0)
	for n := 1; n <= m.MaxTries; n++ {
		fresh, err := m.Once.UseOnce(ctx, fmt.Sprintf("totp-try:%s:%d:%d", userID, bucket, n), exp)
		if err != nil {
			return fmt.Errorf("totp rate limit: %w", err)
		}
		if fresh {
			return nil
		}
	}
	return ErrRateLimited
}

// emergencyAlphabet avoids look-alikes.
const emergencyAlphabet = "23456789abcdefghijkmnpqrstuvwxyz"

func newEmergencyCode() string {
	b := make([]byte, 12) // 60 bits
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	var sb strings.Builder
	for i, c := range b {
		if i > 0 && i%4 == 0 {
			sb.WriteByte('-')
		}
		sb.WriteByte(emergencyAlphabet[c&31])
	}
	return sb.String()
}

func hashEmergency(userID, code string) string {
	norm := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(code), "-", ""))
	s := sha256.Sum256([]byte("sekisho-emergency:" + userID + ":" + norm))
	return hex.EncodeToString(s[:])
}

// IssueEmergencyCodes replaces the user's emergency codes with n new ones (10 when n <= 0),
// returned in plain text once; only their hashes are kept.
func (m *Manager) IssueEmergencyCodes(ctx context.Context, userID string, n int) ([]string, error) {
	if n <= 0 {
		n = 10
	}
	codes := make([]string, n)
	for i := range codes {
		codes[i] = newEmergencyCode()
	}
	if err := m.update(ctx, userID, func(f *Factors) error {
		f.Emergency = make([]EmergencyCode, n)
		for i := range codes {
			f.Emergency[i] = EmergencyCode{Hash: hashEmergency(userID, codes[i])}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	return codes, nil
}

// UseEmergencyCode accepts one of the user's emergency codes, once.
func (m *Manager) UseEmergencyCode(ctx context.Context, userID, code string, now time.Time) error {
	if err := m.claimTry(ctx, userID, now); err != nil {
		return err
	}
	h := hashEmergency(userID, code)
	find := func(f *Factors) (int, error) {
		idx := -1
		for i, c := range f.Emergency {
			if subtle.ConstantTimeCompare([]byte(c.Hash), []byte(h)) == 1 {
				idx = i
			}
		}
		if idx < 0 {
			return -1, ErrInvalidCode
		}
		if !f.Emergency[idx].UsedAt.IsZero() {
			return -1, ErrReplay
		}
		return idx, nil
	}
	f, err := m.Load(ctx, userID)
	if err != nil {
		return err
	}
	if _, err := find(&f); err != nil {
		return err
	}
	// UseOnce settles a race between two uses on any node; it runs outside the atomic update
	// (inside, it would wait on the lock the update holds). The document records the use.
	fresh, err := m.Once.UseOnce(ctx, "emergency:"+userID+":"+h, now.AddDate(10, 0, 0))
	if err != nil {
		return fmt.Errorf("emergency code: %w", err)
	}
	if !fresh {
		return ErrReplay
	}
	return m.update(ctx, userID, func(f *Factors) error {
		idx, err := find(f)
		if err != nil {
			return err
		}
		f.Emergency[idx].UsedAt = now.UTC()
		return nil
	})
}

// Reset removes every factor of the user (lost phone): TOTP, pending enrolment, emergency
// codes and WebAuthn credentials — the whole document.
func (m *Manager) Reset(ctx context.Context, userID string) error {
	if err := m.Factors.Put(ctx, userID, nil); err != nil {
		return fmt.Errorf("reset factors of %s: %w", userID, err)
	}
	return nil
}
