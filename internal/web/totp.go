package web

import (
	"context"
	"encoding/base64"
	"html/template"
	"net/http"
	"strings"
	"time"
)

var totpTmpl = template.Must(template.New("").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/totp.html"))

// TOTPEnroller is what the enrolment page needs from internal/authn/factors.
type TOTPEnroller interface {
	// Enroll starts (or restarts) a pending enrolment and returns its secret and QR PNG.
	Enroll(ctx context.Context, userID, upn string, now time.Time) (secret string, png []byte, err error)
	// Confirm makes the pending enrolment active when code is right.
	Confirm(ctx context.Context, userID, code string, now time.Time) error
	// Enrolled reports whether the user already has an active authenticator app.
	Enrolled(ctx context.Context, userID string) (bool, error)
}

// getTOTP shows the enrolment QR code. A user who already has a factor must have used one in
// this session first, so a stolen password cannot replace the victim's authenticator.
func (h *Handler) getTOTP(w http.ResponseWriter, r *http.Request) {
	if h.TOTP == nil {
		http.NotFound(w, r)
		return
	}
	ret := SafeReturn(r.URL.Query().Get("return_to"))
	s, _, ok := h.Sessions.Current(r)
	if !ok {
		http.Redirect(w, r, "/login?return_to="+urlQuery("/account/totp?return_to="+urlQuery(ret)), http.StatusSeeOther)
		return
	}
	p := page{TitleKey: "totp_title", ReturnTo: ret}
	ctx := r.Context()
	enrolled, err := h.TOTP.Enrolled(ctx, s.UserID)
	if err != nil || (enrolled && !s.MFA) {
		p.BodyKey = "totp_verify_first"
		h.render(w, r, totpTmpl, http.StatusForbidden, p)
		return
	}
	// A first factor is enrolled on the strength of the password alone, so the policy decides
	// where that may happen: the application "sekisho-account" must be allowed outright here
	// (typically: from the office network only).
	if !enrolled && !s.MFA && (h.EnrolAllowed == nil || !h.EnrolAllowed(r, s.UserID)) {
		p.BodyKey = "totp_not_here"
		h.render(w, r, totpTmpl, http.StatusForbidden, p)
		return
	}
	u, err := h.Directory.Store.GetUser(ctx, s.UserID)
	if err != nil {
		RenderError(w, r, http.StatusInternalServerError, "")
		return
	}
	secret, png, err := h.TOTP.Enroll(ctx, u.ID, u.UPN, time.Now())
	if err != nil {
		h.Log.ErrorContext(ctx, "totp enrol", "err", err)
		RenderError(w, r, http.StatusInternalServerError, "")
		return
	}
	p.BodyKey, p.Secret = "totp_prompt", secret
	p.QR = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
	h.render(w, r, totpTmpl, http.StatusOK, p)
}

func (h *Handler) postTOTP(w http.ResponseWriter, r *http.Request) {
	if h.TOTP == nil {
		http.NotFound(w, r)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil || !CheckCSRF(r) {
		h.render(w, r, messageTmpl, http.StatusForbidden, page{TitleKey: "error_title", ErrorKey: "csrf"})
		return
	}
	ret := SafeReturn(r.PostFormValue("return_to"))
	s, _, ok := h.Sessions.Current(r)
	if !ok {
		http.Redirect(w, r, "/login?expired=1&return_to="+urlQuery("/account/totp"), http.StatusSeeOther)
		return
	}
	ctx := r.Context()
	code := strings.ReplaceAll(strings.TrimSpace(r.PostFormValue("code")), " ", "")
	if err := h.TOTP.Confirm(ctx, s.UserID, limit(code, 16), time.Now()); err != nil {
		p := page{TitleKey: "totp_title", BodyKey: "mfa_wrong", ReturnTo: ret}
		h.render(w, r, totpTmpl, http.StatusUnauthorized, p)
		return
	}
	// The user has just proved the new factor: this session counts as multi-factor.
	if err := h.Sessions.MarkMFA(r, "totp"); err != nil {
		h.Log.ErrorContext(ctx, "mark session MFA", "err", err)
	}
	h.render(w, r, totpTmpl, http.StatusOK, page{TitleKey: "totp_title", BodyKey: "totp_done", ReturnTo: ret, Step: "done"})
}
