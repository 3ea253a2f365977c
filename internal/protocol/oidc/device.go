package oidc

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
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

// The device authorization grant (RFC 8628), for command-line tools and devices without a
// browser. The device asks /oidc/device_authorization for a pair of codes; the user opens
// /oidc/device in any browser, signs in there (Sekisho's own page, the second factor if the
// policy asks), checks that the code on the page is the one on the device, and approves. The
// gate judges that approval as a sign-in to the client's application from the browser, and
// writes the record; the device, polling the token endpoint, then receives tokens once.
//
// Both codes live in the store (every node sees them): the device code only as its SHA-256
// (256 random bits), the user code (8 letters of a 20-letter alphabet without vowels, about
// 34 bits) while its pair lives. A user code is only accepted from a signed-in browser, and
// every wrong or stale one is recorded under that user, so guessing one is an audited act of
// a known user against a space of 2.6e10 codes that live ten minutes.

// Device grant settings.
const (
	DeviceCodeLifetime = 10 * time.Minute
	DevicePollInterval = 5 * time.Second
	// userCodeAlphabet has no vowels (no words) and no easily confused letters.
	userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"
	userCodeLength   = 8
	deviceCodeBytes  = 32
	// slowDownStep is added to a device's interval each time it polls too fast (RFC 8628 3.5).
	slowDownStep = 5
)

// DeviceView is what the user's device page shows.
type DeviceView struct {
	// Step: "enter" (type the code), "confirm" (approve or refuse the named application),
	// "approved" (go back to the device), "refused" (the user said no).
	Step        string
	UserCode    string // formatted XXXX-XXXX
	Application string
	Scopes      []string
	ErrorKey    string // "bad_code": unknown, expired or already used; "csrf": the form's token is wrong
	Action      string // the form's target (DevicePath)
}

// DeviceStore keeps device authorizations (store.Store implements it).
type DeviceStore interface {
	CreateDeviceCode(ctx context.Context, d store.DeviceCode) error
	GetDeviceCodeByUserCode(ctx context.Context, userCode string) (store.DeviceCode, error)
	UpdateDeviceCode(ctx context.Context, hash []byte, fn func(store.DeviceCode) (store.DeviceCode, error)) (store.DeviceCode, error)
}

// newUserCode draws a user code (unformatted) uniformly from the alphabet.
func newUserCode() (string, error) {
	var b strings.Builder
	max := big.NewInt(int64(len(userCodeAlphabet)))
	for range userCodeLength {
		n, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", fmt.Errorf("user code: %w", err)
		}
		b.WriteByte(userCodeAlphabet[n.Int64()])
	}
	return b.String(), nil
}

// normalizeUserCode accepts what a person types: any case, with or without the dash or
// spaces. Anything else is not a user code ("").
func normalizeUserCode(s string) string {
	if len(s) > 32 {
		return ""
	}
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		switch {
		case r == '-' || r == ' ':
		case strings.ContainsRune(userCodeAlphabet, r):
			b.WriteRune(r)
		default:
			return ""
		}
	}
	if b.Len() != userCodeLength {
		return ""
	}
	return b.String()
}

// formatUserCode is the code as shown: XXXX-XXXX.
func formatUserCode(s string) string {
	if len(s) != userCodeLength {
		return s
	}
	return s[:4] + "-" + s[4:]
}

