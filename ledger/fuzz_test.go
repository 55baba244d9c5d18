package ledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Fuzz tests for every decoder of stored bytes: journal records, journal
// chunks, replay of a record into the state, and the checkpoint. The ledger
// reads them back on every open and audit, so damaged bytes must be refused
// with an error, never crash the process or be half-applied. Plain `go test`
// runs the seed corpora; `go test -fuzz=FuzzReplay ./ledger/` explores.

// fuzzJournal is a small real journal holding every record type, and the
// checkpoint written when its ledger closed, read back as stored.
type fuzzJournal struct {
	recs   [][]byte // encoded records in sequence order
	chunks [][]byte // journal bucket values
	cp     fuzzCheckpoint
}

// fuzzCheckpoint is a checkpoint's stored values: its state record, and its
// accounts and id index each in one chunk.
type fuzzCheckpoint struct {
	meta, accounts, ops []byte
}

func fuzzSeedJournal(tb testing.TB) fuzzJournal {
	tb.Helper()
	dir := tb.TempDir()
	l, err := Open(dir, Options{Now: (&modelClock{}).now})
	if err != nil {
		tb.Fatal(err)
	}
	fuzzWriteJournal(tb, l)
	if err := l.Close(); err != nil {
		tb.Fatal(err)
	}
	j := fuzzReadJournal(tb, dir)
	j.cp = fuzzReadCheckpoint(tb, dir)
	seen := map[opType]bool{}
	for _, rec := range j.recs {
		r, err := decodeRecord(rec)
		if err != nil {
			tb.Fatalf("seed record does not decode: %v", err)
		}
		seen[r.typ] = true
	}
	for t := opGenesis; t <= opLimits; t++ {
		if !seen[t] {
			tb.Fatalf("seed journal has no %s record", t)
		}
	}
	return j
}

