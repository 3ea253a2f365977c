// Package passkey is the WebAuthn second factor (passkeys and security keys): registration
// and assertion ceremonies with github.com/go-webauthn/webauthn, credentials kept in the
// user's sealed factors document (factors.Credential, via CredentialStore).
//
// Ceremony state. Begin returns the browser's options and an opaque state token; Finish
// takes both back. The token is the library's SessionData (challenge, allowed credentials,
// user handle) sealed with the master key under AAD "passkey:<kind>:<userID>:<binding>",
// where binding is the SSO session's store ID: a token is useless to another user, another
// session, or the other ceremony, and cannot be read or altered by the browser. It expires
// after Timeout, and Finish claims its challenge with store.UseOnce before verifying, so a
// token is spent by its first use — on every node — whether or not that use succeeds.
// Nothing is written to the store at Begin, so unauthenticated floods cost no storage.
package passkey

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/sekisho/sekisho/internal/authn/factors"
	"github.com/sekisho/sekisho/internal/secrets"
)

// Errors callers test with errors.Is.
var (
	ErrNoCredentials = errors.New("passkey: no credential registered")
	ErrState         = errors.New("passkey: ceremony state invalid, expired or already used")
	ErrVerify        = errors.New("passkey: the authenticator's response did not verify")
	ErrCloned        = errors.New("passkey: signature counter did not increase (possible cloned authenticator)")
)

// CredentialStore keeps the credentials; *factors.Manager implements it.
type CredentialStore interface {
	AddWebAuthn(ctx context.Context, userID string, c factors.Credential) error
	WebAuthnCredentials(ctx context.Context, userID string) ([]factors.Credential, error)
	UpdateWebAuthn(ctx context.Context, userID string, credID []byte, signCount uint32, flags byte, now time.Time) error
}

// OnceStore is the part of store.Store that makes a ceremony single-use.
type OnceStore interface {
	UseOnce(ctx context.Context, key string, expires time.Time) (bool, error)
}

// Config configures a Service.
type Config struct {
	BaseURL     string // https://idp.example.com[:port]; RP ID is its host name, the origin its scheme://host[:port]
	RPName      string // shown by the authenticator; default "Sekisho"
	Credentials CredentialStore
	Once        OnceStore
	Sealer      *secrets.Sealer
	Timeout     time.Duration    // ceremony lifetime; default 5 minutes
	Now         func() time.Time // default time.Now
}

// Service runs the ceremonies.
type Service struct {
	cfg Config
	wa  *webauthn.WebAuthn
}

// User is who a ceremony is for: the signed-in user of the SSO session.
type User struct {
	ID          string // store user ID; the WebAuthn user handle
	Name        string // UPN
	DisplayName string
}

// New validates cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Credentials == nil || cfg.Once == nil || cfg.Sealer == nil {
		return nil, errors.New("passkey: Credentials, Once and Sealer are required")
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || u.Scheme != "https" || u.Hostname() == "" {
		return nil, fmt.Errorf("passkey: base URL %q must be https://host[:port]", cfg.BaseURL)
	}
	if cfg.RPName == "" {
		cfg.RPName = "Sekisho"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	pref := protocol.VerificationPreferred
	wa, err := webauthn.New(&webauthn.Config{
		RPID:                  u.Hostname(),
		RPDisplayName:         cfg.RPName,
		RPOrigins:             []string{u.Scheme + "://" + u.Host},
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementPreferred, UserVerification: pref},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Enforce: true, Timeout: cfg.Timeout, TimeoutUVD: cfg.Timeout},
			Registration: webauthn.TimeoutConfig{Enforce: true, Timeout: cfg.Timeout, TimeoutUVD: cfg.Timeout},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("passkey: %w", err)
	}
	return &Service{cfg: cfg, wa: wa}, nil
}

// RPID is the relying party ID (the base URL's host name).
func (s *Service) RPID() string { return s.wa.Config.RPID }

// Enrolled reports whether the user has a WebAuthn credential; the second-factor step offers
// "webauthn" when it does.
func (s *Service) Enrolled(ctx context.Context, userID string) (bool, error) {
	cs, err := s.cfg.Credentials.WebAuthnCredentials(ctx, userID)
	if err != nil {
		return false, err
	}
	return len(cs) > 0, nil
}

// waUser adapts a User and its stored credentials to webauthn.User.
type waUser struct {
	u     User
	creds []webauthn.Credential
}

func (w waUser) WebAuthnID() []byte                         { return []byte(w.u.ID) }
func (w waUser) WebAuthnName() string                       { return w.u.Name }
func (w waUser) WebAuthnDisplayName() string                { return w.u.DisplayName }
func (w waUser) WebAuthnCredentials() []webauthn.Credential { return w.creds }

