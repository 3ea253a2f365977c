package factors

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// WebAuthn credential errors.
var (
	ErrDuplicateCredential = errors.New("credential already registered")
	ErrUnknownCredential   = errors.New("no such credential")
	ErrTooManyCredentials  = errors.New("too many credentials")
	ErrCounterRegressed    = errors.New("signature counter did not increase (possible cloned authenticator)")
)

// MaxWebAuthn bounds a user's WebAuthn credentials, keeping the sealed document small.
const MaxWebAuthn = 20

// Credential is one registered WebAuthn credential (passkey or security key): the public
// key record internal/authn/passkey checks assertions with. Nothing in it is secret, but it
// lives in the sealed document so that whoever can write the store cannot add a key.
type Credential struct {
	ID              []byte    `json:"id"`
	PublicKey       []byte    `json:"public_key"` // COSE_Key
	AttestationType string    `json:"attestation_type,omitempty"`
	AttestationFmt  string    `json:"attestation_fmt,omitempty"`
	Transports      []string  `json:"transports,omitempty"`
	AAGUID          []byte    `json:"aaguid,omitempty"`
	Attachment      string    `json:"attachment,omitempty"` // "platform" or "cross-platform"
	SignCount       uint32    `json:"sign_count"`
	Flags           byte      `json:"flags"` // authenticator data flags as last seen (UV, BE, BS)
	Name            string    `json:"name,omitempty"`
	CreatedAt       time.Time `json:"created_at"`
	LastUsedAt      time.Time `json:"last_used_at,omitzero"`
}

// AddWebAuthn registers a credential for userID.
func (m *Manager) AddWebAuthn(ctx context.Context, userID string, c Credential) error {
	if len(c.ID) == 0 || len(c.PublicKey) == 0 {
		return fmt.Errorf("add WebAuthn credential: empty ID or public key")
	}
	return m.update(ctx, userID, func(f *Factors) error {
		for _, o := range f.WebAuthn {
			if bytes.Equal(o.ID, c.ID) {
				return ErrDuplicateCredential
			}
		}
		if len(f.WebAuthn) >= MaxWebAuthn {
			return ErrTooManyCredentials
		}
		f.WebAuthn = append(f.WebAuthn, c)
		return nil
	})
}

// WebAuthnCredentials returns the user's WebAuthn credentials (none when nothing is stored).
func (m *Manager) WebAuthnCredentials(ctx context.Context, userID string) ([]Credential, error) {
	f, err := m.Load(ctx, userID)
	if err != nil {
		return nil, err
	}
	return f.WebAuthn, nil
}

// UpdateWebAuthn records a successful assertion: the new signature counter and flags. A
// counter that does not increase (unless both are zero: the authenticator keeps none) is
// refused with ErrCounterRegressed, so two nodes racing with one counter value cannot both win.
func (m *Manager) UpdateWebAuthn(ctx context.Context, userID string, credID []byte, signCount uint32, flags byte, now time.Time) error {
	return m.update(ctx, userID, func(f *Factors) error {
		i := slices.IndexFunc(f.WebAuthn, func(c Credential) bool { return bytes.Equal(c.ID, credID) })
		if i < 0 {
			return ErrUnknownCredential
		}
		c := &f.WebAuthn[i]
		if (signCount != 0 || c.SignCount != 0) && signCount <= c.SignCount {
			return ErrCounterRegressed
		}
		c.SignCount, c.Flags, c.LastUsedAt = signCount, flags, now.UTC()
		return nil
	})
}

// RemoveWebAuthn deletes one credential of the user.
func (m *Manager) RemoveWebAuthn(ctx context.Context, userID string, credID []byte) error {
	return m.update(ctx, userID, func(f *Factors) error {
		n := len(f.WebAuthn)
		f.WebAuthn = slices.DeleteFunc(f.WebAuthn, func(c Credential) bool { return bytes.Equal(c.ID, credID) })
		if len(f.WebAuthn) == n {
			return ErrUnknownCredential
		}
		return nil
	})
}

// RenameWebAuthn sets the name a user gave one of their credentials (at most 64 characters).
func (m *Manager) RenameWebAuthn(ctx context.Context, userID string, credID []byte, name string) error {
	if r := []rune(name); len(r) > 64 {
		name = string(r[:64])
	}
	return m.update(ctx, userID, func(f *Factors) error {
		for i := range f.WebAuthn {
			if bytes.Equal(f.WebAuthn[i].ID, credID) {
				f.WebAuthn[i].Name = name
				return nil
			}
		}
		return ErrUnknownCredential
	})
}
