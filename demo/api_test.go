package demo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/digital-yen/cbdc-sandbox/offline"
	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// The demo's HTTP API as a page drives it: plain errors, request to pay,
// and every open page showing the same room. The rig these tests run on
// (roomRig) is in room_test.go.

// rigWait is how long a test waits for something the demo does in the
// background: a push from a bank, a reconnection.
const rigWait = 20 * time.Second

// apiError is the demo's error answer.
type apiError struct {
	Error *protocol.Error `json:"error"`
}

// post sends body, JSON text, as the demo's page would, and returns the
// status and the answer.
func (r *roomRig) post(path, body string) (int, []byte) {
	r.t.Helper()
	status, out, err := r.send(path, body)
	if err != nil {
		r.t.Fatalf("POST %s: %v", path, err)
	}
	return status, out
}

// send is post for another goroutine than the test's: it fails nothing.
func (r *roomRig) send(path, body string) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, r.web.URL+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

// call posts v as JSON and wants the status; it decodes the answer into
// out when out is not nil.
func (r *roomRig) call(path string, v any, want int, out any) {
	r.t.Helper()
	body, err := json.Marshal(v)
	if err != nil {
		r.t.Fatal(err)
	}
	status, answer := r.post(path, string(body))
	if status != want {
		r.t.Fatalf("POST %s %s: status %d, want %d: %s", path, body, status, want, answer)
	}
	if out != nil {
		if err := json.Unmarshal(answer, out); err != nil {
			r.t.Fatalf("POST %s: answer %s: %v", path, answer, err)
		}
	}
}

// refused posts v as JSON and wants a 4xx with the demo's error body; it
// returns the error.
func (r *roomRig) refused(path string, v any) *protocol.Error {
	r.t.Helper()
	body, _ := json.Marshal(v)
	status, answer := r.post(path, string(body))
	return r.checkRefusal(fmt.Sprintf("POST %s %s", path, body), status, answer)
}

func (r *roomRig) checkRefusal(what string, status int, answer []byte) *protocol.Error {
	r.t.Helper()
	var e apiError
	if err := json.Unmarshal(answer, &e); err != nil || e.Error == nil || e.Error.Code == "" || e.Error.Message == "" {
		r.t.Fatalf("%s: status %d, answer %s is not {\"error\":{\"code\",\"message\"}}", what, status, answer)
	}
	if status < 400 || status > 499 {
		r.t.Errorf("%s: status %d, want a 4xx: %s", what, status, answer)
	}
	return e.Error
}