func (s *Service) load(ctx context.Context, u User) (waUser, error) {
	if u.ID == "" || len(u.ID) > 64 {
		return waUser{}, fmt.Errorf("passkey: user ID must be 1-64 bytes (the WebAuthn user handle)")
	}
	stored, err := s.cfg.Credentials.WebAuthnCredentials(ctx, u.ID)
	if err != nil {
		return waUser{}, fmt.Errorf("passkey: credentials of %s: %w", u.ID, err)
	}
	w := waUser{u: u}
	for _, c := range stored {
		w.creds = append(w.creds, toLibrary(c))
	}
	return w, nil
}

func toLibrary(c factors.Credential) webauthn.Credential {
	tr := make([]protocol.AuthenticatorTransport, len(c.Transports))
	for i, t := range c.Transports {
		tr[i] = protocol.AuthenticatorTransport(t)
	}
	return webauthn.Credential{ID: c.ID, PublicKey: c.PublicKey, AttestationType: c.AttestationType,
		AttestationFormat: c.AttestationFmt, Transport: tr, Flags: webauthn.NewCredentialFlags(protocol.AuthenticatorFlags(c.Flags)),
		Authenticator: webauthn.Authenticator{AAGUID: c.AAGUID, SignCount: c.SignCount, Attachment: protocol.AuthenticatorAttachment(c.Attachment)}}
}

func fromLibrary(c *webauthn.Credential, name string, now time.Time) factors.Credential {
	tr := make([]string, len(c.Transport))
	for i, t := range c.Transport {
		tr[i] = string(t)
	}
	return factors.Credential{ID: c.ID, PublicKey: c.PublicKey, AttestationType: c.AttestationType, AttestationFmt: c.AttestationFormat,
		Transports: tr, AAGUID: c.Authenticator.AAGUID, Attachment: string(c.Authenticator.Attachment),
		SignCount: c.Authenticator.SignCount, Flags: byte(c.Flags.ProtocolValue()), Name: name, CreatedAt: now.UTC()}
}

const (
	kindRegister = "register"
	kindLogin    = "login"
)

// state is the sealed content of a state token.
type state struct {
	Expires time.Time            `json:"exp"`
	Data    webauthn.SessionData `json:"data"`
}

func stateAAD(kind, userID, binding string) []byte {
	return []byte("passkey:" + kind + ":" + userID + ":" + binding)
}

