package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCLIReportWindow: without --since, an export counts whole (the window is the span it
// covers); with --since, rows before it are left out and standard error says how many.
func TestCLIReportWindow(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d")
	d := "--data=" + dir
	mustRun(t, "", "init", d)
	// A 45-day export ending an hour ago, one row an hour.
	var b strings.Builder
	b.WriteString("\ufeffDate (UTC),Username,Client app,IP address,User agent,Status\n")
	end := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	rows, lastWeek := 0, 0
	for t0 := end.Add(-45 * 24 * time.Hour); t0.Before(end); t0 = t0.Add(time.Hour) {
		fmt.Fprintf(&b, "%s,user%d@contoso.example,IMAP4,198.51.100.%d,Thunderbird/115.0,Success\n", t0.Format(time.RFC3339), rows%9, rows%200+1)
		rows++
		if t0.After(end.Add(-6 * 24 * time.Hour)) { // safely inside --since 7d
			lastWeek++
		}
	}
	export := filepath.Join(t.TempDir(), "InteractiveSignIns.csv")
	if err := os.WriteFile(export, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		args     []string
		all      bool   // every export row counted
		stderr   string // a line standard error must have ("" = nothing about the window)
		pageNote string // the HTML page's notice
	}{
		{name: "no --since: the export's span", all: true},
		{name: "--since 7d: a week", args: []string{"--since", "7d"},
			stderr: "rows outside the window", pageNote: "Not counted:"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, format := range []string{"json", "html"} {
				root := newRoot()
				var out, errOut bytes.Buffer
				root.SetOut(&out)
				root.SetErr(&errOut)
				root.SetArgs(append([]string{"report", "legacy-auth", "--entra-signins", export, "--format", format, d}, c.args...))
				if err := root.Execute(); err != nil {
					t.Fatalf("%v\n%s", err, errOut.String())
				}
				if format == "html" {
					if got := strings.Contains(out.String(), `<p class="notice"`); got != (c.pageNote != "") ||
						c.pageNote != "" && !strings.Contains(out.String(), c.pageNote) {
						t.Errorf("page notice shown %v, want %q", got, c.pageNote)
					}
					continue
				}
				var rep struct {
					WindowFromExports bool `json:"window_from_exports"`
					Sources           []struct {
						Name          string `json:"name"`
						Rows          int    `json:"rows"`
						Used          int    `json:"used"`
						OutsideWindow int    `json:"outside_window"`
					} `json:"sources"`
				}
				if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
					t.Fatalf("%v\n%s", err, out.String())
				}
				var ex struct{ Rows, Used, OutsideWindow int }
				for _, s := range rep.Sources {
					if s.Name == "InteractiveSignIns.csv" {
						ex.Rows, ex.Used, ex.OutsideWindow = s.Rows, s.Used, s.OutsideWindow
					}
				}
				if ex.Rows != rows || ex.Used+ex.OutsideWindow != rows || c.all && ex.Used != rows || !c.all && (ex.Used < lastWeek || ex.Used > lastWeek+30) {
					t.Errorf("export: %+v of %d rows (%d in the last 6 days)", ex, rows, lastWeek)
				}
				if rep.WindowFromExports != c.all {
					t.Errorf("window_from_exports = %v", rep.WindowFromExports)
				}
				want := ""
				if c.stderr != "" {
					want = fmt.Sprintf("sekisho report: InteractiveSignIns.csv: %d of %d rows outside the window ", ex.OutsideWindow, rows)
				}
				if got := errOut.String(); want == "" && strings.Contains(got, "outside the window") ||
					want != "" && (!strings.Contains(got, want) || !strings.Contains(got, "use --since to widen it")) {
					t.Errorf("stderr %q, want %q", got, want)
				}
			}
		})
	}
}
