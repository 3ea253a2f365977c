package oidc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/sekisho/sekisho/internal/store"
)

// Token introspection (RFC 7662) and revocation (RFC 7009), for Sekisho's access tokens (JWTs
// it signed) and refresh tokens (store rows by their SHA-256).
//
// Who may ask: introspection needs a confidential client's credentials (HTTP Basic, or
// client_id and client_secret in the form): a resource server registers as a client. Any such
// client may introspect an access token — a JWT says what it holds to whoever holds it, so
// introspection adds only whether it is still good — but a refresh token only by the client it
// was issued to (to any other the answer is active=false, as for an unknown token, so there is
// no oracle). Revocation also takes a public client's client_id alone (RFC 7009 section 5),
// and a client revokes only its own tokens.
//
// What is active: an access token whose signature, issuer and expiry verify, whose client is
// still registered, that was not revoked, whose refresh token family (grant_id) is not
// revoked, and whose user (for the user's tokens) still exists and is active; a refresh token
// that is active, not expired, of a registered client and an active user. Everything else is
// {"active": false}, with nothing more.
//
// Revoking a refresh token revokes its family — every refresh token of the grant and, through
// grant_id, its access tokens at introspection and userinfo. Revoking an access token records
// its jti until it expires. Relying parties that verify access tokens themselves see the
// revocation only at expiry: keep access tokens short-lived.

// introspection is the RFC 7662 answer.
type introspection struct {
	Active    bool         `json:"active"`
	Scope     string       `json:"scope,omitempty"`
	ClientID  string       `json:"client_id,omitempty"`
	Username  string       `json:"username,omitempty"`
	TokenType string       `json:"token_type,omitempty"`
	Exp       int64        `json:"exp,omitempty"`
	Iat       int64        `json:"iat,omitempty"`
	Nbf       int64        `json:"nbf,omitempty"`
	Sub       string       `json:"sub,omitempty"`
	Aud       []string     `json:"aud,omitempty"`
	Iss       string       `json:"iss,omitempty"`
	Jti       string       `json:"jti,omitempty"`
	AuthTime  int64        `json:"auth_time,omitempty"`
	GrantID   string       `json:"grant_id,omitempty"`
	why       func() error // unexported: why an answer is inactive, for the log
}

var notActive = introspection{}

const (
	hintAccess  = "access_token"
	hintRefresh = "refresh_token"
)

// maxAccessToken bounds what is verified as a JWT.
const maxAccessToken = 16 << 10

// callerAuth is how the caller of introspection or revocation authenticated.
type callerAuth struct {
	client ClientConfig
	app    string
}

// authenticateCaller authenticates a client at the introspection or revocation endpoint: a
// confidential client by its secret (HTTP Basic or the form), a public client by its
// client_id when public is true. It returns the refusal and its reason otherwise.
func (h *Handler) authenticateCaller(r *http.Request, public bool) (callerAuth, *zoidc.Error, string) {
	var ca callerAuth
	id, secret, basic := r.BasicAuth()
	if basic {
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			return ca, zoidc.ErrInvalidClient().WithDescription("malformed HTTP Basic credentials"), "malformed HTTP Basic credentials"
		}
		// Empty form fields are no second method: Dovecot's oauth2 passdb sends client_id=
		// and client_secret= unset beside the credentials of its introspection URL.
		if r.PostForm.Get("client_secret") != "" {
			return ca, zoidc.ErrInvalidRequest().WithDescription("use one client authentication method"), "two client authentication methods"
		}
		if fid := r.PostForm.Get("client_id"); fid != "" && fid != id {
			return ca, zoidc.ErrInvalidRequest().WithDescription("client_id differs from the HTTP Basic credentials"), "client_id differs from HTTP Basic"
		}
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id == "" {
		return ca, zoidc.ErrInvalidClient().WithDescription("client authentication required"), "no client authentication"
	}
	c, app, err := LookupClient(r.Context(), h.cfg.Apps, id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return ca, zoidc.ErrInvalidClient(), fmt.Sprintf("unknown client_id %q", limit(id, 100))
		}
		return ca, zoidc.ErrServerError(), "internal error: " + err.Error()
	}
	ca.client, ca.app = c, app
	switch {
	case c.IsPublic() && secret != "":
		return ca, zoidc.ErrInvalidClient(), "a public client sent a secret"
	case c.IsPublic() && !public:
		return ca, zoidc.ErrInvalidClient().WithDescription("introspection is for confidential clients"), "a public client cannot introspect tokens"
	case !c.IsPublic() && !c.SecretMatches(h.cfg.Secrets, secret, h.cfg.Clock()):
		return ca, zoidc.ErrInvalidClient(), "wrong client secret"
	}
	return ca, nil, ""
}

