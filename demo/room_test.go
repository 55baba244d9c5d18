package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/bankadmin"
	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/ledger/settlement"
	"github.com/digital-yen/cbdc-sandbox/protocol"
	sbx "github.com/digital-yen/cbdc-sandbox/sandbox"
)

// roomRig is a sandbox the test can stop and start again, part by part,
// from its files: the ledger with offline settlement, two banks serving
// wallets on loopback, and the demo in front of them keeping its room in
// a data directory.
type roomRig struct {
	t    *testing.T
	dir  string
	http *http.Client

	central *sbx.Central
	l       *ledger.Ledger
	st      *settlement.Settler
	banks   []*sbx.Bank
	addrs   []string // the banks' wallet listeners, as the demo is told them
	demo    *Server
	web     *httptest.Server
}

// rigConfig is the rig's sandbox: two banks with 50,000,000 yen of float
// each, on free ports.
func (r *roomRig) rigConfig() sbx.Config {
	cfg := sbx.Defaults()
	cfg.Dir, cfg.Banks, cfg.Float, cfg.Listen = r.dir, 2, 50_000_000, "127.0.0.1:0"
	return cfg
}

func newRoomRig(t *testing.T) *roomRig {
	t.Helper()
	r := &roomRig{t: t, dir: t.TempDir(), http: &http.Client{Timeout: time.Minute}}
	t.Cleanup(r.stopAll)
	r.startCentral()
	r.startBanks()
	r.startDemo()
	return r
}

// in is the rig as a subtest uses it: failures are the subtest's.
func (r *roomRig) in(t *testing.T) *roomRig {
	c := *r
	c.t = t
	return &c
}

func (r *roomRig) roomDir() string { return filepath.Join(r.dir, "demo") }

// startCentral opens the ledger and offline settlement, with the banks'
// accounts and float on a first start.
func (r *roomRig) startCentral() {
	r.t.Helper()
	cfg := r.rigConfig()
	c, err := sbx.OpenCentral(context.Background(), sbx.CentralConfig{Dir: filepath.Join(r.dir, "ledger"), Banks: cfg.Banks,
		Float: cfg.Float, Policy: cfg.Policy})
	if err != nil {
		r.t.Fatal(err)
	}
	r.central, r.l, r.st = c, c.Ledger, c.Settler
}

// startBanks opens the banks from their files, each on a new port.
func (r *roomRig) startBanks() {
	r.t.Helper()
	banks, err := sbx.StartBanks(context.Background(), r.central, r.rigConfig())
	if err != nil {
		r.t.Fatal(err)
	}
	r.banks = banks
	for _, b := range banks {
		r.addrs = append(r.addrs, b.Addr)
	}
}

func (r *roomRig) startDemo() {
	r.t.Helper()
	st := r.st
	cfg := Config{Ledger: r.l, Offline: Settling(func() *settlement.Settler { return st }), Dir: r.roomDir()}
	for i, b := range r.banks {
		cfg.Banks = append(cfg.Banks, Bank{Bank: b.Bank, WalletURL: "ws://" + r.addrs[i] + protocol.Path})
	}
	d, err := New(cfg)
	if err != nil {
		r.t.Fatal(err)
	}
	r.demo, r.web = d, httptest.NewServer(d.Handler())
}

func (r *roomRig) stopDemo() {
	if r.web != nil {
		r.web.Close()
		r.web = nil
	}
	if r.demo != nil {
		if err := r.demo.Close(); err != nil {
			r.t.Errorf("demo: close: %v", err)
		}
		r.demo = nil
	}
}

func (r *roomRig) stopBanks() {
	for _, b := range r.banks {
		if err := b.Stop(); err != nil {
			r.t.Errorf("%s: stop: %v", b.ID(), err)
		}
	}
	r.banks, r.addrs = nil, nil
}

func (r *roomRig) stopCentral() {
	if r.central != nil {
		if err := r.central.Close(); err != nil {
			r.t.Errorf("central: close: %v", err)
		}
		r.central, r.l, r.st = nil, nil, nil
	}
}

func (r *roomRig) stopAll() {
	r.stopDemo()
	r.stopBanks()
	r.stopCentral()
}

// restartDemo starts a new demo on the same data directory, ledger and
// banks.
func (r *roomRig) restartDemo() {
	r.t.Helper()
	r.stopDemo()
	r.startDemo()
}

