package report

import (
	"bufio"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode"
)

//go:embed report.html.tmpl
var htmlTemplate string

var tmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"pct": func(v float64) string { return strconv.FormatFloat(v*100, 'f', 1, 64) + "%" },
}).Parse(htmlTemplate))

// bar is one bar of an inline SVG chart, geometry precomputed.
type bar struct {
	X, Y, W, H float64
	Class      string
	Label      string
	Title      string
	TX, TY     float64 // label position
	Anchor     string  // text-anchor of the label: "start" or "end"
}

type chart struct {
	W, H   float64
	Bars   []bar
	Labels []bar      // text-only entries (axes)
	Axis   [2]float64 // x from and to of the daily chart's base line
}

// htmlRow is what the "row" template shows of a row, every text in the page's language. It is
// flat (no embedded Row) because the template looks fields up by name, per row.
type htmlRow struct {
	Legacy         bool
	User, Client   string
	Count          int
	DistinctIPs    int
	RetirementText string
	MigrationText  string
	AfterText      string
	Devices        []string
	Alternatives   []string
	Risks          []htmlRisk
	FamilyName     string
	DecisionText   string
	Share          string
	ShareV         string
	IPsText        string
	First, Last    string
	Agents         []string
	AfterClass     string
}

type htmlRisk struct{ Severity, SevText, Text string }

type htmlView struct {
	Lang, Title string
	R           *Report
	T           func(key string, args ...any) string
	N           func(key string, n int) string // T for a count, in the count's plural form
	Period      string
	Notices     []string // rows left out by the window, per source
	Generated   string
	Mix         chart
	Daily       chart
	InOut       chart
	OutsidePct  string
	Checklist   []string
	Families    []FamilySummary
	Script      template.JS
}

// sortScript makes table.sortable sortable by clicking a heading (cells may carry data-v).
const sortScript = `(function(){
document.querySelectorAll("table.sortable").forEach(function(t){
  var ths=t.tHead.rows[0].cells;
  Array.prototype.forEach.call(ths,function(th,i){
    th.addEventListener("click",function(){
      var asc=th.getAttribute("aria-sort")!=="ascending";
      Array.prototype.forEach.call(ths,function(h){h.removeAttribute("aria-sort");});
      th.setAttribute("aria-sort",asc?"ascending":"descending");
      var num=th.dataset.type==="num", body=t.tBodies[0];
      var rows=Array.prototype.slice.call(body.rows);
      var key=function(r){var c=r.cells[i];var v=c.dataset.v!==undefined?c.dataset.v:c.textContent.trim();return num?parseFloat(v)||0:v.toLowerCase();};
      rows.sort(function(a,b){var x=key(a),y=key(b);var d=x<y?-1:x>y?1:0;return asc?d:-d;});
      rows.forEach(function(r){body.appendChild(r);});
    });
  });
});
})();`

// ScriptHash is the CSP hash of the report's only script ("script-src 'sha256-…'").
var ScriptHash = func() string {
	h := sha256.Sum256([]byte(sortScript))
	return "sha256-" + base64.StdEncoding.EncodeToString(h[:])
}()