// fuzzWriteJournal does one operation of every kind, with amounts that use
// all eight bytes and tags that point back at earlier accounts.
func fuzzWriteJournal(tb testing.TB, l *Ledger) {
	tb.Helper()
	ctx := context.Background()
	must := func(_ Receipt, err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	must(l.OpenAccount(ctx, "o1", AccountSpec{ID: "bank-a", Kind: KindIntermediary}))
	must(l.OpenAccount(ctx, "o2", AccountSpec{ID: "bank-b", Kind: KindIntermediary}))
	must(l.OpenAccount(ctx, "o3", AccountSpec{ID: "alice", Kind: KindWallet, Intermediary: "bank-a"}))
	must(l.OpenAccount(ctx, "o4", AccountSpec{ID: "bob", Kind: KindWallet, Intermediary: "bank-b"}))
	must(l.OpenAccount(ctx, "o5", AccountSpec{ID: "escrow", Kind: KindEscrow, Intermediary: "bank-a"}))
	must(l.OpenAccount(ctx, "o6", AccountSpec{ID: "loss", Kind: KindLoss}))
	must(l.Issue(ctx, "i1", "bank-a", 1_000_000))
	must(l.Issue(ctx, "i2", "bank-b", math.MaxInt64-1_000_000))
	must(l.Transfer(ctx, "t1", "bank-a", "alice", 10_000))
	must(l.Transfer(ctx, "t2", "bank-b", "bob", math.MaxInt64/2))
	must(l.Batch(ctx, "b1", []Transfer{{"alice", "bob", 2_500}, {"bob", "escrow", 100}, {"escrow", "loss", 100}}))
	must(l.Redeem(ctx, "r1", "bank-a", 500_000))
	must(l.OpenAccount(ctx, "o7", AccountSpec{ID: "carol", Kind: KindWallet, Intermediary: "bank-b"}))
	must(l.CloseAccount(ctx, "c1", "carol"))
	must(l.Transfer(ctx, "t3", "bob", "alice", 1))
	// One holder with wallets at both banks, one of them sweeping.
	must(l.OpenAccount(ctx, "o8", AccountSpec{ID: "dan-a", Kind: KindWallet, Intermediary: "bank-a",
		Holder: "tok:dan", Limits: Limits{Holding: 5_000, Sweep: true}}))
	must(l.OpenAccount(ctx, "o9", AccountSpec{ID: "dan-b", Kind: KindWallet, Intermediary: "bank-b", Holder: "tok:dan"}))
	must(l.OpenAccount(ctx, "o10", AccountSpec{ID: "erin", Kind: KindWallet, Intermediary: "bank-b", Limits: Limits{Holding: 100}}))
	must(l.Transfer(ctx, "t4", "alice", "dan-a", 6_000))
	must(l.Batch(ctx, "b2", []Transfer{{"bob", "dan-a", 400}, {"dan-a", "erin", 50}, {"bob", "erin", 10}}))
	must(l.SetLimits(ctx, "s1", "dan-b", Limits{Holding: 4_000}))
	must(l.SetLimits(ctx, "s2", "erin", Limits{Holding: math.MaxInt64, Sweep: true}))
}

func fuzzReadJournal(tb testing.TB, dir string) fuzzJournal {
	tb.Helper()
	db, err := openDB(dir, true, nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	var j fuzzJournal
	err = db.View(func(tx *bolt.Tx) error {
		err := tx.Bucket(bucketJournal).ForEach(func(_, v []byte) error {
			j.chunks = append(j.chunks, slices.Clone(v))
			return nil
		})
		if err != nil {
			return err
		}
		return scanJournal(tx, 1, func(rec []byte) error {
			j.recs = append(j.recs, slices.Clone(rec))
			return nil
		})
	})
	if err != nil {
		tb.Fatal(err)
	}
	return j
}

func fuzzReadCheckpoint(tb testing.TB, dir string) fuzzCheckpoint {
	tb.Helper()
	db, err := bolt.Open(filepath.Join(dir, CheckpointFileName), 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	var cp fuzzCheckpoint
	err = db.View(func(tx *bolt.Tx) error {
		cp.meta = slices.Clone(tx.Bucket(cpBucketMeta).Get(cpKeyState))
		cp.accounts = fuzzBucketBytes(tx, cpAccountsBucket(fuzzGen(cp.meta)))
		cp.ops = fuzzBucketBytes(tx, cpBucketOps)
		return nil
	})
	if err != nil || len(cp.meta) != fuzzCPLen || cp.accounts == nil || cp.ops == nil {
		tb.Fatalf("seed checkpoint: %v (%d, %d, %d bytes)", err, len(cp.meta), len(cp.accounts), len(cp.ops))
	}
	return cp
}

// fuzzBucketBytes joins a bucket's values into one chunk, which decodes the
// same: chunks hold whole accounts and whole id-index entries.
func fuzzBucketBytes(tx *bolt.Tx, name []byte) []byte {
	var out []byte
	tx.Bucket(name).ForEach(func(_, v []byte) error {
		out = append(out, v...)
		return nil
	})
	return out
}

// fuzzChunk packs records into one chunk the way a group commit does.
func fuzzChunk(recs [][]byte) []byte {
	var c []byte
	for _, rec := range recs {
		c = appendChunkEntry(c, rec)
	}
	return c
}

// FuzzDecodeRecord: decodeRecord never panics, refuses with ErrCorrupt, and
// accepts only canonical encodings, so a record's hash names one meaning.
func FuzzDecodeRecord(f *testing.F) {
	j := fuzzSeedJournal(f)
	for _, rec := range j.recs {
		f.Add(rec)
		f.Add(rec[:len(rec)-1])
		f.Add(append(slices.Clone(rec), 0))
	}
	for _, rec := range fuzzReadJournal(f, filepath.Join("testdata", "v2-journal")).recs {
		f.Add(rec) // version 2 records re-encode as version 2
	}
	f.Add([]byte{})
	f.Add([]byte{recordVersion})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("refused with %v, want %s", err, ErrCorrupt.Code)
			}
			return
		}
		if enc := appendRecord(nil, r); !bytes.Equal(enc, b) {
			t.Fatalf("accepted a non-canonical record:\n got %x\nsame %x", b, enc)
		}
	})
}

