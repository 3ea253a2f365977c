// Package oauthtokens gets the mail bridge's upstream access tokens from an OAuth 2.0 server
// (docs/mail-bridge-upstream.md): Microsoft Entra ID for Exchange Online, or any server with
// the device authorization grant (RFC 8628) and refresh tokens, Sekisho's own included.
//
// Delegated (the default): each user's mailbox is connected once — someone signs in as the
// user at the server with a device code (Authorize) — and the grant, the refresh token and
// the current access token, is kept sealed with the master key in the user's row of
// bridge_upstream_grants (profile, user), bound to that row. Token then serves the access
// token from this node's memory, or from the row while it is good for more than
// RefreshBefore, and otherwise refreshes it. A refresh is done by one node at a time: the
// node first claims the row (under its lock, after reading it again: another node may have
// refreshed meanwhile), presents the refresh token with the row unlocked, and stores the
// rotated token with the claim released; the others wait for the row. A rotating refresh
// token presented twice revokes its whole grant at servers with reuse detection (Sekisho's
// included), so it is presented once, with the caller's cancellation detached.
//
// The network call is outside the row's transaction on purpose: on SQLite a transaction holds
// the database's write lock, which would stop every sign-in of this node while the token
// service answers — and deadlock outright when the token service is this Sekisho.
//
// App-only: one client credentials token for every mailbox, per node, renewed RefreshBefore
// its expiry; nothing is stored.
package oauthtokens

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/sekisho/sekisho/internal/bridge"
	"github.com/sekisho/sekisho/internal/config"
	"github.com/sekisho/sekisho/internal/secrets"
	"github.com/sekisho/sekisho/internal/store"
)

// Defaults of a Source.
const (
	// DefaultRefreshBefore: an access token good for less than this is refreshed.
	DefaultRefreshBefore = 2 * time.Minute
	// DefaultRecheck: how long a node serves an access token from memory before it reads the
	// user's row again (a disconnect on another node reaches it within this bound).
	DefaultRecheck = time.Minute
	// DefaultTimeout bounds one request to the token service.
	DefaultTimeout = 20 * time.Second
	// unknownLifetime is assumed for an access token whose answer gave no expires_in.
	unknownLifetime = 5 * time.Minute
	// pollInterval: how often a node waiting for another node's refresh reads the row.
	pollInterval = 100 * time.Millisecond
)

// Source is a bridge.Tokens from an OAuth 2.0 server.
type Source struct {
	Profile string        // the grants' profile in the store (bridge.upstream.oauth.profile)
	OAuth   oauth2.Config // client, endpoints (TokenURL, DeviceAuthURL), scopes
	AppOnly bool          // client credentials: one token for every mailbox
	Store   store.Store
	Sealer  *secrets.Sealer
	HTTP    *http.Client // to the token service; its Timeout bounds a request (default DefaultTimeout)
	Log     *slog.Logger
	Now     func() time.Time
	// RefreshBefore and Recheck: 0 means DefaultRefreshBefore and DefaultRecheck.
	RefreshBefore time.Duration
	Recheck       time.Duration

	once  sync.Once
	node  string // this source's name in a refresh claim
	mu    sync.Mutex
	cache map[string]cached        // user ID → access token
	locks map[string]chan struct{} // user ID → one token request at a time on this node
	app   cached
}

type cached struct {
	token   string
	expiry  time.Time
	checked time.Time // when the row (or the token service) last confirmed it
}

