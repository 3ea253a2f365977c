package api

import (
	"encoding/json"
	"time"

	"github.com/sekisho/sekisho/internal/admin"
	"github.com/sekisho/sekisho/internal/m365"
	"github.com/sekisho/sekisho/internal/protocol/oidc"
	"github.com/sekisho/sekisho/internal/store"
)

// The JSON shapes of the API. Users are named by UPN, networks, groups, applications and
// domains by name, devices, sign-ins, tokens and audit entries by ID.

type Me struct {
	User      admin.UserView  `json:"user"`
	OwnerRole string          `json:"ownerRole" doc:"the owner's console role now; the token may do what both its own role and this allow"`
	Token     admin.TokenView `json:"token"`
}

type UserList struct {
	Users     []admin.UserView `json:"users"`
	Matched   int              `json:"matched" doc:"how many users matched in all"`
	Truncated bool             `json:"truncated" doc:"true when more matched than the limit returned"`
}

type NewUser struct {
	UPN         string   `json:"upn"`
	DisplayName string   `json:"displayName,omitempty"`
	Email       string   `json:"email,omitempty"`
	Groups      []string `json:"groups,omitempty"`
}

type CreatedUser struct {
	User     admin.UserView `json:"user"`
	Password string         `json:"password" doc:"one-time password, shown once; the user sets their own at the first sign-in"`
}

type UserDetail struct {
	User    admin.UserView     `json:"user"`
	Devices []admin.DeviceView `json:"devices"`
}

type OneTimePassword struct {
	Password string `json:"password" doc:"one-time password, shown once; every session of the user has ended"`
}

type EmergencyCodes struct {
	Codes []string `json:"codes" doc:"shown once; each works once"`
}

type ImportRow struct {
	Line   int    `json:"line"`
	UPN    string `json:"upn"`
	Action string `json:"action" enum:"created,skipped,error"`
	Detail string `json:"detail,omitempty"`
}

type ImportResult struct {
	Rows    []ImportRow `json:"rows" doc:"every row's outcome"`
	Created int         `json:"created"`
	Skipped int         `json:"skipped"`
	Errors  int         `json:"errors"`
}

type ImportRequest struct {
	CSV    string   `json:"csv" doc:"an Entra ID user export (CSV text)"`
	Groups []string `json:"groups,omitempty" doc:"groups every created user joins"`
}

type Group struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Members     int    `json:"members"`
}

type NewGroup struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

type Network struct {
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	CIDRs       []string  `json:"cidrs"`
	UpdatedAt   time.Time `json:"updatedAt,omitzero"`
}

type NetworkSettings struct {
	Description string   `json:"description,omitempty"`
	CIDRs       []string `json:"cidrs"`
}