// WriteHTML writes the report as one self-contained HTML page (inline CSS, SVG and script; no
// external assets) in lang ("ja" or "en"). The page streams: the rows are rendered one at a
// time into a small buffer, so writing it holds nothing in proportion to the report beyond
// the report itself.
func (r *Report) WriteHTML(w io.Writer, lang string) error {
	if lang != "ja" {
		lang = "en"
	}
	t := func(key string, args ...any) string { return T(lang, key, args...) }
	v := htmlView{Lang: lang, Title: t("ui.title"), R: r, T: t, Script: template.JS(sortScript),
		N:         func(key string, n int) string { return TN(lang, key, n) },
		Generated: r.GeneratedAt.Format("2006-01-02 15:04 UTC"), Period: r.period(lang)}
	for _, s := range r.Sources {
		if s.OutsideWindow > 0 {
			v.Notices = append(v.Notices, t("ui.outside_notice", s.Name, s.OutsideWindow, s.Rows, v.Period))
		}
	}
	for i := 1; i <= 8; i++ {
		v.Checklist = append(v.Checklist, t("chk."+strconv.Itoa(i)))
	}
	for _, f := range r.Summary.ByFamily {
		f.Name = t("fam." + string(f.Family))
		v.Families = append(v.Families, f)
	}
	if n := r.Summary.LegacyInside + r.Summary.LegacyOutside; n > 0 {
		v.OutsidePct = strconv.FormatFloat(float64(r.Summary.LegacyOutside)*100/float64(n), 'f', 1, 64) + "%"
	} else {
		v.OutsidePct = "—"
	}
	v.Mix = mixChart(v.Families)
	v.Daily = dailyChart(r.Summary.Daily)
	v.InOut = inOutChart(v.Families, t)
	bw := bufio.NewWriterSize(w, 64<<10)
	if err := tmpl.ExecuteTemplate(bw, "head", v); err != nil {
		return fmt.Errorf("report html: %w", err)
	}
	for i := range r.Rows {
		if err := tmpl.ExecuteTemplate(bw, "row", htmlRowOf(&r.Rows[i], lang, t)); err != nil {
			return fmt.Errorf("report html: %w", err)
		}
	}
	if err := tmpl.ExecuteTemplate(bw, "tail", v); err != nil {
		return fmt.Errorf("report html: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("report html: %w", err)
	}
	return nil
}

// period is the window as the page shows it: "2026-01-31 – 2026-03-01", with a word when it
// is the exports' span.
func (r *Report) period(lang string) string {
	if r.Since.IsZero() && r.Until.IsZero() {
		return T(lang, "ui.unbounded")
	}
	from, to := "…", r.GeneratedAt.Format("2006-01-02")
	if !r.Since.IsZero() {
		from = r.Since.UTC().Format("2006-01-02")
	}
	if !r.Until.IsZero() {
		to = r.Until.UTC().Format("2006-01-02")
	}
	p := from + " – " + to
	if r.WindowFromExports {
		p += " (" + T(lang, "ui.period_exports") + ")"
	}
	return p
}

// htmlRowOf is one row of the page with its texts in the page's language.
func htmlRowOf(row *Row, lang string, t func(string, ...any) string) htmlRow {
	h := htmlRow{Legacy: row.Legacy, User: row.User, Client: row.Client, Count: row.Count,
		DistinctIPs: row.DistinctIPs, Devices: row.Devices, FamilyName: t("fam." + string(row.Family)),
		DecisionText: t("ui.decision." + row.CurrentDecision),
		First:        row.FirstSeen.Format("2006-01-02 15:04"), Last: row.LastSeen.Format("2006-01-02 15:04"),
		IPsText: strconv.Itoa(row.DistinctIPs), Share: "—", ShareV: "-1", AfterClass: string(row.After)}
	if strings.HasPrefix(h.DecisionText, "ui.decision.") {
		h.DecisionText = row.CurrentDecision
	}
	if row.IPsCapped {
		h.IPsText = t("ui.more", row.DistinctIPs)
	}
	if row.InsideShare != nil {
		h.Share = strconv.FormatFloat(*row.InsideShare*100, 'f', 0, 64) + "%"
		h.ShareV = strconv.FormatFloat(*row.InsideShare, 'f', 3, 64)
	}
	// Translate texts computed in the builder's language into the page's language.
	h.RetirementText = t("status." + row.Retirement)
	h.MigrationText = t("mig." + row.Migration)
	h.AfterText = t("enf." + string(row.After))
	for _, a := range row.Alternatives {
		h.Alternatives = append(h.Alternatives, t("mig."+a.Migration)+" — "+t("enf."+string(a.After)))
	}
	for _, k := range row.Risks {
		h.Risks = append(h.Risks, htmlRisk{k.Severity, t("sev." + k.Severity), T(lang, "risk."+k.Code, k.args...)})
	}
	for _, ua := range row.UserAgents {
		h.Agents = append(h.Agents, fmt.Sprintf("%s (%d)", ua.Name, ua.Count))
	}
	if row.AgentsCapped {
		h.Agents = append(h.Agents, "…")
	}
	return h
}

func maxInt(xs ...int) int {
	m := 0
	for _, x := range xs {
		if x > m {
			m = x
		}
	}
	return m
}

// Chart geometry. Texts are 11px (svg text in report.html.tmpl); their widths are estimated
// from their characters (textWidth) so the label column and the space after the longest bar
// fit the longest label in either language.
const (
	chartFont   = 11.0
	chartBarMax = 380.0 // width of the longest bar
	chartRow    = 24.0
	chartGap    = 5.0 // between a label and its bar
	chartMargin = 8.0 // free space at the SVG's edges
)

// textWidth is a generous estimate of the width of s drawn at chartFont px in a sans-serif
// font: a full em for Japanese (and other wide) characters, less for Latin ones.
func textWidth(s string) float64 {
	em := 0.0
	for _, c := range s {
		switch {
		case isWide(c):
			em += 1
		case c == ' ' || c == '.' || c == ',' || c == ':' || c == ';' || c == '\'' || c == '|' || c == 'i' || c == 'l' || c == 'j':
			em += 0.35
		case c == '(' || c == ')' || c == '/' || c == '-' || c == 'f' || c == 't' || c == 'r' || c == 'I':
			em += 0.45
		case c == 'm' || c == 'w' || c == 'M' || c == 'W':
			em += 1
		case c >= '0' && c <= '9':
			em += 0.7
		case unicode.IsUpper(c):
			em += 0.78
		default:
			em += 0.65
		}
	}
	return em * chartFont
}

// isWide reports East Asian wide and full-width characters.
func isWide(c rune) bool {
	return unicode.In(c, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul) ||
		(c >= 0x3000 && c <= 0x303f) || (c >= 0xff01 && c <= 0xff60) || (c >= 0xffe0 && c <= 0xffe6) || c == 0x30fc
}

// labelColumn is the x where bars start: the widest name fits to their left.
func labelColumn(names []string) float64 {
	w := 0.0
	for _, n := range names {
		w = math.Max(w, textWidth(n))
	}
	return math.Ceil(chartMargin + w + chartGap)
}

func mixChart(fams []FamilySummary) chart {
	peak := 1
	var names []string
	for _, f := range fams {
		peak = maxInt(peak, f.Records)
		names = append(names, f.Name)
	}
	left := labelColumn(names)
	c := chart{W: left + chartBarMax + chartMargin, H: chartRow*float64(len(fams)) + 10}
	for i, f := range fams {
		w := math.Max(chartBarMax*float64(f.Records)/float64(peak), 1)
		cls := "bar modern"
		if f.Legacy {
			cls = "bar legacy"
		}
		y := chartRow*float64(i) + 5
		// The count follows its bar; the name is already in the label column.
		n := strconv.Itoa(f.Records)
		b := bar{X: left, Y: y, W: w, H: 18, Class: cls, Label: n, Anchor: "start",
			Title: fmt.Sprintf("%s: %d", f.Name, f.Records), TX: left + w + chartGap, TY: y + 14}
		c.W = math.Max(c.W, math.Ceil(b.TX+textWidth(n)+chartMargin))
		c.Bars = append(c.Bars, b)
		c.Labels = append(c.Labels, bar{X: left - chartGap, Y: y + 14, Label: f.Name, Anchor: "end"})
	}
	return c
}

func dailyChart(days []Day) chart {
	peak := 1
	for _, d := range days {
		peak = maxInt(peak, d.Legacy)
	}
	// The peak's number stands left of the bars.
	left := math.Max(30, math.Ceil(chartMargin+textWidth(strconv.Itoa(peak))+4))
	c := chart{W: left + 610, H: 200, Axis: [2]float64{left, left + 600}}
	if len(days) == 0 {
		return c
	}
	bw := 600 / float64(len(days))
	for i, d := range days {
		h := 160 * float64(d.Legacy) / float64(peak)
		x := left + bw*float64(i)
		c.Bars = append(c.Bars, bar{X: x, Y: 170 - h, W: math.Max(bw-1, 0.5), H: h, Class: "bar legacy",
			Title: fmt.Sprintf("%s: %d", d.Date, d.Legacy)})
	}
	c.Labels = append(c.Labels, bar{X: left, Y: 190, Label: days[0].Date, Anchor: "start"},
		bar{X: left + 600, Y: 190, Label: days[len(days)-1].Date, Anchor: "end"},
		bar{X: left - 4, Y: 16, Label: strconv.Itoa(peak), Anchor: "end"})
	return c
}

func inOutChart(fams []FamilySummary, t func(string, ...any) string) chart {
	var legacy []FamilySummary
	var names []string
	for _, f := range fams {
		if f.Legacy {
			legacy = append(legacy, f)
			names = append(names, f.Name)
		}
	}
	left := labelColumn(names)
	c := chart{W: left + chartBarMax + chartMargin, H: chartRow*float64(len(legacy)) + 34}
	for i, f := range legacy {
		total := f.Inside + f.Outside + f.NoIP
		if total == 0 {
			continue
		}
		y := chartRow*float64(i) + 5
		x := left
		for _, part := range []struct {
			n          int
			cls, label string
		}{{f.Inside, "bar inside", t("ui.inside")}, {f.Outside, "bar outside", t("ui.outside")}, {f.NoIP, "bar noip", t("ui.noip")}} {
			w := chartBarMax * float64(part.n) / float64(total)
			if part.n > 0 {
				c.Bars = append(c.Bars, bar{X: x, Y: y, W: w, H: 18, Class: part.cls,
					Title: fmt.Sprintf("%s — %s: %d", f.Name, part.label, part.n)})
			}
			x += w
		}
		c.Labels = append(c.Labels, bar{X: left - chartGap, Y: y + 14, Label: f.Name, Anchor: "end"})
	}
	return c
}
