package ledger_test

// Attacks on the replicated ledger that a review found to succeed, kept
// as regression tests now that each is refused: divergent and stale
// entries, stale leadership changes, an Apply racing Close (that one
// shows only under -race). They use the fake group of
// replicate_review_test.go.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
)

// An entry from another history that is shorter than what the replica
// holds must not be answered as applied: it does not extend the journal,
// so it is refused and changes nothing.
func TestReview_ApplyPassesOverADivergentShortEntry(t *testing.T) {
	ctx := context.Background()
	p := newFakeGroup(t, 1) // history P: one account opened
	p.members[0].Lead()
	mustDo(t)(p.members[0].OpenAccount(ctx, "open-p", ledger.AccountSpec{ID: "bank-p", Kind: ledger.KindIntermediary}))
	q := newFakeGroup(t, 1) // history Q: three accounts opened
	q.members[0].Lead()
	for _, id := range []ledger.AccountID{"bank-x", "bank-y", "bank-z"} {
		mustDo(t)(q.members[0].OpenAccount(ctx, "open-"+string(id), ledger.AccountSpec{ID: id, Kind: ledger.KindIntermediary}))
	}
	before, head := q.members[0].Head()
	err := q.members[0].Apply(p.log[0]) // record 2 of P, where Q holds a different record 2
	if err == nil || ledger.OutcomeOf(err) != ledger.InDoubt {
		t.Errorf("an entry that diverges from this replica's journal at record 2 was answered %v, want a refusal in doubt", err)
	}
	if s, h := q.members[0].Head(); s != before || h != head {
		t.Errorf("the refused entry moved the journal from %d to %d", before, s)
	}
}

// The consequence: a leader whose proposal is checked under its epoch but
// reaches the log only after it has lost and regained leadership (the
// window between replicate's epoch check and raft.Apply's enqueue) gets
// that stale batch committed after Lead cloned the view. The next batch,
// sequenced on the clone, reuses the stale batch's sequence numbers; when
// it is shorter, every replica passes over it and its caller is told
// "applied" for a transfer that is in no journal.
func TestReview_StaleProposalAfterLeadLosesAnAcknowledgedTransfer(t *testing.T) {
	g := newFakeGroup(t, 2)
	a := g.members[0]
	a.Lead()
	setupBanks(t, a, 1_000)
	ctx := context.Background()

	gate, entered := make(chan struct{}), make(chan struct{})
	var once sync.Once
	g.before = func(_ int, call int) error {
		switch call {
		case 4: // batch X: hold the committer so that Y fills behind it
			close(entered)
			<-gate
		case 5: // batch Y, two records, already past its epoch check
			once.Do(func() {
				a.Follow() // leadership lost ...
				a.Lead()   // ... and regained: a barrier, then the view (with X, without Y) is cloned
			})
		}
		return nil
	}
	var wg sync.WaitGroup
	results := make([]error, 3)
	wg.Go(func() { _, results[0] = a.Transfer(ctx, "x-1", "bank-a", "bank-b", 1) })
	<-entered
	wg.Go(func() { _, results[1] = a.Transfer(ctx, "y-1", "bank-a", "bank-b", 10) })
	wg.Go(func() { _, results[2] = a.Transfer(ctx, "y-2", "bank-a", "bank-b", 100) })
	time.Sleep(100 * time.Millisecond) // let the sequencer put both into batch Y
	close(gate)
	wg.Wait()
	for i, err := range results {
		if err != nil {
			t.Fatalf("transfer %d: %v", i, err)
		}
	}
	g.before = nil
	// Sequenced on the clone: it takes Y's first sequence number.
	rc, err := a.Transfer(ctx, "z-1", "bank-a", "bank-b", 1_000-111)
	if err == nil {
		t.Logf("z-1 acknowledged at seq %d", rc.Seq)
	}
	for i, l := range g.members {
		bal, _ := l.Balance("bank-b")
		if err == nil && bal != 1_000 {
			t.Errorf("replica %d: z-1 was acknowledged (seq %d) but bank-b holds %d, want 1000: the transfer is in no journal", i, rc.Seq, bal)
		}
	}
}

