package demo

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// The README's walkthrough, as the audience sees it: the two tiers drawn
// live and the books balancing, float issued with a confirmation, wallets
// at two banks charged and paying, a request to pay approved across banks
// and declined at one bank, a refusal in plain words that can be closed,
// the event feed, and a customer moved to another tier.
func TestBrowser_Walkthrough(t *testing.T) {
	t.Parallel()
	web := sandbox(t)
	ctx := browser(t, 1440, 900)
	do := doer(t, ctx)
	do(chromedp.Navigate(web.URL))
	waitText(t, ctx, "#conn", "live")
	waitText(t, ctx, "#tiers", "digital yen in circulation ¥200,000,000") // two floats and the guarantee fund
	waitText(t, ctx, "#tiers", "bank-2")
	waitText(t, ctx, "#parts", "✓ Money conserved")
	waitText(t, ctx, "#parts", "guarantee fund ¥100,000,000")
	waitText(t, ctx, "#figures", "Paid offline, not yet reconciled¥0")

	do(chromedp.Click(chromedp.CSS(`nav button[data-tab="banks"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-bank="bank-1"] input[name="amount"]`)),
		chromedp.SetValue(chromedp.CSS(`[data-bank="bank-1"] input[name="amount"]`), "5000000"),
		chromedp.Click(chromedp.CSS(`[data-bank="bank-1"] button[name="issue"]`)))
	waitText(t, ctx, `[data-bank="bank-1"] .msgs`, "Issued ¥5,000,000 of float to bank-1. Its float is now ¥55,000,000.")
	waitText(t, ctx, `[data-bank="bank-1"] dl`, "¥55,000,000")
	do(chromedp.SetValue(chromedp.CSS(`[data-bank="bank-2"] input[name="amount"]`), "1000000"),
		chromedp.Click(chromedp.CSS(`[data-bank="bank-2"] button[name="redeem"]`)))
	waitText(t, ctx, `[data-bank="bank-2"] .msgs`, "bank-2 redeemed ¥1,000,000 of float into its reserves. Its float is now ¥49,000,000.")
	screenshot(t, ctx, "banks")

	do(chromedp.Click(chromedp.CSS(`nav button[data-tab="wallets"]`)))
	createWallets(t, ctx, "Hanako", "bank-1", "Taro", "bank-2", "Jiro", "bank-1")
	waitText(t, ctx, "#new-wallet .msgs", "Jiro's wallet is open at bank-1")
	hanako, taro, jiro := `[data-wallet="w1"]`, `[data-wallet="w2"]`, `[data-wallet="w3"]`
	do(chromedp.SetValue(chromedp.CSS(hanako+` form.charge input[name="amount"]`), "20000"),
		chromedp.Click(chromedp.CSS(hanako+` button[name="withdraw"]`)))
	waitText(t, ctx, hanako+" .balance", "¥20,000")
	waitText(t, ctx, hanako+" .msgs", "Charged ¥20,000 from the deposit account.")
	do(chromedp.SetValue(chromedp.CSS(hanako+` select[name="to"]`), "w2"),
		chromedp.SetValue(chromedp.CSS(hanako+` form.pay input[name="amount"]`), "1500"),
		chromedp.Click(chromedp.CSS(hanako+` button[name="pay"]`)))
	waitText(t, ctx, hanako+" .balance", "¥18,500")
	waitText(t, ctx, taro+" .balance", "¥1,500")
	waitText(t, ctx, taro+" .notes", "received ¥1,500 from Hanako")

	// Across banks: Taro asks Hanako for 800 yen for lunch; she approves.
	do(chromedp.SetValue(chromedp.CSS(taro+` select[name="to"]`), "w1"),
		chromedp.SetValue(chromedp.CSS(taro+` form.pay input[name="amount"]`), "800"),
		chromedp.SetValue(chromedp.CSS(taro+` form.pay input[name="memo"]`), "lunch"),
		chromedp.Click(chromedp.CSS(taro+` button[name="request"]`)))
	waitText(t, ctx, taro+" .msgs", "Asked Hanako to pay ¥800")
	waitText(t, ctx, hanako+" .asks-box", "Taro asks you to pay ¥800 for “lunch”.")
	screenshot(t, ctx, "wallets")
	do(chromedp.Click(chromedp.CSS(hanako + ` .asks-box button[data-act="approve"]`)))
	waitText(t, ctx, hanako+" .msgs", "Paid Taro's request for ¥800.")
	waitText(t, ctx, hanako+" .balance", "¥17,700")
	waitText(t, ctx, taro+" .balance", "¥2,300")
	waitText(t, ctx, taro+" .notes", "Hanako paid your request for ¥800")
	waitJS(t, ctx, "the request left Hanako's wallet", `document.querySelector('`+hanako+` .asks-box').children.length === 0`)
	if in := eval[bool](t, ctx, `!!document.activeElement.closest('`+hanako+`')`); !in {
		t.Error("after approving, focus left Hanako's wallet")
	}

	// At one bank: Jiro asks Hanako for 300 yen; she declines, and nothing moves.
	do(chromedp.SetValue(chromedp.CSS(jiro+` select[name="to"]`), "w1"),
		chromedp.SetValue(chromedp.CSS(jiro+` form.pay input[name="amount"]`), "300"),
		chromedp.Click(chromedp.CSS(jiro+` button[name="request"]`)))
	waitText(t, ctx, hanako+" .asks-box", "Jiro asks you to pay ¥300.")
	do(chromedp.Click(chromedp.CSS(hanako + ` .asks-box button[data-act="decline"]`)))
	waitText(t, ctx, hanako+" .msgs", "Declined Jiro's request for ¥300.")
	waitText(t, ctx, jiro+" .notes", "Hanako declined your request for ¥300")
	waitText(t, ctx, hanako+" .balance", "¥17,700")

	// A payment the wallet cannot make is refused in plain words, beside
	// it, and the message closes.
	do(chromedp.SetValue(chromedp.CSS(taro+` select[name="to"]`), "w1"),
		chromedp.SetValue(chromedp.CSS(taro+` form.pay input[name="amount"]`), "30000"),
		chromedp.Click(chromedp.CSS(taro+` button[name="pay"]`)))
	waitText(t, ctx, taro+" .msgs", "does not hold enough")
	if txt := eval[string](t, ctx, `document.querySelector('`+taro+` .msgs').textContent`); regexp.MustCompile(`json|int64|insufficient_funds|Go struct`).MatchString(txt) {
		t.Errorf("the refusal shows the machinery: %q", txt)
	}
	do(chromedp.Click(chromedp.CSS(taro + ` .msgs button.x`)))
	waitJS(t, ctx, "the message closed", `!document.querySelector('`+taro+` .msg')`)
	// And an amount that is not a number never reaches the sandbox.
	do(chromedp.SetValue(chromedp.CSS(taro+` form.pay input[name="amount"]`), ""),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('`+taro+` form.pay input[name="amount"]').required = false`),
		chromedp.Click(chromedp.CSS(taro+` button[name="pay"]`)))
	waitText(t, ctx, taro+" .msgs", "Enter a whole number of yen above zero.")

	do(chromedp.Click(chromedp.CSS(`nav button[data-tab="feed"]`)))
	waitText(t, ctx, "#feed-list", "Hanako → bank-1: pay ¥1,500 to Taro (signed)")
	waitText(t, ctx, "#feed-list", "bank-1 → ledger: transfer ¥1,500")
	waitText(t, ctx, "#feed-list", "Hanako → bank-1: approve Taro's request for ¥800")
	waitText(t, ctx, "#sequence", "pay ¥30,000 to Hanako")
	screenshot(t, ctx, "feed")

	do(chromedp.Click(chromedp.CSS(`nav button[data-tab="overview"]`)))
	waitText(t, ctx, "#parts", "held in wallets ¥20,000")
	waitText(t, ctx, "#parts", "✓ Money conserved")
	waitText(t, ctx, "#tiers", "2 customers")
	screenshot(t, ctx, "overview")

	// The bank moves Hanako to the merchant tier.
	do(chromedp.Click(chromedp.CSS(`nav button[data-tab="banks"]`)),
		chromedp.Click(chromedp.CSS(`[data-bank="bank-1"] button.customers`)))
	waitText(t, ctx, `[data-bank="bank-1"] .customer-list`, "Hanako: standard tier")
	do(chromedp.Evaluate[chromedp.Void](`(() => { const s = document.querySelector('[data-bank="bank-1"] select[aria-label="tier of Hanako"]');
		s.value = "merchant"; s.dispatchEvent(new Event("change")); })()`))
	waitText(t, ctx, `[data-bank="bank-1"] .customer-list`, "Hanako: merchant tier (holding limit ¥50,000,000)")
	waitText(t, ctx, `[data-bank="bank-1"] .msgs`, "Hanako is now at the merchant tier.")
}

// The offline story: purses funded, a payment phone to phone with the
// voucher as QR code and text and the payee's checks, a cloned purse
// spending again, and phones brought back online one by one until the
// ledger finds the double spend, names whose purse did it, revokes every
// copy of it and books the loss on its bank; then the overview's exposure
// and losses.
func TestBrowser_OfflineDoubleSpendCaught(t *testing.T) {
	t.Parallel()
	web := sandbox(t)
	ctx := browser(t, 1440, 900)
	do := doer(t, ctx)
	do(chromedp.Navigate(web.URL + "#wallets"))
	waitText(t, ctx, "#conn", "live")
	createWallets(t, ctx, "Aiko", "bank-1", "Ben", "bank-2", "Chie", "bank-1")
	do(chromedp.SetValue(chromedp.CSS(`[data-wallet="w1"] form.charge input[name="amount"]`), "40000"),
		chromedp.Click(chromedp.CSS(`[data-wallet="w1"] button[name="withdraw"]`)))
	waitText(t, ctx, `[data-wallet="w1"] .balance`, "¥40,000")

	do(chromedp.Click(chromedp.CSS(`nav button[data-tab="offline"]`)))
	fund := func(id, amount, want string) {
		do(chromedp.SetValue(chromedp.CSS(`[data-device="`+id+`"] input[name="amount"]`), amount),
			chromedp.Click(chromedp.CSS(`[data-device="`+id+`"] form.fund button`)))
		waitText(t, ctx, `[data-device="`+id+`"] .msgs`, want)
	}
	fund("w1", "30000", "Moved ¥30,000 into Aiko's purse; it holds ¥30,000.")
	fund("w2", "0", "Ben's purse is ready to be paid.")
	fund("w3", "0", "Chie's purse is ready to be paid.")
	// The payer defaults to the purse that holds money, the payee to another.
	waitJS(t, ctx, "sensible defaults", `document.querySelector('#offline-pay select[name="from"]').value === "w1" && document.querySelector('#offline-pay select[name="to"]').value !== "w1"`)
	for _, id := range []string{"w1", "w2", "w3"} { // the shop has no signal
		do(chromedp.Click(chromedp.CSS(`[data-device="` + id + `"] button.net`)))
		waitText(t, ctx, `[data-device="`+id+`"] h3`, "offline")
		waitText(t, ctx, `[data-device="`+id+`"] button.net`, "Bring online and sync")
	}
	pay := func(from, to, amount string) {
		do(chromedp.SetValue(chromedp.CSS(`#offline-pay select[name="from"]`), from),
			chromedp.SetValue(chromedp.CSS(`#offline-pay select[name="to"]`), to),
			chromedp.SetValue(chromedp.CSS(`#offline-pay input[name="amount"]`), amount),
			chromedp.Click(chromedp.CSS(`#offline-pay button`)))
	}
	pay("w1", "w2", "5000")
	waitText(t, ctx, "#offline-result", "Aiko → Ben: ¥5,000 accepted")
	waitText(t, ctx, "#offline-result textarea", "cbdc-vch1:")
	// the checks tick one by one, then all have passed
	waitJS(t, ctx, "every check ticked", fmt.Sprintf(`document.querySelectorAll("#offline-result article:first-child .checks .passed:not(.waiting)").length === %d`, len(checkSteps)))
	if ok := eval[bool](t, ctx, `!!document.querySelector("#offline-result .qr svg path")`); !ok {
		t.Error("no QR code drawn for the voucher")
	}
	waitText(t, ctx, `[data-device="w1"] dl`, "¥25,000")
	screenshot(t, ctx, "offline-payment")

	do(chromedp.Click(chromedp.CSS(`[data-device="w1"] button.clone`)))
	waitText(t, ctx, "#device-list", "Aiko (clone)")
	waitText(t, ctx, `[data-device="w4"] h3`, "offline") // a copy is made to be used offline
	waitText(t, ctx, `[data-device="w4"] button.net`, "Bring online and sync")
	waitText(t, ctx, `[data-device="w4"] .clone-of`, "a copy of Aiko's purse")
	pay("w1", "w2", "20000")
	waitText(t, ctx, "#offline-result", "Aiko → Ben: ¥20,000 accepted")
	pay("w4", "w3", "20000")
	waitText(t, ctx, "#offline-result", "Aiko (clone) → Chie: ¥20,000 accepted")
	// a purse cannot pay its own copy
	pay("w4", "w1", "100")
	waitText(t, ctx, "#offline-pay .msgs", "A purse cannot pay a copy of itself.")

	do(chromedp.Click(chromedp.CSS(`nav button[data-tab="overview"]`)))
	waitText(t, ctx, "#figures", "¥45,000 in 3 vouchers still on phones")

	do(chromedp.Click(chromedp.CSS(`nav button[data-tab="offline"]`)),
		chromedp.Click(chromedp.CSS(`[data-device="w2"] button.net`)))
	waitText(t, ctx, "#sync-results", "Ben came back online and handed in 2 vouchers.")
	waitText(t, ctx, "#sync-results", "Ben was paid ¥25,000.")
	do(chromedp.Click(chromedp.CSS(`[data-device="w3"] button.net`)))
	waitText(t, ctx, "#sync-results", "Chie came back online and handed in 1 voucher.")
	waitText(t, ctx, "#sync-results", "Aiko's purse spent the same money twice (a double spend).")
	waitText(t, ctx, "#sync-results", "bank-1 bore ¥15,000 the escrow could not cover.")
	waitText(t, ctx, "#sync-results", "Aiko's purse is revoked: payees now refuse it.")
	// every copy of the revoked purse says so, and its balance is void
	for _, id := range []string{"w1", "w4"} {
		waitText(t, ctx, `[data-device="`+id+`"] h3`, "revoked")
		waitText(t, ctx, `[data-device="`+id+`"] dl`, "void: revoked")
	}
	screenshot(t, ctx, "offline-reconciled")

	do(chromedp.Click(chromedp.CSS(`nav button[data-tab="overview"]`)))
	waitText(t, ctx, "#tiers", "revoked purses 1")
	waitText(t, ctx, "#figures", "¥15,000 of offline payments the payers' escrow could not cover")
	waitText(t, ctx, "#parts", "✓ Money conserved")
}

