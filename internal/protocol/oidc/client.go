package oidc

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/sekisho/sekisho/internal/config"
	"github.com/sekisho/sekisho/internal/secrets"
	"github.com/sekisho/sekisho/internal/store"
)

// Protocol is the applications-table protocol of OpenID Connect clients (their entity ID is
// the client_id).
const Protocol = "oidc"

// Client types.
const (
	Confidential = "confidential" // a server that keeps a client secret (client_secret_basic or _post)
	Public       = "public"       // a browser or native app: no secret, PKCE S256 required
)

// Grants a client may be allowed.
const (
	GrantAuthorizationCode = "authorization_code" // a user signs in through the browser (with PKCE)
	GrantRefreshToken      = "refresh_token"      // the code flow's tokens are renewed without the browser (offline_access)
	GrantClientCredentials = "client_credentials" // a confidential client acts in its own name, with no user
	// GrantDeviceCode is the device authorization grant (RFC 8628): a command-line tool or a
	// TV-style device shows a code, the user signs in on another device's browser.
	GrantDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"
)

// KnownGrants are the grants Sekisho serves, in the order discovery lists them.
var KnownGrants = []string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials, GrantDeviceCode}

// GrantAliases are the short names the CLI and the console accept for grants with long names.
var GrantAliases = map[string]string{"device_code": GrantDeviceCode, "device": GrantDeviceCode}

// Subject types (OpenID Connect Core section 8).
const (
	SubjectPublic   = "public"   // sub is the user's ID in Sekisho, the same for every client
	SubjectPairwise = "pairwise" // sub differs per client's sector (the redirect URIs' host), so clients cannot correlate users
)

// Scopes a client may be allowed, and the claims each one releases.
const (
	ScopeOpenID  = "openid"  // sub (always required)
	ScopeProfile = "profile" // name, preferred_username
	ScopeEmail   = "email"   // email, email_verified
	ScopeGroups  = "groups"  // groups (the user's group names)
	// ScopeOfflineAccess asks for a refresh token; only a client with the refresh_token grant
	// may be granted it.
	ScopeOfflineAccess = "offline_access"
)

// KnownScopes are the scopes Sekisho understands, in the order discovery lists them.
var KnownScopes = []string{ScopeOpenID, ScopeProfile, ScopeEmail, ScopeGroups, ScopeOfflineAccess}

// defaultScopes are a client's scopes when none are given (offline_access is added for a
// client with the refresh_token grant).
var defaultScopes = []string{ScopeOpenID, ScopeProfile, ScopeEmail, ScopeGroups}

// Defaults and bounds of a client's token lifetimes.
const (
	DefaultAccessTokenLifetime = 10 * time.Minute
	DefaultIDTokenLifetime     = 5 * time.Minute
	MaxTokenLifetime           = 24 * time.Hour
	minTokenLifetime           = 30 * time.Second
	// A refresh token is valid this long from its issue; each use replaces it with a new one
	// valid as long again.
	DefaultRefreshTokenLifetime = 30 * 24 * time.Hour
	MaxRefreshTokenLifetime     = 365 * 24 * time.Hour
	minRefreshTokenLifetime     = 5 * time.Minute
	maxRedirectURIs             = 20
	// MaxPreviousSecretLifetime bounds how long a rotated-out secret keeps working.
	MaxPreviousSecretLifetime = 30 * 24 * time.Hour
	maxRedirectURILength      = 2000
)

// ClientConfig is an OpenID Connect client as stored: the Config JSON of its application row.
// The secret itself is never stored, only its keyed hash (see SecretHasher).
type ClientConfig struct {
	ClientID            string          `json:"clientId"`
	Type                string          `json:"type"` // confidential or public
	RedirectURIs        []string        `json:"redirectUris"`
	Grants              []string        `json:"grants"`
	Scopes              []string        `json:"scopes"`
	AccessTokenLifetime config.Duration `json:"accessTokenLifetime"`
	IDTokenLifetime     config.Duration `json:"idTokenLifetime"`
	// RefreshTokenLifetime: clients with the refresh_token grant only.
	RefreshTokenLifetime config.Duration `json:"refreshTokenLifetime,omitempty"`
	SecretHash           []byte          `json:"secretHash,omitempty"` // HMAC-SHA256 of the secret (confidential clients)
	// PreviousSecretHash is the hash of the secret a rotation replaced, still accepted until
	// PreviousSecretExpires (zero-downtime rotation: sekisho app rotate-secret --keep-old).
	PreviousSecretHash    []byte    `json:"previousSecretHash,omitempty"`
	PreviousSecretExpires time.Time `json:"previousSecretExpires,omitzero"`
	// SubjectType: public (default) or pairwise.
	SubjectType string `json:"subjectType,omitempty"`
	// PostLogoutRedirectURIs are where RP-initiated logout may send the browser afterwards,
	// matched exactly.
	PostLogoutRedirectURIs []string `json:"postLogoutRedirectUris,omitempty"`
	// BackchannelLogoutURI receives a logout token when a session the client took part in ends
	// (OpenID Connect Back-Channel Logout 1.0).
	BackchannelLogoutURI string `json:"backchannelLogoutUri,omitempty"`
	// SigningAlg is the algorithm of the client's ID and access tokens: RS256 (the default,
	// stored as "") or ES256 (the P-256 token key; the relying party must accept ES256).
	SigningAlg string `json:"signingAlg,omitempty"`
}