// A deposed leader that still believes it leads (its process paused, or
// before the notification reaches followLeadership) answers a rule refusal
// from its own state without any consensus round: a refusal-only batch is
// never proposed. The operation it calls refused was applied by the new
// leader, and OutcomeOf says Refused, i.e. "not applied".
func TestReview_DeposedLeaderRefusesAnAppliedOperation(t *testing.T) {
	g := newFakeGroup(t, 2)
	a, b := g.members[0], g.members[1]
	a.Lead()
	setupBanks(t, a, 100)
	ctx := context.Background()
	// b is elected; a has not heard yet (no Follow).
	b.Lead()
	mustDo(t)(b.Issue(ctx, "issue-more", "bank-a", 1_000))
	mustDo(t)(b.Transfer(ctx, "pay-1", "bank-a", "bank-b", 500))
	// pay-1's answer was lost; the bank asks again at a.
	_, err := a.Transfer(ctx, "pay-1", "bank-a", "bank-b", 500)
	if o := ledger.OutcomeOf(err); o == ledger.Refused {
		t.Errorf("the deposed leader answered %v (outcome refused) for pay-1, which is applied at seq 6", err)
	}
}

// A stale Follow (the committer's, after Replicate of a batch of an older
// leadership failed) deposes a newer leadership: the ledger then follows
// while its Raft node leads, and nothing makes it lead again until Raft's
// leadership changes.
func TestReview_StaleReplicateFailureDeposesNewLeadership(t *testing.T) {
	g := newFakeGroup(t, 1)
	a := g.members[0]
	a.Lead()
	setupBanks(t, a, 100)
	ctx := context.Background()
	g.before = func(int, int) error {
		g.before = nil
		a.Follow() // Raft steps down: inflight futures fail ...
		a.Lead()   // ... and is elected again; followLeadership leads after a barrier
		return errors.New("leadership lost")
	}
	if _, err := a.Transfer(ctx, "t-1", "bank-a", "bank-b", 1); !errors.Is(err, ledger.ErrNotLeader) {
		t.Fatalf("got %v", err)
	}
	if !a.Leading() {
		t.Error("robustness: the failure of a batch of the old leadership made the new leadership follow; nothing will call Lead again while Raft keeps this node leader")
	}
}

// Feed promises durable events and returns next past everything scanned.
// In a replicated ledger Apply moves the view (and so Feed's "last") before
// it writes the journal; a Feed that falls back to the journal (after a
// reopen the in-memory ring is empty) scans up to the durable end and
// answers next = to+1, past records it never saw.
func TestReview_FeedSkipsRecordsAppliedToTheViewBeforeTheJournal(t *testing.T) {
	g := newFakeGroup(t, 2)
	a := g.members[0]
	a.Lead()
	setupBanks(t, a, 1_000_000)
	ctx := context.Background()
	// Reopen the follower: its ring of recent records is empty.
	fdir := g.members[1].Dir()
	g.mu.Lock()
	g.members[1].Close()
	f, err := ledger.Open(fdir, ledger.Options{Replicator: member{g, 1}, GenesisTime: reviewGenesis})
	if err != nil {
		g.mu.Unlock()
		t.Fatal(err)
	}
	g.members[1] = f
	g.mu.Unlock()

	const n = 1500
	stop := make(chan struct{})
	type page struct {
		seqs []uint64
		next uint64
	}
	var pages []page
	var feedErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		bank := f.Intermediary("bank-b")
		for {
			select {
			case <-stop:
				return
			default:
			}
			fctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			ev, next, err := bank.Feed(fctx, 1, ledger.MaxPage)
			cancel()
			if err != nil {
				if !errors.Is(err, context.DeadlineExceeded) {
					feedErr = err
					return
				}
				continue
			}
			p := page{next: next}
			for _, e := range ev {
				p.seqs = append(p.seqs, e.Seq)
			}
			pages = append(pages, p)
		}
	})
	for i := range n {
		mustDo(t)(a.Transfer(ctx, fmt.Sprintf("t-%d", i), "bank-a", "bank-b", 1))
	}
	close(stop)
	wg.Wait()
	if feedErr != nil {
		t.Fatal(feedErr)
	}
	// Every record from 4 on credits bank-b (the account opened at 3).
	bad := 0
	for _, p := range pages {
		if len(p.seqs) == ledger.MaxPage {
			continue // cut by the limit
		}
		want := 0
		for s := uint64(1); s < p.next; s++ {
			if s == 3 || s >= 5 {
				want++
			}
		}
		if len(p.seqs) != want {
			bad++
			if bad <= 3 {
				t.Errorf("Feed(1) answered next %d with %d events, want %d: records it never returned are behind the bank's cursor", p.next, len(p.seqs), want)
			}
		}
	}
	t.Logf("%d feed pages, %d skipped records", len(pages), bad)
}

