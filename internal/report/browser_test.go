package report

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/sekisho/sekisho/internal/testutil/chromium"
)

// TestHTMLInChromium opens the report in Debian's chromium, checks that the charts and tables
// rendered (element counts), that sorting works, that nothing logged an error, and saves a
// screenshot per language (to $SEKISHO_ARTIFACTS when set, else the test's temp dir).
func TestHTMLInChromium(t *testing.T) {
	exe := chromium.Command(t)
	rep := corpusReport(t, "en")
	legacyFams := 0
	for _, f := range rep.Summary.ByFamily {
		if f.Legacy {
			legacyFams++
		}
	}
	outDir := os.Getenv("SEKISHO_ARTIFACTS")
	if outDir == "" {
		outDir = t.TempDir()
	}
	for _, lang := range []string{"en", "ja"} {
		t.Run(lang, func(t *testing.T) {
			dir := t.TempDir()
			page := filepath.Join(dir, "report.html")
			var buf bytes.Buffer
			if err := rep.WriteHTML(&buf, lang); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(page, buf.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancelT := context.WithTimeout(chromium.Start(t, exe, chromedp.WindowSize(1400, 1000)), 60*time.Second)
			defer cancelT()
			var mu sync.Mutex
			var problems []string
			err := chromedp.Listen(ctx, func(ev any) {
				mu.Lock()
				defer mu.Unlock()
				switch e := ev.(type) {
				case *runtime.EventExceptionThrown:
					problems = append(problems, fmt.Sprintf("exception: %s line %d", e.ExceptionDetails.Text, e.ExceptionDetails.LineNumber))
				case *runtime.EventConsoleAPICalled:
					if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning {
						var args []string
						for _, a := range e.Args {
							args = append(args, string(a.Value)+a.Description)
						}
						problems = append(problems, fmt.Sprintf("console.%s: %s", e.Type, strings.Join(args, " ")))
					}
				case *cdplog.EventEntryAdded:
					if e.Entry.Level == cdplog.EntryLevelError || e.Entry.Level == cdplog.EntryLevelWarning {
						problems = append(problems, "log: "+e.Entry.Text+" "+e.Entry.URL)
					}
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
				t.Fatal(err)
			}
			if err := chromedp.Do(ctx, chromedp.Navigate("file://"+page), chromedp.WaitReady(chromedp.CSS("#users"))); err != nil {
				t.Fatal(err)
			}
			num := func(expr string) int {
				v, err := chromedp.Run(ctx, chromedp.Evaluate[int](expr))
				if err != nil {
					t.Fatalf("%s: %v", expr, err)
				}
				return v
			}
			str := func(expr string) string {
				v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
				if err != nil {
					t.Fatalf("%s: %v", expr, err)
				}
				return v
			}
			charts := num(`document.querySelectorAll("svg.chart").length`)
			mixBars := num(`document.querySelectorAll("#chart-mix rect").length`)
			inoutRows := num(`document.querySelectorAll("#chart-inout text").length`)
			userRows := num(`document.querySelectorAll("#users tbody tr").length`)
			famRows := num(`document.querySelectorAll("#families tbody tr").length`)
			dailyBars := num(`document.querySelectorAll("#chart-daily rect").length`)
			visible := num(`document.querySelector("#chart-mix").getBoundingClientRect().height|0`)
			// Every chart label inside its SVG as drawn, and no wider than textWidth estimates
			// (the layout's and TestChartLabelsFitTheirSVG's premise).
			var labels []struct {
				T        string
				X, W, VW float64
			}
			if err := json.Unmarshal([]byte(str(`JSON.stringify(Array.from(document.querySelectorAll("svg.chart text")).map(function(e){
				var b=e.getBBox();return {t:e.textContent,x:b.x,w:b.width,vw:e.ownerSVGElement.viewBox.baseVal.width};}))`)), &labels); err != nil || len(labels) == 0 {
				t.Fatalf("chart labels: %v (%d)", err, len(labels))
			}
			for _, l := range labels {
				if l.X < 0 || l.X+l.W > l.VW {
					t.Errorf("chart label %q drawn at %.1f–%.1f, outside its SVG (width %.0f)", l.T, l.X, l.X+l.W, l.VW)
				}
				if est := textWidth(l.T); est < l.W {
					t.Errorf("chart label %q is %.1fpx wide, estimated %.1fpx", l.T, l.W, est)
				}
			}
			firstBefore := str(`document.querySelector("#users tbody tr td:nth-child(4)").dataset.v`)
			if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#users thead th:nth-child(4)`))); err != nil {
				t.Fatal(err)
			}
			firstAfter := str(`document.querySelector("#users tbody tr td:nth-child(4)").dataset.v`)
			sortAttr := str(`document.querySelector("#users thead th:nth-child(4)").getAttribute("aria-sort")`)
			png, err := chromedp.Run(ctx, chromedp.FullScreenshot(80))
			if err != nil {
				t.Fatal(err)
			}
			if dailyBars != len(rep.Summary.Daily) || visible < 50 {
				t.Errorf("daily chart has %d bars (want %d), mix chart %dpx high", dailyBars, len(rep.Summary.Daily), visible)
			}
			if charts != 3 || mixBars != len(rep.Summary.ByFamily) || inoutRows != legacyFams ||
				userRows != len(rep.Rows) || famRows != len(rep.Summary.ByFamily) {
				t.Errorf("rendered %d charts, %d mix bars (want %d), %d in/out rows (want %d), %d user rows (want %d), %d family rows",
					charts, mixBars, len(rep.Summary.ByFamily), inoutRows, legacyFams, userRows, len(rep.Rows), famRows)
			}
			minCount := rep.Rows[0].Count
			for _, r := range rep.Rows {
				minCount = min(minCount, r.Count)
			}
			if sortAttr != "ascending" || firstAfter != fmt.Sprint(minCount) || firstBefore == firstAfter {
				t.Errorf("sorting: before %s after %s (want %d), aria-sort %q", firstBefore, firstAfter, minCount, sortAttr)
			}
			if len(png) < 10_000 {
				t.Errorf("screenshot is %d bytes", len(png))
			}
			shot := filepath.Join(outDir, "legacy-auth-report-"+lang+".jpg")
			if err := os.WriteFile(shot, png, 0o600); err != nil {
				t.Fatal(err)
			}
			t.Logf("screenshot: %s", shot)
			mu.Lock()
			defer mu.Unlock()
			if len(problems) > 0 {
				t.Errorf("console: %v", problems)
			}
		})
	}
}
