package ledger

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/digital-yen/cbdc-sandbox/boltfile"
	bolt "go.etcd.io/bbolt"
)

// damageFixture is a stopped ledger's data directory, written once per
// test binary: wallets opened and paid from many callers, so the journal
// has many chunks, and a checkpoint that covers all of it, as after any
// clean stop. Tests damage copies of it.
var damageFixture struct {
	once   sync.Once
	dir    string
	last   uint64            // the newest record
	seqOf  map[string]uint64 // operation id -> record
	totals Totals
	err    error
}

func stoppedLedger(t *testing.T) string {
	t.Helper()
	f := &damageFixture
	f.once.Do(func() { f.err = writeDamageFixture() })
	if f.err != nil {
		t.Fatal(f.err)
	}
	return copyDir(t, f.dir)
}

func writeDamageFixture() error {
	f := &damageFixture
	var err error
	if f.dir, err = benchDir("damage-fixture"); err != nil {
		return err
	}
	l, err := Open(f.dir, Options{CheckpointEvery: 300})
	if err != nil {
		return err
	}
	ctx := context.Background()
	f.seqOf = map[string]uint64{}
	var mu sync.Mutex
	note := func(id string, r Receipt, err error) error {
		mu.Lock()
		defer mu.Unlock()
		f.seqOf[id] = r.Seq
		return err
	}
	r, err1 := l.OpenAccount(ctx, "bank", AccountSpec{ID: "bank", Kind: KindIntermediary})
	if err = note("bank", r, err1); err == nil {
		r, err1 = l.Issue(ctx, "float", "bank", 1_000_000)
		err = note("float", r, err1)
	}
	if err == nil {
		err = parallel(20, 400, func(i int) error {
			id := fmt.Sprintf("open-%04d", i)
			r, err := l.OpenAccount(ctx, id, AccountSpec{ID: AccountID(fmt.Sprintf("w%d", i)), Kind: KindWallet, Intermediary: "bank"})
			return note(id, r, err)
		})
	}
	if err == nil {
		err = parallel(20, 400, func(i int) error {
			id := fmt.Sprintf("pay-%04d", i)
			r, err := l.Transfer(ctx, id, "bank", AccountID(fmt.Sprintf("w%d", i)), int64(100+i))
			return note(id, r, err)
		})
	}
	f.totals = l.Totals()
	f.last = f.totals.Seq
	return errors.Join(err, l.Close())
}

func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// openErr opens the ledger in dir and closes it; it returns Open's error.
func openErr(t *testing.T, dir string) error {
	t.Helper()
	l, err := Open(dir, Options{})
	if err == nil {
		l.Close()
	}
	return err
}

// wantDamage requires err to be damage of the ledger's journal at record,
// of kind, with a message saying so in words that include says.
func wantDamage(t *testing.T, err error, file string, record uint64, kind boltfile.Kind, says string) {
	t.Helper()
	var d *DamageError
	switch {
	case !errors.As(err, &d):
		t.Fatalf("err = %v, want a *DamageError", err)
	case !errors.Is(err, boltfile.ErrDamaged) || !errors.Is(err, ErrCorrupt):
		t.Errorf("err = %v: errors.Is does not match boltfile.ErrDamaged and ErrCorrupt", err)
	case filepath.Base(d.Path) != file || d.Record != record || d.Kind != kind:
		t.Errorf("damage in %s at record %d (%s), want %s at record %d (%s): %v", d.Path, d.Record, d.Kind, file, record, kind, err)
	case !strings.Contains(err.Error(), says):
		t.Errorf("message %q does not say %q", err, says)
	case record > 0 && !strings.Contains(err.Error(), fmt.Sprintf("record %d:", record)):
		t.Errorf("message %q does not name record %d", err, record)
	}
	if ErrorCode(err) != ErrCorrupt.Code {
		t.Errorf("ErrorCode = %q, want %q", ErrorCode(err), ErrCorrupt.Code)
	}
}

// wantAuditDamage requires the audit of dir to list damage first at
// record, and no rule broken in the records it could trust.
func wantAuditDamage(t *testing.T, dir string, record uint64, kind boltfile.Kind) *AuditReport {
	t.Helper()
	rep, err := Audit(dir)
	if err != nil {
		t.Fatalf("audit: %v", err)
	}
	if !rep.Damaged() || rep.OK() {
		t.Fatalf("audit found no damage; problems %v", rep.Problems)
	}
	if d := rep.Damage[0]; d.Record != record || d.Kind != kind {
		t.Errorf("audit's first damage: %v, want record %d (%s)", d, record, kind)
	}
	if len(rep.Problems) > 0 {
		t.Errorf("audit reports damage as broken rules too: %v", rep.Problems)
	}
	if want := min(record, damageFixture.last+1) - 1; record > 0 && rep.Records != want {
		t.Errorf("audit replayed %d records, want the %d before the damage", rep.Records, want)
	}
	return rep
}