// Every open page shows the same room: a wallet, an offline payment with
// its checks and a reconciliation made in one tab appear in another, and
// are still there after a reload; a reset from one page clears every page.
func TestBrowser_EveryPageTheSameRoom(t *testing.T) {
	t.Parallel()
	web := sandbox(t)
	a := browser(t, 1280, 800)
	b := anotherTab(t, a)
	do, doB := doer(t, a), doer(t, b)
	do(chromedp.Navigate(web.URL + "#offline"))
	doB(chromedp.Navigate(web.URL + "#offline"))
	waitText(t, a, "#conn", "live")
	waitText(t, b, "#conn", "live")
	do(chromedp.Click(chromedp.CSS(`nav button[data-tab="wallets"]`)))
	createWallets(t, a, "Mika", "bank-1", "Ken", "bank-2")
	waitText(t, b, "#device-list", "Mika · bank-1")
	waitText(t, b, "#device-list", "Ken · bank-2")
	apiCall(t, a, "POST", "/api/wallets/w1/withdraw", `{"amount": 10000}`)
	apiCall(t, a, "POST", "/api/wallets/w1/offline/fund", `{"amount": 8000}`)
	apiCall(t, a, "POST", "/api/wallets/w2/offline/fund", `{"amount": 0}`)
	apiCall(t, a, "POST", "/api/wallets/w1/offline/pay", `{"to": "w2", "amount": 3000}`)
	waitText(t, b, "#offline-result", "Mika → Ken: ¥3,000 accepted")
	waitText(t, b, "#offline-result .checks", "the payer is not on my revocation list")
	apiCall(t, a, "POST", "/api/wallets/w2/offline/online", `{}`)
	waitText(t, b, "#sync-results", "Ken was paid ¥3,000.")

	doB(chromedp.Reload())
	waitText(t, b, "#conn", "live")
	waitText(t, b, "#offline-result", "Mika → Ken: ¥3,000 accepted")
	waitText(t, b, "#sync-results", "Ken was paid ¥3,000.")
	waitText(t, b, "#device-list", "Mika · bank-1")

	// Reset from the second page: every page empties, and the money is back
	// in the deposit accounts.
	doB(chromedp.Click(chromedp.CSS(`#reset`)), chromedp.WaitVisible(chromedp.CSS(`#reset-dialog`)))
	axeCheck(t, b, "the reset dialog")
	doB(chromedp.Click(chromedp.CSS(`#reset-yes`)))
	waitText(t, b, "#messages", "The room starts afresh: 2 wallets and devices left it, ¥10,000 went back to deposit accounts.")
	// The live feed's reset message may reach the page after the answer
	// did: the page still knows the reset as its own.
	if got := eval[string](t, b, `receive({type: "reset", reset: ownReset}), document.querySelector("#messages").textContent`); !strings.Contains(got, "The room starts afresh") {
		t.Errorf("after its own reset's late message, the page says %q", got)
	}
	waitJS(t, a, "the first page emptied", `document.querySelectorAll("[data-wallet], [data-device], [data-payment], [data-recon]").length === 0`)
	waitText(t, a, "#messages", "The room was reset from another screen.")
	do(chromedp.Click(chromedp.CSS(`nav button[data-tab="overview"]`)))
	waitText(t, a, "#parts", "held in wallets ¥0")
	waitText(t, a, "#parts", "offline purse escrow ¥0")
	waitText(t, a, "#parts", "✓ Money conserved")
}

