package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"sync/atomic"
)

// csrfCookie holds the browser's CSRF binding: a random ID, not the token itself. The
// __Host- prefix makes browsers refuse it unless it is Secure, host-only and Path=/, so a
// sibling host (or a plain-HTTP attacker) cannot plant one.
const csrfCookie = "__Host-sekisho_csrf"

const csrfBindingLen = 43 // base64url of 32 random bytes

// csrfKey signs tokens. It is derived from the master key (SetCSRFKey), so every node of a
// deployment accepts every other node's tokens; until it is set, a random per-process key
// is used (tests, single process).
var csrfKey = func() *atomic.Pointer[[]byte] {
	var p atomic.Pointer[[]byte]
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	p.Store(&k)
	return &p
}()

// SetCSRFKey sets the key CSRF tokens are signed with (at least 32 bytes).
func SetCSRFKey(k []byte) {
	if len(k) < 32 {
		panic("web: CSRF key shorter than 32 bytes")
	}
	c := append([]byte(nil), k...)
	csrfKey.Store(&c)
}

// csrfTokenFor is the token for a binding: HMAC-SHA256(key, "csrf|" + binding).
func csrfTokenFor(binding string) string {
	m := hmac.New(sha256.New, *csrfKey.Load())
	m.Write([]byte("csrf|"))
	m.Write([]byte(binding))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func csrfBinding(r *http.Request) (string, bool) {
	c, err := r.Cookie(csrfCookie)
	if err != nil || len(c.Value) != csrfBindingLen {
		return "", false
	}
	return c.Value, true
}

// CSRFToken returns the token forms and scripts must send back, issuing the browser's
// binding cookie when it has none.
func CSRFToken(w http.ResponseWriter, r *http.Request) string {
	if b, ok := csrfBinding(r); ok {
		return csrfTokenFor(b)
	}
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	b := base64.RawURLEncoding.EncodeToString(raw)
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: b, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	// Later code in this request (the page being rendered) sees the same binding.
	r.AddCookie(&http.Cookie{Name: csrfCookie, Value: b})
	return csrfTokenFor(b)
}

// validCSRF checks a submitted token against the request's binding cookie (constant time)
// and, when the browser sent an Origin header, that it names the host the request was sent to.
func validCSRF(r *http.Request, token string) bool {
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return false
		}
	}
	b, ok := csrfBinding(r)
	if !ok || token == "" {
		return false
	}
	return hmac.Equal([]byte(csrfTokenFor(b)), []byte(token))
}

// CheckCSRF verifies a POSTed form's csrf field.
func CheckCSRF(r *http.Request) bool { return validCSRF(r, r.PostFormValue("csrf")) }

// CheckCSRFHeader verifies a script's POST: the X-CSRF-Token header carries the token.
func CheckCSRFHeader(r *http.Request) bool { return validCSRF(r, r.Header.Get("X-CSRF-Token")) }
