package oidc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/store"
)

// storage is what zitadel/oidc's token endpoint asks of Sekisho (op.Storage and
// op.ClientCredentialsStorage). Nothing of a flow is kept in a process: a client is an
// application row, an authorization code is a sealed grant whose one-time ID is spent through
// the store, the tokens are signed JWTs, and refresh tokens are store rows (refresh.go). The
// parts of op.Storage for what Sekisho does not serve (logout, JWT profile, the library's
// introspection and revocation, which introspect.go replaces) refuse.
type storage struct {
	h *Handler
}

var (
	_ op.Storage                        = storage{}
	_ op.CanSetUserinfoFromRequest      = storage{}
	_ op.CanGetPrivateClaimsFromRequest = storage{}
	_ op.ClientCredentialsStorage       = storage{}
)

var errNotServed = errors.New("not served by Sekisho's OpenID Connect provider")

// attempt gathers, during one token request, what the sign-in record of a refusal names:
// the application, the user and the precise reason that the answer to the client does not
// say ("invalid code" could be a replay, an expired or a forged code); and what must happen
// once the answer is known to be a success (commit).
type attempt struct {
	r          *http.Request
	app        string
	userID     string
	detail     string
	client     *ClientConfig // the client that authenticated (or claimed to)
	codeClient string        // the client the code was issued to
	// recorded: the gate wrote this refusal's record already (a refresh or client_credentials
	// grant the policy refused), so no second one is written.
	recorded bool
	// fault is a failure of Sekisho (the store) found on the way: the answer is a 500, not
	// the invalid_grant the library would make of it.
	fault error
	// family is the refresh token family the access token belongs to (its grant_id claim).
	family string
	// commit runs after the library made a successful answer and before it leaves: the
	// refresh token is stored (or rotated) only if the client is going to receive it, and the
	// client receives it only if it was stored. A refusal error replaces the answer.
	commit func(ctx context.Context) error
}

type attemptKey struct{}

func attemptOf(ctx context.Context) *attempt {
	if a, ok := ctx.Value(attemptKey{}).(*attempt); ok {
		return a
	}
	return &attempt{}
}

// client implements op.Client over a stored client.
type client struct{ c ClientConfig }

var _ op.Client = client{}

func (c client) GetID() string                    { return c.c.ClientID }
func (c client) RedirectURIs() []string           { return c.c.RedirectURIs }
func (c client) PostLogoutRedirectURIs() []string { return nil }
func (c client) ApplicationType() op.ApplicationType {
	if c.c.IsPublic() {
		return op.ApplicationTypeNative
	}
	return op.ApplicationTypeWeb
}
func (c client) AuthMethod() zoidc.AuthMethod {
	if c.c.IsPublic() {
		return zoidc.AuthMethodNone
	}
	// client_secret_basic; the library reads client_secret_post the same way.
	return zoidc.AuthMethodBasic
}
func (c client) ResponseTypes() []zoidc.ResponseType {
	return []zoidc.ResponseType{zoidc.ResponseTypeCode}
}
func (c client) GrantTypes() []zoidc.GrantType {
	var out []zoidc.GrantType
	for _, g := range c.c.Grants {
		out = append(out, zoidc.GrantType(g))
	}
	return out
}
func (c client) LoginURL(string) string               { return "" }
func (c client) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeJWT }
func (c client) IDTokenLifetime() time.Duration       { return c.c.IDTTL() }
func (c client) DevMode() bool                        { return false }
func (c client) IsScopeAllowed(scope string) bool     { return contains(c.c.Scopes, scope) }
func (c client) IDTokenUserinfoClaimsAssertion() bool { return true } // the ID token carries the claims
func (c client) ClockSkew() time.Duration             { return 0 }
func (c client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// authRequest implements op.AuthRequest over a redeemed grant; sub is the subject its client
// sees (pairwise clients: their own, subject.go).
type authRequest struct {
	g   grant
	sub string
}

var _ op.AuthRequest = authRequest{}

func (a authRequest) GetID() string    { return a.g.ID }
func (a authRequest) GetACR() string   { return ACR(a.g.MFA) }
func (a authRequest) GetAMR() []string { return a.g.AMR }
func (a authRequest) GetAudience() []string {
	return []string{a.g.Client}
}
func (a authRequest) GetAuthTime() time.Time { return time.Unix(a.g.AuthTime, 0) }
func (a authRequest) GetClientID() string    { return a.g.Client }
func (a authRequest) GetCodeChallenge() *zoidc.CodeChallenge {
	if a.g.Challenge == "" {
		return nil
	}
	return &zoidc.CodeChallenge{Challenge: a.g.Challenge, Method: zoidc.CodeChallengeMethodS256}
}
func (a authRequest) GetNonce() string                    { return a.g.Nonce }
func (a authRequest) GetRedirectURI() string              { return a.g.Redirect }
func (a authRequest) GetResponseType() zoidc.ResponseType { return zoidc.ResponseTypeCode }
func (a authRequest) GetResponseMode() zoidc.ResponseMode { return zoidc.ResponseModeQuery }
func (a authRequest) GetScopes() []string                 { return a.g.Scopes }
func (a authRequest) GetState() string                    { return "" }
func (a authRequest) GetSubject() string {
	if a.sub != "" {
		return a.sub
	}
	return a.g.User
}
func (a authRequest) Done() bool { return true }

// AuthRequestByCode opens the code and spends its one-time ID: a code is presented once,
// whatever happens next (a wrong PKCE verifier or client secret burns it too).
func (s storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	at := attemptOf(ctx)
	var g grant
	if err := s.h.codes.open("code", code, &g); err != nil {
		at.detail = "authorization code: " + err.Error()
		return nil, err
	}
	at.userID, at.codeClient = g.User, g.Client
	sub := g.User
	if c, app, err := LookupClient(ctx, s.h.cfg.Apps, g.Client); err == nil {
		at.app, sub = app, s.h.subjectFor(c, g.User)
	}
	now := s.h.cfg.Clock()
	if g.expired(now) {
		at.detail = "authorization code expired"
		return nil, errors.New(at.detail)
	}
	fresh, err := s.h.cfg.Replay.UseOnce(ctx, "oidc:code:"+g.ID, time.Unix(g.Expires, 0).Add(time.Minute))
	if err != nil {
		at.detail = "replay cache: " + err.Error()
		return nil, oidcServerError(err)
	}
	if !fresh {
		at.detail = "authorization code already used (replay)"
		return nil, errors.New(at.detail)
	}
	return authRequest{g: g, sub: sub}, nil
}

func oidcServerError(err error) error {
	return zoidc.ErrServerError().WithParent(err)
}

func (s storage) GetClientByClientID(ctx context.Context, clientID string) (op.Client, error) {
	c, app, err := LookupClient(ctx, s.h.cfg.Apps, clientID)
	at := attemptOf(ctx)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			at.detail = fmt.Sprintf("unknown client_id %q", limit(clientID, 100))
			return nil, zoidc.ErrInvalidClient().WithParent(err)
		}
		at.detail = err.Error()
		return nil, oidcServerError(err)
	}
	if at.app == "" {
		at.app = app
	}
	at.client = &c
	return client{c}, nil
}

