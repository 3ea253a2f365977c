package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/store"
)

// The provider's routes. The issuer is Sekisho's base URL, so discovery is at its root.
const (
	DiscoveryPath = "/.well-known/openid-configuration"
	KeysPath      = "/oidc/keys"
	AuthorizePath = "/oidc/authorize"
	TokenPath     = "/oidc/token"
	UserinfoPath  = "/oidc/userinfo"
	// RFC 7662 token introspection and RFC 7009 token revocation.
	IntrospectPath = "/oidc/introspect"
	RevokePath     = "/oidc/revoke"
	// RFC 8628: the device asks for codes here; the user enters the code at DevicePath.
	DeviceAuthorizationPath = "/oidc/device_authorization"
	DevicePath              = "/oidc/device"
	// RP-initiated logout (end_session_endpoint).
	LogoutPath = "/oidc/logout"
)

// Sekisho exports no traces. The library starts a span for every step of every request; its
// default, OpenTelemetry's global tracer with no provider set, allocates a span each time
// (about 1.5 KB per token grant), the no-op tracer nothing but a context.
func init() { op.Tracer = noop.NewTracerProvider().Tracer("github.com/zitadel/oidc/pkg/op") }

// Users reads the directory (store.Store implements it).
type Users interface {
	GetUser(ctx context.Context, id string) (store.User, error)
}

// ReplayCache records one-time keys (store.Store implements it).
type ReplayCache interface {
	UseOnce(ctx context.Context, key string, expires time.Time) (bool, error)
}

// TokenStore keeps what must outlive one request and be seen by every node (store.Store
// implements it): refresh tokens by their SHA-256, with their families, and the access tokens
// revoked before their expiry.
type TokenStore interface {
	CreateRefreshToken(ctx context.Context, t store.RefreshToken) error
	GetRefreshToken(ctx context.Context, hash []byte) (store.RefreshToken, error)
	RotateRefreshToken(ctx context.Context, oldHash []byte, next store.RefreshToken) error
	RevokeRefreshFamily(ctx context.Context, familyID string, at time.Time) (int64, error)
	RefreshFamilyLive(ctx context.Context, familyID string) (bool, error)
	RevokeAccessToken(ctx context.Context, tokenID, clientID string, at, expires time.Time) error
	AccessTokenRevoked(ctx context.Context, tokenID string) (bool, error)
	DeviceStore
}

// Audit records a request refused before or outside the gate (an unknown client, an
// unregistered redirect_uri, a replayed code, a wrong PKCE verifier…) and returns the
// record's reference ("" if none was written).
type Audit interface {
	RecordRejected(ctx context.Context, r *http.Request, app, username, reason string) (reference string)
}

// HandlerConfig wires the provider to the rest of Sekisho.
type HandlerConfig struct {
	Issuer   string // the base URL (https, no trailing slash)
	Apps     ApplicationStore
	Users    Users
	Keys     KeySource
	Secrets  *SecretHasher
	Sessions signin.Sessions
	Gate     signin.Gate
	Replay   ReplayCache
	Tokens   TokenStore
	Audit    Audit // optional
	// Derive returns a 32-byte key for a label, the same on every node (Sealer.Derive): the
	// sealed authorization state, the codes and the library's token encryption use their own.
	Derive func(label string) []byte
	// Denied and Failed render Sekisho's pages: a refusal with the record's reference (and
	// the message the policy lets users see), an error (a rejected request, 4xx, or a
	// failure of Sekisho, 5xx).
	Denied func(w http.ResponseWriter, r *http.Request, status int, message, reference string)
	Failed func(w http.ResponseWriter, r *http.Request, status int, reference string)
	// DevicePage renders the device grant's page for the user (device.go); CheckCSRF verifies
	// its form's CSRF token (without it, every POST is refused).
	DevicePage func(w http.ResponseWriter, r *http.Request, status int, v DeviceView)
	CheckCSRF  func(r *http.Request) bool
	// AppsByName finds the applications of an ended session (back-channel logout); without
	// it no logout tokens are sent. HTTPClient delivers them (default: 5 s, no redirects).
	AppsByName AppsByName
	HTTPClient *http.Client
	// SAMLLogout, if set, tells the ended session's SAML applications through the browser
	// (their single logout endpoints, in turn) before it goes to final; false: none to tell.
	SAMLLogout func(w http.ResponseWriter, r *http.Request, u store.User, apps []string, sessionIndex, final string) bool
	Clock      func() time.Time // default time.Now
	Logger     *slog.Logger     // default slog.Default()

	StateLifetime time.Duration // time to finish signing in (default 15 minutes)
	CodeLifetime  time.Duration // an authorization code's validity (default 1 minute)
}

