// Package chromium starts Debian's Chromium for the tests that drive a browser, the same way
// for all of them: headless, without the sandbox (the tests run as root in containers), with
// a profile of its own in the test's temp folder and none of the browser's own background
// traffic.
package chromium

import (
	"context"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/sekisho/sekisho/internal/testutil/peers"
)

// Command returns the path of the chromium executable, or skips/fails t as peers does.
func Command(t testing.TB) string {
	t.Helper()
	return peers.Command(t, "chromium", "apt-get install -y chromium")
}

// Start returns a browser context for the Chromium at exe, with extra options after the
// common ones; the browser is closed when t ends. The process starts with the context's first
// action, and lives as long as that action's context: run it on this one, not under a step's
// deadline.
func Start(t testing.TB, exe string, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := append([]chromedp.ExecAllocatorOption{chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.Headless,
		chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.UserDataDir(t.TempDir())}, extra...)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelA)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	return ctx
}