type PolicyVersion struct {
	Version   int64     `json:"version"`
	Author    string    `json:"author"`
	Comment   string    `json:"comment,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	Document  string    `json:"document,omitempty" doc:"the YAML document (not in lists)"`
}

func policyOf(v store.PolicyVersion, withDoc bool) PolicyVersion {
	p := PolicyVersion{Version: v.Version, Author: v.Author, Comment: v.Comment, CreatedAt: v.CreatedAt}
	if withDoc {
		p.Document = string(v.Document)
	}
	return p
}

type PolicyDocument struct {
	Document string `json:"document" doc:"a policy document (YAML), see docs/policy.md"`
}

type PolicyCheck struct {
	OK bool `json:"ok" doc:"true: the document compiles against the stored networks (problems come as a 422 with errors by line)"`
}

type Publish struct {
	Document    string `json:"document"`
	Comment     string `json:"comment,omitempty"`
	BaseVersion int64  `json:"baseVersion" doc:"the version the document was edited from (0: none); a 409 when another was published since"`
}

type Rollback struct {
	Version int64 `json:"version" doc:"the earlier version to publish again, as a new version"`
}

type WhatIf struct {
	Document    string `json:"document,omitempty" doc:"a draft; empty: the policy in force"`
	User        string `json:"user"`
	Application string `json:"application"`
	ClientType  string `json:"clientType,omitempty" doc:"browser when empty"`
	LegacyApp   string `json:"legacyApp,omitempty"`
	IP          string `json:"ip"`
	MFA         bool   `json:"mfa,omitempty"`
	Device      bool   `json:"device,omitempty" doc:"a valid device certificate bound to the user"`
}

type WhatIfAnswer struct {
	Decision       string          `json:"decision" enum:"allow,deny,mfa_required,device_required"`
	Rule           string          `json:"rule"`
	InsideNetworks []string        `json:"insideNetworks"`
	Explanation    string          `json:"explanation" doc:"the trace as sentences"`
	Trace          json.RawMessage `json:"trace" doc:"the policy engine's trace"`
}

type Replay struct {
	Document string `json:"document,omitempty" doc:"a draft; empty: the policy in force"`
	Since    string `json:"since,omitempty" doc:"how far back, e.g. 7d or 12h (default 7d)"`
}

type Application struct {
	Name      string          `json:"name"`
	Protocol  string          `json:"protocol"`
	EntityID  string          `json:"entityId"`
	Settings  json.RawMessage `json:"settings" doc:"the stored settings (SAML: endpoints, certificates, attribute mappings; OpenID Connect: clientId, type, redirect URIs, grants, scopes, lifetimes, hasSecret — never the secret or its hash)"`
	CreatedAt time.Time       `json:"createdAt,omitzero"`
}

func applicationOf(a store.Application) Application {
	cfg := json.RawMessage(a.Config)
	if a.Protocol == oidc.Protocol {
		cfg = oidc.PublicView(a.Config) // never the secret's hash
	}
	if len(cfg) == 0 {
		cfg = json.RawMessage("{}")
	}
	return Application{Name: a.Name, Protocol: a.Protocol, EntityID: a.EntityID, Settings: cfg, CreatedAt: a.CreatedAt}
}

type NewApplication struct {
	Name     string `json:"name"`
	Metadata string `json:"metadata" doc:"the SP's SAML 2.0 metadata (XML text); no URL is fetched"`
}

type NewOIDCClient struct {
	Name                   string   `json:"name"`
	Public                 bool     `json:"public,omitempty" doc:"a browser or native app: no secret, PKCE S256 required"`
	RedirectURIs           []string `json:"redirectUris,omitempty" doc:"matched exactly; required with the authorization_code grant, refused without it"`
	Grants                 []string `json:"grants,omitempty" doc:"authorization_code (default), refresh_token, client_credentials (confidential clients), device_code"`
	Scopes                 []string `json:"scopes,omitempty" doc:"default openid, profile, email, groups; offline_access comes with refresh_token"`
	AccessTokenLifetime    string   `json:"accessTokenLifetime,omitempty" doc:"a duration from 30s to 24h (default 10m)"`
	IDTokenLifetime        string   `json:"idTokenLifetime,omitempty" doc:"a duration from 30s to 24h (default 5m)"`
	RefreshTokenLifetime   string   `json:"refreshTokenLifetime,omitempty" doc:"with refresh_token: 5m to 365d (default 30d), renewed at each use"`
	SubjectType            string   `json:"subjectType,omitempty" enum:"public,pairwise" doc:"public (default) or pairwise"`
	PostLogoutRedirectURIs []string `json:"postLogoutRedirectUris,omitempty" doc:"where RP-initiated logout may return the browser, matched exactly"`
	BackchannelLogoutURI   string   `json:"backchannelLogoutUri,omitempty" doc:"receives logout tokens (confidential clients)"`
}

type AddedOIDCClient struct {
	Application  Application `json:"application"`
	ClientID     string      `json:"clientId"`
	ClientSecret string      `json:"clientSecret,omitempty" doc:"confidential clients: shown once and never again (Sekisho keeps only a keyed hash)"`
}

// OIDCClientChange changes only the fields it has; the client_id, the type and the secret do
// not change (rotate-secret).
type OIDCClientChange struct {
	RedirectURIs           *[]string `json:"redirectUris,omitempty" doc:"replaces the redirect URIs"`
	Grants                 *[]string `json:"grants,omitempty" doc:"replaces the grants; offline_access and the refresh lifetime go with refresh_token unless given"`
	Scopes                 *[]string `json:"scopes,omitempty" doc:"replaces the scopes (openid is always included)"`
	AccessTokenLifetime    *string   `json:"accessTokenLifetime,omitempty" doc:"a duration; empty: the default"`
	IDTokenLifetime        *string   `json:"idTokenLifetime,omitempty" doc:"a duration; empty: the default"`
	RefreshTokenLifetime   *string   `json:"refreshTokenLifetime,omitempty" doc:"a duration such as 14d; empty: the default"`
	SubjectType            *string   `json:"subjectType,omitempty" doc:"public or pairwise (every user's sub for the client changes)"`
	PostLogoutRedirectURIs *[]string `json:"postLogoutRedirectUris,omitempty" doc:"replaces the post-logout redirect URIs"`
	BackchannelLogoutURI   *string   `json:"backchannelLogoutUri,omitempty" doc:"empty removes it"`
}

type RotateSecret struct {
	KeepOld string `json:"keepOld,omitempty" doc:"how long the previous secret keeps working, e.g. 24h or 7d (at most 30d); empty: it stops at once"`
}

type RotatedSecret struct {
	ClientID              string     `json:"clientId"`
	ClientSecret          string     `json:"clientSecret" doc:"shown once and never again"`
	PreviousSecretExpires *time.Time `json:"previousSecretExpires,omitempty" doc:"until when the previous secret works; absent: it stopped at once"`
}

type Domain struct {
	Name                   string   `json:"name,omitempty" doc:"the URL names the domain"`
	IssuerURI              string   `json:"issuerUri,omitempty" doc:"empty: http://<domain>/adfs/services/trust/"`
	Protocol               string   `json:"protocol,omitempty" enum:"wsFed,saml" doc:"preferredAuthenticationProtocol (wsFed when empty)"`
	Application            string   `json:"application,omitempty" doc:"the application name policies use (microsoft365 when empty)"`
	InsideNetworks         []string `json:"insideNetworks,omitempty"`
	EmitMFA                bool     `json:"emitMfa,omitempty"`
	Methods                []string `json:"methods,omitempty" doc:"passive and/or active; empty: both"`
	PromptLoginBehavior    string   `json:"promptLoginBehavior,omitempty"`
	MFABehavior            string   `json:"federatedIdpMfaBehavior,omitempty"`
	SignedRequestsRequired bool     `json:"signedRequestsRequired,omitempty"`
}

func domainOf(d m365.DomainSettings) Domain {
	return Domain{Name: d.Name, IssuerURI: d.IssuerURI, Protocol: string(d.Protocol), Application: d.Application,
		InsideNetworks: d.InsideNetworks, EmitMFA: d.EmitMFA, Methods: d.Methods, PromptLoginBehavior: d.PromptLoginBehavior,
		MFABehavior: d.MFABehavior, SignedRequestsRequired: d.SignedRequestsRequired}
}

func (d Domain) settings(name string) m365.DomainSettings {
	return m365.DomainSettings{Domain: m365.Domain{Name: name, IssuerURI: d.IssuerURI, Protocol: m365.Protocol(d.Protocol),
		Application: d.Application, InsideNetworks: d.InsideNetworks, EmitMFA: d.EmitMFA, Methods: d.Methods},
		PromptLoginBehavior: d.PromptLoginBehavior, MFABehavior: d.MFABehavior, SignedRequestsRequired: d.SignedRequestsRequired}
}

type FederationProblem struct {
	Severity string `json:"severity" enum:"error,warning"`
	Text     string `json:"text"`
}

type Federation struct {
	Domain     string              `json:"domain"`
	PowerShell string              `json:"powershell" doc:"the Microsoft Graph PowerShell that federates the domain"`
	Problems   []FederationProblem `json:"problems" doc:"what would break federation; empty when none"`
}

type NewDevice struct {
	User         string `json:"user" doc:"UPN"`
	Name         string `json:"name"`
	Platform     string `json:"platform,omitempty"`
	ValidityDays int    `json:"validityDays,omitempty" doc:"0: the CA's default"`
}

type Renew struct {
	ValidityDays int `json:"validityDays,omitempty"`
}

type IssuedDevice struct {
	Device         admin.DeviceView `json:"device"`
	DownloadURL    string           `json:"downloadUrl" doc:"one-time link to the PKCS#12 file, for the user"`
	PKCS12Password string           `json:"pkcs12Password" doc:"shown once"`
}

type SignIn struct {
	ID               string          `json:"id"`
	Time             time.Time       `json:"time"`
	User             string          `json:"user"`
	Application      string          `json:"application"`
	Protocol         string          `json:"protocol"`
	ClientType       string          `json:"clientType"`
	LegacyApp        string          `json:"legacyApp,omitempty"`
	IP               string          `json:"ip"`
	PeerIP           string          `json:"peerIp,omitempty"`
	ForwardedIP      string          `json:"forwardedIp,omitempty"`
	ForwardedTrusted bool            `json:"forwardedTrusted,omitempty"`
	ForgedHeaders    bool            `json:"forgedHeaders,omitempty"`
	UserAgent        string          `json:"userAgent,omitempty"`
	Device           string          `json:"device,omitempty"`
	MFA              bool            `json:"mfa"`
	Decision         string          `json:"decision"`
	Rule             string          `json:"rule,omitempty"`
	Reason           string          `json:"reason,omitempty"`
	PolicyVersion    int64           `json:"policyVersion,omitempty"`
	Trace            json.RawMessage `json:"trace,omitempty" doc:"the policy engine's trace (one record only)"`
}

func signInOf(e store.SignInEvent, withTrace bool) SignIn {
	s := SignIn{ID: e.ID, Time: e.Time, User: e.Username, Application: e.Application, Protocol: e.Protocol, ClientType: e.ClientType,
		LegacyApp: e.LegacyApp, IP: e.EffectiveIP, PeerIP: e.PeerIP, ForwardedIP: e.ForwardedIP, ForwardedTrusted: e.ForwardedTrusted,
		ForgedHeaders: e.ForgedHeaders, UserAgent: e.UserAgent, Device: e.DeviceName, MFA: e.MFA, Decision: e.Decision, Rule: e.Rule,
		Reason: e.Reason, PolicyVersion: e.PolicyVersion}
	if withTrace && len(e.Trace) > 0 {
		s.Trace = json.RawMessage(e.Trace)
	}
	return s
}

type SignInList struct {
	SignIns   []SignIn `json:"signins" doc:"newest first"`
	Matched   int      `json:"matched"`
	Truncated bool     `json:"truncated" doc:"true when more matched than the limit returned"`
}

type AuditEntry struct {
	ID     string          `json:"id"`
	Time   time.Time       `json:"time"`
	Actor  string          `json:"actor"`
	Via    string          `json:"via" enum:"cli,console,api"`
	Action string          `json:"action"`
	Target string          `json:"target"`
	Before json.RawMessage `json:"before,omitempty"`
	After  json.RawMessage `json:"after,omitempty"`
}

type Retired struct {
	Retired int `json:"retired" doc:"how many retired keys were removed"`
}

type NewToken struct {
	Owner        string `json:"owner,omitempty" doc:"the UPN the token acts as (default: the caller)"`
	Role         string `json:"role" enum:"admin,helpdesk,auditor"`
	Name         string `json:"name" doc:"what it is for"`
	LifetimeDays int    `json:"lifetimeDays,omitempty" doc:"default 90, at most 366"`
}

// AppPassword is a mail bridge app password (docs/mail-bridge.md): never its secret or hash.
type AppPassword struct {
	admin.BridgeCredentialView
	State string `json:"state" enum:"active,revoked,expired"`
}

func appPasswordOf(v admin.BridgeCredentialView, now time.Time) AppPassword {
	return AppPassword{BridgeCredentialView: v, State: v.State(now)}
}

type NewAppPassword struct {
	Name         string   `json:"name" doc:"the device or program: lower-case letters, digits, '.', '-', '_' (at most 63), unique among the user's app passwords in force"`
	Scopes       []string `json:"scopes" doc:"one or more of imap, pop, smtp-send"`
	From         []string `json:"from,omitempty" doc:"smtp-send only: the sender addresses it may use (default: the user's own)"`
	LifetimeDays int      `json:"lifetimeDays,omitempty" doc:"default 365, at most 1095"`
}

type IssuedAppPassword struct {
	AppPassword
	Password string `json:"password" doc:"shown once and never again (Sekisho keeps only a keyed hash); hyphens and case do not matter"`
}

// MailboxConnection is a user's mailbox connected to the mail bridge's upstream token
// service: never a token.
type MailboxConnection struct {
	admin.BridgeUpstreamView
	State string `json:"state" enum:"connected,broken" doc:"broken: the token service refused the grant; connect the mailbox again"`
}