// Handler is the OpenID Connect provider: discovery, JWKS, authorization (code + PKCE),
// token and userinfo endpoints. Mount its Routes on the server's mux.
type Handler struct {
	cfg   HandlerConfig
	op    *op.Provider
	state sealer
	codes sealer
	keys  tokenKeys
	// pairwise derives pairwise subjects (subject.go).
	pairwise []byte
	// logoutDone, in tests, hears when a back-channel logout's deliveries have all finished.
	logoutDone func(n int)
}

// NewHandler validates cfg and builds the provider.
func NewHandler(cfg HandlerConfig) (*Handler, error) {
	switch {
	case cfg.Issuer == "" || strings.HasSuffix(cfg.Issuer, "/"):
		return nil, errors.New("oidc handler: the issuer (base URL, no trailing slash) is required")
	case cfg.Apps == nil || cfg.Users == nil || cfg.Keys == nil || cfg.Secrets == nil || cfg.Sessions == nil ||
		cfg.Gate == nil || cfg.Replay == nil || cfg.Tokens == nil || cfg.Derive == nil:
		return nil, errors.New("oidc handler: Apps, Users, Keys, Secrets, Sessions, Gate, Replay, Tokens and Derive are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Denied == nil {
		cfg.Denied = func(w http.ResponseWriter, _ *http.Request, status int, _, ref string) {
			http.Error(w, "access denied; reference "+ref, status)
		}
	}
	if cfg.Failed == nil {
		cfg.Failed = func(w http.ResponseWriter, _ *http.Request, status int, ref string) {
			http.Error(w, "request refused; reference "+ref, status)
		}
	}
	if cfg.DevicePage == nil {
		cfg.DevicePage = func(w http.ResponseWriter, _ *http.Request, status int, v DeviceView) {
			w.WriteHeader(status)
			fmt.Fprintf(w, "device: %s %s %s %s", v.Step, v.UserCode, v.Application, v.ErrorKey)
		}
	}
	if cfg.CheckCSRF == nil {
		cfg.CheckCSRF = func(*http.Request) bool { return false }
	}
	if cfg.StateLifetime <= 0 {
		cfg.StateLifetime = 15 * time.Minute
	}
	if cfg.CodeLifetime <= 0 {
		cfg.CodeLifetime = time.Minute
	}
	h := &Handler{cfg: cfg, keys: tokenKeys{cfg.Keys}}
	var err error
	if h.state, err = newSealer(cfg.Derive("oidc-authorize-state")); err != nil {
		return nil, err
	}
	if h.codes, err = newSealer(cfg.Derive("oidc-codes")); err != nil {
		return nil, err
	}
	h.pairwise = cfg.Derive("oidc-pairwise-subjects")
	var cryptoKey [32]byte
	copy(cryptoKey[:], cfg.Derive("oidc-token-crypto"))
	var opts []op.Option
	if strings.HasPrefix(cfg.Issuer, "http://") {
		opts = append(opts, op.WithAllowInsecure()) // a developer's http://localhost only (the library checks)
	}
	h.op, err = op.NewProvider(&op.Config{CryptoKey: cryptoKey, CodeMethodS256: true, AuthMethodPost: true, GrantTypeRefreshToken: true},
		storage{h}, op.StaticIssuer(cfg.Issuer), append(opts,
			// Access tokens are verified (userinfo, introspection) against the published keys of
			// both algorithms Sekisho signs with, and no other.
			op.WithAccessTokenVerifierOpts(op.WithSupportedAccessTokenSigningAlgorithms(SigningAlgs...)))...)
	if err != nil {
		return nil, fmt.Errorf("oidc handler: %w", err)
	}
	return h, nil
}

// Route is one of the provider's patterns for the server's mux.
type Route struct {
	Pattern string
	Handler http.HandlerFunc
}

// Routes are the provider's routes, in a fixed order.
func (h *Handler) Routes() []Route {
	return []Route{
		{"GET " + DiscoveryPath, h.discovery},
		{"GET " + KeysPath, h.jwks},
		{"GET " + AuthorizePath, h.authorize},
		{"POST " + AuthorizePath, h.authorize},
		{"POST " + TokenPath, h.token},
		{"GET " + UserinfoPath, h.userinfo},
		{"POST " + UserinfoPath, h.userinfo},
		{"POST " + IntrospectPath, h.introspect},
		{"POST " + RevokePath, h.revoke},
		{"POST " + DeviceAuthorizationPath, h.deviceAuthorization},
		{"GET " + DevicePath, h.device},
		{"POST " + DevicePath, h.device},
		{"GET " + LogoutPath, h.endSession},
		{"POST " + LogoutPath, h.endSession},
		// CORS preflight for browser applications (single-page apps with PKCE): the token,
		// userinfo and revocation endpoints are called from other origins, userinfo with an
		// Authorization header, which makes the browser ask first.
		{"OPTIONS " + TokenPath, preflight("POST")},
		{"OPTIONS " + UserinfoPath, preflight("GET, POST")},
		{"OPTIONS " + RevokePath, preflight("POST")},
	}
}

// preflight answers a CORS preflight: any origin may call with the Authorization and
// Content-Type headers, never with credentials (cookies), which these endpoints do not read
// anyway — a bearer token or a client secret is the caller's proof.
func preflight(methods string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Allow-Methods", methods)
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
		h.Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
	}
}

