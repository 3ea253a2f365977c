package oidc

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/store"
)

const (
	maxState     = 2048
	maxNonce     = 512
	maxLoginHint = 254
)

// authorize serves the authorization endpoint: a new request (GET or POST), or the browser
// coming back from the sign-in page (GET ?resume=…).
func (h *Handler) authorize(w http.ResponseWriter, r *http.Request) {
	r = h.withIssuer(r)
	if r.Method == http.MethodGet && r.URL.Query().Has("resume") {
		var st authzState
		if err := h.state.open("authorize", r.URL.Query().Get("resume"), &st); err != nil {
			h.reject(w, r, "", "authorization resume: "+err.Error())
			return
		}
		if h.cfg.Clock().Unix() >= st.Expires {
			h.reject(w, r, h.appName(r, st.Client), "authorization resume: the sign-in took too long (request expired)")
			return
		}
		h.finish(w, r, st, r.URL.Query().Get("resume"), true)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	req, err := op.ParseAuthorizeRequest(r, h.op.Decoder())
	if err != nil {
		h.reject(w, r, "", "authorization request: malformed: "+err.Error())
		return
	}
	st, app, err := h.validate(r, req)
	if err != nil {
		var re *redirectError
		var ie internalError
		if errors.As(err, &ie) {
			h.fail(w, r, app, ie.error)
			return
		}
		if !errors.As(err, &re) {
			h.reject(w, r, app, "authorization request: "+err.Error())
			return
		}
		// The client and its redirect URI are known: the error goes back to the client.
		h.record(r.Context(), r, app, "", "authorization request: "+re.reason)
		h.redirectError(w, r, req, re.err)
		return
	}
	tok, err := h.state.seal("authorize", st)
	if err != nil {
		h.fail(w, r, app, err)
		return
	}
	h.finish(w, r, st, tok, false)
}

// redirectError is a refusal the client hears about at its (registered) redirect URI.
type redirectError struct {
	err    *zoidc.Error
	reason string // for the record
}

func (e *redirectError) Error() string { return e.reason }

// internalError is a failure of Sekisho (the store), not of the request.
type internalError struct{ error }

func toClient(e *zoidc.Error, format string, args ...any) error {
	reason := fmt.Sprintf(format, args...)
	return &redirectError{err: e.WithDescription("%s", reason), reason: string(e.ErrorType) + ": " + reason}
}

func (h *Handler) appName(r *http.Request, clientID string) string {
	_, app, _ := LookupClient(r.Context(), h.cfg.Apps, clientID)
	return app
}

// validate applies every check to a new authorization request. Until the client and the
// redirect URI are known to match exactly, a failure is a plain error (an error page, never a
// redirect); after that, a *redirectError.
func (h *Handler) validate(r *http.Request, req *zoidc.AuthRequest) (authzState, string, error) {
	var st authzState
	if req.ClientID == "" {
		return st, "", errors.New("client_id missing")
	}
	c, app, err := LookupClient(r.Context(), h.cfg.Apps, req.ClientID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return st, "", fmt.Errorf("client_id %q is not a registered client", limit(req.ClientID, 100))
		}
		return st, app, internalError{err}
	}
	if req.RedirectURI == "" {
		return st, app, errors.New("redirect_uri missing")
	}
	if !c.HasRedirectURI(req.RedirectURI) {
		return st, app, fmt.Errorf("redirect_uri %q is not registered for this client", limit(req.RedirectURI, 300))
	}
	form := r.Form
	switch {
	case req.RequestParam != "":
		return st, app, toClient(zoidc.ErrRequestNotSupported(), "request objects are not supported")
	case form.Has("request_uri"):
		return st, app, &redirectError{err: &zoidc.Error{ErrorType: "request_uri_not_supported", Description: "request_uri is not supported"},
			reason: "request_uri_not_supported: request_uri is not supported"}
	case req.ResponseType != zoidc.ResponseTypeCode:
		return st, app, toClient(&zoidc.Error{ErrorType: "unsupported_response_type"}, "response_type %q: only code is supported", limit(string(req.ResponseType), 50))
	case req.ResponseMode != "" && req.ResponseMode != zoidc.ResponseModeQuery:
		return st, app, toClient(zoidc.ErrInvalidRequest(), "response_mode %q: only query is supported", limit(string(req.ResponseMode), 50))
	case !c.Allows(GrantAuthorizationCode):
		return st, app, toClient(zoidc.ErrUnauthorizedClient(), "this client may not use the authorization code grant")
	case len(req.State) > maxState || len(req.Nonce) > maxNonce:
		return st, app, toClient(zoidc.ErrInvalidRequest(), "state or nonce too long")
	}
	if !slices.Contains(req.Scopes, ScopeOpenID) {
		return st, app, toClient(zoidc.ErrInvalidScope(), "the openid scope is required")
	}
	// The scopes granted are those asked for that the client is allowed; others are dropped
	// (RFC 6749 section 3.3), and the token response says which were granted.
	var scopes []string
	for _, s := range req.Scopes {
		if c.IsAllowedScope(s) && !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	// PKCE: S256 only (plain, or a challenge without a method, which means plain, is
	// refused); required of public clients.
	switch {
	case req.CodeChallenge == "" && req.CodeChallengeMethod != "":
		return st, app, toClient(zoidc.ErrInvalidRequest(), "code_challenge_method without code_challenge")
	case req.CodeChallenge == "" && c.IsPublic():
		return st, app, toClient(zoidc.ErrInvalidRequest(), "PKCE is required: send code_challenge with code_challenge_method=S256")
	case req.CodeChallenge != "" && req.CodeChallengeMethod != zoidc.CodeChallengeMethodS256:
		return st, app, toClient(zoidc.ErrInvalidRequest(), "code_challenge_method must be S256 (plain is refused)")
	case req.CodeChallenge != "" && !validChallenge(req.CodeChallenge):
		return st, app, toClient(zoidc.ErrInvalidRequest(), "code_challenge is not a base64url SHA-256 value")
	}
	for _, p := range req.Prompt {
		switch p {
		case zoidc.PromptNone:
			// No page at all: the session as it is, or an error to the client.
			if len(req.Prompt) > 1 {
				return st, app, toClient(zoidc.ErrInvalidRequest(), "prompt=none cannot be combined with other prompt values")
			}
			st.Silent = true
		case zoidc.PromptLogin:
			st.Force = true
		case zoidc.PromptConsent, zoidc.PromptSelectAccount, "":
			// Clients are registered by administrators: there is no consent page.
		default:
			return st, app, toClient(zoidc.ErrInvalidRequest(), "prompt %q is not known", limit(p, 50))
		}
	}
	// acr_values is a preference (OpenID Connect Core 3.1.2.1); asking for the multi-factor
	// class is honoured as a step-up: a session without a second factor takes the step.
	for _, v := range req.ACRValues {
		if v == ACRMultiFactor || v == ACRMultiFactorAlias {
			st.MFA = true
		}
	}
	if req.MaxAge != nil {
		ma := int64(*req.MaxAge)
		st.MaxAge = &ma
	}
	if h := strings.TrimSpace(req.LoginHint); strings.Contains(h, "@") && len(h) <= maxLoginHint {
		st.LoginHint = h
	}
	now := h.cfg.Clock()
	st.ID, st.Client, st.Redirect, st.Scopes = oneTimeID(), c.ClientID, req.RedirectURI, scopes
	st.State, st.Nonce, st.Challenge = req.State, req.Nonce, req.CodeChallenge
	st.Received, st.Expires = now.Unix(), now.Add(h.cfg.StateLifetime).Unix()
	return st, app, nil
}

// IsAllowedScope reports whether the client may be granted scope.
func (c ClientConfig) IsAllowedScope(scope string) bool { return slices.Contains(c.Scopes, scope) }

// validChallenge: an S256 challenge is the unpadded base64url of a SHA-256 digest.
func validChallenge(s string) bool {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil && len(b) == 32
}

// redirectError sends an error response to the (validated) redirect URI, with the state.
func (h *Handler) redirectError(w http.ResponseWriter, r *http.Request, req *zoidc.AuthRequest, e *zoidc.Error) {
	e.State = req.State
	u, err := op.AuthResponseURL(req.RedirectURI, zoidc.ResponseTypeCode, zoidc.ResponseModeQuery, e, h.op.Encoder())
	if err != nil {
		h.fail(w, r, "", err)
		return
	}
	noStore(w)
	http.Redirect(w, r, u, http.StatusFound)
}

// finish obtains the browser's session, asks the gate, and sends the code. It runs on the
// first request and again when the sign-in page returns to ?resume=… (resumed).
func (h *Handler) finish(w http.ResponseWriter, r *http.Request, st authzState, tok string, resumed bool) {
	ctx := r.Context()
	c, app, err := LookupClient(ctx, h.cfg.Apps, st.Client)
	if errors.Is(err, store.ErrNotFound) {
		h.reject(w, r, app, "client no longer registered")
		return
	}
	if err != nil {
		h.fail(w, r, app, err)
		return
	}
	if !c.HasRedirectURI(st.Redirect) {
		h.reject(w, r, app, "redirect_uri no longer registered")
		return
	}
	opts := signin.SessionOptions{LoginHint: st.LoginHint, ReturnTo: AuthorizePath + "?resume=" + url.QueryEscape(tok), Application: app,
		RequireMFA: st.MFA}
	now := h.cfg.Clock()
	// prompt=login: a credential proven after the request arrived; max_age: one proven within
	// it. A session that does not qualify goes back to the sign-in page.
	stale := func(sess *signin.Session) bool {
		return st.Force && sess.AuthnInstant.Before(time.Unix(st.Received, 0).Add(-5*time.Second)) ||
			st.MaxAge != nil && now.Sub(sess.AuthnInstant) > time.Duration(*st.MaxAge)*time.Second
	}
	if st.Silent {
		h.finishSilent(w, r, st, c, app, opts, stale)
		return
	}
	sess, ok := h.cfg.Sessions.Require(w, r, opts)
	if !ok {
		return
	}
	if stale(sess) {
		opts.ForceAuthn = true
		if sess, ok = h.cfg.Sessions.Require(w, r, opts); !ok {
			return
		}
	}
	// Single use: the resume link answers once. A request answered at once (the browser had
	// a session) never let its link out.
	if resumed {
		fresh, err := h.cfg.Replay.UseOnce(ctx, "oidc:resume:"+st.ID, time.Unix(st.Expires, 0).Add(time.Minute))
		if err != nil {
			h.fail(w, r, app, fmt.Errorf("replay cache: %w", err))
			return
		}
		if !fresh {
			h.reject(w, r, app, "this authorization request was already answered")
			return
		}
	}
	h.judgeAndIssue(w, r, st, c, app, sess)
}

// finishSilent answers prompt=none: the session as it is, without any page, or an error to
// the client's redirect URI (login_required, interaction_required), recorded.
func (h *Handler) finishSilent(w http.ResponseWriter, r *http.Request, st authzState, c ClientConfig, app string,
	opts signin.SessionOptions, stale func(*signin.Session) bool) {
	var sess *signin.Session
	why := signin.LoginRequired
	if ss, ok := h.cfg.Sessions.(signin.SilentSessions); ok {
		sess, why = ss.Silent(r, opts)
	}
	if sess != nil && stale(sess) {
		sess, why = nil, signin.LoginRequired
	}
	if sess == nil {
		e, desc := zoidc.ErrLoginRequired(), "prompt=none: the browser has no session Sekisho can use without a sign-in page"
		if why == signin.InteractionRequired {
			e, desc = zoidc.ErrInteractionRequired(), "prompt=none: a second factor must be given first"
		}
		h.record(r.Context(), r, app, "", "authorization request: "+why+": "+desc)
		h.redirectState(w, r, st, e.WithDescription("%s", desc))
		return
	}
	h.judgeAndIssue(w, r, st, c, app, sess)
}

// redirectState sends an error to the (validated) redirect URI of a request being finished.
func (h *Handler) redirectState(w http.ResponseWriter, r *http.Request, st authzState, e *zoidc.Error) {
	e.State = st.State
	u, err := op.AuthResponseURL(st.Redirect, zoidc.ResponseTypeCode, zoidc.ResponseModeQuery, e, h.op.Encoder())
	if err != nil {
		h.fail(w, r, "", err)
		return
	}
	noStore(w)
	http.Redirect(w, r, u, http.StatusFound)
}

// judgeAndIssue asks the gate about the session for the client's application and, when it
// allows, sends the code to the redirect URI.
func (h *Handler) judgeAndIssue(w http.ResponseWriter, r *http.Request, st authzState, c ClientConfig, app string, sess *signin.Session) {
	ctx := r.Context()
	out, err := h.cfg.Gate.Check(ctx, signin.Attempt{Protocol: Protocol, Application: app, Endpoint: signin.Passive, HTTP: r, Session: sess})
	if err != nil {
		h.fail(w, r, app, fmt.Errorf("gate: %w", err))
		return
	}
	if !out.Allowed {
		if st.Silent {
			// No page under prompt=none: the refusal goes to the client, naming the record.
			e := zoidc.ErrAccessDenied()
			if out.Decision == signin.MFARequired {
				e = zoidc.ErrInteractionRequired()
			}
			desc := "the access policy refuses this sign-in (reference " + out.EventID + ")"
			if out.Message != "" {
				desc += ": " + out.Message
			}
			h.redirectState(w, r, st, e.WithDescription("%s", desc))
			return
		}
		noStore(w)
		h.cfg.Denied(w, r, http.StatusForbidden, out.Message, out.EventID)
		return
	}
	authTime := out.AuthnInstant
	if authTime.IsZero() {
		authTime = sess.AuthnInstant
	}
	g := grant{ID: oneTimeID(), Client: c.ClientID, Redirect: st.Redirect, Scopes: st.Scopes, Nonce: st.Nonce,
		Challenge: st.Challenge, User: out.User.ID, AuthTime: authTime.Unix(), AMR: AMR(sess.Methods, out.MFA), MFA: out.MFA,
		Event: out.EventID, Session: sess.ID, Expires: h.cfg.Clock().Add(h.cfg.CodeLifetime).Unix()}
	if g.User == "" {
		g.User = sess.UserID
	}
	code, err := h.codes.seal("code", g)
	if err != nil {
		h.fail(w, r, app, err)
		return
	}
	u, err := op.AuthResponseURL(st.Redirect, zoidc.ResponseTypeCode, zoidc.ResponseModeQuery,
		&op.CodeResponseType{Code: code, State: st.State}, h.op.Encoder())
	if err != nil {
		h.fail(w, r, app, err)
		return
	}
	noStore(w)
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, u, http.StatusFound)
}
