package walletapp_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"image/png"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/digital-yen/cbdc-sandbox/bankadmin"
	"github.com/digital-yen/cbdc-sandbox/demo"
	"github.com/digital-yen/cbdc-sandbox/internal/atomicfile"
	"github.com/digital-yen/cbdc-sandbox/internal/browsertest"
	"github.com/digital-yen/cbdc-sandbox/internal/netcut"
	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/ledger/settlement"
	"github.com/digital-yen/cbdc-sandbox/offline"
	"github.com/digital-yen/cbdc-sandbox/sandbox"
	"github.com/digital-yen/cbdc-sandbox/wallet"
	"github.com/digital-yen/cbdc-sandbox/walletapp"
)

// needsPurse skips a test of the app when the purse's WebAssembly was not
// built into this test binary (make test builds it first); in CI it fails.
func needsPurse(t *testing.T) {
	t.Helper()
	if walletapp.Built() {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatal("walletapp/web/purse.wasm is missing: make test builds it (make purse-wasm)")
	}
	t.Skip("the wallet app's purse is not built: run make purse-wasm, or make test")
}

// phone is one browser context, with its own storage, as one phone.
type phone struct {
	t     *testing.T
	name  string
	ctx   context.Context
	cable *netcut.Link // its network, when the test pulls it
}

func newPhone(t *testing.T, browser context.Context, name, url string) *phone {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	p := &phone{t: t, name: name, ctx: ctx}
	p.run(chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"]`)))
	return p
}

func (p *phone) run(steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, steps...); err != nil {
		status, _ := chromedp.Run(p.ctx, chromedp.Text(chromedp.CSS("#status")))
		p.t.Fatalf("%s: %v (the page says %q)", p.name, err, status)
	}
}

// fill sets each field, then presses the button, once the page is no
// longer busy with an earlier press (its buttons are disabled meanwhile).
func (p *phone) fill(button string, fields ...string) {
	p.t.Helper()
	p.idle()
	var steps []chromedp.Action[chromedp.Void]
	for i := 0; i+1 < len(fields); i += 2 {
		steps = append(steps, chromedp.SetValue(chromedp.CSS(fields[i]), fields[i+1]))
	}
	p.run(append(steps, chromedp.Click(chromedp.CSS(button)))...)
}

// waitAmount waits until the output shows amount yen.
func (p *phone) waitAmount(output string, amount int64) {
	p.t.Helper()
	p.waitJS(fmt.Sprintf("%s shows %d", output, amount),
		fmt.Sprintf(`document.querySelector(%q).dataset.amount === "%d"`, output, amount))
}

// idle waits until the page has finished what it was doing.
func (p *phone) idle() {
	p.t.Helper()
	p.waitJS("the page is idle", `!document.querySelector("main").hasAttribute("aria-busy")`)
}

// press clicks the button once the page is idle: a press while it is
// busy meets a disabled button and is lost, as on a loaded machine the
// end of the last press can come after the test saw its result.
func (p *phone) press(button string) {
	p.t.Helper()
	p.idle()
	p.run(chromedp.Click(chromedp.CSS(button)))
}

func (p *phone) waitJS(what, js string) {
	p.t.Helper()
	if _, err := chromedp.Run(p.ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		status, _ := chromedp.Run(p.ctx, chromedp.Text(chromedp.CSS("#status")))
		p.t.Fatalf("%s: waiting until %s: %v (the page says %q)", p.name, what, err, status)
	}
}

func (p *phone) value(sel string) string {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Value(chromedp.CSS(sel)))
	if err != nil {
		p.t.Fatalf("%s: %s: %v", p.name, sel, err)
	}
	return v
}

