package saml

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/beevik/etree"

	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/store"
)

// SPLookup finds registered SAML service providers.
type SPLookup interface {
	// LookupSP returns the SP registered under entityID and its application name.
	LookupSP(ctx context.Context, entityID string) (ServiceProvider, string, error)
	// LookupSPByApp returns the SP of an application (single logout walks the session's apps).
	LookupSPByApp(ctx context.Context, app string) (ServiceProvider, error)
}

// ReplayCache records one-time keys (store.Store implements it).
type ReplayCache interface {
	UseOnce(ctx context.Context, key string, expires time.Time) (bool, error)
}

// Audit receives every rejected inbound message and internal failure so the integrator can
// write a sign-in record; it returns the record's reference ID ("" if none was written).
type Audit interface {
	RecordRejected(ctx context.Context, r *http.Request, sp string, reason string) (reference string)
}

// Directory finds the user behind a LogoutRequest's NameID, to compute the NameIDs of the
// session's other SPs for single logout (store.Store implements it). Optional.
type Directory interface {
	GetUserByUPN(ctx context.Context, upn string) (store.User, error)
	GetUserByImmutableID(ctx context.Context, immutableID string) (store.User, error)
}

// HandlerConfig wires the SAML IdP endpoints to the rest of Sekisho.
type HandlerConfig struct {
	IdP       IdPConfig // EntityID and BaseURL (keys come from Keys)
	SPs       SPLookup
	Keys      KeySource
	Sessions  signin.Sessions
	Gate      signin.Gate
	Replay    ReplayCache
	Audit     Audit     // optional
	Directory Directory // optional; without it SLO is not propagated to other SPs
	// IssuerFor, when set, may name another Issuer for one SP and user: Microsoft 365 wants
	// the federated domain's own issuerUri (one per domain) instead of the IdP's entity ID.
	// "" keeps the IdP's; an error refuses the sign-in.
	IssuerFor func(ctx context.Context, sp ServiceProvider, u store.User) (string, error)
	// StateKey authenticates the resume and logout-chain state carried by the browser
	// (at least 32 random bytes, the same on every node).
	StateKey []byte
	Clock    func() time.Time // default time.Now
	Logger   *slog.Logger     // default slog.Default()

	Skew              time.Duration // clock skew tolerated both ways (default 3 minutes)
	RequestMaxAge     time.Duration // oldest accepted IssueInstant (default 5 minutes)
	AssertionLifetime time.Duration // NotOnOrAfter of issued assertions (default 5 minutes)
	StateLifetime     time.Duration // time to finish signing in (default 15 minutes)
}

// Handler serves /saml/metadata, /saml/sso, /saml/slo and /saml/idp-initiated.
// Mount it with mux.Handle("/saml/", h).
type Handler struct {
	cfg HandlerConfig
	mux *http.ServeMux
}

var _ http.Handler = (*Handler)(nil)

