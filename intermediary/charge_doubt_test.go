package intermediary_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/digital-yen/cbdc-sandbox/intermediary"
	"github.com/digital-yen/cbdc-sandbox/ledger"
)

// losingLedger loses calls as a leader frozen mid-call does: the named
// calls are neither applied nor answered (in doubt), and the test applies
// them later, as the next leader would commit what reached a majority.
type losingLedger struct {
	intermediary.Ledger
	mu   sync.Mutex
	lose map[string]bool // "transfer:<request id>" or "batch:<request id>": lose the next such call
	lost map[string]func() (ledger.Receipt, error)
}

func (l *losingLedger) losing(kind, op string, apply func() (ledger.Receipt, error)) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k := range l.lose {
		if k, id, _ := strings.Cut(k, ":"); k == kind && strings.HasSuffix(op, ":"+id) {
			delete(l.lose, kind+":"+id)
			l.lost[id] = apply
			return true
		}
	}
	return false
}

func (l *losingLedger) Transfer(ctx context.Context, op string, from, to ledger.AccountID, amount int64) (ledger.Receipt, error) {
	apply := func() (ledger.Receipt, error) { return l.Ledger.Transfer(context.Background(), op, from, to, amount) }
	if l.losing("transfer", op, apply) {
		return ledger.Receipt{}, ledger.ErrNotLeader
	}
	return apply()
}

func (l *losingLedger) Batch(ctx context.Context, op string, ts []ledger.Transfer) (ledger.Receipt, error) {
	apply := func() (ledger.Receipt, error) { return l.Ledger.Batch(context.Background(), op, ts) }
	if l.losing("batch", op, apply) {
		return ledger.Receipt{}, ledger.ErrNotLeader
	}
	return apply()
}

// A payment in doubt that goes through after the wallet's next payment
// booked its top-up leaves that top-up short. Asked again, the next
// payment is charged anew from what the wallet holds then, not refused
// insufficient_funds with money on deposit (the replicated soak's leader
// freezes found this).
func TestPay_ChargedAgainWhenAnEarlierPaymentInDoubtWentThrough(t *testing.T) {
	var ll *losingLedger
	n := newTestNet(t, 1, func(c *intermediary.Config) {
		ll = &losingLedger{Ledger: c.Ledger, lose: map[string]bool{}, lost: map[string]func() (ledger.Receipt, error){}}
		c.Ledger = ll
	})
	alice, bob := n.register("bank-1", "Alice", "P-ALICE"), n.register("bank-1", "Bob", "P-BOB")
	if _, err := alice.SetSettings(n.ctx, "", false, true); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Withdraw(n.ctx, "", 1000); err != nil {
		t.Fatal(err)
	}
	before, err := alice.Balance(n.ctx)
	if err != nil {
		t.Fatal(err)
	}
	ll.mu.Lock()
	ll.lose["transfer:p1"], ll.lose["batch:p2"] = true, true
	ll.mu.Unlock()
	if _, err := alice.Pay(n.ctx, "p1", bob.Address(), 553); err == nil {
		t.Fatal("the payment whose call was lost was answered")
	}
	if _, err := alice.Pay(n.ctx, "p2", bob.Address(), 4884); err == nil {
		t.Fatal("the charged payment whose batch was lost was answered")
	}
	if _, err := ll.lost["p1"](); err != nil { // the first goes through after all
		t.Fatal(err)
	}
	p, err := alice.Pay(n.ctx, "p2", bob.Address(), 4884)
	if err != nil {
		t.Fatalf("the charged payment asked again: %v", err)
	}
	if p.Charged != 4884-447 {
		t.Errorf("charged %d from the deposit, want %d", p.Charged, 4884-447)
	}
	after, err := alice.Balance(n.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.Balance != 0 || before.Deposit-after.Deposit != 4884-447 {
		t.Errorf("alice holds %d and her deposit fell by %d; want 0 and %d", after.Balance, before.Deposit-after.Deposit, 4884-447)
	}
	if b, err := bob.Balance(n.ctx); err != nil || b.Balance != 553+4884 {
		t.Errorf("bob holds %d (%v), want %d", b.Balance, err, 553+4884)
	}
}
