package ledger

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
)

// TestLedger_Rules is the specification of what the ledger refuses. Each
// case runs against a fresh fixture and must leave it exactly as it was.
func TestLedger_Rules(t *testing.T) {
	spec := func(id AccountID, k Kind, inter AccountID) AccountSpec {
		return AccountSpec{ID: id, Kind: k, Intermediary: inter}
	}
	type call func(f *fixture) (Receipt, error)
	tests := []struct {
		name string
		call call
		want *Error
	}{
		{"empty op id", func(f *fixture) (Receipt, error) { return f.l.Transfer(f.ctx, "", "alice", "bob", 1) }, ErrInvalidOpID},
		{"op id too long", func(f *fixture) (Receipt, error) {
			return f.l.Transfer(f.ctx, strings.Repeat("x", 65), "alice", "bob", 1)
		}, ErrInvalidOpID},
		{"op id with a space", func(f *fixture) (Receipt, error) { return f.l.Transfer(f.ctx, "pay 1", "alice", "bob", 1) }, ErrInvalidOpID},
		{"zero amount", func(f *fixture) (Receipt, error) { return f.l.Transfer(f.ctx, "x", "alice", "bob", 0) }, ErrInvalidAmount},
		{"negative amount", func(f *fixture) (Receipt, error) { return f.l.Transfer(f.ctx, "x", "alice", "bob", -5) }, ErrInvalidAmount},
		{"negative issue", func(f *fixture) (Receipt, error) { return f.l.Issue(f.ctx, "x", "bank-a", -1) }, ErrInvalidAmount},
		{"issue overflowing circulation", func(f *fixture) (Receipt, error) {
			return f.l.Issue(f.ctx, "x", "bank-a", math.MaxInt64)
		}, ErrAmountOverflow},
		{"transfer more than anyone holds", func(f *fixture) (Receipt, error) {
			return f.l.Transfer(f.ctx, "x", "alice", "bob", math.MaxInt64)
		}, ErrInsufficientFunds},
		{"insufficient funds", func(f *fixture) (Receipt, error) { return f.l.Transfer(f.ctx, "x", "alice", "bob", 10_001) }, ErrInsufficientFunds},
		{"redeem more than the float", func(f *fixture) (Receipt, error) { return f.l.Redeem(f.ctx, "x", "bank-a", 2_000_000) }, ErrInsufficientFunds},
		{"transfer to self", func(f *fixture) (Receipt, error) { return f.l.Transfer(f.ctx, "x", "alice", "alice", 1) }, ErrSameAccount},
		{"unknown payer", func(f *fixture) (Receipt, error) { return f.l.Transfer(f.ctx, "x", "carol", "bob", 1) }, ErrUnknownAccount},
		{"unknown payee", func(f *fixture) (Receipt, error) { return f.l.Transfer(f.ctx, "x", "alice", "carol", 1) }, ErrUnknownAccount},
		{"malformed account id", func(f *fixture) (Receipt, error) { return f.l.Transfer(f.ctx, "x", "alice", "bo/b", 1) }, ErrInvalidAccountID},
		{"transfer from issuance", func(f *fixture) (Receipt, error) {
			return f.l.Transfer(f.ctx, "x", IssuanceAccount, "alice", 1)
		}, ErrIssuanceAccount},
		{"transfer to issuance", func(f *fixture) (Receipt, error) {
			return f.l.Transfer(f.ctx, "x", "alice", IssuanceAccount, 1)
		}, ErrIssuanceAccount},
		{"issue to a wallet", func(f *fixture) (Receipt, error) { return f.l.Issue(f.ctx, "x", "alice", 1) }, ErrWrongKind},
		{"redeem from a wallet", func(f *fixture) (Receipt, error) { return f.l.Redeem(f.ctx, "x", "alice", 1) }, ErrWrongKind},
		{"issue to unknown", func(f *fixture) (Receipt, error) { return f.l.Issue(f.ctx, "x", "bank-z", 1) }, ErrUnknownAccount},
		{"transfer from closed", func(f *fixture) (Receipt, error) {
			f.open("dave", KindWallet, "bank-a")
			f.must(f.l.CloseAccount(f.ctx, f.id(), "dave"))
			return f.l.Transfer(f.ctx, "x", "dave", "bob", 1)
		}, ErrAccountClosed},
		{"transfer to closed", func(f *fixture) (Receipt, error) {
			f.open("dave", KindWallet, "bank-a")
			f.must(f.l.CloseAccount(f.ctx, f.id(), "dave"))
			return f.l.Transfer(f.ctx, "x", "alice", "dave", 1)
		}, ErrAccountClosed},
		{"open existing id", func(f *fixture) (Receipt, error) {
			return f.l.OpenAccount(f.ctx, "x", spec("alice", KindWallet, "bank-a"))
		}, ErrAccountExists},
		{"reopen closed id", func(f *fixture) (Receipt, error) {
			f.open("dave", KindWallet, "bank-a")
			f.must(f.l.CloseAccount(f.ctx, f.id(), "dave"))
			return f.l.OpenAccount(f.ctx, "x", spec("dave", KindWallet, "bank-a"))
		}, ErrAccountExists},
		{"open issuance kind", func(f *fixture) (Receipt, error) {
			return f.l.OpenAccount(f.ctx, "x", spec("central-2", KindIssuance, ""))
		}, ErrWrongKind},
		{"open unknown kind", func(f *fixture) (Receipt, error) { return f.l.OpenAccount(f.ctx, "x", spec("w", Kind(9), "")) }, ErrWrongKind},
		{"wallet without intermediary", func(f *fixture) (Receipt, error) {
			return f.l.OpenAccount(f.ctx, "x", spec("w", KindWallet, ""))
		}, ErrWrongKind},
		{"wallet served by a wallet", func(f *fixture) (Receipt, error) {
			return f.l.OpenAccount(f.ctx, "x", spec("w", KindWallet, "alice"))
		}, ErrWrongKind},
		{"escrow served by the issuance account", func(f *fixture) (Receipt, error) {
			return f.l.OpenAccount(f.ctx, "x", spec("e", KindEscrow, IssuanceAccount))
		}, ErrWrongKind},
		{"wallet served by unknown bank", func(f *fixture) (Receipt, error) {
			return f.l.OpenAccount(f.ctx, "x", spec("w", KindWallet, "bank-z"))
		}, ErrUnknownAccount},
		{"intermediary served by another", func(f *fixture) (Receipt, error) {
			return f.l.OpenAccount(f.ctx, "x", spec("bank-c", KindIntermediary, "bank-a"))
		}, ErrWrongKind},
		{"wallet served by a closed bank", func(f *fixture) (Receipt, error) {
			f.open("bank-c", KindIntermediary, "")
			f.must(f.l.CloseAccount(f.ctx, f.id(), "bank-c"))
			return f.l.OpenAccount(f.ctx, "x", spec("w", KindWallet, "bank-c"))
		}, ErrAccountClosed},
		{"malformed new account id", func(f *fixture) (Receipt, error) {
			return f.l.OpenAccount(f.ctx, "x", spec("a b", KindWallet, "bank-a"))
		}, ErrInvalidAccountID},
		{"close with balance", func(f *fixture) (Receipt, error) { return f.l.CloseAccount(f.ctx, "x", "alice") }, ErrAccountNotEmpty},
		{"close issuance", func(f *fixture) (Receipt, error) { return f.l.CloseAccount(f.ctx, "x", IssuanceAccount) }, ErrWrongKind},
		{"close twice", func(f *fixture) (Receipt, error) {
			f.open("dave", KindWallet, "bank-a")
			f.must(f.l.CloseAccount(f.ctx, f.id(), "dave"))
			return f.l.CloseAccount(f.ctx, "x", "dave")
		}, ErrAccountClosed},
		{"close serving intermediary", func(f *fixture) (Receipt, error) {
			f.open("bank-c", KindIntermediary, "")
			f.open("dave", KindWallet, "bank-c")
			return f.l.CloseAccount(f.ctx, "x", "bank-c")
		}, ErrAccountInUse},
		{"empty batch", func(f *fixture) (Receipt, error) { return f.l.Batch(f.ctx, "x", nil) }, ErrBatchSize},
		{"oversized batch", func(f *fixture) (Receipt, error) {
			return f.l.Batch(f.ctx, "x", make([]Transfer, MaxBatchTransfers+1))
		}, ErrBatchSize},
		{"batch whose last transfer fails", func(f *fixture) (Receipt, error) {
			return f.l.Batch(f.ctx, "x", []Transfer{{"alice", "bob", 6_000}, {"bob", "alice", 1}, {"alice", "bob", 6_000}})
		}, ErrInsufficientFunds},
		{"batch with a bad account", func(f *fixture) (Receipt, error) {
			return f.l.Batch(f.ctx, "x", []Transfer{{"alice", "bob", 1}, {"alice", "nobody", 1}})
		}, ErrUnknownAccount},
		{"reused op id, other contents", func(f *fixture) (Receipt, error) {
			f.must(f.l.Transfer(f.ctx, "pay", "alice", "bob", 1))
			return f.l.Transfer(f.ctx, "pay", "alice", "bob", 2)
		}, ErrOpIDReused},
		{"reused op id, other kind of op", func(f *fixture) (Receipt, error) {
			f.must(f.l.Transfer(f.ctx, "pay", "alice", "bob", 1))
			return f.l.Issue(f.ctx, "pay", "bank-a", 1)
		}, ErrOpIDReused},
		{"genesis id is taken", func(f *fixture) (Receipt, error) { return f.l.Issue(f.ctx, "genesis", "bank-a", 1) }, ErrOpIDReused},
		{"holder token on an escrow account", func(f *fixture) (Receipt, error) {
			return f.l.OpenAccount(f.ctx, "x", AccountSpec{ID: "e", Kind: KindEscrow, Intermediary: "bank-a", Holder: "tok:1"})
		}, ErrWrongKind},
		{"limits on an intermediary", func(f *fixture) (Receipt, error) {
			return f.l.OpenAccount(f.ctx, "x", AccountSpec{ID: "bank-c", Kind: KindIntermediary, Limits: Limits{Sweep: true}})
		}, ErrWrongKind},
		{"malformed holder token", func(f *fixture) (Receipt, error) {
			return f.l.OpenAccount(f.ctx, "x", AccountSpec{ID: "w", Kind: KindWallet, Intermediary: "bank-a", Holder: "tok 1"})
		}, ErrInvalidHolder},
		{"holder token too long", func(f *fixture) (Receipt, error) {
			return f.l.OpenAccount(f.ctx, "x", AccountSpec{ID: "w", Kind: KindWallet, Intermediary: "bank-a", Holder: HolderID(strings.Repeat("h", 65))})
		}, ErrInvalidHolder},
		{"negative holding limit at opening", func(f *fixture) (Receipt, error) {
			return f.l.OpenAccount(f.ctx, "x", AccountSpec{ID: "w", Kind: KindWallet, Intermediary: "bank-a", Limits: Limits{Holding: -1}})
		}, ErrInvalidAmount},
		{"limits on an intermediary's account", func(f *fixture) (Receipt, error) {
			return f.l.SetLimits(f.ctx, "x", "bank-a", Limits{Holding: 5})
		}, ErrWrongKind},
		{"limits on an escrow account", func(f *fixture) (Receipt, error) {
			return f.l.SetLimits(f.ctx, "x", "escrow-a", Limits{})
		}, ErrWrongKind},
		{"negative holding limit", func(f *fixture) (Receipt, error) {
			return f.l.SetLimits(f.ctx, "x", "alice", Limits{Holding: -5})
		}, ErrInvalidAmount},
		{"limits on a closed wallet", func(f *fixture) (Receipt, error) {
			f.open("dave", KindWallet, "bank-a")
			f.must(f.l.CloseAccount(f.ctx, f.id(), "dave"))
			return f.l.SetLimits(f.ctx, "x", "dave", Limits{Holding: 5})
		}, ErrAccountClosed},
		{"limits on an unknown wallet", func(f *fixture) (Receipt, error) {
			return f.l.SetLimits(f.ctx, "x", "carol", Limits{Holding: 5})
		}, ErrUnknownAccount},
		{"reused op id, other limits", func(f *fixture) (Receipt, error) {
			f.must(f.l.SetLimits(f.ctx, "lim", "alice", Limits{Holding: 50_000}))
			return f.l.SetLimits(f.ctx, "lim", "alice", Limits{Holding: 50_000, Sweep: true})
		}, ErrOpIDReused},
		{"reused op id, other holder", func(f *fixture) (Receipt, error) {
			f.must(f.l.OpenAccount(f.ctx, "open-w", AccountSpec{ID: "w", Kind: KindWallet, Intermediary: "bank-a", Holder: "tok:1"}))
			return f.l.OpenAccount(f.ctx, "open-w", AccountSpec{ID: "w", Kind: KindWallet, Intermediary: "bank-a", Holder: "tok:2"})
		}, ErrOpIDReused},
		{"credit over the holding limit", func(f *fixture) (Receipt, error) {
			f.must(f.l.SetLimits(f.ctx, f.id(), "bob", Limits{Holding: 10_001})) // room for the probe
			return f.l.Transfer(f.ctx, "x", "alice", "bob", 2)
		}, ErrHoldingLimit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			_, err := tt.call(f) // set-up calls inside may commit; compare after them
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %s", err, tt.want.Code)
			}
			if ErrorCode(err) != tt.want.Code {
				t.Errorf("code = %q, want %q", ErrorCode(err), tt.want.Code)
			}
			var oe *OpError
			if !errors.As(err, &oe) || !strings.HasPrefix(err.Error(), "ledger: ") {
				t.Errorf("error %q is not an OpError with a ledger: prefix", err)
			}
			assertNothingChanged(t, f)
		})
	}
}