// editChunks lets edit change the journal's chunks, by key, through bbolt,
// which keeps the file's structure whole and damages only the records.
func editChunks(t *testing.T, dir string, edit func(j *bolt.Bucket, chunks map[uint64][]byte)) {
	t.Helper()
	db := rawDB(t, dir)
	defer db.Close()
	err := db.Update(func(tx *bolt.Tx) error {
		j := tx.Bucket(bucketJournal)
		chunks := map[uint64][]byte{}
		j.ForEach(func(k, v []byte) error {
			chunks[binary.BigEndian.Uint64(k)] = bytes.Clone(v)
			return nil
		})
		edit(j, chunks)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// chunkOf returns the key of the chunk holding record seq.
func chunkOf(chunks map[uint64][]byte, seq uint64) uint64 {
	var best uint64
	for k := range chunks {
		if k <= seq && k > best {
			best = k
		}
	}
	return best
}

// A byte changed in any record, a record's number changed, records gone
// from the middle or the end, a chunk cut short: each is refused at open,
// checkpoint or not, as damage at the record where it is, and found by the
// audit as the same damage, not as a broken rule.
func TestLedger_RefusesDamagedJournal(t *testing.T) {
	stoppedLedger(t)
	f := &damageFixture
	mid := f.seqOf["pay-0200"]
	flipLast := func(seq uint64) func(*bolt.Bucket, map[uint64][]byte) {
		return func(j *bolt.Bucket, chunks map[uint64][]byte) {
			k := chunkOf(chunks, seq)
			c := chunks[k]
			eachRecord(c, func(rec []byte) error {
				if peekSeq(rec) == seq {
					rec[len(rec)-1] ^= 0x01 // a link's last byte: still decodes
				}
				return nil
			})
			j.Put(seqKey(k), c)
		}
	}
	for _, tc := range []struct {
		name   string
		edit   func(*bolt.Bucket, map[uint64][]byte)
		record uint64
		kind   boltfile.Kind
		says   string
	}{
		{"genesis", flipLast(1), 1, boltfile.Altered, "its hash does not match the chain"},
		{"early", flipLast(3), 3, boltfile.Altered, "its hash does not match the chain"},
		{"middle", flipLast(mid), mid, boltfile.Altered, "its hash does not match the chain"},
		{"newest", flipLast(f.last), f.last, boltfile.Altered, "does not match the stored head"},
		{"sequence number", func(j *bolt.Bucket, chunks map[uint64][]byte) {
			k := chunkOf(chunks, mid)
			c := chunks[k]
			eachRecord(c, func(rec []byte) error {
				if peekSeq(rec) == mid {
					rec[recSeqOffset+7] ^= 0x40
				}
				return nil
			})
			j.Put(seqKey(k), c)
		}, mid, boltfile.Altered, "its sequence number was altered"},
		{"chunk gone", func(j *bolt.Bucket, chunks map[uint64][]byte) {
			j.Delete(seqKey(chunkOf(chunks, mid)))
		}, chunkOf(damageChunks(t), mid), boltfile.Missing, "missing from the journal"},
		{"end gone", func(j *bolt.Bucket, chunks map[uint64][]byte) {
			j.Delete(seqKey(chunkOf(chunks, f.last)))
		}, chunkOf(damageChunks(t), f.last), boltfile.Missing, "the journal ends at record"},
		{"chunk cut short", func(j *bolt.Bucket, chunks map[uint64][]byte) {
			k := chunkOf(chunks, mid)
			j.Put(seqKey(k), chunks[k][:len(chunks[k])-5])
		}, lastIn(damageChunks(t), mid), boltfile.Truncated, "is cut short"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := stoppedLedger(t)
			editChunks(t, dir, tc.edit)
			wantAuditDamage(t, dir, tc.record, tc.kind)
			wantDamage(t, openErr(t, dir), FileName, tc.record, tc.kind, tc.says)
			// Without its checkpoint the ledger would replay the journal
			// itself, which must refuse it the same way.
			os.Remove(filepath.Join(dir, CheckpointFileName))
			wantDamage(t, openErr(t, dir), FileName, tc.record, tc.kind, tc.says)
		})
	}
}

// damageChunks returns the fixture's chunks by key.
func damageChunks(t *testing.T) map[uint64][]byte {
	t.Helper()
	var out map[uint64][]byte
	editChunks(t, stoppedLedger(t), func(_ *bolt.Bucket, chunks map[uint64][]byte) { out = chunks })
	return out
}

// lastIn returns the last record of the chunk holding seq.
func lastIn(chunks map[uint64][]byte, seq uint64) uint64 {
	var last uint64
	eachRecord(chunks[chunkOf(chunks, seq)], func(rec []byte) error {
		last = peekSeq(rec)
		return nil
	})
	return last
}

// The audit lists every damaged place, not only the first.
func TestAudit_ListsEveryDamagedRecord(t *testing.T) {
	dir := stoppedLedger(t)
	f := &damageFixture
	seqs := []uint64{5, f.seqOf["open-0100"], f.seqOf["pay-0300"]}
	for _, seq := range seqs {
		editRecord(t, dir, seq, func(rec []byte) { rec[len(rec)-1] ^= 0x01 })
	}
	rep := wantAuditDamage(t, dir, min(seqs[0], seqs[1], seqs[2]), boltfile.Altered)
	var got []uint64
	for _, d := range rep.Damage {
		got = append(got, d.Record)
	}
	for _, seq := range seqs {
		if !slices.Contains(got, seq) {
			t.Errorf("audit lists damage at %v, want %d among them", got, seq)
		}
	}
	var out strings.Builder
	rep.WriteText(&out)
	if !strings.Contains(out.String(), "verdict: DAMAGED") {
		t.Errorf("report:\n%s", out.String())
	}
}

// A journal whose chain was made to fit again is not damaged, but a
// record that breaks a rule is a discrepancy: the audit lists it as a
// problem, and opening refuses it as corrupt, not as damage.
func TestAudit_RewrittenChainIsADiscrepancy(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, l: l, ctx: t.Context()}
	f.open("bank", KindIntermediary, "")
	f.open("w", KindWallet, "bank")
	f.must(l.Issue(f.ctx, "float", "bank", 1_000))
	pay := f.must(l.Transfer(f.ctx, "pay", "bank", "w", 10))
	l.Close()
	editRecord(t, dir, pay.Seq, func(rec []byte) {
		// The amount, before no sweeps and two links: more than the bank has.
		binary.BigEndian.PutUint64(rec[len(rec)-2-2-2*12-8:], 5_000)
	})
	rehead(t, dir, pay.Seq) // the newest record: only the head covers it
	rep, err := Audit(dir)
	if err != nil || rep.Damaged() || rep.OK() {
		t.Fatalf("audit: %v, damage %v, problems %v; want problems only", err, rep.Damage, rep.Problems)
	}
	err = openErr(t, dir)
	if !errors.Is(err, ErrCorrupt) || errors.Is(err, boltfile.ErrDamaged) || !strings.Contains(err.Error(), "breaks a ledger rule") {
		t.Errorf("open: %v, want ErrCorrupt for a broken rule, not damage", err)
	}
}

// A damaged checkpoint only costs time: it is set aside, the journal is
// replayed, and the ledger opens with the same state and takes operations.
// The audit still reports it.
func TestLedger_SetsDamagedCheckpointAside(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string)
	}{
		{"accounts altered", func(t *testing.T, path string) {
			editBolt(t, path, func(tx *bolt.Tx) error {
				b := tx.Bucket(cpAccountsBucket(cpGen(t, tx)))
				k, v := b.Cursor().First()
				v = bytes.Clone(v)
				v[len(v)/2] ^= 0x10
				return b.Put(bytes.Clone(k), v)
			})
		}},
		{"id index altered", func(t *testing.T, path string) {
			editBolt(t, path, func(tx *bolt.Tx) error {
				b := tx.Bucket(cpBucketOps)
				k, v := b.Cursor().Last()
				v = bytes.Clone(v)
				v[3] ^= 0x10
				return b.Put(bytes.Clone(k), v)
			})
		}},
		{"file cut short", func(t *testing.T, path string) { cutUsed(t, path, 2) }},
		{"meta pages cut", func(t *testing.T, path string) { cutAt(t, path, 100) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := stoppedLedger(t)
			tc.damage(t, filepath.Join(dir, CheckpointFileName))
			rep, err := Audit(dir)
			if err != nil || !rep.Damaged() || !strings.Contains(rep.Damage[0].Path, CheckpointFileName) || len(rep.Problems) > 0 {
				t.Errorf("audit: %v, damage %v, problems %v; want the checkpoint's damage alone", err, rep.Damage, rep.Problems)
			}
			l, err := Open(dir, Options{})
			if err != nil {
				t.Fatalf("open with a damaged checkpoint: %v", err)
			}
			defer l.Close()
			if got := l.Totals(); got != damageFixture.totals {
				t.Errorf("totals after replay %+v, want %+v", got, damageFixture.totals)
			}
			if _, err := l.Transfer(t.Context(), "after", "w1", "w2", 1); err != nil {
				t.Errorf("a transfer after the checkpoint was set aside: %v", err)
			}
		})
	}
}

