package factors_test

import (
	"bytes"
	"context"
	"errors"
	"image/png"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	pqtotp "github.com/pquerna/otp/totp"

	"github.com/sekisho/sekisho/internal/authn/factors"
	"github.com/sekisho/sekisho/internal/secrets"
	"github.com/sekisho/sekisho/internal/testutil/sqlitetest"
)

var ctx = context.Background()

func newManager(t testing.TB) (*factors.Manager, *factors.MemoryStore) {
	t.Helper()
	st := sqlitetest.Open(t)
	key, _ := secrets.GenerateKey()
	sealer, _ := secrets.New(key)
	fs := factors.NewMemoryStore()
	return factors.New(fs, st, sealer, "Sekisho Test"), fs
}

func code(t testing.TB, secret string, at time.Time) string {
	t.Helper()
	c, err := pqtotp.GenerateCodeCustom(secret, at, pqtotp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// enrolled returns a manager with u1 enrolled and confirmed, and the seed.
func enrolled(t *testing.T, now time.Time) (*factors.Manager, *factors.MemoryStore, string) {
	t.Helper()
	m, fs := newManager(t)
	m.MaxTries = 1000
	en, err := m.Enroll(ctx, "u1", "alice@example.com", now)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Confirm(ctx, "u1", code(t, en.Secret, now.Add(-90*time.Second)), now); !errors.Is(err, factors.ErrInvalidCode) {
		t.Fatalf("confirm with a stale code: %v", err)
	}
	if err := m.Confirm(ctx, "u1", code(t, en.Secret, now.Add(-time.Hour)), now); !errors.Is(err, factors.ErrInvalidCode) {
		t.Fatalf("confirm with an old code: %v", err)
	}
	if err := m.Validate(ctx, "u1", code(t, en.Secret, now), now); !errors.Is(err, factors.ErrNotEnrolled) {
		t.Fatalf("validate before confirmation: %v", err)
	}
	// The confirmation uses the previous step, so the table below still has the current one.
	if err := m.Confirm(ctx, "u1", code(t, en.Secret, now.Add(-30*time.Second)), now); err != nil {
		t.Fatal(err)
	}
	return m, fs, en.Secret
}

func TestEnrollment(t *testing.T) {
	now := time.Now()
	m, fs := newManager(t)
	en, err := m.Enroll(ctx, "u1", "alice@example.com", now)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(en.URL)
	if err != nil || u.Scheme != "otpauth" || u.Query().Get("secret") != en.Secret || u.Query().Get("issuer") != "Sekisho Test" ||
		!strings.Contains(u.Path, "alice@example.com") {
		t.Fatalf("otpauth URL %q", en.URL)
	}
	if img, err := png.Decode(bytes.NewReader(en.PNG)); err != nil || img.Bounds().Dx() < 100 {
		t.Fatalf("QR PNG: %v", err)
	}
	sealed, _ := fs.Get(ctx, "u1")
	if bytes.Contains(sealed, []byte(en.Secret)) {
		t.Fatal("seed stored in plain text")
	}
	// A sealed document copied to another user does not open there.
	if err := fs.Put(ctx, "u2", sealed); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Load(ctx, "u2"); err == nil {
		t.Fatal("factors of u1 opened as u2's")
	}
	if s, _ := m.Status(ctx, "u1"); !s.Pending || s.TOTP {
		t.Fatalf("status %+v", s)
	}
}

func TestValidate(t *testing.T) {
	now := time.Now()
	m, _, secret := enrolled(t, now)
	cases := []struct {
		name string
		code string
		want error
	}{
		{"current step", code(t, secret, now), nil},
		{"current step reused", code(t, secret, now), factors.ErrReplay},
		{"previous step used at confirmation", code(t, secret, now.Add(-30*time.Second)), factors.ErrReplay},
		{"next step (clock skew)", code(t, secret, now.Add(30*time.Second)), nil},
		{"two steps back", code(t, secret, now.Add(-60*time.Second)), factors.ErrInvalidCode},
		{"two steps ahead", code(t, secret, now.Add(60*time.Second)), factors.ErrInvalidCode},
		{"wrong digits", "000000", factors.ErrInvalidCode},
		{"too short", "12345", factors.ErrInvalidCode},
		{"empty", "", factors.ErrInvalidCode},
	}
	for _, tc := range cases {
		err := m.Validate(ctx, "u1", tc.code, now)
		// "000000" could by chance be a valid code: skip that row then.
		if tc.code == code(t, secret, now) && tc.name == "wrong digits" {
			continue
		}
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestBruteForceIsLimited(t *testing.T) {
	now := time.Now()
	m, _, secret := enrolled(t, now)
	m.MaxTries = 5
	later := now.Add(m.Window) // a fresh window: the enrolment's tries do not count
	wrong := 0
	for i := range 20 {
		guess := []string{"111111", "222222", "333333", "444444", "555555", "666666", "777777"}[i%7]
		if guess == code(t, secret, later) {
			continue
		}
		err := m.Validate(ctx, "u1", guess, later)
		switch {
		case errors.Is(err, factors.ErrInvalidCode):
			wrong++
		case errors.Is(err, factors.ErrRateLimited):
		default:
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	if wrong != 5 {
		t.Errorf("%d guesses were checked, want 5", wrong)
	}
	if err := m.Validate(ctx, "u1", code(t, secret, later), later); !errors.Is(err, factors.ErrRateLimited) {
		t.Errorf("right code while limited: %v, want ErrRateLimited", err)
	}
	// Parallel guesses (several nodes) share the budget.
	next := later.Add(m.Window)
	var mu sync.Mutex
	checked := 0
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if err := m.Validate(ctx, "u1", "999999", next); !errors.Is(err, factors.ErrRateLimited) {
				mu.Lock()
				checked++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if checked > 5 {
		t.Errorf("%d parallel guesses checked, want at most 5", checked)
	}
}

func TestEmergencyCodesAndReset(t *testing.T) {
	now := time.Now()
	m, _, secret := enrolled(t, now)
	codes, err := m.IssueEmergencyCodes(ctx, "u1", 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range codes {
		if seen[c] || len(c) != 14 {
			t.Fatalf("codes %v: duplicate or malformed", codes)
		}
		seen[c] = true
	}
	if len(codes) != 10 {
		t.Fatalf("%d codes, want 10", len(codes))
	}
	cases := []struct {
		name string
		code string
		want error
	}{
		{"first use", codes[3], nil},
		{"second use", codes[3], factors.ErrReplay},
		{"typed in upper case without dashes", strings.ToUpper(strings.ReplaceAll(codes[4], "-", "")), nil},
		{"unknown", "aaaa-bbbb-cccc", factors.ErrInvalidCode},
	}
	for _, tc := range cases {
		if err := m.UseEmergencyCode(ctx, "u1", tc.code, now); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if s, _ := m.Status(ctx, "u1"); s.EmergencyLeft != 8 || !s.TOTP {
		t.Errorf("status %+v, want 8 codes left", s)
	}
	// Reissuing replaces the old set.
	if _, err := m.IssueEmergencyCodes(ctx, "u1", 10); err != nil {
		t.Fatal(err)
	}
	if err := m.UseEmergencyCode(ctx, "u1", codes[0], now); !errors.Is(err, factors.ErrInvalidCode) {
		t.Errorf("old code after reissue: %v", err)
	}
	if err := m.Reset(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	if s, _ := m.Status(ctx, "u1"); s != (factors.Status{}) {
		t.Errorf("status after reset %+v", s)
	}
	if err := m.Validate(ctx, "u1", code(t, secret, now.Add(30*time.Second)), now); !errors.Is(err, factors.ErrNotEnrolled) {
		t.Errorf("validate after reset: %v", err)
	}
}

func FuzzValidate(f *testing.F) {
	f.Add("123456")
	f.Add(" 12345\x00")
	f.Add("")
	m, _ := newManager(f)
	m.MaxTries = 0 // no limit: fuzzing checks parsing, not the budget
	now := time.Now()
	en, err := m.Enroll(ctx, "u1", "a@example.com", now)
	if err != nil {
		f.Fatal(err)
	}
	if err := m.Confirm(ctx, "u1", code(f, en.Secret, now), now); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, c string) {
		err := m.Validate(ctx, "u1", c, now)
		if err == nil && strings.TrimSpace(c) != code(t, en.Secret, now.Add(30*time.Second)) && strings.TrimSpace(c) != code(t, en.Secret, now.Add(-30*time.Second)) {
			t.Fatalf("accepted %q", c)
		}
		_ = m.UseEmergencyCode(ctx, "u1", c, now)
	})
}