// text is the element's textContent, shown or not.
func (p *phone) text(sel string) string {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector(%q).textContent`, sel)))
	if err != nil {
		p.t.Fatalf("%s: %s: %v", p.name, sel, err)
	}
	return strings.TrimSpace(v)
}

// axe fails the test for what axe-core finds on the page as it is now.
func (p *phone) axe(where string) {
	p.t.Helper()
	vs, err := browsertest.AxeViolations(p.ctx)
	if err != nil {
		p.t.Fatalf("%s: axe-core: %v", p.name, err)
	}
	for _, v := range vs {
		p.t.Errorf("%s, %s: %s", p.name, where, v)
	}
}

// network takes the phone off the network or back: Chromium's emulation
// tells the page (navigator.onLine, the offline event) and fails what it
// starts, and the phone's cable, if it has one, silences its open
// connections, which the emulation leaves answering the bank's pings.
func (p *phone) network(online bool) {
	p.t.Helper()
	if p.cable != nil && !online {
		p.cable.Cut()
	}
	if _, err := chromedp.Call(p.ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
		MatchedNetworkConditions: []*network.Conditions{{Offline: !online, DownloadThroughput: -1, UploadThroughput: -1}}}); err != nil {
		p.t.Fatal(err)
	}
	if p.cable != nil && online {
		p.cable.Mend()
	}
	if _, err := chromedp.Call(p.ctx, network.OverrideNetworkState, network.OverrideNetworkStateParams{
		Offline: !online, DownloadThroughput: -1, UploadThroughput: -1}); err != nil {
		p.t.Fatal(err)
	}
}

// sandboxAndBrowser starts a sandbox of banks on loopback and a headless
// Chromium (with any options more) for the phones' browser contexts.
func sandboxAndBrowser(t *testing.T, banks int, more ...chromedp.ExecAllocatorOption) (*sandbox.Sandbox, context.Context) {
	t.Helper()
	needsPurse(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cfg := sandbox.Defaults()
	cfg.Dir, cfg.Banks, cfg.Listen = t.TempDir(), banks, "127.0.0.1:0"
	sb, err := sandbox.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	browser := browsertest.Start(t, 390, 844, 4*time.Minute, more...)
	if err := chromedp.Do(browser); err != nil { // starts the browser, for the phones' contexts
		t.Fatal(err)
	}
	return sb, browser
}

// register opens the phone's wallet and waits until it is online.
func (p *phone) register() {
	p.t.Helper()
	p.fill("#register", "#name", strings.ToUpper(p.name[:1])+p.name[1:], "#person", "P-"+strings.ToUpper(p.name))
	p.waitJS("the wallet opens", `document.querySelector("#address").textContent.includes("@bank-")`)
	p.waitJS("it is online", `document.querySelector("#net").dataset.state === "online"`)
}

// camera is the file Chromium's fake camera plays (MJPEG: JPEG frames one
// after another), so a phone's Scan button sees what the test shows it.
type camera struct {
	t    *testing.T
	path string
}

func newCamera(t *testing.T) *camera {
	c := &camera{t: t, path: filepath.Join(t.TempDir(), "camera.mjpeg")}
	c.show(image.NewRGBA(image.Rect(0, 0, 8, 8)))
	return c
}

// flags make Chromium's camera this file, granted without asking.
func (c *camera) flags() []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true), chromedp.Flag("use-file-for-fake-video-capture", c.path)}
}

// show puts pic in the middle of a grey 1280×960 frame, as a phone held
// up to another's screen sees it.
func (c *camera) show(pic image.Image) {
	c.t.Helper()
	frame := image.NewRGBA(image.Rect(0, 0, 1280, 960))
	draw.Draw(frame, frame.Bounds(), image.NewUniform(color.RGBA{180, 180, 175, 255}), image.Point{}, draw.Src)
	b := pic.Bounds()
	at := image.Pt((1280-b.Dx())/2, (960-b.Dy())/2)
	draw.Draw(frame, b.Add(at.Sub(b.Min)), pic, b.Min, draw.Src)
	var out bytes.Buffer
	for range 10 {
		if err := jpeg.Encode(&out, frame, &jpeg.Options{Quality: 92}); err != nil {
			c.t.Fatal(err)
		}
	}
	// Replaced, not rewritten in place: Chromium may still have the
	// last picture's file open, and must never read half of this one.
	if err := atomicfile.Write(c.path, out.Bytes(), 0o644); err != nil {
		c.t.Fatal(err)
	}
}

// showElement shows the camera what the element looks like on a phone's
// screen, magnified as a camera held close would see it.
func (c *camera) showElement(p *phone, sel string) {
	c.t.Helper()
	shot, err := chromedp.Run(p.ctx, chromedp.ScreenshotScale(chromedp.CSS(sel), 3))
	if err != nil {
		c.t.Fatalf("%s: screenshot of %s: %v", p.name, sel, err)
	}
	pic, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		c.t.Fatal(err)
	}
	c.show(pic)
}

// presenter serves the demo page in front of the sandbox's banks and
// opens it at a laptop's width: the presenter's screen.
func presenter(t *testing.T, sb *sandbox.Sandbox, browser context.Context) *phone {
	t.Helper()
	dc := demo.Config{Ledger: sb.Ledger, Offline: demo.Settling(func() *settlement.Settler { return sb.Settler })}
	for _, b := range sb.Banks {
		dc.Banks = append(dc.Banks, demo.Bank{Bank: b.Bank, WalletURL: b.WalletURL(), Phones: b.AppWallets})
	}
	d, err := demo.New(dc)
	if err != nil {
		t.Fatal(err)
	}
	web := httptest.NewServer(d.Handler())
	t.Cleanup(func() { web.Close(); d.Close() })
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	p := &phone{t: t, name: "presenter", ctx: ctx}
	p.run(chromedp.EmulateViewport(1280, 900), chromedp.Navigate(web.URL), chromedp.WaitVisible(chromedp.CSS("#figures .figure")))
	return p
}

// phoneLine waits until the presenter's panel shows the phone named name
// with every one of words in its line.
func (p *phone) phoneLine(name string, words ...string) {
	p.t.Helper()
	want, _ := json.Marshal(words)
	js := fmt.Sprintf(`[...document.querySelectorAll("#phone-list li")].some((li) => li.querySelector(".name").textContent === %q && %s.every((w) => li.textContent.includes(w)))`,
		name, want)
	if _, err := chromedp.Run(p.ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		list, _ := chromedp.Run(p.ctx, chromedp.Evaluate[string](`document.querySelector("#phone-list").innerText`))
		p.t.Fatalf("the presenter's panel never showed %s with %q (%v): it shows %q", name, words, err, list)
	}
}

// Two phones open the wallet app at their banks, register, and pay each
// other online; then, both offline, one pays the other purse to purse by
// the texts their QR codes carry; back online, both sync, and the bank and
// the ledger show the payment settled, money conserved. The presenter's
// page follows them all along.
func TestApp_TwoPhonesPayOnlineAndOffline(t *testing.T) {
	cam := newCamera(t)
	sb, browser := sandboxAndBrowser(t, 2, cam.flags()...)
	// Each phone reaches its bank by a cable the test can pull.
	cables := make([]*netcut.Link, 2)
	for i := range cables {
		l, err := netcut.Listen(sb.Banks[i].Addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		cables[i] = l
	}
	appURL := func(i int) string {
		return "http://" + cables[i].Addr() + walletapp.Path
	}
	room := presenter(t, sb, browser)
	alice := newPhone(t, browser, "alice", appURL(0))
	bob := newPhone(t, browser, "bob", appURL(1))
	alice.cable, bob.cable = cables[0], cables[1]
	alice.axe("the sign-up screen")
	browsertest.Screenshot(t, alice.ctx, "phone-signup")
	for _, p := range []*phone{alice, bob} {
		p.register()
	}
	bobAddr := bob.text("#address")

	alice.fill("#withdraw", "#withdraw-amount", "20000")
	alice.waitAmount("#balance", 20_000)
	room.phoneLine("Bob", "joined", "bank-2")
	alice.fill("#pay", "#pay-to", bobAddr, "#pay-amount", "5000")
	alice.waitAmount("#balance", 15_000)
	bob.waitAmount("#balance", 5_000) // told by the bank's notification
	room.phoneLine("Alice", "paid", "1 paid online")
	browsertest.Screenshot(t, bob.ctx, "phone-home")

	for _, p := range []*phone{alice, bob} {
		p.press("#purse-setup")
		p.waitJS("the purse is set up", `!document.querySelector("#purse").hidden`)
	}
	alice.fill("#fund", "#fund-amount", "10000")
	alice.waitAmount("#purse-balance", 10_000)
	alice.waitAmount("#balance", 5_000)

	for _, p := range []*phone{alice, bob} {
		p.network(false)
		p.waitJS("it shows it is offline", `document.querySelector("#net").dataset.state === "offline"`)
	}
	// The presenter's panel sees both phones go offline.
	for i := range 2 {
		waitPhone(t, sb, i, "offline", func(w bankadmin.AppWallet) bool { return !w.Online })
	}
	room.phoneLine("Alice", "offline", "¥10,000 into its offline purse")
	room.phoneLine("Bob", "offline")
	bob.fill("#request", "#request-amount", "1500")
	bob.waitJS("the request is shown", `document.querySelector("#request-text").value !== ""`)
	request := bob.value("#request-text")
	if !strings.HasPrefix(request, "cbdc-req1:") {
		t.Fatalf("bob's payment request: %q", request)
	}
	bob.waitJS("the request is drawn as a QR code", `!!document.querySelector("#request-qr svg")`)
	bob.axe("offline, showing a payment request")
	browsertest.Screenshot(t, bob.ctx, "phone-offline-request")
	bob.press("#lang")
	bob.waitJS("it speaks Japanese", `document.documentElement.lang === "ja" && document.querySelector("#net").textContent.includes("オフライン")`)
	bob.axe("in Japanese")
	browsertest.Screenshot(t, bob.ctx, "phone-ja")
	// Alice's camera reads the request off Bob's screen.
	cam.showElement(bob, "#request-qr svg")
	alice.press("#scan-request-camera")
	alice.waitJS("the camera reads bob's request", fmt.Sprintf(`document.querySelector("#scan-request").value === %q`, request))
	alice.press("#pay-offline")
	alice.waitJS("the payment is shown for review", `document.querySelector("#pay-offline").textContent.includes("1500")`)
	if got := alice.text("#purse-balance"); !strings.Contains(got, "10,000") {
		t.Errorf("the purse paid before the payer confirmed: it shows %s", got)
	}
	alice.press("#pay-offline")
	alice.waitAmount("#purse-balance", 8_500)
	alice.waitJS("the voucher is shown", `document.querySelector("#voucher-text").value.startsWith("cbdc-vch1:")`)
	voucher := alice.value("#voucher-text")
	alice.axe("offline, showing a voucher")
	browsertest.Screenshot(t, alice.ctx, "phone-offline-voucher")
	// Paying the same request again is refused, however often pressed.
	alice.fill("#pay-offline", "#scan-request", request)
	alice.waitJS("the second payment is refused", `document.querySelector("#status").textContent.includes("already_paid")`)
	alice.waitAmount("#purse-balance", 8_500)
	if got := alice.value("#voucher-text"); got != voucher {
		t.Errorf("the voucher shown changed after a refused payment: %.40q", got)
	}
	// Bob's camera reads the voucher off Alice's screen.
	cam.showElement(alice, "#voucher-qr svg")
	bob.press("#scan-voucher-camera")
	bob.waitJS("the camera reads alice's voucher", fmt.Sprintf(`document.querySelector("#scan-voucher").value === %q`, voucher))
	bob.press("#accept")
	bob.waitAmount("#purse-pending", 1_500)
	// The same voucher again is refused by bob's purse, with its reason.
	bob.fill("#accept", "#scan-voucher", voucher)
	bob.waitJS("the second taking is refused", `document.querySelector("#status").textContent.includes("unknown_request")`)

	for _, p := range []*phone{alice, bob} {
		p.network(true)
		p.waitJS("it is online again", `document.querySelector("#net").dataset.state === "online"`)
	}
	alice.press("#sync")
	alice.waitJS("alice's purse has handed in its voucher", `document.querySelector("#purse").dataset.toUpload === "0"`)
	bob.press("#sync")
	bob.waitAmount("#balance", 6_500) // staged: the voucher settles into bob's online wallet
	bob.waitAmount("#purse-pending", 0)
	browsertest.Screenshot(t, bob.ctx, "phone-synced")

	// What the panel of phones shows, as the banks followed the phones.
	a := waitPhone(t, sb, 0, "back online, its voucher handed in", func(w bankadmin.AppWallet) bool { return w.Online && w.HandedIn == 1 })
	b := waitPhone(t, sb, 1, "back online, its voucher settled", func(w bankadmin.AppWallet) bool { return w.Online && w.Settled == 1 })
	if a.Name != "Alice" || a.Paid != 1 || a.Funded != 10_000 || b.Name != "Bob" || b.Received != 1_500 {
		t.Errorf("the panel shows alice %+v and bob %+v: want alice 1 paid and 10,000 yen funded, bob 1,500 yen settled in", a, b)
	}
	room.phoneLine("Bob", "reconciled its vouchers", "1 voucher settled into it, ¥1,500")
	room.phoneLine("Alice", "reconciled its vouchers", "1 voucher handed in")
	room.run(chromedp.ScrollIntoView(chromedp.CSS("#phone-panel")))
	room.axe("the presenter's page with its panel of phones")
	browsertest.Screenshot(t, room.ctx, "presenter-phones")

	// The phones' balances are the ledger's.
	for _, c := range []struct {
		p    *phone
		want int64
	}{{alice, 5_000}, {bob, 6_500}} {
		acct, err := sb.Central.Ledger.Account(ledger.AccountID(c.p.text("#address")))
		if err != nil || acct.Balance != c.want {
			t.Errorf("%s's wallet at the ledger: %+v, %v; the phone shows %d", c.p.name, acct, err, c.want)
		}
	}
	running, counted := sb.Central.Ledger.Recount()
	if running != counted || !counted.Conserved() {
		t.Errorf("the ledger after the phones: running %+v, counted %+v", running, counted)
	}
	sum := sb.Central.Settler.Summary()
	if sum.Settled != 1 || sum.Rejected != 0 {
		t.Errorf("settlement after the phones: %d settled, %d rejected", sum.Settled, sum.Rejected)
	}
	// And cbdc audit's checks pass over the closed ledger's files.
	dir := sb.Central.Ledger.Dir()
	if err := sb.Close(); err != nil {
		t.Fatal(err)
	}
	rep, _, err := settlement.Audit(dir)
	if err != nil {
		t.Fatalf("cbdc audit after the phones: %v", err)
	}
	if !rep.OK() {
		var out strings.Builder
		rep.WriteText(&out)
		t.Errorf("cbdc audit after the phones finds problems:\n%s", out.String())
	}
}

// waitPhone waits until bank i lists one phone and it is as ok says.
func waitPhone(t *testing.T, sb *sandbox.Sandbox, i int, what string, ok func(bankadmin.AppWallet) bool) bankadmin.AppWallet {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		list := sb.Banks[i].AppWallets()
		if len(list) == 1 && ok(list[0]) {
			return list[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("bank %d's panel of phones never showed its phone %s: %+v", i+1, what, list)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The app opens and shows its purse with its bank's server stopped: the
// service worker serves the app's files, IndexedDB keeps the purse.
func TestApp_OpensWithTheServerStopped(t *testing.T) {
	sb, browser := sandboxAndBrowser(t, 1)
	p := newPhone(t, browser, "carol", "http://"+sb.Banks[0].Addr+walletapp.Path)
	p.register()
	p.fill("#withdraw", "#withdraw-amount", "5000")
	p.waitAmount("#balance", 5_000)
	p.press("#purse-setup")
	p.waitJS("the purse is set up", `!document.querySelector("#purse").hidden`)
	p.fill("#fund", "#fund-amount", "3000")
	p.waitAmount("#purse-balance", 3_000)
	p.waitJS("the service worker keeps the app", `navigator.serviceWorker.controller !== null &&
		caches.open("cbdc-wallet-v2").then((c) => c.keys()).then((k) => k.length >= 7)`)

	if err := sb.Banks[0].Stop(); err != nil {
		t.Fatal(err)
	}
	p.run(chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"]`)))
	p.waitAmount("#purse-balance", 3_000)
	if addr := p.text("#address"); !strings.HasSuffix(addr, "@bank-1") {
		t.Errorf("the wallet's address with its bank stopped: %q", addr)
	}
	p.waitJS("it does not claim to be online", `document.querySelector("#net").dataset.state !== "online"`)
	// The purse still pays offline: a request made here is answered.
	p.fill("#request", "#request-amount", "700")
	p.waitJS("a request is made with the server gone", `document.querySelector("#request-text").value.startsWith("cbdc-req1:")`)
}

