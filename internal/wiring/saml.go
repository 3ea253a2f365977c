package wiring

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/sekisho/sekisho/internal/m365"
	"github.com/sekisho/sekisho/internal/store"

	"github.com/sekisho/sekisho/internal/protocol/saml"
	"github.com/sekisho/sekisho/internal/signin"
)

type samlAudit struct{ s *Services }

func (a samlAudit) RecordRejected(ctx context.Context, r *http.Request, sp, reason string) string {
	return a.s.Gate.RecordRejectedFor(ctx, r, "saml", sp, "", reason)
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
		IssuerFor: func(ctx context.Context, sp saml.ServiceProvider, u store.User) (string, error) {
			if sp.EntityID != m365.Realm {
				return "", nil
			}
			ds, err := m365.LoadDomains(ctx, in.Store)
			if err != nil {
				return "", err
			}
			d, ok := m365.Plain(ds).Match(u.UPN)
			if !ok {
				return "", fmt.Errorf("%s is not in a federated Microsoft 365 domain", u.UPN)
			}
			return d.IssuerURI, nil
		},
	})
	if err != nil {
		return err
	}
	s.Server.Mux.Handle("/saml/", h)
	s.saml = h
	sps := saml.StoreSPs{Apps: in.Store}
	s.eligible = append(s.eligible, func(ctx context.Context, a signin.Attempt, u store.User) signin.Reason {
		if a.Protocol != "saml" {
			return ""
		}
		sp, err := sps.LookupSPByApp(ctx, a.Application)
		if err != nil {
			return ""
		}
		if !saml.HasNameID(sp, u) {
			return saml.ReasonNoNameIDValue // e.g. an SP keyed by email, a user without one
		}
		return ""
	})
	return nil
}

// EnsureM365SAMLApp registers Entra ID as a SAML 2.0 SP (entity urn:federation:MicrosoftOnline,
// NameID persistent = ImmutableID, IDPEmail = UPN) the first time a domain uses SAML-P, under the
// application name Microsoft 365 policies use for WS-Fed too. It reports whether it created it.
func EnsureM365SAMLApp(ctx context.Context, st store.Store) (bool, error) {
	if _, err := st.GetApplicationByEntityID(ctx, "saml", m365.Realm); err == nil {
		return false, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	cfg, err := json.Marshal(saml.Microsoft365())
	if err != nil {
		return false, err
	}
	now := time.Now().UTC()
	if err := st.CreateApplication(ctx, store.Application{Name: m365.DefaultApplication, Protocol: "saml",
		EntityID: m365.Realm, Config: cfg, CreatedAt: now, UpdatedAt: now}); err != nil {
		return false, fmt.Errorf("register Microsoft 365 as a SAML service provider: %w", err)
	}
	return true, nil
}