// The presenter mode takes the room through the story a step at a time,
// on the right tab, in both languages, and closes with Escape.
func TestBrowser_PresenterMode(t *testing.T) {
	t.Parallel()
	web := sandbox(t)
	ctx := browser(t, 1440, 900)
	do := doer(t, ctx)
	do(chromedp.Navigate(web.URL))
	// Each step scrolls its part into view; smoothly, a click made while
	// the page still moves can land beside its button.
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-reduced-motion", Value: "reduce"}}}); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#conn", "live")
	fillRoom(t, ctx)
	do(chromedp.Click(chromedp.CSS(`#presenter-toggle`)))
	tabs := []string{"overview", "banks", "wallets", "wallets", "offline", "offline", "overview", "overview", "scenarios"}
	for i, tab := range tabs {
		waitText(t, ctx, "#presenter-no", fmt.Sprintf("Step %d of %d", i+1, len(tabs)))
		if open := eval[bool](t, ctx, `!document.getElementById("`+tab+`").hidden`); !open {
			t.Errorf("step %d: tab %s not shown", i+1, tab)
		}
		if txt := eval[string](t, ctx, `document.getElementById("presenter-text").textContent`); len(txt) < 80 {
			t.Errorf("step %d says too little: %q", i+1, txt)
		}
		if i == 4 {
			screenshot(t, ctx, "presenter")
		}
		if i < len(tabs)-1 {
			do(chromedp.Click(chromedp.CSS(`#presenter-next`)))
		}
	}
	waitText(t, ctx, "#presenter-next", "Finish")
	do(chromedp.Click(chromedp.CSS(`#presenter-back`)))
	waitText(t, ctx, "#presenter-no", "Step 8 of 9")
	do(chromedp.Click(chromedp.CSS(`[data-lang="ja"]`)))
	waitText(t, ctx, "#presenter-no", "ステップ 8／9")
	waitText(t, ctx, "#presenter-title", "通貨の総額は保たれる")
	do(chromedp.KeyEvent("\x1b")) // Escape
	waitJS(t, ctx, "presenter mode closed", `document.getElementById("presenter").hidden && document.activeElement.id === "presenter-toggle"`)
}

