package intermediary_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/intermediary"
	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/protocol"
	"github.com/digital-yen/cbdc-sandbox/wallet"
)

// lossyLedger loses the ledger's answer to chosen operations once: the
// operation is applied, but the bank hears only a network error, as when a
// connection drops after the ledger committed.
type lossyLedger struct {
	intermediary.Ledger
	mu   sync.Mutex
	lose map[string]bool // "transfer " or "batch " and an op id prefix whose next answer is lost
}

func (l *lossyLedger) loseNext(prefix string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lose[prefix] = true
}

func (l *lossyLedger) lost(op string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for p := range l.lose {
		if strings.HasPrefix(op, p) {
			delete(l.lose, p)
			return true
		}
	}
	return false
}

var errLostAnswer = errors.New("read tcp 127.0.0.1:7400: connection reset by peer")

func (l *lossyLedger) Transfer(ctx context.Context, op string, from, to ledger.AccountID, amount int64) (ledger.Receipt, error) {
	rc, err := l.Ledger.Transfer(ctx, op, from, to, amount)
	if l.lost("transfer " + op) {
		return ledger.Receipt{}, errLostAnswer
	}
	return rc, err
}

func (l *lossyLedger) Batch(ctx context.Context, op string, ts []ledger.Transfer) (ledger.Receipt, error) {
	rc, err := l.Ledger.Batch(ctx, op, ts)
	if l.lost("batch " + op) {
		return ledger.Receipt{}, errLostAnswer
	}
	return rc, err
}

func TestBank_LostLedgerAnswersAreResolvedOnce(t *testing.T) {
	lossy := &lossyLedger{lose: map[string]bool{"transfer w:": true}}
	n := newTestNet(t, 2, func(c *intermediary.Config) {
		if c.ID == "bank-1" {
			lossy.Ledger = c.Ledger
			c.Ledger = lossy
		}
	})
	ctx := n.ctx
	alice := n.register("bank-1", "Alice", "P-ALICE")
	carol := n.register("bank-2", "Carol", "P-CAROL")

	_, err := alice.Withdraw(ctx, "wd-1", 30_000)
	mustCode(t, err, protocol.CodeUnavailable)
	st, _ := n.banks["bank-1"].Status(ctx)
	if st.PendingIntents != 1 {
		t.Fatalf("pending intents = %d after a lost answer, want 1", st.PendingIntents)
	}
	w, err := alice.Withdraw(ctx, "wd-1", 30_000)
	if err != nil || w.Deposit != intermediaryOpening-30_000 {
		t.Fatalf("retry after a lost answer = %+v, %v; want the deposit debited once", w, err)
	}
	if got := balance(t, ctx, alice); got != 30_000 {
		t.Fatalf("alice holds %d, want 30000", got)
	}

	// A plain payment whose answer is lost: the retry finds it at the ledger.
	lossy.loseNext("transfer w:")
	_, err = alice.Pay(ctx, "pay-1", carol.Address(), 1_000)
	mustCode(t, err, protocol.CodeUnavailable)
	if _, err := alice.Pay(ctx, "pay-1", carol.Address(), 1_000); err != nil {
		t.Fatal(err)
	}
	if got := balance(t, ctx, carol); got != 1_000 {
		t.Errorf("carol holds %d, want 1000", got)
	}

	// An auto-charged payment whose answer is lost: nobody retries, the
	// bank resolves it by itself.
	if _, err := alice.SetSettings(ctx, "", true, true); err != nil {
		t.Fatal(err)
	}
	lossy.loseNext("batch w:")
	_, err = alice.Pay(ctx, "pay-2", carol.Address(), 35_000)
	mustCode(t, err, protocol.CodeUnavailable)
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, _ := n.banks["bank-1"].Status(ctx)
		if st.PendingIntents == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the lost auto-charge was not resolved: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	b, err := alice.Balance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if b.Balance != 0 || b.Deposit != intermediaryOpening-30_000-6_000 {
		t.Errorf("alice after the resolved auto-charge = %+v", b)
	}
}

