// Package store defines the persistence contract every Sekisho backend implements.
//
// The interfaces know rows, not protocols. Updates go through UpdateX(ctx, key, fn) so that
// each backend owns its compare-and-swap (no lost updates between nodes). Secret material
// (private keys, TOTP seeds, upstream tokens) arrives here already sealed by internal/secrets;
// the store never sees it in plain form.
package store

import (
	"context"
	"errors"
	"time"
)

// Errors every backend returns (wrapped with context); test with errors.Is.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("already exists") // a uniqueness constraint was violated
)

// UserStatus is the account state of a user.
type UserStatus string

const (
	UserActive   UserStatus = "active"
	UserDisabled UserStatus = "disabled"
)

// User is a directory entry. UPN and ImmutableID are unique; UPN case-insensitively.
type User struct {
	ID           string // opaque, assigned by the caller (UUID)
	UPN          string
	DisplayName  string
	Email        string
	ImmutableID  string // Microsoft 365 NameIdentifier (base64 of 16 bytes by default)
	Status       UserStatus
	PasswordHash string // PHC string, argon2id; empty = no password
	// PasswordChangeRequired: the password was set by an administrator (or printed at init)
	// and must be replaced at the next sign-in.
	PasswordChangeRequired bool
	Groups                 []string // group names; filled on read, ignored on write (use memberships)
	CreatedAt              time.Time
	UpdatedAt              time.Time
	// Source names the directory connector the user is synchronised from ("" = a local user,
	// which no sync touches); SourceDN is the entry's DN there (the bind DN for password
	// checks); SourceMissingSince is when a sync first stopped finding it (zero while found);
	// SourceDisabled says the sync disabled it (only the sync enables it again).
	Source             string
	SourceDN           string
	SourceMissingSince time.Time
	SourceDisabled     bool
}

// Group is a named set of users.
type Group struct {
	ID          string
	Name        string // unique, case-insensitive
	Description string
	CreatedAt   time.Time
	// Source names the directory connector the group is synchronised from ("" = local);
	// SourceDN is its DN there.
	Source   string
	SourceDN string
}