// deviceAuthorization serves the device authorization endpoint: a client registered for the
// device grant (a public one with its client_id, a confidential one with its secret) receives
// a device code, a user code and where the user goes.
func (h *Handler) deviceAuthorization(w http.ResponseWriter, r *http.Request) {
	r = h.withIssuer(r)
	noStore(w)
	if err := parseTokenForm(w, r); err != nil {
		h.record(r.Context(), r, "", "", "device authorization: malformed request: "+err.Error())
		h.answerError(w, zoidc.ErrInvalidRequest().WithDescription("%s", err.Error()))
		return
	}
	ca, e, why := h.authenticateCaller(r, true)
	if e != nil {
		h.record(r.Context(), r, ca.app, "", "device authorization: "+string(e.ErrorType)+": "+why)
		h.answerError(w, e)
		return
	}
	c := ca.client
	if !c.Allows(GrantDeviceCode) {
		h.record(r.Context(), r, ca.app, "", "device authorization: unauthorized_client: the client is not registered for the device grant")
		h.answerError(w, zoidc.ErrUnauthorizedClient().WithDescription("this client may not use the device authorization grant"))
		return
	}
	// The scopes granted are those asked for that the client is allowed (openid if none).
	var scopes []string
	for _, s := range strings.Fields(r.PostForm.Get("scope")) {
		if c.IsAllowedScope(s) && !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	if len(scopes) == 0 {
		scopes = []string{ScopeOpenID}
	}
	var raw [deviceCodeBytes]byte
	if _, err := rand.Read(raw[:]); err != nil {
		h.deviceFailure(w, r, ca.app, err)
		return
	}
	deviceCode := base64.RawURLEncoding.EncodeToString(raw[:])
	now := h.cfg.Clock().UTC()
	d := store.DeviceCode{Hash: refreshHash(deviceCode), ClientID: c.ClientID, Scopes: scopes, State: store.DevicePending,
		CreatedAt: now, ExpiresAt: now.Add(DeviceCodeLifetime), Interval: int(DevicePollInterval / time.Second)}
	var err error
	for range 5 { // a user code taken by a live pair: draw again
		if d.UserCode, err = newUserCode(); err != nil {
			break
		}
		if err = h.cfg.Tokens.CreateDeviceCode(r.Context(), d); !errors.Is(err, store.ErrConflict) {
			break
		}
	}
	if err != nil {
		h.deviceFailure(w, r, ca.app, err)
		return
	}
	verification := h.cfg.Issuer + DevicePath
	writeJSON(w, http.StatusOK, zoidc.DeviceAuthorizationResponse{
		DeviceCode:              deviceCode,
		UserCode:                formatUserCode(d.UserCode),
		VerificationURI:         verification,
		VerificationURIComplete: verification + "?user_code=" + url.QueryEscape(formatUserCode(d.UserCode)),
		ExpiresIn:               int(DeviceCodeLifetime / time.Second),
		Interval:                d.Interval,
	})
}

func (h *Handler) deviceFailure(w http.ResponseWriter, r *http.Request, app string, err error) {
	h.cfg.Logger.ErrorContext(r.Context(), "oidc device authorization", "app", app, "err", err)
	h.record(r.Context(), r, app, "", "device authorization: internal error: "+err.Error())
	h.answerError(w, zoidc.ErrServerError().WithDescription("Sekisho could not complete the request; try again"))
}

// device serves the user's page: enter the code, confirm the application, approve or refuse.
// The browser must be signed in first, so every code entered is entered by a known user.
func (h *Handler) device(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		h.reject(w, r, "", "device page: malformed form: "+err.Error())
		return
	}
	typed := r.Form.Get("user_code")
	code := normalizeUserCode(typed)
	returnTo := DevicePath
	if code != "" {
		returnTo += "?user_code=" + url.QueryEscape(formatUserCode(code))
	}
	view := DeviceView{Step: "enter", Action: DevicePath}
	if r.Method == http.MethodPost && !h.cfg.CheckCSRF(r) {
		// A cross-site POST (the browser's cookies without the page's token) decides nothing.
		h.record(r.Context(), r, "", "", "device page: missing or invalid CSRF token")
		view.ErrorKey = "csrf"
		h.cfg.DevicePage(w, r, http.StatusForbidden, view)
		return
	}
	// The code names the application: look it up before asking for the session, so that the
	// sign-in page and the second-factor step know which application is signed in to.
	var d store.DeviceCode
	app := ""
	bad := typed != ""
	if code != "" {
		var err error
		d, err = h.cfg.Tokens.GetDeviceCodeByUserCode(r.Context(), code)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			h.fail(w, r, "", fmt.Errorf("device codes: %w", err))
			return
		case d.State != store.DevicePending || !h.cfg.Clock().Before(d.ExpiresAt):
		default:
			_, app, err = LookupClient(r.Context(), h.cfg.Apps, d.ClientID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				h.fail(w, r, app, err)
				return
			}
			bad = err != nil
		}
	}
	sess, ok := h.cfg.Sessions.Require(w, r, signin.SessionOptions{ReturnTo: returnTo, Application: app})
	if !ok {
		return
	}
	if bad {
		why := "unknown user code"
		switch {
		case code == "":
			why = "malformed user code"
		case d.State == store.DevicePending && !h.cfg.Clock().Before(d.ExpiresAt):
			why = "user code expired"
		case d.State != "" && d.State != store.DevicePending:
			why = "user code already used (" + string(d.State) + ")"
		}
		h.record(r.Context(), r, app, h.upn(r.Context(), sess.UserID), "device authorization: "+why)
		view.ErrorKey = "bad_code"
		h.cfg.DevicePage(w, r, http.StatusBadRequest, view)
		return
	}
	if code == "" {
		h.cfg.DevicePage(w, r, http.StatusOK, view)
		return
	}
	view.UserCode, view.Application, view.Scopes = formatUserCode(code), app, d.Scopes
	if r.Method != http.MethodPost {
		view.Step = "confirm"
		h.cfg.DevicePage(w, r, http.StatusOK, view)
		return
	}
	if r.PostForm.Get("action") != "approve" {
		h.decideDevice(w, r, d, func(x *store.DeviceCode) { x.State = store.DeviceDenied })
		h.record(r.Context(), r, app, h.upn(r.Context(), sess.UserID), "device authorization: refused by the user")
		view.Step = "refused"
		h.cfg.DevicePage(w, r, http.StatusOK, view)
		return
	}
	out, err := h.cfg.Gate.Check(r.Context(), signin.Attempt{Protocol: Protocol, Application: app, Endpoint: signin.Passive, HTTP: r, Session: sess})
	if err != nil {
		h.fail(w, r, app, fmt.Errorf("gate: %w", err))
		return
	}
	if !out.Allowed {
		// The device hears access_denied; the browser sees the denial page with the record.
		h.decideDevice(w, r, d, func(x *store.DeviceCode) { x.State, x.EventID = store.DeviceDenied, out.EventID })
		noStore(w)
		h.cfg.Denied(w, r, http.StatusForbidden, out.Message, out.EventID)
		return
	}
	authTime := out.AuthnInstant
	if authTime.IsZero() {
		authTime = sess.AuthnInstant
	}
	user := out.User.ID
	if user == "" {
		user = sess.UserID
	}
	if !h.decideDevice(w, r, d, func(x *store.DeviceCode) {
		x.State, x.UserID, x.AuthTime, x.AMR, x.MFA = store.DeviceApproved, user, authTime.UTC(), AMR(sess.Methods, out.MFA), out.MFA
		x.EventID, x.SessionID = out.EventID, sess.ID
	}) {
		return
	}
	view.Step = "approved"
	h.cfg.DevicePage(w, r, http.StatusOK, view)
}

