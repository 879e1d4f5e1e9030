// Package browser starts headless Chromium for end-to-end tests of the pages
// Den serves (the chat example, the admin dashboard), driven through the
// DevTools protocol with chromedp.
//
// Tests call [New]; when Chromium is not installed the test is skipped,
// unless DEN_REQUIRE_BROWSER=1 (set by .ci/run, which installs Debian's
// chromium package), in which case it fails: CI must never skip silently.
package browser

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Path returns the Chromium executable: $DEN_CHROMIUM, or chromium or
// chromium-browser on $PATH; "" when there is none.
func Path() string {
	if p := os.Getenv("DEN_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// New starts a headless Chromium for t and returns a context for chromedp
// actions in its first tab (chromedp v0.23: chromedp.Do(ctx, steps...) for
// steps, v, err := chromedp.Run(ctx, chromedp.Text(sel)) for a value); the
// browser is closed when t ends. Each call
// starts its own browser with its own empty profile. timeout bounds the
// whole test's browsing.
func New(t testing.TB, timeout time.Duration) context.Context {
	t.Helper()
	path := Path()
	if path == "" {
		if os.Getenv("DEN_REQUIRE_BROWSER") == "1" {
			t.Fatal("chromium not found and DEN_REQUIRE_BROWSER=1: install Debian's chromium package or set DEN_CHROMIUM")
		}
		t.Skip("chromium not installed (apt-get install chromium); set DEN_REQUIRE_BROWSER=1 to make this a failure")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
	}
	base, cancelTimeout := context.WithTimeout(context.Background(), timeout)
	alloc, cancelAlloc := chromedp.NewExecAllocator(base, opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
		cancelTimeout()
	})
	if err := chromedp.Do(ctx); err != nil { // start the browser now, so a failure names itself
		t.Fatalf("start chromium %s: %v", path, err)
	}
	return ctx
}

// NewTab opens another tab in the browser of ctx (from New) and returns its
// context; it is closed when t ends.
func NewTab(t testing.TB, ctx context.Context) context.Context {
	t.Helper()
	tab, cancel := chromedp.NewContext(ctx)
	t.Cleanup(cancel)
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("open tab: %v", err)
	}
	return tab
}
