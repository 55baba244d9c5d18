package demo

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/digital-yen/cbdc-sandbox/intermediary"
	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/ledger/settlement"
	"github.com/digital-yen/cbdc-sandbox/offline"
	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// sandbox is a ledger with offline settlement and two banks serving
// wallets on loopback, with the demo in front of them.
func sandbox(t *testing.T) *httptest.Server {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	l, err := ledger.Open(filepath.Join(dir, "ledger"), ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := settlement.Open(ctx, l, settlement.Config{Policy: offline.DefaultPolicy()})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Ledger: l, Settler: st}
	var banks []*intermediary.Bank
	for i := 1; i <= 2; i++ {
		id := ledger.AccountID(fmt.Sprintf("bank-%d", i))
		if _, err := l.OpenAccount(ctx, "open-"+string(id), ledger.AccountSpec{ID: id, Kind: ledger.KindIntermediary}); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Issue(ctx, "float-"+string(id), id, 50_000_000); err != nil {
			t.Fatal(err)
		}
		_, offlineKey, _ := ed25519.GenerateKey(nil)
		b, err := intermediary.Open(ctx, intermediary.Config{ID: id, Ledger: l.Intermediary(id), Path: filepath.Join(dir, string(id)+".db"),
			HolderKey: []byte("demo-test-holder-key-0123456789"), AdminToken: "demo-test-admin-token", Offline: st.ForBank(id), OfflineKey: offlineKey})
		if err != nil {
			t.Fatal(err)
		}
		banks = append(banks, b)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: b.Handler()}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
		cfg.Banks = append(cfg.Banks, Bank{Bank: b, WalletURL: "ws://" + ln.Addr().String() + protocol.Path})
	}
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	web := httptest.NewServer(d.Handler())
	t.Cleanup(func() {
		web.Close()
		d.Close()
		for _, b := range banks {
			b.Close()
		}
		st.Close()
		l.Close()
	})
	return web
}

// chromium finds the browser: $CHROMIUM, or Debian's /usr/bin/chromium.
// In CI a missing browser fails the test; elsewhere it skips it.
func chromium(t *testing.T) string {
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

// browser starts a headless Chromium for the test, at the given window
// size.
func browser(t *testing.T, width, height int) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
		// this machine has no network: keep Chromium from reaching for one
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true),
	}
	ctx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancelTab := chromedp.NewContext(ctx)
	t.Cleanup(cancelTab)
	ctx, cancelTime := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancelTime)
	return ctx
}