var errNotPending = errors.New("the device authorization was decided or expired meanwhile")

// decideDevice applies the user's decision to a pending, live authorization. When it was
// decided or expired meanwhile (another tab, the ten minutes passed) the page says the code
// is no longer valid and false is returned.
func (h *Handler) decideDevice(w http.ResponseWriter, r *http.Request, d store.DeviceCode, decide func(*store.DeviceCode)) bool {
	now := h.cfg.Clock()
	_, err := h.cfg.Tokens.UpdateDeviceCode(r.Context(), d.Hash, func(x store.DeviceCode) (store.DeviceCode, error) {
		if x.State != store.DevicePending || !now.Before(x.ExpiresAt) {
			return x, errNotPending
		}
		decide(&x)
		return x, nil
	})
	switch {
	case err == nil:
		return true
	case errors.Is(err, errNotPending) || errors.Is(err, store.ErrNotFound):
		h.cfg.DevicePage(w, r, http.StatusConflict, DeviceView{Step: "enter", Action: DevicePath, ErrorKey: "bad_code"})
	default:
		h.fail(w, r, "", fmt.Errorf("device codes: %w", err))
	}
	return false
}

// deviceToken serves grant_type=urn:ietf:params:oauth:grant-type:device_code at the token
// endpoint: authorization_pending until the user decides, slow_down to a device polling
// faster than its interval (which grows by five seconds each time), access_denied,
// expired_token, and tokens exactly once after the approval. Polling answers are not
// sign-in records (a device polls every few seconds); the decision had its record.
func (h *Handler) deviceToken(w http.ResponseWriter, r *http.Request, at *attempt) {
	ctx := r.Context()
	if err := r.ParseForm(); err != nil {
		op.RequestError(w, r, zoidc.ErrInvalidRequest().WithDescription("malformed form"), nil)
		return
	}
	ca, e, why := h.authenticateCaller(r, true)
	at.app = ca.app
	if e != nil {
		at.detail = why
		op.RequestError(w, r, e, nil)
		return
	}
	c := ca.client
	at.client = &c
	if !c.Allows(GrantDeviceCode) {
		at.detail = "the client is not registered for the device grant"
		op.RequestError(w, r, zoidc.ErrUnauthorizedClient().WithDescription("this client may not use the device authorization grant"), nil)
		return
	}
	deviceCode := r.PostForm.Get("device_code")
	if deviceCode == "" || len(deviceCode) > maxRefreshToken {
		at.detail = "device_code missing or malformed"
		op.RequestError(w, r, zoidc.ErrInvalidRequest().WithDescription("device_code missing"), nil)
		return
	}
	now := h.cfg.Clock().UTC()
	var answer *zoidc.Error
	quiet := false // a polling answer: no record
	d, err := h.cfg.Tokens.UpdateDeviceCode(ctx, refreshHash(deviceCode), func(x store.DeviceCode) (store.DeviceCode, error) {
		switch {
		case x.ClientID != c.ClientID:
			at.detail, answer = "the device code was issued to another client", zoidc.ErrInvalidGrant()
		case !now.Before(x.ExpiresAt):
			at.detail, answer = "device code expired", zoidc.ErrExpiredDeviceCode()
		case x.State == store.DeviceDenied:
			// The refusal had its record (the user's, or the gate's).
			at.detail, answer, quiet = "the device authorization was refused", zoidc.ErrAccessDenied(), true
		case x.State == store.DeviceRedeemed:
			at.detail, answer = "device code already used (replay)", zoidc.ErrInvalidGrant()
		case x.State == store.DevicePending:
			quiet = true
			if !x.PolledAt.IsZero() && now.Sub(x.PolledAt) < time.Duration(x.Interval)*time.Second {
				x.Interval += slowDownStep
				answer = zoidc.ErrSlowDown().WithDescription("poll every %d seconds", x.Interval)
			} else {
				answer = zoidc.ErrAuthorizationPending()
			}
			x.PolledAt = now
			return x, nil
		case x.State == store.DeviceApproved:
			x.State, x.PolledAt = store.DeviceRedeemed, now
			return x, nil
		}
		return x, errNotPending // nothing to write
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		at.detail = "unknown device code"
		op.RequestError(w, r, zoidc.ErrInvalidGrant(), nil)
		return
	case err != nil && !errors.Is(err, errNotPending):
		at.fault = err
		return
	case answer != nil:
		at.recorded = quiet
		at.userID = d.UserID
		op.RequestError(w, r, answer, nil)
		return
	}
	at.userID = d.UserID
	g := grant{ID: oneTimeID(), Client: c.ClientID, Scopes: d.Scopes, User: d.UserID, AuthTime: d.AuthTime.Unix(), AMR: d.AMR,
		MFA: d.MFA, Event: d.EventID, Session: d.SessionID}
	resp, err := op.CreateDeviceTokenResponse(ctx, authRequest{g: g, sub: h.subjectFor(c, g.User)}, h.op, client{c})
	if err != nil {
		op.RequestError(w, r, err, nil)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}