// IsPairwise reports whether the client's subjects are pairwise.
func (c ClientConfig) IsPairwise() bool { return c.SubjectType == SubjectPairwise }

// HasPostLogoutRedirectURI reports whether uri is registered exactly for after logout.
func (c ClientConfig) HasPostLogoutRedirectURI(uri string) bool {
	return slices.Contains(c.PostLogoutRedirectURIs, uri)
}

// IsPublic reports whether the client has no secret.
func (c ClientConfig) IsPublic() bool { return c.Type == Public }

// HasRedirectURI reports whether uri is registered exactly (no prefix, pattern or loopback-port
// relaxation).
func (c ClientConfig) HasRedirectURI(uri string) bool { return slices.Contains(c.RedirectURIs, uri) }

// Allows reports whether the client may use grant.
func (c ClientConfig) Allows(grant string) bool { return slices.Contains(c.Grants, grant) }

// AccessTTL, IDTTL and RefreshTTL are the token lifetimes (defaults filled in by Complete).
func (c ClientConfig) AccessTTL() time.Duration  { return time.Duration(c.AccessTokenLifetime) }
func (c ClientConfig) IDTTL() time.Duration      { return time.Duration(c.IDTokenLifetime) }
func (c ClientConfig) RefreshTTL() time.Duration { return time.Duration(c.RefreshTokenLifetime) }