func (s storage) AuthorizeClientIDSecret(ctx context.Context, clientID, secret string) error {
	c, _, err := LookupClient(ctx, s.h.cfg.Apps, clientID)
	at := attemptOf(ctx)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			at.detail = fmt.Sprintf("unknown client_id %q", limit(clientID, 100))
			return err
		}
		return oidcServerError(err)
	}
	if c.IsPublic() || !c.SecretMatches(s.h.cfg.Secrets, secret, s.h.cfg.Clock()) {
		at.detail = "wrong client secret"
		return errors.New(at.detail)
	}
	return nil
}

// CreateAccessToken names the access token after the sign-in record (jti "_" + record ID):
// the authorization's for the code grant, the gate's judgement of the client for
// client_credentials.
func (s storage) CreateAccessToken(ctx context.Context, req op.TokenRequest) (string, time.Time, error) {
	now := s.h.cfg.Clock()
	switch r := req.(type) {
	case authRequest:
		return tokenID(r.g), now.Add(s.accessTTL(ctx, r.g.Client)).UTC(), nil
	case clientRequest:
		return r.tokenID, now.Add(r.client.AccessTTL()).UTC(), nil
	}
	return "", time.Time{}, zoidc.ErrUnsupportedGrantType()
}

// accessTTL is the access token lifetime of clientID.
func (s storage) accessTTL(ctx context.Context, clientID string) time.Duration {
	if c := attemptOf(ctx).client; c != nil && c.ClientID == clientID {
		return c.AccessTTL()
	}
	if c, _, err := LookupClient(ctx, s.h.cfg.Apps, clientID); err == nil {
		return c.AccessTTL()
	}
	return DefaultAccessTokenLifetime
}

func tokenID(g grant) string {
	if id := signin.AssertionID(g.Event); id != "" {
		return id
	}
	return "_" + oneTimeID()
}

