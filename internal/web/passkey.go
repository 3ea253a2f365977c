package web

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/sekisho/sekisho/internal/authn"
	"github.com/sekisho/sekisho/internal/authn/factors"
	"github.com/sekisho/sekisho/internal/authn/passkey"
	"github.com/sekisho/sekisho/internal/directory"
	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/store"
)

var accountTmpl = template.Must(template.New("").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/account.html"))

// passkeyScript is the one script the passkey pages load (CSP: script-src 'self').
const passkeyScript = "passkey.js"

// FactorLister is what the security page shows; *factors.Manager implements it.
type FactorLister interface {
	Status(ctx context.Context, userID string) (factors.Status, error)
	WebAuthnCredentials(ctx context.Context, userID string) ([]factors.Credential, error)
	RenameWebAuthn(ctx context.Context, userID string, credID []byte, name string) error
	RemoveWebAuthn(ctx context.Context, userID string, credID []byte) error
}

// PasskeyPages serves the account security page and the passkey JSON endpoints:
//
//	GET  /account/security                  factors of the signed-in user, "Register a passkey"
//	POST /account/passkey/register/begin    → {"options", "state"}
//	POST /account/passkey/register/finish   {"state", "credential", "name", "return_to"} → {"redirect"}
//	POST /login/passkey/begin               → {"options", "state"}
//	POST /login/passkey/finish              {"state", "credential", "return_to", "app"} → {"redirect"}
//
// Every POST needs the page's CSRF token in X-CSRF-Token and a JSON body; errors
// are {"error": "<message in the page language>"}.
type PasskeyPages struct {
	Directory *directory.Directory
	Sessions  *authn.Manager
	Passkeys  *passkey.Service
	Factors   FactorLister
	Failures  FailureRecorder // may be nil
	// EnrolAllowed says whether a first second factor may be enrolled at this request (the
	// same rule as the TOTP enrolment page); nil refuses first enrolments.
	EnrolAllowed func(r *http.Request, userID string) bool
	// Protect puts the security page and registration behind the gate (application
	// sekisho-account); nil serves them to any session.
	Protect func(app string, h http.Handler) http.Handler
	Log     *slog.Logger
}

// NewPasskeyPages returns the passkey pages; set EnrolAllowed before mounting.
func NewPasskeyPages(d *directory.Directory, s *authn.Manager, pk *passkey.Service, f FactorLister, failures FailureRecorder, log *slog.Logger) *PasskeyPages {
	if log == nil {
		log = slog.Default()
	}
	return &PasskeyPages{Directory: d, Sessions: s, Passkeys: pk, Factors: f, Failures: failures, Log: log}
}

// Mount registers the routes on mux.
func (pp *PasskeyPages) Mount(mux Router) {
	portal := func(f http.HandlerFunc) http.Handler {
		if pp.Protect == nil {
			return f
		}
		return pp.Protect(signin.AppAccount, f)
	}
	mux.Handle("GET /account/security", portal(pp.getSecurity))
	mux.Handle("POST /account/passkey/register/begin", portal(pp.registerBegin))
	mux.Handle("POST /account/passkey/register/finish", portal(pp.registerFinish))
	mux.Handle("POST /account/passkey/{action}", portal(pp.manage))
	mux.Handle("POST /login/passkey/begin", http.HandlerFunc(pp.loginBegin))
	mux.Handle("POST /login/passkey/finish", http.HandlerFunc(pp.loginFinish))
}

// offerPasskey adapts the second-factor page to the user's methods: a passkey button when
// the user has a WebAuthn credential, and no code form when the user has no code method.
func offerPasskey(p *page, methods []string) {
	if !slices.Contains(methods, "webauthn") {
		return
	}
	p.Passkey, p.Script = true, passkeyScript
	if !slices.Contains(methods, "totp") && !slices.Contains(methods, "emergency") {
		p.Step, p.BodyKey = "passkey", "mfa_prompt_passkey"
	}
}

// accountView is the security page's data.
type accountView struct {
	TOTP          bool
	EmergencyLeft int
	Passkeys      []passkeyView
	Registered    bool
	CanRegister   bool
	BlockedKey    string // why registration is not offered
	VerifyURL     string // second-factor step that unlocks registration
	CanManage     bool   // the session used a second factor: passkeys may be renamed or removed
	Done          string // what the last change did (message key)
}

type passkeyView struct{ ID, Name, Created, LastUsed string }

const dateFormat = "2006-01-02 15:04 UTC"

// canRegister applies the enrolment rule: a user who already has a second factor must have
// used one in this session (a stolen password must not add the thief's passkey); a first
// factor is enrolled on the password alone, so the policy must allow it here.
func (pp *PasskeyPages) canRegister(r *http.Request, s store.Session, st factors.Status) (ok bool, blockedKey string) {
	has := st.TOTP || st.EmergencyLeft > 0 || st.WebAuthn > 0
	switch {
	case has && !s.MFA:
		return false, "passkey_mfa_first"
	case !has && !s.MFA && (pp.EnrolAllowed == nil || !pp.EnrolAllowed(r, s.UserID)):
		return false, "passkey_not_here"
	}
	return true, ""
}

func (pp *PasskeyPages) getSecurity(w http.ResponseWriter, r *http.Request) {
	h := &Handler{Log: pp.Log}
	ret := SafeReturn(r.URL.Query().Get("return_to"))
	self := "/account/security"
	if ret != "/" {
		self += "?return_to=" + urlQuery(ret)
	}
	s, _, ok := pp.Sessions.Current(r)
	if !ok {
		http.Redirect(w, r, "/login?return_to="+urlQuery(self), http.StatusSeeOther)
		return
	}
	ctx := r.Context()
	u, err := pp.Directory.Store.GetUser(ctx, s.UserID)
	if err != nil {
		http.Redirect(w, r, "/login?return_to="+urlQuery(self), http.StatusSeeOther)
		return
	}
	st, err := pp.Factors.Status(ctx, s.UserID)
	if err != nil {
		pp.Log.ErrorContext(ctx, "factor status", "err", err)
		RenderError(w, r, http.StatusInternalServerError, "")
		return
	}
	creds, err := pp.Factors.WebAuthnCredentials(ctx, s.UserID)
	if err != nil {
		pp.Log.ErrorContext(ctx, "passkey list", "err", err)
		RenderError(w, r, http.StatusInternalServerError, "")
		return
	}
	v := &accountView{TOTP: st.TOTP, EmergencyLeft: st.EmergencyLeft, Registered: r.URL.Query().Get("registered") == "1",
		CanManage: s.MFA, Done: r.URL.Query().Get("done")}
	for _, c := range creds {
		pv := passkeyView{ID: base64.RawURLEncoding.EncodeToString(c.ID), Name: c.Name, Created: c.CreatedAt.UTC().Format(dateFormat)}
		if !c.LastUsedAt.IsZero() {
			pv.LastUsed = c.LastUsedAt.UTC().Format(dateFormat)
		}
		v.Passkeys = append(v.Passkeys, pv)
	}
	v.CanRegister, v.BlockedKey = pp.canRegister(r, s, st)
	if v.BlockedKey == "passkey_mfa_first" {
		v.VerifyURL = "/login/mfa?return_to=" + urlQuery(self)
	}
	p := page{TitleKey: "account_title", Username: u.UPN, ReturnTo: ret, Account: v}
	if v.CanRegister {
		p.Script = passkeyScript
	}
	h.render(w, r, accountTmpl, http.StatusOK, p)
}

// passkeyRequest is the JSON body of the finish endpoints.
type passkeyRequest struct {
	State      string          `json:"state"`
	Credential json.RawMessage `json:"credential"`
	Name       string          `json:"name"`
	ReturnTo   string          `json:"return_to"`
	App        string          `json:"app"`
}

// jsonCall checks CSRF and the session and decodes the body. It writes the error response
// and returns ok=false when the call cannot go on.
func (pp *PasskeyPages) jsonCall(w http.ResponseWriter, r *http.Request) (store.Session, store.User, passkeyRequest, bool) {
	var req passkeyRequest
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/json" || !CheckCSRFHeader(r) {
		writeJSONError(w, r, http.StatusForbidden, "csrf")
		return store.Session{}, store.User{}, req, false
	}
	s, _, ok := pp.Sessions.Current(r)
	if !ok {
		writeJSONError(w, r, http.StatusUnauthorized, "expired")
		return store.Session{}, store.User{}, req, false
	}
	u, err := pp.Directory.Store.GetUser(r.Context(), s.UserID)
	if err != nil || u.Status != store.UserActive {
		writeJSONError(w, r, http.StatusUnauthorized, "expired")
		return store.Session{}, store.User{}, req, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err == nil && len(body) > 0 {
		err = json.Unmarshal(body, &req)
	}
	if err != nil {
		writeJSONError(w, r, http.StatusBadRequest, "error")
		return store.Session{}, store.User{}, req, false
	}
	return s, u, req, true
}

func pkUser(u store.User) passkey.User {
	name := u.DisplayName
	if name == "" {
		name = u.UPN
	}
	return passkey.User{ID: u.ID, Name: u.UPN, DisplayName: name}
}

func (pp *PasskeyPages) registerBegin(w http.ResponseWriter, r *http.Request) {
	s, u, _, ok := pp.jsonCall(w, r)
	if !ok {
		return
	}
	st, err := pp.Factors.Status(r.Context(), u.ID)
	if err != nil {
		pp.Log.ErrorContext(r.Context(), "factor status", "err", err)
		writeJSONError(w, r, http.StatusInternalServerError, "error")
		return
	}
	if can, key := pp.canRegister(r, s, st); !can {
		writeJSONError(w, r, http.StatusForbidden, key)
		return
	}
	opts, state, err := pp.Passkeys.BeginRegistration(r.Context(), pkUser(u), s.ID)
	if err != nil {
		pp.fail(w, r, err, "")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"options": opts, "state": state})
}

