// Package m365 holds the Microsoft 365 specifics shared by the federation adapters: the
// federated-domain settings (issuer URI, protocol, claims to emit), matching a UPN to its
// domain, and the hook through which adapters report requests they refuse before or after
// the gate.
//
// Decisions shared by internal/protocol/wsfed and internal/protocol/wstrust (see
// shared M365.md §2 and §4 for the sources):
//   - MFA: when a domain has EmitMFA and the gate reports a second factor, the SAML 1.1
//     assertion says so twice, as ADFS does: AuthenticationStatement/@AuthenticationMethod
//     = http://schemas.microsoft.com/claims/multipleauthn, and the attribute
//     authnmethodsreferences (namespace http://schemas.microsoft.com/claims) with the same
//     value. Otherwise the method is urn:oasis:names:tc:SAML:1.0:am:password and the
//     attribute is absent. AuthenticationInstant is the gate's (or session's) instant.
//   - insidecorporatenetwork is emitted only for domains listing InsideNetworks, as
//     "true"/"false" from the named networks the gate placed the client in.
//   - The application name given to the gate comes from the domain of the name as typed
//     (WS-Trust) or of the username hint (WS-Fed), else DefaultApplication; after the gate,
//     the user's own UPN picks the domain (issuer URI), and a mismatch is refused.
//   - Refusals after an allowing gate (no ImmutableID, UPN outside every federated domain)
//     go to RejectFunc with the gate's EventID, so the audit trail links them.
package m365

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/store"
)

// Realm is the relying-party identifier of Entra ID (wtrealm, AppliesTo, Audience).
const Realm = "urn:federation:MicrosoftOnline"

// Realms returns the set of realms an adapter accepts: Realm and the extra ones configured
// (e.g. a sovereign cloud's).
func Realms(extra []string) map[string]bool {
	set := map[string]bool{Realm: true}
	for _, r := range extra {
		set[r] = true
	}
	return set
}

// DefaultApplication is the application name M365 sign-ins carry into policies.
const DefaultApplication = "microsoft365"

// Protocol is the domain's preferredAuthenticationProtocol in Entra ID.
type Protocol string

const (
	WSFed Protocol = "wsFed"
	SAML  Protocol = "saml"
)

// Domain is one federated domain as configured in Entra ID (see docs: the Graph
// internalDomainFederation). Subdomains of Name share its settings, as in Entra.
type Domain struct {
	Name        string   // DNS name, e.g. "example.com"
	IssuerURI   string   // issuerUri: unique per federated domain; the assertion's Issuer
	Protocol    Protocol // preferredAuthenticationProtocol; "" means wsFed
	Application string   // application name used in policies; "" means DefaultApplication
	// InsideNetworks names the networks that count as the corporate network. When set, the
	// assertion carries insidecorporatenetwork=true if the gate placed the client in one of
	// them and false otherwise; when empty, the claim is omitted.
	InsideNetworks []string
	// EmitMFA reports a second factor done at Sekisho as multipleauthn (needed when the
	// domain's federatedIdpMfaBehavior accepts or enforces MFA by the federated IdP).
	EmitMFA bool
	// Methods lists the sign-in methods the admin allows for the domain: MethodPassive
	// (browsers and modern-auth web views) and MethodActive (WS-Trust: MSAL username/password
	// and the basic-auth clients Exchange Online proxies). Empty allows both.
	Methods []string
}

// Sign-in methods of a domain.
const (
	MethodPassive = "passive"
	MethodActive  = "active"
)

// Allows reports whether the domain accepts the sign-in method.
func (d Domain) Allows(method string) bool {
	if len(d.Methods) == 0 {
		return true
	}
	for _, m := range d.Methods {
		if m == method {
			return true
		}
	}
	return false
}

// App returns the application name of the domain.
func (d Domain) App() string {
	if d.Application == "" {
		return DefaultApplication
	}
	return d.Application
}

// Inside reports whether the claim insidecorporatenetwork should be emitted (emit) and its
// value, given the named networks the gate found the client in.
func (d Domain) Inside(clientNetworks []string) (value, emit bool) {
	if len(d.InsideNetworks) == 0 {
		return false, false
	}
	for _, n := range clientNetworks {
		for _, want := range d.InsideNetworks {
			if strings.EqualFold(n, want) {
				return true, true
			}
		}
	}
	return false, true
}

// Domains is the set of federated domains.
type Domains []Domain