// Apply concurrently with Close: the committer's finalCheckpoint reads and
// clears pendingOps and the view while Apply (raft's FSM goroutine) appends
// to them. Package replica shuts Raft down first; the ledger itself does
// not guard it.
func TestReview_ApplyDuringClose(t *testing.T) {
	src := newFakeGroup(t, 1)
	src.members[0].Lead()
	ctx := context.Background()
	setupBanks(t, src.members[0], 1_000_000)
	for i := range 300 {
		mustDo(t)(src.members[0].Transfer(ctx, fmt.Sprintf("t-%d", i), "bank-a", "bank-b", 1))
	}
	f, err := ledger.Open(t.TempDir(), ledger.Options{Replicator: member{&fakeGroup{}, 0}, GenesisTime: reviewGenesis})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for _, e := range src.log {
			if f.Apply(e) != nil {
				return
			}
		}
	})
	time.Sleep(time.Millisecond)
	f.Close()
	wg.Wait()
}

// The same window seen through History: the view names a last record for
// the account that the journal does not hold yet, and History answers
// ErrCorrupt ("journal has no record N") on a healthy replica.
func TestReview_HistoryDuringApplyAnswersCorrupt(t *testing.T) {
	g := newFakeGroup(t, 2)
	a, f := g.members[0], g.members[1]
	a.Lead()
	setupBanks(t, a, 1_000_000)
	ctx := context.Background()
	stop := make(chan struct{})
	var histErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, _, err := f.History("bank-b", 0, 1); err != nil {
				histErr = err
				return
			}
		}
	})
	for i := range 500 {
		mustDo(t)(a.Transfer(ctx, fmt.Sprintf("t-%d", i), "bank-a", "bank-b", 1))
	}
	close(stop)
	wg.Wait()
	if histErr != nil {
		t.Errorf("History on a healthy follower answered %v", histErr)
	}
}

// A leader handed back its own proposal a second time (a log replayed, a
// duplicate delivery) must not apply it twice, although it takes its own
// entries without decoding them; a follower refuses a second copy alike.
func TestReview_EntryDeliveredTwiceIsAppliedOnce(t *testing.T) {
	g := newFakeGroup(t, 2)
	a := g.members[0]
	a.Lead()
	setupBanks(t, a, 1_000)
	g.twice = true
	mustDo(t)(a.Transfer(context.Background(), "pay-1", "bank-a", "bank-b", 10))
	g.twice = false
	if len(g.again) != 2 {
		t.Fatalf("%d second deliveries, want 2", len(g.again))
	}
	for i, err := range g.again {
		if !errors.Is(err, ledger.ErrNotLeader) {
			t.Errorf("replica %d, second delivery: %v, want not_leader (a stale entry)", i, err)
		}
	}
	for i, l := range g.members {
		if bal, _ := l.Balance("bank-b"); bal != 10 {
			t.Errorf("replica %d: bank-b holds %d, want 10", i, bal)
		}
		if err := l.Err(); err != nil {
			t.Errorf("replica %d failed: %v", i, err)
		}
	}
}