func (pp *PasskeyPages) registerFinish(w http.ResponseWriter, r *http.Request) {
	s, u, req, ok := pp.jsonCall(w, r)
	if !ok {
		return
	}
	// The state token is bound to this session, and Begin applied the enrolment rule.
	if _, err := pp.Passkeys.FinishRegistration(r.Context(), pkUser(u), s.ID, req.State, req.Credential, req.Name); err != nil {
		pp.fail(w, r, err, "")
		return
	}
	pp.Log.InfoContext(r.Context(), "passkey registered", "user", u.UPN)
	q := url.Values{"registered": {"1"}}
	if ret := SafeReturn(req.ReturnTo); ret != "/" {
		q.Set("return_to", ret)
	}
	writeJSON(w, http.StatusOK, map[string]string{"redirect": "/account/security?" + q.Encode()})
}

func (pp *PasskeyPages) loginBegin(w http.ResponseWriter, r *http.Request) {
	s, u, _, ok := pp.jsonCall(w, r)
	if !ok {
		return
	}
	opts, state, err := pp.Passkeys.BeginLogin(r.Context(), pkUser(u), s.ID)
	if err != nil {
		pp.fail(w, r, err, "")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"options": opts, "state": state})
}

func (pp *PasskeyPages) loginFinish(w http.ResponseWriter, r *http.Request) {
	s, u, req, ok := pp.jsonCall(w, r)
	if !ok {
		return
	}
	if _, err := pp.Passkeys.FinishLogin(r.Context(), pkUser(u), s.ID, req.State, req.Credential); err != nil {
		if pp.Failures != nil && (errors.Is(err, passkey.ErrVerify) || errors.Is(err, passkey.ErrCloned)) {
			reason := signin.ReasonMFAFailed
			if errors.Is(err, passkey.ErrCloned) {
				reason = signin.ReasonPasskeyCloned
			}
			pp.Failures.RecordPasswordFailure(r.Context(), r, u.UPN, limit(req.App, 200), reason)
		}
		pp.fail(w, r, err, u.UPN)
		return
	}
	if err := pp.Sessions.MarkMFA(r, "webauthn"); err != nil {
		pp.Log.ErrorContext(r.Context(), "mark session MFA", "err", err)
		writeJSONError(w, r, http.StatusInternalServerError, "error")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"redirect": SafeReturn(req.ReturnTo)})
}