// Complete fills in the defaults and validates the settings, as they are stored and read.
func (c ClientConfig) Complete() (ClientConfig, error) {
	if c.ClientID == "" {
		return c, errors.New("oidc client: clientId is required")
	}
	if len(c.ClientID) > 200 || strings.ContainsAny(c.ClientID, ": \t\r\n") {
		return c, fmt.Errorf("oidc client %q: a client_id has at most 200 characters and no colon or space", c.ClientID)
	}
	switch c.Type {
	case "":
		c.Type = Confidential
	case Confidential, Public:
	default:
		return c, fmt.Errorf("oidc client %s: type %q: must be confidential or public", c.ClientID, c.Type)
	}
	if c.IsPublic() && len(c.SecretHash) > 0 {
		return c, fmt.Errorf("oidc client %s: a public client has no secret", c.ClientID)
	}
	if !c.IsPublic() && len(c.SecretHash) != sha256.Size {
		return c, fmt.Errorf("oidc client %s: a confidential client needs its secret's hash", c.ClientID)
	}
	switch {
	case len(c.PreviousSecretHash) == 0 && !c.PreviousSecretExpires.IsZero():
		return c, fmt.Errorf("oidc client %s: previousSecretExpires without a previous secret", c.ClientID)
	case len(c.PreviousSecretHash) == 0:
	case c.IsPublic():
		return c, fmt.Errorf("oidc client %s: a public client has no previous secret", c.ClientID)
	case len(c.PreviousSecretHash) != sha256.Size:
		return c, fmt.Errorf("oidc client %s: the previous secret's hash is damaged", c.ClientID)
	case c.PreviousSecretExpires.IsZero():
		return c, fmt.Errorf("oidc client %s: a previous secret needs the time it stops working (previousSecretExpires)", c.ClientID)
	}
	if len(c.Grants) == 0 {
		c.Grants = []string{GrantAuthorizationCode}
	}
	c.Grants = slices.Clone(c.Grants)
	for i, g := range c.Grants {
		if long, ok := GrantAliases[g]; ok {
			c.Grants[i], g = long, long
		}
		if !slices.Contains(KnownGrants, g) {
			return c, fmt.Errorf("oidc client %s: grant %q is not supported (supported: %s)", c.ClientID, g, strings.Join(KnownGrants, ", "))
		}
	}
	c.Grants = dedupe(c.Grants)
	switch {
	case c.Allows(GrantClientCredentials) && c.IsPublic():
		return c, fmt.Errorf("oidc client %s: client_credentials is for confidential clients (a public client has no secret to prove itself with)", c.ClientID)
	case c.Allows(GrantRefreshToken) && !c.Allows(GrantAuthorizationCode) && !c.Allows(GrantDeviceCode):
		return c, fmt.Errorf("oidc client %s: the refresh_token grant renews the tokens of a user's sign-in; allow authorization_code or device_code too", c.ClientID)
	}
	if c.Allows(GrantAuthorizationCode) {
		if len(c.RedirectURIs) == 0 {
			return c, fmt.Errorf("oidc client %s: at least one redirect URI is required (the authorization code grant)", c.ClientID)
		}
	} else if len(c.RedirectURIs) > 0 {
		return c, fmt.Errorf("oidc client %s: redirect URIs are for the authorization code grant, which this client is not allowed", c.ClientID)
	}
	if len(c.RedirectURIs) > maxRedirectURIs {
		return c, fmt.Errorf("oidc client %s: at most %d redirect URIs", c.ClientID, maxRedirectURIs)
	}
	seen := map[string]bool{}
	for _, u := range c.RedirectURIs {
		if err := CheckRedirectURI(u, c.IsPublic()); err != nil {
			return c, fmt.Errorf("oidc client %s: %w", c.ClientID, err)
		}
		if seen[u] {
			return c, fmt.Errorf("oidc client %s: redirect URI %s is listed twice", c.ClientID, u)
		}
		seen[u] = true
	}
	if len(c.Scopes) == 0 {
		c.Scopes = slices.Clone(defaultScopes)
	}
	for _, s := range c.Scopes {
		if !slices.Contains(KnownScopes, s) {
			return c, fmt.Errorf("oidc client %s: scope %q is not known (known: %s)", c.ClientID, s, strings.Join(KnownScopes, ", "))
		}
	}
	if !slices.Contains(c.Scopes, ScopeOpenID) {
		c.Scopes = append([]string{ScopeOpenID}, c.Scopes...)
	}
	// offline_access goes with the refresh_token grant: added with it, refused without it.
	switch offline := slices.Contains(c.Scopes, ScopeOfflineAccess); {
	case c.Allows(GrantRefreshToken) && !offline:
		c.Scopes = append(c.Scopes, ScopeOfflineAccess)
	case !c.Allows(GrantRefreshToken) && offline:
		return c, fmt.Errorf("oidc client %s: scope offline_access asks for refresh tokens: allow the refresh_token grant", c.ClientID)
	}
	c.Scopes = dedupe(c.Scopes)
	switch c.SubjectType {
	case "", SubjectPublic:
		c.SubjectType = ""
	case SubjectPairwise:
		if c.Allows(GrantAuthorizationCode) && len(sectors(c.RedirectURIs)) > 1 {
			return c, fmt.Errorf("oidc client %s: pairwise subjects need one sector: every redirect URI on the same host (found %s)", c.ClientID, strings.Join(sectors(c.RedirectURIs), ", "))
		}
	default:
		return c, fmt.Errorf("oidc client %s: subject type %q: must be public or pairwise", c.ClientID, c.SubjectType)
	}
	if len(c.PostLogoutRedirectURIs) > 0 && !c.Allows(GrantAuthorizationCode) {
		return c, fmt.Errorf("oidc client %s: post-logout redirect URIs are for clients of the authorization code grant", c.ClientID)
	}
	if len(c.PostLogoutRedirectURIs) > maxRedirectURIs {
		return c, fmt.Errorf("oidc client %s: at most %d post-logout redirect URIs", c.ClientID, maxRedirectURIs)
	}
	for i, u := range c.PostLogoutRedirectURIs {
		if err := CheckRedirectURI(u, c.IsPublic()); err != nil {
			return c, fmt.Errorf("oidc client %s: post-logout %w", c.ClientID, err)
		}
		if slices.Contains(c.PostLogoutRedirectURIs[:i], u) {
			return c, fmt.Errorf("oidc client %s: post-logout redirect URI %s is listed twice", c.ClientID, u)
		}
	}
	if c.BackchannelLogoutURI != "" {
		if err := CheckRedirectURI(c.BackchannelLogoutURI, false); err != nil {
			return c, fmt.Errorf("oidc client %s: back-channel logout %w", c.ClientID, err)
		}
		if c.IsPublic() {
			return c, fmt.Errorf("oidc client %s: back-channel logout is for confidential clients (a server that can receive it)", c.ClientID)
		}
	}
	switch c.SigningAlg {
	case "", AlgRS256:
		c.SigningAlg = ""
	case AlgES256:
	default:
		return c, fmt.Errorf("oidc client %s: signing algorithm %q: must be %s", c.ClientID, c.SigningAlg, strings.Join(SigningAlgs, " or "))
	}
	if c.Allows(GrantRefreshToken) {
		if c.RefreshTokenLifetime == 0 {
			c.RefreshTokenLifetime = config.Duration(DefaultRefreshTokenLifetime)
		}
		if d := c.RefreshTTL(); d < minRefreshTokenLifetime || d > MaxRefreshTokenLifetime {
			return c, fmt.Errorf("oidc client %s: refreshTokenLifetime %s: must be between %s and %s", c.ClientID, d, minRefreshTokenLifetime, MaxRefreshTokenLifetime)
		}
	} else if c.RefreshTokenLifetime != 0 {
		return c, fmt.Errorf("oidc client %s: a refresh token lifetime needs the refresh_token grant", c.ClientID)
	}
	for _, l := range []struct {
		name string
		d    *config.Duration
		def  time.Duration
	}{{"accessTokenLifetime", &c.AccessTokenLifetime, DefaultAccessTokenLifetime}, {"idTokenLifetime", &c.IDTokenLifetime, DefaultIDTokenLifetime}} {
		if *l.d == 0 {
			*l.d = config.Duration(l.def)
		}
		if d := time.Duration(*l.d); d < minTokenLifetime || d > MaxTokenLifetime {
			return c, fmt.Errorf("oidc client %s: %s %s: must be between %s and %s", c.ClientID, l.name, d, minTokenLifetime, MaxTokenLifetime)
		}
	}
	return c, nil
}

