// Package wsfed is the WS-Federation passive endpoint Entra ID sends browsers to for
// federated Microsoft 365 domains (wsignin1.0, wsignout1.0, wsignoutcleanup1.0), and the
// signed federation metadata Entra reads to roll signing certificates over.
//
// Sign-in: the browser's SSO session (signin.Sessions) authenticates, the gate
// (signin.Gate) decides, and an allowed sign-in gets an auto-posting form to the
// registered login.srf carrying a wresult with a signed SAML 1.1 assertion. The reply URL
// is configuration, never taken from the request (wreply is ignored).
package wsfed

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sekisho/sekisho/internal/m365"
	"github.com/sekisho/sekisho/internal/saml11token"
	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/xmltemplate"
)

// Paths (ADFS's, so Entra's federation settings look familiar to operators).
const (
	PathPassive  = "/adfs/ls/"
	PathMetadata = "/FederationMetadata/2007-06/FederationMetadata.xml"
)

// Fixed protocol values.
const (
	DefaultReplyURL = "https://login.microsoftonline.com/login.srf"
	PasswordWAuth   = "http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password"
	nsTrust2005     = "http://schemas.xmlsoap.org/ws/2005/02/trust"
	nsWSU           = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
	nsWSP           = "http://schemas.xmlsoap.org/ws/2004/09/policy"
	nsWSA           = "http://www.w3.org/2005/08/addressing"
	noProofKey      = "http://schemas.xmlsoap.org/ws/2005/05/identity/NoProofKey"
	maxFormBytes    = 16 << 10
)

// Config configures the handler.
type Config struct {
	// BaseURL is the public https origin, used for the endpoints in the metadata.
	BaseURL  string
	Domains  m365.Domains
	Keys     saml11token.Keys
	Gate     signin.Gate
	Sessions signin.Sessions
	// ReplyURL is where wresult is posted; default DefaultReplyURL. Tests point it at a fake.
	ReplyURL string
	// Realms lists wtrealm values accepted besides m365.Realm.
	Realms []string
	// EntityID of the metadata; default the first domain's issuer URI. ?domain=NAME on the
	// metadata URL selects that domain's issuer URI instead.
	EntityID      string
	TokenLifetime time.Duration // default 1 h
	ClockSkew     time.Duration // NotBefore backdating; default 5 min
	Now           func() time.Time
	Logger        *slog.Logger
	OnReject      m365.RejectFunc // requests refused outside the gate; optional
}

// Handler serves PathPassive and PathMetadata.
type Handler struct {
	cfg      Config
	realms   map[string]bool
	postHead []byte // the sign-in page up to its fields (renderPostHead)
}

// New validates cfg and returns the handler.
func New(cfg Config) (*Handler, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("wsfed: BaseURL %q must be an https origin", cfg.BaseURL)
	}
	cfg.BaseURL = strings.TrimSuffix(cfg.BaseURL, "/")
	switch {
	case cfg.Gate == nil || cfg.Sessions == nil || cfg.Keys == nil:
		return nil, errors.New("wsfed: Gate, Sessions and Keys are required")
	case len(cfg.Domains) == 0:
		return nil, errors.New("wsfed: at least one federated domain is required")
	}
	if err := cfg.Domains.Validate(); err != nil {
		return nil, fmt.Errorf("wsfed: %w", err)
	}
	if cfg.ReplyURL == "" {
		cfg.ReplyURL = DefaultReplyURL
	}
	if ru, err := url.Parse(cfg.ReplyURL); err != nil || ru.Scheme != "https" || ru.Host == "" {
		return nil, fmt.Errorf("wsfed: ReplyURL %q must be an absolute https URL", cfg.ReplyURL)
	}
	if cfg.EntityID == "" {
		cfg.EntityID = cfg.Domains[0].IssuerURI
	}
	if cfg.TokenLifetime <= 0 {
		cfg.TokenLifetime = saml11token.DefaultLifetime
	}
	if cfg.ClockSkew <= 0 {
		cfg.ClockSkew = saml11token.DefaultClockSkew
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	head, err := renderPostHead(cfg.ReplyURL)
	if err != nil {
		return nil, fmt.Errorf("wsfed: sign-in page: %w", err)
	}
	return &Handler{cfg: cfg, realms: m365.Realms(cfg.Realms), postHead: head}, nil
}

