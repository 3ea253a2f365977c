package report

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sekisho/sekisho/internal/store"
)

// EventSource yields Sekisho's sign-in events in [since, until) (zero = unbounded) to fn.
type EventSource func(ctx context.Context, since, until time.Time, fn func(store.SignInEvent) error) error

// SignInIterator is the part of store.Store the report reads.
type SignInIterator interface {
	EachSignIn(ctx context.Context, f store.SignInFilter, fn func(store.SignInEvent) error) error
}

// StoreSource reads events from a store.
func StoreSource(s SignInIterator) EventSource {
	return func(ctx context.Context, since, until time.Time, fn func(store.SignInEvent) error) error {
		return s.EachSignIn(ctx, store.SignInFilter{Since: since, Until: until}, fn)
	}
}

// ParseSince reads a window start: a duration back from now ("30d", "2w", "12h") or a date
// ("2025-01-31", RFC 3339). "" means 30 days.
func ParseSince(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		s = "30d"
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	unit := map[byte]time.Duration{'d': 24 * time.Hour, 'w': 7 * 24 * time.Hour}[s[len(s)-1]]
	if unit != 0 {
		n, err := strconv.Atoi(s[:len(s)-1])
		if err != nil || n <= 0 || n > 36600 {
			return time.Time{}, fmt.Errorf("since %q: want a positive number of days/weeks (30d, 2w)", s)
		}
		return now.Add(-time.Duration(n) * unit), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return time.Time{}, fmt.Errorf("since %q: want 30d, 2w, 12h, a date (2025-01-31) or RFC 3339", s)
	}
	return now.Add(-d), nil
}

// Build runs one report: Sekisho's events (if events is not nil) and every Entra file. With
// opts.ExportSpan the files are read first and the events over the span they cover; otherwise
// the events come first, in opts' window. A file that cannot be read is logged and listed in
// the report's sources; it does not stop the report.
func Build(ctx context.Context, opts Options, events EventSource, entraFiles []string, log *slog.Logger) (*Report, error) {
	if log == nil {
		log = slog.Default()
	}
	b := NewBuilder(opts)
	files := func() {
		for _, f := range entraFiles {
			if err := b.AddEntraFile(f); err != nil {
				log.WarnContext(ctx, "entra export skipped in part", "file", f, "err", err)
			}
		}
	}
	if opts.ExportSpan {
		files()
		b.useExportSpan()
	}
	if err := b.addEvents(ctx, events); err != nil {
		return nil, err
	}
	if !opts.ExportSpan {
		files()
	}
	return b.Finish(), nil
}

// addEvents adds Sekisho's sign-in events in the builder's window (nil events: none).
func (b *Builder) addEvents(ctx context.Context, events EventSource) error {
	if events == nil {
		return nil
	}
	err := events(ctx, b.opts.Since, b.opts.Until, func(e store.SignInEvent) error {
		b.AddSignInEvent(e)
		return ctx.Err()
	})
	if err != nil {
		return fmt.Errorf("report: reading sign-in events: %w", err)
	}
	return nil
}

// Write renders rep in format ("html", "csv" or "json").
func (r *Report) Write(w io.Writer, format, lang string) error {
	switch format {
	case "html", "":
		return r.WriteHTML(w, lang)
	case "csv":
		return r.WriteCSV(w)
	case "json":
		return r.WriteJSON(w)
	}
	return fmt.Errorf("report: unknown format %q (html, csv, json)", format)
}

// Job is `sekisho report legacy-auth [--since 30d] [--entra-signins FILE ...] --format
// html|csv|json [--lang ja|en] [--out FILE]`: the CLI fills it from its flags.
type Job struct {
	// Since is the window's start (ParseSince). "" means: with EntraFiles, the span the
	// exports cover (Options.ExportSpan); without, the last 30 days.
	Since      string
	EntraFiles []string
	Format     string
	Lang       string
	Out        string    // "" or "-" = stdout
	Stderr     io.Writer // notices (rows outside the window); nil = os.Stderr
}