// In Japanese every word on the page changes, yen read 1,234円, times are
// 24-hour, and the choice survives a reload.
func TestBrowser_Japanese(t *testing.T) {
	t.Parallel()
	web := sandbox(t)
	ctx := browser(t, 1440, 900)
	do := doer(t, ctx)
	do(chromedp.Navigate(web.URL))
	waitText(t, ctx, "#conn", "live")
	do(chromedp.Click(chromedp.CSS(`[data-lang="ja"]`)))
	waitText(t, ctx, "nav", "概要")
	waitText(t, ctx, "#tiers", "流通するデジタル円 200,000,000円")
	waitText(t, ctx, "#parts", "通貨の総額は一致しています")
	if l := eval[string](t, ctx, `document.documentElement.lang`); l != "ja" {
		t.Errorf("html lang %q", l)
	}
	do(chromedp.Click(chromedp.CSS(`nav button[data-tab="wallets"]`)),
		chromedp.SetValue(chromedp.CSS(`#new-wallet input[name="name"]`), "花子"),
		chromedp.Click(chromedp.CSS(`#new-wallet button[type="submit"]`)))
	waitText(t, ctx, "#new-wallet .msgs", "花子さんのウォレットをbank-1に開設しました。")
	createWallets(t, ctx, "太郎", "bank-2")
	do(chromedp.SetValue(chromedp.CSS(`[data-wallet="w1"] form.charge input[name="amount"]`), "12000"),
		chromedp.Click(chromedp.CSS(`[data-wallet="w1"] button[name="withdraw"]`)))
	waitText(t, ctx, `[data-wallet="w1"] .balance`, "12,000円")
	waitText(t, ctx, `[data-wallet="w1"] .msgs`, "預金口座から12,000円をチャージしました。")
	do(chromedp.SetValue(chromedp.CSS(`[data-wallet="w1"] form.pay input[name="amount"]`), "30000"),
		chromedp.Click(chromedp.CSS(`[data-wallet="w1"] button[name="pay"]`)))
	waitText(t, ctx, `[data-wallet="w1"] .msgs`, "残高が足りません")
	screenshot(t, ctx, "wallets-ja")
	times := eval[[]string](t, ctx, `[...document.querySelectorAll("#feed-list time")].slice(0, 5).map((e) => e.textContent)`)
	clock := regexp.MustCompile(`^\d{1,2}:\d{2}:\d{2}$`)
	for _, tm := range times {
		if !clock.MatchString(tm) || strings.ContainsAny(tm, "AMP午前後") {
			t.Errorf("feed time %q is not a 24-hour time", tm)
		}
	}
	do(chromedp.Reload())
	waitText(t, ctx, "nav", "オフライン実験")
	waitText(t, ctx, `[data-wallet="w1"] .balance`, "12,000円")
	do(chromedp.Click(chromedp.CSS(`nav button[data-tab="overview"]`)))
	waitText(t, ctx, "#parts", "ウォレット内 12,000円")
	screenshot(t, ctx, "overview-ja")
	do(chromedp.Click(chromedp.CSS(`[data-lang="en"]`)))
	waitText(t, ctx, `[data-wallet="w1"] .balance`, "¥12,000")
}