// FuzzEachRecord: chunk splitting never panics and hands out exactly the
// length-prefixed slices of the chunk, in order, long enough to peek into.
func FuzzEachRecord(f *testing.F) {
	j := fuzzSeedJournal(f)
	whole := fuzzChunk(j.recs)
	for _, c := range j.chunks {
		f.Add(c, uint8(0))
	}
	f.Add(whole, uint8(0))
	f.Add(whole, uint8(3))
	f.Add(whole[:len(whole)-1], uint8(0))
	f.Add([]byte{0x80}, uint8(0))                                        // varint cut short
	f.Add(bytes.Repeat([]byte{0xff}, 11), uint8(0))                      // varint overflows
	f.Add(binary.AppendUvarint(nil, math.MaxUint64), uint8(0))           // length past the end
	f.Add(appendChunkEntry(nil, make([]byte, recHeaderLen-1)), uint8(0)) // record too short
	f.Fuzz(func(t *testing.T, chunk []byte, stopAfter uint8) {
		errStop := errors.New("stop")
		rest, calls := chunk, 0
		err := eachRecord(chunk, func(rec []byte) error {
			rest = fuzzNextRecord(t, rest, rec)
			_ = peekSeq(rec)
			calls++
			if calls == int(stopAfter) {
				return errStop
			}
			return nil
		})
		switch {
		case stopAfter > 0 && calls == int(stopAfter):
			if err != errStop {
				t.Fatalf("callback's error came back as %v", err)
			}
		case err == nil:
			if len(rest) != 0 {
				t.Fatalf("no error, but %d bytes left unread", len(rest))
			}
		case !errors.Is(err, ErrCorrupt):
			t.Fatalf("refused with %v, want %s", err, ErrCorrupt.Code)
		}
	})
}

// fuzzNextRecord makes sure rec is the record rest begins with: its uvarint
// length, then exactly that many bytes of the chunk itself, not a copy. It
// returns what follows.
func fuzzNextRecord(t *testing.T, rest, rec []byte) []byte {
	t.Helper()
	n, w := binary.Uvarint(rest)
	if w <= 0 || n != uint64(len(rec)) || n > uint64(len(rest)-w) {
		t.Fatalf("got a %d-byte record where the chunk holds length %d (%d bytes)", len(rec), n, w)
	}
	if len(rec) < recHeaderLen || &rec[0] != &rest[w] {
		t.Fatalf("got a %d-byte record that is not the chunk's next one", len(rec))
	}
	return rest[w+len(rec):]
}

