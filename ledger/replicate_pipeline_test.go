package ledger_test

// Tests of a replicated ledger whose Replicator is a Proposer, so that it
// keeps more than one group commit in consensus at once. A fake log
// stands in for Raft: Propose queues the entry and returns, and a decider
// the test controls takes the entries in the order proposed and applies
// each to every member (the proposer its own bytes, the others a copy),
// or loses it.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
)

type proposed struct {
	entry  []byte
	answer chan error
}

type queuedLog struct {
	members   []*ledger.Ledger
	proposals chan proposed
	// undecided counts proposals not yet answered, or answered but
	// still to be applied: while any is, the leader does not lead again.
	undecided atomic.Int64

	mu    sync.Mutex
	taken []proposed // by the test, answered or not
}

type queuedMember struct {
	q *queuedLog
	i int
}

func (m queuedMember) Replicate(entry []byte) error { return m.Propose(entry)() }

func (m queuedMember) Propose(entry []byte) func() error {
	p := proposed{entry, make(chan error, 1)}
	m.q.undecided.Add(1)
	m.q.proposals <- p
	return func() error { return <-p.answer }
}

var errTestOver = errors.New("the test is over")

// take returns the next proposal, failing the test when none comes.
func (q *queuedLog) take(t *testing.T, what string) proposed {
	t.Helper()
	p, ok := q.poll(10 * time.Second)
	if !ok {
		t.Fatalf("%s was never proposed", what)
	}
	return p
}

// poll returns the next proposal made within d, if any.
func (q *queuedLog) poll(d time.Duration) (proposed, bool) {
	select {
	case p := <-q.proposals:
		q.mu.Lock()
		q.taken = append(q.taken, p)
		q.mu.Unlock()
		return p, true
	case <-time.After(d):
		return proposed{}, false
	}
}

// decide answers p and counts it decided.
func (q *queuedLog) decide(p proposed, err error) {
	p.answer <- err
	q.undecided.Add(-1)
}

// commit applies p to every member in log order and returns the
// proposer's (member 0's) outcome. Members that decide it differently
// (one applies it, another finds it stale) are an error.
func (q *queuedLog) commit(p proposed) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	e := slices.Clone(p.entry)
	mine := q.members[0].Apply(p.entry)
	for i, l := range q.members[1:] {
		if err := l.Apply(e); (err == nil) != (mine == nil) || err != nil && !errors.Is(err, ledger.ErrNotLeader) {
			return fmt.Errorf("member %d answered %v to an entry the leader answered %v", i+1, err, mine)
		}
	}
	return mine
}

// newQueuedLog opens a leader (member 0) and followers that take entries
// from the log only. At the end of the test every proposal still
// unanswered is answered, so the members close even when the test
// stopped half-way.
func newQueuedLog(t *testing.T, followers int) *queuedLog {
	t.Helper()
	q := &queuedLog{proposals: make(chan proposed, 64)}
	for i := range 1 + followers {
		var rep ledger.Replicator = queuedMember{q, i}
		if i > 0 {
			rep = nobody{}
		}
		l, err := ledger.Open(t.TempDir(), ledger.Options{Replicator: rep, GenesisTime: reviewGenesis})
		if err != nil {
			t.Fatal(err)
		}
		q.members = append(q.members, l)
	}
	t.Cleanup(func() {
		q.members[0].Follow()
		q.mu.Lock()
		for _, p := range q.taken {
			select {
			case p.answer <- errTestOver:
			default: // answered already
			}
		}
		q.mu.Unlock()
		closed := make(chan struct{})
		go func() {
			for {
				select {
				case p := <-q.proposals:
					p.answer <- errTestOver
				case <-closed:
					return
				}
			}
		}()
		for _, l := range q.members {
			l.Close()
		}
		close(closed)
	})
	return q
}

