// Package federation renders what Entra ID must be told to federate a domain to Sekisho
// (Microsoft Graph internalDomainFederation, PowerShell, the legacy MSOnline form) and checks
// a domain for what would make federation fail.
package federation

import (
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/sekisho/sekisho/internal/keys"
	"github.com/sekisho/sekisho/internal/m365"
	"github.com/sekisho/sekisho/internal/store"
)

// Config is the body of POST /domains/{id}/federationConfiguration (M365.md §1).
type Config struct {
	ODataType                             string `json:"@odata.type"`
	DisplayName                           string `json:"displayName"`
	IssuerURI                             string `json:"issuerUri"`
	MetadataExchangeURI                   string `json:"metadataExchangeUri"`
	PassiveSignInURI                      string `json:"passiveSignInUri"`
	ActiveSignInURI                       string `json:"activeSignInUri"`
	SignOutURI                            string `json:"signOutUri"`
	SigningCertificate                    string `json:"signingCertificate"`
	NextSigningCertificate                string `json:"nextSigningCertificate,omitempty"`
	PreferredAuthenticationProtocol       string `json:"preferredAuthenticationProtocol"`
	PromptLoginBehavior                   string `json:"promptLoginBehavior"`
	FederatedIdpMfaBehavior               string `json:"federatedIdpMfaBehavior"`
	IsSignedAuthenticationRequestRequired bool   `json:"isSignedAuthenticationRequestRequired"`
}

// Settings builds the federation configuration of d served from baseURL.
func Settings(d m365.DomainSettings, baseURL string, current, next *x509.Certificate) Config {
	base := strings.TrimRight(baseURL, "/")
	c := Config{
		ODataType:                             "#microsoft.graph.internalDomainFederation",
		DisplayName:                           "Sekisho",
		IssuerURI:                             d.IssuerURI,
		MetadataExchangeURI:                   base + "/adfs/services/trust/mex",
		PassiveSignInURI:                      base + "/adfs/ls/",
		ActiveSignInURI:                       base + "/adfs/services/trust/2005/usernamemixed",
		SignOutURI:                            base + "/adfs/ls/?wa=wsignout1.0",
		SigningCertificate:                    base64.StdEncoding.EncodeToString(current.Raw),
		PreferredAuthenticationProtocol:       string(d.Protocol),
		PromptLoginBehavior:                   d.PromptLoginBehavior,
		FederatedIdpMfaBehavior:               d.MFABehavior,
		IsSignedAuthenticationRequestRequired: d.SignedRequestsRequired,
	}
	if d.Protocol == m365.SAML {
		c.PassiveSignInURI = base + "/saml/sso"
		c.SignOutURI = base + "/saml/slo"
	}
	if next != nil {
		c.NextSigningCertificate = base64.StdEncoding.EncodeToString(next.Raw)
	}
	return c
}

func psQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// PowerShell renders the Microsoft Graph PowerShell command.
func PowerShell(domain string, c Config) string {
	var b strings.Builder
	b.WriteString("# Microsoft Graph PowerShell: Connect-MgGraph -Scopes 'Domain.ReadWrite.All' first.\n")
	b.WriteString("$params = @{\n")
	row := func(k, v string) { fmt.Fprintf(&b, "    %s = %s\n", k, psQuote(v)) }
	row("DisplayName", c.DisplayName)
	row("IssuerUri", c.IssuerURI)
	row("MetadataExchangeUri", c.MetadataExchangeURI)
	row("PassiveSignInUri", c.PassiveSignInURI)
	row("ActiveSignInUri", c.ActiveSignInURI)
	row("SignOutUri", c.SignOutURI)
	row("SigningCertificate", c.SigningCertificate)
	if c.NextSigningCertificate != "" {
		row("NextSigningCertificate", c.NextSigningCertificate)
	}
	row("PreferredAuthenticationProtocol", c.PreferredAuthenticationProtocol)
	row("PromptLoginBehavior", c.PromptLoginBehavior)
	row("FederatedIdpMfaBehavior", c.FederatedIdpMfaBehavior)
	fmt.Fprintf(&b, "    IsSignedAuthenticationRequestRequired = $%t\n", c.IsSignedAuthenticationRequestRequired)
	b.WriteString("}\n")
	fmt.Fprintf(&b, "New-MgDomainFederationConfiguration -DomainId %s -BodyParameter $params\n", psQuote(domain))
	return b.String()
}

// Msol renders the legacy MSOnline form, for reference (the module is retired).
func Msol(domain string, c Config) string {
	proto := "WsFed"
	if c.PreferredAuthenticationProtocol == string(m365.SAML) {
		proto = "Samlp"
	}
	s := fmt.Sprintf("Set-MsolDomainAuthentication -DomainName %s -Authentication Federated -FederationBrandName %s `\n"+
		"  -IssuerUri %s -PassiveLogOnUri %s -ActiveLogOnUri %s `\n"+
		"  -MetadataExchangeUri %s -LogOffUri %s -PreferredAuthenticationProtocol %s `\n"+
		"  -SigningCertificate %s",
		psQuote(domain), psQuote(c.DisplayName), psQuote(c.IssuerURI), psQuote(c.PassiveSignInURI), psQuote(c.ActiveSignInURI),
		psQuote(c.MetadataExchangeURI), psQuote(c.SignOutURI), proto, psQuote(c.SigningCertificate))
	if c.NextSigningCertificate != "" {
		s += " `\n  -NextSigningCertificate " + psQuote(c.NextSigningCertificate)
	}
	return s + "\n"
}

