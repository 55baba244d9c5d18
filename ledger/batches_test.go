package ledger

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Operations handed in together are each judged alone: one refused in the
// middle moves nothing and takes nothing from the others; an id asked
// twice with the same transfers is a retry and applied once, with other
// transfers it is refused; and all of them share one group commit.
func TestBatches_EachOnItsOwnInOneCommit(t *testing.T) {
	var commits atomic.Int64
	f := newFixtureWith(t, Options{OnCommit: func(int, int, time.Duration) { commits.Add(1) }})
	pay := func(id string, from, to AccountID, amount int64) BatchOp {
		return BatchOp{ID: id, Transfers: []Transfer{{from, to, amount}}}
	}
	ops := []BatchOp{
		pay("b-1", "bank-a", "bank-b", 100),
		pay("b-2", "bank-a", "nobody", 100),   // unknown payee
		pay("b-3", "alice", "bob", 1_000_000), // more than alice has
		{ID: "b-4", Transfers: []Transfer{{"bank-b", "bank-a", 7}, {"bank-a", "loss", 2_000_000}}}, // second leg fails: none of it
		pay("b-1", "bank-a", "bank-b", 100), // a retry of b-1
		pay("b-1", "bank-a", "bank-b", 101), // b-1 again, other transfers
		pay("", "bank-a", "bank-b", 1),      // no id
		pay("b-5", "alice", "bob", 250),
	}
	before := commits.Load()
	a0, b0, alice0, bob0 := f.balance("bank-a"), f.balance("bank-b"), f.balance("alice"), f.balance("bob")
	rcs, errs := f.l.Batches(f.ctx, ops)
	if got := commits.Load() - before; got != 1 {
		t.Errorf("%d group commits for operations handed in together; want 1", got)
	}
	refused := errors.New("any refusal")
	wantErr := []error{nil, ErrUnknownAccount, ErrInsufficientFunds, refused, nil, ErrOpIDReused, ErrInvalidOpID, nil}
	for i, want := range wantErr {
		switch {
		case want == nil && errs[i] != nil:
			t.Errorf("op %d (%s): %v", i, ops[i].ID, errs[i])
		case want == refused && errs[i] == nil:
			t.Errorf("op %d (%s) was applied although its second transfer cannot be", i, ops[i].ID)
		case want != nil && want != refused && !errors.Is(errs[i], want):
			t.Errorf("op %d (%s): got %v, want %v", i, ops[i].ID, errs[i], want)
		}
	}
	if rcs[4].Seq != rcs[0].Seq || rcs[0].Seq == 0 {
		t.Errorf("the retry of b-1 got sequence %d, the first %d", rcs[4].Seq, rcs[0].Seq)
	}
	if rcs[7].Seq <= rcs[0].Seq {
		t.Errorf("b-5 at %d is not after b-1 at %d: receipts out of place", rcs[7].Seq, rcs[0].Seq)
	}
	if f.balance("bank-a") != a0-100 || f.balance("bank-b") != b0+100 || f.balance("alice") != alice0-250 || f.balance("bob") != bob0+250 {
		t.Errorf("balances moved otherwise than b-1 once and b-5")
	}
	if tot := f.l.Totals(); !tot.Conserved() {
		t.Errorf("money not conserved: %+v", tot)
	}
}

// More operations than a group commit holds, or more transfers than a
// group takes, go in groups, in order, each answered at its own index; no
// commit holds more operations than the batch limit.
func TestBatches_LongerThanABatch(t *testing.T) {
	var commits atomic.Int64
	var largest atomic.Int64
	f := newFixtureWith(t, Options{MaxBatch: 7, OnCommit: func(records, _ int, _ time.Duration) {
		commits.Add(1)
		if int64(records) > largest.Load() {
			largest.Store(int64(records))
		}
	}})
	check := func(ops []BatchOp, wantCommits int64) {
		t.Helper()
		commits.Store(0)
		rcs, errs := f.l.Batches(f.ctx, ops)
		for i := range ops {
			if errs[i] != nil {
				t.Fatalf("op %d: %v", i, errs[i])
			}
			if rcs[i].OpID != ops[i].ID || i > 0 && rcs[i].Seq <= rcs[i-1].Seq {
				t.Errorf("op %d: receipt %+v after %+v", i, rcs[i], rcs[max(i-1, 0)])
			}
		}
		if got := commits.Load(); got != wantCommits {
			t.Errorf("%d operations in %d group commits, want %d", len(ops), got, wantCommits)
		}
	}
	var ops []BatchOp
	for i := range 30 {
		ops = append(ops, BatchOp{ID: fmt.Sprintf("many-%d", i), Transfers: []Transfer{{"alice", "bob", 10}}})
	}
	check(ops, 5) // 7, 7, 7, 7, 2
	if got := f.balance("bob"); got != 10_000+300 {
		t.Errorf("bob holds %d, want %d", got, 10_300)
	}
	if largest.Load() > 7 {
		t.Errorf("a group commit of %d operations, over the batch limit of 7", largest.Load())
	}
}

