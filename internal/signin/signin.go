// Package signin is the contract between protocol adapters (saml, wsfed, wstrust, oidc,
// bridge) and the one gate every sign-in passes: authentication, client context, policy,
// and the sign-in record. Adapters know their protocol; the gate knows everything else.
package signin

import (
	"context"
	"net/http"
	"net/netip"
	"time"

	"github.com/sekisho/sekisho/internal/store"
)

// Endpoint tells the gate which kind of door the request came through; it decides which
// client-context headers may be honoured (X-MS-* only on the active endpoint).
type Endpoint string

const (
	Passive Endpoint = "passive" // browser flows: SAML, WS-Fed passive, OIDC authorize
	Active  Endpoint = "active"  // WS-Trust usernamemixed (Exchange Online proxy or MSAL)
)

// Sekisho's own applications: its pages pass the gate under these names like any other
// application, so the policy decides who may use them, from where, and with which factors.
const (
	AppAdmin   = "sekisho-admin"   // the admin console and admin API
	AppAccount = "sekisho-account" // the user portal: home, security page, enrolment, device downloads
	AppSCIM    = "sekisho-scim"    // the SCIM 2.0 provisioning door (/scim/v2), judged as the connector (Attempt.Client)
)

// Attempt is one sign-in to one application.
type Attempt struct {
	Protocol    string // "saml", "wsfed", "wstrust", "oidc"
	Application string // registered application name ("microsoft365" for M365 domains)
	Endpoint    Endpoint
	HTTP        *http.Request // the inbound request: peer address, headers, TLS state
	// Either a password (active flows) or an authenticated session (passive flows)…
	Username string
	Password string
	Session  *Session
	// …or, for an application acting in its own name with no user (OAuth 2.0
	// client_credentials), the client_id of a client the adapter has authenticated (its
	// secret). The gate then judges the client itself: the application, protocol, client type,
	// the caller's address, device certificate and time, with no user — a rule naming users or
	// groups never matches it, mfa is false, so require_mfa refuses it (a client has no second
	// factor), and no certificate is ever bound to it, so require_device refuses it too. The
	// record names the client_id as the name attempted and no user.
	Client string

	// AppPassword: Password is not the user's own password but one of the user's mail
	// bridge app passwords (a device credential), checked by the gate's AppPasswords verifier
	// for this protocol's door, with the same smart lockout as a password. The record names
	// the credential in its device field; the directory password never opens a bridge door.
	AppPassword bool
}

// Session is an authenticated SSO session as the passive adapters see it.
type Session struct {
	ID           string // opaque session ID (for SessionIndex; not the cookie value)
	UserID       string
	AuthnInstant time.Time
	MFA          bool
	// Methods are the methods the session was proven with, in order: "pwd", then any of
	// "totp", "emergency", "webauthn" (OpenID Connect's amr claim is made from them).
	Methods []string
}

// Decision is the kind of verdict, as the sign-in record stores it.
type Decision string

const (
	Allow          Decision = "allow"
	Deny           Decision = "deny"
	MFARequired    Decision = "mfa_required"    // the policy asks for a second factor not given
	DeviceRequired Decision = "device_required" // the policy asks for a valid device certificate
	Error          Decision = "error"           // a part of Sekisho failed, or the request was malformed
)

// Reason is a stable code saying why (in the record, the CLI and the reports). Protocol
// packages add their own (m365: domain_not_federated, no_immutable_id, method_not_allowed…).
type Reason string

const (
	ReasonPolicy     Reason = "policy"      // the policy decided (the record names the rule)
	ReasonBreakGlass Reason = "break_glass" // allowed by a break-glass rule (flagged)
	ReasonNoPolicy   Reason = "no_policy"   // no policy is published: nothing is allowed

	ReasonWrongPassword Reason = "wrong_password"
	ReasonUnknownUser   Reason = "unknown_user"
	ReasonDisabled      Reason = "disabled"
	ReasonLocked        Reason = "locked" // smart lockout; answered like a wrong password
	ReasonNoSession     Reason = "no_session"
	ReasonNotAdmin      Reason = "not_admin" // the console is for members of sekisho-admins only

	ReasonMFAFailed      Reason = "mfa_failed"              // a wrong or reused second-factor code
	ReasonMFANotEnrolled Reason = "mfa_not_enrolled"        // the policy asks for a factor the user has not set up
	ReasonPasskeyCloned  Reason = "webauthn_clone_detected" // a passkey's signature counter went back

	ReasonRejected Reason = "rejected_request" // a malformed, unsigned, replayed or unknown message ("rejected_request: detail")

	ReasonAuditUnavailable       Reason = "audit_unavailable" // the record could not be written: no record, no access
	ReasonPolicyUnavailable      Reason = "policy_unavailable"
	ReasonDeviceCheckUnavailable Reason = "device_check_unavailable"
	ReasonLockoutUnavailable     Reason = "lockout_unavailable"
	ReasonDirectoryError         Reason = "directory_error"
)

