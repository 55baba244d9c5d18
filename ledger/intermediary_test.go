package ledger

import (
	"errors"
	"testing"
)

// TestIntermediary_Rules is what one bank may and may not do at the
// central ledger. Each case starts from the fixture: bank-a serves alice
// and escrow-a, bank-b serves bob.
func TestIntermediary_Rules(t *testing.T) {
	tests := []struct {
		name string
		call func(f *fixture, a *Intermediary) (Receipt, error)
		want *Error // nil: allowed
	}{
		{"pay out of its own wallet, to another bank's", func(f *fixture, a *Intermediary) (Receipt, error) {
			return a.Transfer(f.ctx, "p", "alice", "bob", 10)
		}, nil},
		{"pay out of another bank's wallet", func(f *fixture, a *Intermediary) (Receipt, error) {
			return a.Transfer(f.ctx, "p", "bob", "alice", 10)
		}, ErrNotYours},
		{"pay out of another bank's float", func(f *fixture, a *Intermediary) (Receipt, error) {
			return a.Transfer(f.ctx, "p", "bank-b", "alice", 10)
		}, ErrNotYours},
		{"a batch with one foreign debit", func(f *fixture, a *Intermediary) (Receipt, error) {
			return a.Batch(f.ctx, "p", []Transfer{{"alice", "bob", 1}, {"bob", "alice", 1}})
		}, ErrNotYours},
		{"fund its wallet from its float", func(f *fixture, a *Intermediary) (Receipt, error) {
			return a.Transfer(f.ctx, "p", "bank-a", "alice", 10)
		}, nil},
		{"issue to itself", func(f *fixture, a *Intermediary) (Receipt, error) { return a.Issue(f.ctx, "p", 5) }, nil},
		{"redeem its own float", func(f *fixture, a *Intermediary) (Receipt, error) { return a.Redeem(f.ctx, "p", 5) }, nil},
		{"open a wallet it serves", func(f *fixture, a *Intermediary) (Receipt, error) {
			return a.OpenAccount(f.ctx, "p", AccountSpec{ID: "carol", Kind: KindWallet})
		}, nil},
		{"open a wallet for another bank", func(f *fixture, a *Intermediary) (Receipt, error) {
			return a.OpenAccount(f.ctx, "p", AccountSpec{ID: "carol", Kind: KindWallet, Intermediary: "bank-b"})
		}, ErrNotYours},
		{"open an intermediary", func(f *fixture, a *Intermediary) (Receipt, error) {
			return a.OpenAccount(f.ctx, "p", AccountSpec{ID: "bank-z", Kind: KindIntermediary})
		}, ErrNotYours},
		{"close a wallet it serves", func(f *fixture, a *Intermediary) (Receipt, error) {
			f.must(a.OpenAccount(f.ctx, "open-carol", AccountSpec{ID: "carol", Kind: KindWallet}))
			return a.CloseAccount(f.ctx, "p", "carol")
		}, nil},
		{"close another bank's wallet", func(f *fixture, a *Intermediary) (Receipt, error) {
			f.open("dave", KindWallet, "bank-b")
			return a.CloseAccount(f.ctx, "p", "dave")
		}, ErrNotYours},
		{"set the limits of a wallet it serves", func(f *fixture, a *Intermediary) (Receipt, error) {
			return a.SetLimits(f.ctx, "p", "alice", Limits{Holding: 50_000, Sweep: true})
		}, nil},
		{"set the limits of another bank's wallet", func(f *fixture, a *Intermediary) (Receipt, error) {
			return a.SetLimits(f.ctx, "p", "bob", Limits{Holding: 1})
		}, ErrNotYours},
		{"set limits on its own float", func(f *fixture, a *Intermediary) (Receipt, error) {
			return a.SetLimits(f.ctx, "p", "bank-a", Limits{Holding: 1})
		}, ErrNotYours},
		{"open a wallet with a holder and limits", func(f *fixture, a *Intermediary) (Receipt, error) {
			return a.OpenAccount(f.ctx, "p", AccountSpec{ID: "carol", Kind: KindWallet, Holder: "tok:carol", Limits: Limits{Holding: 300_000}})
		}, nil},
		{"act for a wallet, not a bank", func(f *fixture, _ *Intermediary) (Receipt, error) {
			return f.l.Intermediary("alice").Transfer(f.ctx, "p", "alice", "bob", 1)
		}, ErrWrongKind},
		{"act for an unknown bank", func(f *fixture, _ *Intermediary) (Receipt, error) {
			return f.l.Intermediary("bank-z").Issue(f.ctx, "p", 1)
		}, ErrUnknownAccount},
		{"act for the issuance account", func(f *fixture, _ *Intermediary) (Receipt, error) {
			return f.l.Intermediary(IssuanceAccount).Issue(f.ctx, "p", 1)
		}, ErrWrongKind},
		{"act for a closed bank", func(f *fixture, _ *Intermediary) (Receipt, error) {
			f.open("bank-c", KindIntermediary, "")
			f.must(f.l.CloseAccount(f.ctx, f.id(), "bank-c"))
			return f.l.Intermediary("bank-c").Issue(f.ctx, "p", 1)
		}, ErrAccountClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			r, err := tt.call(f, f.l.Intermediary("bank-a"))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if r.OpID != "p" {
					t.Errorf("receipt names op %q, want the bank's own id", r.OpID)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %s", err, tt.want.Code)
			}
			assertNothingChanged(t, f)
		})
	}
}