// parseTokenForm reads the bounded form of an introspection or revocation request.
func parseTokenForm(w http.ResponseWriter, r *http.Request) error {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(strings.ToLower(ct), "application/x-www-form-urlencoded") {
		return errors.New("the request must be application/x-www-form-urlencoded")
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	return r.ParseForm()
}

// answerError sends an OAuth error (401 with a challenge for invalid_client).
func (h *Handler) answerError(w http.ResponseWriter, e *zoidc.Error) {
	status := http.StatusBadRequest
	switch e.ErrorType {
	case zoidc.InvalidClient:
		// RFC 6749 section 5.2: the challenge names the scheme the client may use.
		status = http.StatusUnauthorized
		w.Header().Set("WWW-Authenticate", `Basic realm="`+h.cfg.Issuer+`"`)
	case zoidc.ServerError:
		status = http.StatusInternalServerError
	}
	writeJSON(w, status, e)
}

// introspect serves RFC 7662 token introspection.
func (h *Handler) introspect(w http.ResponseWriter, r *http.Request) {
	r = h.withIssuer(r)
	noStore(w)
	if err := parseTokenForm(w, r); err != nil {
		h.record(r.Context(), r, "", "", "token introspection: invalid_request: "+err.Error())
		h.answerError(w, zoidc.ErrInvalidRequest().WithDescription("%s", err.Error()))
		return
	}
	ca, e, reason := h.authenticateCaller(r, false)
	if e != nil {
		h.record(r.Context(), r, ca.app, "", "token introspection: "+string(e.ErrorType)+": "+reason)
		h.answerError(w, e)
		return
	}
	tok := r.PostForm.Get("token")
	if tok == "" {
		h.record(r.Context(), r, ca.app, "", "token introspection: invalid_request: token missing")
		h.answerError(w, zoidc.ErrInvalidRequest().WithDescription("token missing"))
		return
	}
	out, err := h.inspect(r.Context(), tok, r.PostForm.Get("token_type_hint"), ca.client)
	if err != nil {
		h.cfg.Logger.ErrorContext(r.Context(), "oidc introspection", "app", ca.app, "err", err)
		h.answerError(w, zoidc.ErrServerError().WithDescription("Sekisho could not look the token up; try again"))
		return
	}
	if !out.Active && out.why != nil {
		h.cfg.Logger.DebugContext(r.Context(), "oidc introspection: inactive", "app", ca.app, "why", out.why())
	}
	writeJSON(w, http.StatusOK, out)
}

// inspect looks tok up as an access token and as a refresh token (in the order the hint
// suggests); an error is a failure of Sekisho.
func (h *Handler) inspect(ctx context.Context, tok, hint string, caller ClientConfig) (introspection, error) {
	order := []func(context.Context, string, ClientConfig) (introspection, bool, error){h.inspectAccess, h.inspectRefresh}
	if hint == hintRefresh {
		order[0], order[1] = order[1], order[0]
	}
	var last introspection
	for _, look := range order {
		out, found, err := look(ctx, tok, caller)
		if err != nil {
			return notActive, err
		}
		if found {
			return out, nil
		}
		last = out
	}
	return last, nil
}

// inactiveBecause is {"active": false}, with the reason kept for the log.
func inactiveBecause(format string, args ...any) introspection {
	return introspection{why: func() error { return fmt.Errorf(format, args...) }}
}

// accessClaims verifies tok as an access token Sekisho signed (signature by a published key,
// issuer, expiry).
func (h *Handler) accessClaims(ctx context.Context, tok string) (*zoidc.AccessTokenClaims, error) {
	if len(tok) > maxAccessToken || strings.Count(tok, ".") != 2 {
		return nil, errors.New("not a JWT")
	}
	return op.VerifyAccessToken[*zoidc.AccessTokenClaims](ctx, tok, h.op.AccessTokenVerifier(ctx))
}

// accessLive says why an access token Sekisho signed is no longer good ("" if it is) and
// returns its user, if it has one; an error is a failure of Sekisho.
func (h *Handler) accessLive(ctx context.Context, claims *zoidc.AccessTokenClaims) (string, store.User, error) {
	if _, _, err := LookupClient(ctx, h.cfg.Apps, claims.ClientID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return "its client is no longer registered", store.User{}, nil
		}
		return "", store.User{}, err
	}
	revoked, err := h.cfg.Tokens.AccessTokenRevoked(ctx, claims.JWTID)
	if err != nil || revoked {
		return "revoked", store.User{}, err
	}
	if f, _ := claims.Claims[ClaimGrantID].(string); f != "" {
		live, err := h.cfg.Tokens.RefreshFamilyLive(ctx, f)
		if err != nil || !live {
			return "its grant (refresh token family) is revoked or gone", store.User{}, err
		}
	}
	if claims.Subject == claims.ClientID {
		return "", store.User{}, nil // client_credentials: the client is the subject
	}
	userID, ok := h.userOfAccess(claims)
	if !ok {
		return "its user reference does not open", store.User{}, nil
	}
	u, err := h.cfg.Users.GetUser(ctx, userID)
	if errors.Is(err, store.ErrNotFound) || err == nil && u.Status != store.UserActive {
		return "the user can no longer sign in (disabled or deleted)", u, nil
	}
	return "", u, err
}

