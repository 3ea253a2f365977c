// Package fonts_test checks in Debian's Chromium that the Japanese sign-in page is drawn with
// real Japanese glyphs, not the empty boxes a machine without a CJK font shows
// (scripts/install-peers.sh installs fonts-noto-cjk).
package fonts_test

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/chromedp/chromedp"

	"github.com/sekisho/sekisho/internal/testutil/chromium"
	"github.com/sekisho/sekisho/internal/testutil/idptest"
	"github.com/sekisho/sekisho/internal/testutil/peers"
)

// measure runs on the sign-in page. It lays out, in the page's own font, the Japanese text
// of the page (title and brand) and as many copies of U+10FFFD, a private-use code point
// that no font draws, so the browser shows its missing-glyph box. Without a Japanese font
// the two are rows of the same box: equal widths, and 関 and 所 drawn pixel for pixel alike.
const measure = `(() => {
  const h1 = document.querySelector("h1"), brand = document.querySelector(".brand");
  const family = getComputedStyle(h1).fontFamily;
  const text = (h1.textContent + brand.textContent + "所").replace(/[^\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]/gu, "");
  const width = (s) => {
    const e = document.createElement("span");
    e.style.cssText = "position:absolute;visibility:hidden;white-space:pre;font-size:32px;font-family:" + family;
    e.textContent = s;
    document.body.appendChild(e);
    const w = e.getBoundingClientRect().width;
    e.remove();
    return w;
  };
  const pixels = (ch) => {
    const c = document.createElement("canvas");
    c.width = c.height = 48;
    const g = c.getContext("2d");
    g.font = "32px " + family;
    g.fillStyle = "#000";
    g.fillText(ch, 4, 38);
    return Array.from(g.getImageData(0, 0, 48, 48).data).join(",");
  };
  return JSON.stringify({
    lang: document.documentElement.lang, text: text, family: family,
    width: width(text), missing: width("\u{10FFFD}".repeat([...text].length)),
    distinct: pixels("関") !== pixels("所"),
  });
})()`

type result struct {
	Lang, Text, Family string
	Width, Missing     float64
	Distinct           bool
}

func TestJapaneseGlyphsRender(t *testing.T) {
	exe := chromium.Command(t)
	// The font is a peer like the browser: none installed skips (fails with SEKISHO_REQUIRE_PEERS=1).
	fcList := peers.Command(t, "fc-list", "apt-get install -y fontconfig")
	if out, err := exec.Command(fcList, ":lang=ja", "family").Output(); err != nil || strings.TrimSpace(string(out)) == "" {
		peers.Missing(t, "a Japanese font (fc-list :lang=ja lists none)", "apt-get install -y fonts-noto-cjk")
	}
	p := idptest.Start(t, idptest.Options{})

	// Sekisho's certificate comes from its own test CA.
	ctx, cancel := context.WithTimeout(chromium.Start(t, exe, chromedp.IgnoreCertErrors), 60*time.Second)
	defer cancel()

	if err := chromedp.Do(ctx, chromedp.Navigate(p.URL+"/login?lang=ja"), chromedp.WaitVisible(chromedp.CSS("h1"))); err != nil {
		t.Fatalf("open the Japanese sign-in page: %v", err)
	}
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](measure))
	if err != nil {
		t.Fatalf("measure: %v", err)
	}
	var r result
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	t.Logf("page lang %s, font-family %s: %q is %.1fpx wide, as many missing glyphs %.1fpx; 関 and 所 differ: %v",
		r.Lang, r.Family, r.Text, r.Width, r.Missing, r.Distinct)
	if r.Lang != "ja" || !strings.ContainsFunc(r.Text, func(c rune) bool { return unicode.Is(unicode.Katakana, c) }) {
		t.Fatalf("not the Japanese page: lang %q, text %q", r.Lang, r.Text)
	}
	const hint = "no font on this machine draws Japanese (fc-list :lang=ja is empty?); install fonts-noto-cjk (scripts/install-peers.sh)"
	if diff := r.Width - r.Missing; diff > -0.5 && diff < 0.5 {
		t.Errorf("Japanese text is as wide as missing-glyph boxes (%.1fpx): %s", r.Width, hint)
	}
	if !r.Distinct {
		t.Errorf("関 and 所 are drawn identically (both the missing-glyph box): %s", hint)
	}
}
