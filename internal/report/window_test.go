package report

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/store"
)

// spanExport is an Entra CSV export of one row per hour over days days ending at end
// (exclusive), every row usable; it returns the file, the number of rows and the number in
// the last week before end.
func spanExport(end time.Time, days int) (data []byte, rows, lastWeek int) {
	var b strings.Builder
	b.WriteString("\ufeffDate (UTC),Username,Client app,IP address,User agent,Status\n")
	start := end.Add(-time.Duration(days) * 24 * time.Hour)
	for t := start; t.Before(end); t = t.Add(time.Hour) {
		fmt.Fprintf(&b, "%s,user%d@contoso.example,%s,198.51.100.%d,Thunderbird/115.0,Success\n",
			t.Format(time.RFC3339), rows%7, []string{"IMAP4", "POP3", "Exchange ActiveSync"}[rows%3], rows%200+1)
		rows++
		if !t.Before(end.Add(-7 * 24 * time.Hour)) {
			lastWeek++
		}
	}
	return []byte(b.String()), rows, lastWeek
}

// windowLog is a sign-in log with one legacy event a day from 60 days before corpusNow; it
// honours the window as the store does and remembers the window it was asked for.
type windowLog struct {
	since, until time.Time
	calls        int
}

func (l *windowLog) events(ctx context.Context, since, until time.Time, fn func(store.SignInEvent) error) error {
	l.since, l.until = since, until
	l.calls++
	for d := 60; d >= 1; d-- {
		e := store.SignInEvent{ID: fmt.Sprint(d), Time: corpusNow.Add(-time.Duration(d)*24*time.Hour + time.Hour),
			Username: "taro@contoso.example", ClientType: "legacy-proxied", LegacyApp: "Imap", EffectiveIP: "203.0.113.9", Decision: "allow"}
		if !since.IsZero() && e.Time.Before(since) || !until.IsZero() && !e.Time.Before(until) {
			continue
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// logDaysIn is how many of windowLog's events fall in [since, until).
func logDaysIn(since, until time.Time) int {
	n := 0
	for d := 60; d >= 1; d-- {
		t := corpusNow.Add(-time.Duration(d)*24*time.Hour + time.Hour)
		if !t.Before(since) && (until.IsZero() || t.Before(until)) {
			n++
		}
	}
	return n
}

func sourceNamed(rep *Report, name string) SourceSummary {
	for _, s := range rep.Sources {
		if s.Name == name {
			return s
		}
	}
	return SourceSummary{}
}

func TestDefaultWindow(t *testing.T) {
	twoWeeksAgo := corpusNow.Add(-14 * 24 * time.Hour)
	cases := []struct {
		name        string
		since       string
		exportEnd   time.Time // zero: no export
		exportDays  int
		wantSpan    bool // the window is the exports' span
		wantSince   time.Time
		wantUsed    func(rows, lastWeek int) int
		wantLogDays int
	}{
		{name: "45-day export without --since counts every row", exportEnd: corpusNow, exportDays: 45, wantSpan: true,
			wantSince: corpusNow.Add(-45 * 24 * time.Hour), wantUsed: func(rows, _ int) int { return rows },
			wantLogDays: logDaysIn(corpusNow.Add(-45*24*time.Hour), corpusNow)},
		{name: "export taken two weeks ago without --since counts every row", exportEnd: twoWeeksAgo, exportDays: 45, wantSpan: true,
			wantSince: twoWeeksAgo.Add(-45 * 24 * time.Hour), wantUsed: func(rows, _ int) int { return rows },
			wantLogDays: logDaysIn(twoWeeksAgo.Add(-45*24*time.Hour), twoWeeksAgo)},
		{name: "--since 7d counts a week and says how many were left out", since: "7d", exportEnd: corpusNow, exportDays: 45,
			wantSince: corpusNow.Add(-7 * 24 * time.Hour), wantUsed: func(_, lastWeek int) int { return lastWeek },
			wantLogDays: 7},
		{name: "--since 90d keeps the whole export", since: "90d", exportEnd: corpusNow, exportDays: 45,
			wantSince: corpusNow.Add(-90 * 24 * time.Hour), wantUsed: func(rows, _ int) int { return rows }, wantLogDays: 60},
		{name: "no export: the last 30 days of the log", wantSince: corpusNow.Add(-30 * 24 * time.Hour), wantLogDays: 30},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			var files []string
			rows, lastWeek := 0, 0
			if !c.exportEnd.IsZero() {
				var data []byte
				data, rows, lastWeek = spanExport(c.exportEnd, c.exportDays)
				files = append(files, dir+"/InteractiveSignIns.csv")
				if err := writeFile(files[0], data); err != nil {
					t.Fatal(err)
				}
			}
			log := &windowLog{}
			var stderr bytes.Buffer
			j := Job{Since: c.since, EntraFiles: files, Format: "json", Out: dir + "/report.json", Stderr: &stderr}
			if err := j.Run(context.Background(), corpusOpts(), log.events, nil, nil); err != nil {
				t.Fatal(err)
			}
			data, _ := readFile(dir + "/report.json")
			var rep Report
			if err := json.Unmarshal(data, &rep); err != nil {
				t.Fatal(err)
			}
			if rep.WindowFromExports != c.wantSpan || !rep.Since.Equal(c.wantSince) {
				t.Errorf("window from exports %v since %v; want %v %v", rep.WindowFromExports, rep.Since, c.wantSpan, c.wantSince)
			}
			// The log is read once, over the report's window (with exports, over their span).
			if log.calls != 1 || !log.since.Equal(rep.Since) || !log.until.Equal(rep.Until) {
				t.Errorf("log read %d times over %v – %v; report window %v – %v", log.calls, log.since, log.until, rep.Since, rep.Until)
			}
			if c.wantSpan {
				last := c.exportEnd.Add(-time.Hour) // the latest export row
				if !rep.Until.Equal(last.Add(time.Nanosecond)) {
					t.Errorf("until %v, want just after the latest export row %v", rep.Until, last)
				}
			}
			if got := sourceNamed(&rep, "sekisho").Used; got != c.wantLogDays {
				t.Errorf("log records used %d, want %d", got, c.wantLogDays)
			}
			if rep.Sources[0].Name != "sekisho" {
				t.Errorf("sources %+v: Sekisho's log is not first", rep.Sources)
			}
			var notices []string
			if rows > 0 {
				ex := sourceNamed(&rep, "InteractiveSignIns.csv")
				want := c.wantUsed(rows, lastWeek)
				if ex.Rows != rows || ex.Used != want || ex.OutsideWindow != rows-want {
					t.Errorf("export rows %d used %d outside %d; want %d %d %d", ex.Rows, ex.Used, ex.OutsideWindow, rows, want, rows-want)
				}
				if ex.OutsideWindow > 0 {
					notices = append(notices, fmt.Sprintf("sekisho report: InteractiveSignIns.csv: %d of %d rows outside the window %s – now, not counted; use --since to widen it",
						ex.OutsideWindow, ex.Rows, c.wantSince.Format(time.RFC3339)))
				}
			}
			if got := strings.Split(strings.TrimSpace(stderr.String()), "\n"); strings.Join(got, "") != strings.Join(notices, "") {
				t.Errorf("stderr %q, want %q", stderr.String(), notices)
			}
			// The page says it near the top, in both languages, or says nothing.
			for _, lang := range []string{"en", "ja"} {
				var page bytes.Buffer
				if err := rep.WriteHTML(&page, lang); err != nil {
					t.Fatal(err)
				}
				p := page.String()
				n := strings.Count(p, `<p class="notice"`)
				if want := len(notices); n != want {
					t.Errorf("%s page has %d notices, want %d", lang, n, want)
				}
				if n > 0 {
					i, j := strings.Index(p, `<p class="notice"`), strings.Index(p, `id="summary"`)
					word := map[string]string{"en": "Not counted:", "ja": "集計していません"}[lang]
					ex := sourceNamed(&rep, "InteractiveSignIns.csv")
					if i > j || !strings.Contains(p[i:j], word) || !strings.Contains(p[i:j], fmt.Sprint(ex.OutsideWindow)) || !strings.Contains(p[i:j], "--since") {
						t.Errorf("%s page: notice missing or not above the summary: %q", lang, p[i:min(j, i+400)])
					}
				}
				if c.wantSpan && !strings.Contains(p, T(lang, "ui.period_exports")) {
					t.Errorf("%s page does not say the period is the exports' span", lang)
				}
			}
		})
	}
}

// TestExportSpanFallsBack: exports without a usable row leave the default window.
func TestExportSpanFallsBack(t *testing.T) {
	log := &windowLog{}
	rep, err := Build(context.Background(), Options{Now: corpusNow, ExportSpan: true}, log.events, []string{t.TempDir() + "/missing.csv"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.WindowFromExports || !rep.Since.Equal(corpusNow.Add(-30*24*time.Hour)) || !rep.Until.IsZero() || sourceNamed(rep, "sekisho").Used != 30 {
		t.Errorf("window %v – %v from exports %v, log used %d", rep.Since, rep.Until, rep.WindowFromExports, sourceNamed(rep, "sekisho").Used)
	}
}

func TestHandlerDefaultWindow(t *testing.T) {
	data, rows, _ := spanExport(corpusNow.Add(-14*24*time.Hour), 45)
	recent, recentRows, recentWeek := spanExport(corpusNow, 45)
	cases := []struct {
		name, method, query string
		file                []byte
		wantUsed, wantOut   int
		wantSpan            bool
		wantLog             int
	}{
		{"upload without since: the export's span", "POST", "", data, rows, 0, true,
			logDaysIn(corpusNow.Add(-59*24*time.Hour), corpusNow.Add(-14*24*time.Hour))},
		{"upload with since=7d: a week, the rest left out", "POST", "since=7d", recent, recentWeek, recentRows - recentWeek, false, 7},
		{"GET without since: 30 days", "GET", "", nil, 0, 0, false, 30},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			log := &windowLog{}
			h := NewHandler(HandlerConfig{Events: log.events, Now: func() time.Time { return corpusNow }})
			for _, format := range []string{"json", "html"} {
				var body bytes.Buffer
				req := httptest.NewRequest(c.method, "/admin/reports/legacy-auth?format="+format+"&lang=ja&"+c.query, nil)
				if c.method == "POST" {
					mw := multipart.NewWriter(&body)
					fw, _ := mw.CreateFormFile("entra", "InteractiveSignIns.csv")
					fw.Write(c.file)
					mw.Close()
					req = httptest.NewRequest("POST", req.URL.String(), &body)
					req.Header.Set("Content-Type", mw.FormDataContentType())
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != 200 {
					t.Fatalf("%s: %d %s", format, rec.Code, rec.Body)
				}
				if format == "html" {
					if got := strings.Count(rec.Body.String(), `<p class="notice"`); (got > 0) != (c.wantOut > 0) {
						t.Errorf("html has %d notices; %d rows outside", got, c.wantOut)
					}
					continue
				}
				var rep Report
				if err := json.Unmarshal(rec.Body.Bytes(), &rep); err != nil {
					t.Fatal(err)
				}
				ex := sourceNamed(&rep, "InteractiveSignIns.csv")
				if ex.Used != c.wantUsed || ex.OutsideWindow != c.wantOut || rep.WindowFromExports != c.wantSpan {
					t.Errorf("export used %d outside %d from exports %v; want %d %d %v", ex.Used, ex.OutsideWindow, rep.WindowFromExports, c.wantUsed, c.wantOut, c.wantSpan)
				}
				if got := sourceNamed(&rep, "sekisho").Used; got != c.wantLog {
					t.Errorf("log used %d, want %d (read over %v – %v)", got, c.wantLog, log.since, log.until)
				}
			}
		})
	}
}
