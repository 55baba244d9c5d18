// Package browsertest starts a headless Chromium for the tests that drive
// a page: Debian's /usr/bin/chromium, or $CHROMIUM. Without one a test is
// skipped with what to install, except in CI ($CI set), where it fails.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Path finds the browser, or skips the test (fails it in CI).
func Path(t testing.TB) string {
	t.Helper()
	for _, p := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p != "" {
			if _, err := exec.LookPath(p); err == nil {
				return p
			}
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no Chromium at /usr/bin/chromium: CI must install it (apt-get install -y chromium)")
	}
	t.Skip("browser tests need Chromium: apt-get install -y chromium (or set CHROMIUM to its path)")
	return ""
}

// running bounds the Chromiums a test binary runs at once: each is several
// processes, and the machines the tests run on may have two cores.
var running = make(chan struct{}, 2)

// Start starts a headless Chromium with a window of the given size, and
// any options more (such as a fake camera's flags), and returns the
// context of its first tab, which ends with the test or after timeout.
func Start(t testing.TB, width, height int, timeout time.Duration, more ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	path := Path(t)
	running <- struct{}{}
	t.Cleanup(func() { <-running })
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
		// the machines the tests run on may have no network: keep Chromium from reaching for one
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true),
	}
	opts = append(opts, more...)
	ctx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancelTab := chromedp.NewContext(ctx)
	t.Cleanup(cancelTab)
	ctx, cancelTime := context.WithTimeout(ctx, timeout)
	t.Cleanup(cancelTime)
	return ctx
}

// Screenshot saves the whole page as name.png among the test's artifacts
// (go test -artifacts), from which make screenshots copies the README's.
func Screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG; below, JPEG
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(t.ArtifactDir(), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Error(err)
	}
	t.Logf("screenshot: %s", path)
}