// Grant is the sealed document of one user's connected mailbox.
type Grant struct {
	RefreshToken string    `json:"refresh_token"`
	AccessToken  string    `json:"access_token,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
	Scopes       []string  `json:"scopes,omitempty"`
	ConnectedAt  time.Time `json:"connected_at"`
	ConnectedBy  string    `json:"connected_by"`
	RefreshedAt  time.Time `json:"refreshed_at,omitzero"`
	// Broken is the token service's refusal of the refresh token (invalid_grant: revoked,
	// expired, consent withdrawn): the user must connect again.
	Broken   string    `json:"broken,omitempty"`
	BrokenAt time.Time `json:"broken_at,omitzero"`
	// RefreshingBy is the node presenting the refresh token now, until RefreshingUntil.
	RefreshingBy    string    `json:"refreshing_by,omitempty"`
	RefreshingUntil time.Time `json:"refreshing_until,omitzero"`
}

// ErrNotConnected is in the chain of the error for a user without a usable grant.
var ErrNotConnected = errors.New("the mailbox is not connected")

// NotConnectedError says that a user's mailbox has no usable grant: never connected,
// disconnected, or its refresh token refused by the token service. It is an upstream refusal
// for the doors (bridge.IsUpstreamRefusal), and the sign-in record and the log carry it.
type NotConnectedError struct {
	User     string // UPN
	Broken   string // the token service's refusal, when the grant broke
	BrokenAt time.Time
}

func (e *NotConnectedError) Error() string {
	if e.Broken != "" {
		return fmt.Sprintf("%s has not connected the mailbox: the token service refused its grant on %s (%s): run sekisho bridge upstream connect --user %s",
			e.User, e.BrokenAt.UTC().Format("2006-01-02 15:04 MST"), e.Broken, e.User)
	}
	return fmt.Sprintf("%s has not connected the mailbox: run sekisho bridge upstream connect --user %s", e.User, e.User)
}

// Unwrap makes the error ErrNotConnected and an upstream refusal.
func (e *NotConnectedError) Unwrap() []error {
	return []error{ErrNotConnected, &bridge.UpstreamError{Message: e.Error()}}
}

// FromConfig is the token source of the bridge configuration b (its defaults filled in), or
// nil when its tokens do not come from an OAuth server (tokens: sekisho). resolve makes a
// data-folder path absolute (config.Config.Resolve).
func FromConfig(b config.Bridge, resolve func(string) string, st store.Store, sealer *secrets.Sealer, log *slog.Logger) (*Source, error) {
	b = b.WithDefaults()
	switch strings.ToLower(strings.TrimSpace(b.Upstream.Tokens)) {
	case config.BridgeTokensOAuth, config.BridgeTokensMicrosoft365:
	default:
		return nil, nil
	}
	o := b.Upstream.OAuth
	secret := ""
	if o.ClientSecretFile != "" {
		raw, err := os.ReadFile(resolve(o.ClientSecretFile))
		if err != nil {
			return nil, fmt.Errorf("bridge.upstream.oauth.client_secret_file: %w", err)
		}
		if secret = strings.TrimSpace(string(raw)); secret == "" {
			return nil, fmt.Errorf("bridge.upstream.oauth.client_secret_file %s: the file is empty", o.ClientSecretFile)
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if o.CAFile != "" {
		pem, err := os.ReadFile(resolve(o.CAFile))
		if err != nil {
			return nil, fmt.Errorf("bridge.upstream.oauth.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("bridge.upstream.oauth.ca_file %s: no PEM certificate in it", o.CAFile)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	return &Source{
		Profile: o.Profile,
		OAuth: oauth2.Config{ClientID: o.ClientID, ClientSecret: secret, Scopes: o.Scopes,
			// One explicit style: auto-detection would present a refused refresh token a
			// second time, in the other style.
			Endpoint: oauth2.Endpoint{TokenURL: o.TokenURL, DeviceAuthURL: o.DeviceAuthorizationURL, AuthStyle: oauth2.AuthStyleInParams}},
		AppOnly: o.AppOnly,
		Store:   st,
		Sealer:  sealer,
		HTTP:    &http.Client{Transport: tr, Timeout: DefaultTimeout},
		Log:     log,
	}, nil
}

func (s *Source) init() {
	s.once.Do(func() {
		var b [8]byte
		_, _ = rand.Read(b[:])
		host, _ := os.Hostname()
		s.node = host + "/" + hex.EncodeToString(b[:])
		s.cache = map[string]cached{}
		s.locks = map[string]chan struct{}{}
		if s.Log == nil {
			s.Log = slog.New(slog.DiscardHandler)
		}
	})
}

func (s *Source) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

func (s *Source) refreshBefore() time.Duration {
	if s.RefreshBefore <= 0 {
		return DefaultRefreshBefore
	}
	return s.RefreshBefore
}

func (s *Source) recheck() time.Duration {
	if s.Recheck <= 0 {
		return DefaultRecheck
	}
	return s.Recheck
}

func (s *Source) client() *http.Client {
	if s.HTTP == nil {
		return &http.Client{Timeout: DefaultTimeout}
	}
	return s.HTTP
}

func (s *Source) timeout() time.Duration {
	if t := s.client().Timeout; t > 0 {
		return t
	}
	return DefaultTimeout
}

// lease is how long a refresh claim holds: a request's timeout and some.
func (s *Source) lease() time.Duration { return s.timeout() + 10*time.Second }

// oauthContext is ctx for the oauth2 package: this source's HTTP client.
func (s *Source) oauthContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, s.client())
}

// Token implements bridge.Tokens.
func (s *Source) Token(ctx context.Context, l bridge.Login) (string, error) {
	s.init()
	if s.AppOnly {
		return s.appToken(ctx)
	}
	return s.UserToken(ctx, l.User)
}

// appToken is the client credentials token, reused until RefreshBefore its expiry.
func (s *Source) appToken(ctx context.Context) (string, error) {
	unlock, err := s.lock(ctx, "")
	if err != nil {
		return "", err
	}
	defer unlock()
	now := s.now()
	if s.app.token != "" && s.app.expiry.After(now.Add(s.refreshBefore())) {
		return s.app.token, nil
	}
	cc := clientcredentials.Config{ClientID: s.OAuth.ClientID, ClientSecret: s.OAuth.ClientSecret, TokenURL: s.OAuth.Endpoint.TokenURL,
		Scopes: s.OAuth.Scopes, AuthStyle: oauth2.AuthStyleInParams}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout())
	defer cancel()
	tok, err := cc.Token(s.oauthContext(rctx))
	if err != nil {
		return "", fmt.Errorf("app-only token from %s for client %s: %s", s.OAuth.Endpoint.TokenURL, s.OAuth.ClientID, describe(err))
	}
	s.app = cached{token: tok.AccessToken, expiry: expiry(tok, s.now()), checked: now}
	s.Log.DebugContext(ctx, "mail bridge: app-only upstream token", "profile", s.Profile, "expires", s.app.expiry)
	return tok.AccessToken, nil
}

// lock serialises one key's token requests on this node.
func (s *Source) lock(ctx context.Context, key string) (func(), error) {
	s.init()
	s.mu.Lock()
	ch, ok := s.locks[key]
	if !ok {
		ch = make(chan struct{}, 1)
		s.locks[key] = ch
	}
	s.mu.Unlock()
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *Source) fromMemory(userID string, now time.Time) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.cache[userID]
	if !ok || !c.expiry.After(now.Add(s.refreshBefore())) || !now.Before(c.checked.Add(s.recheck())) {
		return "", false
	}
	return c.token, true
}

func (s *Source) remember(userID string, g Grant, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cache[userID] = cached{token: g.AccessToken, expiry: g.Expiry, checked: now}
}

func (s *Source) forget(userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.cache, userID)
}

// fresh reports whether g's access token is good for more than RefreshBefore at now.
func (s *Source) fresh(g Grant, now time.Time) bool {
	return g.AccessToken != "" && g.Expiry.After(now.Add(s.refreshBefore()))
}

// errUnchanged and errGone end a row update without writing.
var (
	errUnchanged = errors.New("unchanged")
	errGone      = errors.New("no grant")
)

// UserToken is the delegated access token for u's mailbox.
func (s *Source) UserToken(ctx context.Context, u store.User) (string, error) {
	s.init()
	if u.ID == "" {
		return "", errors.New("mail bridge upstream token: no user")
	}
	if tok, ok := s.fromMemory(u.ID, s.now()); ok {
		return tok, nil
	}
	unlock, err := s.lock(ctx, u.ID)
	if err != nil {
		return "", err
	}
	defer unlock()
	deadline := time.Now().Add(s.lease() + s.timeout())
	for {
		now := s.now()
		if tok, ok := s.fromMemory(u.ID, now); ok {
			return tok, nil
		}
		row, err := s.Store.GetBridgeUpstreamGrant(ctx, s.Profile, u.ID)
		if errors.Is(err, store.ErrNotFound) {
			s.forget(u.ID)
			return "", &NotConnectedError{User: u.UPN}
		}
		if err != nil {
			return "", fmt.Errorf("the mailbox grant of %s: %w", u.UPN, err)
		}
		g, err := s.Open(row)
		if err != nil {
			return "", fmt.Errorf("the mailbox grant of %s: %w", u.UPN, err)
		}
		if g.Broken != "" {
			s.forget(u.ID)
			return "", &NotConnectedError{User: u.UPN, Broken: g.Broken, BrokenAt: g.BrokenAt}
		}
		if s.fresh(g, now) {
			s.remember(u.ID, g, now)
			return g.AccessToken, nil
		}
		claimed, g, err := s.claim(ctx, u)
		switch {
		case errors.Is(err, errGone):
			s.forget(u.ID)
			return "", &NotConnectedError{User: u.UPN}
		case err != nil:
			return "", fmt.Errorf("the mailbox grant of %s: %w", u.UPN, err)
		case g.Broken != "":
			return "", &NotConnectedError{User: u.UPN, Broken: g.Broken, BrokenAt: g.BrokenAt}
		case s.fresh(g, s.now()):
			s.remember(u.ID, g, s.now())
			return g.AccessToken, nil
		case claimed:
			return s.refresh(ctx, u, g)
		}
		// Another node is refreshing: wait for its result (or for its claim to lapse).
		if time.Now().After(deadline) {
			return "", fmt.Errorf("the token refresh for %s by node %s did not finish", u.UPN, g.RefreshingBy)
		}
		t := time.NewTimer(pollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return "", ctx.Err()
		case <-t.C:
		}
	}
}

// claim reads u's row again under its lock and, when its access token still needs a refresh
// and no other node's claim is in force, claims the refresh for this node. It returns the
// row's grant (with the claim when claimed).
func (s *Source) claim(ctx context.Context, u store.User) (bool, Grant, error) {
	var g Grant
	claimed := false
	_, err := s.Store.UpdateBridgeUpstreamGrant(ctx, s.Profile, u.ID, func(old store.BridgeUpstreamGrant, found bool) (store.BridgeUpstreamGrant, error) {
		if !found {
			return old, errGone
		}
		cur, err := s.Open(old)
		if err != nil {
			return old, err
		}
		g = cur
		now := s.now()
		if cur.Broken != "" || s.fresh(cur, now) || cur.RefreshingBy != "" && cur.RefreshingBy != s.node && now.Before(cur.RefreshingUntil) {
			return old, errUnchanged
		}
		if cur.RefreshingBy != "" && cur.RefreshingBy != s.node {
			s.Log.WarnContext(ctx, "mail bridge: taking over a lapsed upstream token refresh", "user", u.UPN, "node", cur.RefreshingBy)
		}
		cur.RefreshingBy, cur.RefreshingUntil = s.node, now.Add(s.lease())
		sealed, err := s.Seal(u.ID, cur)
		if err != nil {
			return old, err
		}
		g, claimed = cur, true
		return store.BridgeUpstreamGrant{Sealed: sealed, UpdatedAt: now}, nil
	})
	if errors.Is(err, errUnchanged) {
		err = nil
	}
	return claimed, g, err
}

// refresh presents g's refresh token (this node holds the claim) and stores the outcome.
func (s *Source) refresh(ctx context.Context, u store.User, g Grant) (string, error) {
	// Detached from the caller: once presented, the rotated token must be stored even if the
	// device hung up meanwhile, or the next refresh would present a used token.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.lease())
	defer cancel()
	presented := g.RefreshToken
	rctx, rcancel := context.WithTimeout(dctx, s.timeout())
	tok, rerr := s.OAuth.TokenSource(s.oauthContext(rctx), &oauth2.Token{RefreshToken: presented}).Token()
	rcancel()
	refused := rerr != nil && grantRefused(rerr)
	var final Grant
	var err error
	for attempt := range 3 {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * 200 * time.Millisecond)
		}
		_, err = s.Store.UpdateBridgeUpstreamGrant(dctx, s.Profile, u.ID, func(old store.BridgeUpstreamGrant, found bool) (store.BridgeUpstreamGrant, error) {
			if !found {
				return old, errGone
			}
			cur, err := s.Open(old)
			if err != nil {
				return old, err
			}
			final = cur
			if cur.RefreshToken != presented {
				// Connected again (or a lapsed claim taken over) meanwhile: that grant stands.
				return old, errUnchanged
			}
			now := s.now()
			if cur.RefreshingBy == s.node {
				cur.RefreshingBy, cur.RefreshingUntil = "", time.Time{}
			}
			switch {
			case rerr == nil:
				cur.AccessToken, cur.Expiry, cur.RefreshedAt = tok.AccessToken, expiry(tok, now), now
				if tok.RefreshToken != "" {
					cur.RefreshToken = tok.RefreshToken
				}
				if sc := scopesOf(tok); len(sc) > 0 {
					cur.Scopes = sc
				}
			case refused:
				cur.Broken, cur.BrokenAt = describe(rerr), now
				cur.AccessToken, cur.Expiry = "", time.Time{}
			}
			sealed, err := s.Seal(u.ID, cur)
			if err != nil {
				return old, err
			}
			final = cur
			return store.BridgeUpstreamGrant{Sealed: sealed, UpdatedAt: now}, nil
		})
		if err == nil || errors.Is(err, errUnchanged) || errors.Is(err, errGone) {
			break
		}
	}
	switch {
	case errors.Is(err, errGone):
		s.forget(u.ID)
		return "", &NotConnectedError{User: u.UPN}
	case errors.Is(err, errUnchanged):
		// The grant was replaced meanwhile (connected again): its token, or ours while good.
		now := s.now()
		if s.fresh(final, now) {
			s.remember(u.ID, final, now)
			return final.AccessToken, nil
		}
		if rerr == nil {
			return tok.AccessToken, nil
		}
		return "", fmt.Errorf("token refresh for %s: the grant was replaced meanwhile, try again", u.UPN)
	case err != nil:
		if rerr == nil {
			// The token service rotated the refresh token and the new one is lost: the next
			// refresh presents the old one, and the user will have to connect again.
			s.Log.ErrorContext(ctx, "mail bridge: the rotated upstream refresh token could not be stored", "user", u.UPN, "profile", s.Profile, "err", err)
			return tok.AccessToken, nil
		}
		return "", fmt.Errorf("the mailbox grant of %s: %w", u.UPN, err)
	case rerr == nil:
		now := s.now()
		s.remember(u.ID, final, now)
		s.Log.DebugContext(ctx, "mail bridge: upstream token refreshed", "user", u.UPN, "profile", s.Profile, "rotated", tok.RefreshToken != "" && tok.RefreshToken != presented)
		return tok.AccessToken, nil
	case refused:
		s.forget(u.ID)
		s.Log.WarnContext(ctx, "mail bridge: the token service refused a user's refresh token; the mailbox must be connected again",
			"user", u.UPN, "profile", s.Profile, "err", describe(rerr))
		if final.Broken == "" {
			final.Broken, final.BrokenAt = describe(rerr), s.now()
		}
		return "", &NotConnectedError{User: u.UPN, Broken: final.Broken, BrokenAt: final.BrokenAt}
	}
	return "", fmt.Errorf("token refresh for %s at %s: %s", u.UPN, s.OAuth.Endpoint.TokenURL, describe(rerr))
}

// grantRefused reports whether the token service refused the grant itself: the user must
// connect again (a client or server problem is not the grant's).
func grantRefused(err error) bool {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return false
	}
	switch re.ErrorCode {
	case "invalid_grant", "interaction_required", "consent_required", "login_required":
		return true
	}
	return false
}

// describe is the token service's error in one line: its code and description, or the
// status and a bounded body.
func describe(err error) string {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return err.Error()
	}
	msg := re.ErrorCode
	if re.ErrorDescription != "" {
		msg += ": " + re.ErrorDescription
	}
	if msg == "" {
		status := "no response"
		if re.Response != nil {
			status = re.Response.Status
		}
		body := strings.TrimSpace(string(re.Body))
		if len(body) > 200 {
			body = body[:200] + "…"
		}
		msg = status + " " + body
	}
	// Microsoft's descriptions carry a trace and correlation ID on further lines.
	msg, _, _ = strings.Cut(msg, "\r\n")
	msg, _, _ = strings.Cut(msg, "\n")
	return strings.TrimSpace(msg)
}

// expiry is when tok expires on this source's clock (the oauth2 package's Expiry is on the
// wall clock), or unknownLifetime from now when the answer did not say.
func expiry(tok *oauth2.Token, now time.Time) time.Time {
	switch {
	case tok.ExpiresIn > 0:
		return now.Add(time.Duration(tok.ExpiresIn) * time.Second)
	case !tok.Expiry.IsZero():
		return now.Add(time.Until(tok.Expiry))
	}
	return now.Add(unknownLifetime)
}

func scopesOf(tok *oauth2.Token) []string {
	s, _ := tok.Extra("scope").(string)
	return strings.Fields(s)
}

// aad binds a sealed grant to its row.
func aad(profile, userID string) []byte { return []byte("bridge-upstream:" + profile + ":" + userID) }

// Seal seals g for userID's row of this source's profile.
func (s *Source) Seal(userID string, g Grant) ([]byte, error) {
	b, err := json.Marshal(g)
	if err != nil {
		return nil, err
	}
	return s.Sealer.Seal(b, aad(s.Profile, userID))
}

// Open opens a row's grant.
func (s *Source) Open(row store.BridgeUpstreamGrant) (Grant, error) {
	var g Grant
	b, err := s.Sealer.Open(row.Sealed, aad(row.Profile, row.UserID))
	if err != nil {
		return g, err
	}
	if err := json.Unmarshal(b, &g); err != nil {
		return g, fmt.Errorf("sealed mailbox grant: %w", err)
	}
	return g, nil
}

// Outcomes of connecting a mailbox (Authorize, NewGrant) that an interface explains in its own
// words; they are in the chain of the error returned.
var (
	// ErrSignInRefused: whoever opened the verification address refused the request there
	// (access_denied).
	ErrSignInRefused = errors.New("the sign-in was refused at the token service")
	// ErrCodeExpired: nobody approved the code before it expired.
	ErrCodeExpired = errors.New("the code expired before the sign-in was completed: connect again")
)

// OtherUserError is NewGrant's refusal of a code approved by someone else than the mailbox's
// user: the bridge would log in to the user's mailbox with another person's grant.
type OtherUserError struct {
	Who  string // the name the ID token gives who signed in
	User string // the mailbox's user (UPN)
}

func (e *OtherUserError) Error() string {
	return fmt.Sprintf("the code was approved as %s, not %s: sign in as the mailbox's user (the bridge logs in to %s's mailbox with this grant)",
		e.Who, e.User, e.User)
}

// DeviceCode is what the person connecting a mailbox is shown.
type DeviceCode struct {
	VerificationURI         string
	VerificationURIComplete string // with the code filled in, when the server gives one
	UserCode                string
	Expiry                  time.Time
}

// Authorize runs the device authorization grant (RFC 8628): show is called with where to go
// and the code to enter, and Authorize returns once the user approved, refused, or the code
// expired (or ctx ended).
func (s *Source) Authorize(ctx context.Context, show func(DeviceCode) error) (*oauth2.Token, error) {
	if s.AppOnly {
		return nil, errors.New("bridge.upstream.oauth.app_only: one token serves every mailbox; there is nothing to connect per user")
	}
	if s.OAuth.Endpoint.DeviceAuthURL == "" {
		return nil, errors.New("bridge.upstream.oauth.device_authorization_url is not set")
	}
	octx := s.oauthContext(ctx)
	da, err := s.OAuth.DeviceAuth(octx)
	if err != nil {
		return nil, fmt.Errorf("device authorization at %s: %s", s.OAuth.Endpoint.DeviceAuthURL, describe(err))
	}
	if err := show(DeviceCode{VerificationURI: da.VerificationURI, VerificationURIComplete: da.VerificationURIComplete,
		UserCode: da.UserCode, Expiry: da.Expiry}); err != nil {
		return nil, err
	}
	tok, err := s.OAuth.DeviceAccessToken(octx, da)
	if err != nil {
		var re *oauth2.RetrieveError
		switch {
		case errors.As(err, &re) && re.ErrorCode == "access_denied":
			return nil, fmt.Errorf("%w (%s)", ErrSignInRefused, describe(err))
		case errors.As(err, &re) && re.ErrorCode == "expired_token", errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
			return nil, ErrCodeExpired
		case errors.As(err, &re):
			return nil, fmt.Errorf("device code at %s: %s", s.OAuth.Endpoint.TokenURL, describe(err))
		}
		return nil, fmt.Errorf("device code at %s: %w", s.OAuth.Endpoint.TokenURL, err)
	}
	return tok, nil
}

// NewGrant is the grant of the device flow's tokens for upn's mailbox, connected by whom at
// now. When the answer carries an ID token that names who signed in, it must be upn: the
// bridge logs in to upn's mailbox with the grant.
func (s *Source) NewGrant(tok *oauth2.Token, upn, by string, now time.Time) (Grant, error) {
	if tok.RefreshToken == "" {
		return Grant{}, errors.New("the token service gave no refresh token: ask for it (offline_access in bridge.upstream.oauth.scopes) " +
			"and allow the client the refresh_token grant")
	}
	if who := signedInAs(tok); len(who) > 0 {
		match := false
		for _, w := range who {
			match = match || strings.EqualFold(w, upn)
		}
		if !match {
			return Grant{}, &OtherUserError{Who: who[0], User: upn}
		}
	}
	sc := scopesOf(tok)
	if len(sc) == 0 {
		sc = s.OAuth.Scopes
	}
	return Grant{RefreshToken: tok.RefreshToken, AccessToken: tok.AccessToken, Expiry: expiry(tok, now), Scopes: sc,
		ConnectedAt: now.UTC(), ConnectedBy: by}, nil
}

// signedInAs lists the names an ID token in tok's answer gives the user (none without one).
// The token came straight from the token service over verified TLS (OpenID Connect Core
// 3.1.3.7), so its claims are read without checking its signature.
func signedInAs(tok *oauth2.Token) []string {
	raw, _ := tok.Extra("id_token").(string)
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil
	}
	var c map[string]any
	if json.Unmarshal(b, &c) != nil {
		return nil
	}
	var out []string
	for _, k := range []string{"preferred_username", "upn", "email", "unique_name"} {
		if v, _ := c[k].(string); v != "" {
			out = append(out, v)
		}
	}
	return out
}