// Problem is one finding of Check.
type Problem struct {
	Severity string // error or warning
	Text     string
}

// CheckInput is what Check looks at.
type CheckInput struct {
	Domain  m365.DomainSettings
	All     []m365.DomainSettings
	Users   []store.User
	Keys    []keys.Key
	BaseURL string
	Now     time.Time
}

// Check lists what would make federation of the domain fail or degrade.
func Check(in CheckInput) []Problem {
	var out []Problem
	add := func(sev, format string, args ...any) { out = append(out, Problem{sev, fmt.Sprintf(format, args...)}) }
	if err := m365.Plain(in.All).Validate(); err != nil {
		for _, l := range strings.Split(err.Error(), "\n") {
			add("error", "%s", l)
		}
	}
	if u, err := url.Parse(in.BaseURL); err != nil || u.Scheme != "https" {
		add("error", "base_url %q is not https: Entra and MSAL accept only https endpoints", in.BaseURL)
	} else if h := u.Hostname(); h == "localhost" || strings.HasPrefix(h, "127.") || h == "::1" {
		add("warning", "base_url %q is a loopback address: Entra and users' devices cannot reach it", in.BaseURL)
	}
	checkBehaviors(in.Domain, add)
	ds := m365.Plain(in.All)
	var missing []string
	byID := map[string][]string{}
	for _, u := range in.Users {
		d, ok := ds.Match(u.UPN)
		if !ok || !strings.EqualFold(d.Name, in.Domain.Name) {
			continue
		}
		if u.ImmutableID == "" {
			missing = append(missing, u.UPN)
			continue
		}
		byID[u.ImmutableID] = append(byID[u.ImmutableID], u.UPN)
	}
	if len(missing) > 0 {
		add("error", "%d user(s) of %s have no ImmutableID and cannot sign in to Microsoft 365: %s", len(missing), in.Domain.Name, list(missing))
	}
	var dupes []string
	for id, upns := range byID {
		if len(upns) > 1 {
			dupes = append(dupes, fmt.Sprintf("%s (%s)", id, strings.Join(upns, ", ")))
		}
	}
	if len(dupes) > 0 {
		sort.Strings(dupes)
		add("error", "ImmutableIDs shared by several users (Entra matches users by it): %s", list(dupes))
	}
	var current, next *keys.Key
	for i := range in.Keys {
		switch in.Keys[i].State {
		case store.KeyCurrent:
			current = &in.Keys[i]
		case store.KeyNext:
			next = &in.Keys[i]
		}
	}
	switch {
	case current == nil:
		add("error", "there is no current token-signing key (sekisho keys rotate && sekisho keys promote)")
	case !in.Now.Before(current.Cert.NotAfter):
		add("error", "the token-signing certificate expired on %s", current.Cert.NotAfter.Format("2006-01-02"))
	case current.Cert.NotAfter.Sub(in.Now) < 30*24*time.Hour && next == nil:
		add("error", "the token-signing certificate expires on %s and no next certificate is published (sekisho keys rotate)",
			current.Cert.NotAfter.Format("2006-01-02"))
	}
	return out
}

// checkBehaviors judges what Entra is told to do for prompt=login and for a second factor
// against what Sekisho does: its WS-Fed endpoint reads wfresh and wauth (not prompt), and it
// reports a second factor only when its own policy asked for one and the domain emits it.
func checkBehaviors(d m365.DomainSettings, add func(sev, format string, args ...any)) {
	if d.MFABehavior == m365.MFAEnforcedByIdP {
		if !d.EmitMFA {
			add("error", "federatedIdpMfaBehavior %s: Entra requires the second factor from Sekisho, but %s does not report one (turn on MFA → multipleauthn): every sign-in Entra wants MFA for fails",
				d.MFABehavior, d.Name)
		} else {
			add("warning", "federatedIdpMfaBehavior %s: Entra accepts a second factor only from Sekisho, and Sekisho asks for one where its policy requires it for %s, not because Entra asks: require MFA in the policy wherever Entra's Conditional Access does",
				d.MFABehavior, d.App())
		}
	}
	if d.PromptLoginBehavior == m365.PromptLoginNative && d.Protocol != m365.SAML {
		add("warning", "promptLoginBehavior %s: Entra passes prompt=login on as it is, which Sekisho's WS-Fed endpoint does not read (it reads wfresh=0 and wauth): a sign-in Entra wants fresh passes with the session (use %s)",
			d.PromptLoginBehavior, m365.PromptLoginTranslate)
	}
}

func list(xs []string) string {
	if len(xs) > 10 {
		return strings.Join(xs[:10], ", ") + fmt.Sprintf(" and %d more", len(xs)-10)
	}
	return strings.Join(xs, ", ")
}
