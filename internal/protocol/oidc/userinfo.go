package oidc

import (
	"errors"
	"net/http"
	"strings"

	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/sekisho/sekisho/internal/store"
)

// userinfo serves the claims an access token's scopes release, read from the directory as
// it is now. The token is a JWT Sekisho signed (verified against the published keys, its
// issuer and expiry); its client must still be registered and its user active. Refusals are
// RFC 6750 challenges.
func (h *Handler) userinfo(w http.ResponseWriter, r *http.Request) {
	r = h.withIssuer(r)
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	w.Header().Set("Access-Control-Allow-Origin", "*")
	noStore(w)
	tok, err := op.ParseUserinfoRequest(r, h.op.Decoder())
	if err != nil || tok == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+h.cfg.Issuer+`"`)
		writeJSON(w, http.StatusUnauthorized, zoidc.ErrInvalidRequest().WithDescription("access token missing"))
		return
	}
	invalid := func(why string) {
		h.cfg.Logger.InfoContext(r.Context(), "oidc userinfo refused", "reason", why)
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+h.cfg.Issuer+`", error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, &zoidc.Error{ErrorType: "invalid_token", Description: "the access token is not valid"})
	}
	claims, err := op.VerifyAccessToken[*zoidc.AccessTokenClaims](r.Context(), tok, h.op.AccessTokenVerifier(r.Context()))
	if err != nil {
		invalid(err.Error())
		return
	}
	if _, _, err := LookupClient(r.Context(), h.cfg.Apps, claims.ClientID); err != nil {
		invalid("client: " + err.Error())
		return
	}
	u, err := h.cfg.Users.GetUser(r.Context(), claims.Subject)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		h.cfg.Logger.ErrorContext(r.Context(), "oidc userinfo: directory", "err", err)
		writeJSON(w, http.StatusInternalServerError, zoidc.ErrServerError().WithDescription("the directory is unavailable"))
		return
	}
	if err != nil || u.Status != store.UserActive {
		invalid("the user can no longer sign in")
		return
	}
	info := &zoidc.UserInfo{}
	setUserinfo(info, u, strings.Fields(strings.Join(claims.Scopes, " ")))
	writeJSON(w, http.StatusOK, info)
}
