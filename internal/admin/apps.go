package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/sekisho/sekisho/internal/m365"
	"github.com/sekisho/sekisho/internal/protocol/oidc"
	"github.com/sekisho/sekisho/internal/protocol/saml"
	"github.com/sekisho/sekisho/internal/store"
)

// applicationView is an application in the audit log: its settings hold endpoints and the
// SP's public certificates, nothing secret (an OpenID Connect client's secret hash is left
// out: oidc.PublicView).
type applicationView struct {
	Name     string          `json:"name"`
	Protocol string          `json:"protocol"`
	EntityID string          `json:"entityId"`
	Config   json.RawMessage `json:"config,omitempty"`
}

func appView(a store.Application) applicationView {
	cfg := json.RawMessage(a.Config)
	if a.Protocol == oidc.Protocol {
		cfg = oidc.PublicView(a.Config)
	}
	return applicationView{Name: a.Name, Protocol: a.Protocol, EntityID: a.EntityID, Config: cfg}
}

// AddApplication registers a SAML 2.0 service provider under name ("app.add"). sp is
// completed with the defaults and validated exactly as the server will read it; the stored
// settings are returned.
func (s *Service) AddApplication(ctx context.Context, a Actor, name string, sp saml.ServiceProvider) (saml.ServiceProvider, error) {
	name = strings.TrimSpace(name)
	return changeTo(ctx, s, a, "app.add", name, func(t tx) (saml.ServiceProvider, any, any, error) {
		app, sp, err := t.addSAML(ctx, name, sp)
		if err != nil {
			return sp, nil, nil, err
		}
		return sp, nil, appView(app), nil
	})
}

// addSAML validates sp and stores it as application name.
func (t tx) addSAML(ctx context.Context, name string, sp saml.ServiceProvider) (store.Application, saml.ServiceProvider, error) {
	if name == "" {
		return store.Application{}, sp, errors.New("an application needs a name")
	}
	sp, cfg, err := spConfig(sp)
	if err != nil {
		return store.Application{}, sp, err
	}
	now := t.s.Now().UTC()
	app := store.Application{Name: name, Protocol: "saml", EntityID: sp.EntityID, Config: cfg, CreatedAt: now, UpdatedAt: now}
	err = t.CreateApplication(ctx, app)
	if errors.Is(err, store.ErrConflict) {
		return app, sp, fmt.Errorf("an application named %s or with entity ID %s exists already", name, sp.EntityID)
	}
	return app, sp, err
}

// spConfig is sp as it is stored: completed with the defaults and validated by
// saml.ParseSPConfig, exactly as the server will read it, with unique attribute names.
func spConfig(sp saml.ServiceProvider) (saml.ServiceProvider, []byte, error) {
	raw, err := json.Marshal(sp)
	if err != nil {
		return sp, nil, err
	}
	if sp, err = saml.ParseSPConfig(raw); err != nil {
		return sp, nil, err
	}
	if err := saml.CheckAttributeNames(sp.Attributes); err != nil {
		return sp, nil, fmt.Errorf("saml sp %s: %w", sp.EntityID, err)
	}
	cfg, err := json.Marshal(sp)
	return sp, cfg, err
}

// UpdateApplication changes the settings of the SAML application name ("app.update"): edit
// receives the stored settings and changes them; the result is validated as AddApplication's
// and stored in the same transaction as the entry, which holds the settings before and after.
// The entity ID is the SP's identity and cannot change (register the SP anew).
func (s *Service) UpdateApplication(ctx context.Context, a Actor, name string, edit func(*saml.ServiceProvider) error) (saml.ServiceProvider, error) {
	return changeTo(ctx, s, a, "app.update", name, func(t tx) (saml.ServiceProvider, any, any, error) {
		var sp saml.ServiceProvider
		app, err := t.GetApplication(ctx, name)
		if err != nil {
			return sp, nil, nil, fmt.Errorf("application %s: %w", name, err)
		}
		if app.Protocol != "saml" {
			return sp, nil, nil, fmt.Errorf("application %s is not a SAML service provider", name)
		}
		if sp, err = saml.ParseSPConfig(app.Config); err != nil {
			return sp, nil, nil, fmt.Errorf("application %s: stored settings: %w", name, err)
		}
		entityID := sp.EntityID
		if err := edit(&sp); err != nil {
			return sp, nil, nil, err
		}
		if sp.EntityID != entityID {
			return sp, nil, nil, fmt.Errorf("application %s: the entity ID cannot change (register the SP anew)", name)
		}
		sp, cfg, err := spConfig(sp)
		if err != nil {
			return sp, nil, nil, err
		}
		updated, err := t.UpdateApplication(ctx, name, func(x store.Application) (store.Application, error) {
			x.Config, x.UpdatedAt = cfg, t.s.Now().UTC()
			return x, nil
		})
		if err != nil {
			return sp, nil, nil, fmt.Errorf("application %s: %w", name, err)
		}
		return sp, appView(app), appView(updated), nil
	})
}

