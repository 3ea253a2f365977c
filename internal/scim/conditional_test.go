package scim

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestNotModified: a conditional GET answers 304 with the ETag (RFC 7232 §4.1: a 304 carries
// the ETag a 200 would), on a weak match of any listed tag or "*"; anything else is no match.
// Found by the scim2-js conformance run (test/interop/scim/client_peer_test.go): the 304 of
// GET /Users/{id} had no ETag, and GET /Groups/{id} ignored If-None-Match.
func TestNotModified(t *testing.T) {
	res := map[string]any{"id": "x", "meta": map[string]any{"version": `W/"abc"`}}
	for _, tc := range []struct {
		inm  string
		want bool
	}{
		{"", false},
		{`W/"abc"`, true},
		{`"abc"`, true}, // weak comparison
		{`W/"old", W/"abc"`, true},
		{"*", true},
		{`W/"old"`, false},
		{`W/"ab"`, false},
		{",", false},
	} {
		r := httptest.NewRequest("GET", "/scim/v2/Users/x", nil)
		if tc.inm != "" {
			r.Header.Set("If-None-Match", tc.inm)
		}
		w := httptest.NewRecorder()
		if got := notModified(w, r, res); got != tc.want {
			t.Errorf("If-None-Match %q: %v, want %v", tc.inm, got, tc.want)
			continue
		}
		if !tc.want {
			if w.Code != http.StatusOK || len(w.Header()) != 0 {
				t.Errorf("If-None-Match %q: wrote %d %v", tc.inm, w.Code, w.Header())
			}
			continue
		}
		if w.Code != http.StatusNotModified || w.Header().Get("ETag") != `W/"abc"` || w.Header().Get("Cache-Control") != "no-store" || w.Body.Len() != 0 {
			t.Errorf("If-None-Match %q: %d %v %q", tc.inm, w.Code, w.Header(), w.Body.String())
		}
	}
}