// The purse built into the app is the one the code makes now: a purse
// left from an older build would give the app older rules.
func TestApp_PurseIsCurrent(t *testing.T) {
	needsPurse(t)
	out := filepath.Join(t.TempDir(), "purse.wasm")
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s", "-o", out, "./cmd/purse-wasm")
	build.Dir = ".."
	build.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if msg, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the purse: %v\n%s", err, msg)
	}
	fresh, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	built, err := os.ReadFile(filepath.Join("web", "purse.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fresh, built) {
		t.Fatal("walletapp/web/purse.wasm is older than the code: run make purse-wasm (make test does)")
	}
}

// An instruction whose answer never came is sent again under its own id
// when the app reconnects, and the bank makes it once, however often it
// is sent.
func TestApp_ResendsUnansweredInstructionsOnce(t *testing.T) {
	sb, browser := sandboxAndBrowser(t, 1)
	p := newPhone(t, browser, "dan", "http://"+sb.Banks[0].Addr+walletapp.Path)
	p.register()
	// A withdrawal signed and kept in the outbox, its answer lost with
	// the connection, as when a phone leaves coverage mid-call.
	lose := `(async () => {
		const w = await store.get("wallet");
		const id = bank.prefix + "-lost";
		const s = goCall("sign", {seed: w.seed, type: "withdraw", wallet: bank.welcome.wallet, id, body: {amount: 1000}});
		await outbox.add({id, type: "withdraw", body: s.body});
		bank.ws.send(JSON.stringify({v: 1, type: "withdraw", id, body: s.body}));
		await new Promise((r) => setTimeout(r, 300));
		bank.ws.close();
		return true;
	})()`
	for round := range 2 {
		if _, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](lose, chromedp.EvalAwaitPromise)); err != nil {
			t.Fatal(err)
		}
		p.waitJS("the outbox is emptied after reconnecting", `document.querySelector("#net").dataset.state === "online" &&
			store.get("outbox").then((o) => !o || o.length === 0)`)
		p.waitAmount("#balance", 1_000)
		if round == 0 {
			continue
		}
		// The second time the same id went out twice more; still one withdrawal.
		if got := p.text("#deposit"); !strings.Contains(got, "199,000") {
			t.Errorf("the deposit after one withdrawal sent three times: %s", got)
		}
	}
}