// FuzzReplay feeds arbitrary bytes as the next journal record to a state
// rebuilt from a real journal's first records. The state must refuse them
// with a ledger error and stay exactly as it was, or apply them and still
// be sound. With fixChain the sequence number and hash link are made right
// first, so the fuzzer reaches the ledger rules behind the hash check.
func FuzzReplay(f *testing.F) {
	j := fuzzSeedJournal(f)
	for k := 1; k < len(j.recs); k++ {
		f.Add(uint8(k-1), j.recs[k], false) // the real next record
		f.Add(uint8(k-1), j.recs[k], true)
		f.Add(uint8(k-1), j.recs[k-1], true) // the same operation again; genesis first
	}
	f.Add(uint8(0), []byte("not a record"), false)
	// Sweeps and limits that the rules do not give, with the chain made right.
	for k, rec := range j.recs[1:] {
		r, _ := decodeRecord(rec)
		switch {
		case len(r.sweeps) > 0:
			f.Add(uint8(k), fuzzEdited(r, func(r *record) { r.sweeps[0].amount++ }), true)
			f.Add(uint8(k), fuzzEdited(r, func(r *record) { r.sweeps = nil }), true)
		case r.typ == opTransfer:
			f.Add(uint8(k), fuzzEdited(r, func(r *record) { r.sweeps = []posting{{r.postings[0].to, 1, 1}} }), true)
		case r.typ == opLimits:
			f.Add(uint8(k), fuzzEdited(r, func(r *record) { r.limits.Holding = -1 }), true)
		case r.typ == opOpen && r.holder != "":
			f.Add(uint8(k), fuzzEdited(r, func(r *record) { r.kind = KindEscrow }), true)
			f.Add(uint8(k), fuzzEdited(r, func(r *record) { r.holder = "bad token" }), true)
		}
	}
	f.Fuzz(func(t *testing.T, prefix uint8, b []byte, fixChain bool) {
		st := fuzzStateAfter(t, j.recs[:1+int(prefix)%len(j.recs)])
		if fixChain && len(b) >= recHeaderLen {
			b = slices.Clone(b)
			binary.BigEndian.PutUint64(b[recSeqOffset:], st.seq+1)
			copy(b[recHashOffset:], st.head[:])
		}
		before := fuzzSnapshot(st)
		if _, err := st.replay(b); err != nil {
			if ErrorCode(err) == "" {
				t.Fatalf("refused with %v, which carries no ledger error", err)
			}
			if after := fuzzSnapshot(st); !reflect.DeepEqual(before, after) {
				t.Fatalf("refusal (%v) changed the state", err)
			}
			return
		}
		fuzzCheckApplied(t, st, before, b)
	})
}

// fuzzEdited re-encodes a decoded record after edit.
func fuzzEdited(r *record, edit func(*record)) []byte {
	c := *r
	c.sweeps = slices.Clone(r.sweeps)
	edit(&c)
	return appendRecord(nil, &c)
}

// fuzzStateAfter replays records into a fresh state, as Open does.
func fuzzStateAfter(t *testing.T, recs [][]byte) *state {
	t.Helper()
	st := newState(true)
	for _, rec := range recs {
		if _, err := st.replay(rec); err != nil {
			t.Fatalf("replay of the seed journal: %v", err)
		}
	}
	return st
}

// fuzzSnap is everything replay may change, deep-copied.
type fuzzSnap struct {
	accounts []account
	names    names
	totals   [kindCount]int64
	seq      uint64
	head     [32]byte
	ops      *opIndex
}

func fuzzSnapshot(s *state) fuzzSnap {
	c := s.clone()
	return fuzzSnap{c.accounts, c.names, c.totals, c.seq, c.head, s.ops.clone()}
}

// fuzzCheckApplied checks an accepted record moved the state one step and
// left it sound, by the same checks Audit makes.
func fuzzCheckApplied(t *testing.T, st *state, before fuzzSnap, b []byte) {
	t.Helper()
	if st.seq != before.seq+1 || st.head != recordHash(b) || st.ops.len() != before.ops.len()+1 {
		t.Fatalf("accepted record left seq %d (was %d), %d ops (was %d), head %x",
			st.seq, before.seq, st.ops.len(), before.ops.len(), st.head)
	}
	rep := &AuditReport{Totals: st.totalsView()}
	checkBalances(st, rep)
	if !rep.OK() {
		t.Fatalf("accepted record left an unsound state: %v", rep.Problems)
	}
	for n, a := range st.accounts {
		if a.last > st.seq || a.opened > a.last {
			t.Fatalf("account %s: opened %d, last %d, at seq %d", st.id(uint32(n)), a.opened, a.last, st.seq)
		}
	}
}

// Offsets in a checkpoint's state record (cpState.encode).
const (
	fuzzCPAccounts    = 40
	fuzzCPOps         = 48
	fuzzCPAccountsSum = 56
	fuzzCPOpsSum      = 88
	fuzzCPGen         = 120
	fuzzCPLen         = 136
)

