package oidc

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestCORSPreflight: a browser application on another origin may call the token, userinfo and
// revocation endpoints (the preflight allows the Authorization header, never credentials), and
// the answers themselves carry Access-Control-Allow-Origin.
func TestCORSPreflight(t *testing.T) {
	hs := newHarness(t)
	for _, tc := range []struct{ path, methods string }{
		{TokenPath, "POST"}, {UserinfoPath, "GET, POST"}, {RevokePath, "POST"},
	} {
		req := httptest.NewRequest(http.MethodOptions, issuer+tc.path, nil)
		req.Header.Set("Origin", "https://spa.example.net")
		req.Header.Set("Access-Control-Request-Method", "GET")
		req.Header.Set("Access-Control-Request-Headers", "authorization")
		rec := httptest.NewRecorder()
		hs.mux.ServeHTTP(rec, req)
		h := rec.Header()
		if rec.Code != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != "*" || h.Get("Access-Control-Allow-Methods") != tc.methods ||
			!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") || h.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("%s: %d %v", tc.path, rec.Code, h)
		}
	}
	// The userinfo answer (here a refusal) is readable cross-origin.
	req := httptest.NewRequest(http.MethodGet, issuer+UserinfoPath, nil)
	req.Header.Set("Origin", "https://spa.example.net")
	rec := httptest.NewRecorder()
	hs.mux.ServeHTTP(rec, req)
	if rec.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("userinfo answer: %v", rec.Header())
	}
}
