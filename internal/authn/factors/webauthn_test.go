package factors_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/authn/factors"
)

func TestWebAuthnCredentials(t *testing.T) {
	m, fs := newManager(t)
	now := time.Date(2025, 4, 1, 9, 0, 0, 0, time.UTC)
	cred := factors.Credential{ID: []byte("cred-1"), PublicKey: []byte("cose-key"), SignCount: 5, CreatedAt: now}
	if err := m.AddWebAuthn(ctx, "u1", cred); err != nil {
		t.Fatal(err)
	}
	if err := m.AddWebAuthn(ctx, "u1", cred); !errors.Is(err, factors.ErrDuplicateCredential) {
		t.Fatalf("duplicate: %v", err)
	}
	if err := m.AddWebAuthn(ctx, "u1", factors.Credential{ID: []byte("x")}); err == nil {
		t.Fatal("credential without public key accepted")
	}
	// The document stays sealed: the public key is not visible in the store.
	sealed, _ := fs.Get(ctx, "u1")
	if bytes.Contains(sealed, []byte("cose-key")) || bytes.Contains(sealed, []byte("Y29zZS1rZXk")) {
		t.Fatal("credential stored in clear")
	}
	st, err := m.Status(ctx, "u1")
	if err != nil || st.WebAuthn != 1 || st.TOTP {
		t.Fatalf("status %+v %v", st, err)
	}

	cases := []struct {
		name  string
		id    string
		count uint32
		want  error
	}{
		{"counter increases", "cred-1", 6, nil},
		{"same counter is a clone signal", "cred-1", 6, factors.ErrCounterRegressed},
		{"lower counter is a clone signal", "cred-1", 3, factors.ErrCounterRegressed},
		{"unknown credential", "cred-2", 9, factors.ErrUnknownCredential},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := m.UpdateWebAuthn(ctx, "u1", []byte(c.id), c.count, 0x05, now.Add(time.Minute))
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
	creds, err := m.WebAuthnCredentials(ctx, "u1")
	if err != nil || len(creds) != 1 || creds[0].SignCount != 6 || creds[0].Flags != 0x05 || !creds[0].LastUsedAt.Equal(now.Add(time.Minute)) {
		t.Fatalf("credentials %+v %v", creds, err)
	}

	// An authenticator without a counter (always 0) keeps working.
	zero := factors.Credential{ID: []byte("cred-0"), PublicKey: []byte("k"), CreatedAt: now}
	if err := m.AddWebAuthn(ctx, "u1", zero); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := m.UpdateWebAuthn(ctx, "u1", zero.ID, 0, 0x01, now); err != nil {
			t.Fatalf("zero counter: %v", err)
		}
	}
	if err := m.RemoveWebAuthn(ctx, "u1", zero.ID); err != nil {
		t.Fatal(err)
	}
	if err := m.RemoveWebAuthn(ctx, "u1", zero.ID); !errors.Is(err, factors.ErrUnknownCredential) {
		t.Fatalf("remove twice: %v", err)
	}

	// Reset removes WebAuthn credentials with everything else.
	if err := m.Reset(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	if creds, err := m.WebAuthnCredentials(ctx, "u1"); err != nil || len(creds) != 0 {
		t.Fatalf("after reset %+v %v", creds, err)
	}
}

func TestWebAuthnLimit(t *testing.T) {
	m, _ := newManager(t)
	for i := range factors.MaxWebAuthn {
		if err := m.AddWebAuthn(ctx, "u1", factors.Credential{ID: []byte{byte(i)}, PublicKey: []byte("k")}); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.AddWebAuthn(ctx, "u1", factors.Credential{ID: []byte("one more"), PublicKey: []byte("k")}); !errors.Is(err, factors.ErrTooManyCredentials) {
		t.Fatalf("over the limit: %v", err)
	}
}