// screenshot saves the page as PNG among the test's artifacts.
func screenshot(t *testing.T, ctx context.Context, name string) {
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

// The presenter's story online: the page loads with the two tiers drawn
// live, a bank issues float, two wallets at different banks are created
// and charged, one pays the other, and both balances change on the page.
func TestBrowser_IssueCreateWalletsPay(t *testing.T) {
	t.Parallel()
	web := sandbox(t)
	ctx := browser(t, 1280, 800)
	do := doer(t, ctx)
	do(chromedp.Navigate(web.URL))
	waitText(t, ctx, "#conn", "live")
	waitText(t, ctx, "#tiers", "CBDC in circulation 200,000,000 yen") // two floats and the guarantee fund
	waitText(t, ctx, "#tiers", "bank-2")
	screenshot(t, ctx, "overview")

	do(chromedp.Click(chromedp.CSS(`nav button[data-tab="banks"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-bank="bank-1"] input[name="amount"]`)),
		chromedp.SetValue(chromedp.CSS(`[data-bank="bank-1"] input[name="amount"]`), "5000000"),
		chromedp.Click(chromedp.CSS(`[data-bank="bank-1"] button[name="issue"]`)))
	waitText(t, ctx, `[data-bank="bank-1"] dl`, "55,000,000")
	screenshot(t, ctx, "banks")

	do(chromedp.Click(chromedp.CSS(`nav button[data-tab="wallets"]`)))
	createWallets(t, ctx, "Hanako", "bank-1", "Taro", "bank-2")
	hanako, taro := `[data-wallet="w1"]`, `[data-wallet="w2"]`
	do(chromedp.SetValue(chromedp.CSS(hanako+` form.charge input[name="amount"]`), "20000"),
		chromedp.Click(chromedp.CSS(hanako+` button[name="withdraw"]`)))
	waitText(t, ctx, hanako+" .balance", "20,000 yen")
	do(chromedp.SetValue(chromedp.CSS(hanako+` select[name="to"]`), "w2"),
		chromedp.SetValue(chromedp.CSS(hanako+` form.pay input[name="amount"]`), "1500"),
		chromedp.Click(chromedp.CSS(hanako+` button[name="pay"]`)))
	waitText(t, ctx, hanako+" .balance", "18,500 yen")
	waitText(t, ctx, taro+" .balance", "1,500 yen")
	waitText(t, ctx, taro+" .notes", "received 1,500 yen from Hanako")
	screenshot(t, ctx, "wallets")

	do(chromedp.Click(chromedp.CSS(`nav button[data-tab="feed"]`)))
	waitText(t, ctx, "#feed-list", "Hanako → bank-1: pay 1,500 yen to Taro")
	waitText(t, ctx, "#feed-list", "bank-1 → ledger: transfer 1,500 yen")
	screenshot(t, ctx, "feed")

	do(chromedp.Click(chromedp.CSS(`nav button[data-tab="overview"]`)))
	waitText(t, ctx, "#tiers", "held in wallets 20,000 yen")

	// The bank moves Hanako to the merchant tier.
	do(chromedp.Click(chromedp.CSS(`nav button[data-tab="banks"]`)),
		chromedp.Click(chromedp.CSS(`[data-bank="bank-1"] button.customers`)))
	waitText(t, ctx, `[data-bank="bank-1"] .customer-list`, "Hanako: standard tier")
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const s = document.querySelector('[data-bank="bank-1"] select[data-customer]');
		s.value = "merchant"; s.dispatchEvent(new Event("change")); return true; })()`)); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, `[data-bank="bank-1"] .customer-list`, "Hanako: merchant tier (holding limit 50,000,000 yen)")
}

// At phone width the page still shows every part, one column.
func TestBrowser_PhoneWidth(t *testing.T) {
	t.Parallel()
	web := sandbox(t)
	ctx := browser(t, 390, 844)
	if err := chromedp.Do(ctx, chromedp.Navigate(web.URL)); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#tiers", "Central bank")
	wide, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`))
	if err != nil || wide {
		t.Errorf("the page scrolls sideways at phone width (%v)", err)
	}
	screenshot(t, ctx, "phone")
}