// FuzzLoadCheckpoint stores arbitrary bytes as a checkpoint and loads it.
// A checkpoint is only a shortcut past the journal: a damaged one must be
// refused with an error, so Open replays the journal and Audit reports it,
// never crash either of them; one that is accepted must be usable. With
// fixSums the state record's counts and checksums are made to match the
// chunks first, so the fuzzer reaches what lies behind them.
func FuzzLoadCheckpoint(f *testing.F) {
	cp := fuzzSeedJournal(f).cp
	f.Add(cp.meta, cp.accounts, cp.ops, false)
	f.Add(cp.meta, cp.accounts, cp.ops, true)
	f.Add(cp.meta[:len(cp.meta)-1], cp.accounts, cp.ops, false)
	f.Add(cp.meta, cp.accounts[:len(cp.accounts)-1], cp.ops, true)
	f.Add(cp.meta, cp.accounts, cp.ops[:len(cp.ops)-1], true)
	// One flipped bit in a count: the state record has no checksum of its own.
	f.Add(fuzzFlip(cp.meta, fuzzCPAccounts), cp.accounts, cp.ops, false)
	f.Add(fuzzFlip(cp.meta, fuzzCPOps), cp.accounts, cp.ops, false)
	// An account of no known kind, served by an account that does not exist.
	f.Add(cp.meta, fuzzEditAccount(f, cp.accounts, 0, 200, 0), cp.ops, true)
	f.Add(cp.meta, fuzzEditAccount(f, cp.accounts, KindWallet, KindWallet, 1000), cp.ops, true)
	// Holder tokens and limits that no journal could give.
	f.Add(cp.meta, fuzzEditTerms(f, cp.accounts, func(b []byte, kind, terms int) { b[kind] = byte(KindEscrow) }), cp.ops, true)
	f.Add(cp.meta, fuzzEditTerms(f, cp.accounts, func(b []byte, kind, terms int) { b[terms] = 2 }), cp.ops, true)
	f.Add(cp.meta, fuzzEditTerms(f, cp.accounts, func(b []byte, kind, terms int) { b[terms+2] = ' ' }), cp.ops, true)
	f.Add(cp.meta, fuzzEditTerms(f, cp.accounts, func(b []byte, kind, terms int) { b[terms+2+int(b[terms+1])] |= 0x80 }), cp.ops, true)
	// An id index out of journal order, with a repeat, or one short.
	for _, ops := range opsEditedOutOfOrder(f, cp.ops) {
		f.Add(cp.meta, cp.accounts, ops, true)
	}
	c := fuzzCheckpointer(f)
	f.Fuzz(func(t *testing.T, meta, accounts, ops []byte, fixSums bool) {
		if fixSums {
			meta = fuzzFixSums(meta, accounts, ops)
		}
		fuzzStoreCheckpoint(t, c, meta, accounts, ops)
		if err := fuzzLoadAndUse(c); err != nil && ErrorCode(err) == "" && !errors.Is(err, errNoCheckpoint) && !errors.Is(err, errOldCheckpoint) {
			t.Fatal(err)
		}
	})
}

// fuzzCheckpointer opens an empty checkpoint file that the fuzz inputs are
// written to one after another; it skips fsync, which no check here needs.
func fuzzCheckpointer(tb testing.TB) *checkpointer {
	c, err := openCheckpointer(tb.TempDir(), slog.New(slog.DiscardHandler), false)
	if err != nil {
		tb.Fatal(err)
	}
	c.db.NoSync = true
	tb.Cleanup(func() { c.db.Close() })
	return c
}

// fuzzFlip returns b with the top bit of the byte at off flipped.
func fuzzFlip(b []byte, off int) []byte {
	b = slices.Clone(b)
	b[off] ^= 0x80
	return b
}