// Outcome is the gate's verdict. Adapters issue a token only when Allowed is true.
type Outcome struct {
	Allowed        bool
	Decision       Decision
	Reason         Reason
	Message        string // text the admin allows users to see (may be empty)
	EventID        string // reference ID of the sign-in record (shown on denial pages)
	User           store.User
	MFA            bool       // a second factor was used in this session
	AuthnInstant   time.Time  // when the user last proved a credential
	InsideNetworks []string   // named networks containing the client IP
	ClientIP       netip.Addr // the client's effective address as the gate resolved it
	// StepUpMFA: the policy asks for a second factor this session has not given (alone or
	// with a device), so a browser should be sent to the second-factor step.
	StepUpMFA bool
	// Credential is the app password an AppPassword attempt presented, whenever the gate
	// recognised it (a refused one too: revoked, expired, out of scope).
	Credential store.BridgeCredential
}

// Gate authenticates the attempt (password, or the given session), resolves the client
// context, evaluates the policy and writes the sign-in record before returning.
// A nil error with Allowed=false is a normal denial; an error means the gate itself failed.
type Gate interface {
	Check(ctx context.Context, a Attempt) (Outcome, error)
}

// SessionOptions says what a passive adapter needs from the browser's SSO session.
type SessionOptions struct {
	ForceAuthn  bool   // the relying party asked for a fresh credential (ForceAuthn, wfresh=0)
	LoginHint   string // pre-fills the user name
	ReturnTo    string // local path (with query) the sign-in page returns to when done
	Application string
	// RequireMFA asks for a second factor whatever the policy says (an OpenID Connect client's
	// acr_values asking for multi-factor authentication): a session without one is sent to the
	// second-factor step.
	RequireMFA bool
}

// Why a session cannot be used without showing the browser a page (OpenID Connect
// prompt=none answers these to the client).
const (
	LoginRequired       = "login_required"       // no session, or one too old for the request
	InteractionRequired = "interaction_required" // a session, but a second factor must be given first
)

// EndedSession is a browser session that has ended (Sekisho's sign-out, a SAML single logout,
// an OpenID Connect client's logout request): its public reference (SAML's SessionIndex,
// OpenID Connect's sid), its user and the applications it signed in to.
type EndedSession struct {
	ID     string
	UserID string
	Apps   []string
}

// SilentSessions is implemented by a Sessions that can answer without any page: the
// browser's session if it can be used as it is, or why not (LoginRequired,
// InteractionRequired). Nothing is written to the browser.
type SilentSessions interface {
	Silent(r *http.Request, opts SessionOptions) (*Session, string)
}

// Sessions gives passive adapters the browser's SSO session. When there is no usable
// session, Require sends the browser to the sign-in page (which returns to opts.ReturnTo)
// and reports false; the adapter must then stop handling the request.
type Sessions interface {
	Require(w http.ResponseWriter, r *http.Request, opts SessionOptions) (*Session, bool)
	// End ends the browser's session everywhere (single logout) and returns the
	// applications it had signed in to.
	End(ctx context.Context, w http.ResponseWriter, r *http.Request) ([]string, error)
}

// AssertionID is the ID of the token issued for the sign-in record eventID: "_" and the
// record's ID (an xs:ID may not start with a digit), so a token seen by a relying party, a
// client or Entra's logs leads to its record, and a client can check that every token it was
// given has one. Empty when there is no record ID (a fresh random ID is used then).
func AssertionID(eventID string) string {
	if eventID == "" {
		return ""
	}
	return "_" + eventID
}