// At phone width every tab fits the screen (nothing scrolls sideways) and
// the diagrams' words are as large as the page's small print.
func TestBrowser_PhoneWidth(t *testing.T) {
	t.Parallel()
	web := sandbox(t)
	ctx := browser(t, 390, 844)
	do := doer(t, ctx)
	do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Navigate(web.URL))
	waitText(t, ctx, "#conn", "live")
	fillRoom(t, ctx)
	for _, tab := range []string{"overview", "banks", "wallets", "offline", "scenarios", "feed"} {
		do(chromedp.Click(chromedp.CSS(`nav button[data-tab="` + tab + `"]`)))
		time.Sleep(300 * time.Millisecond) // a frame to draw at the new width
		if wide := eval[bool](t, ctx, `document.documentElement.scrollWidth > window.innerWidth + 1`); wide {
			what := eval[string](t, ctx, `[...document.querySelectorAll("body *")].filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1).slice(0, 3).map((e) => e.tagName + "." + e.className).join(", ")`)
			t.Errorf("%s: the page scrolls sideways at phone width (%s)", tab, what)
		}
		if tab == "overview" || tab == "feed" {
			svg := map[string]string{"overview": "#tiers", "feed": "#sequence"}[tab]
			h := eval[float64](t, ctx, `Math.min(...[...document.querySelectorAll("`+svg+` text")].map((e) => e.getBoundingClientRect().height))`)
			if h < 11 {
				t.Errorf("%s: the diagram's smallest text is %.1f px high at phone width", tab, h)
			}
		}
		screenshot(t, ctx, "phone-"+tab)
	}
}