// The next batch is proposed while the one before it is still undecided,
// and no more than two are in consensus at once.
func TestPipelined_NextBatchIsProposedBeforeTheLastIsDecided(t *testing.T) {
	q := newQueuedLog(t, 1)
	leader := q.members[0]
	leader.Lead()
	ctx := context.Background()
	answered := make(chan error, 3)
	do := func(f func() (ledger.Receipt, error)) {
		go func() { _, err := f(); answered <- err }()
	}
	do(func() (ledger.Receipt, error) {
		return leader.OpenAccount(ctx, "open-a", ledger.AccountSpec{ID: "bank-a", Kind: ledger.KindIntermediary})
	})
	first := q.take(t, "the first batch")
	do(func() (ledger.Receipt, error) {
		return leader.OpenAccount(ctx, "open-b", ledger.AccountSpec{ID: "bank-b", Kind: ledger.KindIntermediary})
	})
	second := q.take(t, "the second batch, with the first undecided,")
	do(func() (ledger.Receipt, error) { return leader.Issue(ctx, "issue-a", "bank-a", 100) })
	if p, ok := q.poll(200 * time.Millisecond); ok {
		t.Fatalf("a third batch was proposed with two undecided: %d bytes", len(p.entry))
	}
	q.decide(first, q.commit(first))
	third := q.take(t, "the third batch, once the first was decided,")
	q.decide(second, q.commit(second))
	q.decide(third, q.commit(third))
	for range 3 {
		if err := <-answered; err != nil {
			t.Fatal(err)
		}
	}
	if b, _ := q.members[1].Balance("bank-a"); b != 100 {
		t.Errorf("the follower's bank-a holds %d, want 100", b)
	}
	requireSameHeads(t, q.members)
}

// Callers pay under unique ids and ask again on not_leader, while the
// log commits most batches, loses some (their successors then do not
// extend the journal), and commits others but loses their answers. Every
// payment is in every member's journal exactly once, and money is
// conserved.
func TestPipelined_LostAndDoubtfulBatchesApplyEachPaymentOnce(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) { pipelinedChaos(t, seed) })
	}
}

