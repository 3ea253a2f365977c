package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sekisho/sekisho/internal/directory"
	"github.com/sekisho/sekisho/internal/store"
)

// A password an administrator handed over (or init printed) must be replaced at the first
// sign-in. The password step, when right, answers with the change step instead of a
// session; the change form carries a token that Sekisho signed for this user and this very
// password hash, so it is void once the password changes and cannot be forged or moved to
// another account. No session exists until the new password is set.

const changeTokenLife = 10 * time.Minute

func changeMAC(userID, exp, passwordHash string) string {
	m := hmac.New(sha256.New, *csrfKey.Load())
	m.Write([]byte("pwchange|" + userID + "|" + exp + "|" + passwordHash))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func changeToken(u store.User, now time.Time) string {
	exp := strconv.FormatInt(now.Add(changeTokenLife).Unix(), 10)
	return base64.RawURLEncoding.EncodeToString([]byte(u.ID)) + "." + exp + "." + changeMAC(u.ID, exp, u.PasswordHash)
}

// changeUser returns the user a change token was issued to, if it is valid now.
func (h *Handler) changeUser(r *http.Request, tok string, now time.Time) (store.User, bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || len(tok) > 512 {
		return store.User{}, false
	}
	id, err := base64.RawURLEncoding.DecodeString(parts[0])
	exp, err2 := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || err2 != nil || now.Unix() > exp {
		return store.User{}, false
	}
	u, err := h.Directory.Store.GetUser(r.Context(), string(id))
	if err != nil || u.Status != store.UserActive || !u.PasswordChangeRequired {
		return store.User{}, false
	}
	if !hmac.Equal([]byte(changeMAC(u.ID, parts[1], u.PasswordHash)), []byte(parts[2])) {
		return store.User{}, false
	}
	return u, true
}

// postChange sets the new password and continues the sign-in.
func (h *Handler) postChange(w http.ResponseWriter, r *http.Request, p page) {
	now := time.Now()
	u, ok := h.changeUser(r, r.PostFormValue("change_token"), now)
	if !ok {
		p.Step, p.ErrorKey = "password", "change_expired"
		h.render(w, r, loginTmpl, http.StatusUnauthorized, p)
		return
	}
	p.Step, p.Username, p.ChangeToken = "change", u.UPN, r.PostFormValue("change_token")
	pw := r.PostFormValue("new_password")
	if pw != r.PostFormValue("confirm_password") {
		p.ErrorKey = "pw_mismatch"
		h.render(w, r, loginTmpl, http.StatusBadRequest, p)
		return
	}
	if err := h.Directory.ChangeOwnPassword(r.Context(), u.ID, pw); err != nil {
		var pe *directory.PolicyError
		if !errors.As(err, &pe) {
			h.Log.ErrorContext(r.Context(), "change password", "user", u.UPN, "err", err)
			h.render(w, r, messageTmpl, http.StatusInternalServerError, page{TitleKey: "error_title", BodyKey: "error"})
			return
		}
		p.ErrorKey, p.MinLength = "pw_"+pe.Code, pe.MinLength
		h.render(w, r, loginTmpl, http.StatusBadRequest, p)
		return
	}
	h.Log.InfoContext(r.Context(), "password changed at sign-in (required change)", "user", u.UPN)
	u, err := h.Directory.Store.GetUser(r.Context(), u.ID)
	if err != nil {
		h.render(w, r, messageTmpl, http.StatusInternalServerError, page{TitleKey: "error_title", BodyKey: "error"})
		return
	}
	h.admit(w, r, p, u)
}
