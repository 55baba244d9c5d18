package intermediary_test

import (
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/protocol"
	"github.com/digital-yen/cbdc-sandbox/wallet"
)

func TestBank_OnUsAndCrossBankPayments(t *testing.T) {
	n := newTestNet(t, 2, nil)
	ctx := n.ctx
	aliceKey := newKey(t)
	alice := n.registerKey("bank-1", "Alice", "P-ALICE", aliceKey)
	bob := n.register("bank-1", "Bob", "P-BOB")
	carol := n.register("bank-2", "Carol", "P-CAROL")
	// Alice's second device: the session that sends an instruction gets
	// its answer, her other sessions get notifications.
	alicePhone, err := wallet.Dial(ctx, n.banks["bank-1"].url, aliceKey, wallet.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer alicePhone.Close()

	w, err := alice.Withdraw(ctx, "", 40_000)
	if err != nil {
		t.Fatal(err)
	}
	if w.Deposit != intermediaryOpening-40_000 {
		t.Errorf("deposit after withdrawal = %d, want %d", w.Deposit, intermediaryOpening-40_000)
	}
	nextNotify(t, alicePhone, protocol.ReasonWithdrawal, 40_000)

	if _, err := alice.Pay(ctx, "", bob.Address(), 10_000); err != nil {
		t.Fatalf("on-us payment: %v", err)
	}
	if _, err := alice.Pay(ctx, "", carol.Address(), 5_000); err != nil {
		t.Fatalf("cross-bank payment: %v", err)
	}
	got := nextNotify(t, bob, protocol.ReasonPayment, 10_000)
	if got.Counterparty != alice.Address() || got.Balance == nil || *got.Balance != 10_000 {
		t.Errorf("bob's notification = %+v", got)
	}
	got = nextNotify(t, carol, protocol.ReasonPayment, 5_000)
	if got.Counterparty != alice.Address() || got.Balance == nil || *got.Balance != 5_000 {
		t.Errorf("carol's notification = %+v", got)
	}
	nextNotify(t, alicePhone, protocol.ReasonPayment, -10_000)
	last := nextNotify(t, alicePhone, protocol.ReasonPayment, -5_000)
	if last.Balance == nil || *last.Balance != 25_000 {
		t.Errorf("alice's last notification = %+v, want balance 25000", last)
	}
	select {
	case env := <-alice.Events():
		t.Errorf("the session that paid was also notified: %s %s", env.Type, env.Body)
	default:
	}
	for c, want := range map[string]int64{alice.Address(): 25_000, bob.Address(): 10_000, carol.Address(): 5_000} {
		for _, cl := range []*wallet.Client{alice, bob, carol} {
			if cl.Address() == c {
				if got := balance(t, ctx, cl); got != want {
					t.Errorf("%s balance = %d, want %d", c, got, want)
				}
			}
		}
	}
	h, err := alice.History(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Entries) != 3 || h.Entries[0].Amount != -5_000 || h.Entries[0].Counterparty != carol.Address() ||
		h.Entries[2].Reason != protocol.ReasonWithdrawal {
		t.Errorf("alice's history = %+v", h.Entries)
	}
}

const intermediaryOpening = 200_000 // intermediary.DefaultOpeningDeposit

func TestBank_RetryNeverAppliesTwice(t *testing.T) {
	n := newTestNet(t, 2, nil)
	ctx := n.ctx
	alice := n.register("bank-1", "Alice", "P-ALICE")
	carol := n.register("bank-2", "Carol", "P-CAROL")
	if _, err := alice.Withdraw(ctx, "w-1", 20_000); err != nil {
		t.Fatal(err)
	}
	again, err := alice.Withdraw(ctx, "w-1", 20_000)
	if err != nil || again.Deposit != intermediaryOpening-20_000 {
		t.Fatalf("retried withdrawal = %+v, %v; want the deposit debited once", again, err)
	}
	first, err := alice.Pay(ctx, "pay-1", carol.Address(), 3_000)
	if err != nil {
		t.Fatal(err)
	}
	retry, err := alice.Pay(ctx, "pay-1", carol.Address(), 3_000)
	if err != nil || retry.Seq != first.Seq {
		t.Fatalf("retry = %+v, %v; want the first receipt (seq %d)", retry, err, first.Seq)
	}
	_, err = alice.Pay(ctx, "pay-1", carol.Address(), 4_000)
	mustCode(t, err, protocol.CodeRequestIDReused)
	_, err = alice.Withdraw(ctx, "w-1", 1_000)
	mustCode(t, err, protocol.CodeRequestIDReused)
	// One request id for two kinds of instruction is a reuse too.
	_, err = alice.Withdraw(ctx, "pay-1", 3_000)
	mustCode(t, err, protocol.CodeRequestIDReused)
	_, err = alice.Deposit(ctx, "pay-1", 3_000)
	mustCode(t, err, protocol.CodeRequestIDReused)
	_, err = alice.Pay(ctx, "w-1", carol.Address(), 20_000)
	mustCode(t, err, protocol.CodeRequestIDReused)
	if got := balance(t, ctx, alice); got != 17_000 {
		t.Errorf("alice balance = %d, want 17000", got)
	}
	if got := balance(t, ctx, carol); got != 3_000 {
		t.Errorf("carol balance = %d, want 3000", got)
	}
}

func TestBank_WaterfallSweepsToDeposit(t *testing.T) {
	n := newTestNet(t, 2, nil)
	ctx := n.ctx
	alice := n.register("bank-1", "Alice", "P-ALICE") // basic tier: holding limit 100,000
	carol := n.register("bank-2", "Carol", "P-CAROL")
	for _, c := range []*wallet.Client{alice, carol} {
		if _, err := c.Withdraw(ctx, "", 90_000); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := alice.Pay(ctx, "", carol.Address(), 30_000); err != nil {
		t.Fatalf("payment over the payee's holding limit: %v", err)
	}
	nextNotify(t, carol, protocol.ReasonPayment, 30_000)
	sweep := nextNotify(t, carol, protocol.ReasonSweep, -20_000)
	if sweep.Balance == nil || *sweep.Balance != 100_000 {
		t.Errorf("sweep notification = %+v, want balance 100000", sweep)
	}
	b, err := carol.Balance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if b.Balance != 100_000 || b.Deposit != intermediaryOpening-90_000+20_000 || b.HoldingLimit != 100_000 {
		t.Errorf("carol after the sweep = %+v", b)
	}

	if _, err := carol.SetSettings(ctx, "", false, false); err != nil {
		t.Fatal(err)
	}
	_, err = alice.Pay(ctx, "", carol.Address(), 1_000)
	mustCode(t, err, protocol.CodeHoldingLimit)
	if got := balance(t, ctx, alice); got != 60_000 {
		t.Errorf("alice balance = %d after a refused payment, want 60000", got)
	}
}

func TestBank_ReverseWaterfallChargesDeposit(t *testing.T) {
	n := newTestNet(t, 2, nil)
	ctx := n.ctx
	alice := n.register("bank-1", "Alice", "P-ALICE")
	carol := n.register("bank-2", "Carol", "P-CAROL")
	if _, err := alice.Withdraw(ctx, "", 1_000); err != nil {
		t.Fatal(err)
	}
	_, err := alice.Pay(ctx, "", carol.Address(), 5_000)
	mustCode(t, err, protocol.CodeInsufficientFunds)

	if _, err := alice.SetSettings(ctx, "", true, true); err != nil {
		t.Fatal(err)
	}
	paid, err := alice.Pay(ctx, "charged-1", carol.Address(), 5_000)
	if err != nil {
		t.Fatalf("payment with auto-charge: %v", err)
	}
	if paid.Charged != 4_000 {
		t.Errorf("charged = %d, want 4000", paid.Charged)
	}
	retry, err := alice.Pay(ctx, "charged-1", carol.Address(), 5_000)
	if err != nil || retry.Seq != paid.Seq || retry.Charged != 4_000 {
		t.Errorf("retry of a charged payment = %+v, %v", retry, err)
	}
	b, err := alice.Balance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if b.Balance != 0 || b.Deposit != intermediaryOpening-1_000-4_000 {
		t.Errorf("alice after auto-charge = %+v", b)
	}
	// More than wallet and deposit hold together.
	_, err = alice.Pay(ctx, "", carol.Address(), 40_000)
	if _, err2 := alice.Withdraw(ctx, "", 1); err2 != nil {
		t.Fatal(err2)
	}
	if err != nil {
		t.Fatalf("a payment the deposit can cover: %v", err)
	}
}

func TestBank_OneHoldingLimitAcrossBanks(t *testing.T) {
	n := newTestNet(t, 2, nil)
	ctx := n.ctx
	// Dave passed KYC at both banks: the same person, written differently.
	dave1 := n.onboard("bank-1", "Dave", "P-DAVE")
	dave2 := n.onboard("bank-2", "Dave", "p-dave ")
	erin := n.register("bank-1", "Erin", "P-ERIN")
	if _, err := dave1.Withdraw(ctx, "", 80_000); err != nil {
		t.Fatal(err)
	}
	_, err := dave2.Withdraw(ctx, "", 30_000)
	mustCode(t, err, protocol.CodeHoldingLimit)
	b, err := dave2.Balance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if b.Holdings != 80_000 || b.HoldingLimit != 100_000 {
		t.Errorf("dave at bank-2 sees holdings %d, limit %d; want 80000 and 100000", b.Holdings, b.HoldingLimit)
	}
	if _, err := erin.Withdraw(ctx, "", 40_000); err != nil {
		t.Fatal(err)
	}
	if _, err := erin.Pay(ctx, "", dave2.Address(), 30_000); err != nil {
		t.Fatal(err)
	}
	nextNotify(t, dave2, protocol.ReasonSweep, -10_000)
	if got := balance(t, ctx, dave2); got != 20_000 {
		t.Errorf("dave at bank-2 holds %d, want 20000 (the rest swept over the shared limit)", got)
	}
}

func TestBank_RequestToPay(t *testing.T) {
	n := newTestNet(t, 2, nil)
	ctx := n.ctx
	alice := n.register("bank-1", "Alice", "P-ALICE")
	shop := n.register("bank-2", "Corner Shop", "P-SHOP")
	if _, err := alice.Withdraw(ctx, "", 10_000); err != nil {
		t.Fatal(err)
	}
	req, err := shop.RequestPayment(ctx, "inv-1", alice.Address(), 2_500, "2 coffees", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var pushed protocol.RequestUpdate
	nextEvent(t, alice, protocol.TypePaymentRequest, &pushed)
	got := pushed.Request
	if got.Ref != req.Ref || got.Amount != 2_500 || got.Memo != "2 coffees" || got.Merchant != shop.Address() {
		t.Fatalf("alice received %+v, want %+v", got, req)
	}
	tampered := got
	tampered.Amount = 25
	_, err = alice.Approve(ctx, "", tampered)
	mustCode(t, err, protocol.CodeRequestMismatch)
	paid, err := alice.Approve(ctx, "ok-1", got)
	if err != nil || paid.Request != req.Ref {
		t.Fatalf("approve: %+v, %v", paid, err)
	}
	again, err := alice.Approve(ctx, "ok-2", got)
	if err != nil || again.Seq != paid.Seq {
		t.Fatalf("a second approval = %+v, %v; want the first payment", again, err)
	}
	var upd protocol.RequestUpdate
	nextEvent(t, shop, protocol.TypeRequestUpdate, &upd)
	if upd.Request.Ref != req.Ref || upd.Request.Status != protocol.RequestPaid {
		t.Errorf("merchant's update = %+v", upd)
	}
	if got := balance(t, ctx, shop); got != 2_500 {
		t.Errorf("shop balance = %d, want 2500", got)
	}

	// Declined, on-us this time.
	bob := n.register("bank-2", "Bob", "P-BOB")
	req2, err := shop.RequestPayment(ctx, "inv-2", bob.Address(), 700, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	nextEvent(t, bob, protocol.TypePaymentRequest, &pushed)
	got = pushed.Request
	if _, err := bob.Decline(ctx, "", req2.Ref); err != nil {
		t.Fatal(err)
	}
	nextEvent(t, shop, protocol.TypeRequestUpdate, &upd)
	if upd.Request.Ref != req2.Ref || upd.Request.Status != protocol.RequestDeclined {
		t.Errorf("merchant's update = %+v", upd)
	}
	_, err = bob.Approve(ctx, "", got)
	mustCode(t, err, protocol.CodeRequestClosed)
	// A payer the other bank does not have: the request comes back declined.
	req3, err := shop.RequestPayment(ctx, "inv-3", "w-00000000000000000000@bank-1", 100, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	nextEvent(t, shop, protocol.TypeRequestUpdate, &upd)
	if upd.Request.Ref != req3.Ref || upd.Request.Status != protocol.RequestDeclined {
		t.Errorf("update for an unknown payer = %+v", upd)
	}
	list, err := shop.Requests(ctx)
	if err != nil || len(list.Outgoing) != 3 {
		t.Fatalf("shop's requests = %+v, %v", list, err)
	}
}

func TestBank_ScheduledPayments(t *testing.T) {
	n := newTestNet(t, 2, nil)
	ctx := n.ctx
	alice := n.register("bank-1", "Alice", "P-ALICE")
	carol := n.register("bank-2", "Carol", "P-CAROL")
	if _, err := alice.Withdraw(ctx, "", 10_000); err != nil {
		t.Fatal(err)
	}
	once, err := alice.Schedule(ctx, "", carol.Address(), 1_000, time.Now().Add(200*time.Millisecond), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := alice.Schedule(ctx, "", carol.Address(), 500, time.Now(), time.Second, 2)
	if err != nil {
		t.Fatal(err)
	}
	done := map[string]int{}
	for len(done) < 2 || done[rec.Ref] < 2 {
		var u protocol.ScheduleUpdate
		nextEvent(t, alice, protocol.TypeScheduleUpdate, &u)
		if u.Error != nil || u.Paid == nil {
			t.Fatalf("scheduled payment failed: %+v", u)
		}
		done[u.Schedule.Ref] = u.Schedule.Fired
	}
	if done[once.Ref] != 1 {
		t.Errorf("one-off fired %d times", done[once.Ref])
	}
	if got := balance(t, ctx, carol); got != 2_000 {
		t.Errorf("carol balance = %d, want 2000", got)
	}
	list, err := alice.Schedules(ctx)
	if err != nil || len(list) != 2 || list[0].Status != "done" || list[1].Status != "done" {
		t.Errorf("schedules = %+v, %v", list, err)
	}
}

// A wallet that registers itself gives a person id nobody checked: it must
// not be linked to, nor able to read or fill, the holdings of whoever
// really has that id.
func TestBank_SelfRegistrationIsNotLinkedAcrossBanks(t *testing.T) {
	n := newTestNet(t, 2, nil)
	ctx := n.ctx
	dave := n.onboard("bank-1", "Dave", "P-DAVE")
	if _, err := dave.Withdraw(ctx, "", 80_000); err != nil {
		t.Fatal(err)
	}
	mallory := n.register("bank-2", "Dave", "P-DAVE")
	b, err := mallory.Balance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if b.Holdings != 0 {
		t.Errorf("a self-registered wallet claiming Dave's id sees holdings of %d", b.Holdings)
	}
	if _, err := mallory.Withdraw(ctx, "", 90_000); err != nil {
		t.Errorf("a self-registered wallet is held to Dave's limit: %v", err)
	}
}