func (r *roomRig) get(path string, out any) {
	r.t.Helper()
	resp, err := r.http.Get(r.web.URL + path)
	if err != nil {
		r.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		r.t.Fatalf("GET %s: status %d: %s", path, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		r.t.Fatalf("GET %s: %s: %v", path, body, err)
	}
}

func (r *roomRig) state() State {
	r.t.Helper()
	var st State
	r.get("/api/state", &st)
	return st
}

// conserved checks the ledger's books through the demo's overview.
func (r *roomRig) conserved(when string) State {
	r.t.Helper()
	st := r.state()
	if !st.Conserved || !st.Totals.Conserved() {
		r.t.Errorf("%s: not conserved: %+v", when, st.Totals)
	}
	return st
}

func (r *roomRig) wallets() []WalletView {
	r.t.Helper()
	var out struct {
		Wallets []WalletView `json:"wallets"`
	}
	r.get("/api/wallets", &out)
	return out.Wallets
}

func (r *roomRig) wallet(id string) WalletView {
	r.t.Helper()
	for _, w := range r.wallets() {
		if w.ID == id {
			return w
		}
	}
	r.t.Fatalf("no wallet %s in the room", id)
	return WalletView{}
}

func (r *roomRig) newWallet(name, bank string) WalletView {
	r.t.Helper()
	var v WalletView
	r.call("/api/wallets", map[string]string{"name": name, "bank": bank}, http.StatusCreated, &v)
	return v
}

// act runs an online wallet action and returns the wallet's view.
func (r *roomRig) act(id, action string, body map[string]any) WalletView {
	r.t.Helper()
	var v WalletView
	r.call("/api/wallets/"+id+"/"+action, body, http.StatusOK, &v)
	return v
}

func (r *roomRig) fund(id string, amount int64) {
	r.t.Helper()
	r.call("/api/wallets/"+id+"/offline/fund", map[string]int64{"amount": amount}, http.StatusOK, nil)
}

func (r *roomRig) goOffline(id string) {
	r.t.Helper()
	r.call("/api/wallets/"+id+"/offline/offline", struct{}{}, http.StatusOK, nil)
}

// payOffline pays device to device and wants the payee's purse to accept.
func (r *roomRig) payOffline(from, to string, amount int64) OfflinePayment {
	r.t.Helper()
	var p OfflinePayment
	r.call("/api/wallets/"+from+"/offline/pay", map[string]any{"to": to, "amount": amount}, http.StatusOK, &p)
	if !p.Accepted {
		r.t.Fatalf("offline payment %s → %s of %d refused: %+v", from, to, amount, p)
	}
	return p
}

// sync brings a device online, which hands its vouchers in.
func (r *roomRig) sync(id string) Reconciliation {
	r.t.Helper()
	var rec Reconciliation
	r.call("/api/wallets/"+id+"/offline/online", struct{}{}, http.StatusOK, &rec)
	return rec
}

func (r *roomRig) clone(id string) WalletView {
	r.t.Helper()
	var v WalletView
	r.call("/api/wallets/"+id+"/offline/clone", struct{}{}, http.StatusOK, &v)
	return v
}

// eventually polls cond until it holds, failing the test at the deadline
// with what cond last saw.
func (r *roomRig) eventually(what string, cond func() (bool, string)) {
	r.t.Helper()
	deadline := time.Now().Add(rigWait)
	for {
		ok, seen := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%s: not after %v; last seen: %s", what, rigWait, seen)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// balanceIs waits for a wallet's CBDC balance.
func (r *roomRig) balanceIs(id string, want int64) {
	r.t.Helper()
	r.eventually(fmt.Sprintf("wallet %s holds %d", id, want), func() (bool, string) {
		v := r.wallet(id)
		return v.Balance == want && v.Error == "", fmt.Sprintf("balance %d (%s)", v.Balance, v.Error)
	})
}

// hasNote waits for a note of the kind and amount on the wallet.
func (r *roomRig) hasNote(id, kind string, amount int64) Note {
	r.t.Helper()
	var found Note
	r.eventually(fmt.Sprintf("wallet %s has a %s note of %d", id, kind, amount), func() (bool, string) {
		v := r.wallet(id)
		for _, n := range v.Notes {
			if n.Kind == kind && n.Amount == amount {
				found = n
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", v.Notes)
	})
	return found
}

// liveFeed is one page's /api/live websocket.
type liveFeed struct {
	conn *websocket.Conn
	done chan struct{}
	mu   sync.Mutex // protects msgs
	msgs []message
}

func (r *roomRig) openLive() *liveFeed {
	r.t.Helper()
	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(r.web.URL, "http")+"/api/live", nil)
	if err != nil {
		r.t.Fatal(err)
	}
	f := &liveFeed{conn: conn, done: make(chan struct{})}
	go func() {
		defer close(f.done)
		for {
			var m message
			if err := conn.ReadJSON(&m); err != nil {
				return
			}
			f.mu.Lock()
			f.msgs = append(f.msgs, m)
			f.mu.Unlock()
		}
	}()
	r.t.Cleanup(func() { conn.Close(); <-f.done })
	return f
}

// received returns the messages so far, those of type state and event
// left out when the types asked for are others.
func (f *liveFeed) received(types ...string) []message {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []message
	for _, m := range f.msgs {
		if len(types) == 0 || slices.Contains(types, m.Type) {
			out = append(out, m)
		}
	}
	return out
}

// waitFor waits until the feed has carried a message pred accepts.
func (r *roomRig) waitFor(f *liveFeed, what string, pred func(message) bool) message {
	r.t.Helper()
	var got message
	r.eventually("a live page receives "+what, func() (bool, string) {
		ms := f.received()
		for _, m := range ms {
			if pred(m) {
				got = m
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d messages: %s", len(ms), typesOf(ms))
	})
	return got
}

func typesOf(ms []message) string {
	var b strings.Builder
	for _, m := range ms {
		if m.Type == "state" || m.Type == "event" {
			continue
		}
		fmt.Fprintf(&b, "%s ", m.Type)
	}
	return b.String()
}

// allConserved checks every overview the page was pushed.
func (r *roomRig) allConserved(f *liveFeed) {
	r.t.Helper()
	for _, m := range f.received("state") {
		if !m.State.Conserved {
			r.t.Errorf("a page was shown books that do not balance: %+v", m.State.Totals)
		}
	}
}

// plainWords reports Go's words in a message meant for a person.
func plainWords(msg string) error {
	for _, w := range []string{"json:", "Go struct", "Go value", "int64", "unmarshal", "Unmarshal", "struct", "%!", "<nil>", "reflect"} {
		if strings.Contains(msg, w) {
			return fmt.Errorf("message %q says %q", msg, w)
		}
	}
	return nil
}

// A page's mistakes are answered with a 4xx, a code and a sentence a
// person can read: no Go type names, no decoder's words.
func TestAPI_PlainErrors(t *testing.T) {
	r := newRoomRig(t)
	aiko := r.newWallet("Aiko", "bank-1")
	ben := r.newWallet("Ben", "bank-2")
	chie := r.newWallet("Chie", "bank-1")
	r.act(aiko.ID, "withdraw", map[string]any{"amount": 5000})
	r.act(chie.ID, "withdraw", map[string]any{"amount": 5000})
	r.fund(aiko.ID, 1000)
	clone := r.clone(aiko.ID)
	r.goOffline(chie.ID)

	w := func(id, action string) string { return "/api/wallets/" + id + "/" + action }
	cases := []struct {
		name, path, body string
		code             string // "" when any code will do
	}{
		{"amount as text", w(aiko.ID, "withdraw"), `{"amount":"12"}`, "bad_request"},
		{"amount as text, to pay", w(aiko.ID, "pay"), `{"to":"` + ben.ID + `","amount":"12"}`, "bad_request"},
		{"amount as text, offline", w(aiko.ID, "offline/fund"), `{"amount":"12"}`, "bad_request"},
		{"amount as text, float", "/api/banks/bank-1/issue", `{"amount":"12"}`, "bad_request"},
		{"amount with a fraction", w(aiko.ID, "withdraw"), `{"amount":1.5}`, "bad_request"},
		{"amount past int64", w(aiko.ID, "withdraw"), `{"amount":1e40}`, "bad_request"},
		{"amount as an object", w(aiko.ID, "withdraw"), `{"amount":{"yen":12}}`, "bad_request"},
		{"payee as a number", w(aiko.ID, "pay"), `{"to":2,"amount":12}`, "bad_request"},
		{"setting as text", w(aiko.ID, "settings"), `{"waterfall":"yes"}`, "bad_request"},
		{"name as a number", "/api/wallets", `{"name":5,"bank":"bank-1"}`, "bad_request"},
		{"malformed JSON", w(aiko.ID, "withdraw"), `{amount:12}`, "bad_request"},
		{"cut-off JSON", w(aiko.ID, "withdraw"), `{"amount":`, "bad_request"},
		{"trailing comma", w(aiko.ID, "withdraw"), `{"amount":12,}`, "bad_request"},
		{"an array", w(aiko.ID, "withdraw"), `[12]`, "bad_request"},
		{"a string", w(aiko.ID, "withdraw"), `"12"`, "bad_request"},
		{"empty body", w(aiko.ID, "withdraw"), ``, "bad_request"},
		{"empty body, new wallet", "/api/wallets", ``, "bad_request"},
		{"empty body, reset", "/api/room/reset", ``, "bad_request"},
		{"empty body, offline", w(aiko.ID, "offline/online"), ``, "bad_request"},
		{"unknown field", w(aiko.ID, "withdraw"), `{"amount":12,"currency":"JPY"}`, "bad_request"},
		{"unknown field, reset", "/api/room/reset", `{"really":true}`, "bad_request"},
		{"negative withdrawal", w(aiko.ID, "withdraw"), `{"amount":-5}`, "invalid_amount"},
		{"zero withdrawal", w(aiko.ID, "withdraw"), `{"amount":0}`, "invalid_amount"},
		{"zero deposit", w(aiko.ID, "deposit"), `{}`, "invalid_amount"},
		{"zero payment", w(aiko.ID, "pay"), `{"to":"` + ben.ID + `","amount":0}`, "invalid_amount"},
		{"negative payment", w(aiko.ID, "pay"), `{"to":"` + ben.ID + `","amount":-1}`, "invalid_amount"},
		{"negative request", w(aiko.ID, "request"), `{"to":"` + ben.ID + `","amount":-100}`, "invalid_amount"},
		{"zero offline payment", w(aiko.ID, "offline/pay"), `{"to":"` + ben.ID + `","amount":0}`, "invalid_amount"},
		{"negative purse funding", w(aiko.ID, "offline/fund"), `{"amount":-1}`, "invalid_amount"},
		{"zero float", "/api/banks/bank-1/issue", `{"amount":0}`, "invalid_amount"},
		{"negative float", "/api/banks/bank-2/redeem", `{"amount":-3}`, "invalid_amount"},
		{"unknown wallet", w("w999", "pay"), `{"to":"` + ben.ID + `","amount":1}`, "no_such_wallet"},
		{"unknown wallet, offline", w("w999", "offline/pay"), `{"to":"` + ben.ID + `","amount":1}`, "no_such_wallet"},
		{"unknown payee", w(aiko.ID, "pay"), `{"to":"w999","amount":1}`, "unknown_payee"},
		{"paying itself", w(aiko.ID, "pay"), `{"to":"` + aiko.ID + `","amount":1}`, "unknown_payee"},
		{"unknown bank", "/api/wallets", `{"name":"Dai","bank":"bank-9"}`, "no_such_bank"},
		{"unknown action", w(aiko.ID, "teleport"), `{}`, "unknown_action"},
		{"a clone paying online", w(clone.ID, "pay"), `{"to":"` + ben.ID + `","amount":1}`, "clone_device"},
		{"a clone funded", w(clone.ID, "offline/fund"), `{"amount":1}`, "clone_device"},
		{"an offline device paying online", w(chie.ID, "pay"), `{"to":"` + ben.ID + `","amount":1}`, "device_offline"},
		{"an offline device withdrawing", w(chie.ID, "withdraw"), `{"amount":1}`, "device_offline"},
		{"an offline device approving", w(chie.ID, "approve"), `{"ref":"bank-1.1"}`, "device_offline"},
		{"asking a clone to pay", w(ben.ID, "request"), `{"to":"` + clone.ID + `","amount":1}`, "unknown_payee"},
		{"a redemption beyond the float", "/api/banks/bank-1/redeem", `{"amount":900000000000}`, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := r.in(t)
			status, answer := r.post(c.path, c.body)
			e := r.checkRefusal(c.path+" "+c.body, status, answer)
			if c.code != "" && e.Code != c.code {
				t.Errorf("code %q, want %q (%s)", e.Code, c.code, e.Message)
			}
			if err := plainWords(e.Message); err != nil {
				t.Error(err)
			}
		})
	}
	st := r.conserved("after the refusals")
	if got := r.wallet(aiko.ID); got.Balance != 4000 {
		t.Errorf("Aiko holds %d after refused calls, want 4000", got.Balance)
	}
	if st.Totals.Wallets != 9000 {
		t.Errorf("wallets hold %d after refused calls, want 9000", st.Totals.Wallets)
	}
}

// Request to pay, at the same bank and across banks: the payer sees who
// asks and for how much; approving pays once, declining pays nothing; a
// second approval, an unknown ref or the wrong wallet is refused with a
// code.
func TestAPI_RequestToPay(t *testing.T) {
	r := newRoomRig(t)
	aiko := r.newWallet("Aiko", "bank-1")
	ben := r.newWallet("Ben", "bank-2")
	chie := r.newWallet("Chie", "bank-1")
	for _, w := range []WalletView{aiko, ben, chie} {
		r.act(w.ID, "withdraw", map[string]any{"amount": 10_000})
	}
	for _, c := range []struct {
		name            string
		merchant, payer WalletView
		amount          int64 // each case its own, to tell their notes apart
	}{
		{"same bank", aiko, chie, 1200},
		{"across banks", aiko, ben, 1300},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := r.in(t)
			m, p := c.merchant, c.payer
			mBal, pBal := r.wallet(m.ID).Balance, r.wallet(p.ID).Balance
			amount := c.amount
			ask := r.askAndWait(m, p, amount, "coffee")
			r.act(p.ID, "approve", map[string]any{"ref": ask.Ref})
			r.balanceIs(p.ID, pBal-amount)
			r.balanceIs(m.ID, mBal+amount)
			paid := r.hasNote(m.ID, "request_paid", amount)
			if paid.Party != p.Name {
				t.Errorf("the merchant's note names %q as payer, want %q", paid.Party, p.Name)
			}
			if v := r.wallet(p.ID); len(v.Asks) != 0 {
				t.Errorf("the paid request still waits: %+v", v.Asks)
			}
			for _, try := range []struct {
				what, id, ref string
			}{
				{"approving twice", p.ID, ask.Ref},
				{"declining a paid request", p.ID, ask.Ref},
				{"approving an unknown ref", p.ID, "bank-1.999999"},
				{"approving an empty ref", p.ID, ""},
				{"the merchant approving its own request", m.ID, ask.Ref},
			} {
				action := "approve"
				if strings.HasPrefix(try.what, "declining") {
					action = "decline"
				}
				e := r.refused("/api/wallets/"+try.id+"/"+action, map[string]any{"ref": try.ref})
				if e.Code != protocol.CodeUnknownRequest && e.Code != protocol.CodeRequestClosed {
					t.Errorf("%s: code %q (%s), want unknown_request or request_closed", try.what, e.Code, e.Message)
				}
				if err := plainWords(e.Message); err != nil {
					t.Errorf("%s: %v", try.what, err)
				}
			}

			// Declined: nothing moves, the merchant hears of it.
			ask = r.askAndWait(m, p, amount/2, "")
			other := chie
			if p.ID == chie.ID {
				other = ben
			}
			e := r.refused("/api/wallets/"+other.ID+"/approve", map[string]any{"ref": ask.Ref})
			if e.Code != protocol.CodeUnknownRequest {
				t.Errorf("approving from the wrong wallet: code %q (%s), want unknown_request", e.Code, e.Message)
			}
			r.act(p.ID, "decline", map[string]any{"ref": ask.Ref})
			declined := r.hasNote(m.ID, "request_declined", amount/2)
			if declined.Party != p.Name {
				t.Errorf("the merchant's decline note names %q, want %q", declined.Party, p.Name)
			}
			if e := r.refused("/api/wallets/"+p.ID+"/approve", map[string]any{"ref": ask.Ref}); e.Code != protocol.CodeUnknownRequest && e.Code != protocol.CodeRequestClosed {
				t.Errorf("approving a declined request: code %q (%s)", e.Code, e.Message)
			}
			if got := r.wallet(p.ID).Balance; got != pBal-amount {
				t.Errorf("payer holds %d after the refusals and the decline, want %d", got, pBal-amount)
			}
			if got := r.wallet(m.ID).Balance; got != mBal+amount {
				t.Errorf("merchant holds %d after the refusals and the decline, want %d", got, mBal+amount)
			}
			r.conserved(c.name)
		})
	}

	// Approving the same request from two pages at once pays it once.
	t.Run("approved from two pages at once", func(t *testing.T) {
		r := r.in(t)
		mBal, pBal := r.wallet(aiko.ID).Balance, r.wallet(ben.ID).Balance
		ask := r.askAndWait(aiko, ben, 300, "")
		var wg sync.WaitGroup
		statuses := make([]int, 6)
		answers := make([][]byte, len(statuses))
		for i := range statuses {
			wg.Go(func() {
				var err error
				statuses[i], answers[i], err = r.send("/api/wallets/"+ben.ID+"/approve", `{"ref":"`+ask.Ref+`"}`)
				if err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		ok := 0
		for i, s := range statuses {
			switch {
			case s == http.StatusOK:
				ok++
			case s >= 500:
				t.Errorf("approval %d: status %d: %s", i, s, answers[i])
			}
		}
		if ok == 0 {
			t.Errorf("no approval succeeded: %v", statuses)
		}
		r.balanceIs(aiko.ID, mBal+300)
		if got := r.wallet(ben.ID).Balance; got != pBal-300 {
			t.Errorf("Ben holds %d after approving once from %d pages, want %d", got, len(statuses), pBal-300)
		}
		r.conserved("after the concurrent approvals")
	})
}

// askAndWait has the merchant ask the payer and waits for the request on
// the payer's wallet, named after the merchant.
func (r *roomRig) askAndWait(merchant, payer WalletView, amount int64, memo string) AskView {
	r.t.Helper()
	r.act(merchant.ID, "request", map[string]any{"to": payer.ID, "amount": amount, "memo": memo})
	var ask AskView
	r.eventually(fmt.Sprintf("%s sees %s's request for %d", payer.Name, merchant.Name, amount), func() (bool, string) {
		v := r.wallet(payer.ID)
		for _, q := range v.Asks {
			if q.Amount == amount && q.Status == protocol.RequestPending {
				ask = q
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", v.Asks)
	})
	if ask.MerchantName != merchant.Name {
		r.t.Errorf("the request names its merchant %q, want %q", ask.MerchantName, merchant.Name)
	}
	if ask.Memo != memo {
		r.t.Errorf("the request's memo is %q, want %q", ask.Memo, memo)
	}
	return ask
}

// Two open pages both see wallets, offline payments and reconciliations;
// a page opened later gets the whole room: the wallets, then the log of
// payments and reconciliations in order.
func TestLive_EveryPageSameRoom(t *testing.T) {
	r := newRoomRig(t)
	pages := []*liveFeed{r.openLive(), r.openLive()}
	aiko := r.newWallet("Aiko", "bank-1")
	ben := r.newWallet("Ben", "bank-2")
	for i, f := range pages {
		for _, w := range []WalletView{aiko, ben} {
			r.waitFor(f, fmt.Sprintf("page %d: wallet %s", i, w.Name), func(m message) bool { return m.Type == "wallet" && m.Wallet.ID == w.ID })
		}
	}
	r.act(aiko.ID, "withdraw", map[string]any{"amount": 10_000})
	r.fund(aiko.ID, 8000)
	r.fund(ben.ID, 0)
	r.goOffline(aiko.ID)
	r.goOffline(ben.ID)
	p1 := r.payOffline(aiko.ID, ben.ID, 3000)
	p2 := r.payOffline(aiko.ID, ben.ID, 1500)
	rec := r.sync(ben.ID)
	for i, f := range pages {
		for _, p := range []OfflinePayment{p1, p2} {
			r.waitFor(f, fmt.Sprintf("page %d: payment %d", i, p.Seq), func(m message) bool {
				return m.Type == "payment" && m.Payment.Seq == p.Seq && m.Payment.Hash == p.Hash && m.Payment.Amount == p.Amount
			})
		}
		r.waitFor(f, fmt.Sprintf("page %d: reconciliation %d", i, rec.Seq), func(m message) bool {
			return m.Type == "reconciliation" && m.Reconciliation.Seq == rec.Seq && m.Reconciliation.Device == "Ben" && m.Reconciliation.Handed == 2
		})
	}

	late := r.openLive()
	r.waitFor(late, "the log replayed", func(m message) bool { return m.Type == "reconciliation" && m.Reconciliation.Seq == rec.Seq })
	var order []string
	for _, m := range late.received("wallet", "payment", "reconciliation") {
		switch m.Type {
		case "wallet":
			order = append(order, "wallet "+m.Wallet.ID)
		case "payment":
			order = append(order, fmt.Sprintf("payment %d", m.Payment.Seq))
		case "reconciliation":
			order = append(order, fmt.Sprintf("reconciliation %d", m.Reconciliation.Seq))
		}
	}
	want := []string{"wallet " + aiko.ID, "wallet " + ben.ID, fmt.Sprintf("payment %d", p1.Seq), fmt.Sprintf("payment %d", p2.Seq),
		fmt.Sprintf("reconciliation %d", rec.Seq)}
	if len(order) < len(want) || !slices.Equal(order[:len(want)], want) {
		t.Errorf("a page opened later received %q, want first %q", order, want)
	}
	for _, f := range append(pages, late) {
		r.allConserved(f)
	}
}

// jsonEqual compares two values by their JSON.
func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// The overview's exposure is value paid offline and not yet settled: a
// voucher both payer and payee hold counts once, and once every device
// has synced nothing is left on them.
func TestState_Exposure(t *testing.T) {
	r := newRoomRig(t)
	aiko, ben, chie := r.newWallet("Aiko", "bank-1"), r.newWallet("Ben", "bank-2"), r.newWallet("Chie", "bank-1")
	r.act(aiko.ID, "withdraw", map[string]any{"amount": 40_000})
	r.fund(aiko.ID, 30_000)
	r.fund(ben.ID, 0)
	r.fund(chie.ID, 0)
	for _, w := range []WalletView{aiko, ben, chie} {
		r.goOffline(w.ID)
	}
	check := func(when string, onDevices int64, count int, exposure int64) State {
		t.Helper()
		st := r.conserved(when)
		if st.OnDevices != onDevices || st.OnDeviceCount != count || st.Exposure != exposure {
			t.Errorf("%s: on devices %d yen in %d vouchers, exposure %d; want %d in %d, %d (ledger pending %d)",
				when, st.OnDevices, st.OnDeviceCount, st.Exposure, onDevices, count, exposure, st.Offline.PendingAmount)
		}
		return st
	}
	check("nothing paid offline", 0, 0, 0)
	r.payOffline(aiko.ID, ben.ID, 5000)
	check("one voucher on payer and payee", 5000, 1, 5000)
	r.payOffline(aiko.ID, chie.ID, 7000)
	check("two vouchers", 12_000, 2, 12_000)
	r.sync(ben.ID)
	afterBen := r.conserved("Ben synced")
	r.sync(aiko.ID)
	afterAiko := r.conserved("Aiko synced")
	r.sync(chie.ID)
	check("every device synced", 0, 0, 0)

	// Ben's handing in settled Aiko's 5,000 yen to him, though her device
	// still holds the voucher; Aiko's then settled Chie's 7,000, though
	// Chie's still holds it.
	t.Run("settled vouchers still on a device are not exposure", func(t *testing.T) {
		if afterBen.Exposure != 7000 {
			t.Errorf("after Ben's voucher settled, exposure %d (on devices %d, ledger pending %d), want 7000",
				afterBen.Exposure, afterBen.OnDevices, afterBen.Offline.PendingAmount)
		}
		if afterAiko.Exposure != 0 {
			t.Errorf("after both vouchers settled, exposure %d (on devices %d, ledger pending %d), want 0",
				afterAiko.Exposure, afterAiko.OnDevices, afterAiko.Offline.PendingAmount)
		}
	})
}

// The offline lab: a clone starts offline and can neither pay online nor
// be funded; a purse cannot pay a copy of itself; once the double spend
// is reconciled the original and the clone both show the purse revoked
// with nothing to spend; once every device has synced, nothing is left
// on the devices.
func TestOffline_CloneCaught(t *testing.T) {
	r := newRoomRig(t)
	aiko, ben, chie := r.newWallet("Aiko", "bank-1"), r.newWallet("Ben", "bank-2"), r.newWallet("Chie", "bank-1")
	r.act(aiko.ID, "withdraw", map[string]any{"amount": 40_000})
	r.fund(aiko.ID, 30_000)
	r.fund(ben.ID, 0)
	r.fund(chie.ID, 0)
	for _, w := range []WalletView{aiko, ben, chie} {
		r.goOffline(w.ID)
	}
	r.payOffline(aiko.ID, ben.ID, 5000)
	clone := r.clone(aiko.ID)
	orig := r.wallet(aiko.ID)
	switch {
	case clone.Online || !clone.Clone || clone.CloneOf != "Aiko":
		t.Errorf("the clone: online %v, clone %v, of %q; want offline, a clone of Aiko", clone.Online, clone.Clone, clone.CloneOf)
	case clone.Purse == nil || orig.Purse == nil:
		t.Fatalf("no purse on the clone (%v) or on Aiko's wallet (%v)", clone.Purse, orig.Purse)
	case clone.Purse.Serial != orig.Purse.Serial || clone.Purse.Balance != 25_000 || clone.Purse.Counter != 1:
		t.Errorf("the clone's purse %+v, Aiko's %+v: want the same serial, 25000 yen, counter 1", clone.Purse, orig.Purse)
	}
	for _, p := range [][2]string{{aiko.ID, clone.ID}, {clone.ID, aiko.ID}} {
		e := r.refused("/api/wallets/"+p[0]+"/offline/pay", map[string]any{"to": p[1], "amount": 100})
		if e.Code != "same_purse" {
			t.Errorf("%s pays %s: code %q (%s), want same_purse", p[0], p[1], e.Code, e.Message)
		}
	}
	r.payOffline(aiko.ID, ben.ID, 20_000)
	r.payOffline(clone.ID, chie.ID, 20_000) // the same counter: a double spend
	if st := r.conserved("the double spend made"); st.OnDevices != 45_000 || st.OnDeviceCount != 3 {
		t.Errorf("on devices %d yen in %d vouchers, want 45000 in 3", st.OnDevices, st.OnDeviceCount)
	}

	r.sync(ben.ID)
	rec := r.sync(chie.ID)
	caught := false
	for _, c := range rec.Problems {
		caught = caught || c.Kind == string(offline.DoubleSpend) && c.Wallet == "Aiko"
	}
	if !caught || !slices.Contains(rec.Revoked, "Aiko") {
		t.Errorf("Chie's reconciliation does not name Aiko's double spend: %s", mustJSON(rec))
	}
	revoked := func(when string) {
		t.Helper()
		for _, id := range []string{aiko.ID, clone.ID} {
			v := r.wallet(id)
			if v.Purse == nil || !v.Purse.Revoked || v.Purse.Balance != 0 {
				t.Errorf("%s: %s's purse %+v, want revoked with balance 0", when, v.Name, v.Purse)
			}
		}
	}
	revoked("the double spend reconciled")
	r.conserved("the double spend reconciled")

	// The original and the clone come online and hand theirs in too.
	for _, id := range []string{aiko.ID, clone.ID} {
		if status, answer := r.post("/api/wallets/"+id+"/offline/online", "{}"); status != http.StatusOK {
			t.Errorf("%s comes online: status %d: %s", id, status, answer)
		}
	}
	revoked("every device synced")
	st := r.conserved("every device synced")
	if st.OnDevices != 0 || st.OnDeviceCount != 0 || st.Exposure != st.Offline.PendingAmount {
		t.Errorf("every device synced: on devices %d yen in %d vouchers, exposure %d, ledger pending %d; want 0 on devices",
			st.OnDevices, st.OnDeviceCount, st.Exposure, st.Offline.PendingAmount)
		for _, w := range r.wallets() {
			if w.Purse != nil && w.Purse.UnsyncedCount > 0 {
				t.Logf("%s still holds %d vouchers of %d yen", w.Name, w.Purse.UnsyncedCount, w.Purse.Unsynced)
			}
		}
	}
}

// A clone is a second device of its owner's wallet: it shows the
// owner's settings as they are, not as they were when the session
// opened.
func TestOffline_CloneShowsOwnersSettings(t *testing.T) {
	r := newRoomRig(t)
	aiko := r.newWallet("Aiko", "bank-1")
	r.fund(aiko.ID, 0)
	now := r.act(aiko.ID, "settings", map[string]any{"waterfall": !aiko.Waterfall, "auto_charge": !aiko.AutoCharge})
	clone := r.clone(aiko.ID)
	for _, v := range []WalletView{clone, r.wallet(clone.ID)} {
		if v.Waterfall != now.Waterfall || v.AutoCharge != now.AutoCharge {
			t.Errorf("the clone shows waterfall %v, auto-charge %v; its owner %v, %v", v.Waterfall, v.AutoCharge, now.Waterfall, now.AutoCharge)
		}
	}
}

// When the clone hands its vouchers in before the original, the ledger
// finds the double spend in the original's upload: the room's log shows
// that reconciliation with the conflict and the revoked purse, and what
// the page is answered is in plain words.
func TestOffline_CloneHandsInFirst(t *testing.T) {
	r := newRoomRig(t)
	aiko, ben, chie := r.newWallet("Aiko", "bank-1"), r.newWallet("Ben", "bank-2"), r.newWallet("Chie", "bank-1")
	r.act(aiko.ID, "withdraw", map[string]any{"amount": 40_000})
	r.fund(aiko.ID, 30_000)
	r.fund(ben.ID, 0)
	r.fund(chie.ID, 0)
	r.goOffline(aiko.ID)
	r.payOffline(aiko.ID, ben.ID, 5000)
	clone := r.clone(aiko.ID)
	r.payOffline(aiko.ID, ben.ID, 20_000)
	r.payOffline(clone.ID, chie.ID, 20_000)
	if rec := r.sync(clone.ID); len(rec.Problems) != 0 {
		t.Errorf("the clone's vouchers alone conflict: %s", mustJSON(rec.Problems))
	}
	status, answer := r.post("/api/wallets/"+aiko.ID+"/offline/online", "{}")
	if status != http.StatusOK {
		e := r.checkRefusal("Aiko comes online after her clone", status, answer)
		if err := plainWords(e.Message); err != nil {
			t.Error(err)
		}
		if strings.Contains(e.Message, "wallet: ") || strings.Contains(e.Message, "offline: ") {
			t.Errorf("Aiko comes online: status %d, message %q names the code's packages", status, e.Message)
		}
	}
	log := r.roomLog(5)
	caught := false
	var recs []string
	for _, entry := range log {
		if !strings.HasPrefix(entry, "reconciliation ") {
			continue
		}
		var rec Reconciliation
		if err := json.Unmarshal([]byte(strings.TrimPrefix(entry, "reconciliation ")), &rec); err != nil {
			t.Fatal(err)
		}
		for _, c := range rec.Problems {
			caught = caught || rec.Device == "Aiko" && c.Kind == string(offline.DoubleSpend) && slices.Contains(rec.Revoked, "Aiko")
		}
		recs = append(recs, fmt.Sprintf("%s: %d handed, %d vouchers, %d conflicts, revoked %v, error %v",
			rec.Device, rec.Handed, len(rec.Vouchers), len(rec.Problems), rec.Revoked, rec.Error))
	}
	if !caught {
		t.Errorf("the room's log does not show the double spend found when Aiko came online; its reconciliations: %q", recs)
	}
	for _, id := range []string{aiko.ID, clone.ID} {
		if v := r.wallet(id); v.Purse == nil || !v.Purse.Revoked || v.Purse.Balance != 0 {
			t.Errorf("%s's purse %+v, want revoked with balance 0", v.Name, v.Purse)
		}
	}
	r.conserved("the double spend reconciled")
}
