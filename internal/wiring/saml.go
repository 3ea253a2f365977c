package wiring

import (
	"context"
	"net/http"

	"github.com/sekisho/sekisho/internal/protocol/saml"
)

func init() { mounters = append(mounters, mountSAML) }

type samlAudit struct{ s *Services }

func (a samlAudit) RecordRejected(ctx context.Context, r *http.Request, sp, reason string) {
	a.s.Gate.RecordRejectedFor(ctx, r, "saml", sp, "", reason)
}

func mountSAML(ctx context.Context, s *Services) error {
	in := s.Instance
	h, err := saml.NewHandler(saml.HandlerConfig{
		IdP:       saml.IdPConfig{EntityID: in.Config.BaseURL + "/saml/metadata", BaseURL: in.Config.BaseURL},
		SPs:       saml.StoreSPs{Apps: in.Store},
		Keys:      newTokenKeys(in.Keys),
		Sessions:  s.Sessions,
		Gate:      s.Gate,
		Replay:    in.Store,
		Audit:     samlAudit{s},
		Directory: in.Store,
		StateKey:  in.Sealer.Derive("saml-state"),
		Logger:    in.Log,
		Skew:      in.Config.SAML.ClockSkew.D(),
	})
	if err != nil {
		return err
	}
	s.Server.Mux.Handle("/saml/", h)
	return nil
}
