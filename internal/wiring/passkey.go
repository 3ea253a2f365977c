package wiring

import (
	"context"
	"fmt"
	"github.com/sekisho/sekisho/internal/appguard"

	"github.com/sekisho/sekisho/internal/authn/passkey"
	"github.com/sekisho/sekisho/internal/web"
)

// mountPasskeys serves the WebAuthn second factor: /account/security and the passkey JSON
// endpoints. Credentials live in the sealed factors document (s.TOTP); ceremonies are made
// single-use with the store's UseOnce.
func mountPasskeys(_ context.Context, s *Services) error {
	in := s.Instance
	pk, err := passkey.New(passkey.Config{BaseURL: in.Config.BaseURL, Credentials: s.TOTP, Once: in.Store, Sealer: in.Sealer})
	if err != nil {
		return fmt.Errorf("passkeys: %w", err)
	}
	pages := web.NewPasskeyPages(in.Directory, s.Sessions, pk, s.TOTP, s.Gate, in.Log)
	pages.EnrolAllowed = appguard.EnrolAllowed(s.Gate)
	pages.Protect = s.Guard.Protect
	pages.Mount(s.Server.Mux)
	return nil
}