// Run builds the report and writes it. opts carries networks, Simulate and Now. Whenever
// rows fall outside the window, it says so on Stderr, one line per source (the report says
// it too).
func (j Job) Run(ctx context.Context, opts Options, events EventSource, stdout io.Writer, log *slog.Logger) error {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	if strings.TrimSpace(j.Since) == "" && len(j.EntraFiles) > 0 {
		opts.ExportSpan = true
	} else {
		since, err := ParseSince(j.Since, opts.Now)
		if err != nil {
			return err
		}
		opts.Since = since
	}
	if j.Lang != "" {
		opts.Lang = j.Lang
	}
	if f := j.Format; f != "html" && f != "csv" && f != "json" && f != "" {
		return fmt.Errorf("report: unknown format %q (html, csv, json)", f)
	}
	rep, err := Build(ctx, opts, events, j.EntraFiles, log)
	if err != nil {
		return err
	}
	stderr := j.Stderr
	if stderr == nil {
		stderr = os.Stderr
	}
	for _, s := range rep.Sources {
		if s.OutsideWindow > 0 {
			fmt.Fprintf(stderr, "sekisho report: %s: %d of %d rows outside the window %s, not counted; use --since to widen it\n",
				s.Name, s.OutsideWindow, s.Rows, rep.windowText())
		}
	}
	if j.Out == "" || j.Out == "-" {
		return rep.Write(stdout, j.Format, opts.Lang)
	}
	f, err := os.Create(j.Out)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := rep.Write(f, j.Format, opts.Lang); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// HandlerConfig configures the admin handler.
type HandlerConfig struct {
	Events EventSource
	// Options returns the report options for a request (networks from the store, the policy
	// simulator); nil means zero Options.
	Options func(ctx context.Context) (Options, error)
	// MaxUpload bounds the body of a POST with Entra exports (default 1 GiB).
	MaxUpload int64
	Log       *slog.Logger
	Now       func() time.Time
}

// NewHandler serves the report at /admin/reports/legacy-auth. It expects the caller to have
// authenticated an administrator (and, for POST, checked CSRF) before it.
//
//	GET  ?since=30d&format=html|csv|json&lang=ja|en   report from Sekisho's sign-in log
//	POST (multipart, same query; file fields "entra")  the same, plus uploaded Entra exports,
//	                                                   streamed part by part; without since,
//	                                                   over the span the exports cover
func NewHandler(cfg HandlerConfig) http.Handler {
	if cfg.MaxUpload <= 0 {
		cfg.MaxUpload = 1 << 30
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodPost {
			w.Header().Set("Allow", "GET, HEAD, POST")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		q := r.URL.Query()
		var opts Options
		if cfg.Options != nil {
			var err error
			if opts, err = cfg.Options(ctx); err != nil {
				cfg.Log.ErrorContext(ctx, "report options", "err", err)
				http.Error(w, "report unavailable", http.StatusInternalServerError)
				return
			}
		}
		opts.Now = cfg.Now()
		// Uploaded exports without a window: the window is the span they cover.
		if q.Get("since") == "" && r.Method == http.MethodPost {
			opts.ExportSpan = true
		} else {
			since, err := ParseSince(q.Get("since"), opts.Now)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			opts.Since = since
		}
		opts.Lang = q.Get("lang")
		if opts.Lang == "" && strings.HasPrefix(strings.ToLower(r.Header.Get("Accept-Language")), "ja") {
			opts.Lang = "ja"
		}
		format := q.Get("format")
		if format == "" {
			format = "html"
		}
		if format != "html" && format != "csv" && format != "json" {
			http.Error(w, "format must be html, csv or json", http.StatusBadRequest)
			return
		}
		b := NewBuilder(opts)
		uploads := func() bool {
			if r.Method != http.MethodPost {
				return true
			}
			if err := addUploads(w, r, b, cfg.MaxUpload); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return false
			}
			return true
		}
		if opts.ExportSpan { // the exports first: they set the window the log is read over
			if !uploads() {
				return
			}
			b.useExportSpan()
		}
		if err := b.addEvents(ctx, cfg.Events); err != nil {
			cfg.Log.ErrorContext(ctx, "report: reading sign-in events", "err", err)
			http.Error(w, "report unavailable", http.StatusInternalServerError)
			return
		}
		if !opts.ExportSpan && !uploads() {
			return
		}
		rep := b.Finish()
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		switch format {
		case "html":
			h.Set("Content-Type", "text/html; charset=utf-8")
			h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; script-src '"+ScriptHash+"'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		case "csv":
			h.Set("Content-Type", "text/csv; charset=utf-8")
			h.Set("Content-Disposition", `attachment; filename="legacy-auth-report.csv"`)
		case "json":
			h.Set("Content-Type", "application/json")
			h.Set("Content-Disposition", `attachment; filename="legacy-auth-report.json"`)
		}
		if r.Method == http.MethodHead {
			return
		}
		if err := rep.Write(w, format, opts.Lang); err != nil {
			cfg.Log.WarnContext(ctx, "report: writing response", "err", err)
		}
	})
}

// addUploads streams every "entra" file part of a multipart body into b.
func addUploads(w http.ResponseWriter, r *http.Request, b *Builder, max int64) error {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return errors.New("POST wants multipart/form-data with Entra exports in fields named \"entra\"")
	}
	mr := multipart.NewReader(http.MaxBytesReader(w, r.Body, max), params["boundary"])
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("upload: %w", err)
		}
		if part.FormName() == "entra" {
			name := part.FileName()
			if name == "" {
				name = "upload"
			}
			// A file that cannot be read is listed in the report's sources; keep going.
			_ = b.AddEntra(part, name)
		}
		part.Close()
	}
}