// The offline story: purses funded, a payment device to device with the
// voucher as QR code and text and the payee's checks, a cloned purse
// spending again, and devices brought back online one by one until the
// ledger finds the double spend, names whose purse did it and books the
// loss on its bank.
func TestBrowser_OfflineDoubleSpendCaught(t *testing.T) {
	t.Parallel()
	web := sandbox(t)
	ctx := browser(t, 1280, 800)
	do := doer(t, ctx)
	do(chromedp.Navigate(web.URL + "#wallets"))
	waitText(t, ctx, "#conn", "live")
	createWallets(t, ctx, "Aiko", "bank-1", "Ben", "bank-2", "Chie", "bank-1")
	do(chromedp.SetValue(chromedp.CSS(`[data-wallet="w1"] form.charge input[name="amount"]`), "40000"),
		chromedp.Click(chromedp.CSS(`[data-wallet="w1"] button[name="withdraw"]`)))
	waitText(t, ctx, `[data-wallet="w1"] .balance`, "40,000 yen")

	do(chromedp.Click(chromedp.CSS(`nav button[data-tab="offline"]`)))
	fund := func(id, amount, want string) {
		do(chromedp.SetValue(chromedp.CSS(`[data-device="`+id+`"] input[name="amount"]`), amount),
			chromedp.Click(chromedp.CSS(`[data-device="`+id+`"] form.fund button`)))
		waitText(t, ctx, `[data-device="`+id+`"] dl`, want)
	}
	fund("w1", "30000", "30,000 yen")
	fund("w2", "0", "purse balance")
	fund("w3", "0", "purse balance")
	for _, id := range []string{"w1", "w2", "w3"} { // the shop has no signal
		do(chromedp.Click(chromedp.CSS(`[data-device="` + id + `"] button.net`)))
		waitText(t, ctx, `[data-device="`+id+`"] h3`, "offline")
	}
	pay := func(from, to, amount string) {
		do(chromedp.SetValue(chromedp.CSS(`#offline-pay select[name="from"]`), from),
			chromedp.SetValue(chromedp.CSS(`#offline-pay select[name="to"]`), to),
			chromedp.SetValue(chromedp.CSS(`#offline-pay input[name="amount"]`), amount),
			chromedp.Click(chromedp.CSS(`#offline-pay button`)))
	}
	pay("w1", "w2", "5000")
	waitText(t, ctx, "#offline-result", "Aiko → Ben: 5,000 yen accepted")
	waitText(t, ctx, "#offline-result textarea", "cbdc-vch1:")
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#offline-result article:first-child .checks .passed").length`))
	if err != nil || n != len(checkSteps) {
		t.Errorf("%d of the payee's %d checks shown as passed (%v)", n, len(checkSteps), err)
	}
	if ok, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!document.querySelector("#offline-result .qr svg path")`)); !ok {
		t.Error("no QR code drawn for the voucher")
	}
	screenshot(t, ctx, "offline-payment")

	do(chromedp.Click(chromedp.CSS(`[data-device="w1"] button.clone`)))
	waitText(t, ctx, "#device-list", "Aiko (clone)")
	pay("w1", "w2", "20000")
	waitText(t, ctx, "#offline-result", "Aiko → Ben: 20,000 yen accepted")
	pay("w4", "w3", "20000")
	waitText(t, ctx, "#offline-result", "Aiko (clone) → Chie: 20,000 yen accepted")

	do(chromedp.Click(chromedp.CSS(`[data-device="w2"] button.net`)))
	waitText(t, ctx, "#sync-results", "Ben synced")
	do(chromedp.Click(chromedp.CSS(`[data-device="w3"] button.net`)))
	waitText(t, ctx, "#sync-results", "double_spend by Aiko's purse")
	waitText(t, ctx, "#sync-results", "15,000 yen borne by bank-1")
	screenshot(t, ctx, "offline-reconciled")

	do(chromedp.Click(chromedp.CSS(`nav button[data-tab="overview"]`)))
	waitText(t, ctx, "#tiers", "revoked purses 1")
	waitText(t, ctx, "#tiers", "offline losses 15,000")
}

// A scenario started from the page shows its progress and then its
// figures and the report's charts.
func TestBrowser_ScenarioRuns(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs the demo scenario for a minute")
	}
	web := sandbox(t)
	ctx := browser(t, 1280, 800)
	if err := chromedp.Do(ctx, chromedp.Navigate(web.URL+"#scenarios")); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#scenario-list", "Run demo")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`[data-run="demo"]`))); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#scenario-run", "demo: running")
	screenshot(t, ctx, "scenario-running")
	js := `(() => { const e = document.querySelector("#scenario-run"); return !!e && /demo: (done|failed)/.test(e.textContent); })()`
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(100*time.Second))); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#scenario-run", "demo: done")
	waitText(t, ctx, "#scenario-run", "conserved")
	waitText(t, ctx, "#scenario-run", "1 of 1")
	ok, err := chromedp.Run(ctx, chromedp.Poll[bool](`(() => { const f = document.querySelector("iframe.report"); return !!f && !!f.contentDocument && f.contentDocument.querySelectorAll("svg").length >= 4; })()`,
		chromedp.WithPollingTimeout(20*time.Second)))
	if err != nil || !ok {
		t.Errorf("the report's charts did not show in the page (%v)", err)
	}
	screenshot(t, ctx, "scenario-done")
}

// The page works by keyboard: Tab reaches the sections and Enter opens one.
func TestBrowser_Keyboard(t *testing.T) {
	t.Parallel()
	web := sandbox(t)
	ctx := browser(t, 1280, 800)
	if err := chromedp.Do(ctx, chromedp.Navigate(web.URL), chromedp.Focus(chromedp.CSS(`nav button[data-tab="overview"]`)),
		chromedp.KeyEvent("\t"), chromedp.KeyEvent("\t"), chromedp.KeyEvent("\r")); err != nil {
		t.Fatal(err)
	}
	open, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!document.querySelector("#wallets").hidden && document.activeElement.dataset.tab === "wallets"`))
	if err != nil || !open {
		t.Errorf("Tab, Tab, Enter from Overview did not open Wallets (%v)", err)
	}
	if err := chromedp.Do(ctx, chromedp.Focus(chromedp.CSS(`#new-wallet input[name="name"]`)), chromedp.KeyEvent("Kenji"),
		chromedp.KeyEvent("\r")); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#wallet-list", "Kenji · bank-1")
}
