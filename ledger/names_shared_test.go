package ledger

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"unsafe"
)

// A table that takes its bytes from ahead must never write where ahead's
// table goes on growing: an id of its own is copied out, and ids ahead
// adds later leave what it holds as it was.
func TestNames_AheadSharedNeverWrittenThrough(t *testing.T) {
	seq := newNames()
	view := seq.clone()
	for _, id := range []AccountID{"issuance", "bank-a", "alice"} {
		seq.add(id)
	}
	seq.arena = append(make([]byte, 0, 4096), seq.arena...) // room to grow in place
	view.ahead = seq.shared()
	for _, id := range []AccountID{"issuance", "bank-a", "alice"} {
		view.add(id)
	}
	if unsafe.SliceData(view.arena) != unsafe.SliceData(seq.arena) {
		t.Fatal("the view copied ids the sequencer's table already held")
	}
	view.add("zed") // not in ahead: the view's own
	seq.add("bob")  // written just past alice in the sequencer's arena
	if got := view.id(3); got != "zed" {
		t.Fatalf("view's account 3 reads %q after the sequencer added bob, want zed", got)
	}
	if n, ok := seq.lookup("bob"); !ok || n != 3 || seq.id(3) != "bob" {
		t.Fatalf("sequencer's bob: %d, %v, %q", n, ok, seq.id(3))
	}
	if n, ok := view.lookup("zed"); !ok || n != 3 {
		t.Fatalf("view's zed: %d, %v", n, ok)
	}
	if _, ok := view.lookup("bob"); ok {
		t.Fatal("the view finds an id only the sequencer added")
	}
}

// A table whose earlier ids differ from ahead's does not take ahead's
// bytes, even for an id ahead holds under the same number, and even when
// its last id ends where ahead's does.
func TestNames_AheadOfAnotherTableIgnored(t *testing.T) {
	for _, c := range []struct{ seq, view []AccountID }{
		{seq: []AccountID{"aa"}, view: []AccountID{"a"}},
		{seq: []AccountID{"ab", "c"}, view: []AccountID{"a", "bc"}},
		{seq: []AccountID{"x", "b"}, view: []AccountID{"y", "b"}},
	} {
		seq, view := newNames(), newNames()
		for _, id := range append(c.seq, "d") {
			seq.add(id)
		}
		for _, id := range c.view {
			view.add(id)
		}
		view.ahead = seq.shared()
		view.add("d")
		for i, id := range append(c.view, "d") {
			if n, ok := view.lookup(id); !ok || n != uint32(i) || view.id(n) != id {
				t.Errorf("view %q beside %q: %s reads %d, %v, %q", c.view, c.seq, id, n, ok, view.id(uint32(i)))
			}
		}
		if unsafe.SliceData(view.arena) == unsafe.SliceData(seq.arena) {
			t.Errorf("view %q took the bytes of %q", c.view, c.seq)
		}
	}
}

// Accounts opened from many goroutines while others read them by id: the
// read view ends up holding the sequencer's arenas, not copies, and every
// account and holding reads back as opened. Run with -race, this also
// checks that no read touches bytes the sequencer is writing.
func TestLedger_ReadViewSharesTheSequencersNames(t *testing.T) {
	l := openTest(t, Options{CheckpointEvery: 300})
	ctx := context.Background()
	if _, err := l.OpenAccount(ctx, "bank", AccountSpec{ID: "bank-a", Kind: KindIntermediary}); err != nil {
		t.Fatal(err)
	}
	const writers, each = 8, 250
	opened := make(chan AccountID, writers*each)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				id := AccountID(fmt.Sprintf("w-%d-%d", w, i))
				spec := AccountSpec{ID: id, Kind: KindWallet, Intermediary: "bank-a", Holder: HolderID("h-" + id)}
				if _, err := l.OpenAccount(ctx, "open-"+string(id), spec); err != nil {
					t.Error(err)
					return
				}
				opened <- id
			}
		})
	}
	readers := make(chan struct{})
	var rg sync.WaitGroup
	for range 2 {
		rg.Go(func() {
			for {
				select {
				case id := <-opened:
					a, err := l.Account(id)
					if err != nil || a.ID != id || a.Holder != HolderID("h-"+id) {
						t.Errorf("account %s reads %+v, %v", id, a, err)
					}
					if _, err := l.Holder(HolderID("h-" + id)); err != nil {
						t.Errorf("holding of %s: %v", id, err)
					}
				case <-readers:
					return
				}
			}
		})
	}
	wg.Wait()
	close(readers)
	rg.Wait()
	if t.Failed() {
		return
	}
	for w := range writers {
		for i := range each {
			id := AccountID(fmt.Sprintf("w-%d-%d", w, i))
			if a, err := l.Account(id); err != nil || a.ID != id {
				t.Fatalf("account %s reads %+v, %v", id, a, err)
			}
		}
	}
	l.viewMu.RLock()
	defer l.viewMu.RUnlock()
	if unsafe.SliceData(l.view.names.arena) != unsafe.SliceData(l.work.names.arena) {
		t.Error("the read view keeps its own copy of the account ids")
	}
	if unsafe.SliceData(l.view.holders.tokens.arena) != unsafe.SliceData(l.work.holders.tokens.arena) {
		t.Error("the read view keeps its own copy of the holder tokens")
	}
}

// A replica that leads, follows and leads again sequences from a copy of
// its view each time; the view then shares the new copy's ids, and every
// account opened under each leadership reads back.
func TestLedger_ReadViewSharesNamesAcrossLeaderships(t *testing.T) {
	var l *Ledger
	l = openTest(t, Options{Replicator: self{&l}})
	ctx := context.Background()
	l.Lead()
	if _, err := l.OpenAccount(ctx, "bank", AccountSpec{ID: "bank-a", Kind: KindIntermediary}); err != nil {
		t.Fatal(err)
	}
	for term := range 3 {
		for i := range 20 {
			id := AccountID(fmt.Sprintf("w-%d-%d", term, i))
			spec := AccountSpec{ID: id, Kind: KindWallet, Intermediary: "bank-a", Holder: HolderID("h-" + id)}
			if _, err := l.OpenAccount(ctx, "open-"+string(id), spec); err != nil {
				t.Fatal(err)
			}
		}
		l.Follow()
		l.Lead()
	}
	for term := range 3 {
		for i := range 20 {
			id := AccountID(fmt.Sprintf("w-%d-%d", term, i))
			if a, err := l.Account(id); err != nil || a.ID != id || a.Holder != HolderID("h-"+id) {
				t.Fatalf("account %s reads %+v, %v", id, a, err)
			}
		}
	}
	if _, err := l.OpenAccount(ctx, "open-last", AccountSpec{ID: "last", Kind: KindWallet, Intermediary: "bank-a"}); err != nil {
		t.Fatal(err)
	}
	l.viewMu.RLock()
	defer l.viewMu.RUnlock()
	if unsafe.SliceData(l.view.names.arena) != unsafe.SliceData(l.work.names.arena) {
		t.Error("after leading again, the read view keeps its own copy of the account ids")
	}
}