// A phone asks another to pay; the other sees the request, with who asks
// and how much, and pays it; the asker is told. A request declined moves
// nothing. The payer's contacts then offer the asker to pay with a tap.
func TestApp_RequestToPayAndContacts(t *testing.T) {
	sb, browser := sandboxAndBrowser(t, 2)
	shop := newPhone(t, browser, "shop", "http://"+sb.Banks[0].Addr+walletapp.Path)
	eve := newPhone(t, browser, "eve", "http://"+sb.Banks[1].Addr+walletapp.Path)
	for _, p := range []*phone{shop, eve} {
		p.register()
	}
	eve.fill("#withdraw", "#withdraw-amount", "3000")
	eve.waitAmount("#balance", 3_000)
	eveAddr, shopAddr := eve.text("#address"), shop.text("#address")

	shop.fill("#ask", "#ask-payer", eveAddr, "#ask-amount", "700", "#ask-memo", "coffee")
	eve.waitJS("the request is shown", `document.querySelector("#incoming li p")?.textContent.includes("700")`)
	if got := eve.text("#incoming li p"); !strings.Contains(got, shopAddr) || !strings.Contains(got, "coffee") {
		t.Errorf("the request as the payer sees it: %q", got)
	}
	eve.axe("asked to pay")
	eve.press(`#incoming button[data-action="approve"]`)
	eve.waitAmount("#balance", 2_300)
	shop.waitAmount("#balance", 700)
	shop.waitJS("the asker is told", `document.querySelector("#status").textContent.includes("700")`)
	eve.waitJS("the request is answered", `document.querySelector("#incoming-card").hidden`)

	shop.fill("#ask", "#ask-payer", eveAddr, "#ask-amount", "900")
	eve.waitJS("the second request is shown", `document.querySelector("#incoming li p")?.textContent.includes("900")`)
	eve.press(`#incoming button[data-action="decline"]`)
	shop.waitJS("the asker is told of the refusal", `document.querySelector("#status").textContent.includes("900")`)
	eve.waitAmount("#balance", 2_300)

	eve.waitJS("the shop is a contact, and the wallet idle", fmt.Sprintf(`(() => {
		const b = document.querySelector('#contacts button[data-address=%q]');
		return !!b && !b.disabled && !document.querySelector("main").hasAttribute("aria-busy");
	})()`, shopAddr))
	eve.press(fmt.Sprintf(`#contacts button[data-address=%q]`, shopAddr))
	eve.waitJS("the contact fills the payee", fmt.Sprintf(`document.querySelector("#pay-to").value === %q`, shopAddr))
	if got := eve.value("#pay-to"); got != shopAddr {
		t.Errorf("the contact filled %q, want %q", got, shopAddr)
	}
}

