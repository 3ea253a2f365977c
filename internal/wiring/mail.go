package wiring

import (
	"context"
	"strings"

	"github.com/sekisho/sekisho/internal/appguard"
	"github.com/sekisho/sekisho/internal/bridge/oauthtokens"
	"github.com/sekisho/sekisho/internal/config"
	"github.com/sekisho/sekisho/internal/web"
)

// mountMail serves the portal's mail devices page (/account/mail): the user's own app
// passwords (issued there when bridge.self_service allows) and the mailbox's connection to
// the upstream token service. Connections run in the background until ctx — the server's
// lifetime — ends. The token source is the one the mail bridge uses (bridgeTokens), built here
// already so that mailboxes can be connected before any door is open.
func mountMail(ctx context.Context, s *Services) error {
	in := s.Instance
	if in.Admin.BridgeUpstream == nil {
		src, err := oauthtokens.FromConfig(in.Config.Bridge, in.Config.Resolve, in.Store, in.Sealer, in.Log)
		switch {
		case err != nil:
			// The doors refuse to start with the same error; the portal offers no connection.
			in.Log.ErrorContext(ctx, "mail bridge upstream tokens: mailboxes cannot be connected in the portal", "err", err)
		case src != nil:
			in.Admin.BridgeUpstream = src
		}
	}
	pages := &web.MailPages{Users: in.Store, Sessions: s.Sessions, Admin: in.Admin, SelfService: in.Config.Bridge.SelfService,
		Factors: secondFactors{s.TOTP}, EnrolAllowed: appguard.EnrolAllowed(s.Gate), Protect: s.Guard.Protect, Base: ctx, Log: in.Log}
	pages.Mount(s.Server.Mux)
	return nil
}

// mailConfigured reports whether the portal links the mail devices page: the mail bridge
// has a door, its upstream tokens are set (mailboxes connected before the doors open), or
// users may issue app passwords.
func mailConfigured(b config.Bridge) bool {
	return b.Enabled() || strings.TrimSpace(b.Upstream.Tokens) != "" || b.SelfService
}
