package ledger

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// loadTestLedger opens dir with frequent checkpoints and applies n
// transfers between a few wallets.
func loadTestLedger(t *testing.T, dir string, n int) {
	t.Helper()
	ctx := context.Background()
	l, err := Open(dir, Options{CheckpointEvery: 7})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, l: l, ctx: ctx}
	f.open("bank", KindIntermediary, "")
	for i := range 5 {
		f.open(AccountID("w"+strconv.Itoa(i)), KindWallet, "bank")
	}
	f.must(l.Issue(ctx, "float", "bank", 1_000_000))
	for i := range n {
		from, to := AccountID("bank"), AccountID("w"+strconv.Itoa(i%5))
		if i%3 == 0 {
			from, to = to, AccountID("w"+strconv.Itoa((i+1)%5))
		}
		_, err := l.Transfer(ctx, "t"+strconv.Itoa(i), from, to, int64(1+i%50))
		if err != nil && ErrorCode(err) != ErrInsufficientFunds.Code {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// stateOf opens dir and copies out its working state.
func stateOf(t *testing.T, dir string) (*state, uint64) {
	t.Helper()
	l, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c := l.work.cloneWithOps()
	return c, l.work.seq
}

func assertSameState(t *testing.T, got, want *state) {
	t.Helper()
	if got.seq != want.seq || got.head != want.head || got.totals != want.totals {
		t.Fatalf("state at %d/%x, totals %v; want %d/%x, %v", got.seq, got.head[:4], got.totals, want.seq, want.head[:4], want.totals)
	}
	if len(got.accounts) != len(want.accounts) || got.ops.len() != want.ops.len() {
		t.Fatalf("%d accounts, %d ids; want %d, %d", len(got.accounts), got.ops.len(), len(want.accounts), want.ops.len())
	}
	for n := range want.accounts {
		if !sameAccount(got, want, uint32(n)) {
			t.Errorf("account %d = %+v, want %+v", n, got.view(uint32(n)), want.view(uint32(n)))
		}
	}
	if got.holders.count() != want.holders.count() {
		t.Fatalf("%d holder tokens, want %d", got.holders.count(), want.holders.count())
	}
	for h := 1; h <= want.holders.count(); h++ {
		token := want.holders.token(uint32(h))
		g, _, gerr := got.holding(token)
		w, _, werr := want.holding(token)
		if g != w || ErrorCode(gerr) != ErrorCode(werr) {
			t.Errorf("holder %s = %+v, %v; want %+v, %v", token, g, gerr, w, werr)
		}
	}
	for e := range want.ops.all() {
		if ref, _ := got.ops.get(&e.key); ref != e.ref {
			t.Errorf("id index entry for seq %d = %+v, want %+v", e.ref.seq, ref, e.ref)
		}
	}
}

func TestCheckpoint_RecoversSameStateAsFullReplay(t *testing.T) {
	dir := t.TempDir()
	loadTestLedger(t, dir, 200)
	rep := mustAudit(t, dir)
	if rep.CheckpointSeq != rep.Records {
		t.Errorf("checkpoint at %d, journal ends at %d: close should checkpoint", rep.CheckpointSeq, rep.Records)
	}
	fromCheckpoint, _ := stateOf(t, dir)
	if err := os.Remove(filepath.Join(dir, CheckpointFileName)); err != nil {
		t.Fatal(err)
	}
	fromJournal, _ := stateOf(t, dir)
	assertSameState(t, fromCheckpoint, fromJournal)
	mustAudit(t, dir) // the checkpoint rewritten from the replay agrees too
}

func TestCheckpoint_RetryRecognisedAfterReopen(t *testing.T) {
	dir := t.TempDir()
	loadTestLedger(t, dir, 50)
	l, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.work.seq != l.cp.ops {
		t.Fatalf("checkpoint holds %d ids, journal %d records", l.cp.ops, l.work.seq)
	}
	before := l.Totals()
	// t1 was the second transfer, early enough to come from the checkpoint.
	r, err := l.Transfer(context.Background(), "t1", "bank", "w1", 2)
	if err != nil || r.Seq >= before.Seq {
		t.Fatalf("retry of t1 = %+v, %v: want its first receipt", r, err)
	}
	if after := l.Totals(); after.Seq != before.Seq {
		t.Errorf("retry applied again: seq %d -> %d", before.Seq, after.Seq)
	}
}

func TestCheckpoint_DamagedIsSetAside(t *testing.T) {
	dir := t.TempDir()
	loadTestLedger(t, dir, 100)
	want, _ := stateOf(t, dir)
	damageCheckpoint(t, dir)
	rep, err := Audit(dir)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() {
		t.Error("audit passed a damaged checkpoint")
	}
	got, _ := stateOf(t, dir)
	assertSameState(t, got, want)
	mustAudit(t, dir) // reopening replaced the damaged checkpoint
}

// damageCheckpoint changes one balance in the checkpoint file.
func damageCheckpoint(t *testing.T, dir string) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, CheckpointFileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		meta, err := decodeCPState(tx.Bucket(cpBucketMeta).Get(cpKeyState))
		if err != nil {
			return err
		}
		b := tx.Bucket(cpAccountsBucket(meta.gen))
		k, v := b.Cursor().First()
		v = append([]byte(nil), v...)
		v[len(v)-17] ^= 0x40 // the last account's balance
		return b.Put(append([]byte(nil), k...), v)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A checkpoint write cut short leaves a new accounts generation and
// id-index chunks that were never switched to; they must be ignored on
// load and cleared by the next write.
func TestCheckpoint_UnfinishedWriteIsIgnored(t *testing.T) {
	dir := t.TempDir()
	loadTestLedger(t, dir, 60)
	want, seq := stateOf(t, dir)
	db, err := bolt.Open(filepath.Join(dir, CheckpointFileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta, err := decodeCPState(tx.Bucket(cpBucketMeta).Get(cpKeyState))
		if err != nil {
			return err
		}
		junk, err := tx.CreateBucket(cpAccountsBucket(meta.gen + 1))
		if err != nil {
			return err
		}
		if err := junk.Put([]byte{0, 0, 0, 1}, []byte("half a generation")); err != nil {
			return err
		}
		return tx.Bucket(cpBucketOps).Put(seqKey(seq+1), make([]byte, opEntryLen))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	got, _ := stateOf(t, dir) // loads the old checkpoint, then writes one over the junk
	assertSameState(t, got, want)
	loadMore(t, dir)
	rep := mustAudit(t, dir)
	if rep.CheckpointSeq != rep.Records {
		t.Errorf("checkpoint at %d, journal at %d", rep.CheckpointSeq, rep.Records)
	}
}

// loadMore adds a few operations and closes, which writes a checkpoint.
func loadMore(t *testing.T, dir string) {
	t.Helper()
	l, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := l.Transfer(context.Background(), "more"+strconv.Itoa(i), "bank", "w0", 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}