// assertNothingChanged checks that a refused call left no journal record
// (set-up inside the call goes through f.must, which notes the last
// sequence it committed), and that the ledger still moves money correctly.
func assertNothingChanged(t *testing.T, f *fixture) {
	t.Helper()
	before := f.l.Totals()
	if before.Seq != f.lastSeq {
		t.Fatalf("refused call left records: journal ends at %d, set-up ended at %d", before.Seq, f.lastSeq)
	}
	balances := f.balances()
	r, err := f.l.Transfer(context.Background(), "probe-"+before.Head[:8], "alice", "bob", 1)
	if err != nil {
		t.Fatalf("probe transfer: %v", err)
	}
	if r.Seq != before.Seq+1 {
		t.Errorf("probe got seq %d, want %d", r.Seq, before.Seq+1)
	}
	balances["alice"]--
	balances["bob"]++
	for id, want := range balances {
		if got := f.balance(id); got != want {
			t.Errorf("%s = %d, want %d", id, got, want)
		}
	}
}

func (f *fixture) balances() map[AccountID]int64 {
	out := map[AccountID]int64{}
	for _, id := range []AccountID{IssuanceAccount, "bank-a", "bank-b", "alice", "bob", "escrow-a", "loss"} {
		out[id] = f.balance(id)
	}
	return out
}

