package demo

import (
	"context"
	_ "embed"
	"fmt"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/digital-yen/cbdc-sandbox/internal/browsertest"
	"github.com/digital-yen/cbdc-sandbox/ledger/settlement"
	sbx "github.com/digital-yen/cbdc-sandbox/sandbox"
)

// sandbox is a ledger with offline settlement and two banks serving
// wallets on loopback, with the demo in front of them.
func sandbox(t *testing.T) *httptest.Server {
	t.Helper()
	cfg := sbx.Defaults()
	cfg.Dir, cfg.Banks, cfg.Float, cfg.Listen = t.TempDir(), 2, 50_000_000, "127.0.0.1:0"
	s, err := sbx.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	dc := Config{Ledger: s.Ledger, Offline: Settling(func() *settlement.Settler { return s.Settler })}
	for _, b := range s.Banks {
		dc.Banks = append(dc.Banks, Bank{Bank: b.Bank, WalletURL: b.WalletURL()})
	}
	d, err := New(dc)
	if err != nil {
		s.Close()
		t.Fatal(err)
	}
	web := httptest.NewServer(d.Handler())
	t.Cleanup(func() {
		web.Close()
		d.Close()
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return web
}

// browser starts a headless Chromium for the test, at the given window
// size.
func browser(t *testing.T, width, height int) context.Context {
	t.Helper()
	return browsertest.Start(t, width, height, 3*time.Minute)
}

// anotherTab opens a second tab of the same browser.
func anotherTab(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil { // the browser runs before a second tab opens
		t.Fatal(err)
	}
	tab, cancel := chromedp.NewContext(ctx)
	t.Cleanup(cancel)
	return tab
}

// eval runs a script in the page and returns its result.
func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

// waitJS waits until the script is true.
func waitJS(t *testing.T, ctx context.Context, what, js string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Fatalf("never %s: %v", what, err)
	}
}

// axeCheck runs axe-core's WCAG 2.1 AA rules on the page as it is now and
// fails the test for every violation, naming the rule and the elements.
func axeCheck(t *testing.T, ctx context.Context, where string) {
	t.Helper()
	for _, v := range axeViolations(t, ctx) {
		t.Errorf("%s: %s", where, v)
	}
}

// axeViolations lists what axe-core finds on the page, one line each.
func axeViolations(t *testing.T, ctx context.Context) []string {
	t.Helper()
	vs, err := browsertest.AxeViolations(ctx)
	if err != nil {
		t.Fatalf("axe-core: %v", err)
	}
	return vs
}

// watchHosts records every request the page makes to a host other than
// the sandbox's; the returned func lists them.
func watchHosts(t *testing.T, ctx context.Context, sandboxURL string) func() []string {
	t.Helper()
	own, err := url.Parse(sandboxURL)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var foreign []string
	err = chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			u, err := url.Parse(e.Request.URL)
			if err != nil || u.Scheme == "data" || u.Scheme == "about" || u.Scheme == "blob" {
				return
			}
			if u.Host != own.Host {
				mu.Lock()
				foreign = append(foreign, e.Request.URL)
				mu.Unlock()
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), foreign...)
	}
}

// apiCall sends a change to the demo's API from the page, as the page
// does, and returns the answer's JSON.
func apiCall(t *testing.T, ctx context.Context, method, path, body string) map[string]any {
	t.Helper()
	js := fmt.Sprintf(`fetch(%q, {method: %q, headers: {"Content-Type": "application/json"}, body: %q}).then(async (r) => {
		const j = await r.json(); if (!r.ok) throw new Error(JSON.stringify(j)); return j; })`, path, method, body)
	return eval[map[string]any](t, ctx, js)
}

// screenshot saves the page as PNG among the test's artifacts.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	browsertest.Screenshot(t, ctx, name)
}

// waitText waits until the element's text contains want.
func waitText(t *testing.T, ctx context.Context, sel, want string) {
	t.Helper()
	js := fmt.Sprintf(`(() => { const e = document.querySelector(%q); return !!e && e.textContent.includes(%q); })()`, sel, want)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%q)||{}).textContent||"(no element)"`, sel)))
		t.Fatalf("%s never showed %q: %v; it shows %q", sel, want, err, text)
	}
}

// doer runs browser actions in order, failing the test at the first error.
func doer(t *testing.T, ctx context.Context) func(...chromedp.Action[chromedp.Void]) {
	return func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatal(err)
		}
	}
}

// createWallets creates wallets from the Wallets tab, given as name and
// bank pairs, and waits for each card.
func createWallets(t *testing.T, ctx context.Context, nameBank ...string) {
	t.Helper()
	do := doer(t, ctx)
	for i := 0; i+1 < len(nameBank); i += 2 {
		name, bank := nameBank[i], nameBank[i+1]
		do(chromedp.SetValue(chromedp.CSS(`#new-wallet input[name="name"]`), name),
			chromedp.SetValue(chromedp.CSS(`#new-wallet select[name="bank"]`), bank),
			chromedp.Click(chromedp.CSS(`#new-wallet button[type="submit"]`)))
		waitText(t, ctx, "#wallet-list", name+" · "+bank)
	}
}