// Validate checks every domain and returns all problems at once.
func (ds Domains) Validate() error {
	var errs []error
	seenName := map[string]bool{}
	seenIssuer := map[string]bool{}
	for i, d := range ds {
		name := strings.ToLower(strings.TrimSpace(d.Name))
		switch {
		case name == "" || strings.ContainsAny(name, "@/ ") || strings.HasPrefix(name, "."):
			errs = append(errs, fmt.Errorf("m365 domain %d: invalid name %q", i, d.Name))
		case strings.HasSuffix(name, ".onmicrosoft.com") || name == "onmicrosoft.com":
			errs = append(errs, fmt.Errorf("m365 domain %q: onmicrosoft.com domains cannot be federated", d.Name))
		case seenName[name]:
			errs = append(errs, fmt.Errorf("m365 domain %q: listed twice", d.Name))
		}
		seenName[name] = true
		if u, err := url.Parse(d.IssuerURI); d.IssuerURI == "" || err != nil || u.Scheme == "" {
			errs = append(errs, fmt.Errorf("m365 domain %q: issuer URI %q must be an absolute URI", d.Name, d.IssuerURI))
		} else if seenIssuer[d.IssuerURI] {
			errs = append(errs, fmt.Errorf("m365 domain %q: issuer URI %q is used by another domain; Entra needs one per federated domain", d.Name, d.IssuerURI))
		}
		seenIssuer[d.IssuerURI] = true
		for _, m := range d.Methods {
			if m != MethodPassive && m != MethodActive {
				errs = append(errs, fmt.Errorf("m365 domain %q: sign-in method %q must be passive or active", d.Name, m))
			}
		}
		switch d.Protocol {
		case "", WSFed, SAML:
		default:
			errs = append(errs, fmt.Errorf("m365 domain %q: protocol %q must be wsFed or saml", d.Name, d.Protocol))
		}
	}
	return errors.Join(errs...)
}

// Match returns the domain a UPN belongs to: the configured domain equal to the UPN's
// suffix, or else the closest configured parent (sub.example.com uses example.com).
func (ds Domains) Match(upn string) (Domain, bool) {
	at := strings.LastIndexByte(upn, '@')
	if at < 0 || at == len(upn)-1 {
		return Domain{}, false
	}
	host := strings.ToLower(strings.TrimSuffix(upn[at+1:], "."))
	for host != "" {
		for _, d := range ds {
			if strings.EqualFold(strings.TrimSuffix(d.Name, "."), host) {
				return d, true
			}
		}
		dot := strings.IndexByte(host, '.')
		if dot < 0 {
			break
		}
		host = host[dot+1:]
	}
	return Domain{}, false
}

// Why a user cannot be issued a Microsoft 365 token (the gate's eligibility reasons).
const (
	ReasonDomainNotFederated  signin.Reason = "domain_not_federated"
	ReasonApplicationMismatch signin.Reason = "application_mismatch"
	ReasonNoImmutableID       signin.Reason = "no_immutable_id"
	ReasonMethodNotAllowed    signin.Reason = "method_not_allowed"
)

// Eligible is the one rule for whether user may be issued a Microsoft 365 token for
// application through method (MethodPassive for WS-Fed, MethodActive for WS-Trust). It returns
// the user's domain, or a reason and a detail for the log. The gate runs it before the policy
// (so the record states the true cause) and the adapters again as a backstop.
func (ds Domains) Eligible(u store.User, application, method string) (Domain, signin.Reason, string) {
	d, ok := ds.Match(u.UPN)
	switch {
	case !ok:
		return d, ReasonDomainNotFederated, fmt.Sprintf("user %s is in no federated domain", u.UPN)
	case d.App() != application:
		return d, ReasonApplicationMismatch, fmt.Sprintf("checked for %s, user's domain is %s", application, d.App())
	case u.ImmutableID == "":
		return d, ReasonNoImmutableID, fmt.Sprintf("user %s has no ImmutableID; set it to the Entra onPremisesImmutableId", u.UPN)
	case !d.Allows(method):
		return d, ReasonMethodNotAllowed, fmt.Sprintf("domain %s does not allow %s sign-in", d.Name, method)
	}
	return d, "", ""
}

// Rejection is a request an adapter refused on its own (before the gate, or after an
// allowing gate for a reason only the adapter knows, e.g. a user without ImmutableID).
type Rejection struct {
	Protocol string        // "wsfed", "wstrust"
	Reason   signin.Reason // stable code: unknown_realm, bad_request, no_immutable_id, domain_not_federated…
	Detail   string        // the precise cause, for the log only (never shown to the caller)
	Username string        // as attempted, if known
	UserID   string        // when the gate identified the user
	EventID  string        // the gate's sign-in record, when the gate was called
	// Request is the refused request, so the record resolves the real client (trusted
	// proxies, Exchange Online's forwarded address) exactly as the gate would.
	Request *http.Request
}

// RejectFunc receives rejections for audit and returns the sign-in record's reference ID
// (shown on the refusal page; "" when none was written). It must not block for long.
type RejectFunc func(ctx context.Context, r Rejection) (reference string)
