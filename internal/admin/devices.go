package admin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/sekisho/sekisho/internal/devicecert"
	"github.com/sekisho/sekisho/internal/store"
)

// DeviceView is a device certificate in the audit log: who and what it is for, its serial,
// validity and state; never the sealed PKCS#12, its password or the download token.
type DeviceView struct {
	ID        string    `json:"id"`
	User      string    `json:"user"`
	Name      string    `json:"name"`
	Platform  string    `json:"platform"`
	Serial    string    `json:"serial"`
	SHA256    string    `json:"sha256"` // of the certificate
	Status    string    `json:"status"`
	NotBefore time.Time `json:"notBefore"`
	NotAfter  time.Time `json:"notAfter"`
	RevokedAt time.Time `json:"revokedAt,omitzero"`
	Replaces  string    `json:"replaces,omitempty"` // the device a renewal replaced
}

func ViewOfDevice(d store.Device, upn string) DeviceView {
	sum := sha256.Sum256(d.CertDER)
	return DeviceView{ID: d.ID, User: upn, Name: d.Name, Platform: d.Platform, Serial: d.Serial, SHA256: hex.EncodeToString(sum[:]),
		Status: d.Status, NotBefore: d.NotBefore, NotAfter: d.NotAfter, RevokedAt: d.RevokedAt}
}

// IssuedDevice is a certificate just issued or renewed, with what the user needs to fetch it:
// the caller shows Token and Password once (by different channels); neither is kept or
// logged.
type IssuedDevice struct {
	User     store.User
	Device   store.Device
	Token    string       // the one-time download token
	Password string       // the PKCS#12 one-time password
	Replaced store.Device // for a renewal: the certificate it replaces
}

// IssueDevice issues a certificate for one user's device ("device.issue", target the UPN).
// validity 0 means the CA's default.
func (s *Service) IssueDevice(ctx context.Context, a Actor, upn, name, platform string, validity time.Duration) (IssuedDevice, error) {
	return changeTo(ctx, s, a, "device.issue", strings.TrimSpace(upn), func(t tx) (IssuedDevice, any, any, error) {
		var out IssuedDevice
		ca, err := t.devices()
		if err != nil {
			return out, nil, nil, err
		}
		if out.User, err = t.user(ctx, upn); err != nil {
			return out, nil, nil, err
		}
		out.Device, out.Token, out.Password, err = ca.Issue(ctx, out.User.ID, name, platform, validity)
		return out, nil, ViewOfDevice(out.Device, out.User.UPN), err
	})
}

// RenewDevice issues a replacement for device ref (ID or serial; "device.renew", target the
// owner's UPN); the old certificate works until the CA's grace period ends.
func (s *Service) RenewDevice(ctx context.Context, a Actor, ref string, validity time.Duration) (IssuedDevice, error) {
	return deviceChange(ctx, s, a, "device.renew", ref, func(ca *devicecert.CA, old store.Device, u store.User) (IssuedDevice, any, error) {
		out := IssuedDevice{User: u, Replaced: old}
		var err error
		out.Device, out.Token, out.Password, err = ca.Renew(ctx, old.ID, validity)
		v := ViewOfDevice(out.Device, u.UPN)
		v.Replaces = old.ID
		return out, v, err
	})
}

// RevokeDevice revokes device ref (ID or serial) at once ("device.revoke", target the owner's
// UPN). Revoking a revoked device changes nothing (and is still recorded).
func (s *Service) RevokeDevice(ctx context.Context, a Actor, ref string) (store.Device, error) {
	return deviceChange(ctx, s, a, "device.revoke", ref, func(ca *devicecert.CA, old store.Device, u store.User) (store.Device, any, error) {
		d, err := ca.Revoke(ctx, old.ID)
		return d, ViewOfDevice(d, u.UPN), err
	})
}

// deviceChange runs a change of an existing device: the reference is resolved first, to name
// the owner as the target, then read again in the transaction (the before document).
func deviceChange[T any](ctx context.Context, s *Service, a Actor, action, ref string,
	fn func(ca *devicecert.CA, old store.Device, u store.User) (T, any, error)) (T, error) {
	var zero T
	if s.Devices == nil {
		return zero, fmt.Errorf("device CA: %w", errNotConfigured)
	}
	d, err := s.Devices.Get(ctx, ref)
	if err != nil {
		return zero, fmt.Errorf("device %s: %w", ref, err)
	}
	target := d.UserID
	if u, err := s.Store.GetUser(ctx, d.UserID); err == nil {
		target = u.UPN
	}
	// The change ran on a copy of the CA bound to the transaction: once it committed, this
	// node's own verification cache forgets the row at once (other nodes within the change
	// poll).
	defer s.Devices.ForgetAll()
	return changeTo(ctx, s, a, action, target, func(t tx) (T, any, any, error) {
		ca, err := t.devices()
		if err != nil {
			return zero, nil, nil, err
		}
		old, err := ca.Get(ctx, d.ID)
		if err != nil {
			return zero, nil, nil, fmt.Errorf("device %s: %w", ref, err)
		}
		u, err := t.GetUser(ctx, old.UserID)
		if err != nil {
			u = store.User{ID: old.UserID, UPN: old.UserID}
		}
		out, after, err := fn(ca, old, u)
		return out, ViewOfDevice(old, u.UPN), after, err
	})
}