// fillRoom puts two wallets, purses, an offline payment and a
// reconciliation in the room through the API, as the page would.
func fillRoom(t *testing.T, ctx context.Context) {
	t.Helper()
	apiCall(t, ctx, "POST", "/api/wallets", `{"name": "Hanako", "bank": "bank-1"}`)
	apiCall(t, ctx, "POST", "/api/wallets", `{"name": "Taro Yamada-Fujiwara", "bank": "bank-2"}`)
	apiCall(t, ctx, "POST", "/api/wallets/w1/withdraw", `{"amount": 30000}`)
	apiCall(t, ctx, "POST", "/api/wallets/w1/pay", `{"to": "w2", "amount": 1200}`)
	apiCall(t, ctx, "POST", "/api/wallets/w2/request", `{"to": "w1", "amount": 700, "memo": "coffee"}`)
	apiCall(t, ctx, "POST", "/api/wallets/w1/offline/fund", `{"amount": 10000}`)
	apiCall(t, ctx, "POST", "/api/wallets/w2/offline/fund", `{"amount": 0}`)
	apiCall(t, ctx, "POST", "/api/wallets/w1/offline/offline", `{}`)
	apiCall(t, ctx, "POST", "/api/wallets/w1/offline/pay", `{"to": "w2", "amount": 2500}`)
	apiCall(t, ctx, "POST", "/api/wallets/w2/offline/online", `{}`)
	waitText(t, ctx, "#sync-results", "paid")
}