func TestBank_RestartKeepsCustomersAndFeedPosition(t *testing.T) {
	n := newTestNet(t, 1, nil)
	ctx := n.ctx
	key := newKey(t)
	alice := n.registerKey("bank-1", "Alice", "P-ALICE", key)
	if _, err := alice.Withdraw(ctx, "", 5_000); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Deposit(ctx, "", 2_000); err != nil {
		t.Fatal(err)
	}
	alice.Close()
	old := n.banks["bank-1"]
	old.srv.CloseClientConnections()
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	old.srv.Close()
	delete(n.banks, "bank-1")

	// Reopen over the same file; its books must be where they were.
	b := n.reopenBank("bank-1", old)
	c, err := wallet.Dial(ctx, b.url, key, wallet.DialOptions{})
	if err != nil {
		t.Fatalf("hello after the bank restarted: %v", err)
	}
	defer c.Close()
	bal, err := c.Balance(ctx)
	if err != nil || bal.Balance != 3_000 || bal.Deposit != intermediaryOpening-3_000 {
		t.Fatalf("after restart: %+v, %v; want 3000 in the wallet and the deposit credited once", bal, err)
	}
	if _, err := c.Deposit(ctx, "", 1_000); err != nil {
		t.Fatal(err)
	}
	bal, _ = c.Balance(ctx)
	if bal.Deposit != intermediaryOpening-2_000 {
		t.Errorf("deposit after another deposit = %d", bal.Deposit)
	}
}

// slowLedger makes batches and redemptions slower than the bank's retries
// of pending intents, as a slow network ledger would.
type slowLedger struct {
	intermediary.Ledger
	d time.Duration
}

func (l *slowLedger) Batch(ctx context.Context, op string, ts []ledger.Transfer) (ledger.Receipt, error) {
	time.Sleep(l.d)
	return l.Ledger.Batch(ctx, op, ts)
}

func (l *slowLedger) Redeem(ctx context.Context, op string, amount int64) (ledger.Receipt, error) {
	time.Sleep(l.d)
	return l.Ledger.Redeem(ctx, op, amount)
}

func slowBank1(c *intermediary.Config) {
	c.RetryEvery = 20 * time.Millisecond
	if c.ID == "bank-1" {
		c.Ledger = &slowLedger{Ledger: c.Ledger, d: 300 * time.Millisecond}
	}
}

// The retry loop finds an intent pending while its own instruction is
// still waiting for the ledger: the refusal must be reversed once.
func TestBank_RefusedChargeReversedOnceUnderRetries(t *testing.T) {
	n := newTestNet(t, 2, slowBank1)
	ctx := n.ctx
	alice := n.register("bank-1", "Alice", "P-ALICE")
	carol := n.register("bank-2", "Carol", "P-CAROL")
	if _, err := carol.Withdraw(ctx, "", 100_000); err != nil {
		t.Fatal(err)
	}
	if _, err := carol.SetSettings(ctx, "", false, false); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SetSettings(ctx, "", true, true); err != nil {
		t.Fatal(err)
	}
	_, err := alice.Pay(ctx, "p1", carol.Address(), 1_000) // auto-charged, then refused: carol is full
	mustCode(t, err, protocol.CodeHoldingLimit)
	time.Sleep(200 * time.Millisecond) // more retries
	b, err := alice.Balance(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if b.Deposit != intermediaryOpening || b.Balance != 0 {
		t.Errorf("alice after a refused auto-charge = %+v, want the deposit untouched", b)
	}
}

func TestBank_RedemptionCreditedOnceUnderRetries(t *testing.T) {
	n := newTestNet(t, 1, slowBank1)
	ctx := n.ctx
	b := n.banks["bank-1"]
	before, err := b.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.RedeemFloat(ctx, 1_000_000); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	after, _ := b.Status(ctx)
	if after.Reserves-before.Reserves != 1_000_000 || before.Float-after.Float != 1_000_000 {
		t.Errorf("a redemption of 1000000 moved reserves by %d and the float by %d", after.Reserves-before.Reserves, after.Float-before.Float)
	}
}
