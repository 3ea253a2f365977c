package web

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/sekisho/sekisho/internal/signin"
)

var mfaTmpl = template.Must(template.New("").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/mfa.html"))

// ErrRateLimited means too many second-factor attempts; the page says to wait.
var ErrRateLimited = errors.New("too many attempts")

// SecondFactors is what the second-factor step needs from internal/authn.
type SecondFactors interface {
	// Methods lists the user's enrolled methods ("totp", "emergency", "webauthn").
	Methods(ctx context.Context, userID string) ([]string, error)
	// VerifyCode checks a one-time code (TOTP or emergency code) and returns the method used.
	// A code is accepted once; ErrRateLimited when the user made too many attempts.
	VerifyCode(ctx context.Context, userID, code string, now time.Time) (method string, err error)
}

func (h *Handler) mfaPage(r *http.Request) page {
	q := r.URL.Query()
	if r.Method == http.MethodPost {
		q = r.PostForm
	}
	return page{TitleKey: "mfa_title", BodyKey: "mfa_prompt", Step: "code", ReturnTo: SafeReturn(q.Get("return_to")), App: limit(q.Get("app"), 200)}
}

func (h *Handler) getMFA(w http.ResponseWriter, r *http.Request) {
	s, _, ok := h.Sessions.Current(r)
	if !ok {
		http.Redirect(w, r, "/login?return_to="+urlQuery(SafeReturn(r.URL.Query().Get("return_to"))), http.StatusSeeOther)
		return
	}
	p := h.mfaPage(r)
	var methods []string
	if h.Factors != nil {
		methods, _ = h.Factors.Methods(r.Context(), s.UserID)
	}
	if len(methods) == 0 {
		// The policy asks for a factor the user cannot give: that is a refusal, and it is logged.
		p.Step, p.BodyKey = "", "mfa_none"
		// Offer enrolment only where the policy lets a first factor be set up on the password
		// alone; elsewhere the link would lead straight back here.
		if h.TOTP != nil && h.EnrolAllowed != nil && h.EnrolAllowed(r, s.UserID) {
			p.Enrol = "/account/totp?return_to=" + urlQuery(p.ReturnTo)
		}
		if h.Failures != nil {
			if u, err := h.Directory.Store.GetUser(r.Context(), s.UserID); err == nil {
				p.Reference = h.Failures.RecordPasswordFailure(r.Context(), r, u.UPN, p.App, signin.ReasonMFANotEnrolled)
			}
		}
		h.render(w, r, mfaTmpl, http.StatusForbidden, p)
		return
	}
	offerPasskey(&p, methods)
	h.render(w, r, mfaTmpl, http.StatusOK, p)
}

func (h *Handler) postMFA(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil || !CheckCSRF(r) {
		h.render(w, r, messageTmpl, http.StatusForbidden, page{TitleKey: "error_title", ErrorKey: "csrf"})
		return
	}
	p := h.mfaPage(r)
	s, _, ok := h.Sessions.Current(r)
	if !ok {
		http.Redirect(w, r, "/login?expired=1&return_to="+urlQuery(p.ReturnTo), http.StatusSeeOther)
		return
	}
	if h.Factors == nil {
		p.Step, p.BodyKey = "", "mfa_none"
		h.render(w, r, mfaTmpl, http.StatusForbidden, p)
		return
	}
	code := strings.ReplaceAll(strings.TrimSpace(r.PostFormValue("code")), " ", "")
	method, err := h.Factors.VerifyCode(r.Context(), s.UserID, limit(code, 64), time.Now())
	if err != nil {
		p.ErrorKey = "mfa_wrong"
		if errors.Is(err, ErrRateLimited) {
			p.ErrorKey = "mfa_limited"
		}
		if h.Failures != nil {
			if u, uerr := h.Directory.Store.GetUser(r.Context(), s.UserID); uerr == nil {
				h.Failures.RecordPasswordFailure(r.Context(), r, u.UPN, p.App, signin.ReasonMFAFailed)
			}
		}
		if methods, err := h.Factors.Methods(r.Context(), s.UserID); err == nil {
			offerPasskey(&p, methods)
		}
		h.render(w, r, mfaTmpl, http.StatusUnauthorized, p)
		return
	}
	if err := h.Sessions.MarkMFA(r, method); err != nil {
		h.Log.ErrorContext(r.Context(), "mark session MFA", "err", err)
		h.render(w, r, messageTmpl, http.StatusInternalServerError, page{TitleKey: "error_title", BodyKey: "error"})
		return
	}
	http.Redirect(w, r, p.ReturnTo, http.StatusSeeOther)
}