// The page works by keyboard: a skip link first, Tab reaches the sections,
// Enter opens one and submits a form, and focus stays on the control acted
// on, even though it is busy while the sandbox answers.
func TestBrowser_Keyboard(t *testing.T) {
	t.Parallel()
	web := sandbox(t)
	ctx := browser(t, 1280, 800)
	do := doer(t, ctx)
	do(chromedp.Navigate(web.URL))
	waitText(t, ctx, "#conn", "live")
	do(chromedp.KeyEvent("\t"))
	if c := eval[string](t, ctx, `document.activeElement.className`); c != "skip" {
		t.Errorf("the first Tab reaches %q, not the skip link", c)
	}
	do(chromedp.KeyEvent("\r"))
	waitJS(t, ctx, "the skip link moved focus to the content", `document.activeElement.id === "main"`)

	do(chromedp.Focus(chromedp.CSS(`nav button[data-tab="overview"]`)), chromedp.KeyEvent("\t"), chromedp.KeyEvent("\t"), chromedp.KeyEvent("\r"))
	if open := eval[bool](t, ctx, `!document.querySelector("#wallets").hidden && document.activeElement.dataset.tab === "wallets"`); !open {
		t.Error("Tab, Tab, Enter from Overview did not open Wallets")
	}
	do(chromedp.Focus(chromedp.CSS(`#new-wallet input[name="name"]`)), chromedp.KeyEvent("Kenji"), chromedp.KeyEvent("\r"))
	waitText(t, ctx, "#wallet-list", "Kenji · bank-1")
	charge := `[data-wallet="w1"] button[name="withdraw"]`
	do(chromedp.Focus(chromedp.CSS(charge)), chromedp.KeyEvent("\r"))
	waitText(t, ctx, `[data-wallet="w1"] .msgs`, "Charged ¥20,000")
	if kept := eval[bool](t, ctx, `document.activeElement === document.querySelector('`+charge+`')`); !kept {
		t.Errorf("after charging, focus is on %q, not the button pressed", eval[string](t, ctx, `document.activeElement.outerHTML.slice(0, 80)`))
	}
	// The focus ring stands out from the page: at least 3:1 against white.
	ring := eval[string](t, ctx, `getComputedStyle(document.querySelector('`+charge+`')).outlineColor`)
	if c := contrastOnWhite(t, ring); c < 3 {
		t.Errorf("focus ring %s has %.1f:1 contrast on white", ring, c)
	}
}

// contrastOnWhite is the WCAG contrast ratio of an rgb() colour on white.
func contrastOnWhite(t *testing.T, rgb string) float64 {
	t.Helper()
	var r, g, b float64
	if _, err := fmt.Sscanf(rgb, "rgb(%g, %g, %g)", &r, &g, &b); err != nil {
		t.Fatalf("colour %q: %v", rgb, err)
	}
	lin := func(c float64) float64 {
		c /= 255
		if c <= 0.03928 {
			return c / 12.92
		}
		return math.Pow((c+0.055)/1.055, 2.4)
	}
	l := 0.2126*lin(r) + 0.7152*lin(g) + 0.0722*lin(b)
	return 1.05 / (l + 0.05)
}

// No WCAG 2.1 AA violations that axe-core finds, on every tab in both
// languages with the room full, with the presenter's panel open; and the
// page asks nothing of any host but the sandbox.
func TestBrowser_AccessibleAndSelfContained(t *testing.T) {
	t.Parallel()
	web := sandbox(t)
	ctx := browser(t, 1280, 800)
	foreign := watchHosts(t, ctx, web.URL)
	do := doer(t, ctx)
	do(chromedp.Navigate(web.URL))
	waitText(t, ctx, "#conn", "live")
	fillRoom(t, ctx)
	apiCall(t, ctx, "POST", "/api/wallets/w1/offline/clone", `{}`)
	for _, lang := range []string{"en", "ja"} {
		do(chromedp.Click(chromedp.CSS(`[data-lang="` + lang + `"]`)))
		for _, tab := range []string{"overview", "banks", "wallets", "offline", "scenarios", "feed"} {
			do(chromedp.Click(chromedp.CSS(`nav button[data-tab="` + tab + `"]`)))
			if tab == "banks" {
				do(chromedp.Click(chromedp.CSS(`[data-bank="bank-1"] button.customers`)))
				waitText(t, ctx, `[data-bank="bank-1"] .customer-list`, "Hanako")
			}
			time.Sleep(200 * time.Millisecond)
			axeCheck(t, ctx, lang+" "+tab)
		}
		do(chromedp.Click(chromedp.CSS(`#presenter-toggle`)))
		axeCheck(t, ctx, lang+" presenter mode")
		do(chromedp.Click(chromedp.CSS(`#presenter-close`)))
		if lang == "ja" {
			// No English sentence of the page's is left on it in Japanese:
			// every fixed English string, looked for in the page's text
			// (voucher texts, addresses and technical detail aside).
			left := eval[[]string](t, ctx, `(() => {
				const page = document.body.cloneNode(true);
				page.querySelectorAll("textarea, .addr, pre, script, [lang=en]").forEach((e) => e.remove());
				const text = page.textContent;
				return Object.entries(WORDS.en).filter(([k, v]) => k !== "name_ph" && typeof v === "string" && v.length > 4 && WORDS.ja[k] !== v && text.includes(v)).map(([k, v]) => k + ": " + v);
			})()`)
			if len(left) > 0 {
				t.Errorf("English left on the Japanese page: %q", left)
			}
			if txt := eval[string](t, ctx, `document.querySelector("#scenario-list").textContent`); !strings.Contains(txt, "発表向けの1分間") {
				t.Errorf("the demo scenario is not described in Japanese: %.200q", txt)
			}
		}
	}
	if got := eval[string](t, ctx, `fetch("/favicon.ico").then((r) => r.headers.get("Content-Type"))`); !strings.HasPrefix(got, "image/svg") {
		t.Errorf("favicon served as %q", got)
	}
	if f := foreign(); len(f) > 0 {
		t.Errorf("the page asked other hosts for %v", f)
	}
}

