package gateway

import (
	"fmt"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// The panel's list stays bounded however many browsers sign in, and what
// it drops is the wallet offline longest, never one online: a script
// signing in wallets cannot push the room's phones off the panel.
func TestAppWallets_BoundedDroppingTheLongestOffline(t *testing.T) {
	var a appWallets
	t0 := time.Unix(1_800_000_000, 0)
	for i := range maxAppWallets {
		a.signedIn(fmt.Sprint("k", i), fmt.Sprint("w", i), "", "", t0)
	}
	// k7 left first, k3 later; the rest stay online.
	a.left("k3", t0.Add(2*time.Second))
	a.left("k7", t0.Add(time.Second))
	a.signedIn("new-1", "w-new-1", "", "", t0.Add(3*time.Second))
	a.signedIn("new-2", "w-new-2", "", "", t0.Add(4*time.Second))
	list := a.list()
	if len(list) != maxAppWallets {
		t.Fatalf("%d wallets kept, want %d", len(list), maxAppWallets)
	}
	kept := map[string]bool{}
	for _, w := range list {
		kept[w.Address] = true
	}
	if kept["w7"] || kept["w3"] || !kept["w-new-1"] || !kept["w-new-2"] || !kept["w0"] {
		t.Errorf("kept w7 %v, w3 %v, new-1 %v, new-2 %v, w0 %v: want the two offline dropped, oldest first, and the newcomers kept",
			kept["w7"], kept["w3"], kept["w-new-1"], kept["w-new-2"], kept["w0"])
	}
	// All online now: a newcomer is not followed, and nobody is dropped.
	a.signedIn("new-3", "w-new-3", "", "", t0.Add(5*time.Second))
	if l := a.list(); l[0].Address != "w0" || len(l) != maxAppWallets || l[len(l)-1].Address != "w-new-2" {
		t.Errorf("with every wallet online the list runs %s to %s (%d kept), want w0 to w-new-2", l[0].Address, l[len(l)-1].Address, len(l))
	}
	// Word of a wallet not followed changes nothing and does not panic.
	a.did("new-3", "1", "pay", "", &protocol.Paid{}, t0)
	a.left("new-3", t0)
	a.moved("new-3", protocol.Entry{Reason: protocol.ReasonOffline, Amount: 5, Seq: 9})
}

// A wallet with two sessions open stays online until both end.
func TestAppWallets_OnlineUntilTheLastSessionEnds(t *testing.T) {
	var a appWallets
	t0 := time.Unix(1_800_000_000, 0)
	a.signedIn("k", "w", "Hanako", "", t0)
	a.signedIn("k", "w", "Hanako", "", t0.Add(time.Second))
	a.left("k", t0.Add(2*time.Second))
	if w := a.list()[0]; !w.Online || !w.Joined.Equal(t0) {
		t.Fatalf("after one of two sessions ended: %+v, want online, joined at the first", w)
	}
	a.left("k", t0.Add(3*time.Second))
	a.left("k", t0.Add(4*time.Second)) // a stray second end
	if w := a.list()[0]; w.Online || !w.Seen.Equal(t0.Add(3*time.Second)) {
		t.Fatalf("after both ended: %+v, want offline, seen when the last ended", w)
	}
	a.signedIn("k", "w", "Hanako", "", t0.Add(5*time.Second))
	if w := a.list()[0]; !w.Online {
		t.Fatalf("signed in again: %+v, want online", w)
	}
}

// A phone's status follows what it does, not what it reads: a balance
// after a payment leaves "pay" as its last instruction, and a refusal is
// kept with its code, counted once.
func TestAppWallets_ReadsDoNotHideWhatAPhoneDid(t *testing.T) {
	var a appWallets
	t0 := time.Unix(1_800_000_000, 0)
	a.signedIn("k", "w", "Hanako", "", t0)
	a.did("k", "p-1", "pay", "", &protocol.Paid{Amount: 500}, t0.Add(time.Second))
	a.did("k", "b-1", "balance", "", nil, t0.Add(2*time.Second))
	a.did("k", "h-1", "history", "", nil, t0.Add(3*time.Second))
	w := a.list()[0]
	if w.Last != "pay" || w.Paid != 1 || !w.Seen.Equal(t0.Add(3*time.Second)) {
		t.Fatalf("after a payment and two reads: %+v, want last pay, 1 paid, seen at the last read", w)
	}
	a.did("k", "b-2", "balance", "unavailable", nil, t0.Add(4*time.Second))
	a.did("k", "s-1", "purse_sync", "", &protocol.PurseSynced{Vouchers: make([]protocol.VoucherOutcome, 3)}, t0.Add(5*time.Second))
	a.did("k", "f-1", "purse_fund", "", &protocol.PurseFunded{Amount: 3000}, t0.Add(6*time.Second))
	w = a.list()[0]
	if w.Refused != 1 || w.Synced != 1 || w.HandedIn != 3 || w.Funded != 3000 || w.Last != "purse_fund" || w.LastCode != "" {
		t.Fatalf("after a refused read, a sync and a funding: %+v", w)
	}
	// The app asks again under the same ids after a lost answer: the bank
	// answers as the first time, and nothing counts twice.
	a.did("k", "p-1", "pay", "", &protocol.Paid{Amount: 500}, t0.Add(7*time.Second))
	a.did("k", "s-1", "purse_sync", "", &protocol.PurseSynced{Vouchers: make([]protocol.VoucherOutcome, 3)}, t0.Add(8*time.Second))
	a.did("k", "f-1", "purse_fund", "", &protocol.PurseFunded{Amount: 3000}, t0.Add(9*time.Second))
	if w := a.list()[0]; w.Paid != 1 || w.Synced != 1 || w.HandedIn != 3 || w.Funded != 3000 {
		t.Fatalf("after retries of a payment, a sync and a funding: %+v, want each counted once", w)
	}
}

// A voucher settled into a phone's wallet counts whoever handed it in,
// the phone offline or not, once however its payment was made up; a
// defund of its own purse, other movements, and wallets not followed
// count nothing.
func TestAppWallets_SettledIntoTheWalletWhileOffline(t *testing.T) {
	var a appWallets
	a.moved("k", protocol.Entry{Reason: protocol.ReasonOffline, Amount: 900, Seq: 3}) // none followed yet
	t0 := time.Unix(1_800_000_000, 0)
	a.signedIn("k", "w", "Hanako", "", t0)
	a.did("k", "prov-1", "purse_provision", "", &protocol.PurseCertificates{Serial: "ab12", Escrow: "escrow-ab12"}, t0)
	a.left("k", t0.Add(time.Second))
	for _, e := range []protocol.Entry{
		{Reason: protocol.ReasonOffline, Amount: 1500, Seq: 10, Counterparty: "escrow-ff00"},
		{Reason: protocol.ReasonOffline, Amount: 700, Seq: 11, Counterparty: "escrow-ab12"}, // a defund of its own purse
		{Reason: protocol.ReasonOffline, Amount: 600, Seq: 12, Counterparty: "escrow-ee00"},
		{Reason: protocol.ReasonOffline, Amount: 400, Seq: 12, Counterparty: "bank-1"}, // the same voucher's shortfall, borne
		{Reason: protocol.ReasonPayment, Amount: 400, Seq: 13},
		{Reason: protocol.ReasonOffline, Amount: -300, Seq: 14}, // money out is no voucher received
	} {
		a.moved("k", e)
	}
	a.moved("other", protocol.Entry{Reason: protocol.ReasonOffline, Amount: 100, Seq: 15})
	if w := a.list()[0]; w.Settled != 2 || w.Received != 2500 || w.Online {
		t.Fatalf("%+v, want two vouchers, 2,500 yen, settled into it while offline", w)
	}
}
