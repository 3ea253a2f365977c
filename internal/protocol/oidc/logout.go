package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/store"
)

// Logout. RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) ends the browser's SSO
// session at /oidc/logout and returns the browser to a post-logout redirect URI registered
// exactly for the client; back-channel logout (OpenID Connect Back-Channel Logout 1.0) tells
// every OpenID Connect client of an ended session that registered a back-channel logout URI,
// with a signed logout token naming the session (sid) and the user (sub). Whichever door
// ended the session — this endpoint, Sekisho's own sign-out button, a SAML single logout —
// the session manager calls BackchannelLogout with the applications the session signed in
// to, so every relying party hears of it the same way.

// Logout token settings.
const (
	logoutTokenLifetime = 2 * time.Minute
	logoutTimeout       = 5 * time.Second // one relying party's delivery
	logoutParallel      = 4               // deliveries at once
	// EventBackchannelLogout is the logout token's event (Back-Channel Logout 1.0 section 2.4).
	EventBackchannelLogout = "http://schemas.openid.net/event/backchannel-logout"
)

// AppsByName finds an application by its name (store.Store implements it).
type AppsByName interface {
	GetApplication(ctx context.Context, name string) (store.Application, error)
}

// endSession serves the end_session_endpoint. With an id_token_hint Sekisho issued (expired
// ones count: a user signs out long after signing in) whose session is the browser's, the
// session ends at once and the browser goes to post_logout_redirect_uri (registered exactly
// for the hint's client) with the state. Without one, nobody proves the request comes from an
// application the user uses, so the browser is sent to Sekisho's own sign-out page, which
// asks the user (a cross-site link cannot sign anyone out).
func (h *Handler) endSession(w http.ResponseWriter, r *http.Request) {
	r = h.withIssuer(r)
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		h.reject(w, r, "", "logout request: malformed: "+err.Error())
		return
	}
	ctx := r.Context()
	hint, clientID := r.Form.Get("id_token_hint"), r.Form.Get("client_id")
	postLogout, state := r.Form.Get("post_logout_redirect_uri"), r.Form.Get("state")
	if len(state) > maxState {
		h.reject(w, r, "", "logout request: state too long")
		return
	}
	var claims *zoidc.IDTokenClaims
	if hint != "" {
		var err error
		claims, err = op.VerifyIDTokenHint[*zoidc.IDTokenClaims](ctx, hint, h.op.IDTokenHintVerifier(ctx))
		var expired op.IDTokenHintExpiredError
		if err != nil && !errors.As(err, &expired) {
			h.reject(w, r, "", "logout request: id_token_hint is not an ID token Sekisho issued: "+err.Error())
			return
		}
		aud := claims.GetAudience()
		switch {
		case len(aud) == 0:
			h.reject(w, r, "", "logout request: id_token_hint has no audience")
			return
		case clientID == "":
			clientID = aud[0]
		case !contains(aud, clientID):
			h.reject(w, r, "", "logout request: client_id is not the id_token_hint's audience")
			return
		}
	}
	var c ClientConfig
	app := ""
	if clientID != "" {
		var err error
		c, app, err = LookupClient(ctx, h.cfg.Apps, clientID)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				h.reject(w, r, "", fmt.Sprintf("logout request: client_id %q is not a registered client", limit(clientID, 100)))
				return
			}
			h.fail(w, r, app, err)
			return
		}
	}
	if postLogout != "" && (clientID == "" || !c.HasPostLogoutRedirectURI(postLogout)) {
		// Never a redirect to an address the request names unless the client registered it.
		h.reject(w, r, app, fmt.Sprintf("logout request: post_logout_redirect_uri %q is not registered for the client", limit(postLogout, 300)))
		return
	}
	if claims == nil {
		noStore(w)
		http.Redirect(w, r, "/logout", http.StatusSeeOther) // the user confirms on Sekisho's page
		return
	}
	// The hint must describe the browser's session: another user's (or an old session's)
	// token does not sign this browser out without asking.
	var sess *signin.Session
	if ss, ok := h.cfg.Sessions.(signin.SilentSessions); ok {
		sess, _ = ss.Silent(r, signin.SessionOptions{})
	}
	if sess != nil {
		sid, _ := claims.Claims["sid"].(string)
		if claims.Subject != h.subjectFor(c, sess.UserID) || sid != "" && sid != sess.ID {
			noStore(w)
			http.Redirect(w, r, "/logout", http.StatusSeeOther)
			return
		}
	}
	final := "/logout" // Sekisho's "signed out"
	if postLogout != "" {
		u, err := url.Parse(postLogout)
		if err != nil {
			h.fail(w, r, app, err)
			return
		}
		if state != "" {
			q := u.Query()
			q.Set("state", state)
			u.RawQuery = q.Encode()
		}
		final = u.String()
	}
	noStore(w)
	w.Header().Set("Referrer-Policy", "no-referrer")
	if sess != nil {
		apps, err := h.cfg.Sessions.End(ctx, w, r)
		if err != nil {
			h.fail(w, r, app, fmt.Errorf("end session: %w", err))
			return
		}
		h.cfg.Logger.InfoContext(ctx, "oidc logout: session ended at the client's request", "app", app, "user", sess.UserID)
		// The session's SAML applications hear of it through the browser, then the browser
		// goes on to final; its OpenID Connect clients hear by the back channel (BackchannelLogout).
		if h.cfg.SAMLLogout != nil {
			if u, err := h.cfg.Users.GetUser(ctx, sess.UserID); err == nil && h.cfg.SAMLLogout(w, r, u, apps, sess.ID, final) {
				return
			}
		}
	}
	http.Redirect(w, r, final, http.StatusFound)
}

