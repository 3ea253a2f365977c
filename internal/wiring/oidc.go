package wiring

import (
	"context"
	"net/http"
	"time"

	"github.com/sekisho/sekisho/internal/protocol/oidc"
	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/web"
)

type oidcAudit struct{ s *Services }

func (a oidcAudit) RecordRejected(ctx context.Context, r *http.Request, app, username, reason string) string {
	return a.s.Gate.RecordRejectedFor(ctx, r, oidc.Protocol, app, username, reason)
}

// mountOIDC serves the OpenID Connect provider: issuer = the base URL, clients = the
// applications with protocol oidc, the token-signing keys of keys.Manager, the gate and the
// sign-in pages like SAML.
func mountOIDC(_ context.Context, s *Services) error {
	in := s.Instance
	// Client lookups are cached per node, within the change bound: a second at most, and
	// dropped at once when the change watcher sees the configuration version move.
	s.OIDCClients = oidc.NewClientCache(in.Store, min(time.Second, in.Config.Node.ChangePoll.D()))
	if prev := in.Admin.Changed; prev != nil {
		in.Admin.Changed = func() { prev(); s.OIDCClients.Forget() }
	} else {
		in.Admin.Changed = s.OIDCClients.Forget
	}
	h, err := oidc.NewHandler(oidc.HandlerConfig{
		Issuer:   in.Config.BaseURL,
		Apps:     s.OIDCClients,
		Users:    in.Store,
		Keys:     in.Keys,
		Secrets:  in.Admin.ClientSecrets,
		Sessions: s.Sessions,
		Gate:     s.Gate,
		Replay:   in.Store,
		Tokens:   in.Store,
		Audit:    oidcAudit{s},
		Derive:   in.Sealer.Derive,
		Denied:   web.RenderDenied,
		Failed:   web.RenderError,
		// The device grant's page for the user, with the sign-in pages' CSRF protection.
		DevicePage: web.RenderDevice,
		CheckCSRF:  web.CheckCSRF,
		AppsByName: in.Store,
		SAMLLogout: func(w http.ResponseWriter, r *http.Request, u store.User, apps []string, sessionIndex, final string) bool {
			return s.saml != nil && s.saml.LogoutApps(w, r, u, apps, sessionIndex, final)
		},
		Logger: in.Log,
	})
	if err != nil {
		return err
	}
	for _, rt := range h.Routes() {
		s.Server.Mux.HandleFunc(rt.Pattern, rt.Handler)
	}
	s.OIDC = h
	// Every session that ends — Sekisho's sign-out, a SAML single logout, an OpenID Connect
	// client's logout request — sends logout tokens to the session's clients that want them.
	s.Sessions.OnEnd = h.BackchannelLogout
	return nil
}

// pruneOIDCTokens deletes, once an hour until ctx ends, the refresh tokens and revoked
// access tokens that expired more than a day ago (an expired token is refused anyway; the
// day lets a reuse just after expiry still be told from an unknown token).
func (s *Services) pruneOIDCTokens(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		n, err := s.Instance.Store.PruneOIDCTokens(ctx, time.Now().Add(-24*time.Hour))
		switch {
		case err != nil && ctx.Err() == nil:
			s.Instance.Log.WarnContext(ctx, "pruning OpenID Connect tokens failed", "err", err)
		case n > 0:
			s.Instance.Log.InfoContext(ctx, "pruned expired OpenID Connect tokens", "deleted", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