func (h *Handler) inspectAccess(ctx context.Context, tok string, _ ClientConfig) (introspection, bool, error) {
	claims, err := h.accessClaims(ctx, tok)
	if err != nil {
		return inactiveBecause("not a valid access token: %v", err), false, nil
	}
	reason, u, err := h.accessLive(ctx, claims)
	if err != nil {
		return notActive, true, err
	}
	if reason != "" {
		return inactiveBecause("access token %s: %s", claims.JWTID, reason), true, nil
	}
	out := introspection{Active: true, Scope: strings.Join(claims.Scopes, " "), ClientID: claims.ClientID, Username: u.UPN,
		TokenType: "Bearer", Exp: claims.Expiration.AsTime().Unix(), Iat: claims.IssuedAt.AsTime().Unix(), Sub: claims.Subject,
		Aud: claims.Audience, Iss: claims.Issuer, Jti: claims.JWTID}
	if !claims.NotBefore.AsTime().IsZero() {
		out.Nbf = claims.NotBefore.AsTime().Unix()
	}
	out.GrantID, _ = claims.Claims[ClaimGrantID].(string)
	return out, true, nil
}

func (h *Handler) inspectRefresh(ctx context.Context, tok string, caller ClientConfig) (introspection, bool, error) {
	if len(tok) > maxRefreshToken {
		return inactiveBecause("too long for a refresh token"), false, nil
	}
	t, err := h.cfg.Tokens.GetRefreshToken(ctx, refreshHash(tok))
	if errors.Is(err, store.ErrNotFound) {
		return inactiveBecause("not a refresh token"), false, nil
	}
	if err != nil {
		return notActive, false, err
	}
	switch {
	case t.ClientID != caller.ClientID:
		return inactiveBecause("a refresh token of another client"), true, nil
	case t.State != store.RefreshActive:
		return inactiveBecause("refresh token %s", t.State), true, nil
	case !h.cfg.Clock().Before(t.ExpiresAt):
		return inactiveBecause("refresh token expired"), true, nil
	}
	u, err := h.cfg.Users.GetUser(ctx, t.UserID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return notActive, true, err
	}
	if err != nil || u.Status != store.UserActive {
		return inactiveBecause("the user can no longer sign in"), true, nil
	}
	return introspection{Active: true, Scope: strings.Join(t.Scopes, " "), ClientID: t.ClientID, Username: u.UPN,
		Exp: t.ExpiresAt.Unix(), Iat: t.CreatedAt.Unix(), Sub: h.subjectFor(caller, t.UserID), Aud: []string{t.ClientID}, Iss: h.cfg.Issuer,
		AuthTime: t.AuthTime.Unix(), GrantID: t.FamilyID}, true, nil
}

