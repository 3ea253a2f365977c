package m365

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sekisho/sekisho/internal/store"
)

// AppProtocol marks the store.Application rows that hold federated Microsoft 365 domains.
const AppProtocol = "m365-domain"

// DomainSettings is a federated domain as stored: the protocol settings plus what Entra is
// told when the domain is federated (M365.md §1).
type DomainSettings struct {
	Domain
	PromptLoginBehavior    string `json:"promptLoginBehavior"`     // translateToFreshPasswordAuthentication | nativeSupport | disabled
	MFABehavior            string `json:"federatedIdpMfaBehavior"` // acceptIfMfaDoneByFederatedIdp | enforceMfaByFederatedIdp | rejectMfaByFederatedIdp
	SignedRequestsRequired bool   `json:"isSignedAuthenticationRequestRequired"`
}

// The values Entra accepts for a domain's promptLoginBehavior and federatedIdpMfaBehavior,
// the default first.
var (
	// PromptLoginBehaviors: what Entra sends the IdP for prompt=login (wfresh=0 and
	// wauth=…/password; prompt=login as it is; wfresh=0 only).
	PromptLoginBehaviors = []string{PromptLoginTranslate, PromptLoginNative, "disabled"}
	// MFABehaviors: whether Entra accepts a second factor the IdP reports, requires it from
	// the IdP, or always asks for its own.
	MFABehaviors = []string{"acceptIfMfaDoneByFederatedIdp", MFAEnforcedByIdP, "rejectMfaByFederatedIdp"}
)

// The values federation checks look at.
const (
	PromptLoginTranslate = "translateToFreshPasswordAuthentication"
	PromptLoginNative    = "nativeSupport"
	MFAEnforcedByIdP     = "enforceMfaByFederatedIdp"
)

func rowName(domain string) string { return "m365:" + strings.ToLower(strings.TrimSpace(domain)) }

// DefaultIssuerURI is the issuer Sekisho proposes for a domain: unique per domain, in the
// form Entra has seen from AD FS with multiple domains.
func DefaultIssuerURI(domain string) string {
	return "http://" + strings.ToLower(strings.TrimSpace(domain)) + "/adfs/services/trust/"
}

// LoadDomains returns every stored domain's settings.
func LoadDomains(ctx context.Context, s store.Store) ([]DomainSettings, error) {
	apps, err := s.ListApplications(ctx)
	if err != nil {
		return nil, fmt.Errorf("list Microsoft 365 domains: %w", err)
	}
	var out []DomainSettings
	for _, a := range apps {
		if a.Protocol != AppProtocol {
			continue
		}
		var d DomainSettings
		if err := json.Unmarshal(a.Config, &d); err != nil {
			return nil, fmt.Errorf("domain %s: stored settings unreadable: %w", a.EntityID, err)
		}
		out = append(out, d)
	}
	return out, nil
}

// Plain returns the plain protocol settings of a list.
func Plain(ds []DomainSettings) Domains {
	out := make(Domains, len(ds))
	for i, d := range ds {
		out[i] = d.Domain
	}
	return out
}

// GetDomain returns one stored domain.
func GetDomain(ctx context.Context, s store.Store, name string) (DomainSettings, error) {
	a, err := s.GetApplication(ctx, rowName(name))
	if err != nil {
		return DomainSettings{}, fmt.Errorf("federated domain %s: %w", name, err)
	}
	var d DomainSettings
	if err := json.Unmarshal(a.Config, &d); err != nil {
		return DomainSettings{}, fmt.Errorf("domain %s: stored settings unreadable: %w", name, err)
	}
	return d, nil
}

// PutDomain validates d together with the other stored domains and stores it (create or
// replace).
func PutDomain(ctx context.Context, s store.Store, d DomainSettings) error {
	d.Name = strings.ToLower(strings.TrimSpace(d.Name))
	if d.IssuerURI == "" {
		d.IssuerURI = DefaultIssuerURI(d.Name)
	}
	if d.Protocol == "" {
		d.Protocol = WSFed
	}
	if d.PromptLoginBehavior == "" {
		d.PromptLoginBehavior = PromptLoginBehaviors[0]
	}
	if d.MFABehavior == "" {
		d.MFABehavior = MFABehaviors[0]
	}
	if !slices.Contains(PromptLoginBehaviors, d.PromptLoginBehavior) {
		return fmt.Errorf("promptLoginBehavior %q must be one of %s", d.PromptLoginBehavior, strings.Join(PromptLoginBehaviors, ", "))
	}
	if !slices.Contains(MFABehaviors, d.MFABehavior) {
		return fmt.Errorf("federatedIdpMfaBehavior %q must be one of %s", d.MFABehavior, strings.Join(MFABehaviors, ", "))
	}
	existing, err := LoadDomains(ctx, s)
	if err != nil {
		return err
	}
	all := Domains{d.Domain}
	for _, e := range existing {
		if !strings.EqualFold(e.Name, d.Name) {
			all = append(all, e.Domain)
		}
	}
	if err := all.Validate(); err != nil {
		return err
	}
	cfg, err := json.Marshal(d)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	_, err = s.UpdateApplication(ctx, rowName(d.Name), func(a store.Application) (store.Application, error) {
		a.Config, a.UpdatedAt = cfg, now
		return a, nil
	})
	if errors.Is(err, store.ErrNotFound) {
		err = s.CreateApplication(ctx, store.Application{Name: rowName(d.Name), Protocol: AppProtocol, EntityID: d.Name,
			Config: cfg, CreatedAt: now, UpdatedAt: now})
	}
	if err != nil {
		return fmt.Errorf("store domain %s: %w", d.Name, err)
	}
	return nil
}

// DeleteDomain removes a stored domain.
func DeleteDomain(ctx context.Context, s store.Store, name string) error {
	if err := s.DeleteApplication(ctx, rowName(name)); err != nil {
		return fmt.Errorf("federated domain %s: %w", name, err)
	}
	return nil
}
