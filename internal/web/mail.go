package web

import (
	"context"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sekisho/sekisho/internal/admin"
	"github.com/sekisho/sekisho/internal/authn"
	"github.com/sekisho/sekisho/internal/bridge/apppassword"
	"github.com/sekisho/sekisho/internal/bridge/oauthtokens"
	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/store"
)

var mailTmpl = template.Must(template.New("").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/mail.html"))

// MailAdmin is what the mail devices page needs from internal/admin; *admin.Service
// implements it. Every change goes through it, as the signed-in user (Via "portal"), so each
// one is a transaction with its admin audit entry; the page itself writes nothing.
type MailAdmin interface {
	ListBridgeCredentials(ctx context.Context, user string) ([]admin.BridgeCredentialView, error)
	IssueBridgeCredential(ctx context.Context, a admin.Actor, n admin.NewBridgeCredential) (admin.IssuedBridgeCredential, error)
	RevokeBridgeCredential(ctx context.Context, a admin.Actor, user, name string) (admin.BridgeCredentialView, error)
	// BridgeUpstreamDelegated reports whether mailboxes are connected one by one (tokens
	// oauth or microsoft365, not app_only).
	BridgeUpstreamDelegated() bool
	BridgeUpstreamOf(ctx context.Context, user string) (admin.BridgeUpstreamView, error)
	ConnectBridgeUpstream(ctx context.Context, a admin.Actor, user string, show func(oauthtokens.DeviceCode) error) (admin.BridgeUpstreamView, error)
	DisconnectBridgeUpstream(ctx context.Context, a admin.Actor, user string) (admin.BridgeUpstreamView, error)
}

// UserReader reads users; store.Store implements it.
type UserReader interface {
	GetUser(ctx context.Context, id string) (store.User, error)
}

// Defaults of MailPages.
const (
	// DefaultMailFlowTimeout bounds one mailbox connection (the device code flow): longer than
	// the codes live (Entra ID: 15 minutes), so the code's own expiry normally ends it first.
	DefaultMailFlowTimeout = 20 * time.Minute
	// mailFlowKept: how long the outcome of a finished connection is shown.
	mailFlowKept = 10 * time.Minute
	// mailCodeWait: how long the connect button's request waits for the code before the page
	// shows "asking for a code" and refreshes itself (within the request's own deadline).
	mailCodeWait = 8 * time.Second
	mailPath     = "/account/mail"
)

// ViaPortal names the user portal in the admin audit log (admin.Actor.Via).
const ViaPortal = "portal"

// MailPages is the user portal's page for the mail bridge (docs/mail-bridge.md):
//
//	GET  /account/mail             the user's app passwords, the mailbox's connection
//	POST /account/mail/issue       a new app password (bridge.self_service), shown once
//	POST /account/mail/revoke      ends one of the user's app passwords
//	POST /account/mail/connect     starts connecting the mailbox (device code flow)
//	POST /account/mail/disconnect  forgets the mailbox's grant
//
// Every POST needs the form's CSRF token; every action is on the signed-in user's own
// credentials and mailbox, whatever the form says.
type MailPages struct {
	Users    UserReader
	Sessions *authn.Manager
	Admin    MailAdmin
	// SelfService lets users issue their own app passwords (bridge.self_service).
	SelfService bool
	// Factors tells whether the user has a second factor (nil: none has); with one, issuing
	// an app password needs a session that used it, as adding a passkey does.
	Factors SecondFactors
	// EnrolAllowed says whether a user without a second factor may add a credential at this
	// request (the passkey and authenticator enrolment rule); nil refuses.
	EnrolAllowed func(r *http.Request, userID string) bool
	// Protect puts the pages behind the gate (application sekisho-account); nil serves them
	// to any session.
	Protect func(app string, h http.Handler) http.Handler
	// Base is the server's lifetime: a mailbox connection runs in the background until the
	// flow ends, FlowTimeout passes or Base ends (default context.Background()).
	Base        context.Context
	FlowTimeout time.Duration
	Log         *slog.Logger
	Now         func() time.Time

	mu    sync.Mutex
	flows map[string]*mailFlow // user ID → the mailbox connection started last
}

// mailFlow is one mailbox connection running (or finished) in the background. Its fields
// after ready are guarded by MailPages.mu.
type mailFlow struct {
	ready     chan struct{} // closed once the code is known or the flow ended without one
	readyOnce sync.Once
	cancel    context.CancelFunc
	code      *oauthtokens.DeviceCode
	err       error
	ended     time.Time
}

func (f *mailFlow) markReady() { f.readyOnce.Do(func() { close(f.ready) }) }

// Mount registers the routes on mux.
func (mp *MailPages) Mount(mux Router) {
	portal := func(f http.HandlerFunc) http.Handler {
		if mp.Protect == nil {
			return f
		}
		return mp.Protect(signin.AppAccount, f)
	}
	mux.Handle("GET "+mailPath, portal(mp.get))
	mux.Handle("POST "+mailPath+"/issue", portal(mp.issue))
	mux.Handle("POST "+mailPath+"/revoke", portal(mp.revoke))
	mux.Handle("POST "+mailPath+"/connect", portal(mp.connect))
	mux.Handle("POST "+mailPath+"/disconnect", portal(mp.disconnect))
}

func (mp *MailPages) log() *slog.Logger {
	if mp.Log == nil {
		return slog.Default()
	}
	return mp.Log
}

func (mp *MailPages) now() time.Time {
	if mp.Now == nil {
		return time.Now()
	}
	return mp.Now()
}

func (mp *MailPages) base() context.Context {
	if mp.Base == nil {
		return context.Background()
	}
	return mp.Base
}

func (mp *MailPages) flowTimeout() time.Duration {
	if mp.FlowTimeout <= 0 {
		return DefaultMailFlowTimeout
	}
	return mp.FlowTimeout
}

// actor is the signed-in user making a change to their own mail devices.
func actor(u store.User) admin.Actor { return admin.Actor{Name: u.UPN, Via: ViaPortal} }

// mailView is the page's data.
type mailView struct {
	Passwords []mailPassword
	// SelfService: the administrator lets users issue app passwords; CanIssue: this session
	// may (else BlockedKey says why, and VerifyURL where to use a second factor).
	SelfService bool
	CanIssue    bool
	BlockedKey  string
	VerifyURL   string
	Scopes      []mailScope // the issue form's choices
	FormName    string
	Issued      *mailIssued // the new app password, shown on this response only
	Done        string      // what the last change did (message key)
	DoneName    string      // the app password it concerned
	// Delegated: mailboxes are connected one by one; Grant is the user's (nil: none); Flow
	// the connection running or just finished.
	Delegated bool
	Grant     *mailGrant
	Flow      *mailFlowView
	Pending   bool // a connection is under way
}

type mailPassword struct {
	Name, Created, Expires, LastUsed, LastIP, StateKey string
	ScopeKeys, From                                    []string
	Active, Sends                                      bool // in force; may send (smtp-send)
}

type mailScope struct {
	Value, Key string
	Checked    bool
}

type mailIssued struct {
	Name, Password, Expires string
	ScopeKeys               []string
}

type mailGrant struct {
	ConnectedAt, ConnectedBy, RefreshedAt, Broken, BrokenAt string
}

type mailFlowView struct {
	Pending                    bool
	URI, URIComplete, Code, To string // the verification address, the code and its expiry
	ResultKey, Reason          string // a finished flow's outcome, and the service's words for a failure
}

// scopeKey is the message key naming an app password scope.
func scopeKey(scope string) string { return "mail_scope_" + strings.ReplaceAll(scope, "-", "_") }

func scopeKeys(scopes []string) []string {
	out := make([]string, 0, len(scopes))
	for _, s := range scopes {
		out = append(out, scopeKey(s))
	}
	return out
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(dateFormat)
}

// signedIn is the request's user, or false after answering: the sign-in page for a page,
// the expired sign-in for a form.
func (mp *MailPages) signedIn(w http.ResponseWriter, r *http.Request) (store.Session, store.User, bool) {
	back := "/login?return_to=%2Faccount%2Fmail"
	if r.Method == http.MethodPost {
		back = "/login?expired=1&return_to=%2Faccount%2Fmail"
	}
	s, _, ok := mp.Sessions.Current(r)
	if !ok {
		http.Redirect(w, r, back, http.StatusSeeOther)
		return store.Session{}, store.User{}, false
	}
	u, err := mp.Users.GetUser(r.Context(), s.UserID)
	if err != nil {
		http.Redirect(w, r, back, http.StatusSeeOther)
		return store.Session{}, store.User{}, false
	}
	return s, u, true
}

// form parses a POST and checks its CSRF token, answering 403 when it fails.
func (mp *MailPages) form(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil || !CheckCSRF(r) {
		h := &Handler{Log: mp.log()}
		h.render(w, r, messageTmpl, http.StatusForbidden, page{TitleKey: "error_title", ErrorKey: "csrf"})
		return false
	}
	return true
}

// mayIssue applies the rule for adding a credential that needs no second factor: the
// administrator allows self-service; a user with a second factor has used it in this
// session (a stolen password alone must not mint a way around it); a user without one is
// where the policy allows a first enrolment.
func (mp *MailPages) mayIssue(r *http.Request, s store.Session) (ok bool, blockedKey string) {
	if !mp.SelfService {
		return false, "mail_self_service_off"
	}
	if s.MFA {
		return true, ""
	}
	var methods []string
	if mp.Factors != nil {
		var err error
		if methods, err = mp.Factors.Methods(r.Context(), s.UserID); err != nil {
			mp.log().ErrorContext(r.Context(), "mail devices: second factors", "err", err)
			return false, "mail_issue_mfa_first"
		}
	}
	switch {
	case len(methods) > 0:
		return false, "mail_issue_mfa_first"
	case mp.EnrolAllowed == nil || !mp.EnrolAllowed(r, s.UserID):
		return false, "mail_issue_not_here"
	}
	return true, ""
}

// view gathers the page's data for u.
func (mp *MailPages) view(r *http.Request, s store.Session, u store.User) (*mailView, error) {
	ctx := r.Context()
	creds, err := mp.Admin.ListBridgeCredentials(ctx, u.UPN)
	if err != nil {
		return nil, err
	}
	now := mp.now()
	// In force first, then the newest.
	slices.SortStableFunc(creds, func(a, b admin.BridgeCredentialView) int {
		aa, ba := a.State(now) == "active", b.State(now) == "active"
		switch {
		case aa && !ba:
			return -1
		case ba && !aa:
			return 1
		}
		return b.CreatedAt.Compare(a.CreatedAt)
	})
	v := &mailView{SelfService: mp.SelfService, Delegated: mp.Admin.BridgeUpstreamDelegated()}
	for _, c := range creds {
		if c.User != u.UPN {
			continue // never another user's, whatever the service answers
		}
		state := c.State(now)
		v.Passwords = append(v.Passwords, mailPassword{Name: c.Name, ScopeKeys: scopeKeys(c.Scopes), From: c.From,
			Created: formatTime(c.CreatedAt), Expires: formatTime(c.ExpiresAt), LastUsed: formatTime(c.LastUsedAt),
			LastIP: c.LastIP, StateKey: "mail_state_" + state, Active: state == "active", Sends: slices.Contains(c.Scopes, apppassword.ScopeSMTPSend)})
	}
	v.CanIssue, v.BlockedKey = mp.mayIssue(r, s)
	if v.BlockedKey == "mail_issue_mfa_first" {
		v.VerifyURL = "/login/mfa?return_to=" + urlQuery(mailPath)
	}
	for _, sc := range apppassword.AllScopes {
		v.Scopes = append(v.Scopes, mailScope{Value: sc, Key: scopeKey(sc)})
	}
	if v.Delegated {
		g, err := mp.Admin.BridgeUpstreamOf(ctx, u.UPN)
		switch {
		case err == nil:
			v.Grant = &mailGrant{ConnectedAt: formatTime(g.ConnectedAt), ConnectedBy: g.ConnectedBy, RefreshedAt: formatTime(g.RefreshedAt),
				Broken: g.Broken, BrokenAt: formatTime(g.BrokenAt)}
		case !errors.Is(err, store.ErrNotFound):
			return nil, err
		}
		v.Flow = mp.flowView(u.ID)
		v.Pending = v.Flow != nil && v.Flow.Pending
	}
	return v, nil
}

// render shows the page; refresh makes it reload itself (GET only: a form's answer must not
// be sent again).
func (mp *MailPages) render(w http.ResponseWriter, r *http.Request, status int, u store.User, v *mailView, errorKey string) {
	h := &Handler{Log: mp.log()}
	p := page{TitleKey: "mail_title", Username: u.UPN, Mail: v, ErrorKey: errorKey}
	p.Refresh = r.Method == http.MethodGet && v.Pending
	if r.Method != http.MethodGet {
		// A form's answer switches language to the page, not to the form's address (POST only).
		at := *r.URL
		at.Path, at.RawQuery = mailPath, ""
		r = r.WithContext(r.Context())
		r.URL = &at
	}
	h.render(w, r, mailTmpl, status, p)
}

// page renders the page for u with the last change's outcome, or the error page.
func (mp *MailPages) page(w http.ResponseWriter, r *http.Request, status int, s store.Session, u store.User, errorKey string, adjust func(*mailView)) {
	v, err := mp.view(r, s, u)
	if err != nil {
		mp.log().ErrorContext(r.Context(), "mail devices", "user", u.UPN, "err", err)
		RenderError(w, r, http.StatusInternalServerError, "")
		return
	}
	if adjust != nil {
		adjust(v)
	}
	mp.render(w, r, status, u, v, errorKey)
}

func (mp *MailPages) get(w http.ResponseWriter, r *http.Request) {
	s, u, ok := mp.signedIn(w, r)
	if !ok {
		return
	}
	mp.page(w, r, http.StatusOK, s, u, "", nil)
}

// issue makes a new app password for the signed-in user; the answer shows it once.
func (mp *MailPages) issue(w http.ResponseWriter, r *http.Request) {
	if !mp.form(w, r) {
		return
	}
	s, u, ok := mp.signedIn(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	name := strings.ToLower(strings.TrimSpace(limit(r.PostFormValue("name"), 200)))
	var scopes []string
	for _, sc := range apppassword.AllScopes {
		if slices.Contains(r.PostForm["scope"], sc) {
			scopes = append(scopes, sc)
		}
	}
	refused := func(status int, key string) {
		mp.page(w, r, status, s, u, key, func(v *mailView) {
			v.FormName = name
			for i := range v.Scopes {
				v.Scopes[i].Checked = slices.Contains(scopes, v.Scopes[i].Value)
			}
		})
	}
	if may, key := mp.mayIssue(r, s); !may {
		refused(http.StatusForbidden, key)
		return
	}
	switch {
	case apppassword.CheckName(name) != nil:
		refused(http.StatusBadRequest, "mail_bad_name")
		return
	case len(scopes) == 0:
		refused(http.StatusBadRequest, "mail_no_scope")
		return
	}
	// No senders: an app password of the user's own sends as the user's own addresses only.
	is, err := mp.Admin.IssueBridgeCredential(ctx, actor(u), admin.NewBridgeCredential{User: u.UPN, Name: name, Scopes: scopes})
	switch {
	case errors.Is(err, store.ErrConflict):
		refused(http.StatusConflict, "mail_name_taken")
		return
	case err != nil:
		mp.log().ErrorContext(ctx, "mail devices: issue an app password", "user", u.UPN, "name", name, "err", err)
		RenderError(w, r, http.StatusInternalServerError, "")
		return
	}
	mp.log().InfoContext(ctx, "app password issued by its user (portal)", "user", u.UPN, "name", is.Name, "scopes", is.Scopes)
	mp.page(w, r, http.StatusOK, s, u, "", func(v *mailView) {
		v.Issued = &mailIssued{Name: is.Name, Password: is.Password, Expires: formatTime(is.ExpiresAt), ScopeKeys: scopeKeys(is.Scopes)}
	})
}

// revoke ends one of the signed-in user's app passwords, by name: the user is always the
// session's, so another user's credential cannot be named.
func (mp *MailPages) revoke(w http.ResponseWriter, r *http.Request) {
	if !mp.form(w, r) {
		return
	}
	s, u, ok := mp.signedIn(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	name := limit(r.PostFormValue("name"), 200)
	creds, err := mp.Admin.ListBridgeCredentials(ctx, u.UPN)
	if err != nil {
		mp.log().ErrorContext(ctx, "mail devices", "user", u.UPN, "err", err)
		RenderError(w, r, http.StatusInternalServerError, "")
		return
	}
	now := mp.now()
	if !slices.ContainsFunc(creds, func(c admin.BridgeCredentialView) bool {
		return c.User == u.UPN && c.Name == name && c.State(now) == "active"
	}) {
		mp.page(w, r, http.StatusNotFound, s, u, "mail_unknown", nil)
		return
	}
	if _, err := mp.Admin.RevokeBridgeCredential(ctx, actor(u), u.UPN, name); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			mp.page(w, r, http.StatusNotFound, s, u, "mail_unknown", nil)
			return
		}
		mp.log().ErrorContext(ctx, "mail devices: revoke an app password", "user", u.UPN, "name", name, "err", err)
		RenderError(w, r, http.StatusInternalServerError, "")
		return
	}
	mp.log().InfoContext(ctx, "app password revoked by its user (portal)", "user", u.UPN, "name", name)
	mp.page(w, r, http.StatusOK, s, u, "", func(v *mailView) { v.Done, v.DoneName = "mail_revoked", name })
}

// mailboxAction checks a connect or disconnect request (the form, the signed-in user, an
// upstream that keeps grants per mailbox) and answers the ones that do not pass.
func (mp *MailPages) mailboxAction(w http.ResponseWriter, r *http.Request) (store.Session, store.User, bool) {
	if !mp.form(w, r) {
		return store.Session{}, store.User{}, false
	}
	s, u, ok := mp.signedIn(w, r)
	if !ok {
		return s, u, false
	}
	if !mp.Admin.BridgeUpstreamDelegated() {
		mp.page(w, r, http.StatusNotFound, s, u, "mail_connect_unavailable", nil)
		return s, u, false
	}
	return s, u, true
}

// connect starts connecting the signed-in user's mailbox (unless a connection is under way)
// and sends the browser to the page, which shows the code and refreshes itself until the
// flow ends in the background.
func (mp *MailPages) connect(w http.ResponseWriter, r *http.Request) {
	s, u, ok := mp.mailboxAction(w, r)
	if !ok {
		return
	}
	if u.Status != store.UserActive {
		mp.page(w, r, http.StatusForbidden, s, u, "disabled", nil)
		return
	}
	f := mp.start(u)
	// The device authorization is one request to the token service: usually the code is
	// known at once, and the page shows it without a refresh.
	t := time.NewTimer(mailCodeWait)
	defer t.Stop()
	select {
	case <-f.ready:
	case <-t.C:
	case <-r.Context().Done():
	}
	http.Redirect(w, r, mailPath, http.StatusSeeOther)
}

// start returns u's connection under way, or starts one.
func (mp *MailPages) start(u store.User) *mailFlow {
	mp.mu.Lock()
	defer mp.mu.Unlock()
	mp.prune()
	if f := mp.flows[u.ID]; f != nil && f.ended.IsZero() {
		return f // a second click: the same flow and code
	}
	ctx, cancel := context.WithTimeout(mp.base(), mp.flowTimeout())
	f := &mailFlow{ready: make(chan struct{}), cancel: cancel}
	if mp.flows == nil {
		mp.flows = map[string]*mailFlow{}
	}
	mp.flows[u.ID] = f
	go mp.run(ctx, f, u)
	return f
}

// run connects u's mailbox through the admin service: it shows the code (to the page) and
// waits for the sign-in at the token service, then stores the grant with its audit entry.
func (mp *MailPages) run(ctx context.Context, f *mailFlow, u store.User) {
	defer f.cancel()
	log := mp.log()
	v, err := mp.Admin.ConnectBridgeUpstream(ctx, actor(u), u.UPN, func(d oauthtokens.DeviceCode) error {
		mp.mu.Lock()
		f.code = &d
		mp.mu.Unlock()
		f.markReady()
		return nil
	})
	mp.mu.Lock()
	f.err, f.ended = err, mp.now()
	mp.mu.Unlock()
	f.markReady()
	if err != nil {
		log.InfoContext(ctx, "mailbox connection from the portal did not complete", "user", u.UPN, "err", err)
		return
	}
	log.InfoContext(ctx, "mailbox connected by its user (portal)", "user", u.UPN, "profile", v.Profile)
}

// prune forgets finished connections whose outcome is no longer shown (mu held).
func (mp *MailPages) prune() {
	now := mp.now()
	for id, f := range mp.flows {
		if !f.ended.IsZero() && now.Sub(f.ended) > mailFlowKept {
			delete(mp.flows, id)
		}
	}
}

// flowView is what the page shows of the user's connection under way or just finished.
func (mp *MailPages) flowView(userID string) *mailFlowView {
	mp.mu.Lock()
	defer mp.mu.Unlock()
	mp.prune()
	f := mp.flows[userID]
	if f == nil {
		return nil
	}
	fv := &mailFlowView{Pending: f.ended.IsZero()}
	if fv.Pending {
		if f.code != nil {
			fv.URI, fv.Code, fv.To = f.code.VerificationURI, f.code.UserCode, formatTime(f.code.Expiry)
			if f.code.VerificationURIComplete != f.code.VerificationURI {
				fv.URIComplete = f.code.VerificationURIComplete
			}
		}
		return fv
	}
	var other *oauthtokens.OtherUserError
	switch err := f.err; {
	case err == nil:
		fv.ResultKey = "mail_connect_done"
	case errors.Is(err, oauthtokens.ErrCodeExpired):
		fv.ResultKey = "mail_connect_expired"
	case errors.Is(err, oauthtokens.ErrSignInRefused):
		fv.ResultKey = "mail_connect_refused"
	case errors.As(err, &other):
		fv.ResultKey, fv.Reason = "mail_connect_other_user", other.Who
	default:
		fv.ResultKey, fv.Reason = "mail_connect_failed", err.Error()
	}
	return fv
}

// disconnect forgets the signed-in user's mailbox grant, and stops a connection under way.
func (mp *MailPages) disconnect(w http.ResponseWriter, r *http.Request) {
	s, u, ok := mp.mailboxAction(w, r)
	if !ok {
		return
	}
	mp.mu.Lock()
	f := mp.flows[u.ID]
	pending := f != nil && f.ended.IsZero()
	delete(mp.flows, u.ID)
	mp.mu.Unlock()
	if f != nil {
		f.cancel()
	}
	ctx := r.Context()
	if _, err := mp.Admin.DisconnectBridgeUpstream(ctx, actor(u), u.UPN); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			status, key := http.StatusNotFound, "mail_mailbox_none"
			if pending {
				status, key = http.StatusOK, "" // the connection under way is stopped: nothing else to do
			}
			mp.page(w, r, status, s, u, key, func(v *mailView) {
				if key == "" {
					v.Done = "mail_connect_cancelled"
				}
			})
			return
		}
		mp.log().ErrorContext(ctx, "mail devices: disconnect the mailbox", "user", u.UPN, "err", err)
		RenderError(w, r, http.StatusInternalServerError, "")
		return
	}
	mp.log().InfoContext(ctx, "mailbox disconnected by its user (portal)", "user", u.UPN)
	mp.page(w, r, http.StatusOK, s, u, "", func(v *mailView) { v.Done = "mail_disconnected" })
}
