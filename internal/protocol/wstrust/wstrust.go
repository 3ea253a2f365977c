// Package wstrust is the WS-Trust active endpoint (2005 and 1.3 usernamemixed) and its MEX
// document, as Exchange Online (basic-auth proxying) and MSAL/ADAL username-password flows
// of federated Microsoft 365 users call it. It parses the request, hands the credentials to
// the sign-in gate, and answers with a signed SAML 1.1 assertion or a SOAP fault that says
// nothing about which check failed.
package wstrust

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sekisho/sekisho/internal/m365"
	"github.com/sekisho/sekisho/internal/saml11token"
	"github.com/sekisho/sekisho/internal/signin"
)

// Endpoint paths (ADFS's, which operators and docs know; clients find them through MEX).
const (
	Path2005 = "/adfs/services/trust/2005/usernamemixed"
	Path13   = "/adfs/services/trust/13/usernamemixed"
	PathMEX  = "/adfs/services/trust/mex"
)

// Defaults for Config's zero values.
const (
	DefaultMaxRequestBytes = 64 << 10
	DefaultClockSkew       = 5 * time.Minute
	DefaultTokenLifetime   = time.Hour
)

// Config configures the handler.
type Config struct {
	// BaseURL is the public https origin the MEX advertises (e.g. https://sts.example.com).
	BaseURL string
	Domains m365.Domains
	Keys    saml11token.Keys
	Gate    signin.Gate
	// Realms lists AppliesTo values accepted besides m365.Realm (e.g. a sovereign cloud's).
	Realms          []string
	MaxRequestBytes int64         // default DefaultMaxRequestBytes
	ClockSkew       time.Duration // tolerance for Timestamp and NotBefore; default 5 min
	TokenLifetime   time.Duration // default 1 h
	Now             func() time.Time
	Logger          *slog.Logger
	// OnReject is told about requests refused outside the gate (malformed, unknown realm,
	// user without ImmutableID…). Optional.
	OnReject m365.RejectFunc
}

// Handler serves Path2005, Path13 and PathMEX.
type Handler struct {
	cfg    Config
	mex    []byte
	realms map[string]bool
}

// New validates cfg and returns the handler.
func New(cfg Config) (*Handler, error) {
	u, err := url.Parse(cfg.BaseURL)
	switch {
	case err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "":
		return nil, fmt.Errorf("wstrust: BaseURL %q must be an https origin (clients ignore http endpoints in MEX)", cfg.BaseURL)
	case cfg.Gate == nil:
		return nil, errors.New("wstrust: Gate is required")
	case cfg.Keys == nil:
		return nil, errors.New("wstrust: Keys is required")
	case len(cfg.Domains) == 0:
		return nil, errors.New("wstrust: at least one federated domain is required")
	}
	if err := cfg.Domains.Validate(); err != nil {
		return nil, fmt.Errorf("wstrust: %w", err)
	}
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if cfg.ClockSkew <= 0 {
		cfg.ClockSkew = DefaultClockSkew
	}
	if cfg.TokenLifetime <= 0 {
		cfg.TokenLifetime = DefaultTokenLifetime
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Handler{cfg: cfg, mex: mexDocument(strings.TrimSuffix(cfg.BaseURL, "/")), realms: m365.Realms(cfg.Realms)}, nil
}

// Register adds the three paths to mux.
func (h *Handler) Register(mux interface{ Handle(string, http.Handler) }) {
	mux.Handle(Path2005, h)
	mux.Handle(Path13, h)
	mux.Handle(PathMEX, h)
}

// ServeHTTP dispatches on the path.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case PathMEX:
		h.serveMEX(w, r)
	case Path13:
		h.serveIssue(w, r, Trust13)
	case Path2005:
		h.serveIssue(w, r, Trust2005)
	default:
		http.NotFound(w, r)
	}
}

func (h *Handler) serveMEX(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(h.mex)
}

func (h *Handler) reject(r *http.Request, reason signin.Reason, detail, username string, out *signin.Outcome) {
	h.cfg.Logger.InfoContext(r.Context(), "wstrust request refused", "reason", reason, "detail", detail, "username", username, "remote", r.RemoteAddr)
	if h.cfg.OnReject == nil {
		return
	}
	rj := m365.Rejection{Protocol: "wstrust", Reason: reason, Detail: detail, Username: username, Request: r}
	if out != nil {
		rj.UserID, rj.EventID = out.User.ID, out.EventID
	}
	_ = h.cfg.OnReject(r.Context(), rj) // the SOAP fault carries no reference: every refusal looks alike
}