func (s *Service) seal(kind string, u User, binding string, sd *webauthn.SessionData) (string, error) {
	plain, err := json.Marshal(state{Expires: s.cfg.Now().Add(s.cfg.Timeout).UTC(), Data: *sd})
	if err != nil {
		return "", fmt.Errorf("passkey: encode state: %w", err)
	}
	sealed, err := s.cfg.Sealer.Seal(plain, stateAAD(kind, u.ID, binding))
	if err != nil {
		return "", fmt.Errorf("passkey: seal state: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(sealed), nil
}

// maxState bounds a state token (a few hundred bytes in practice).
const maxState = 8 << 10

// open checks a state token and spends it. Any failure is ErrState (wrapped).
func (s *Service) open(ctx context.Context, kind string, u User, binding, token string) (webauthn.SessionData, error) {
	if token == "" || len(token) > maxState {
		return webauthn.SessionData{}, ErrState
	}
	sealed, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return webauthn.SessionData{}, fmt.Errorf("%w: %v", ErrState, err)
	}
	plain, err := s.cfg.Sealer.Open(sealed, stateAAD(kind, u.ID, binding))
	if err != nil {
		return webauthn.SessionData{}, fmt.Errorf("%w: %v", ErrState, err)
	}
	var st state
	if err := json.Unmarshal(plain, &st); err != nil || st.Data.Challenge == "" {
		return webauthn.SessionData{}, fmt.Errorf("%w: malformed", ErrState)
	}
	if !s.cfg.Now().Before(st.Expires) {
		return webauthn.SessionData{}, fmt.Errorf("%w: expired", ErrState)
	}
	fresh, err := s.cfg.Once.UseOnce(ctx, "passkey:"+kind+":"+st.Data.Challenge, st.Expires.Add(time.Minute))
	if err != nil {
		return webauthn.SessionData{}, fmt.Errorf("passkey: single-use check: %w", err)
	}
	if !fresh {
		return webauthn.SessionData{}, fmt.Errorf("%w: already used", ErrState)
	}
	return st.Data, nil
}

// BeginRegistration starts registering a new credential for u. binding is the SSO session's
// store ID. It returns the JSON to pass to navigator.credentials.create ({"publicKey": …},
// binary fields base64url) and the state token for FinishRegistration.
func (s *Service) BeginRegistration(ctx context.Context, u User, binding string) (options json.RawMessage, token string, err error) {
	w, err := s.load(ctx, u)
	if err != nil {
		return nil, "", err
	}
	if len(w.creds) >= factors.MaxWebAuthn {
		return nil, "", factors.ErrTooManyCredentials
	}
	// Exclude the user's credentials so one authenticator is not registered twice.
	creation, sd, err := s.wa.BeginRegistration(w, webauthn.WithExclusions(webauthn.Credentials(w.creds).CredentialDescriptors()))
	if err != nil {
		return nil, "", fmt.Errorf("passkey: begin registration: %w", err)
	}
	return s.finishBegin(kindRegister, u, binding, creation, sd)
}

func (s *Service) finishBegin(kind string, u User, binding string, opts any, sd *webauthn.SessionData) (json.RawMessage, string, error) {
	b, err := json.Marshal(opts)
	if err != nil {
		return nil, "", fmt.Errorf("passkey: encode options: %w", err)
	}
	tok, err := s.seal(kind, u, binding, sd)
	if err != nil {
		return nil, "", err
	}
	return b, tok, nil
}

// FinishRegistration verifies the browser's PublicKeyCredential JSON (response) against the
// state token and stores the credential under name (trimmed to 64 characters).
func (s *Service) FinishRegistration(ctx context.Context, u User, binding, token string, response []byte, name string) (factors.Credential, error) {
	cred, err := verified(ctx, s, kindRegister, u, binding, token, response,
		protocol.ParseCredentialCreationResponseBytes, s.wa.CreateCredential)
	if err != nil {
		return factors.Credential{}, err
	}
	c := fromLibrary(cred, cleanName(name), s.cfg.Now())
	if err := s.cfg.Credentials.AddWebAuthn(ctx, u.ID, c); err != nil {
		return factors.Credential{}, fmt.Errorf("passkey: store credential: %w", err)
	}
	return c, nil
}

// BeginLogin starts an assertion with the user's credentials (ErrNoCredentials when none).
func (s *Service) BeginLogin(ctx context.Context, u User, binding string) (options json.RawMessage, token string, err error) {
	w, err := s.load(ctx, u)
	if err != nil {
		return nil, "", err
	}
	if len(w.creds) == 0 {
		return nil, "", ErrNoCredentials
	}
	assertion, sd, err := s.wa.BeginLogin(w, webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return nil, "", fmt.Errorf("passkey: begin login: %w", err)
	}
	return s.finishBegin(kindLogin, u, binding, assertion, sd)
}

// FinishLogin verifies an assertion, records the new signature counter and returns the
// credential used. A counter that did not increase is ErrCloned and the sign-in fails.
func (s *Service) FinishLogin(ctx context.Context, u User, binding, token string, response []byte) (factors.Credential, error) {
	cred, err := verified(ctx, s, kindLogin, u, binding, token, response,
		protocol.ParseCredentialRequestResponseBytes, s.wa.ValidateLogin)
	if err != nil {
		return factors.Credential{}, err
	}
	if cred.Authenticator.CloneWarning {
		return factors.Credential{}, ErrCloned
	}
	now := s.cfg.Now()
	err = s.cfg.Credentials.UpdateWebAuthn(ctx, u.ID, cred.ID, cred.Authenticator.SignCount, byte(cred.Flags.ProtocolValue()), now)
	if errors.Is(err, factors.ErrCounterRegressed) {
		return factors.Credential{}, ErrCloned // another node accepted this counter value first
	} else if err != nil {
		return factors.Credential{}, fmt.Errorf("passkey: record use: %w", err)
	}
	out := fromLibrary(cred, "", now)
	return out, nil
}

// verified returns the credential a ceremony's response proves, checking in this order the
// state token, the browser's JSON (parse) and the authenticator's response against the
// user's credentials (verify).
func verified[P any](ctx context.Context, s *Service, kind string, u User, binding, token string, response []byte,
	parse func([]byte) (P, error), verify func(webauthn.User, webauthn.SessionData, P) (*webauthn.Credential, error)) (*webauthn.Credential, error) {
	sd, err := s.open(ctx, kind, u, binding, token)
	if err != nil {
		return nil, err
	}
	parsed, err := parse(response)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrVerify, describe(err))
	}
	w, err := s.load(ctx, u)
	if err != nil {
		return nil, err
	}
	cred, err := verify(w, sd, parsed)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrVerify, describe(err))
	}
	return cred, nil
}

// describe includes the library's detail, which says what failed (origin, challenge, signature).
func describe(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.DevInfo != "" {
		return pe.Error() + ": " + pe.DevInfo
	}
	return err.Error()
}

func cleanName(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
	for utf8.RuneCountInString(s) > 64 {
		_, n := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-n]
	}
	return s
}