// BackchannelLogout sends a logout token to every OpenID Connect client among the ended
// session's applications that registered a back-channel logout URI. Deliveries run in the
// background (the sign-out does not wait for them), at most logoutParallel at once, each
// bounded by logoutTimeout; each outcome is in the server log.
func (h *Handler) BackchannelLogout(ctx context.Context, ended signin.EndedSession) {
	if h.cfg.AppsByName == nil || len(ended.Apps) == 0 {
		return
	}
	ctx = context.WithoutCancel(ctx)
	type delivery struct {
		app string
		c   ClientConfig
	}
	var todo []delivery
	for _, name := range ended.Apps {
		a, err := h.cfg.AppsByName.GetApplication(ctx, name)
		if err != nil || a.Protocol != Protocol {
			continue // not an OpenID Connect client (a SAML application, Sekisho's own pages)
		}
		c, err := ParseClientConfig(a.Config)
		if err != nil || c.BackchannelLogoutURI == "" {
			continue
		}
		todo = append(todo, delivery{name, c})
	}
	if len(todo) == 0 {
		return
	}
	go func() {
		sem := make(chan struct{}, logoutParallel)
		var wg sync.WaitGroup
		for _, d := range todo {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				err := h.sendLogoutToken(ctx, d.c, ended)
				if err != nil {
					h.cfg.Logger.WarnContext(ctx, "oidc back-channel logout failed", "app", d.app, "uri", d.c.BackchannelLogoutURI, "err", err)
					return
				}
				h.cfg.Logger.InfoContext(ctx, "oidc back-channel logout delivered", "app", d.app, "session", ended.ID)
			}()
		}
		wg.Wait()
		if h.logoutDone != nil {
			h.logoutDone(len(todo))
		}
	}()
}

// logoutToken is a signed logout token for client c about the ended session.
func (h *Handler) logoutToken(ctx context.Context, c ClientConfig, ended signin.EndedSession) (string, error) {
	sk, err := h.keys.signingFor(ctx, c) // the client's algorithm, as its ID tokens
	if err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: sk.SignatureAlgorithm(), Key: sk.Key()},
		(&jose.SignerOptions{}).WithType("logout+jwt").WithHeader("kid", sk.ID()))
	if err != nil {
		return "", fmt.Errorf("logout token signer: %w", err)
	}
	now := h.cfg.Clock()
	claims := map[string]any{
		"iss": h.cfg.Issuer, "aud": c.ClientID, "iat": now.Unix(), "exp": now.Add(logoutTokenLifetime).Unix(),
		"jti": "_" + oneTimeID(), "events": map[string]any{EventBackchannelLogout: map[string]any{}},
	}
	if ended.UserID != "" {
		claims["sub"] = h.subjectFor(c, ended.UserID)
	}
	if ended.ID != "" {
		claims["sid"] = ended.ID
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("logout token: %w", err)
	}
	return jws.CompactSerialize()
}

// sendLogoutToken POSTs the logout token to the client's back-channel logout URI: a 200 or
// 204 is success (Back-Channel Logout 1.0 section 2.8).
func (h *Handler) sendLogoutToken(ctx context.Context, c ClientConfig, ended signin.EndedSession) error {
	tok, err := h.logoutToken(ctx, c, ended)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, logoutTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BackchannelLogoutURI,
		strings.NewReader(url.Values{"logout_token": {tok}}.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	client := h.cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: logoutTimeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("the client answered %d", resp.StatusCode)
	}
	return nil
}
