package oidc

import (
	"net/http"
	"slices"
	"strings"

	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// userinfo serves the claims an access token's scopes release, read from the directory as
// it is now. The token is a JWT Sekisho signed (verified against the published keys, its
// issuer and expiry) with the openid scope; its client must still be registered, the token
// and its refresh token family not revoked, and its user active. Refusals are RFC 6750
// challenges.
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
	claims, err := h.accessClaims(r.Context(), tok)
	if err != nil {
		invalid(err.Error())
		return
	}
	scopes := strings.Fields(strings.Join(claims.Scopes, " "))
	if !slices.Contains(scopes, ScopeOpenID) {
		// A client_credentials token has no user to describe.
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+h.cfg.Issuer+`", error="insufficient_scope", scope="openid"`)
		writeJSON(w, http.StatusForbidden, &zoidc.Error{ErrorType: "insufficient_scope", Description: "the access token was not granted the openid scope"})
		return
	}
	reason, u, err := h.accessLive(r.Context(), claims)
	if err != nil {
		h.cfg.Logger.ErrorContext(r.Context(), "oidc userinfo: store", "err", err)
		writeJSON(w, http.StatusInternalServerError, zoidc.ErrServerError().WithDescription("the directory is unavailable"))
		return
	}
	if reason != "" || u.ID == "" {
		invalid(reason)
		return
	}
	info := &zoidc.UserInfo{}
	setUserinfo(info, u, scopes)
	info.Subject = claims.Subject // the token's, which a pairwise client sees (subject.go)
	writeJSON(w, http.StatusOK, info)
}