func TestLedger_OperationsMoveMoney(t *testing.T) {
	f := newFixture(t)
	f.must(f.l.Transfer(f.ctx, "w2e", "alice", "escrow-a", 3_000))
	f.must(f.l.Transfer(f.ctx, "e2loss", "escrow-a", "loss", 1_000))
	f.must(f.l.Batch(f.ctx, "batch", []Transfer{{"alice", "bob", 7_000}, {"bob", "bank-b", 2_000}}))
	f.must(f.l.Redeem(f.ctx, "redeem", "bank-b", 500_000))
	want := map[AccountID]int64{
		IssuanceAccount: -1_500_000, "bank-a": 990_000, "bank-b": 492_000,
		"alice": 0, "bob": 15_000, "escrow-a": 2_000, "loss": 1_000,
	}
	for id, w := range want {
		if got := f.balance(id); got != w {
			t.Errorf("%s = %d, want %d", id, got, w)
		}
	}
	tot := f.l.Totals()
	wantTot := Totals{Circulation: 1_500_000, Intermediaries: 1_482_000, Wallets: 15_000, Escrow: 2_000, Loss: 1_000,
		Accounts: 7, Seq: tot.Seq, Head: tot.Head}
	if tot != wantTot || !tot.Conserved() {
		t.Errorf("totals = %+v, want %+v", tot, wantTot)
	}
	f.must(f.l.CloseAccount(f.ctx, "close-alice", "alice"))
	if a, _ := f.l.Account("alice"); !a.Closed || a.Intermediary != "bank-a" || a.Kind != KindWallet {
		t.Errorf("alice = %+v", a)
	}
}