// Register adds both paths to mux.
func (h *Handler) Register(mux interface{ Handle(string, http.Handler) }) {
	mux.Handle(PathPassive, h)
	mux.Handle(PathMetadata, h)
}

// ServeHTTP dispatches on path and wa.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case PathMetadata:
		h.serveMetadata(w, r)
		return
	case PathPassive:
	default:
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	p, err := ParseRequest(r)
	if err != nil {
		ref := h.reject(r, "bad_request", err.Error(), "", nil)
		writeMessage(w, http.StatusBadRequest, message{
			TitleJA: "不正なサインイン要求", TitleEN: "Invalid sign-in request",
			TextJA: "サインイン要求を処理できませんでした。", TextEN: "The sign-in request could not be processed.",
			EventID: ref,
		})
		return
	}
	switch p.Action {
	case "wsignin1.0":
		h.signIn(w, r, p)
	case "wsignout1.0", "wsignoutcleanup1.0":
		h.signOut(w, r, p)
	}
}

// Request is a parsed WS-Federation passive request.
type Request struct {
	Action    string // wa
	Realm     string // wtrealm
	Context   string // wctx, echoed unchanged
	LoginHint string // username
	Fresh     string // wfresh
	Auth      string // wauth
}

// ForceAuthn reports whether the relying party asked for a fresh password
// (Entra's prompt=login becomes wfresh=0 and wauth=…/password).
func (p Request) ForceAuthn() bool { return p.Fresh == "0" || p.Auth == PasswordWAuth }

// ParseRequest reads the WS-Fed parameters from the query (GET) or form (POST).
func ParseRequest(r *http.Request) (Request, error) {
	if err := r.ParseForm(); err != nil {
		return Request{}, fmt.Errorf("wsfed: parameters: %w", err)
	}
	return parseValues(r.Form)
}

func parseValues(v url.Values) (Request, error) {
	for _, k := range []string{"wa", "wtrealm", "wctx", "username", "wfresh", "wauth"} {
		if len(v[k]) > 1 {
			return Request{}, fmt.Errorf("wsfed: parameter %s given %d times", k, len(v[k]))
		}
	}
	p := Request{Action: v.Get("wa"), Realm: v.Get("wtrealm"), Context: v.Get("wctx"),
		LoginHint: v.Get("username"), Fresh: v.Get("wfresh"), Auth: v.Get("wauth")}
	switch p.Action {
	case "wsignin1.0":
		if p.Realm == "" {
			return Request{}, errors.New("wsfed: wsignin1.0 without wtrealm")
		}
	case "wsignout1.0", "wsignoutcleanup1.0":
	case "":
		return Request{}, errors.New("wsfed: missing wa")
	default:
		return Request{}, fmt.Errorf("wsfed: unsupported wa %q", p.Action)
	}
	if len(p.Context) > 8<<10 || len(p.LoginHint) > 256 {
		return Request{}, errors.New("wsfed: wctx or username too long")
	}
	return p, nil
}

// reject reports a refusal for audit and returns the record's reference for the page.
func (h *Handler) reject(r *http.Request, reason signin.Reason, detail, username string, out *signin.Outcome) string {
	h.cfg.Logger.InfoContext(r.Context(), "wsfed request refused", "reason", reason, "detail", detail, "remote", r.RemoteAddr)
	if h.cfg.OnReject == nil {
		return ""
	}
	rj := m365.Rejection{Protocol: "wsfed", Reason: reason, Detail: detail, Username: username, Request: r}
	if out != nil {
		rj.UserID, rj.EventID = out.User.ID, out.EventID
	}
	return h.cfg.OnReject(r.Context(), rj)
}