// SetUserinfoFromRequest fills the ID token's claims from the directory as it is now: a user
// disabled or deleted since the sign-in gets no tokens.
func (s storage) SetUserinfoFromRequest(ctx context.Context, info *zoidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	u, err := s.h.cfg.Users.GetUser(ctx, userOfRequest(req))
	if errors.Is(err, store.ErrNotFound) || err == nil && u.Status != store.UserActive {
		attemptOf(ctx).detail = "the user can no longer sign in (disabled or deleted since the authorization)"
		return zoidc.ErrInvalidGrant().WithDescription("the user can no longer sign in")
	}
	if err != nil {
		return oidcServerError(err)
	}
	setUserinfo(info, u, scopes)
	info.Subject = req.GetSubject() // a pairwise client's own
	switch r := req.(type) {
	case authRequest:
		info.AppendClaims("jti", tokenID(r.g))
		if r.g.Session != "" {
			info.AppendClaims("sid", r.g.Session)
		}
	case *refreshRequest:
		// A refreshed ID token describes the original sign-in (OpenID Connect Core 12.2): its
		// auth_time, amr and acr, and the session; its jti is this refresh's record.
		info.AppendClaims("jti", r.tokenID)
		info.AppendClaims("acr", ACR(r.t.MFA))
		if r.t.SessionID != "" {
			info.AppendClaims("sid", r.t.SessionID)
		}
	}
	return nil
}

// GetPrivateClaimsFromRequest puts the granted scopes in the access token (RFC 9068 "scope"),
// so the userinfo endpoint knows what to release without any stored token, and names the
// refresh token family of a token issued with one (grant_id), so that revoking the family
// ends its access tokens at introspection and userinfo too.
func (s storage) GetPrivateClaimsFromRequest(ctx context.Context, req op.TokenRequest, _ []string) (map[string]any, error) {
	claims := map[string]any{}
	if scopes := req.GetScopes(); len(scopes) > 0 {
		claims["scope"] = strings.Join(scopes, " ")
	}
	if f := attemptOf(ctx).family; f != "" {
		claims[ClaimGrantID] = f
	}
	// A pairwise client's access token names its user sealed, for userinfo and introspection.
	if user := userOfRequest(req); user != req.GetSubject() {
		ref, err := s.h.codes.seal("uref", user)
		if err != nil {
			return nil, oidcServerError(err)
		}
		claims[ClaimUserRef] = ref
	}
	return claims, nil
}

// userOfRequest is the user ID in Sekisho behind a token request (its subject may be a
// pairwise client's own).
func userOfRequest(req op.TokenRequest) string {
	switch r := req.(type) {
	case authRequest:
		return r.g.User
	case *refreshRequest:
		return r.t.UserID
	}
	return req.GetSubject()
}

// ClaimGrantID is the access token claim naming its refresh token family (the grant, as the
// OAuth grant management draft calls it).
const ClaimGrantID = "grant_id"

// SigningKey is the current key of the algorithm the request's client is set to (its
// signingAlg; RS256 when no client is known yet).
func (s storage) SigningKey(ctx context.Context) (op.SigningKey, error) {
	if c := attemptOf(ctx).client; c != nil {
		return s.h.keys.signingFor(ctx, *c)
	}
	return s.h.keys.signing(ctx)
}

func (s storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256, jose.ES256}, nil
}

func (s storage) KeySet(ctx context.Context) ([]op.Key, error) { return s.h.keys.published(ctx) }

func (s storage) Health(context.Context) error { return nil }

// DeleteAuthRequest: the code's one-time ID is spent already (AuthRequestByCode).
func (s storage) DeleteAuthRequest(context.Context, string) error { return nil }

// The authorization endpoint is Sekisho's own (handler.go): the library's request store is
// never used.
func (s storage) CreateAuthRequest(context.Context, *zoidc.AuthRequest, string) (op.AuthRequest, error) {
	return nil, errNotServed
}
func (s storage) AuthRequestByID(context.Context, string) (op.AuthRequest, error) {
	return nil, errNotServed
}
func (s storage) SaveAuthCode(context.Context, string, string) error { return errNotServed }

// Logout and the JWT profile are not served; introspection and revocation are Sekisho's own
// endpoints (introspect.go), so the library's hooks for them refuse.
func (s storage) TerminateSession(context.Context, string, string) error { return errNotServed }
func (s storage) RevokeToken(context.Context, string, string, string) *zoidc.Error {
	return &zoidc.Error{ErrorType: "unsupported_token_type"}
}
func (s storage) GetRefreshTokenInfo(context.Context, string, string) (string, string, error) {
	return "", "", op.ErrInvalidRefreshToken
}
func (s storage) SetUserinfoFromScopes(context.Context, *zoidc.UserInfo, string, string, []string) error {
	return nil // deprecated by the library; SetUserinfoFromRequest does the work
}
func (s storage) SetUserinfoFromToken(context.Context, *zoidc.UserInfo, string, string, string) error {
	return errNotServed // the userinfo endpoint is Sekisho's own (userinfo.go)
}
func (s storage) SetIntrospectionFromToken(context.Context, *zoidc.IntrospectionResponse, string, string, string) error {
	return errNotServed
}
func (s storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}
func (s storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errNotServed
}
func (s storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errNotServed
}

func limit(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
