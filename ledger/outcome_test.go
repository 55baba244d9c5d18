package ledger

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// Every error the ledger answers with says one thing about the operation
// it answered: applied, refused, its id taken, or in doubt; only a stopped
// or damaged ledger, a replica that is not (or stopped being) the leader,
// or no answer at all, leaves it in doubt.
func TestOutcomeOf_EveryError(t *testing.T) {
	inDoubt := map[*Error]bool{ErrClosed: true, ErrStorage: true, ErrCorrupt: true, ErrNotLeader: true}
	seen := map[string]bool{}
	for _, e := range Errors() {
		if seen[e.Code] {
			t.Errorf("code %s listed twice", e.Code)
		}
		seen[e.Code] = true
		if ErrorForCode(e.Code) != e {
			t.Errorf("%s does not come back from its code", e.Code)
		}
		want := Refused
		switch {
		case inDoubt[e]:
			want = InDoubt
		case e == ErrOpIDReused:
			want = IDTaken
		}
		for _, err := range []error{e, broken(e, "a detail"), &OpError{Op: "transfer", ID: "t-1", Err: broken(e, "x")}, fmt.Errorf("wrapped: %w", e)} {
			if got := OutcomeOf(err); got != want {
				t.Errorf("%v: %s, want %s", err, got, want)
			}
		}
	}
	for _, err := range []error{errors.New("connection reset"), context.DeadlineExceeded, context.Canceled} {
		if OutcomeOf(err) != InDoubt {
			t.Errorf("%v: %s, want in_doubt", err, OutcomeOf(err))
		}
	}
	if OutcomeOf(nil) != Applied {
		t.Error("nil is not applied")
	}
}

// What the ledger itself answers agrees with the classification: a
// refused operation changed nothing, and asking again under its id gets
// the same refusal; an id taken by other contents stays taken.
func TestOutcomeOf_AsTheLedgerAnswers(t *testing.T) {
	ctx := context.Background()
	l, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.OpenAccount(ctx, "o-b", AccountSpec{ID: "b", Kind: KindIntermediary}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Issue(ctx, "i-1", "b", 100); err != nil {
		t.Fatal(err)
	}
	if _, err := l.OpenAccount(ctx, "o-w", AccountSpec{ID: "w", Kind: KindWallet, Intermediary: "b"}); err != nil {
		t.Fatal(err)
	}
	before := l.Totals()
	for range 2 {
		_, err := l.Transfer(ctx, "t-big", "b", "w", 1000)
		if OutcomeOf(err) != Refused {
			t.Fatalf("overdraw: %v is %s", err, OutcomeOf(err))
		}
	}
	if _, err := l.Transfer(ctx, "t-1", "b", "w", 10); err != nil {
		t.Fatal(err)
	}
	_, err = l.Transfer(ctx, "t-1", "b", "w", 20)
	if OutcomeOf(err) != IDTaken {
		t.Fatalf("other contents under a used id: %v is %s", err, OutcomeOf(err))
	}
	if got := l.Totals(); got.Wallets != before.Wallets+10 {
		t.Errorf("wallets hold %d, want %d: a refusal moved money", got.Wallets, before.Wallets+10)
	}
	l.Close()
	_, err = l.Transfer(ctx, "t-2", "b", "w", 1)
	if OutcomeOf(err) != InDoubt {
		t.Errorf("a closed ledger: %v is %s", err, OutcomeOf(err))
	}
}
