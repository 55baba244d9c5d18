package replica

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
)

// Every replica stopped and started again: Raft hands its whole log to
// each ledger again, which passes over what its journal holds; the group
// elects a leader whose ledger leads, takes operations, recognises ids
// used before the restart, and the heads agree.
func TestReview_WholeGroupRestart(t *testing.T) {
	g := newGroup(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	transfer := func(id string, amount int64) (ledger.Receipt, error) {
		return g.do(ctx, func(l *ledger.Ledger) (ledger.Receipt, error) { return l.Transfer(ctx, id, "bank-a", "bank-b", amount) })
	}
	for _, id := range []ledger.AccountID{"bank-a", "bank-b"} {
		if _, err := g.do(ctx, func(l *ledger.Ledger) (ledger.Receipt, error) {
			return l.OpenAccount(ctx, "open-"+string(id), ledger.AccountSpec{ID: id, Kind: ledger.KindIntermediary})
		}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := g.do(ctx, func(l *ledger.Ledger) (ledger.Receipt, error) { return l.Issue(ctx, "issue", "bank-a", 1_000) }); err != nil {
		t.Fatal(err)
	}
	first, err := transfer("t-0", 1)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 50; i++ {
		if _, err := transfer(fmt.Sprintf("t-%d", i), 1); err != nil {
			t.Fatal(err)
		}
	}
	for i := range g.replicas {
		g.stop(i)
	}
	for i := range g.replicas {
		g.start(i)
	}
	if rc, err := transfer("t-0", 1); err != nil || rc.Seq != first.Seq {
		t.Fatalf("t-0 asked again after the restart: %d %v, first at %d", rc.Seq, err, first.Seq)
	}
	if _, err := transfer("t-after", 1); err != nil {
		t.Fatal(err)
	}
	g.converge(10 * time.Second)
	for i, r := range g.replicas {
		if b, _ := r.Ledger().Balance("bank-b"); b != 51 {
			t.Errorf("%s: bank-b holds %d, want 51", g.peers[i].ID, b)
		}
	}
}

// Leadership moves between live replicas again and again under load (no
// replica stops, so every old leader keeps its sequencer's working state
// and follows): every acknowledged transfer is applied exactly once and
// the journals agree.
func TestReview_LeadershipTransfersUnderLoad(t *testing.T) {
	g := newGroup(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const float = 1_000_000_000
	g.openBanks(ctx, float)
	var (
		mu    sync.Mutex
		moved = map[ledger.AccountID]int64{}
		seqs  = map[uint64]string{}
	)
	stop := g.payUnderLoad(ctx, 6, func(p payment) {
		mu.Lock()
		defer mu.Unlock()
		if other, dup := seqs[p.seq]; dup {
			t.Errorf("%s and %s were both acknowledged at seq %d", other, p.id, p.seq)
		}
		seqs[p.seq] = p.id
		moved[p.from] -= p.amount
		moved[p.to] += p.amount
	})
	transfers := 12
	if testing.Short() {
		transfers = 4
	}
	for k := range transfers {
		time.Sleep(200 * time.Millisecond)
		_, r := g.leader(10 * time.Second)
		if r == nil {
			t.Fatalf("transfer %d: no leader", k)
		}
		if err := r.raft.LeadershipTransfer().Error(); err != nil {
			t.Logf("transfer %d: %v", k, err)
		}
	}
	time.Sleep(200 * time.Millisecond)
	stop()
	if t.Failed() {
		return
	}
	g.converge(10 * time.Second)
	for i, r := range g.replicas {
		for id, d := range moved {
			if got, _ := r.Ledger().Balance(id); got != float+d {
				t.Errorf("%s: %s holds %d, want %d", g.peers[i].ID, id, got, float+d)
			}
		}
	}
	t.Logf("%d transfers acknowledged over %d leadership transfers", len(seqs), transfers)
	for i := range g.replicas {
		g.stop(i)
		if rep, err := ledger.Audit(filepath.Join(g.dirs[i], "ledger")); err != nil || !rep.OK() {
			t.Errorf("%s audit: %v %+v", g.peers[i].ID, err, rep)
		}
	}
}