// fuzzEditAccount sets the kind and serving account of the first account of
// kind from (any kind when from is 0) in an accounts chunk.
func fuzzEditAccount(tb testing.TB, chunk []byte, from, kind Kind, tag uint32) []byte {
	chunk = slices.Clone(chunk)
	for off := 0; off < len(chunk); {
		kindAt := off + 1 + int(chunk[off])
		if from == 0 || Kind(chunk[kindAt]) == from {
			chunk[kindAt] = byte(kind)
			binary.BigEndian.PutUint32(chunk[kindAt+1:], tag)
			return chunk
		}
		off = kindAt + 1 + 4 + 1 + 4 + 8 + 8 + 8 + 1 // through the holder flag
		if chunk[off-1] == 1 {
			off += 1 + int(chunk[off]) + 8 + 1
		}
	}
	tb.Fatalf("no %s account in the seed checkpoint", from)
	return nil
}

// fuzzEditTerms calls edit on a copy of an accounts chunk with the offsets
// of the kind and the holder flag of the first account with a holder token.
func fuzzEditTerms(tb testing.TB, chunk []byte, edit func(b []byte, kind, terms int)) []byte {
	chunk = slices.Clone(chunk)
	for off := 0; off < len(chunk); {
		kind := off + 1 + int(chunk[off])
		terms := kind + 1 + 4 + 1 + 4 + 8 + 8 + 8
		off = terms + 1
		if chunk[terms] == 1 {
			if chunk[terms+1] > 0 {
				edit(chunk, kind, terms)
				return chunk
			}
			off += 1 + int(chunk[terms+1]) + 8 + 1
		}
	}
	tb.Fatal("no account with a holder token in the seed checkpoint")
	return nil
}

// fuzzFixSums makes a state record's counts and checksums match the chunks,
// as a checkpoint writer would.
func fuzzFixSums(meta, accounts, ops []byte) []byte {
	if len(meta) != fuzzCPLen {
		return meta
	}
	meta = slices.Clone(meta)
	var loaded loadedAccounts
	if err := decodeAccounts(accounts, &loaded); err == nil {
		binary.BigEndian.PutUint64(meta[fuzzCPAccounts:], uint64(len(loaded.accounts)))
	}
	x := newOpIndex()
	if decodeOps(ops, x) == nil {
		binary.BigEndian.PutUint64(meta[fuzzCPOps:], x.len())
	}
	aSum, oSum := sha256.Sum256(accounts), sha256.Sum256(ops)
	copy(meta[fuzzCPAccountsSum:], aSum[:])
	copy(meta[fuzzCPOpsSum:], oSum[:])
	return meta
}

// fuzzGen reads the accounts generation from a state record, 0 when it is
// too short to hold one.
func fuzzGen(meta []byte) uint64 {
	if len(meta) < fuzzCPGen+8 {
		return 0
	}
	return binary.BigEndian.Uint64(meta[fuzzCPGen:])
}

// fuzzStoreCheckpoint replaces the checkpoint with the given values, laid
// out as checkpointer.write lays them out.
func fuzzStoreCheckpoint(t *testing.T, c *checkpointer, meta, accounts, ops []byte) {
	t.Helper()
	err := c.db.Update(func(tx *bolt.Tx) error {
		values := []struct {
			bucket, key, value []byte
		}{
			{cpBucketMeta, cpKeyState, meta},
			{cpAccountsBucket(fuzzGen(meta)), binary.BigEndian.AppendUint32(nil, 1), accounts},
			{cpBucketOps, seqKey(1), ops},
		}
		for _, v := range values {
			if err := tx.DeleteBucket(v.bucket); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
				return err
			}
			b, err := tx.CreateBucket(v.bucket)
			if err != nil {
				return err
			}
			if err := b.Put(v.key, v.value); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// fuzzLoadAndUse loads the checkpoint and, when it is accepted, reads every
// account and the totals as the ledger's reads would. A panic comes back as
// an error without a ledger code, so one bad input fails one test instead
// of the whole test binary.
func fuzzLoadAndUse(c *checkpointer) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("checkpoint load or use panicked: %v", p)
		}
	}()
	st, err := c.load()
	if err != nil {
		return err
	}
	for n := range st.accounts {
		st.view(uint32(n))
	}
	st.totalsView()
	return nil
}