func (h *Handler) serveIssue(w http.ResponseWriter, r *http.Request, v Version) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxRequestBytes))
	if err != nil {
		h.reject(r, "bad_request", fmt.Sprintf("reading body: %v", err), "", nil)
		writeFault(w, v, InvalidRequest, "")
		return
	}
	req, err := parseRST(body, int(h.cfg.MaxRequestBytes))
	if err != nil {
		h.reject(r, "bad_request", err.Error(), "", nil)
		writeFault(w, v, InvalidRequest, "")
		return
	}
	if reason, detail := h.check(r, v, req); reason != "" {
		h.reject(r, reason, detail, req.Username, nil)
		writeFault(w, v, InvalidRequest, req.MessageID)
		return
	}

	// The application comes from the domain of the name as typed; a name outside every
	// federated domain still goes to the gate (so the attempt is recorded and costs the
	// same), and is refused afterwards.
	d, known := h.cfg.Domains.Match(req.Username)
	app := m365.DefaultApplication
	if known {
		app = d.App()
	}
	out, err := h.cfg.Gate.Check(r.Context(), signin.Attempt{
		Protocol: "wstrust", Application: app, Endpoint: signin.Active, HTTP: r,
		Username: req.Username, Password: req.Password,
	})
	if err != nil {
		h.cfg.Logger.ErrorContext(r.Context(), "wstrust: gate failed", "err", err, "username", req.Username)
		writeFault(w, v, RequestFailed, req.MessageID)
		return
	}
	if !out.Allowed {
		// A part of Sekisho failed (the directory unreachable…): a server fault, so the
		// client retries rather than telling the user their password is wrong.
		fault := FailedAuthentication
		if out.Decision == signin.Error {
			fault = RequestFailed
		}
		writeFault(w, v, fault, req.MessageID)
		return
	}
	// The gate ran the same check before its record; this is the backstop.
	d, refuse, detail := h.cfg.Domains.Eligible(out.User, app, m365.MethodActive)
	if refuse != "" {
		h.reject(r, refuse, detail, req.Username, &out)
		writeFault(w, v, FailedAuthentication, req.MessageID)
		return
	}

	signer, _, err := h.cfg.Keys.SigningKeys(r.Context())
	if err != nil {
		h.cfg.Logger.ErrorContext(r.Context(), "wstrust: signing key unavailable", "err", err)
		writeFault(w, v, RequestFailed, req.MessageID)
		return
	}
	now := h.cfg.Now().UTC()
	a := saml11token.Assertion{
		Issuer: d.IssuerURI, Audience: req.AppliesTo, ImmutableID: out.User.ImmutableID, UPN: out.User.UPN,
		MFA: d.EmitMFA && out.MFA, AuthnInstant: out.AuthnInstant, IssueInstant: now,
		NotBefore: now.Add(-h.cfg.ClockSkew), NotOnOrAfter: now.Add(h.cfg.TokenLifetime),
		ID: signin.AssertionID(out.EventID),
	}
	if val, emit := d.Inside(out.InsideNetworks); emit {
		a.InsideCorporateNetwork = &val
	}
	el, err := signer.Sign(a)
	if err != nil {
		h.cfg.Logger.ErrorContext(r.Context(), "wstrust: signing failed", "err", err)
		writeFault(w, v, RequestFailed, req.MessageID)
		return
	}
	doc := responseDoc(v, req, el, now, a.NotOnOrAfter)
	w.Header().Set("Content-Type", soapContentType)
	w.Header().Set("Cache-Control", "no-store")
	if _, err := doc.WriteTo(w); err != nil {
		h.cfg.Logger.WarnContext(r.Context(), "wstrust: writing response", "err", err)
	}
}

// check applies the rules that need no credential: version, action, timestamp, realm, key type.
func (h *Handler) check(r *http.Request, v Version, req Request) (reason signin.Reason, detail string) {
	now := h.cfg.Now()
	skew := h.cfg.ClockSkew
	action := req.Action
	if action == "" {
		action = soapAction(r)
	}
	switch {
	case req.Version != v:
		return "bad_request", fmt.Sprintf("WS-Trust %s request at the %s endpoint", req.Version, v)
	case action != "" && action != issueAction[v]:
		return "bad_request", fmt.Sprintf("unsupported action %q", action)
	case req.RequestType != "" && req.RequestType != requestType[v]:
		return "bad_request", fmt.Sprintf("unsupported request type %q", req.RequestType)
	case req.KeyType != "" && req.KeyType != bearerKeyType[Trust13] && req.KeyType != bearerKeyType[Trust2005]:
		return "bad_request", fmt.Sprintf("unsupported key type %q (bearer tokens only)", req.KeyType)
	case !req.Created.IsZero() && req.Created.After(now.Add(skew)):
		return "stale_request", fmt.Sprintf("timestamp created %s is in the future", req.Created.UTC().Format(time.RFC3339))
	case !req.Expires.IsZero() && !req.Expires.After(now.Add(-skew)):
		return "stale_request", fmt.Sprintf("timestamp expired at %s", req.Expires.UTC().Format(time.RFC3339))
	case !req.Created.IsZero() && !req.Expires.After(req.Created):
		return "bad_request", "timestamp expires before it is created"
	case !h.realms[req.AppliesTo]:
		return "unknown_realm", fmt.Sprintf("AppliesTo %q is not a known realm", req.AppliesTo)
	}
	return "", ""
}

// soapAction reads the action from the SOAPAction header or the content type's action
// parameter (SOAP 1.2 carries it there when the header block is absent).
func soapAction(r *http.Request) string {
	if a := strings.Trim(r.Header.Get("SOAPAction"), `"`); a != "" {
		return a
	}
	ct := r.Header.Get("Content-Type")
	for _, p := range strings.Split(ct, ";") {
		k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
		if ok && strings.EqualFold(k, "action") {
			return strings.Trim(val, `"`)
		}
	}
	return ""
}