func cpGen(t *testing.T, tx *bolt.Tx) uint64 {
	s, err := decodeCPState(tx.Bucket(cpBucketMeta).Get(cpKeyState))
	if err != nil {
		t.Fatal(err)
	}
	return s.gen
}

func editBolt(t *testing.T, path string, edit func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(edit); err != nil {
		t.Fatal(err)
	}
}

// usedSize is the bytes of a bbolt file's pages in use.
func usedSize(t *testing.T, path string) (used int64, pageSize int) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.View(func(tx *bolt.Tx) error {
		used = tx.Size()
		return nil
	})
	return used, db.Info().PageSize
}

func cutAt(t *testing.T, path string, size int64) {
	t.Helper()
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

// cutUsed cuts a bbolt file to 1/div of its pages in use.
func cutUsed(t *testing.T, path string, div int64) {
	t.Helper()
	used, _ := usedSize(t, path)
	cutAt(t, path, used/div)
}

// A ledger file cut short anywhere in its pages in use is refused as
// truncated at open and by the audit, and is never mapped, so neither
// dies of SIGBUS.
func TestLedger_RefusesTruncatedFile(t *testing.T) {
	src := stoppedLedger(t)
	used, ps := usedSize(t, filepath.Join(src, FileName))
	for _, size := range []int64{0, 100, int64(ps) + 10, 3 * int64(ps), used / 2, used - int64(ps) + 1, used - 1} {
		t.Run(fmt.Sprint("size=", size), func(t *testing.T) {
			dir := copyDir(t, src)
			cutAt(t, filepath.Join(dir, FileName), size)
			wantDamage(t, openErr(t, dir), FileName, 0, boltfile.Truncated, "the file is")
			_, err := Audit(dir)
			wantDamage(t, err, FileName, 0, boltfile.Truncated, "the file is")
		})
	}
}

// Bytes flipped in the file itself: in a record's bytes the hash chain
// finds them; in bbolt's page headers the file is unreadable. Neither
// crashes.
func TestLedger_RefusesFlippedFileBytes(t *testing.T) {
	f := &damageFixture
	t.Run("record", func(t *testing.T) {
		dir := stoppedLedger(t)
		path := filepath.Join(dir, FileName)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		// Old copies of a page may linger in free pages: flip them all.
		id := []byte("pay-0250")
		n := 0
		for i := bytes.Index(b, id); i >= 0; i = next(b, id, i) {
			b[i+len(id)-1] ^= 0x02
			n++
		}
		if n == 0 {
			t.Fatal("operation id not found in the file")
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		seq := f.seqOf["pay-0250"]
		wantDamage(t, openErr(t, dir), FileName, seq, boltfile.Altered, "its hash does not match")
		wantAuditDamage(t, dir, seq, boltfile.Altered)
	})
	t.Run("page headers", func(t *testing.T) {
		dir := stoppedLedger(t)
		path := filepath.Join(dir, FileName)
		used, ps := usedSize(t, path)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for off := 2 * int64(ps); off < used; off += int64(ps) {
			b[off] ^= 0x01 // the low byte of the page's id
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		wantDamage(t, openErr(t, dir), FileName, 0, boltfile.Unreadable, "bbolt cannot read a page")
		_, err = Audit(dir)
		wantDamage(t, err, FileName, 0, boltfile.Unreadable, "bbolt cannot read a page")
	})
}

func next(b, sub []byte, i int) int {
	j := bytes.Index(b[i+1:], sub)
	if j < 0 {
		return -1
	}
	return i + 1 + j
}

// A second ledger on the same directory is told the file is in use.
func TestLedger_SecondOpenIsInUse(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	err = openErr(t, dir)
	if !errors.Is(err, boltfile.ErrInUse) || !strings.Contains(err.Error(), FileName+" is in use by another process") {
		t.Errorf("second open: %v, want the file named as in use", err)
	}
}