func pipelinedChaos(t *testing.T, seed uint64) {
	const callers, payments, float = 6, 40, 1_000
	q := newQueuedLog(t, 2)
	leader := q.members[0]
	rng := rand.New(rand.NewPCG(seed, 11))

	// Every operation has a minute: one unanswered by then, or asked
	// again as long, means the pipeline stuck or refused everything. A
	// member deciding an entry unlike the leader ends the run at once.
	ctx, giveUp := context.WithTimeout(context.Background(), time.Minute)
	defer giveUp()
	var groupErr error
	var groupOnce sync.Once
	groupFailed := func(err error) {
		groupOnce.Do(func() { groupErr = err; giveUp() })
	}

	// The decider is Raft's part, taking proposals in order. Of ten: seven
	// are committed; one is committed and its proposer told leadership
	// was lost; one is answered so at once and committed only before the
	// next is decided, as a deposed leader applies its old entry once the
	// new leader commits it; one never reaches the log. A leader told of a
	// failure follows, and leads again once every proposal is decided and
	// applied, as it does after Raft's barrier.
	stop := make(chan struct{})
	deciderDone := make(chan struct{})
	var stopOnce sync.Once
	stopAll := func() {
		stopOnce.Do(func() { close(stop); <-deciderDone })
	}
	t.Cleanup(stopAll)
	commit := func(p proposed) {
		if err := q.commit(p); err != nil && !errors.Is(err, ledger.ErrNotLeader) {
			groupFailed(fmt.Errorf("committing a batch: %w", err))
		}
	}
	go func() {
		defer close(deciderDone)
		var late []proposed
		for {
			var p proposed
			select {
			case <-stop:
				return
			case p = <-q.proposals:
			case <-time.After(time.Millisecond):
			}
			for _, l := range late {
				commit(l)
				q.undecided.Add(-1)
			}
			late = late[:0]
			if p.answer == nil {
				continue
			}
			switch r := rng.IntN(10); {
			case r < 7:
				answer := q.commit(p)
				if answer != nil && !errors.Is(answer, ledger.ErrNotLeader) {
					groupFailed(fmt.Errorf("committing a batch: %w", answer))
				}
				q.decide(p, answer)
			case r == 7:
				commit(p)
				q.decide(p, errors.New("leadership lost once a majority had it"))
			case r == 8:
				q.undecided.Add(1) // until it is applied
				q.decide(p, errors.New("leadership lost; the entry may still commit"))
				late = append(late, p)
			default:
				q.decide(p, errors.New("leadership lost before a majority had it"))
			}
		}
	}()
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
				if !leader.Leading() && q.undecided.Load() == 0 {
					leader.Lead()
				}
			}
		}
	}()
	leader.Lead()

	retry := func(f func() (ledger.Receipt, error)) error {
		for {
			_, err := f()
			switch {
			case ctx.Err() != nil:
				return fmt.Errorf("no answer but not_leader within the run's minute: %w", err)
			case !errors.Is(err, ledger.ErrNotLeader):
				return err
			}
		}
	}
	must := func(f func() (ledger.Receipt, error)) {
		t.Helper()
		if err := retry(f); err != nil {
			t.Fatal(err)
		}
	}
	must(func() (ledger.Receipt, error) {
		return leader.OpenAccount(ctx, "open-sink", ledger.AccountSpec{ID: "bank-sink", Kind: ledger.KindIntermediary})
	})
	for c := range callers {
		bank := ledger.AccountID(fmt.Sprint("bank-", c))
		must(func() (ledger.Receipt, error) {
			return leader.OpenAccount(ctx, "open-"+string(bank), ledger.AccountSpec{ID: bank, Kind: ledger.KindIntermediary})
		})
		must(func() (ledger.Receipt, error) { return leader.Issue(ctx, "issue-"+string(bank), bank, float) })
	}
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for c := range callers {
		bank := ledger.AccountID(fmt.Sprint("bank-", c))
		wg.Go(func() {
			for n := range payments {
				id := fmt.Sprintf("pay-%d-%d", c, n)
				if err := retry(func() (ledger.Receipt, error) { return leader.Transfer(ctx, id, bank, "bank-sink", 1) }); err != nil {
					errs <- fmt.Errorf("%s: %w", id, err)
					return
				}
			}
		})
	}
	wg.Wait()
	stopAll()
	if groupErr != nil {
		t.Fatal(groupErr)
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	requireSameHeads(t, q.members)
	for i, l := range q.members {
		seen := map[string]int{}
		for from := uint64(1); ; {
			evs, err := l.Events(from, 1000)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) == 0 {
				break
			}
			for _, e := range evs {
				seen[e.OpID]++
			}
			from = evs[len(evs)-1].Seq + 1
		}
		for c := range callers {
			for n := range payments {
				if id := fmt.Sprintf("pay-%d-%d", c, n); seen[id] != 1 {
					t.Errorf("member %d: %s is in the journal %d times", i, id, seen[id])
				}
			}
			if b, _ := l.Balance(ledger.AccountID(fmt.Sprint("bank-", c))); b != float-payments {
				t.Errorf("member %d: bank-%d holds %d, want %d", i, c, b, float-payments)
			}
		}
		if b, _ := l.Balance("bank-sink"); b != callers*payments {
			t.Errorf("member %d: the sink holds %d, want %d", i, b, callers*payments)
		}
		if running, counted := l.Recount(); running != counted {
			t.Errorf("member %d: running totals %+v, recounted %+v", i, running, counted)
		}
	}
}

func requireSameHeads(t *testing.T, members []*ledger.Ledger) {
	t.Helper()
	s0, h0 := members[0].Head()
	for i, l := range members[1:] {
		if s, h := l.Head(); s != s0 || h != h0 {
			t.Fatalf("member %d's head is %d %x, the leader's %d %x", i+1, s, h[:4], s0, h0[:4])
		}
	}
}
