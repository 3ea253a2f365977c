// Package web serves the pages a person sees: sign-in (user name → password), sign-out,
// denial and message pages, in Japanese and English. Templates and assets are embedded.
package web

import (
	"context"
	"embed"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sekisho/sekisho/internal/authn"
	"github.com/sekisho/sekisho/internal/directory"
	"github.com/sekisho/sekisho/internal/protocol/oidc"
	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

var funcs = template.FuncMap{"t": T}

var (
	loginTmpl   = template.Must(template.New("").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/login.html"))
	messageTmpl = template.Must(template.New("").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/message.html"))
)

// FailureRecorder writes a sign-in record for a failed step at the sign-in pages.
type FailureRecorder interface {
	RecordPasswordFailure(ctx context.Context, r *http.Request, username, app string, reason signin.Reason) (eventID string)
}

// PasswordChecker checks the password step with the same lockout and records as every other
// door. reason is "" on success, else wrong_password, unknown_user, disabled, locked or error.
type PasswordChecker interface {
	CheckPassword(ctx context.Context, r *http.Request, username, password, app string) (u store.User, reason signin.Reason, eventID string)
}

// Handler serves /login, /logout and /static/.
type Handler struct {
	Directory *directory.Directory
	Sessions  *authn.Manager
	Failures  FailureRecorder
	Passwords PasswordChecker
	Factors   SecondFactors // nil until second factors are configured
	TOTP      TOTPEnroller  // nil: no self-service enrolment
	// EnrolAllowed says whether a first second factor may be enrolled at this request.
	EnrolAllowed func(r *http.Request, userID string) bool
	// Judge judges a password sign-in to Sekisho's own applications (portal, console) at the
	// sign-in page itself, so that every outcome of /login leaves a record; nil skips it.
	Judge signin.Gate
	// Protect puts the portal's pages behind the gate (appguard); nil serves them to any
	// session.
	Protect func(app string, h http.Handler) http.Handler
	// SAMLLogout, if set, tells the ended session's SAML applications through the browser
	// (their single logout endpoints, in turn) before it goes to final; false: none to tell.
	SAMLLogout func(w http.ResponseWriter, r *http.Request, u store.User, apps []string, sessionIndex, final string) bool
	// MailDevices links the mail devices page (MailPages) from the portal's home: the mail
	// bridge is configured.
	MailDevices bool
	Log         *slog.Logger
	mux         *http.ServeMux
}

// Gate is what the pages need from the gate: password checks, failure records, judgments.
type Gate interface {
	FailureRecorder
	PasswordChecker
	signin.Gate
}

// NewHandler builds the sign-in pages.
func NewHandler(d *directory.Directory, s *authn.Manager, g Gate, log *slog.Logger) *Handler {
	h := &Handler{Directory: d, Sessions: s, Failures: g, Passwords: g, Judge: g, Log: log, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /login", h.getLogin)
	h.mux.HandleFunc("POST /login", h.postLogin)
	h.mux.HandleFunc("GET /logout", h.getLogout)
	h.mux.HandleFunc("POST /logout", h.postLogout)
	h.mux.HandleFunc("GET /login/mfa", h.getMFA)
	h.mux.HandleFunc("POST /login/mfa", h.postMFA)
	h.mux.Handle("GET /account/totp", h.portal(h.getTOTP))
	h.mux.Handle("POST /account/totp", h.portal(h.postTOTP))
	h.mux.Handle("GET /{$}", h.portal(h.home))
	h.mux.Handle("GET /account/password", h.portal(h.getPassword))
	h.mux.Handle("POST /account/password", h.portal(h.postPassword))
	h.mux.Handle("GET /static/", http.FileServerFS(staticFS))
	return h
}

// portal serves a page of the user portal behind the gate (application sekisho-account).
// Protect is read per request so it may be set after NewHandler.
func (h *Handler) portal(f http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.Protect == nil {
			f(w, r)
			return
		}
		h.Protect(signin.AppAccount, f).ServeHTTP(w, r)
	})
}

// Router is where pages are mounted (the server's mux).
type Router interface {
	Handle(pattern string, handler http.Handler)
}

// Mount registers the pages on mux.
func (h *Handler) Mount(mux Router) {
	for _, p := range []string{"GET /login", "POST /login", "GET /login/mfa", "POST /login/mfa", "GET /account/totp", "POST /account/totp", "GET /account/password", "POST /account/password", "GET /logout", "POST /logout", "GET /{$}", "GET /static/"} {
		mux.Handle(p, h.mux)
	}
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

type page struct {
	Lang, TitleKey, ErrorKey, BodyKey string
	LangSwitch                        string
	CSRF                              string
	Step, Username, ReturnTo, App     string
	Force                             bool
	BackURL                           string
	Reason, Reference                 string
	QR                                template.URL     // data: URL of the enrolment QR code
	Secret                            string           // the TOTP secret, for typing by hand
	Enrol                             string           // link to the enrolment page
	Script                            string           // script under /static/ the page loads (CSP then allows 'self')
	Passkey                           bool             // second-factor step: offer "Use a passkey"
	Account                           *accountView     // the security page (passkey.go)
	ChangeToken                       string           // the required password change (pwchange.go)
	Portal                            *portalView      // the portal's home (portal.go)
	MinLength                         int              // the password policy's minimum, for its error text
	Device                            *oidc.DeviceView // the device grant's page (device.go)
	Mail                              *mailView        // the mail devices page (mail.go)
	Refresh                           bool             // the page reloads itself (<meta http-equiv=refresh>) while it waits
}

func langSwitch(r *http.Request, lang string) string {
	q := r.URL.Query()
	if lang == "ja" {
		q.Set("lang", "en")
	} else {
		q.Set("lang", "ja")
	}
	return r.URL.Path + "?" + q.Encode()
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, t *template.Template, status int, p page) {
	if p.Lang == "" {
		p.Lang = Lang(w, r)
	}
	p.LangSwitch = langSwitch(r, p.Lang)
	if p.CSRF == "" {
		p.CSRF = CSRFToken(w, r)
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Frame-Options", "DENY")
	img := "'self'"
	if p.QR != "" {
		img += " data:" // the enrolment QR code is an inline PNG
	}
	script := ""
	if p.Script != "" {
		script = "; script-src 'self'; connect-src 'self'" // the passkey script and its fetch calls
	}
	// No form-action directive: browsers apply it to every redirect that follows a form's
	// POST, and the sign-in form's chain ends at the application (POST /login → the OpenID
	// Connect authorization → 302 to the client's redirect URI, another origin), which
	// form-action 'self' blocks in Chromium (test/interop/oidc's browser tests). The forms are
	// Sekisho's own templates with every value escaped; the other directives stay.
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src "+img+"; frame-ancestors 'none'; base-uri 'none'"+script)
	w.WriteHeader(status)
	if err := t.ExecuteTemplate(w, "layout", p); err != nil {
		h.Log.ErrorContext(r.Context(), "render page", "err", err)
	}
}

func (h *Handler) loginPage(r *http.Request) page {
	q := r.URL.Query()
	if r.Method == http.MethodPost {
		q = r.PostForm
	}
	ret := authn.SafeReturnTo(q.Get("return_to"))
	p := page{TitleKey: "title", Step: "username", ReturnTo: ret, Force: q.Get("force") == "1",
		App: limit(q.Get("app"), 200), Username: limit(strings.TrimSpace(q.Get("login_hint")), 254)}
	back := url.Values{"return_to": {ret}}
	if p.Force {
		back.Set("force", "1")
	}
	p.BackURL = "/login?" + back.Encode()
	return p
}

func limit(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func (h *Handler) getLogin(w http.ResponseWriter, r *http.Request) {
	p := h.loginPage(r)
	if p.Username != "" {
		p.Step = "password"
	}
	if r.URL.Query().Get("expired") == "1" {
		p.ErrorKey = "expired"
	}
	h.render(w, r, loginTmpl, http.StatusOK, p)
}

func (h *Handler) postLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		h.render(w, r, messageTmpl, http.StatusBadRequest, page{TitleKey: "error_title", BodyKey: "error"})
		return
	}
	p := h.loginPage(r)
	p.Username = limit(strings.TrimSpace(r.PostFormValue("username")), 254)
	if !CheckCSRF(r) {
		p.ErrorKey = "csrf"
		h.render(w, r, loginTmpl, http.StatusForbidden, p)
		return
	}
	switch step := r.PostFormValue("step"); {
	case step == "change":
		h.postChange(w, r, p)
		return
	case step != "password" || p.Username == "":
		if p.Username != "" {
			p.Step = "password"
		}
		h.render(w, r, loginTmpl, http.StatusOK, p)
		return
	}
	p.Step = "password"
	ctx := r.Context()
	user, reason, _ := h.Passwords.CheckPassword(ctx, r, p.Username, r.PostFormValue("password"), p.App)
	if reason != "" {
		// Unknown user, wrong password and a locked account get the same answer (the record
		// has the true reason), so the form cannot tell which accounts exist or are locked.
		// "disabled" is only ever known after the right password.
		p.ErrorKey = "bad_credentials"
		if reason == signin.ReasonDisabled {
			p.ErrorKey = string(reason)
		}
		h.render(w, r, loginTmpl, http.StatusUnauthorized, p)
		return
	}
	if user.PasswordChangeRequired {
		p.Step, p.ChangeToken = "change", changeToken(user, time.Now())
		h.render(w, r, loginTmpl, http.StatusOK, p)
		return
	}
	h.admit(w, r, p, user)
}

// ownApp names the Sekisho application a sign-in at the form is for when it is one of
// Sekisho's own: the console under /admin, the portal for its pages. A protocol
// application's sign-in (SAML, WS-Fed…) is judged and recorded by its adapter when the
// browser returns there.
func ownApp(app, returnTo string) (string, bool) {
	switch app {
	case signin.AppAdmin, signin.AppAccount:
		return app, true
	case "":
		path, _, _ := strings.Cut(returnTo, "?")
		switch {
		case path == "/admin" || strings.HasPrefix(path, "/admin/"):
			return signin.AppAdmin, true
		case path == "/" || strings.HasPrefix(path, "/account/") || strings.HasPrefix(path, "/devices/"):
			return signin.AppAccount, true
		}
	}
	return "", false
}

// admit finishes a sign-in whose password was right: Sekisho's own applications are judged
// here (recorded; denied → no session), then the session starts and the browser goes on.
func (h *Handler) admit(w http.ResponseWriter, r *http.Request, p page, user store.User) {
	ctx := r.Context()
	app, own := ownApp(p.App, p.ReturnTo)
	var o signin.Outcome
	if own && h.Judge != nil {
		var err error
		o, err = h.Judge.Check(ctx, signin.Attempt{Protocol: "web", Application: app, Endpoint: signin.Passive, HTTP: r,
			Session: &signin.Session{UserID: user.ID, AuthnInstant: time.Now()}})
		if err != nil {
			h.Log.ErrorContext(ctx, "gate", "app", app, "err", err)
			h.render(w, r, messageTmpl, http.StatusServiceUnavailable, page{TitleKey: "error_title", BodyKey: "error", Reference: o.EventID})
			return
		}
		if !o.Allowed && !o.StepUpMFA {
			RenderDenied(w, r, http.StatusForbidden, o.Message, o.EventID)
			return
		}
	}
	// A new sign-in replaces any session the browser had (session fixation).
	_, _ = h.Sessions.End(ctx, w, r)
	fresh := ""
	if p.Force {
		fresh = p.ReturnTo
	}
	sess, err := h.Sessions.Create(ctx, w, user, []string{"pwd"}, false, fresh)
	if err != nil {
		h.Log.ErrorContext(ctx, "create session", "err", err)
		h.render(w, r, messageTmpl, http.StatusInternalServerError, page{TitleKey: "error_title", BodyKey: "error"})
		return
	}
	if own && h.Judge != nil {
		if !o.Allowed {
			q := url.Values{"return_to": {p.ReturnTo}, "app": {app}}
			http.Redirect(w, r, "/login/mfa?"+q.Encode(), http.StatusSeeOther)
			return
		}
		if err := h.Sessions.Grant(ctx, sess.ID, app, o.ClientIP); err != nil {
			h.Log.WarnContext(ctx, "remember admission on session", "app", app, "err", err)
		}
	}
	http.Redirect(w, r, p.ReturnTo, http.StatusSeeOther)
}

func (h *Handler) getLogout(w http.ResponseWriter, r *http.Request) {
	// GET shows a confirmation button, so a cross-site image cannot sign a user out.
	if _, _, ok := h.Sessions.Current(r); ok {
		h.home(w, r)
		return
	}
	h.render(w, r, messageTmpl, http.StatusOK, page{TitleKey: "signed_out_title", BodyKey: "signed_out"})
}

func (h *Handler) postLogout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	_ = r.ParseForm()
	if !CheckCSRF(r) {
		h.render(w, r, messageTmpl, http.StatusForbidden, page{TitleKey: "error_title", ErrorKey: "csrf"})
		return
	}
	s, d, had := h.Sessions.Current(r)
	apps, err := h.Sessions.End(r.Context(), w, r)
	if err != nil {
		h.Log.ErrorContext(r.Context(), "sign out", "err", err)
	}
	// The session's SAML applications hear of it through the browser (their OpenID Connect
	// clients by the back channel, authn.Manager.OnEnd); the chain ends at the signed-out page.
	if had && err == nil && h.SAMLLogout != nil {
		if u, uerr := h.Directory.Store.GetUser(r.Context(), s.UserID); uerr == nil && h.SAMLLogout(w, r, u, apps, d.Ref, "/logout") {
			return
		}
	}
	h.render(w, r, messageTmpl, http.StatusOK, page{TitleKey: "signed_out_title", BodyKey: "signed_out"})
}

// RenderDenied renders a refusal by the gate: the policy's text for the user (may be empty)
// and the sign-in record's reference ID. Scripts (JSON requests) get {"error": …}.
func RenderDenied(w http.ResponseWriter, r *http.Request, status int, message, reference string) {
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		writeJSONError(w, r, status, "denied")
		return
	}
	h := &Handler{Log: slog.Default()}
	body := "denied"
	if status == http.StatusUnauthorized {
		body = "expired"
	} else if status >= 500 {
		body = "error"
	}
	h.render(w, r, messageTmpl, status, page{TitleKey: "denied_title", BodyKey: body, Reason: message, Reference: reference})
}

// RenderError renders a plain error page with a reference ID (may be empty).
func RenderError(w http.ResponseWriter, r *http.Request, status int, reference string) {
	h := &Handler{Log: slog.Default()}
	h.render(w, r, messageTmpl, status, page{TitleKey: "error_title", BodyKey: "error", Reference: reference})
}

// SafeReturn keeps only local paths (see authn.SafeReturnTo).
func SafeReturn(s string) string { return authn.SafeReturnTo(s) }

func urlQuery(s string) string { return url.QueryEscape(s) }