// restartSandbox stops everything and opens it again from its files.
func (r *roomRig) restartSandbox() {
	r.t.Helper()
	r.stopAll()
	r.startCentral()
	r.startBanks()
	r.startDemo()
}

// seen is a wallet as the page shows it, less what changes with every
// look (the view's number) or with the session (connected, its error).
func seen(ws []WalletView) []WalletView {
	out := make([]WalletView, 0, len(ws))
	for _, w := range ws {
		w.Seq, w.Connected, w.Error = 0, false, ""
		out = append(out, w)
	}
	slices.SortFunc(out, func(a, b WalletView) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// sameSettings shows each clone with its owner's settings, which
// TestOffline_CloneShowsOwnersSettings checks.
func sameSettings(ws []WalletView) []WalletView {
	for i, w := range ws {
		for _, o := range ws {
			if w.Clone && o.Name == w.CloneOf {
				ws[i].Waterfall, ws[i].AutoCharge = o.Waterfall, o.AutoCharge
			}
		}
	}
	return ws
}

// quiet waits until four looks at the room a moment apart agree, so what
// the banks push in the background has arrived, and returns it.
func (r *roomRig) quiet() []WalletView {
	r.t.Helper()
	var last []WalletView
	looks := 0 // alike in a row
	r.eventually("the room settles", func() (bool, string) {
		cur := seen(r.wallets())
		if last != nil && jsonEqual(cur, last) {
			looks++
		} else {
			looks = 0
		}
		last = cur
		if looks < 3 {
			time.Sleep(200 * time.Millisecond)
		}
		return looks >= 3, "still changing"
	})
	return last
}

// connected waits until every wallet and device has its session.
func (r *roomRig) connected() {
	r.t.Helper()
	r.eventually("every wallet reconnects", func() (bool, string) {
		for _, w := range r.wallets() {
			if !w.Connected || w.Error != "" {
				return false, fmt.Sprintf("%s: connected %v, %s", w.ID, w.Connected, w.Error)
			}
		}
		return true, ""
	})
}

// roomLog is the log a page opened now receives: n payments and
// reconciliations, as JSON, oldest first.
func (r *roomRig) roomLog(n int) []string {
	r.t.Helper()
	f := r.openLive()
	var out []string
	r.eventually(fmt.Sprintf("a new page receives the log of %d", n), func() (bool, string) {
		out = nil
		for _, m := range f.received("payment", "reconciliation") {
			if m.Payment != nil {
				out = append(out, "payment "+string(mustJSON(m.Payment)))
			} else {
				out = append(out, "reconciliation "+string(mustJSON(m.Reconciliation)))
			}
		}
		// the replay starts with a state message and the log ends it:
		// a second state message, pushed live, comes after it
		states := len(f.received("state"))
		return len(out) >= n && states > 1, fmt.Sprintf("%d entries, %d state messages", len(out), states)
	})
	return out
}

// secondState accepts the page's second state message: the first opens
// what a page receives when it opens, the second is pushed after it.
func secondState(f *liveFeed) func(message) bool {
	return func(message) bool { return len(f.received("state")) > 1 }
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// The room survives a restart of the demo alone and of the whole sandbox:
// the same wallets, balances, purses and their counters, settings,
// online or offline, the cloned device, the notes, the request waiting
// for approval and the log. A voucher signed before the restart settles
// after it.
func TestRoom_SurvivesRestart(t *testing.T) {
	for _, whole := range []bool{false, true} {
		name := "demo"
		if whole {
			name = "sandbox"
		}
		t.Run(name, func(t *testing.T) {
			r := newRoomRig(t)
			aiko, ben, chie := r.newWallet("Aiko", "bank-1"), r.newWallet("Ben", "bank-2"), r.newWallet("Chie", "bank-1")
			r.act(aiko.ID, "withdraw", map[string]any{"amount": 40_000})
			r.act(aiko.ID, "pay", map[string]any{"to": chie.ID, "amount": 1000})
			r.act(aiko.ID, "settings", map[string]any{"waterfall": !aiko.Waterfall, "auto_charge": !aiko.AutoCharge})
			r.fund(aiko.ID, 30_000)
			r.fund(ben.ID, 0)
			r.fund(chie.ID, 0)
			ask := r.askAndWait(ben, aiko, 2500, "lunch")
			r.goOffline(aiko.ID)
			r.goOffline(ben.ID)
			p := r.payOffline(aiko.ID, ben.ID, 5000)
			clone := r.clone(aiko.ID)
			r.payOffline(clone.ID, chie.ID, 7000)
			r.sync(chie.ID)
			r.hasNote(chie.ID, "payment_in", 1000)
			r.balanceIs(chie.ID, 8000)

			before := sameSettings(r.quiet())
			log := r.roomLog(3)
			stBefore := r.conserved("before the restart")
			if whole {
				r.restartSandbox()
			} else {
				r.restartDemo()
			}
			r.connected()
			after := sameSettings(r.quiet())
			if !jsonEqual(before, after) {
				for i := range max(len(before), len(after)) {
					var b, a WalletView
					if i < len(before) {
						b = before[i]
					}
					if i < len(after) {
						a = after[i]
					}
					if !jsonEqual(a, b) {
						t.Errorf("wallet %d changed across the restart:\nbefore %s\nafter  %s", i, mustJSON(b), mustJSON(a))
					}
				}
			}
			if got := r.roomLog(3); !slices.Equal(got, log) {
				t.Errorf("the log changed across the restart:\nbefore %q\nafter  %q", log, got)
			}
			st := r.conserved("after the restart")
			if st.OnDevices != stBefore.OnDevices || st.OnDeviceCount != stBefore.OnDeviceCount || st.Exposure != stBefore.Exposure {
				t.Errorf("on devices %d (%d vouchers), exposure %d after the restart; before %d (%d), %d",
					st.OnDevices, st.OnDeviceCount, st.Exposure, stBefore.OnDevices, stBefore.OnDeviceCount, stBefore.Exposure)
			}

			// The voucher Ben's purse took before the restart settles after it.
			rec := r.sync(ben.ID)
			settled := false
			for _, v := range rec.Vouchers {
				if v.Hash == p.Hash && v.Outcome == "settled" && v.Amount == 5000 {
					settled = true
				}
			}
			if !settled {
				t.Errorf("Ben's voucher from before the restart did not settle: %s", mustJSON(rec))
			}
			r.balanceIs(ben.ID, 5000)

			// The request Ben sent before the restart is still Aiko's to approve.
			r.sync(aiko.ID)
			r.act(aiko.ID, "approve", map[string]any{"ref": ask.Ref})
			r.balanceIs(ben.ID, 7500)
			r.balanceIs(aiko.ID, 6500)
			r.hasNote(ben.ID, "request_paid", 2500)
			r.conserved("after settling")

			// Ids go on from where the room was.
			if dai := r.newWallet("Dai", "bank-2"); dai.ID != "w5" {
				t.Errorf("the first wallet after the restart is %s, want w5", dai.ID)
			}
		})
	}
}

// The room keeps its last 40 payments and reconciliations across a
// restart, not fewer, once it has made more than that.
func TestRoom_LogKeptPastItsLimit(t *testing.T) {
	r := newRoomRig(t)
	aiko, ben := r.newWallet("Aiko", "bank-1"), r.newWallet("Ben", "bank-2")
	r.act(aiko.ID, "withdraw", map[string]any{"amount": 1000})
	r.fund(aiko.ID, 1000)
	r.fund(ben.ID, 0)
	r.goOffline(aiko.ID)
	r.goOffline(ben.ID)
	const n = 45 // past the purse's payments before a sync, too: those are refused, and logged
	for range n {
		r.call("/api/wallets/"+aiko.ID+"/offline/pay", map[string]any{"to": ben.ID, "amount": 1}, http.StatusOK, nil)
	}
	before := r.roomLog(maxLog)
	if len(before) != maxLog {
		t.Fatalf("a page receives %d log entries, want %d", len(before), maxLog)
	}
	r.restartDemo()
	after := r.roomLog(0)
	if !slices.Equal(before, after) {
		t.Errorf("after the restart a page receives %d log entries, before it %d", len(after), len(before))
	}
}

// deposits are the demo customers' deposit accounts at both banks, by name.
func (r *roomRig) deposits() map[string]int64 {
	r.t.Helper()
	out := map[string]int64{}
	for _, b := range []string{"bank-1", "bank-2"} {
		var list struct {
			Customers []bankadmin.CustomerInfo `json:"customers"`
		}
		r.get("/api/banks/"+b+"/customers", &list)
		for _, c := range list.Customers {
			out[c.Name] += c.Deposit
		}
	}
	return out
}

// Resetting the room hands every device's vouchers in, returns what each
// wallet and its purse hold to the customer's deposit account, forgets
// the wallets and the log, on disk too, and tells every open page. The
// ledger's wallets hold what they held before the room had any; only the
// escrow of a revoked purse stays, and the summary says so.
func TestRoom_ResetReturnsTheMoney(t *testing.T) {
	r := newRoomRig(t)
	base := r.conserved("before the room has wallets").Totals
	pages := []*liveFeed{r.openLive(), r.openLive()}
	aiko, ben, chie := r.newWallet("Aiko", "bank-1"), r.newWallet("Ben", "bank-2"), r.newWallet("Chie", "bank-1")
	r.act(aiko.ID, "withdraw", map[string]any{"amount": 60_000})
	r.act(ben.ID, "withdraw", map[string]any{"amount": 3000})
	r.fund(aiko.ID, 50_000)
	r.fund(ben.ID, 2000)
	r.fund(chie.ID, 0)
	r.askAndWait(ben, aiko, 1000, "left waiting")
	for _, w := range []WalletView{aiko, ben, chie} {
		r.goOffline(w.ID)
	}
	r.payOffline(aiko.ID, ben.ID, 5000)
	clone := r.clone(aiko.ID)
	r.payOffline(aiko.ID, ben.ID, 20_000)
	r.payOffline(clone.ID, chie.ID, 20_000) // a double spend the reset finds
	r.payOffline(ben.ID, chie.ID, 500)
	r.conserved("before the reset")

	var sum ResetSummary
	r.call("/api/room/reset", struct{}{}, http.StatusOK, &sum)
	// Aiko's escrow paid 45,000 of its 50,000 and keeps the rest, revoked;
	// Ben returns 1,000 online, 25,000 paid him and 1,500 left in his
	// purse; Chie 20,500 paid her; Aiko 10,000 online.
	// Nine vouchers are handed in; the count leaves out those of a device
	// whose receipt could not be applied (Aiko's, once her clone's voucher
	// holds her counter), so it is not checked here.
	t.Logf("vouchers handed in: %d", sum.Synced)
	want := ResetSummary{Reset: 1, Wallets: 4, Synced: sum.Synced, ToDeposits: 58_000, FromPurses: 1500, LeftInEscrow: 5000}
	if sum != want {
		t.Errorf("reset summary %+v, want %+v", sum, want)
	}
	st := r.conserved("after the reset")
	if st.Totals.Wallets != base.Wallets || st.Totals.Escrow != base.Escrow+sum.LeftInEscrow {
		t.Errorf("after the reset wallets hold %d and escrow %d; before the room %d and %d, left in escrow %d",
			st.Totals.Wallets, st.Totals.Escrow, base.Wallets, base.Escrow, sum.LeftInEscrow)
	}
	if st.WalletCount != 0 || st.OnDevices != 0 || st.OnDeviceCount != 0 || st.Exposure != st.Offline.PendingAmount {
		t.Errorf("after the reset the overview shows %d wallets, %d yen on %d vouchers on devices, exposure %d",
			st.WalletCount, st.OnDevices, st.OnDeviceCount, st.Exposure)
	}
	if got, want := r.deposits(), map[string]int64{"Aiko": 150_000, "Ben": 224_500, "Chie": 220_500}; !jsonEqual(got, want) {
		t.Errorf("deposits after the reset %v, want %v", got, want)
	}
	if ws := r.wallets(); len(ws) != 0 {
		t.Errorf("the room still has %d wallets after the reset", len(ws))
	}
	for i, f := range pages {
		r.waitFor(f, fmt.Sprintf("page %d: the reset", i), func(m message) bool { return m.Type == "reset" })
	}
	late := r.openLive()
	r.waitFor(late, "a state pushed after the page's first", secondState(late))
	if got := late.received("wallet", "payment", "reconciliation"); len(got) != 0 {
		t.Errorf("a page opened after the reset receives the old room: %s", typesOf(got))
	}
	for _, f := range append(pages, late) {
		r.allConserved(f)
	}
	for _, id := range []string{aiko.ID, ben.ID, chie.ID, clone.ID} {
		if e := r.refused("/api/wallets/"+id+"/withdraw", map[string]int{"amount": 1}); e.Code != "no_such_wallet" {
			t.Errorf("an old page's %s: code %q (%s), want no_such_wallet", id, e.Code, e.Message)
		}
	}

	// On disk too: a restart shows the empty room, and ids go on.
	r.restartDemo()
	if ws := r.wallets(); len(ws) != 0 {
		t.Errorf("a restart after the reset shows %d wallets", len(ws))
	}
	if log := r.roomLog(0); len(log) != 0 {
		t.Errorf("a restart after the reset shows a log of %d", len(log))
	}
	dai, aiko2 := r.newWallet("Dai", "bank-2"), r.newWallet("Aiko", "bank-1")
	if dai.ID != "w5" || aiko2.ID != "w6" {
		t.Errorf("the wallets made after the reset are %s and %s, want w5 and w6", dai.ID, aiko2.ID)
	}
	r.restartDemo()
	if ws := seen(r.wallets()); len(ws) != 2 || ws[0].ID != dai.ID || ws[1].ID != aiko2.ID {
		t.Errorf("after another restart the room is %s", mustJSON(ws))
	}
}

// stallReset starts a reset and holds it on the wallet's device, as a
// sync that takes long would, until the test lets it go; it returns once
// the reset has begun.
func (r *roomRig) stallReset(page *liveFeed, id string) (release func() (int, []byte)) {
	r.t.Helper()
	// the page draws the wallet first, which takes the lock held below
	r.waitFor(page, "a state pushed after the page's first", secondState(page))
	dw := r.demo.wallet(id)
	dw.mu.Lock()
	type answer struct {
		status int
		body   []byte
	}
	done := make(chan answer, 1)
	go func() {
		status, body, err := r.send("/api/room/reset", "{}")
		if err != nil {
			body = []byte(err.Error())
		}
		done <- answer{status, body}
	}()
	held := true
	r.t.Cleanup(func() {
		if held {
			dw.mu.Unlock()
			<-done
		}
	})
	r.waitFor(page, "the reset beginning", func(m message) bool { return m.Type == "event" && m.Event.Kind == "reset_start" })
	return func() (int, []byte) {
		held = false
		dw.mu.Unlock()
		a := <-done
		return a.status, a.body
	}
}

// One reset at a time: a second while the first runs is refused.
func TestRoom_ResetOneAtATime(t *testing.T) {
	r := newRoomRig(t)
	aiko := r.newWallet("Aiko", "bank-1")
	r.act(aiko.ID, "withdraw", map[string]any{"amount": 1000})
	release := r.stallReset(r.openLive(), aiko.ID)
	if e := r.refused("/api/room/reset", struct{}{}); e.Code != "reset_running" {
		t.Errorf("a second reset: code %q (%s), want reset_running", e.Code, e.Message)
	}
	if status, body := release(); status != http.StatusOK {
		t.Fatalf("the first reset: status %d: %s", status, body)
	}
	r.conserved("after the reset")
	var sum ResetSummary
	r.call("/api/room/reset", struct{}{}, http.StatusOK, &sum)
	if sum != (ResetSummary{Reset: 2}) {
		t.Errorf("the second reset, of an empty room: %+v", sum)
	}
}

// A wallet made while the room is being reset is either refused or kept
// with its money: it never drops out of the room with CBDC still in it.
func TestRoom_ResetKeepsWalletsMadeDuringIt(t *testing.T) {
	r := newRoomRig(t)
	base := r.state().Totals
	aiko := r.newWallet("Aiko", "bank-1")
	release := r.stallReset(r.openLive(), aiko.ID)
	status, body := r.post("/api/wallets", `{"name":"Late","bank":"bank-2"}`)
	var late WalletView
	made := status == http.StatusCreated
	if made {
		if err := json.Unmarshal(body, &late); err != nil {
			t.Fatal(err)
		}
		r.act(late.ID, "withdraw", map[string]any{"amount": 4000})
	} else {
		r.checkRefusal("a wallet made during the reset", status, body)
	}
	if status, body := release(); status != http.StatusOK {
		t.Fatalf("the reset: status %d: %s", status, body)
	}
	st := r.conserved("after the reset")
	if !made {
		return
	}
	kept := false
	for _, w := range r.wallets() {
		kept = kept || w.ID == late.ID && w.Balance == 4000
	}
	if !kept && st.Totals.Wallets != base.Wallets {
		t.Errorf("the wallet made during the reset (%s) left the room with its CBDC: wallets hold %d, before the room %d",
			late.ID, st.Totals.Wallets, base.Wallets)
	}
	r.restartDemo()
	kept = false
	for _, w := range r.wallets() {
		kept = kept || w.ID == late.ID
	}
	if !kept && r.state().Totals.Wallets != base.Wallets {
		t.Errorf("after a restart the wallet made during the reset is gone, with %d yen of CBDC", r.state().Totals.Wallets-base.Wallets)
	}
}

// A reset belongs to the sandbox, not to the page that asked: the page
// going away halfway does not leave the room half reset.
func TestRoom_ResetOutlivesItsPage(t *testing.T) {
	r := newRoomRig(t)
	base := r.state().Totals
	aiko := r.newWallet("Aiko", "bank-1")
	r.act(aiko.ID, "withdraw", map[string]any{"amount": 10_000})
	r.fund(aiko.ID, 4000)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, r.web.URL+"/api/room/reset", strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	if resp, err := r.http.Do(req); err == nil {
		resp.Body.Close()
	}
	r.eventually("the reset to finish without its page", func() (bool, string) {
		st := r.state()
		return st.WalletCount == 0 && st.Totals.Wallets == base.Wallets && st.Totals.Escrow == base.Escrow,
			fmt.Sprintf("%d wallets, wallets hold %d (before %d), escrow %d (before %d)", st.WalletCount, st.Totals.Wallets, base.Wallets, st.Totals.Escrow, base.Escrow)
	})
	r.conserved("after the reset")
}

// A wallet whose bank cannot be reached during a reset keeps its money and
// stays in the room, keys and purse, on disk too; the others are emptied.
func TestRoom_ResetKeepsAWalletItCannotEmpty(t *testing.T) {
	r := newRoomRig(t)
	aiko, ben := r.newWallet("Aiko", "bank-1"), r.newWallet("Ben", "bank-2")
	r.act(aiko.ID, "withdraw", map[string]any{"amount": 3000})
	r.act(ben.ID, "withdraw", map[string]any{"amount": 7000})
	r.fund(ben.ID, 2000)
	bank2 := r.addrs[1]
	r.addrs[1] = "127.0.0.1:1" // the demo restarts unable to reach bank-2
	r.restartDemo()
	r.eventually("Aiko to reconnect", func() (bool, string) {
		w := r.wallet(aiko.ID)
		return w.Connected, fmt.Sprintf("connected %v", w.Connected)
	})
	var sum ResetSummary
	r.call("/api/room/reset", struct{}{}, http.StatusOK, &sum)
	if sum.Failed != 1 || sum.Wallets != 1 || sum.ToDeposits != 3000 {
		t.Errorf("reset with bank-2 away: %+v, want Aiko emptied (3000) and Ben kept", sum)
	}
	ws := r.wallets()
	if len(ws) != 1 || ws[0].ID != ben.ID || ws[0].Purse == nil || ws[0].Purse.Balance != 2000 {
		t.Fatalf("the room after the reset: %s", mustJSON(ws))
	}
	r.conserved("after the reset")
	r.addrs[1] = bank2 // bank-2 is back: Ben is still in the room, and a reset now empties him
	r.restartDemo()
	if ws := r.wallets(); len(ws) != 1 || ws[0].ID != ben.ID || ws[0].Purse == nil || ws[0].Purse.Balance != 2000 {
		t.Fatalf("after a restart the kept wallet is gone: %s", mustJSON(ws))
	}
	r.eventually("Ben to reconnect", func() (bool, string) {
		w := r.wallet(ben.ID)
		return w.Connected, fmt.Sprintf("connected %v", w.Connected)
	})
	r.call("/api/room/reset", struct{}{}, http.StatusOK, &sum)
	if sum.Failed != 0 || sum.ToDeposits != 7000 || sum.FromPurses != 2000 {
		t.Errorf("the second reset: %+v, want Ben's 7000 (2000 from his purse) back on deposit", sum)
	}
}