// A scenario started from the page shows its progress with every run
// button disabled, then its figures and the report's charts in a frame as
// tall as the report; developer scenarios are listed apart.
func TestBrowser_ScenarioRuns(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs the demo scenario for a minute")
	}
	web := sandbox(t)
	ctx := browser(t, 1440, 900)
	do := doer(t, ctx)
	do(chromedp.Navigate(web.URL + "#scenarios"))
	waitText(t, ctx, "#scenario-list", "Run demo")
	if first := eval[string](t, ctx, `document.querySelector("#scenario-list [data-run]").dataset.run`); first != "demo" {
		t.Errorf("the first scenario offered to the room is %q, not demo", first)
	}
	if dev := eval[string](t, ctx, `[...document.querySelectorAll("#scenario-dev [data-run]")].map((b) => b.dataset.run).join(" ")`); !strings.Contains(dev, "soak") {
		t.Errorf("developer scenarios listed apart: %q", dev)
	}
	do(chromedp.Click(chromedp.CSS(`[data-run="demo"]`)))
	waitText(t, ctx, "#scenarios .msgs", "Scenario demo started.")
	if n := eval[int](t, ctx, `[...document.querySelectorAll("[data-run]")].filter((b) => !b.disabled).length`); n != 0 {
		t.Errorf("%d run buttons enabled once the scenario started", n)
	}
	waitText(t, ctx, "#scenario-run", "demo: running")
	if n := eval[int](t, ctx, `[...document.querySelectorAll("[data-run]")].filter((b) => !b.disabled).length`); n != 0 {
		t.Errorf("%d run buttons enabled while a scenario runs", n)
	}
	screenshot(t, ctx, "scenario-running")
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`/demo: (done|failed)/.test(document.querySelector("#scenario-run").textContent)`,
		chromedp.WithPollingTimeout(150*time.Second))); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#scenario-run", "demo: done")
	waitText(t, ctx, "#scenario-run", "conserved")
	waitText(t, ctx, "#scenario-run", "1 / 1")
	waitJS(t, ctx, "the report's charts showed", `(() => { const f = document.querySelector("iframe.report"); return !!f && !!f.contentDocument && f.contentDocument.querySelectorAll("svg").length >= 4; })()`)
	waitJS(t, ctx, "the frame fitted its report", `(() => { const f = document.querySelector("iframe.report"); return f.getBoundingClientRect().height + 2 >= f.contentDocument.documentElement.scrollHeight; })()`)
	if n := eval[int](t, ctx, `[...document.querySelectorAll("[data-run]")].filter((b) => b.disabled).length`); n != 0 {
		t.Errorf("%d run buttons still disabled after the run", n)
	}
	screenshot(t, ctx, "scenario-done")
}

// The accessibility check is not blind: a button with no name and an
// image with no text, planted in the page, are both found.
func TestBrowser_AxeFindsPlantedViolations(t *testing.T) {
	t.Parallel()
	web := sandbox(t)
	ctx := browser(t, 1280, 800)
	doer(t, ctx)(chromedp.Navigate(web.URL))
	waitText(t, ctx, "#conn", "live")
	eval[bool](t, ctx, `(() => { const m = document.querySelector("main");
		m.appendChild(document.createElement("button"));
		const i = document.createElement("img"); i.src = "favicon.svg"; m.appendChild(i); return true; })()`)
	found := strings.Join(axeViolations(t, ctx), "\n")
	for _, rule := range []string{"button-name", "image-alt"} {
		if !strings.Contains(found, rule) {
			t.Errorf("axe did not find the planted %s violation; it found:\n%s", rule, found)
		}
	}
}
