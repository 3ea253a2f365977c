package report

import (
	"bytes"
	"html"
	"regexp"
	"strconv"
	"testing"
)

func TestCountTextsPlural(t *testing.T) {
	for _, tc := range []struct {
		lang, key string
		n         int
		want      string
	}{
		{"en", "ui.of_users", 1, "of 1 user"},
		{"en", "ui.of_users", 2, "of 2 users"},
		{"en", "ui.of_users", 0, "of 0 users"},
		{"en", "ui.of_signins", 1, "of 1 sign-in"},
		{"en", "ui.of_signins", 2, "of 2 sign-ins"},
		{"ja", "ui.of_users", 1, "全 1 人中"},
		{"ja", "ui.of_users", 2, "全 2 人中"},
		{"ja", "ui.of_signins", 1, "全 1 件中"},
		{"ja", "ui.of_signins", 2, "全 2 件中"},
	} {
		if got := TN(tc.lang, tc.key, tc.n); got != tc.want {
			t.Errorf("TN(%s, %s, %d) = %q, want %q", tc.lang, tc.key, tc.n, got, tc.want)
		}
	}
}

// The summary cards of a page say "(of 1 user)", "(of 2 users)", "(全 1 人中)"…
func TestSummaryCardsPlural(t *testing.T) {
	for _, tc := range []struct {
		lang  string
		n     int
		users string
		signs string
	}{
		{"en", 1, "(of 1 user)", "(of 1 sign-in)"},
		{"en", 2, "(of 2 users)", "(of 2 sign-ins)"},
		{"ja", 1, "(全 1 人中)", "(全 1 件中)"},
		{"ja", 2, "(全 2 人中)", "(全 2 件中)"},
	} {
		r := &Report{Summary: Summary{Users: tc.n, Records: tc.n}}
		var buf bytes.Buffer
		if err := r.WriteHTML(&buf, tc.lang); err != nil {
			t.Fatal(err)
		}
		users, signs := card(t, buf.String(), "card-users"), card(t, buf.String(), "card-signins")
		if !bytes.HasSuffix([]byte(users), []byte(tc.users)) || !bytes.HasSuffix([]byte(signs), []byte(tc.signs)) {
			t.Errorf("%s, %d: cards say %q and %q, want … %s and … %s", tc.lang, tc.n, users, signs, tc.users, tc.signs)
		}
	}
}

func card(t *testing.T, page, id string) string {
	t.Helper()
	m := regexp.MustCompile(`<div class="card" id="` + id + `"><div class="n">[^<]*</div><div class="l">([^<]*)</div>`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no card %s", id)
	}
	return html.UnescapeString(m[1])
}

var (
	svgRE  = regexp.MustCompile(`(?s)<svg class="chart" id="([^"]+)"[^>]*viewBox="0 0 ([0-9.]+) ([0-9.]+)"[^>]*>(.*?)</svg>`)
	textRE = regexp.MustCompile(`<text x="([0-9.-]+)" y="[0-9.-]+" text-anchor="(start|end)">([^<]*)</text>`)
)

// checkChartLabels asserts that every label of every chart on page, at its x and with its
// estimated width, lies inside its SVG's viewBox.
func checkChartLabels(t *testing.T, what, page string) {
	t.Helper()
	charts := svgRE.FindAllStringSubmatch(page, -1)
	if len(charts) != 3 {
		t.Fatalf("%s: %d charts", what, len(charts))
	}
	for _, c := range charts {
		w, _ := strconv.ParseFloat(c[2], 64)
		texts := textRE.FindAllStringSubmatch(c[4], -1)
		if len(texts) == 0 {
			t.Errorf("%s: chart %s has no labels", what, c[1])
		}
		for _, tx := range texts {
			x, _ := strconv.ParseFloat(tx[1], 64)
			label := html.UnescapeString(tx[3])
			from, to := x, x+textWidth(label)
			if tx[2] == "end" {
				from, to = x-textWidth(label), x
			}
			if from < 0 || to > w {
				t.Errorf("%s: chart %s label %q spans %.1f–%.1f, outside the viewBox width %.0f", what, c[1], label, from, to, w)
			}
		}
	}
}

func TestChartLabelsFitTheirSVG(t *testing.T) {
	// Every family, the largest counts a report can plausibly have, both languages.
	var fams []FamilySummary
	for i, f := range Families {
		n := 12_345_678 / (i + 1)
		fams = append(fams, FamilySummary{Family: f, Legacy: f.Legacy(), Records: n, Inside: n / 2, Outside: n / 3, NoIP: n - n/2 - n/3})
	}
	big := &Report{Summary: Summary{ByFamily: fams, Daily: []Day{{Date: "2026-01-01", Legacy: 9_876_543}, {Date: "2026-01-02", Legacy: 5}}}}
	small := &Report{Summary: Summary{ByFamily: []FamilySummary{{Family: FamIMAP, Legacy: true, Records: 1, Inside: 1}},
		Daily: []Day{{Date: "2026-01-01", Legacy: 1}}}}
	corpus := corpusReport(t, "en")
	for _, lang := range []string{"en", "ja"} {
		for name, r := range map[string]*Report{"every family": big, "one sign-in": small, "corpus": corpus} {
			var buf bytes.Buffer
			if err := r.WriteHTML(&buf, lang); err != nil {
				t.Fatal(err)
			}
			checkChartLabels(t, lang+", "+name, buf.String())
		}
	}
}

// The estimate is at least as wide as the labels' texts really are in a browser (checked in
// TestHTMLInChromium); here: wide characters count a full em, and no text is estimated at zero.
func TestTextWidth(t *testing.T) {
	if w := textWidth("先進認証"); w != 4*chartFont {
		t.Errorf("four wide characters: %.1f", w)
	}
	if a, b := textWidth("Modern (browser)"), textWidth("Modern"); a <= b || b <= 0 {
		t.Errorf("widths %.1f, %.1f", a, b)
	}
}