// goPurse is a purse held in Go by a customer of the sandbox's first
// bank, funded with amount yen (none when 0), to pay or be paid by a
// phone's purse.
func goPurse(t *testing.T, sb *sandbox.Sandbox, name string, amount int64) *offline.Purse {
	t.Helper()
	ctx := context.Background()
	seed := sha256.Sum256([]byte(name))
	key := ed25519.NewKeyFromSeed(seed[:])
	if _, err := sb.Banks[0].Onboard(ctx, bankadmin.CustomerSpec{Name: name, PersonID: "P-" + name, Deposit: 200_000,
		PublicKeys: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}}); err != nil {
		t.Fatal(err)
	}
	c, err := wallet.Dial(ctx, sb.Banks[0].WalletURL(), key, wallet.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	p, err := offline.NewPurse(sb.Settler.RootKey())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ProvisionPurse(ctx, "", p); err != nil {
		t.Fatal(err)
	}
	if amount > 0 {
		if _, err := c.Withdraw(ctx, "", amount); err != nil {
			t.Fatal(err)
		}
		if _, err := c.FundPurse(ctx, "", p, amount); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// The page's purse refuses, with the offline rule's code, each voucher a
// payer can hand a payee that an honest payee must refuse, and each
// payment an honest payer must not make; a refusal changes nothing, so
// the genuine voucher is taken afterwards, and the purse ends holding
// exactly what it took.
func TestApp_PurseRefusalsShowInThePage(t *testing.T) {
	sb, browser := sandboxAndBrowser(t, 1)
	p := newPhone(t, browser, "dana", "http://"+sb.Banks[0].Addr+walletapp.Path)
	p.register()
	p.press("#purse-setup")
	p.waitJS("the purse is set up", `!document.querySelector("#purse").hidden`)
	payer := goPurse(t, sb, "Erin", 30_000)
	other := goPurse(t, sb, "Frank", 0)

	request := func(amount int64) offline.PaymentRequest {
		t.Helper()
		before := p.value("#request-text")
		p.fill("#request", "#request-amount", fmt.Sprint(amount))
		p.waitJS("a new request is shown", fmt.Sprintf(`document.querySelector("#request-text").value !== %q`, before))
		q, err := offline.ParsePaymentRequestText(p.value("#request-text"))
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	pay := func(q offline.PaymentRequest) offline.Voucher {
		t.Helper()
		v, err := payer.Pay(q, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	// refused hands the page text to take (or, with payerSide, to pay)
	// and waits for the refusal's code.
	refused := func(code, text string, payerSide bool) {
		t.Helper()
		p.run(chromedp.Evaluate[chromedp.Void](`document.querySelector("#status").textContent = ""`))
		if payerSide {
			p.fill("#pay-offline", "#scan-request", text)
			p.waitJS("the payment is shown for review", `document.querySelector("#status").textContent !== ""`)
			if !strings.Contains(p.text("#status"), code) {
				p.press("#pay-offline")
			}
		} else {
			p.fill("#accept", "#scan-voucher", text)
		}
		p.waitJS("it is refused "+code, fmt.Sprintf(`document.querySelector("#status").textContent.includes(%q)`, code))
	}
	taken := func(v offline.Voucher) {
		t.Helper()
		p.run(chromedp.Evaluate[chromedp.Void](`document.querySelector("#status").textContent = ""`))
		p.fill("#accept", "#scan-voucher", v.Text())
		p.waitJS(fmt.Sprintf("the voucher of %d yen is taken", v.Amount), `document.querySelector("#scan-voucher").value === ""`)
	}

	refused("malformed", "cbdc-vch1:AAAA", false)

	q := request(1_000)
	genuine := pay(q)
	forged := genuine
	forged.Signature[0] ^= 1
	refused("bad_signature", forged.Text(), false)
	taken(genuine) // the refusal left the request open and the purse as it was

	q2 := request(2_000)
	more := q2
	more.Amount = 2_500
	refused("amount_mismatch", pay(more).Text(), false)
	unasked := q2
	unasked.Nonce[0] ^= 1
	refused("unknown_request", pay(unasked).Text(), false)
	elsewhere, err := other.Request(700, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	refused("wrong_payee", pay(elsewhere).Text(), false)
	refused("unknown_request", genuine.Text(), false) // its request is paid

	first, second := request(100), request(200)
	early, late := pay(first), pay(second)
	taken(late)
	refused("counter_order", early.Text(), false) // a payer's earlier voucher after its later one

	// The page as payer: over the per-payment cap, beyond what its purse
	// holds (the vouchers it took are pending until it syncs, in staged
	// mode), and its own request.
	big, err := other.Request(offline.DefaultPaymentCap+1, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	refused("payment_cap", big.Text(), true)
	small, err := other.Request(500, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	refused("insufficient_funds", small.Text(), true)
	refused("wrong_payee", request(300).Text(), true)

	p.waitAmount("#purse-pending", 1_200) // the genuine 1,000 and the later 200, nothing else
	p.waitAmount("#purse-balance", 0)
}