// Application is a relying party (SAML SP, WS-Fed realm, OIDC client).
type Application struct {
	ID        string
	Name      string // unique, case-insensitive; used in policies
	Protocol  string // "saml", "wsfed", "oidc"
	EntityID  string // unique per protocol: SAML entity ID, WS-Fed realm, OIDC client_id
	Config    []byte // protocol-specific JSON document
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Network is a named set of CIDR ranges used by policies ("office", "exchange-online").
type Network struct {
	Name        string // unique, case-insensitive
	Description string
	CIDRs       []string
	UpdatedAt   time.Time
}

// PolicyVersion is one immutable revision of the access policy document (YAML).
type PolicyVersion struct {
	Version   int64 // assigned by the store: 1, 2, 3…
	Document  []byte
	Author    string
	Comment   string
	CreatedAt time.Time
}

// Device is a device certificate issued to one user and one named device.
type Device struct {
	ID          string
	UserID      string
	Name        string
	Platform    string
	Serial      string // certificate serial, hex; unique
	Status      string // issued, downloaded, in-use, revoked, replaced, expired
	CertDER     []byte
	NotBefore   time.Time
	NotAfter    time.Time
	IssuedAt    time.Time
	FirstSeenAt time.Time // zero until first seen at sign-in
	RevokedAt   time.Time // zero unless revoked
	ReplacedBy  string    // device ID of the renewal, if any
	Data        []byte    // sealed PKCS#12 awaiting download, download token hash, etc. (JSON)
}

// Session is a server-side SSO session. ID is the hash of the cookie value, never the value.
type Session struct {
	ID         string
	UserID     string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time // absolute lifetime end
	MFA        bool
	Data       []byte // JSON: authentication methods, applications signed in to (for SLO)
}

// KeyState is the lifecycle of a signing key.
type KeyState string

const (
	KeyNext    KeyState = "next"
	KeyCurrent KeyState = "current"
	KeyRetired KeyState = "retired"
)

// SigningKey is a private key (sealed) with its certificate.
type SigningKey struct {
	ID        string
	Purpose   string // "token", "device-ca", "tls-ca", "tls-server"
	State     KeyState
	SealedKey []byte // AES-256-GCM sealed PKCS#8 DER
	CertDER   []byte
	CreatedAt time.Time
	NotAfter  time.Time
	UpdatedAt time.Time
}

// SignInEvent is one gate decision, written before the protocol answer leaves.
type SignInEvent struct {
	ID               string // reference ID shown to the user on denial
	Time             time.Time
	UserID           string
	Username         string // the name as attempted
	Application      string
	Protocol         string // saml, wsfed, wstrust, oidc, bridge-imap…
	ClientType       string // browser, rich-client, legacy-proxied, active-direct, oidc, bridge-*
	LegacyApp        string // Exchange client application (ActiveSync, Imap…) when legacy-proxied
	EffectiveIP      string
	PeerIP           string
	ForwardedIP      string
	ForwardedTrusted bool
	ForgedHeaders    bool // forwarding headers from an untrusted peer were seen and ignored
	UserAgent        string
	DeviceSerial     string
	DeviceName       string
	MFA              bool
	Decision         string // allow, deny, mfa_required, device_required, error
	Rule             string // matched rule name
	Reason           string // stable reason code of the outcome (e.g. wrong_password)
	Trace            []byte // JSON trace from the policy engine
	PolicyVersion    int64
	LatencyMicros    int64
}

// SignInFilter selects sign-in events. Zero values mean "any".
type SignInFilter struct {
	Since, Until time.Time // Since inclusive, Until exclusive
	Username     string    // case-insensitive
	Application  string
	ClientType   string
	Decision     string
	IP           string // matches effective, peer or forwarded IP
	Limit        int    // 0 = no limit
}

// AdminEvent is one entry of the admin audit log: a change made through an administrative
// interface, with the state of what it changed before and after (JSON; secrets never).
type AdminEvent struct {
	ID     string
	Time   time.Time
	Actor  string // the administrator (UPN), or "os:<user>" for the CLI on the server
	Via    string // cli, console, api
	Action string // e.g. user.add, network.set, policy.publish
	Target string // what was changed (UPN, network name, policy version…)
	Before []byte // JSON, nil when the object did not exist
	After  []byte // JSON, nil when the object no longer exists
}

// AdminEventFilter selects admin audit entries. Zero values mean "any".
type AdminEventFilter struct {
	Since, Until time.Time // Since inclusive, Until exclusive
	Actor        string
	Action       string // exact, or a prefix ending in "." ("user.")
	Target       string
	Limit        int // 0 = no limit; the newest Limit entries
}

// APIToken is a bearer token of the admin API. The secret is never stored: Hash is its keyed
// hash. A token acts as its owner (UserID) with at most Role; Revoked tokens are kept.
type APIToken struct {
	ID         string
	Name       string // what it is for, as its creator said
	UserID     string // the owner: the token is refused once the owner is disabled or deleted
	Role       string // admin, helpdesk or auditor
	Hash       []byte
	CreatedBy  string // the administrator who created it
	CreatedAt  time.Time
	ExpiresAt  time.Time
	LastUsedAt time.Time // zero until first used
	LastIP     string    // the client address of the last recorded use
	RevokedAt  time.Time // zero while in force
}

// SCIMToken is the bearer token of one SCIM 2.0 provisioning connector (docs/directory.md).
// The secret is never stored: Hash is its keyed hash; ID, in the bearer value, finds the row.
// A connector has at most one token: issuing another replaces it.
type SCIMToken struct {
	Connector  string // the connector's name; its users' Source is "scim:" + Connector
	ID         string
	Hash       []byte
	CreatedBy  string
	CreatedAt  time.Time
	LastUsedAt time.Time // zero until first used
	LastIP     string    // the client address of the last recorded use
	RevokedAt  time.Time // zero while in force
}

// BridgeCredential is an app password of the mail bridge (docs/mail-bridge.md): one device
// or program of a user (a printer, a script), scoped to mail protocols and sender addresses.
// The secret is never stored: Hash is its keyed hash, unique, which finds the row.
type BridgeCredential struct {
	ID         string
	UserID     string   // deleted with the user
	Name       string   // unique per user: what it is for ("printer-3f")
	Scopes     []string // imap, pop, smtp-send
	From       []string // the sender addresses smtp-send may use; empty: the user's own
	Hash       []byte
	CreatedBy  string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	LastUsedAt time.Time // zero until first used
	LastIP     string    // the client address of the last use
	RevokedAt  time.Time // zero while in force
}

// BridgeUpstreamGrant is what the mail bridge holds to get OAuth access tokens for one
// user's mailbox from one upstream profile: a sealed document (refresh token and the current
// access token), changed under a row lock so that one node refreshes at a time.
type BridgeUpstreamGrant struct {
	Profile   string
	UserID    string // deleted with the user
	Sealed    []byte
	UpdatedAt time.Time
}

// RefreshTokenState is the lifecycle of an OpenID Connect refresh token.
type RefreshTokenState string

const (
	RefreshActive  RefreshTokenState = "active"  // may be presented (once)
	RefreshRotated RefreshTokenState = "rotated" // presented and replaced by the next of its family
	RefreshRevoked RefreshTokenState = "revoked" // its family was revoked (reuse, a revocation request)
)

// RefreshToken is one OpenID Connect refresh token. The token itself is never stored: Hash
// is its SHA-256 (the token is 256 random bits). A family is every token of one grant, the
// first and its rotations; the grant's context (AuthTime, AMR, MFA, SessionID) is carried from
// token to token so that a refresh is judged and described as the original sign-in was.
type RefreshToken struct {
	Hash      []byte
	FamilyID  string
	ClientID  string
	UserID    string // the token is deleted with its user
	Scopes    []string
	State     RefreshTokenState
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // when it was rotated or revoked; zero while active
	AuthTime  time.Time // when the user last proved a credential, at the authorization
	AMR       []string  // RFC 8176 methods of that sign-in
	MFA       bool
	SessionID string // the SSO session's public reference at the authorization (sid)
}

// DeviceCodeState is the lifecycle of an OpenID Connect device authorization (RFC 8628).
type DeviceCodeState string

const (
	DevicePending  DeviceCodeState = "pending"  // the user has not decided yet
	DeviceApproved DeviceCodeState = "approved" // the user signed in and the gate allowed: the device may redeem it once
	DeviceDenied   DeviceCodeState = "denied"   // the user refused, or the gate did
	DeviceRedeemed DeviceCodeState = "redeemed" // the device received its tokens
)

// DeviceCode is one device authorization: the device code (Hash is its SHA-256; the code is
// 256 random bits), the user code typed in the browser, the client and scopes, the polling
// state, and once approved who signed in, how, and the gate's record (EventID).
type DeviceCode struct {
	Hash      []byte
	UserCode  string
	ClientID  string
	Scopes    []string
	State     DeviceCodeState
	CreatedAt time.Time
	ExpiresAt time.Time
	PolledAt  time.Time // the device's last poll; zero before the first
	Interval  int       // seconds the device must wait between polls (raised by slow_down)
	UserID    string
	AuthTime  time.Time
	AMR       []string
	MFA       bool
	EventID   string
	SessionID string
}

// Page asks for one page of a keyset-paginated listing.
type Page struct {
	After string // the Next of the previous page; "" for the first page
	Limit int    // 0 means the backend default (100)
}

// Store is the whole persistence contract. Every method takes the request's context.
type Store interface {
	// Users. GetUserByUPN is case-insensitive.
	CreateUser(ctx context.Context, u User) error
	GetUser(ctx context.Context, id string) (User, error)
	GetUserByUPN(ctx context.Context, upn string) (User, error)
	GetUserByImmutableID(ctx context.Context, immutableID string) (User, error)
	ListUsers(ctx context.Context, p Page) (users []User, next string, err error) // ordered by UPN
	UpdateUser(ctx context.Context, id string, fn func(User) (User, error)) (User, error)
	DeleteUser(ctx context.Context, id string) error

	// Groups and memberships.
	CreateGroup(ctx context.Context, g Group) error
	GetGroup(ctx context.Context, name string) (Group, error)
	ListGroups(ctx context.Context) ([]Group, error)
	// UpdateGroup changes a group's name, description and SourceDN under a lock (its ID,
	// memberships and source stay); a new name another group has is ErrConflict.
	UpdateGroup(ctx context.Context, name string, fn func(Group) (Group, error)) (Group, error)
	DeleteGroup(ctx context.Context, name string) error
	AddMember(ctx context.Context, group, userID string) error
	RemoveMember(ctx context.Context, group, userID string) error
	ListMembers(ctx context.Context, group string) ([]User, error)

	// Applications.
	CreateApplication(ctx context.Context, a Application) error
	GetApplication(ctx context.Context, name string) (Application, error)
	GetApplicationByEntityID(ctx context.Context, protocol, entityID string) (Application, error)
	ListApplications(ctx context.Context) ([]Application, error)
	UpdateApplication(ctx context.Context, name string, fn func(Application) (Application, error)) (Application, error)
	DeleteApplication(ctx context.Context, name string) error

	// Networks.
	PutNetwork(ctx context.Context, n Network) error // create or replace
	GetNetwork(ctx context.Context, name string) (Network, error)
	ListNetworks(ctx context.Context) ([]Network, error)
	DeleteNetwork(ctx context.Context, name string) error

	// Policy versions (append-only).
	AddPolicyVersion(ctx context.Context, p PolicyVersion) (PolicyVersion, error)
	GetPolicyVersion(ctx context.Context, version int64) (PolicyVersion, error)
	LatestPolicyVersion(ctx context.Context) (PolicyVersion, error)
	ListPolicyVersions(ctx context.Context) ([]PolicyVersion, error) // newest first

	// Devices.
	CreateDevice(ctx context.Context, d Device) error
	GetDevice(ctx context.Context, id string) (Device, error)
	GetDeviceBySerial(ctx context.Context, serial string) (Device, error)
	ListDevices(ctx context.Context, userID string) ([]Device, error) // "" = all
	UpdateDevice(ctx context.Context, id string, fn func(Device) (Device, error)) (Device, error)

	// Sessions.
	CreateSession(ctx context.Context, s Session) error
	GetSession(ctx context.Context, id string) (Session, error)
	UpdateSession(ctx context.Context, id string, fn func(Session) (Session, error)) (Session, error)
	DeleteSession(ctx context.Context, id string) error
	DeleteUserSessions(ctx context.Context, userID string) (int64, error)
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error)

	// Signing keys.
	CreateSigningKey(ctx context.Context, k SigningKey) error
	ListSigningKeys(ctx context.Context, purpose string) ([]SigningKey, error) // oldest first
	UpdateSigningKey(ctx context.Context, id string, fn func(SigningKey) (SigningKey, error)) (SigningKey, error)
	DeleteSigningKey(ctx context.Context, id string) error

	// Sign-in events.
	AddSignIn(ctx context.Context, e SignInEvent) error
	// AddSignIns appends events in one transaction: all of them or none (the error of the
	// first that failed).
	AddSignIns(ctx context.Context, es []SignInEvent) error
	GetSignIn(ctx context.Context, id string) (SignInEvent, error)
	ListSignIns(ctx context.Context, f SignInFilter) ([]SignInEvent, error) // oldest first
	EachSignIn(ctx context.Context, f SignInFilter, fn func(SignInEvent) error) error
	PruneSignIns(ctx context.Context, before time.Time) (int64, error)

	// Admin audit log: written in the same transaction as the change it describes.
	AddAdminEvent(ctx context.Context, e AdminEvent) error
	ListAdminEvents(ctx context.Context, f AdminEventFilter) ([]AdminEvent, error) // oldest first

	// Admin API tokens (deleted with their owner). UpdateAPIToken changes the use and
	// revocation fields only.
	CreateAPIToken(ctx context.Context, t APIToken) error
	GetAPIToken(ctx context.Context, id string) (APIToken, error)
	ListAPITokens(ctx context.Context) ([]APIToken, error) // oldest first
	UpdateAPIToken(ctx context.Context, id string, fn func(APIToken) (APIToken, error)) (APIToken, error)

	// SCIM connectors' tokens. PutSCIMToken creates the connector's token or replaces it (a
	// new ID and hash, use and revocation cleared); GetSCIMToken finds one by ID;
	// UpdateSCIMToken changes the use and revocation fields only.
	PutSCIMToken(ctx context.Context, t SCIMToken) error
	GetSCIMToken(ctx context.Context, id string) (SCIMToken, error)
	ListSCIMTokens(ctx context.Context) ([]SCIMToken, error) // by connector name
	UpdateSCIMToken(ctx context.Context, connector string, fn func(SCIMToken) (SCIMToken, error)) (SCIMToken, error)

	// Mail bridge app passwords (deleted with their owner). A credential's name is unique
	// for its user (ErrConflict); GetBridgeCredentialByHash finds one by its keyed hash;
	// ListBridgeCredentials lists one user's ("" for everyone's), oldest first;
	// UpdateBridgeCredential changes the use, expiry and revocation fields only.
	CreateBridgeCredential(ctx context.Context, c BridgeCredential) error
	GetBridgeCredential(ctx context.Context, id string) (BridgeCredential, error)
	GetBridgeCredentialByHash(ctx context.Context, hash []byte) (BridgeCredential, error)
	ListBridgeCredentials(ctx context.Context, userID string) ([]BridgeCredential, error)
	UpdateBridgeCredential(ctx context.Context, id string, fn func(BridgeCredential) (BridgeCredential, error)) (BridgeCredential, error)
	// Mail bridge upstream grants, one per profile and user. UpdateBridgeUpstreamGrant runs fn
	// with the row locked (fn gets ErrNotFound's zero row with found false when there is
	// none; a nil Sealed result deletes it).
	GetBridgeUpstreamGrant(ctx context.Context, profile, userID string) (BridgeUpstreamGrant, error)
	ListBridgeUpstreamGrants(ctx context.Context, profile string) ([]BridgeUpstreamGrant, error)
	UpdateBridgeUpstreamGrant(ctx context.Context, profile, userID string, fn func(old BridgeUpstreamGrant, found bool) (BridgeUpstreamGrant, error)) (BridgeUpstreamGrant, error)

	// OpenID Connect refresh tokens, by the SHA-256 of the token. RotateRefreshToken marks
	// the active token oldHash rotated and stores next (of the same family) in one
	// transaction, or changes nothing and returns ErrNotFound when oldHash is not an active
	// token of next's family (rotated or revoked meanwhile: the caller reads why). Revoking a
	// family revokes every token of it; a removed client's tokens are deleted.
	// RefreshFamilyLive reports whether a family has a token and none is revoked.
	CreateRefreshToken(ctx context.Context, t RefreshToken) error
	GetRefreshToken(ctx context.Context, hash []byte) (RefreshToken, error)
	RotateRefreshToken(ctx context.Context, oldHash []byte, next RefreshToken) error
	RevokeRefreshFamily(ctx context.Context, familyID string, at time.Time) (int64, error)
	RefreshFamilyLive(ctx context.Context, familyID string) (bool, error)
	DeleteClientRefreshTokens(ctx context.Context, clientID string) (int64, error)
	// Revoked OpenID Connect access tokens, by token ID (jti), until they expire. Revoking one
	// twice is not an error.
	RevokeAccessToken(ctx context.Context, tokenID, clientID string, at, expires time.Time) error
	AccessTokenRevoked(ctx context.Context, tokenID string) (bool, error)
	// OpenID Connect device authorizations: a new one (ErrConflict when its user code is taken
	// by one not expired), found by user code, and changed in one transaction by fn (the row
	// locked meanwhile; fn's error changes nothing and is returned).
	CreateDeviceCode(ctx context.Context, d DeviceCode) error
	GetDeviceCodeByUserCode(ctx context.Context, userCode string) (DeviceCode, error)
	UpdateDeviceCode(ctx context.Context, hash []byte, fn func(DeviceCode) (DeviceCode, error)) (DeviceCode, error)
	// PruneOIDCTokens deletes refresh tokens, revoked access tokens and device authorizations
	// that expired before.
	PruneOIDCTokens(ctx context.Context, before time.Time) (int64, error)

	// Per-user state documents. Second factors: one sealed document per user (nil deletes).
	// Lockout: read-modify-write under a lock; fn gets nil when there is no state yet, and a
	// nil result deletes it. Both are deleted with the user.
	GetUserFactors(ctx context.Context, userID string) ([]byte, error)
	PutUserFactors(ctx context.Context, userID string, sealed []byte) error
	UpdateUserFactors(ctx context.Context, userID string, fn func(old []byte) ([]byte, error)) error
	GetLockout(ctx context.Context, userID string) ([]byte, error)
	UpdateLockout(ctx context.Context, userID string, fn func(old []byte) ([]byte, error)) error

	// UseOnce records key until expires and reports whether it was new: replay protection for
	// SAML request IDs, TOTP codes, download tokens. Expired keys may be reused.
	UseOnce(ctx context.Context, key string, expires time.Time) (bool, error)

	// InTx runs fn in one transaction: all of fn's writes land or none do.
	InTx(ctx context.Context, fn func(tx Store) error) error
	// Lock, inside InTx, holds an exclusive lock on name until the transaction ends, so that
	// "create it if nobody has" runs once across every node (outside a transaction: an error).
	Lock(ctx context.Context, name string) error

	// ConfigVersion returns a number that moves forward with every change to what nodes
	// cache: applications (and Microsoft 365 domains), networks, policy versions, signing keys
	// and devices, whoever wrote it (the database's triggers move it), so a running node
	// knows when to drop its caches.
	ConfigVersion(ctx context.Context) (int64, error)

	// Ping reports whether the backend is reachable (readiness).
	Ping(ctx context.Context) error
	Close() error
}