// fail maps a passkey error to a status and a message.
func (pp *PasskeyPages) fail(w http.ResponseWriter, r *http.Request, err error, upn string) {
	status, key := http.StatusInternalServerError, "error"
	switch {
	case errors.Is(err, passkey.ErrState):
		status, key = http.StatusBadRequest, "passkey_expired"
	case errors.Is(err, passkey.ErrCloned):
		status, key = http.StatusUnauthorized, "passkey_cloned"
	case errors.Is(err, passkey.ErrVerify):
		status, key = http.StatusUnauthorized, "passkey_failed"
	case errors.Is(err, passkey.ErrNoCredentials):
		status, key = http.StatusBadRequest, "passkey_none"
	case errors.Is(err, factors.ErrDuplicateCredential):
		status, key = http.StatusConflict, "passkey_duplicate"
	case errors.Is(err, factors.ErrTooManyCredentials):
		status, key = http.StatusConflict, "passkey_too_many"
	}
	if status == http.StatusInternalServerError {
		pp.Log.ErrorContext(r.Context(), "passkey", "err", err, "user", upn)
	} else {
		pp.Log.InfoContext(r.Context(), "passkey refused", "err", err, "user", upn)
	}
	writeJSONError(w, r, status, key)
}

func writeJSONError(w http.ResponseWriter, r *http.Request, status int, key string) {
	writeJSON(w, status, map[string]string{"error": T(Lang(nil, r), key)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// manage renames or removes one of the user's passkeys (POST /account/passkey/rename|remove).
// Like adding one, it needs a session that used a second factor: a stolen password alone must
// not change the victim's factors.
func (pp *PasskeyPages) manage(w http.ResponseWriter, r *http.Request) {
	h := &Handler{Log: pp.Log}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil || !CheckCSRF(r) {
		h.render(w, r, messageTmpl, http.StatusForbidden, page{TitleKey: "error_title", ErrorKey: "csrf"})
		return
	}
	s, _, ok := pp.Sessions.Current(r)
	if !ok {
		http.Redirect(w, r, "/login?return_to=%2Faccount%2Fsecurity", http.StatusSeeOther)
		return
	}
	if !s.MFA {
		http.Redirect(w, r, "/login/mfa?return_to=%2Faccount%2Fsecurity", http.StatusSeeOther)
		return
	}
	id, err := base64.RawURLEncoding.DecodeString(r.PostFormValue("id"))
	if err != nil || len(id) == 0 {
		RenderError(w, r, http.StatusBadRequest, "")
		return
	}
	ctx := r.Context()
	done := "passkey_renamed"
	switch r.PathValue("action") {
	case "rename":
		err = pp.Factors.RenameWebAuthn(ctx, s.UserID, id, strings.TrimSpace(r.PostFormValue("name")))
	case "remove":
		err, done = pp.Factors.RemoveWebAuthn(ctx, s.UserID, id), "passkey_removed"
	default:
		http.NotFound(w, r)
		return
	}
	if errors.Is(err, factors.ErrUnknownCredential) {
		RenderError(w, r, http.StatusNotFound, "")
		return
	}
	if err != nil {
		pp.Log.ErrorContext(ctx, "passkey change", "err", err)
		RenderError(w, r, http.StatusInternalServerError, "")
		return
	}
	pp.Log.InfoContext(ctx, "passkey changed by its user", "user_id", s.UserID, "action", r.PathValue("action"))
	http.Redirect(w, r, "/account/security?done="+done, http.StatusSeeOther)
}
