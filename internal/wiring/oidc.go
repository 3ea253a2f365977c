package wiring

import (
	"context"
	"net/http"

	"github.com/sekisho/sekisho/internal/protocol/oidc"
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
	h, err := oidc.NewHandler(oidc.HandlerConfig{
		Issuer:   in.Config.BaseURL,
		Apps:     in.Store,
		Users:    in.Store,
		Keys:     in.Keys,
		Secrets:  in.Admin.ClientSecrets,
		Sessions: s.Sessions,
		Gate:     s.Gate,
		Replay:   in.Store,
		Audit:    oidcAudit{s},
		Derive:   in.Sealer.Derive,
		Denied:   web.RenderDenied,
		Failed:   web.RenderError,
		Logger:   in.Log,
	})
	if err != nil {
		return err
	}
	for _, rt := range h.Routes() {
		s.Server.Mux.HandleFunc(rt.Pattern, rt.Handler)
	}
	return nil
}
