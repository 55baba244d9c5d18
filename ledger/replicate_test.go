package ledger_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
)

// pair replicates a leader's entries to a follower by hand, keeping a copy
// of each entry so tests can hand them in again or change them.
type pair struct {
	mu       sync.Mutex
	leader   *ledger.Ledger
	follower *ledger.Ledger
	entries  [][]byte
	fail     error // when set, Replicate answers it without applying,
	// or, with failAfterApply, after applying it: held, its answer lost
	failAfterApply bool
}

func (p *pair) Replicate(entry []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail != nil && !p.failAfterApply {
		return p.fail
	}
	p.entries = append(p.entries, append([]byte(nil), entry...))
	if err := p.follower.Apply(entry); err != nil {
		return err
	}
	if err := p.leader.Apply(entry); err != nil {
		return err
	}
	return p.fail
}

// log is a copy of the entries replicated so far.
func (p *pair) log() [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([][]byte(nil), p.entries...)
}

type nobody struct{}

func (nobody) Replicate([]byte) error { return errors.New("followers do not propose") }

// alone replicates to its own ledger only, as a group of one.
type alone struct{ l **ledger.Ledger }

func (a alone) Replicate(entry []byte) error { return (*a.l).Apply(entry) }

func newPair(t *testing.T) *pair {
	t.Helper()
	p := &pair{}
	genesis := time.Unix(1_700_000_000, 0)
	var err error
	if p.follower, err = ledger.Open(t.TempDir(), ledger.Options{Replicator: alone{&p.follower}, GenesisTime: genesis}); err != nil {
		t.Fatal(err)
	}
	if p.leader, err = ledger.Open(t.TempDir(), ledger.Options{Replicator: p, GenesisTime: genesis}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.leader.Close(); p.follower.Close() })
	return p
}

func TestReplicated_FollowerHasTheLeadersJournal(t *testing.T) {
	p := newPair(t)
	ctx := context.Background()
	if _, err := p.leader.OpenAccount(ctx, "open-a", ledger.AccountSpec{ID: "bank-a", Kind: ledger.KindIntermediary}); !errors.Is(err, ledger.ErrNotLeader) {
		t.Fatalf("a replica that was never made leader answered %v, want not_leader", err)
	}
	p.leader.Lead()
	for _, op := range []func() (ledger.Receipt, error){
		func() (ledger.Receipt, error) {
			return p.leader.OpenAccount(ctx, "open-a", ledger.AccountSpec{ID: "bank-a", Kind: ledger.KindIntermediary})
		},
		func() (ledger.Receipt, error) {
			return p.leader.OpenAccount(ctx, "open-b", ledger.AccountSpec{ID: "bank-b", Kind: ledger.KindIntermediary})
		},
		func() (ledger.Receipt, error) { return p.leader.Issue(ctx, "issue-a", "bank-a", 1_000) },
		func() (ledger.Receipt, error) { return p.leader.Transfer(ctx, "pay-1", "bank-a", "bank-b", 300) },
	} {
		if _, err := op(); err != nil {
			t.Fatal(err)
		}
	}
	ls, lh := p.leader.Head()
	fs, fh := p.follower.Head()
	if ls != fs || lh != fh {
		t.Fatalf("leader's head %d %x, follower's %d %x", ls, lh[:4], fs, fh[:4])
	}
	if b, _ := p.follower.Balance("bank-b"); b != 300 {
		t.Errorf("the follower's bank-b holds %d, want 300", b)
	}
	// Entries handed in again (a log replayed after a restart) are refused
	// as not extending the journal, and change nothing.
	for _, e := range p.entries {
		if err := p.follower.Apply(e); !errors.Is(err, ledger.ErrNotLeader) {
			t.Errorf("an entry applied again: %v, want it refused as stale", err)
		}
	}
	if s, h := p.follower.Head(); s != fs || h != fh {
		t.Error("applying entries again moved the follower's head")
	}
	// The follower made leader sequences from its view and knows the ids
	// the old leader used.
	p.leader.Follow()
	p.follower.Lead()
	if _, err := p.follower.Transfer(ctx, "pay-1", "bank-a", "bank-b", 999); !errors.Is(err, ledger.ErrOpIDReused) {
		t.Errorf("the new leader took an id the old one used for other contents: %v", err)
	}
}

func TestReplicated_EntryThatDoesNotChainIsRefused(t *testing.T) {
	p := newPair(t)
	p.leader.Lead()
	ctx := context.Background()
	if _, err := p.leader.OpenAccount(ctx, "open-a", ledger.AccountSpec{ID: "bank-a", Kind: ledger.KindIntermediary}); err != nil {
		t.Fatal(err)
	}
	entry := p.entries[0]
	other, err := ledger.Open(t.TempDir(), ledger.Options{Replicator: nobody{}, GenesisTime: time.Unix(1, 0)})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.Apply(entry); err == nil {
		t.Error("an entry for another genesis was applied")
	}
	if s, _ := other.Head(); s != 1 {
		t.Errorf("the other ledger moved to record %d", s)
	}
	changed := append([]byte(nil), entry...)
	changed[len(changed)-1] ^= 1
	fresh, err := ledger.Open(t.TempDir(), ledger.Options{Replicator: nobody{}, GenesisTime: time.Unix(1_700_000_000, 0)})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if err := fresh.Apply(changed); err == nil {
		t.Error("an entry changed in transit was applied")
	}
	if err := fresh.Apply([]byte{9, 1, 2}); !errors.Is(err, ledger.ErrCorrupt) {
		t.Errorf("an entry of an unknown version: %v", err)
	}
	if s, _ := fresh.Head(); s != 1 {
		t.Errorf("refused entries moved the journal to record %d", s)
	}
}

// A leader whose proposal fails answers not_leader (in doubt) and takes
// nothing more until it leads again.
func TestReplicated_LostLeadershipIsInDoubt(t *testing.T) {
	p := newPair(t)
	p.leader.Lead()
	ctx := context.Background()
	p.fail = errors.New("leadership lost")
	_, err := p.leader.OpenAccount(ctx, "open-a", ledger.AccountSpec{ID: "bank-a", Kind: ledger.KindIntermediary})
	if !errors.Is(err, ledger.ErrNotLeader) || ledger.OutcomeOf(err) != ledger.InDoubt {
		t.Fatalf("a failed proposal answered %v, want not_leader in doubt", err)
	}
	if p.leader.Leading() {
		t.Error("the ledger still leads after its proposal failed")
	}
	p.fail = nil
	p.leader.Lead()
	if _, err := p.leader.OpenAccount(ctx, "open-a", ledger.AccountSpec{ID: "bank-a", Kind: ledger.KindIntermediary}); err != nil {
		t.Fatalf("asked again under the same id at the leader: %v", err)
	}
}