func TestLedger_RetryReturnsFirstReceipt(t *testing.T) {
	f := newFixture(t)
	first := f.must(f.l.Transfer(f.ctx, "pay", "alice", "bob", 100))
	f.must(f.l.Transfer(f.ctx, "other", "alice", "bob", 1))
	again := f.must(f.l.Transfer(f.ctx, "pay", "alice", "bob", 100))
	if again != first {
		t.Errorf("retry receipt = %+v, want the first %+v", again, first)
	}
	if got := f.balance("alice"); got != 10_000-101 {
		t.Errorf("alice = %d: the retry applied twice", got)
	}
	// A refused operation does not use up its id.
	if _, err := f.l.Transfer(f.ctx, "later", "alice", "bob", 1_000_000); !errors.Is(err, ErrInsufficientFunds) {
		t.Fatalf("err = %v", err)
	}
	f.must(f.l.Transfer(f.ctx, "later", "alice", "bob", 1))
}

func TestLedger_ConcurrentRetriesApplyOnce(t *testing.T) {
	f := newFixture(t)
	receipts := make(chan Receipt, 50)
	errs := make(chan error, 50)
	for range 50 {
		go func() {
			r, err := f.l.Transfer(f.ctx, "same", "alice", "bob", 10)
			receipts <- r
			errs <- err
		}()
	}
	var first Receipt
	for i := range 50 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		r := <-receipts
		if i == 0 {
			first = r
		} else if r != first {
			t.Errorf("receipt %+v differs from %+v", r, first)
		}
	}
	if got := f.balance("bob"); got != 10_010 {
		t.Errorf("bob = %d, want 10010", got)
	}
}

func TestLedger_RetryAfterReopen(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	l, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.OpenAccount(ctx, "open", AccountSpec{ID: "bank", Kind: KindIntermediary}); err != nil {
		t.Fatal(err)
	}
	first, err := l.Issue(ctx, "issue", "bank", 500)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Issue(ctx, "late", "bank", 1); !errors.Is(err, ErrClosed) {
		t.Errorf("issue after close: err = %v, want ErrClosed", err)
	}
	l, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	again, err := l.Issue(ctx, "issue", "bank", 500)
	if err != nil || again.Seq != first.Seq || !again.Time.Equal(first.Time) {
		t.Errorf("retry after reopen = %+v, %v; want %+v", again, err, first)
	}
	if tot := l.Totals(); tot.Circulation != 500 {
		t.Errorf("circulation = %d, want 500", tot.Circulation)
	}
}
