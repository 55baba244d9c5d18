package ledger_test

// Adversarial tests of the replicated ledger written in review. A fake
// group stands in for Raft: Replicate appends the entry to one shared log
// and applies it to every member in log order (the proposer its own
// bytes, as Raft hands them back), then answers with the
// proposer's own Apply result (as raft.Apply's Response does). Hooks run
// inside Replicate, after the committer's epoch check and before the entry
// reaches the log, which is where raft.Apply would be descheduled.

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
)

type fakeGroup struct {
	mu      sync.Mutex // serialises the log, as Raft's FSM goroutine does
	members []*ledger.Ledger
	log     [][]byte
	// before, when set, runs at the start of every Replicate, outside mu.
	before func(proposer int, call int) error
	calls  int
	// after, when set, runs once the entry is applied; its error is
	// answered instead of the proposer's Apply result.
	after func(proposer int) error
	// twice, when set, delivers every entry to every member a second
	// time, and again collects what each answers.
	twice bool
	again []error
}

type member struct {
	g *fakeGroup
	i int
}

func (m member) Replicate(entry []byte) error {
	g := m.g
	g.mu.Lock()
	g.calls++
	call := g.calls
	before := g.before
	g.mu.Unlock()
	if before != nil {
		if err := before(m.i, call); err != nil {
			return err
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	e := append([]byte(nil), entry...)
	g.log = append(g.log, e)
	// As Raft does, the proposer is handed back the very bytes it
	// proposed, the others a copy.
	deliver := func(i int) error {
		if i == m.i {
			return g.members[i].Apply(entry)
		}
		return g.members[i].Apply(e)
	}
	var mine error
	for i := range g.members {
		if err := deliver(i); i == m.i {
			mine = err
		}
	}
	if g.twice {
		for i := range g.members {
			g.again = append(g.again, deliver(i))
		}
	}
	if g.after != nil {
		if err := g.after(m.i); err != nil {
			return err
		}
	}
	return mine
}

var reviewGenesis = time.Unix(1_700_000_000, 0)

func newFakeGroup(t *testing.T, n int) *fakeGroup {
	t.Helper()
	g := &fakeGroup{}
	for i := range n {
		l, err := ledger.Open(t.TempDir(), ledger.Options{Replicator: member{g, i}, GenesisTime: reviewGenesis})
		if err != nil {
			t.Fatal(err)
		}
		g.members = append(g.members, l)
	}
	t.Cleanup(func() {
		for _, l := range g.members {
			l.Close()
		}
	})
	return g
}

func mustDo(t *testing.T) func(ledger.Receipt, error) ledger.Receipt {
	return func(rc ledger.Receipt, err error) ledger.Receipt {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return rc
	}
}

func setupBanks(t *testing.T, l *ledger.Ledger, float int64) {
	t.Helper()
	ctx := context.Background()
	mustDo(t)(l.OpenAccount(ctx, "open-a", ledger.AccountSpec{ID: "bank-a", Kind: ledger.KindIntermediary}))
	mustDo(t)(l.OpenAccount(ctx, "open-b", ledger.AccountSpec{ID: "bank-b", Kind: ledger.KindIntermediary}))
	mustDo(t)(l.Issue(ctx, "issue-a", "bank-a", float))
}

// A leader whose proposal is committed but answered with an error (raft's
// ErrLeadershipLost after the entry reached a majority) answers not_leader;
// asking again under the same id after leading again finds the first
// receipt, and nothing is applied twice.
func TestReview_CommittedButFailedIsInDoubtAndRetrySafe(t *testing.T) {
	g := newFakeGroup(t, 2)
	a, b := g.members[0], g.members[1]
	a.Lead()
	setupBanks(t, a, 1_000)
	ctx := context.Background()
	g.after = func(int) error { return errors.New("leadership lost") }
	_, err := a.Transfer(ctx, "pay-1", "bank-a", "bank-b", 100)
	if !errors.Is(err, ledger.ErrNotLeader) || ledger.OutcomeOf(err) != ledger.InDoubt {
		t.Fatalf("committed-but-failed answered %v, want not_leader in doubt", err)
	}
	g.after = nil
	// The caller asks the new leader, then the old one again once it leads.
	for _, l := range []*ledger.Ledger{b, a} {
		for _, o := range g.members {
			o.Follow()
		}
		l.Lead()
		rc, err := l.Transfer(ctx, "pay-1", "bank-a", "bank-b", 100)
		if err != nil {
			t.Fatalf("retry: %v", err)
		}
		if rc.Seq != 5 {
			t.Errorf("retry answered seq %d, want the first record 5", rc.Seq)
		}
	}
	for _, l := range g.members {
		if bal, _ := l.Balance("bank-b"); bal != 100 {
			t.Errorf("bank-b holds %d, want 100 (applied exactly once)", bal)
		}
	}
}

// Follow racing a concurrent Lead: lead() bumps the epoch before it sets
// leading, and Follow bumps the epoch only when it swaps leading from true,
// so a Follow that lands between the two is lost and the ledger leads.
// (Informational: in package replica Follow and Lead are serialised on
// followLeadership except for the committer's Follow after a failed
// Replicate and Close's.)
func TestReview_FollowAfterLeadTakesEffect(t *testing.T) {
	g := newFakeGroup(t, 1)
	a := g.members[0]
	for range 200 {
		a.Lead()
		a.Follow()
		if a.Leading() {
			t.Fatal("Follow after Lead returned left the ledger leading")
		}
	}
}
