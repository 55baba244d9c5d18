package ledger

import (
	"errors"
	"testing"
)

func TestLedger_Smoke(t *testing.T) {
	f := newFixture(t)
	f.must(f.l.Transfer(f.ctx, "pay-1", "alice", "bob", 2_500))
	if got := f.balance("alice"); got != 7_500 {
		t.Errorf("alice = %d, want 7500", got)
	}
	if got := f.balance("bob"); got != 12_500 {
		t.Errorf("bob = %d, want 12500", got)
	}
	tot := f.l.Totals()
	if tot.Circulation != 2_000_000 || !tot.Conserved() {
		t.Errorf("totals = %+v", tot)
	}
	_, err := f.l.Transfer(f.ctx, "pay-2", "alice", "bob", 1_000_000)
	if !errors.Is(err, ErrInsufficientFunds) {
		t.Fatalf("err = %v, want insufficient funds", err)
	}
	t.Log(err)
}