// returnTo is the local URL the sign-in page comes back to: the request itself (a POSTed
// request is turned into the equivalent GET).
func returnTo(r *http.Request) string {
	if r.Method == http.MethodGet {
		return r.URL.RequestURI()
	}
	return r.URL.Path + "?" + r.Form.Encode()
}

func (h *Handler) signIn(w http.ResponseWriter, r *http.Request, p Request) {
	if !h.realms[p.Realm] {
		ref := h.reject(r, "unknown_realm", fmt.Sprintf("wtrealm %q is not a known realm", p.Realm), p.LoginHint, nil)
		writeMessage(w, http.StatusBadRequest, message{
			EventID: ref,
			TitleJA: "不明なアプリケーション", TitleEN: "Unknown application",
			TextJA: "このサインイン要求のアプリケーション (realm) は Sekisho に登録されていません。管理者に連絡してください。",
			TextEN: "The application (realm) of this sign-in request is not registered with Sekisho. Contact your administrator.",
		})
		return
	}
	app := m365.DefaultApplication
	if d, ok := h.cfg.Domains.Match(p.LoginHint); ok {
		app = d.App()
	}
	sess, ok := h.cfg.Sessions.Require(w, r, signin.SessionOptions{
		ForceAuthn: p.ForceAuthn(), LoginHint: p.LoginHint, ReturnTo: returnTo(r), Application: app,
	})
	if !ok {
		return
	}
	out, err := h.cfg.Gate.Check(r.Context(), signin.Attempt{
		Protocol: "wsfed", Application: app, Endpoint: signin.Passive, HTTP: r, Session: sess,
	})
	if err != nil {
		h.cfg.Logger.ErrorContext(r.Context(), "wsfed: gate failed", "err", err)
		writeMessage(w, http.StatusInternalServerError, message{
			TitleJA: "サインインできません", TitleEN: "Sign-in unavailable",
			TextJA: "一時的な問題が発生しました。しばらくしてから再試行してください。", TextEN: "A temporary problem occurred. Try again later.",
		})
		return
	}
	if !out.Allowed {
		writeMessage(w, http.StatusForbidden, message{
			TitleJA: "アクセスが拒否されました", TitleEN: "Access denied",
			TextJA: "組織のポリシーにより、このサインインは許可されていません。", TextEN: "Your organization's policy does not allow this sign-in.",
			Message: out.Message, EventID: out.EventID,
		})
		return
	}
	// The gate ran the same check before its record; this is the backstop.
	d, refuse, detail := h.cfg.Domains.Eligible(out.User, app, m365.MethodPassive)
	if refuse != "" {
		h.reject(r, refuse, detail, out.User.UPN, &out)
		writeMessage(w, http.StatusForbidden, message{
			TitleJA: "Microsoft 365 にサインインできません", TitleEN: "Cannot sign in to Microsoft 365",
			TextJA:  "このアカウントは Microsoft 365 との連携が設定されていません (ImmutableID またはドメイン)。管理者に連絡してください。",
			TextEN:  "This account is not set up for Microsoft 365 federation (ImmutableID or domain). Contact your administrator.",
			EventID: out.EventID,
		})
		return
	}
	authn := out.AuthnInstant
	if authn.IsZero() && sess != nil {
		authn = sess.AuthnInstant
	}
	now := h.cfg.Now().UTC()
	a := saml11token.Assertion{
		Issuer: d.IssuerURI, Audience: p.Realm, ImmutableID: out.User.ImmutableID, UPN: out.User.UPN,
		MFA: d.EmitMFA && out.MFA, AuthnInstant: authn, IssueInstant: now,
		NotBefore: now.Add(-h.cfg.ClockSkew), NotOnOrAfter: now.Add(h.cfg.TokenLifetime),
		ID: signin.AssertionID(out.EventID),
	}
	if val, emit := d.Inside(out.InsideNetworks); emit {
		a.InsideCorporateNetwork = &val
	}
	wresult, err := h.wresult(r, a)
	if err != nil {
		h.cfg.Logger.ErrorContext(r.Context(), "wsfed: building wresult", "err", err)
		writeMessage(w, http.StatusInternalServerError, message{
			TitleJA: "サインインできません", TitleEN: "Sign-in unavailable",
			TextJA: "トークンを発行できませんでした。", TextEN: "The token could not be issued.", EventID: out.EventID,
		})
		return
	}
	securityHeaders(w, true)
	_ = writePostForm(w, h.postHead, wresult, p.Context)
}

