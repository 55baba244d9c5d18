package ledger

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"testing"
	"time"
)

// self is a group of one: the ledger applies its own entries.
type self struct{ l **Ledger }

func (s self) Replicate(entry []byte) error { return (*s.l).Apply(entry) }

type nobodyElse struct{}

func (nobodyElse) Replicate([]byte) error { return ErrNotLeader }

// pausingWriter holds its first Write until release is closed, and looks
// at every Write whether a read transaction of db is open.
type pausingWriter struct {
	buf      bytes.Buffer
	l        *Ledger
	first    sync.Once
	paused   chan struct{} // closed at the first Write
	release  chan struct{}
	writes   int
	openTxns int // writes made while a read transaction was open
}

func (w *pausingWriter) Write(p []byte) (int, error) {
	w.first.Do(func() {
		close(w.paused)
		<-w.release
	})
	w.writes++
	if w.l.db.Stats().OpenTxN != 0 {
		w.openTxns++
	}
	return w.buf.Write(p)
}

// A snapshot is taken at a point while operations go on being applied,
// the journal being read many short transactions at a time: it holds the
// records up to the point exactly, none of those applied meanwhile, and no
// read transaction is open while it is written out.
func TestSnapshot_TakenWhileWritesContinue(t *testing.T) {
	defer func(n int) { snapshotReadBytes = n }(snapshotReadBytes)
	snapshotReadBytes = 512 // a few records a transaction

	genesis := time.Unix(1_700_000_000, 0)
	var l *Ledger
	var err error
	if l, err = Open(t.TempDir(), Options{Replicator: self{&l}, GenesisTime: genesis}); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Lead()
	ctx := context.Background()
	for _, id := range []AccountID{"bank-a", "bank-b"} {
		if _, err := l.OpenAccount(ctx, "open-"+string(id), AccountSpec{ID: id, Kind: KindIntermediary}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Issue(ctx, "issue", "bank-a", 1_000_000); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if _, err := l.Transfer(ctx, fmt.Sprintf("before-%d", i), "bank-a", "bank-b", 1); err != nil {
			t.Fatal(err)
		}
	}
	seq, head, err := l.SnapshotPoint()
	if err != nil {
		t.Fatal(err)
	}

	w := &pausingWriter{l: l, paused: make(chan struct{}), release: make(chan struct{})}
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := l.WriteSnapshot(w, seq, head); err != nil {
			t.Error(err)
		}
	})
	<-w.paused // the header is out, no record yet: now the journal grows
	var after sync.WaitGroup
	after.Go(func() {
		for i := range 200 {
			if _, err := l.Transfer(ctx, fmt.Sprintf("after-%d", i), "bank-a", "bank-b", 1); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for s, _ := l.Head(); s < seq+50; s, _ = l.Head() {
		time.Sleep(time.Millisecond)
	}
	close(w.release) // the snapshot is read while the transfers go on
	wg.Wait()
	after.Wait()

	if w.openTxns != 0 {
		t.Errorf("%d of %d writes were made with a read transaction open", w.openTxns, w.writes)
	}
	if w.writes < 10 {
		t.Errorf("the snapshot took %d writes; want one per short read", w.writes)
	}
	snap := w.buf.Bytes()
	if got := binary.BigEndian.Uint64(snap[len(snapshotMagic)+1:]); got != seq {
		t.Fatalf("the snapshot's header says %d records, want %d", got, seq)
	}
	var fresh *Ledger
	if fresh, err = Open(t.TempDir(), Options{Replicator: nobodyElse{}, GenesisTime: genesis}); err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	added, err := fresh.RestoreSnapshot(bytes.NewReader(snap))
	if err != nil {
		t.Fatal(err)
	}
	if s, h := fresh.Head(); s != seq || h != head || added != seq-1 {
		t.Errorf("restored to %d %x (%d added), want %d %x", s, h[:6], added, seq, head[:6])
	}
	if s, _ := l.Head(); s < seq+200 {
		t.Fatalf("the source's journal ends at %d; the transfers after the point are missing", s)
	}
	if l.SnapshotStats().Written != 1 {
		t.Errorf("stats %+v, want one snapshot written", l.SnapshotStats())
	}
}

// A ledger whose storage has failed gives no snapshot point: its journal
// may lack entries its consensus counts as applied.
func TestSnapshot_NoPointOnceFailed(t *testing.T) {
	var l *Ledger
	var err error
	if l, err = Open(t.TempDir(), Options{Replicator: self{&l}}); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, _, err := l.SnapshotPoint(); err != nil {
		t.Fatal(err)
	}
	l.fail(fmt.Errorf("disk gone"))
	if _, _, err := l.SnapshotPoint(); err == nil {
		t.Error("a failed ledger gave a snapshot point")
	}
}