func dedupe(xs []string) []string {
	out := make([]string, 0, len(xs))
	for _, x := range xs {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// CheckRedirectURI accepts an absolute redirect URI without fragment or user information:
// https, http only to a loopback host (a developer's machine, a native app's local
// listener), and for public (native) clients a private-use scheme with a dot
// (com.example.app:/callback, RFC 8252 section 7.1).
func CheckRedirectURI(raw string, public bool) error {
	if raw == "" || len(raw) > maxRedirectURILength {
		return fmt.Errorf("redirect URI %q: must be 1 to %d characters", raw, maxRedirectURILength)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("redirect URI %q: %v", raw, err)
	}
	switch {
	case !u.IsAbs():
		return fmt.Errorf("redirect URI %q: must be absolute", raw)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return fmt.Errorf("redirect URI %q: must not have a fragment", raw)
	case u.User != nil:
		return fmt.Errorf("redirect URI %q: must not carry user information", raw)
	case strings.ContainsAny(raw, "* \t\r\n"):
		return fmt.Errorf("redirect URI %q: wildcards and spaces are not allowed (URIs are matched exactly)", raw)
	}
	switch u.Scheme {
	case "https":
		if u.Host == "" {
			return fmt.Errorf("redirect URI %q: has no host", raw)
		}
	case "http":
		if !isLoopback(u.Hostname()) {
			return fmt.Errorf("redirect URI %q: http only to localhost or a loopback address; use https", raw)
		}
	default:
		if !public || !strings.Contains(u.Scheme, ".") {
			return fmt.Errorf("redirect URI %q: scheme %q: use https (a native app's private-use scheme like com.example.app: needs --public)", raw, u.Scheme)
		}
	}
	return nil
}

// sectors are the hosts of uris (the sector identifier of pairwise subjects, OpenID Connect
// Core section 8.1), each once.
func sectors(uris []string) []string {
	var out []string
	for _, raw := range uris {
		if u, err := url.Parse(raw); err == nil && !slices.Contains(out, u.Host) {
			out = append(out, u.Host)
		}
	}
	return out
}

// Sector is the client's sector identifier for pairwise subjects: the host of its redirect
// URIs, or its client_id when it has none (a device-grant client).
func (c ClientConfig) Sector() string {
	if s := sectors(c.RedirectURIs); len(s) == 1 {
		return s[0]
	}
	return "client:" + c.ClientID
}

func isLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// ParseClientConfig reads and validates a stored client.
func ParseClientConfig(raw []byte) (ClientConfig, error) {
	var c ClientConfig
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("oidc client settings: %w", err)
	}
	return c.Complete()
}

// PublicView is the stored settings as the admin audit log, `app show` and the interfaces
// show them: everything but the secret's hash, which is replaced by whether there is one
// (hasSecret).
func PublicView(raw []byte) json.RawMessage {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return json.RawMessage(`{}`)
	}
	if _, ok := m["secretHash"]; ok {
		delete(m, "secretHash")
		m["hasSecret"] = true
	}
	if _, ok := m["previousSecretHash"]; ok {
		delete(m, "previousSecretHash")
		m["hasPreviousSecret"] = true // previousSecretExpires says until when
	}
	b, err := json.Marshal(m)
	if err != nil {
		return json.RawMessage(`{}`)
	}
	return b
}

