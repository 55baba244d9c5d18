package ledger

import (
	"cmp"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestLedger_HistoryPages(t *testing.T) {
	f := newFixture(t)
	var want []uint64 // alice's records, newest first
	for i := range 25 {
		r := f.must(f.l.Transfer(f.ctx, "h"+strconv.Itoa(i), "alice", "bob", 1))
		want = append([]uint64{r.Seq}, want...)
		f.must(f.l.Transfer(f.ctx, "noise"+strconv.Itoa(i), "bob", "bank-b", 1))
	}
	var got []uint64
	cursor := uint64(0)
	for pages := 0; ; pages++ {
		page, next, err := f.l.History("alice", cursor, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 10 {
			t.Fatalf("page of %d, limit 10", len(page))
		}
		for _, e := range page {
			got = append(got, e.Seq)
		}
		if next == 0 {
			break
		}
		cursor = next
		if pages > 10 {
			t.Fatal("paging does not end")
		}
	}
	// The fixture's transfer to alice and her opening come after the 25 payments.
	if len(got) != 27 {
		t.Fatalf("history has %d entries, want 27: %v", len(got), got)
	}
	for i, s := range want {
		if got[i] != s {
			t.Fatalf("history[%d] = %d, want %d", i, got[i], s)
		}
	}
	last := f.mustHistory("alice", got[25])
	if last.Op != "transfer" || last.Transfers[0] != (Transfer{"bank-a", "alice", 10_000}) {
		t.Errorf("funding entry = %+v", last)
	}
	if first := f.mustHistory("alice", got[26]); first.Op != "open" || first.Intermediary != "bank-a" || first.Kind != KindWallet {
		t.Errorf("opening entry = %+v", first)
	}
	if _, _, err := f.l.History("nobody", 0, 10); !errors.Is(err, ErrUnknownAccount) {
		t.Errorf("history of unknown account: err = %v", err)
	}
}

func (f *fixture) mustHistory(id AccountID, seq uint64) Event {
	f.t.Helper()
	page, _, err := f.l.History(id, seq, 1)
	if err != nil || len(page) != 1 {
		f.t.Fatalf("history %s at %d: %v, %d entries", id, seq, err, len(page))
	}
	return page[0]
}

func TestLedger_SubscribeSeesCommitsInOrder(t *testing.T) {
	f := newFixture(t)
	sub := f.l.Subscribe(100)
	defer sub.Close()
	r1 := f.must(f.l.Transfer(f.ctx, "s1", "alice", "bob", 5))
	r2 := f.must(f.l.Batch(f.ctx, "s2", []Transfer{{"bob", "alice", 2}, {"alice", "escrow-a", 1}}))
	e1, e2 := <-sub.C, <-sub.C
	if e1.Seq != r1.Seq || e1.OpID != "s1" || e1.Op != "transfer" || e1.Transfers[0] != (Transfer{"alice", "bob", 5}) {
		t.Errorf("first event = %+v", e1)
	}
	if e2.Seq != r2.Seq || e2.Op != "batch" || len(e2.Transfers) != 2 {
		t.Errorf("second event = %+v", e2)
	}
	events, err := f.l.Events(r1.Seq, 10)
	if err != nil || len(events) != 2 || events[0].Seq != r1.Seq || events[1].OpID != "s2" {
		t.Errorf("Events from %d = %+v, %v", r1.Seq, events, err)
	}
}

func TestLedger_SlowSubscriberIsDropped(t *testing.T) {
	f := newFixture(t)
	sub := f.l.Subscribe(2)
	for i := range 5 {
		f.must(f.l.Transfer(f.ctx, "p"+strconv.Itoa(i), "alice", "bob", 1))
	}
	n := 0
	for range sub.C {
		n++
	}
	if n != 2 || !errors.Is(sub.Err(), ErrSlowSubscriber) {
		t.Errorf("received %d events, err %v; want 2 and ErrSlowSubscriber", n, sub.Err())
	}
	f.must(f.l.Transfer(f.ctx, "after", "alice", "bob", 1)) // the ledger carries on
}

func TestLedger_StorageFailureStopsAndRecovers(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, l: l, ctx: t.Context()}
	f.open("bank", KindIntermediary, "")
	acked := f.must(f.l.Issue(f.ctx, "issue", "bank", 100))
	l.db.Close() // the disk goes away under the ledger
	if _, err := l.Issue(f.ctx, "lost", "bank", 5); !errors.Is(err, ErrStorage) {
		t.Fatalf("issue on a failed disk: err = %v, want ErrStorage", err)
	}
	if _, err := l.Issue(f.ctx, "after", "bank", 5); !errors.Is(err, ErrStorage) {
		t.Fatalf("issue after the failure: err = %v, want ErrStorage", err)
	}
	if tot := l.Totals(); tot.Circulation != 100 {
		t.Errorf("reads show unacknowledged money: circulation %d", tot.Circulation)
	}
	l.Close()
	l, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if tot := l.Totals(); tot.Circulation != 100 || tot.Seq != acked.Seq {
		t.Errorf("after reopen: %+v, want circulation 100 at seq %d", tot, acked.Seq)
	}
	if _, err := l.Issue(f.ctx, "lost", "bank", 5); err != nil {
		t.Errorf("the refused id is free again: %v", err)
	}
}

func TestAudit_DetectsTampering(t *testing.T) {
	f := newFixture(t)
	dir := f.l.Dir()
	mid := f.must(f.l.Transfer(f.ctx, "pay", "alice", "bob", 1_234))
	last := f.must(f.l.Transfer(f.ctx, "pay-2", "alice", "bob", 4_321))
	f.l.Close()
	amountByte := func(rec []byte) { rec[len(rec)-29] ^= 0x01 } // last byte of the amount, before no sweeps and two links
	for _, seq := range []uint64{mid.Seq, last.Seq} {
		editRecord(t, dir, seq, amountByte)
		rep, err := Audit(dir)
		if err != nil {
			t.Fatal(err)
		}
		if rep.OK() {
			t.Errorf("audit passed a changed amount in record %d", seq)
		}
		t.Logf("record %d changed: %v", seq, rep.Damage)
		// Opening checks the whole hash chain, not only what the
		// checkpoint leaves to replay.
		assertOpenFails(t, dir)
		if err := os.Rename(filepath.Join(dir, CheckpointFileName), filepath.Join(dir, "cp.aside")); err != nil {
			t.Fatal(err)
		}
		assertOpenFails(t, dir)
		if err := os.Rename(filepath.Join(dir, "cp.aside"), filepath.Join(dir, CheckpointFileName)); err != nil {
			t.Fatal(err)
		}
		editRecord(t, dir, seq, amountByte) // undo, for the next round and the final audit
	}
}

func assertOpenFails(t *testing.T, dir string) {
	t.Helper()
	l, err := Open(dir, Options{})
	if err == nil {
		l.Close()
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("open of a changed journal: err = %v, want ErrCorrupt", err)
	}
}

// editRecord changes one stored record in place, as an attacker with the
// file would.
func editRecord(t *testing.T, dir string, seq uint64, edit func(rec []byte)) {
	t.Helper()
	db := rawDB(t, dir)
	defer db.Close()
	err := db.Update(func(tx *bolt.Tx) error {
		j := tx.Bucket(bucketJournal)
		var key, chunk []byte
		j.ForEach(func(k, v []byte) error {
			c := append([]byte(nil), v...)
			eachRecord(c, func(rec []byte) error {
				if peekSeq(rec) == seq {
					edit(rec)
					key, chunk = append([]byte(nil), k...), c
				}
				return nil
			})
			return nil
		})
		if key == nil {
			t.Fatalf("no record %d", seq)
		}
		return j.Put(key, chunk)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A refusal that rests on an operation not yet durable must wait for it:
// were the disk to fail, the refusal would have been a false "no". Two
// payments each take all of alice's money; whichever comes second is
// refused, and neither may be answered while the disk is held.
func TestLedger_RefusalWaitsForDurability(t *testing.T) {
	f := newFixture(t)
	stall, err := f.l.db.Begin(true) // the committer cannot write until this ends
	if err != nil {
		t.Fatal(err)
	}
	answers := make(chan error, 2)
	for _, id := range []string{"pay-all-1", "pay-all-2"} {
		go func() {
			_, err := f.l.Transfer(f.ctx, id, "alice", "bob", 10_000)
			answers <- err
		}()
	}
	select {
	case err := <-answers:
		t.Fatalf("answered while nothing was durable: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	stall.Rollback()
	a, b := <-answers, <-answers
	if (a == nil) == (b == nil) {
		t.Fatalf("answers %v and %v: want one payment and one refusal", a, b)
	}
	if refusal := cmp.Or(a, b); !errors.Is(refusal, ErrInsufficientFunds) {
		t.Fatalf("refusal = %v, want insufficient funds", refusal)
	}
}

func TestAudit_ReportsMissingMeta(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	db := rawDB(t, dir)
	db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketMeta) })
	db.Close()
	rep, err := Audit(dir)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() {
		t.Error("audit passed a ledger file without its meta bucket")
	}
}

func TestLedger_SubscribeClampsBuffer(t *testing.T) {
	f := newFixture(t)
	sub := f.l.Subscribe(1 << 62)
	defer sub.Close()
	if cap(sub.C) != MaxSubscriberBuffer {
		t.Errorf("buffer %d, want %d", cap(sub.C), MaxSubscriberBuffer)
	}
}
