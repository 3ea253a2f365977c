package server

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestRequestTimeout: a request's context ends at RequestTimeout (so does its store work),
// the node logs that it ran out of time, and requests under Unbounded get no deadline.
func TestRequestTimeout(t *testing.T) {
	var log bytes.Buffer
	s := New(slog.New(slog.NewJSONHandler(&log, nil)), okPinger{})
	if s.RequestTimeout != DefaultRequestTimeout || DefaultRequestTimeout <= 0 {
		t.Fatalf("RequestTimeout = %v by default, DefaultRequestTimeout %v", s.RequestTimeout, DefaultRequestTimeout)
	}
	s.RequestTimeout = 50 * time.Millisecond
	s.Unbounded = []string{"/admin/"}
	wait := func(w http.ResponseWriter, r *http.Request) {
		if _, ok := r.Context().Deadline(); !ok {
			w.Write([]byte("no deadline"))
			return
		}
		<-r.Context().Done() // a store call the slow database never answers
		http.Error(w, r.Context().Err().Error(), http.StatusServiceUnavailable)
	}
	s.Mux.HandleFunc("GET /adfs/", wait)
	s.Mux.HandleFunc("GET /admin/export", wait)

	start := time.Now()
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, httptest.NewRequest("GET", "https://idp.example.com/adfs/x", nil))
	if d := time.Since(start); w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), context.DeadlineExceeded.Error()) || d > 5*time.Second {
		t.Errorf("bounded request: %d %q after %v", w.Code, w.Body.String(), d)
	}
	if !strings.Contains(log.String(), "request ran out of time") || !strings.Contains(log.String(), `"bound":"50ms"`) {
		t.Errorf("no log line for the request that ran out of time:\n%s", log.String())
	}

	w = httptest.NewRecorder()
	s.Handler().ServeHTTP(w, httptest.NewRequest("GET", "https://idp.example.com/admin/export", nil))
	if w.Code != http.StatusOK || w.Body.String() != "no deadline" {
		t.Errorf("unbounded request: %d %q", w.Code, w.Body.String())
	}
}