// NewHandler validates cfg and returns the handler.
func NewHandler(cfg HandlerConfig) (*Handler, error) {
	switch {
	case cfg.IdP.EntityID == "" || cfg.IdP.BaseURL == "":
		return nil, errors.New("saml handler: IdP entity ID and base URL are required")
	case cfg.SPs == nil || cfg.Keys == nil || cfg.Sessions == nil || cfg.Gate == nil || cfg.Replay == nil:
		return nil, errors.New("saml handler: SPs, Keys, Sessions, Gate and Replay are required")
	case len(cfg.StateKey) < 32:
		return nil, errors.New("saml handler: StateKey must be at least 32 bytes")
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.Skew, 3*time.Minute)
	def(&cfg.RequestMaxAge, 5*time.Minute)
	def(&cfg.AssertionLifetime, 5*time.Minute)
	def(&cfg.StateLifetime, 15*time.Minute)
	h := &Handler{cfg: cfg, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /saml/metadata", h.metadata)
	h.mux.HandleFunc("GET /saml/sso", h.sso)
	h.mux.HandleFunc("POST /saml/sso", h.sso)
	h.mux.HandleFunc("GET /saml/slo", h.slo)
	h.mux.HandleFunc("POST /saml/slo", h.slo)
	h.mux.HandleFunc("GET /saml/idp-initiated", h.idpInitiated)
	return h, nil
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// reject answers 400 and reports the rejection to the audit hook. The page says only that
// the request was refused, with the record's reference ID: the reason (which may quote the
// message or name an internal lookup) goes to the log and the record, never to the page.
func (h *Handler) reject(w http.ResponseWriter, r *http.Request, sp, reason string) {
	h.cfg.Logger.WarnContext(r.Context(), "saml message rejected", "sp", sp, "reason", reason, "path", r.URL.Path)
	ref := ""
	if h.cfg.Audit != nil {
		ref = h.cfg.Audit.RecordRejected(r.Context(), r, sp, reason)
	}
	renderPage(w, http.StatusBadRequest, "error", errorPage{Reference: ref})
}

// fail answers 500 for a failure of Sekisho itself: the error goes to the log and the record.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, sp string, err error) {
	h.cfg.Logger.ErrorContext(r.Context(), "saml internal error", "sp", sp, "err", err)
	ref := ""
	if h.cfg.Audit != nil {
		ref = h.cfg.Audit.RecordRejected(r.Context(), r, sp, "internal error: "+err.Error())
	}
	renderPage(w, http.StatusInternalServerError, "error", errorPage{Reference: ref, Internal: true})
}

type errorPage struct {
	Reference string
	Internal  bool // Sekisho failed, not the request
}

func (h *Handler) metadata(w http.ResponseWriter, r *http.Request) {
	key, err := h.cfg.Keys.Current(r.Context())
	if err != nil {
		h.fail(w, r, "", fmt.Errorf("signing key: %w", err))
		return
	}
	next, err := h.cfg.Keys.Next(r.Context())
	if err != nil {
		h.fail(w, r, "", fmt.Errorf("next certificate: %w", err))
		return
	}
	idp := h.cfg.IdP
	idp.Key, idp.Next = key, next
	b, err := Metadata(idp, h.cfg.Clock())
	if err != nil {
		h.fail(w, r, "", err)
		return
	}
	w.Header().Set("Content-Type", "application/samlmetadata+xml")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(b)
}

// readMessage decodes a SAMLRequest/SAMLResponse from either binding.
func readMessage(r *http.Request, w http.ResponseWriter, param string) (*message, error) {
	if r.Method == http.MethodGet {
		return decodeRedirect(r.URL.RawQuery, param)
	}
	r.Body = http.MaxBytesReader(w, r.Body, 512<<10)
	if err := r.ParseForm(); err != nil {
		return nil, fmt.Errorf("bad form: %w", err)
	}
	vals := r.PostForm[param]
	if len(vals) != 1 {
		return nil, fmt.Errorf("want exactly one %s form field, got %d", param, len(vals))
	}
	if len(r.PostForm["RelayState"]) > 1 {
		return nil, errors.New("RelayState appears more than once")
	}
	return decodePOST(vals[0], r.PostForm.Get("RelayState"))
}

// ssoState is the AuthnRequest (or IdP-initiated request) as validated, carried across the
// sign-in page in the HMAC-protected resume parameter.
type ssoState struct {
	SP         string    `json:"sp"`
	ReqID      string    `json:"id,omitempty"`
	ACS        string    `json:"acs"`
	RelayState string    `json:"rs,omitempty"`
	ForceAuthn bool      `json:"fa,omitempty"`
	LoginHint  string    `json:"lh,omitempty"`
	Received   time.Time `json:"t"`
	Nonce      string    `json:"n"`
	Passive    bool      `json:"-"` // IsPassive: answered at once, never carried
}

func nonce() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (h *Handler) sso(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.Query().Has("resume") {
		var st ssoState
		if err := open(h.cfg.StateKey, "sso", r.URL.Query().Get("resume"), h.cfg.Clock(), &st); err != nil {
			h.reject(w, r, "", "resume: "+err.Error())
			return
		}
		h.finishSSO(w, r, st, r.URL.Query().Get("resume"), true)
		return
	}
	m, err := readMessage(r, w, "SAMLRequest")
	if err != nil {
		h.reject(w, r, "", "AuthnRequest: "+err.Error())
		return
	}
	st, sp, err := h.validateAuthnRequest(r.Context(), m)
	if err != nil {
		h.reject(w, r, sp, "AuthnRequest: "+err.Error())
		return
	}
	if r.Method == http.MethodGet && st.LoginHint == "" {
		st.LoginHint = r.URL.Query().Get("login_hint")
	}
	h.startSSO(w, r, st)
}

// validateAuthnRequest applies every check to an inbound AuthnRequest. It returns the SP
// entity ID (when known) for the audit record even on failure.
func (h *Handler) validateAuthnRequest(ctx context.Context, m *message) (ssoState, string, error) {
	now := h.cfg.Clock()
	claimed, err := unverifiedIssuer(m.Root)
	if err != nil {
		return ssoState{}, "", err
	}
	sp, _, err := h.cfg.SPs.LookupSP(ctx, claimed)
	if err != nil {
		return ssoState{}, claimed, fmt.Errorf("issuer %q is not a registered SP: %w", claimed, err)
	}
	root, signed, err := m.verify(sp, now)
	if err != nil {
		return ssoState{}, sp.EntityID, err
	}
	req, err := parseAuthnRequest(root)
	if err != nil {
		return ssoState{}, sp.EntityID, err
	}
	req.Signed = signed
	if req.Issuer != sp.EntityID {
		return ssoState{}, sp.EntityID, fmt.Errorf("issuer %q differs from the verified issuer", req.Issuer)
	}
	if err := h.checkHeader(req.header, signed, h.cfg.IdP.SSOURL(), now); err != nil {
		return ssoState{}, sp.EntityID, err
	}
	acs, err := resolveACS(sp, req)
	if err != nil {
		return ssoState{}, sp.EntityID, err
	}
	if f := req.NameIDFormat; f != "" && f != NameIDUnspecified && f != sp.NameIDFormat {
		return ssoState{}, sp.EntityID, fmt.Errorf("NameIDPolicy format %q not configured for this SP (configured %q)", f, sp.NameIDFormat)
	}
	if err := h.useOnce(ctx, "saml:authn:"+sp.EntityID+":"+req.ID, req.IssueInstant); err != nil {
		return ssoState{}, sp.EntityID, err
	}
	hint := ""
	if strings.Contains(req.LoginHint, "@") {
		hint = req.LoginHint
	}
	if req.IsPassive {
		// Without a way to look at the session without prompting, passive requests are
		// answered NoPassive; the SP then falls back to an active request.
		return ssoState{SP: sp.EntityID, ReqID: req.ID, ACS: acs, RelayState: m.RelayState, Passive: true}, sp.EntityID, nil
	}
	return ssoState{SP: sp.EntityID, ReqID: req.ID, ACS: acs, RelayState: m.RelayState,
		ForceAuthn: req.ForceAuthn, LoginHint: hint, Received: now, Nonce: nonce()}, sp.EntityID, nil
}

// checkHeader enforces Destination and IssueInstant.
func (h *Handler) checkHeader(hd header, signed bool, endpoint string, now time.Time) error {
	if hd.Destination != "" && hd.Destination != endpoint {
		return fmt.Errorf("destination %q is not this endpoint (%s)", hd.Destination, endpoint)
	}
	if signed && hd.Destination == "" {
		return errors.New("signed message without Destination")
	}
	if hd.IssueInstant.After(now.Add(h.cfg.Skew)) {
		return fmt.Errorf("IssueInstant %s is in the future", hd.IssueInstant.Format(time.RFC3339))
	}
	if hd.IssueInstant.Before(now.Add(-h.cfg.RequestMaxAge - h.cfg.Skew)) {
		return fmt.Errorf("message expired (IssueInstant %s)", hd.IssueInstant.Format(time.RFC3339))
	}
	return nil
}

func (h *Handler) useOnce(ctx context.Context, key string, issued time.Time) error {
	fresh, err := h.cfg.Replay.UseOnce(ctx, key, issued.Add(h.cfg.RequestMaxAge+2*h.cfg.Skew))
	if err != nil {
		return fmt.Errorf("replay cache: %w", err)
	}
	if !fresh {
		return errors.New("message ID already used (replay)")
	}
	return nil
}

// resolveACS returns the registered ACS the response goes to: the requested URL or index if
// registered (HTTP-POST), the SP's default otherwise. An unregistered ACS is an error, never a
// fallback: the request may be forged and its sender must learn it is wrong.
func resolveACS(sp ServiceProvider, req *AuthnRequest) (string, error) {
	if req.ProtocolBinding != "" && req.ProtocolBinding != BindingPOST {
		return "", fmt.Errorf("ProtocolBinding %q not supported (HTTP-POST only)", req.ProtocolBinding)
	}
	switch {
	case req.ACSURL != "":
		for _, e := range sp.ACS {
			if e.Binding == BindingPOST && e.Location == req.ACSURL {
				return e.Location, nil
			}
		}
		return "", fmt.Errorf("AssertionConsumerServiceURL %q is not registered for this SP", req.ACSURL)
	case req.ACSIndex >= 0:
		for _, e := range sp.ACS {
			if e.Binding == BindingPOST && e.Index == req.ACSIndex {
				return e.Location, nil
			}
		}
		return "", fmt.Errorf("AssertionConsumerServiceIndex %d is not registered for this SP", req.ACSIndex)
	}
	e, ok := sp.defaultACS()
	if !ok {
		return "", errors.New("SP has no HTTP-POST AssertionConsumerService")
	}
	return e.Location, nil
}

func (h *Handler) idpInitiated(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	entity := q.Get("sp")
	sp, _, err := h.cfg.SPs.LookupSP(r.Context(), entity)
	if err != nil {
		h.reject(w, r, entity, fmt.Sprintf("IdP-initiated: %q is not a registered SP", entity))
		return
	}
	if !sp.AllowIdPInitiated {
		h.reject(w, r, sp.EntityID, "IdP-initiated sign-in is not enabled for this SP")
		return
	}
	rs := q.Get("RelayState")
	if len(rs) > maxRelayState {
		h.reject(w, r, sp.EntityID, "RelayState too long")
		return
	}
	acs, ok := sp.defaultACS()
	if !ok {
		h.reject(w, r, sp.EntityID, "SP has no HTTP-POST AssertionConsumerService")
		return
	}
	h.startSSO(w, r, ssoState{SP: sp.EntityID, ACS: acs.Location, RelayState: rs,
		LoginHint: q.Get("login_hint"), Received: h.cfg.Clock(), Nonce: nonce()})
}

func (h *Handler) startSSO(w http.ResponseWriter, r *http.Request, st ssoState) {
	if st.Passive {
		h.sendStatus(w, r, st, "urn:oasis:names:tc:SAML:2.0:status:Responder", "urn:oasis:names:tc:SAML:2.0:status:NoPassive")
		return
	}
	tok, err := seal(h.cfg.StateKey, "sso", h.cfg.Clock().Add(h.cfg.StateLifetime), st)
	if err != nil {
		h.fail(w, r, st.SP, err)
		return
	}
	h.finishSSO(w, r, st, tok, false)
}

// finishSSO obtains the session, asks the gate, and posts the assertion. It runs on the first
// request and again when the sign-in page returns to /saml/sso?resume=… (resumed).
func (h *Handler) finishSSO(w http.ResponseWriter, r *http.Request, st ssoState, tok string, resumed bool) {
	ctx := r.Context()
	sp, app, err := h.cfg.SPs.LookupSP(ctx, st.SP)
	if err != nil {
		h.reject(w, r, st.SP, "SP no longer registered")
		return
	}
	if !acsRegistered(sp, st.ACS) {
		h.reject(w, r, st.SP, "ACS no longer registered")
		return
	}
	opts := signin.SessionOptions{LoginHint: st.LoginHint, ReturnTo: "/saml/sso?resume=" + tok, Application: app}
	sess, ok := h.cfg.Sessions.Require(w, r, opts)
	if !ok {
		return
	}
	// ForceAuthn: the credential must be proven after the request arrived. A session that
	// predates it goes back to the sign-in page; a fresh one (after sign-in) passes.
	if st.ForceAuthn && sess.AuthnInstant.Before(st.Received.Add(-5*time.Second)) {
		opts.ForceAuthn = true
		if sess, ok = h.cfg.Sessions.Require(w, r, opts); !ok {
			return
		}
	}
	// Single use: the resume link must not mint a second assertion. A request answered at
	// once (the browser had a session) never let its link out, and its AuthnRequest ID is
	// spent already: no second write.
	if resumed {
		fresh, err := h.cfg.Replay.UseOnce(ctx, "saml:resume:"+st.Nonce, h.cfg.Clock().Add(h.cfg.StateLifetime))
		if err != nil {
			h.fail(w, r, st.SP, fmt.Errorf("replay cache: %w", err))
			return
		}
		if !fresh {
			h.reject(w, r, st.SP, "this sign-in request was already answered")
			return
		}
	}
	out, err := h.cfg.Gate.Check(ctx, signin.Attempt{Protocol: "saml", Application: app,
		Endpoint: signin.Passive, HTTP: r, Session: sess})
	if err != nil {
		h.fail(w, r, st.SP, fmt.Errorf("gate: %w", err))
		return
	}
	if !out.Allowed {
		renderPage(w, http.StatusForbidden, "denied", struct{ App, Message, EventID string }{app, out.Message, out.EventID})
		return
	}
	key, err := h.cfg.Keys.Current(ctx)
	if err != nil {
		h.fail(w, r, st.SP, fmt.Errorf("signing key: %w", err))
		return
	}
	authnInstant := out.AuthnInstant
	if authnInstant.IsZero() {
		authnInstant = sess.AuthnInstant
	}
	idp := h.cfg.IdP
	if h.cfg.IssuerFor != nil {
		iss, err := h.cfg.IssuerFor(ctx, sp, out.User)
		if err != nil {
			h.fail(w, r, st.SP, fmt.Errorf("issuer for %s: %w", out.User.UPN, err))
			return
		}
		if iss != "" {
			idp.EntityID = iss
		}
	}
	xmlBytes, err := BuildResponse(idp, key, ResponseParams{SP: sp, ACS: st.ACS, InResponseTo: st.ReqID,
		User: out.User, SessionIndex: sess.ID, AuthnInstant: authnInstant, MFA: out.MFA,
		Now: h.cfg.Clock(), Skew: h.cfg.Skew, Lifetime: h.cfg.AssertionLifetime, AssertionID: signin.AssertionID(out.EventID)})
	if err != nil {
		h.fail(w, r, st.SP, err)
		return
	}
	writePostForm(w, st.ACS, "SAMLResponse", xmlBytes, st.RelayState)
}

func acsRegistered(sp ServiceProvider, acs string) bool {
	for _, e := range sp.ACS {
		if e.Binding == BindingPOST && e.Location == acs {
			return true
		}
	}
	return false
}

func (h *Handler) sendStatus(w http.ResponseWriter, r *http.Request, st ssoState, top, second string) {
	key, err := h.cfg.Keys.Current(r.Context())
	if err != nil {
		h.fail(w, r, st.SP, err)
		return
	}
	el := newStatusResponse(h.cfg.IdP, st.ACS, st.ReqID, top, second, h.cfg.Clock())
	if el, err = signEnveloped(el, key, 1); err != nil {
		h.fail(w, r, st.SP, err)
		return
	}
	b, err := serialize(el)
	if err != nil {
		h.fail(w, r, st.SP, err)
		return
	}
	writePostForm(w, st.ACS, "SAMLResponse", b, st.RelayState)
}

// send delivers an outbound LogoutRequest/LogoutResponse to an SP endpoint: HTTP-Redirect with
// a query signature, or HTTP-POST with an enveloped signature.
func (h *Handler) send(w http.ResponseWriter, r *http.Request, binding, target, param string, el *etree.Element, relayState string) error {
	key, err := h.cfg.Keys.Current(r.Context())
	if err != nil {
		return fmt.Errorf("signing key: %w", err)
	}
	if binding == BindingRedirect {
		b, err := serialize(el)
		if err != nil {
			return err
		}
		q, err := signRedirect(b, param, relayState, key)
		if err != nil {
			return err
		}
		sep := "?"
		if strings.Contains(target, "?") {
			sep = "&"
		}
		noStore(w)
		http.Redirect(w, r, target+sep+q, http.StatusFound)
		return nil
	}
	if el, err = signEnveloped(el, key, 1); err != nil {
		return err
	}
	b, err := serialize(el)
	if err != nil {
		return err
	}
	writePostForm(w, target, param, b, relayState)
	return nil
}
