package shibboleth

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/sekisho/sekisho/internal/testutil/chromium"
)

// stepTimeout bounds every browser step (a navigation and the element it waits for).
const stepTimeout = 15 * time.Second

// startChromium launches one headless Chromium for the whole test. Sekisho's certificate
// comes from its own test CA, hence --ignore-certificate-errors.
func startChromium(t *testing.T, exe string) context.Context {
	t.Helper()
	ctx := chromium.Start(t, exe, chromedp.IgnoreCertErrors, chromedp.WindowSize(1100, 900))
	// Starts the browser. Not under a deadline: the browser lives as long as this first
	// call's context (the allocator bounds the start itself).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// browser is one isolated browser profile (its own cookie jar) with one tab; it records the
// document requests it made and the errors pages reported (exceptions, CSP violations…).
type browser struct {
	name string
	ctx  context.Context
	art  string // artifacts folder for screenshots

	mu   sync.Mutex
	navs []string // "METHOD URL" of every document request
	errs []string // "URL: text" of every exception and error-level log entry
}

func newBrowser(t *testing.T, root context.Context, name, artifacts string) *browser {
	t.Helper()
	ctx, cancel := chromedp.NewContext(root, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	b := &browser{name: name, ctx: ctx, art: artifacts}
	if err := chromedp.Listen(ctx, func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		// Every document request, redirects included (a 302 chain commits only its end).
		if e, ok := ev.(*network.EventRequestWillBeSent); ok && e.Type == network.ResourceTypeDocument {
			b.navs = append(b.navs, e.Request.Method+" "+e.Request.URL)
		}
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			b.errs = append(b.errs, e.ExceptionDetails.URL+": exception "+e.ExceptionDetails.Text)
		case *cdplog.EventEntryAdded:
			// Network entries are HTTP statuses (401 after a wrong password, 403 on denial),
			// which the scenarios assert themselves.
			if e.Entry.Level == cdplog.EntryLevelError && e.Entry.Source != cdplog.EntrySourceNetwork {
				b.errs = append(b.errs, e.Entry.URL+": "+e.Entry.Text)
			}
		}
	}); err != nil {
		t.Fatalf("listen: %v", err)
	}
	lctx, cancelL := context.WithTimeout(ctx, 5*time.Second)
	defer cancelL()
	if _, err := chromedp.Call(lctx, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatalf("enable the log domain: %v", err)
	}
	return b
}

// checkErrors fails t for errors reported by pages under origin, and for any Content Security
// Policy violation (Sekisho's pages run under a strict CSP: a blocked auto-submit script
// would strand the user). It forgets what it reported.
func (b *browser) checkErrors(t *testing.T, origin string) {
	t.Helper()
	b.mu.Lock()
	errs := b.errs
	b.errs = nil
	b.mu.Unlock()
	for _, e := range errs {
		if strings.HasPrefix(e, origin) || strings.Contains(e, "Content Security Policy") {
			t.Errorf("browser %s: %s", b.name, e)
		}
	}
}

// run runs steps with a deadline; on error it saves a screenshot and fails the test.
func (b *browser) run(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.fail(t, what, err)
	}
}

// fail records the page (URL, text, screenshot) and stops the test.
func (b *browser) fail(t *testing.T, what string, err error) {
	t.Helper()
	url, text := b.location(), b.text("document.body ? document.body.innerText : ''")
	shot := ""
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	if png, serr := chromedp.Run(ctx, chromedp.CaptureScreenshot()); serr == nil {
		name := fmt.Sprintf("shibboleth-%s-%s.png", b.name, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
		shot = filepath.Join(b.art, name)
		if werr := os.WriteFile(shot, png, 0o644); werr != nil {
			shot = werr.Error()
		}
	}
	t.Fatalf("%s: %v\nbrowser %s at %s (screenshot %s)\nnavigations: %v\npage text:\n%s", what, err, b.name, url, shot, b.navigations(), text)
}

func (b *browser) text(expr string) string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return s
}

func (b *browser) location() string { return b.text("location.href") }

// navigations returns the document requests seen so far ("METHOD URL").
func (b *browser) navigations() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.navs...)
}

// cookies returns the names of the cookies the browser holds for url.
func (b *browser) cookies(t *testing.T, url string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{url}})
	if err != nil {
		t.Fatalf("get cookies: %v", err)
	}
	var names []string
	for _, c := range res.Cookies {
		names = append(names, c.Name)
	}
	return names
}

// deleteCookies removes the cookies for url whose names start with prefix.
func (b *browser) deleteCookies(t *testing.T, url, prefix string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	n := 0
	for _, name := range b.cookies(t, url) {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		if _, err := chromedp.Call(ctx, network.DeleteCookies, network.DeleteCookiesParams{Name: name, URL: url}); err != nil {
			t.Fatalf("delete cookie %s: %v", name, err)
		}
		n++
	}
	return n
}
