package server

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestMetricsAreNotOnTheSignInListener(t *testing.T) {
	s := New(slog.New(slog.NewTextHandler(io.Discard, nil)), okPinger{})
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, httptest.NewRequest("GET", "https://idp.example.com/metrics", nil))
	if w.Code != http.StatusNotFound || strings.Contains(w.Body.String(), "sekisho_http_requests_total") {
		t.Fatalf("/metrics on the sign-in listener: %d %.200s", w.Code, w.Body.String())
	}
}

func TestMetricsBearerToken(t *testing.T) {
	s := New(slog.New(slog.NewTextHandler(io.Discard, nil)), okPinger{})
	// One request through the main handler so the counters have a series.
	s.Handler().ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "https://idp.example.com/healthz", nil))
	const token = "0123456789abcdef-metrics"
	cases := []struct {
		name, token, auth string
		want              int
	}{
		{"no token configured", "", "", http.StatusOK},
		{"token required, none sent", token, "", http.StatusUnauthorized},
		{"wrong token", token, "Bearer 0123456789abcdef-metricz", http.StatusUnauthorized},
		{"token as basic auth", token, "Basic " + token, http.StatusUnauthorized},
		{"right token", token, "Bearer " + token, http.StatusOK},
	}
	for _, c := range cases {
		r := httptest.NewRequest("GET", "http://127.0.0.1:9464/metrics", nil)
		if c.auth != "" {
			r.Header.Set("Authorization", c.auth)
		}
		w := httptest.NewRecorder()
		s.MetricsHandler(c.token).ServeHTTP(w, r)
		if w.Code != c.want {
			t.Errorf("%s: %d, want %d", c.name, w.Code, c.want)
		}
		if w.Code == http.StatusOK && !strings.Contains(w.Body.String(), "sekisho_http_requests_total") {
			t.Errorf("%s: no request counter in\n%.300s", c.name, w.Body.String())
		}
	}
}
