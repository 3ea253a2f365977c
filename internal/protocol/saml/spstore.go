package saml

import (
	"context"
	"fmt"

	"github.com/sekisho/sekisho/internal/store"
)

// ApplicationStore is the part of store.Store that StoreSPs reads.
type ApplicationStore interface {
	GetApplication(ctx context.Context, name string) (store.Application, error)
	GetApplicationByEntityID(ctx context.Context, protocol, entityID string) (store.Application, error)
}

// StoreSPs implements SPLookup over registered applications with Protocol "saml", whose
// Config is a ServiceProvider JSON document.
type StoreSPs struct{ Apps ApplicationStore }

var _ SPLookup = StoreSPs{}

func (s StoreSPs) LookupSP(ctx context.Context, entityID string) (ServiceProvider, string, error) {
	a, err := s.Apps.GetApplicationByEntityID(ctx, "saml", entityID)
	if err != nil {
		return ServiceProvider{}, "", fmt.Errorf("saml sp %q: %w", entityID, err)
	}
	sp, err := spOf(a)
	return sp, a.Name, err
}

func (s StoreSPs) LookupSPByApp(ctx context.Context, app string) (ServiceProvider, error) {
	a, err := s.Apps.GetApplication(ctx, app)
	if err != nil {
		return ServiceProvider{}, fmt.Errorf("saml app %q: %w", app, err)
	}
	if a.Protocol != "saml" {
		return ServiceProvider{}, fmt.Errorf("app %q is %s, not saml: %w", app, a.Protocol, store.ErrNotFound)
	}
	return spOf(a)
}

func spOf(a store.Application) (ServiceProvider, error) {
	sp, err := ParseSPConfig(a.Config)
	if err != nil {
		return ServiceProvider{}, fmt.Errorf("app %q: %w", a.Name, err)
	}
	if sp.EntityID != a.EntityID {
		return ServiceProvider{}, fmt.Errorf("app %q: config entityId %q differs from the application's %q", a.Name, sp.EntityID, a.EntityID)
	}
	return sp, nil
}