func TestIntermediary_OpIDsAreNamespaced(t *testing.T) {
	f := newFixture(t)
	a, b := f.l.Intermediary("bank-a"), f.l.Intermediary("bank-b")
	ra := f.must(a.Transfer(f.ctx, "pay-1", "alice", "bob", 100))
	rb := f.must(b.Transfer(f.ctx, "pay-1", "bob", "alice", 40))
	rc := f.must(f.l.Transfer(f.ctx, "pay-1", "bank-a", "bank-b", 1))
	if ra.Seq == rb.Seq || rb.Seq == rc.Seq {
		t.Fatalf("one id at three origins gave sequences %d, %d, %d: want three operations", ra.Seq, rb.Seq, rc.Seq)
	}
	if again := f.must(a.Transfer(f.ctx, "pay-1", "alice", "bob", 100)); again != ra {
		t.Errorf("bank-a's retry = %+v, want %+v", again, ra)
	}
	if _, err := b.Transfer(f.ctx, "pay-1", "bob", "alice", 41); !errors.Is(err, ErrOpIDReused) {
		t.Errorf("bank-b reusing its own id: err = %v", err)
	}
	if got := f.balance("alice"); got != 10_000-100+40 {
		t.Errorf("alice = %d", got)
	}
	events, err := f.l.Events(ra.Seq, 3)
	if err != nil || len(events) != 3 || events[0].Origin != "bank-a" || events[1].Origin != "bank-b" || events[2].Origin != "" {
		t.Errorf("events = %+v, %v: want origins bank-a, bank-b, central bank", events, err)
	}
}

func TestIntermediary_ReadsOnlyWhatItServes(t *testing.T) {
	f := newFixture(t)
	a := f.l.Intermediary("bank-a")
	if acct, err := a.Account(f.ctx, "alice"); err != nil || acct.Balance != 10_000 {
		t.Errorf("own wallet: %+v, %v", acct, err)
	}
	if _, err := a.Account(f.ctx, "bank-a"); err != nil {
		t.Errorf("own float: %v", err)
	}
	if _, err := a.Account(f.ctx, "bob"); !errors.Is(err, ErrNotYours) {
		t.Errorf("another bank's wallet: err = %v", err)
	}
	if _, _, err := a.History(f.ctx, "bob", 0, 10); !errors.Is(err, ErrNotYours) {
		t.Errorf("another bank's history: err = %v", err)
	}
}