// Operations of many transfers are grouped by transfers too: a group
// takes at most maxGroupTransfers of them.
func TestBatches_WideOperationsGroupedByTransfers(t *testing.T) {
	var commits atomic.Int64
	f := newFixtureWith(t, Options{OnCommit: func(int, int, time.Duration) { commits.Add(1) }})
	per := maxGroupTransfers / MaxBatchTransfers // operations in a full group
	var ops []BatchOp
	for i := range per + 2 {
		o := BatchOp{ID: fmt.Sprintf("wide-%d", i)}
		for range MaxBatchTransfers {
			o.Transfers = append(o.Transfers, Transfer{"bank-a", "bank-b", 1})
		}
		ops = append(ops, o)
	}
	b := f.balance("bank-b")
	commits.Store(0)
	_, errs := f.l.Batches(f.ctx, ops)
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if got := commits.Load(); got != 2 {
		t.Errorf("%d operations of %d transfers in %d group commits, want 2", len(ops), MaxBatchTransfers, got)
	}
	if got, want := f.balance("bank-b"), b+int64(len(ops)*MaxBatchTransfers); got != want {
		t.Errorf("bank-b holds %d, want %d", got, want)
	}
}

// A group joining a batch that it would overfill waits for the next one:
// the batch limit holds while operations arrive from many callers at once.
func TestBatches_GroupsKeepTheBatchLimit(t *testing.T) {
	var largest atomic.Int64
	f := newFixtureWith(t, Options{MaxBatch: 4, OnCommit: func(records, _ int, _ time.Duration) {
		if int64(records) > largest.Load() {
			largest.Store(int64(records))
		}
	}})
	var wg sync.WaitGroup
	for c := range 8 {
		wg.Go(func() {
			for g := range 20 {
				var ops []BatchOp
				for i := range 3 {
					ops = append(ops, BatchOp{ID: fmt.Sprintf("g-%d-%d-%d", c, g, i), Transfers: []Transfer{{"bank-a", "bank-b", 1}}})
				}
				if _, errs := f.l.Batches(f.ctx, ops); errors.Join(errs...) != nil {
					t.Error(errors.Join(errs...))
					return
				}
			}
		})
	}
	wg.Wait()
	if largest.Load() > 4 {
		t.Errorf("a group commit of %d operations, over the batch limit of 4", largest.Load())
	}
}

// A caller that has given up hands in nothing more, however many groups
// its operations make.
func TestBatches_GivenUpHandsInNothing(t *testing.T) {
	f := newFixtureWith(t, Options{MaxBatch: 1})
	ctx, cancel := context.WithCancel(f.ctx)
	cancel()
	bob := f.balance("bob")
	var ops []BatchOp
	for i := range 50 {
		ops = append(ops, BatchOp{ID: fmt.Sprintf("late-%d", i), Transfers: []Transfer{{"alice", "bob", 1}}})
	}
	_, errs := f.l.Batches(ctx, ops)
	for i, err := range errs {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("op %d: %v, want context.Canceled", i, err)
		}
	}
	// One more operation, committed after anything handed in before it.
	f.must(f.l.Transfer(f.ctx, "after", "alice", "bob", 1))
	if got := f.balance("bob"); got != bob+1 {
		t.Errorf("bob's balance moved from %d to %d, want only the 1 paid after the caller gave up", bob, got)
	}
}

// A closed ledger refuses each operation under its own id.
func TestBatches_Closed(t *testing.T) {
	l := openTest(t, Options{})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	ops := []BatchOp{{ID: "x-1", Transfers: []Transfer{{"alice", "bob", 1}}}, {ID: "x-2", Transfers: []Transfer{{"alice", "bob", 1}}}}
	_, errs := l.Batches(context.Background(), ops)
	for i, err := range errs {
		var oe *OpError
		if !errors.Is(err, ErrClosed) || !errors.As(err, &oe) || oe.ID != ops[i].ID {
			t.Errorf("op %d on a closed ledger: %v", i, err)
		}
	}
}
