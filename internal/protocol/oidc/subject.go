package oidc

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"

	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
)

// Subjects. A public client sees the user's ID in Sekisho as sub. A pairwise client (OpenID
// Connect Core section 8.1) sees a value of its own sector (the host of its redirect URIs):
// HMAC-SHA256 under a key derived from the master key over the sector and the user's ID, so
// two clients of different sectors cannot tell they see the same user, the value is stable
// across sign-ins and nodes, and nobody without the master key can compute or reverse it.
// Sekisho never needs to reverse it: the tokens it reads back (access tokens at userinfo and
// introspection) carry the user's ID sealed (claim uref), unreadable to the client.

// ClaimUserRef is the access token claim carrying a pairwise client's user, sealed.
const ClaimUserRef = "uref"

// userOfAccess is the user an access token Sekisho issued was issued for: its sealed user
// reference (pairwise clients), or its subject.
func (h *Handler) userOfAccess(claims *zoidc.AccessTokenClaims) (string, bool) {
	ref, _ := claims.Claims[ClaimUserRef].(string)
	if ref == "" {
		return claims.Subject, true
	}
	var id string
	if err := h.codes.open("uref", ref, &id); err != nil || id == "" {
		return "", false
	}
	return id, true
}

// subjectFor is the sub client c sees for the user.
func (h *Handler) subjectFor(c ClientConfig, userID string) string {
	if !c.IsPairwise() || userID == "" {
		return userID
	}
	m := hmac.New(sha256.New, h.pairwise)
	m.Write([]byte(c.Sector()))
	m.Write([]byte{0})
	m.Write([]byte(userID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
