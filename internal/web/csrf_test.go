package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestCSRFTokenIsSignedAndBound(t *testing.T) {
	// A fresh browser gets a __Host- binding cookie; the page's token is Sekisho's HMAC of it.
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "https://idp.example.com/login", nil)
	tok := CSRFToken(w, r)
	cookies := w.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies = %v", cookies)
	}
	c := cookies[0]
	if c.Name != "__Host-sekisho_csrf" || !c.Secure || c.Path != "/" || c.Domain != "" || !c.HttpOnly {
		t.Fatalf("binding cookie %+v: want a __Host- cookie (Secure, Path=/, no Domain, HttpOnly)", c)
	}
	if tok == c.Value {
		t.Fatal("the token must not be the cookie's value (double-submit of equal strings)")
	}
	other := strings.Repeat("A", csrfBindingLen)
	post := func(binding, token, origin string) bool {
		r := httptest.NewRequest("POST", "https://idp.example.com/login", strings.NewReader(url.Values{"csrf": {token}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		if binding != "" {
			r.AddCookie(&http.Cookie{Name: csrfCookie, Value: binding})
		}
		return CheckCSRF(r)
	}
	cases := []struct {
		name                   string
		binding, token, origin string
		want                   bool
	}{
		{"signed token for this binding", c.Value, tok, "https://idp.example.com", true},
		{"no Origin header (older browsers)", c.Value, tok, "", true},
		// The old double-submit check accepted any equal pair: a planted cookie + same field.
		{"attacker's equal pair", other, other, "", false},
		{"token of another binding", other, tok, "", false},
		{"no cookie", "", tok, "", false},
		{"empty token", c.Value, "", "", false},
		{"cross-site Origin", c.Value, tok, "https://evil.example.net", false},
		{"truncated token", c.Value, tok[:len(tok)-1], "", false},
	}
	for _, tc := range cases {
		if got := post(tc.binding, tc.token, tc.origin); got != tc.want {
			t.Errorf("%s: CheckCSRF = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestCSRFKeyChangesTokens(t *testing.T) {
	old := *csrfKey.Load()
	defer SetCSRFKey(old)
	b := strings.Repeat("b", csrfBindingLen)
	before := csrfTokenFor(b)
	SetCSRFKey([]byte(strings.Repeat("k", 32)))
	if csrfTokenFor(b) == before {
		t.Fatal("a token must depend on the server key: a forger without it cannot compute one")
	}
}
