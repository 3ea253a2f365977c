// Package server wires the HTTPS listener: TLS, health and readiness probes, Prometheus
// metrics, request logging, and graceful shutdown. Protocol handlers are mounted by the caller.
package server

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Pinger reports whether the store is reachable.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Mux is the server's router: an http.ServeMux that remembers its patterns, so a test can
// walk every route and check the authentication, CSRF and headers each one has.
type Mux struct {
	*http.ServeMux
	mu       sync.Mutex
	patterns []string
}

// Handle registers handler for pattern.
func (m *Mux) Handle(pattern string, handler http.Handler) {
	m.mu.Lock()
	m.patterns = append(m.patterns, pattern)
	m.mu.Unlock()
	m.ServeMux.Handle(pattern, handler)
}

// HandleFunc registers f for pattern.
func (m *Mux) HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(f))
}

// Patterns lists every registered pattern in registration order.
func (m *Mux) Patterns() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.patterns...)
}

// Server is the HTTPS front door.
type Server struct {
	Mux      *Mux
	Log      *slog.Logger
	Registry *prometheus.Registry
	// HSTS is the Strict-Transport-Security value sent with every response.
	HSTS string
	// Node names this server in /readyz answers (node.name), so a load balancer's or an
	// operator's probe says which node answered.
	Node string
	// RequestTimeout is the deadline of every request's context, and with it of the store
	// work the request does (DefaultRequestTimeout; 0: none): a database that has become
	// slow makes a sign-in fail within it — refused, since it cannot be recorded — instead
	// of holding the client and a goroutine for as long as the database takes.
	RequestTimeout time.Duration
	// Ready are further readiness checks after the store's ping (e.g. that sign-in records
	// can be written); /readyz answers 503 with the first failure.
	Ready []func(ctx context.Context) error
	// Unbounded are path prefixes whose requests get no RequestTimeout (administration:
	// exports and imports run for as long as the connection's write timeout allows).
	Unbounded []string

	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// DefaultRequestTimeout bounds a request's work. A healthy WS-Trust sign-in takes about
// 0.1 s for its 7 store round trips, a password sign-in through the form 26 round trips:
// 10 s still lets the form through a database answering in 0.35 s instead of milliseconds,
// or a node queueing on its CPU at a peak, and it is well within what clients wait, while
// it ends every request on a database that has stopped answering in useful time.
const DefaultRequestTimeout = 10 * time.Second

// New creates a Server with /healthz, /readyz and /metrics mounted.
func New(log *slog.Logger, store Pinger) *Server {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s := &Server{Mux: &Mux{ServeMux: http.NewServeMux()}, Log: log, Registry: reg, HSTS: "max-age=31536000",
		RequestTimeout: DefaultRequestTimeout,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sekisho_http_requests_total",
			Help: "HTTP requests by route pattern and status code."}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "sekisho_http_request_duration_seconds",
			Help: "HTTP request latency by route pattern.", Buckets: prometheus.DefBuckets}, []string{"route"}),
	}
	reg.MustRegister(s.requests, s.latency)
	s.Mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	s.Mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := store.Ping(ctx); err != nil {
			s.Log.ErrorContext(ctx, "readiness check failed", "err", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, strings.TrimSpace("store unreachable "+s.Node))
			return
		}
		for _, check := range s.Ready {
			if err := check(ctx); err != nil {
				s.Log.ErrorContext(ctx, "readiness check failed", "err", err)
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprintln(w, strings.TrimSpace("not ready "+s.Node))
				return
			}
		}
		fmt.Fprintln(w, strings.TrimSpace("ready "+s.Node))
	})
	// Browsers ask for it on every page; answering "nothing here" (cacheable) keeps 404s out
	// of the logs and metrics.
	s.Mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=86400")
		w.WriteHeader(http.StatusNoContent)
	})
	return s
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Handler is the mux wrapped with security headers, metrics and access logs.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Strict-Transport-Security", s.HSTS)
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		bound := s.boundOf(r)
		if bound > 0 {
			ctx, cancel := context.WithTimeout(r.Context(), bound)
			defer cancel()
			r = r.WithContext(ctx)
		}
		s.Mux.ServeHTTP(rec, r)
		route := r.Pattern // set by the mux as it routed r (Mux.Handler would route it again)
		if route == "" {
			route = "unmatched"
		}
		d := time.Since(start)
		if bound > 0 && errors.Is(r.Context().Err(), context.DeadlineExceeded) {
			s.Log.WarnContext(r.Context(), "request ran out of time; its store work was cut short (is the database slow?)",
				"route", route, "bound", bound.String(), "status", rec.code, "duration_ms", float64(d.Microseconds())/1000)
		}
		s.requests.WithLabelValues(route, strconv.Itoa(rec.code)).Inc()
		s.latency.WithLabelValues(route).Observe(d.Seconds())
		if route != "GET /healthz" {
			s.Log.LogAttrs(r.Context(), slog.LevelInfo, "http request", slog.String("method", r.Method),
				slog.String("path", r.URL.Path), slog.String("route", route), slog.Int("status", rec.code),
				slog.Float64("duration_ms", float64(d.Microseconds())/1000), slog.String("remote", r.RemoteAddr))
		}
	})
}

// boundOf is the deadline r gets: RequestTimeout unless its path is under Unbounded.
func (s *Server) boundOf(r *http.Request) time.Duration {
	for _, p := range s.Unbounded {
		if strings.HasPrefix(r.URL.Path, p) {
			return 0
		}
	}
	return s.RequestTimeout
}

// Serve listens on addr with TLS until ctx is cancelled, then shuts down gracefully.
// ready (if non-nil) receives the bound address once the listener is up.
func (s *Server) Serve(ctx context.Context, addr string, tlsCfg *tls.Config, ready func(net.Addr)) error {
	ln, err := listen(addr)
	if err != nil {
		return err
	}
	hs := &http.Server{
		Handler:           s.Handler(),
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.Log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(tls.NewListener(ln, tlsCfg)) }()
	if ready != nil {
		ready(ln.Addr())
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.Log.Info("shutting down", "reason", context.Cause(ctx).Error())
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// MetricsHandler serves the Prometheus metrics at /metrics. They reveal request and failure
// rates by route, so they are not on the sign-in listener: ServeMetrics puts them on a
// listener of their own (loopback by default), and a non-empty token is required as
// "Authorization: Bearer <token>" (compared in constant time).
func (s *Server) MetricsHandler(token string) http.Handler {
	prom := promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		if token != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="sekisho-metrics"`)
				http.Error(w, "metrics need the bearer token", http.StatusUnauthorized)
				return
			}
		}
		prom.ServeHTTP(w, r)
	})
	return mux
}

// ServeMetrics serves MetricsHandler over plain HTTP on addr until ctx is cancelled. ready
// (if non-nil) receives the bound address once the listener is up.
func (s *Server) ServeMetrics(ctx context.Context, addr, token string, ready func(net.Addr)) error {
	ln, err := listen(addr)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	hs := &http.Server{Handler: s.MetricsHandler(token), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(s.Log.Handler(), slog.LevelWarn)}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	if ready != nil {
		ready(ln.Addr())
	}
	select {
	case err := <-errc:
		return fmt.Errorf("metrics: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return hs.Shutdown(sctx)
}