// NewClientID returns a fresh client_id: 128 random bits, hex.
func NewClientID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("client id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// SecretBytes is the entropy of a client secret: 256 bits from crypto/rand.
const SecretBytes = 32

// SecretHasher computes the keyed hash client secrets are stored as: HMAC-SHA256 under a key
// derived from the master key, over the client_id and the secret. The secrets are 256-bit
// random values made by Sekisho, so there is no dictionary to attack and a slow password
// hash would add only cost (docs/oidc.md); the key means a copy of the database alone cannot
// even test a guess.
type SecretHasher struct{ key []byte }

// NewSecretHasher returns a hasher under key (at least 32 bytes, derived from the master key).
func NewSecretHasher(key []byte) (*SecretHasher, error) {
	if len(key) < 32 {
		return nil, errors.New("oidc client secret key: need 32 bytes")
	}
	return &SecretHasher{key: key}, nil
}

func (h *SecretHasher) hash(clientID, secret string) []byte {
	return secrets.KeyedHash(h.key, "sekisho-oidc-client-secret", clientID, secret)
}

// New makes a secret for clientID: the value to show once and the hash to store.
func (h *SecretHasher) New(clientID string) (secret string, hash []byte, err error) {
	var b [SecretBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, fmt.Errorf("client secret: %w", err)
	}
	secret = base64.RawURLEncoding.EncodeToString(b[:])
	return secret, h.hash(clientID, secret), nil
}

// Check reports in constant time whether secret is the one whose hash is stored.
func (h *SecretHasher) Check(clientID, secret string, stored []byte) bool {
	// hmac.Equal is constant-time for equal lengths; a stored value of another length (a
	// public client, a damaged row) never matches.
	return hmac.Equal(h.hash(clientID, secret), stored)
}

// SecretMatches reports whether secret authenticates the client at now: its current secret, or
// the one a rotation replaced while that still works (until PreviousSecretExpires). Both hashes
// are always computed and compared in constant time, so the answer takes as long whichever
// secret (if any) was presented. A public client has no secret and never matches.
func (c ClientConfig) SecretMatches(h *SecretHasher, secret string, now time.Time) bool {
	if h == nil || c.IsPublic() {
		return false
	}
	current := h.Check(c.ClientID, secret, c.SecretHash)
	previous := h.Check(c.ClientID, secret, c.PreviousSecretHash)
	return current || (previous && now.Before(c.PreviousSecretExpires))
}

// ApplicationStore is the part of store.Store that finds clients.
type ApplicationStore interface {
	GetApplicationByEntityID(ctx context.Context, protocol, entityID string) (store.Application, error)
}

// LookupClient returns the client registered under clientID and its application name
// (through apps's cache when apps is a ClientCache).
func LookupClient(ctx context.Context, apps ApplicationStore, clientID string) (ClientConfig, string, error) {
	if cc, ok := apps.(*ClientCache); ok && clientID != "" {
		return cc.lookup(ctx, clientID)
	}
	return lookupClient(ctx, apps, clientID)
}

func lookupClient(ctx context.Context, apps ApplicationStore, clientID string) (ClientConfig, string, error) {
	if clientID == "" {
		return ClientConfig{}, "", fmt.Errorf("oidc client: no client_id: %w", store.ErrNotFound)
	}
	a, err := apps.GetApplicationByEntityID(ctx, Protocol, clientID)
	if err != nil {
		return ClientConfig{}, "", fmt.Errorf("oidc client %q: %w", clientID, err)
	}
	c, err := ParseClientConfig(a.Config)
	if err != nil {
		return ClientConfig{}, a.Name, fmt.Errorf("application %s: %w", a.Name, err)
	}
	if c.ClientID != a.EntityID {
		return ClientConfig{}, a.Name, fmt.Errorf("application %s: config clientId %q differs from the application's %q", a.Name, c.ClientID, a.EntityID)
	}
	return c, a.Name, nil
}
