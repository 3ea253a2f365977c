package web

import (
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"time"

	"github.com/sekisho/sekisho/internal/directory"
	"github.com/sekisho/sekisho/internal/store"
)

var (
	portalTmpl   = template.Must(template.New("").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/portal.html"))
	passwordTmpl = template.Must(template.New("").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/password.html"))
)

type portalSignIn struct{ When, App, IP, Decision string }

type portalDevice struct{ Name, Status, Expires string }

type portalApp struct{ Name, URL string }

// portalView is the user portal's home: the user's own recent sign-ins (so a user can see a
// sign-in that was not theirs) and device certificates.
type portalView struct {
	Mail    bool // link the mail devices page
	Apps    []portalApp
	SignIns []portalSignIn
	Devices []portalDevice
}

// launchable lists the SAML applications that accept IdP-initiated sign-in, with their start
// link. The gate still judges the sign-in when the user opens one.
func (h *Handler) launchable(r *http.Request) []portalApp {
	apps, err := h.Directory.Store.ListApplications(r.Context())
	if err != nil {
		h.Log.ErrorContext(r.Context(), "portal: applications", "err", err)
		return nil
	}
	var out []portalApp
	for _, a := range apps {
		var cfg struct {
			AllowIdPInitiated bool `json:"allowIdpInitiated"`
		}
		if a.Protocol != "saml" || json.Unmarshal(a.Config, &cfg) != nil || !cfg.AllowIdPInitiated {
			continue
		}
		out = append(out, portalApp{a.Name, "/saml/idp-initiated?sp=" + url.QueryEscape(a.EntityID)})
	}
	return out
}

const portalSignInDays = 30

func (h *Handler) home(w http.ResponseWriter, r *http.Request) {
	s, _, ok := h.Sessions.Current(r)
	if !ok {
		http.Redirect(w, r, "/login?return_to=%2F", http.StatusSeeOther)
		return
	}
	ctx := r.Context()
	st := h.Directory.Store
	u, err := st.GetUser(ctx, s.UserID)
	if err != nil {
		http.Redirect(w, r, "/login?return_to=%2F", http.StatusSeeOther)
		return
	}
	v := portalView{Mail: h.MailDevices, Apps: h.launchable(r)}
	evs, err := st.ListSignIns(ctx, store.SignInFilter{Username: u.UPN, Since: time.Now().Add(-portalSignInDays * 24 * time.Hour)})
	if err != nil {
		h.Log.ErrorContext(ctx, "portal: sign-ins", "err", err)
	}
	for i := len(evs) - 1; i >= 0 && len(v.SignIns) < 20; i-- {
		e := evs[i]
		v.SignIns = append(v.SignIns, portalSignIn{e.Time.UTC().Format(dateFormat), e.Application, e.EffectiveIP, e.Decision})
	}
	devs, err := st.ListDevices(ctx, u.ID)
	if err != nil {
		h.Log.ErrorContext(ctx, "portal: devices", "err", err)
	}
	for _, d := range devs {
		v.Devices = append(v.Devices, portalDevice{d.Name, d.Status, d.NotAfter.UTC().Format(dateFormat)})
	}
	h.render(w, r, portalTmpl, http.StatusOK, page{TitleKey: "portal_title", Username: u.UPN, Portal: &v})
}

func (h *Handler) getPassword(w http.ResponseWriter, r *http.Request) {
	s, _, ok := h.Sessions.Current(r)
	if !ok {
		http.Redirect(w, r, "/login?return_to=%2Faccount%2Fpassword", http.StatusSeeOther)
		return
	}
	u, err := h.Directory.Store.GetUser(r.Context(), s.UserID)
	if err != nil {
		RenderError(w, r, http.StatusInternalServerError, "")
		return
	}
	h.render(w, r, passwordTmpl, http.StatusOK, page{TitleKey: "portal_password", Username: u.UPN})
}

// postPassword changes the signed-in user's password. The current password is checked like
// every password (smart lockout, a record for a wrong one), the policy applies, and every
// session of the user ends: the user signs in again with the new password.
func (h *Handler) postPassword(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil || !CheckCSRF(r) {
		h.render(w, r, messageTmpl, http.StatusForbidden, page{TitleKey: "error_title", ErrorKey: "csrf"})
		return
	}
	ctx := r.Context()
	s, _, ok := h.Sessions.Current(r)
	if !ok {
		http.Redirect(w, r, "/login?expired=1&return_to=%2Faccount%2Fpassword", http.StatusSeeOther)
		return
	}
	u, err := h.Directory.Store.GetUser(ctx, s.UserID)
	if err != nil {
		RenderError(w, r, http.StatusInternalServerError, "")
		return
	}
	p := page{TitleKey: "portal_password", Username: u.UPN}
	if _, reason, _ := h.Passwords.CheckPassword(ctx, r, u.UPN, r.PostFormValue("current_password"), "sekisho-account"); reason != "" {
		p.ErrorKey = "bad_credentials"
		h.render(w, r, passwordTmpl, http.StatusUnauthorized, p)
		return
	}
	pw := r.PostFormValue("new_password")
	if pw != r.PostFormValue("confirm_password") {
		p.ErrorKey = "pw_mismatch"
		h.render(w, r, passwordTmpl, http.StatusBadRequest, p)
		return
	}
	if err := h.Directory.ChangeOwnPassword(ctx, u.ID, pw); err != nil {
		var pe *directory.PolicyError
		if !errors.As(err, &pe) {
			h.Log.ErrorContext(ctx, "portal: change password", "user", u.UPN, "err", err)
			RenderError(w, r, http.StatusInternalServerError, "")
			return
		}
		p.ErrorKey, p.MinLength = "pw_"+pe.Code, pe.MinLength
		h.render(w, r, passwordTmpl, http.StatusBadRequest, p)
		return
	}
	h.Log.InfoContext(ctx, "password changed by its user (portal); sessions ended", "user", u.UPN)
	_, _ = h.Sessions.End(ctx, w, r)
	h.render(w, r, passwordTmpl, http.StatusOK, page{TitleKey: "portal_password", BodyKey: "portal_password_done"})
}