// revoke serves RFC 7009 token revocation. An unknown, expired or malformed token is answered
// 200 like a revoked one (section 2.2); another client's token is refused.
func (h *Handler) revoke(w http.ResponseWriter, r *http.Request) {
	r = h.withIssuer(r)
	noStore(w)
	w.Header().Set("Access-Control-Allow-Origin", "*")
	if err := parseTokenForm(w, r); err != nil {
		h.record(r.Context(), r, "", "", "token revocation: invalid_request: "+err.Error())
		h.answerError(w, zoidc.ErrInvalidRequest().WithDescription("%s", err.Error()))
		return
	}
	ca, e, reason := h.authenticateCaller(r, true)
	if e != nil {
		h.record(r.Context(), r, ca.app, "", "token revocation: "+string(e.ErrorType)+": "+reason)
		h.answerError(w, e)
		return
	}
	tok := r.PostForm.Get("token")
	if tok == "" {
		h.record(r.Context(), r, ca.app, "", "token revocation: invalid_request: token missing")
		h.answerError(w, zoidc.ErrInvalidRequest().WithDescription("token missing"))
		return
	}
	// The hint is a hint: a token is looked up as either kind (section 2.1).
	tryRefresh := func() (bool, error) { return h.revokeRefresh(r, ca, tok) }
	tryAccess := func() (bool, error) { return h.revokeAccess(r, ca, tok) }
	order := []func() (bool, error){tryAccess, tryRefresh}
	if r.PostForm.Get("token_type_hint") != hintAccess {
		order[0], order[1] = order[1], order[0]
	}
	for _, try := range order {
		found, err := try()
		var refused *zoidc.Error
		switch {
		case errors.As(err, &refused):
			h.answerError(w, refused)
			return
		case err != nil:
			h.cfg.Logger.ErrorContext(r.Context(), "oidc revocation", "app", ca.app, "err", err)
			h.answerError(w, zoidc.ErrServerError().WithDescription("Sekisho could not revoke the token; try again"))
			return
		case found:
			w.WriteHeader(http.StatusOK)
			return
		}
	}
	h.cfg.Logger.InfoContext(r.Context(), "oidc revocation of a token Sekisho does not know (answered 200)", "app", ca.app)
	w.WriteHeader(http.StatusOK)
}

// revokeRefresh revokes the family of a refresh token of the caller; found is false when tok
// is not a refresh token Sekisho knows.
func (h *Handler) revokeRefresh(r *http.Request, ca callerAuth, tok string) (bool, error) {
	if len(tok) > maxRefreshToken {
		return false, nil
	}
	ctx := r.Context()
	t, err := h.cfg.Tokens.GetRefreshToken(ctx, refreshHash(tok))
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if t.ClientID != ca.client.ClientID {
		h.record(ctx, r, ca.app, h.upn(ctx, t.UserID), "token revocation: unauthorized_client: the refresh token was issued to another client")
		return true, zoidc.ErrUnauthorizedClient().WithDescription("the token was not issued to this client")
	}
	n, err := h.cfg.Tokens.RevokeRefreshFamily(ctx, t.FamilyID, h.cfg.Clock())
	if err != nil {
		return true, err
	}
	h.cfg.Logger.InfoContext(ctx, "oidc refresh token revoked by its client: grant revoked", "app", ca.app, "user", t.UserID,
		"family", t.FamilyID, "revoked", n)
	return true, nil
}

// revokeAccess records the revocation of an access token of the caller until it expires;
// found is false when tok is not a valid access token (an expired one needs nothing).
func (h *Handler) revokeAccess(r *http.Request, ca callerAuth, tok string) (bool, error) {
	ctx := r.Context()
	claims, err := h.accessClaims(ctx, tok)
	if err != nil {
		return false, nil
	}
	if claims.ClientID != ca.client.ClientID {
		h.record(ctx, r, ca.app, h.upn(ctx, claims.Subject), "token revocation: unauthorized_client: the access token was issued to another client")
		return true, zoidc.ErrUnauthorizedClient().WithDescription("the token was not issued to this client")
	}
	exp := claims.Expiration.AsTime()
	if exp.IsZero() {
		exp = h.cfg.Clock().Add(MaxTokenLifetime)
	}
	if err := h.cfg.Tokens.RevokeAccessToken(ctx, claims.JWTID, claims.ClientID, h.cfg.Clock(), exp.Add(time.Minute)); err != nil {
		return true, err
	}
	h.cfg.Logger.InfoContext(ctx, "oidc access token revoked by its client", "app", ca.app, "jti", claims.JWTID)
	return true, nil
}

// upn names a user for a record ("" when unknown).
func (h *Handler) upn(ctx context.Context, userID string) string {
	if userID == "" {
		return ""
	}
	if u, err := h.cfg.Users.GetUser(ctx, userID); err == nil {
		return u.UPN
	}
	return ""
}