// RemoveApplication removes an application ("app.remove"). An OpenID Connect client's
// refresh tokens go with it, in the same transaction: every grant of the client ends.
func (s *Service) RemoveApplication(ctx context.Context, a Actor, name string) error {
	return s.change(ctx, a, "app.remove", name, func(t tx) (any, any, error) {
		app, err := t.GetApplication(ctx, name)
		if err == nil {
			err = t.DeleteApplication(ctx, name)
		}
		if err == nil && app.Protocol == oidc.Protocol {
			_, err = t.DeleteClientRefreshTokens(ctx, app.EntityID)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("application %s: %w", name, err)
		}
		return appView(app), nil, nil
	})
}

// domainView is a federated Microsoft 365 domain in the audit log.
type domainView struct {
	m365.DomainSettings
	// RegisteredApplication names the SAML application the change registered for Microsoft
	// 365 (the first domain federated by SAML needs it).
	RegisteredApplication string `json:"registeredApplication,omitempty"`
}

// AddedDomain is what AddDomain stored.
type AddedDomain struct {
	Domain m365.DomainSettings // as stored, with the defaults filled in
	// RegisteredApp is set when the change also registered Microsoft 365 as the SAML
	// application m365.DefaultApplication.
	RegisteredApp bool
}

// AddDomain federates a Microsoft 365 domain here, or replaces its settings
// ("m365.domain-add"; the entry's before says which). Every inside network must exist. A
// domain federated by SAML also registers Microsoft 365 as a SAML application, once.
func (s *Service) AddDomain(ctx context.Context, a Actor, ds m365.DomainSettings) (AddedDomain, error) {
	target := strings.ToLower(strings.TrimSpace(ds.Name))
	return changeTo(ctx, s, a, "m365.domain-add", target, func(t tx) (AddedDomain, any, any, error) {
		var out AddedDomain
		for _, n := range ds.InsideNetworks {
			if _, err := t.GetNetwork(ctx, n); err != nil {
				return out, nil, nil, fmt.Errorf("inside network %s: %w (create it with sekisho network set)", n, err)
			}
		}
		var before any
		if old, err := m365.GetDomain(ctx, t.Store, target); err == nil {
			before = domainView{DomainSettings: old}
		} else if !errors.Is(err, store.ErrNotFound) {
			return out, nil, nil, err
		}
		if err := m365.PutDomain(ctx, t.Store, ds); err != nil {
			return out, nil, nil, err
		}
		after := domainView{}
		if ds.Protocol == m365.SAML {
			_, err := t.GetApplicationByEntityID(ctx, "saml", m365.Realm)
			if errors.Is(err, store.ErrNotFound) {
				_, _, err = t.addSAML(ctx, m365.DefaultApplication, saml.Microsoft365())
				out.RegisteredApp, after.RegisteredApplication = err == nil, m365.DefaultApplication
			}
			if err != nil {
				return out, nil, nil, fmt.Errorf("register Microsoft 365 as a SAML service provider: %w", err)
			}
		}
		d, err := m365.GetDomain(ctx, t.Store, target)
		out.Domain, after.DomainSettings = d, d
		return out, before, after, err
	})
}

// RemoveDomain stops federating a Microsoft 365 domain here ("m365.domain-remove").
func (s *Service) RemoveDomain(ctx context.Context, a Actor, name string) error {
	target := strings.ToLower(strings.TrimSpace(name))
	return s.change(ctx, a, "m365.domain-remove", target, func(t tx) (any, any, error) {
		old, err := m365.GetDomain(ctx, t.Store, name)
		if err != nil {
			return nil, nil, err
		}
		if err := m365.DeleteDomain(ctx, t.Store, name); err != nil {
			return nil, nil, err
		}
		return domainView{DomainSettings: old}, nil, nil
	})
}