// wresult signs the assertion and wraps it in a WS-Trust 2005 RSTR. Both are written in
// exclusive canonical form from templates (saml11token.SignedXML, rstrXML): the assertion's
// digest is over the bytes sent. emit_test.go proves the bytes equal the etree construction
// this replaced, canonicalised by goxmldsig.
func (h *Handler) wresult(r *http.Request, a saml11token.Assertion) ([]byte, error) {
	signer, _, err := h.cfg.Keys.SigningKeys(r.Context())
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	token, err := signer.SignedXML(a)
	if err != nil {
		return nil, err
	}
	return rstrXML(make([]byte, 0, len(token)+1024), a, token), nil
}

// rstrXML writes the RSTR around the signed token (namespaces declared where used, as the
// canonical form has them).
func rstrXML(dst []byte, a saml11token.Assertion, token []byte) []byte {
	dst = append(dst, `<t:RequestSecurityTokenResponse xmlns:t="`+nsTrust2005+`"><t:Lifetime><wsu:Created xmlns:wsu="`+nsWSU+`">`...)
	dst = xmltemplate.Text(dst, a.IssueInstant.UTC().Format(saml11token.TimeFormat))
	dst = append(dst, `</wsu:Created><wsu:Expires xmlns:wsu="`+nsWSU+`">`...)
	dst = xmltemplate.Text(dst, a.NotOnOrAfter.UTC().Format(saml11token.TimeFormat))
	dst = append(dst, `</wsu:Expires></t:Lifetime><wsp:AppliesTo xmlns:wsp="`+nsWSP+`"><wsa:EndpointReference xmlns:wsa="`+nsWSA+`"><wsa:Address>`...)
	dst = xmltemplate.Text(dst, a.Audience)
	dst = append(dst, `</wsa:Address></wsa:EndpointReference></wsp:AppliesTo><t:RequestedSecurityToken>`...)
	dst = append(dst, token...)
	return append(dst, `</t:RequestedSecurityToken><t:TokenType>`+saml11token.TokenType+`</t:TokenType><t:RequestType>`+nsTrust2005+`/Issue</t:RequestType><t:KeyType>`+noProofKey+`</t:KeyType></t:RequestSecurityTokenResponse>`...)
}

// transparentGIF answers wsignoutcleanup1.0, which Entra loads as an image.
var transparentGIF = []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")

func (h *Handler) signOut(w http.ResponseWriter, r *http.Request, p Request) {
	apps, err := h.cfg.Sessions.End(r.Context(), w, r)
	if err != nil {
		h.cfg.Logger.WarnContext(r.Context(), "wsfed: ending session", "err", err)
	} else {
		h.cfg.Logger.InfoContext(r.Context(), "wsfed: signed out", "wa", p.Action, "applications", apps)
	}
	if p.Action == "wsignoutcleanup1.0" {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Type", "image/gif")
		_, _ = w.Write(transparentGIF)
		return
	}
	writeMessage(w, http.StatusOK, message{
		TitleJA: "サインアウトしました", TitleEN: "Signed out",
		TextJA: "サインアウトしました。ブラウザーを閉じてください。", TextEN: "You have signed out. You may close the browser.",
	})
}