func (h *Handler) withIssuer(r *http.Request) *http.Request {
	return r.WithContext(op.ContextWithIssuer(r.Context(), h.cfg.Issuer))
}

func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// record writes the sign-in record of a refused request and returns its reference.
func (h *Handler) record(ctx context.Context, r *http.Request, app, username, reason string) string {
	h.cfg.Logger.WarnContext(ctx, "oidc request refused", "app", app, "user", username, "reason", reason, "path", r.URL.Path)
	if h.cfg.Audit == nil {
		return ""
	}
	return h.cfg.Audit.RecordRejected(ctx, r, app, username, reason)
}

// reject answers a request that cannot be sent back to the client (no registered client or
// redirect URI to answer to) with Sekisho's error page and the record's reference: never a
// redirect to an address the request names.
func (h *Handler) reject(w http.ResponseWriter, r *http.Request, app, reason string) {
	ref := h.record(r.Context(), r, app, "", reason)
	noStore(w)
	h.cfg.Failed(w, r, http.StatusBadRequest, ref)
}

// fail answers a failure of Sekisho itself.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, app string, err error) {
	h.cfg.Logger.ErrorContext(r.Context(), "oidc internal error", "app", app, "err", err)
	ref := ""
	if h.cfg.Audit != nil {
		ref = h.cfg.Audit.RecordRejected(r.Context(), r, app, "", "internal error: "+err.Error())
	}
	noStore(w)
	h.cfg.Failed(w, r, http.StatusInternalServerError, ref)
}

func (h *Handler) discovery(w http.ResponseWriter, _ *http.Request) {
	iss := h.cfg.Issuer
	d := zoidc.DiscoveryConfiguration{
		Issuer:                            iss,
		AuthorizationEndpoint:             iss + AuthorizePath,
		TokenEndpoint:                     iss + TokenPath,
		UserinfoEndpoint:                  iss + UserinfoPath,
		IntrospectionEndpoint:             iss + IntrospectPath,
		RevocationEndpoint:                iss + RevokePath,
		DeviceAuthorizationEndpoint:       iss + DeviceAuthorizationPath,
		EndSessionEndpoint:                iss + LogoutPath,
		BackChannelLogoutSupported:        true,
		BackChannelLogoutSessionSupported: true,
		JwksURI:                           iss + KeysPath,
		ScopesSupported:                   KnownScopes,
		ResponseTypesSupported:            []string{string(zoidc.ResponseTypeCode)},
		ResponseModesSupported:            []string{string(zoidc.ResponseModeQuery)},
		GrantTypesSupported:               []zoidc.GrantType{zoidc.GrantTypeCode, zoidc.GrantTypeRefreshToken, zoidc.GrantTypeClientCredentials, zoidc.GrantTypeDeviceCode},
		ACRValuesSupported:                []string{ACRSingleFactor, ACRMultiFactor},
		SubjectTypesSupported:             []string{SubjectPublic, SubjectPairwise},
		IDTokenSigningAlgValuesSupported:  SigningAlgs,
		TokenEndpointAuthMethodsSupported: []zoidc.AuthMethod{zoidc.AuthMethodBasic, zoidc.AuthMethodPost, zoidc.AuthMethodNone},
		// Introspection needs a confidential client's credentials; revocation also takes a
		// public client's client_id (RFC 7009 section 5).
		IntrospectionEndpointAuthMethodsSupported: []zoidc.AuthMethod{zoidc.AuthMethodBasic, zoidc.AuthMethodPost},
		RevocationEndpointAuthMethodsSupported:    []zoidc.AuthMethod{zoidc.AuthMethodBasic, zoidc.AuthMethodPost, zoidc.AuthMethodNone},
		ClaimsSupported: []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp", "jti", "sid",
			"at_hash", "c_hash", "name", "preferred_username", "email", "email_verified", "groups"},
		CodeChallengeMethodsSupported: []zoidc.CodeChallengeMethod{zoidc.CodeChallengeMethodS256},
	}
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	writeJSON(w, http.StatusOK, d)
}

func (h *Handler) jwks(w http.ResponseWriter, r *http.Request) {
	ks, err := h.keys.published(r.Context())
	if err != nil {
		h.cfg.Logger.ErrorContext(r.Context(), "oidc keys", "err", err)
		noStore(w)
		writeJSON(w, http.StatusInternalServerError, zoidc.ErrServerError().WithDescription("keys unavailable"))
		return
	}
	// The same document as the library's op.Keys, with a cache lifetime: relying parties learn
	// a next key at least as long before `keys promote` as the metadata's.
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	op.Keys(w, r, staticKeys(ks))
}

type staticKeys []op.Key

func (k staticKeys) KeySet(context.Context) ([]op.Key, error) { return k, nil }
