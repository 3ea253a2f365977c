package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
)

const csrfCookie = "sekisho_csrf"

// CSRFToken returns the browser's CSRF token, issuing one (double-submit cookie) when absent.
func CSRFToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 43 {
		return c.Value
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	tok := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: tok, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	return tok
}

// CheckCSRF verifies a POSTed form: the csrf field must equal the cookie (constant time),
// and a present Origin header must name the host the request was sent to.
func CheckCSRF(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return false
		}
	}
	c, err := r.Cookie(csrfCookie)
	if err != nil || c.Value == "" {
		return false
	}
	f := r.PostFormValue("csrf")
	return subtle.ConstantTimeCompare([]byte(c.Value), []byte(f)) == 1
}
