package ledger

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// A journal snapshot is the journal itself, records 1 to N, as a replica
// ships it to another that has fallen behind its group's compacted log
// (package ledger/replica frames it as one section of a Raft snapshot).
// Records never change once written, so a snapshot is read from the
// journal in short read transactions while entries go on being applied,
// and it is restored by checking it whole first, then applying only the
// records the journal lacks through Apply, which checks every link again.
//
// The stream:
//
//	"cbdc-journal" and a version byte (1)
//	N (uint64, big-endian) and the SHA-256 of record N
//	records 1 to N, each its length as a uvarint and its bytes
//
// Nothing follows record N. Each record carries the hash of the one before
// it and the header the hash of the last, so the stream checks itself: a
// stream cut short, or with a byte changed, breaks the chain or ends early.

const (
	snapshotMagic   = "cbdc-journal"
	snapshotVersion = 1
	snapshotHdrLen  = len(snapshotMagic) + 1 + 8 + 32

	// maxRecordLen bounds a record's length as a snapshot claims it, so a
	// damaged length is refused instead of allocated. The largest record,
	// a batch of MaxBatchTransfers with as many sweeps and links, is about
	// 60 KiB.
	maxRecordLen = 1 << 20

	// restoreEntryBytes is about how many record bytes a restore hands
	// Apply at a time: one transaction and one fsync each.
	restoreEntryBytes = 4 << 20

	// restoreFileName is where a restore spools the records the journal
	// lacks while it checks the rest of the snapshot; removed when done.
	restoreFileName = "snapshot-restore.tmp"
)

// snapshotReadBytes is about how many record bytes one read transaction
// copies out of the journal. A long read transaction would hold back
// bbolt's remapping of a growing file, and with it every commit. A
// variable so tests can make a small journal take many transactions.
var snapshotReadBytes = 1 << 20

var (
	// ErrSnapshotDamaged means a snapshot is cut short, changed or not a
	// journal snapshot at all. Nothing was changed.
	ErrSnapshotDamaged = errors.New("ledger: snapshot is damaged")

	// ErrSnapshotForked means the snapshot is whole but this journal holds
	// a different record at some sequence: the two histories have forked.
	// Nothing was changed; the replica must be looked at by an operator
	// (its journal rebuilt from the group's, or the group's examined).
	ErrSnapshotForked = errors.New("ledger: the journal and the snapshot disagree")
)

// SnapshotStats counts what snapshots did since the ledger was opened.
type SnapshotStats struct {
	Written         uint64 // snapshots written whole by WriteSnapshot
	Restored        uint64 // snapshots restored, whether the journal already held them or not
	RecordsRestored uint64 // journal records those restores added
}

type snapshotCounters struct {
	written, restored, records atomic.Uint64
}

// SnapshotStats says what snapshots did since the ledger was opened.
func (l *Ledger) SnapshotStats() SnapshotStats {
	c := &l.snaps
	return SnapshotStats{Written: c.written.Load(), Restored: c.restored.Load(), RecordsRestored: c.records.Load()}
}

// SnapshotPoint is the journal's last record, its sequence and hash, read
// from the journal itself: what a snapshot taken now holds. A replica asks
// it when no entry is being applied, then writes the snapshot with
// WriteSnapshot while entries go on. A ledger whose storage failed has a
// journal that may lack entries its consensus counts as applied, so it
// gives no snapshot point.
func (l *Ledger) SnapshotPoint() (seq uint64, head [32]byte, err error) {
	if err := l.failed(); err != nil {
		return 0, head, fmt.Errorf("ledger: no snapshot of a ledger that has failed: %w", err)
	}
	err = l.db.View(func(tx *bolt.Tx) error {
		var err error
		seq, head, err = storedHead(tx)
		return err
	})
	return seq, head, err
}

// storedHead reads the sequence and hash of the journal's last record.
func storedHead(tx *bolt.Tx) (uint64, [32]byte, error) {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return 0, [32]byte{}, broken(ErrCorrupt, "ledger file has no meta bucket, so no stored head")
	}
	v := meta.Get(keyHead)
	if len(v) != 40 {
		return 0, [32]byte{}, broken(ErrCorrupt, "the stored head of the journal is missing or malformed")
	}
	return binary.BigEndian.Uint64(v), [32]byte(v[8:]), nil
}

// WriteSnapshot writes the journal's records 1 to seq to w, seq and head
// being a point SnapshotPoint gave. It reads the journal a slice at a
// time, each in its own short read transaction, and writes each slice
// with no transaction open, so a slow w holds nothing up; records applied
// meanwhile, after seq, are not written.
func (l *Ledger) WriteSnapshot(w io.Writer, seq uint64, head [32]byte) error {
	if seq == 0 {
		return errors.New("ledger: a snapshot holds at least the genesis record")
	}
	hdr := make([]byte, 0, snapshotHdrLen)
	hdr = append(hdr, snapshotMagic...)
	hdr = append(hdr, snapshotVersion)
	hdr = binary.BigEndian.AppendUint64(hdr, seq)
	hdr = append(hdr, head[:]...)
	if _, err := w.Write(hdr); err != nil {
		return fmt.Errorf("ledger: write snapshot: %w", err)
	}
	var (
		buf  []byte
		next uint64 = 1
		last [32]byte
	)
	for next <= seq {
		var err error
		buf, next, last, err = l.readRecords(buf[:0], next, seq)
		if err != nil {
			return fmt.Errorf("ledger: write snapshot: %w", err)
		}
		if _, err := w.Write(buf); err != nil {
			return fmt.Errorf("ledger: write snapshot: %w", err)
		}
	}
	if last != head {
		return broken(ErrCorrupt, "snapshot: journal record %d hashes to %x, not to the snapshot point's %x", seq, last[:8], head[:8])
	}
	l.snaps.written.Add(1)
	return nil
}

// readRecords copies records from from on, up to to and about
// snapshotReadBytes of them (at least one), out of the journal in one read
// transaction, appending each to buf as a length and its bytes. It returns
// the sequence to read next and the hash of record to once it is read.
func (l *Ledger) readRecords(buf []byte, from, to uint64) ([]byte, uint64, [32]byte, error) {
	next := from
	var last [32]byte
	err := l.db.View(func(tx *bolt.Tx) error {
		return scanJournal(tx, from, func(rec []byte) error {
			if s := peekSeq(rec); s != next {
				return broken(ErrCorrupt, "journal holds record %d where record %d belongs", s, next)
			}
			buf = appendChunkEntry(buf, rec)
			if next == to {
				last = recordHash(rec)
			}
			next++
			if next > to || len(buf) >= snapshotReadBytes {
				return errStopScan
			}
			return nil
		})
	})
	if err != nil && err != errStopScan {
		return buf, next, last, err
	}
	if next == from {
		return buf, next, last, broken(ErrCorrupt, "journal has no record %d", from)
	}
	return buf, next, last, nil
}

// journalCursor reads this journal's records in order, a slice per short
// read transaction, for comparing with a snapshot's.
type journalCursor struct {
	l          *Ledger
	next, last uint64 // the next record to read and the last to read
	buf        []byte
	rest       []byte // what is left of buf to hand out
}

// record returns the next record's bytes, valid until the next call.
func (c *journalCursor) record() ([]byte, error) {
	if len(c.rest) == 0 {
		var err error
		c.buf, c.next, _, err = c.l.readRecords(c.buf[:0], c.next, c.last)
		if err != nil {
			return nil, err
		}
		c.rest = c.buf
	}
	n, w := binary.Uvarint(c.rest)
	rec := c.rest[w : w+int(n)]
	c.rest = c.rest[w+int(n):]
	return rec, nil
}

// StagedSnapshot is a journal snapshot read whole and checked, ready to be
// applied: Apply brings the journal to it, Discard drops it. Until Apply,
// the ledger is unchanged.
type StagedSnapshot struct {
	l     *Ledger
	seq   uint64   // the snapshot's last record
	head  [32]byte // its hash
	from  uint64   // the first record the journal lacks; seq+1 when none
	spool *os.File // those records, as lengths and bytes; nil when none
	done  bool
}

// Seq and Head are the snapshot's last record: its sequence and hash.
func (s *StagedSnapshot) Seq() uint64 { return s.seq }

// Head is the hash of the snapshot's last record.
func (s *StagedSnapshot) Head() [32]byte { return s.head }

// Missing is how many of the snapshot's records the journal lacks.
func (s *StagedSnapshot) Missing() uint64 { return s.seq + 1 - s.from }

// StageSnapshot reads a journal snapshot from r to its end and checks it
// against itself and against this journal, changing nothing:
//
//   - the snapshot must be whole: its records numbered 1 to N, each
//     chaining to the one before, the last hashing to the header's head,
//     nothing after it; otherwise ErrSnapshotDamaged, saying where;
//   - every record the journal already holds must be the snapshot's, byte
//     for byte; otherwise ErrSnapshotForked, naming the first that differs.
//
// A journal holding all N records keeps them and needs nothing; a journal
// that is a prefix of the snapshot has the rest spooled to a file in its
// directory, for Apply. One at a time, with no entry being applied: the
// consensus engine's apply loop.
func (l *Ledger) StageSnapshot(r io.Reader) (*StagedSnapshot, error) {
	if l.repl.rep == nil {
		return nil, errors.New("ledger: only a replicated ledger restores a snapshot")
	}
	if err := l.failed(); err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(r, 64<<10)
	seq, head, err := readSnapshotHeader(br)
	if err != nil {
		return nil, err
	}
	s := &StagedSnapshot{l: l, seq: seq, head: head}
	var ourSeq uint64
	if err := l.db.View(func(tx *bolt.Tx) error {
		var err error
		ourSeq, _, err = storedHead(tx)
		return err
	}); err != nil {
		return nil, err
	}
	s.from = min(ourSeq, s.seq) + 1
	var w *bufio.Writer
	if s.from <= s.seq {
		f, err := os.OpenFile(filepath.Join(l.dir, restoreFileName), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return nil, fmt.Errorf("ledger: stage snapshot: %w", err)
		}
		s.spool, w = f, bufio.NewWriterSize(f, 64<<10)
	}
	ok := false
	defer func() {
		if !ok {
			s.Discard()
		}
	}()
	fork, err := s.stage(br, w)
	switch {
	case err != nil:
		return nil, err
	case fork != 0:
		return nil, fmt.Errorf("%w at record %d: this journal (up to record %d) holds a different record %d than the snapshot (up to record %d); refusing the snapshot, nothing changed",
			ErrSnapshotForked, fork, ourSeq, fork, s.seq)
	}
	if w != nil {
		if err := w.Flush(); err != nil {
			return nil, fmt.Errorf("ledger: stage snapshot: spool: %w", err)
		}
	}
	ok = true
	return s, nil
}

// readSnapshotHeader reads a snapshot's header: its last record's
// sequence and hash.
func readSnapshotHeader(br *bufio.Reader) (seq uint64, head [32]byte, err error) {
	hdr := make([]byte, snapshotHdrLen)
	if n, err := io.ReadFull(br, hdr); err != nil {
		return 0, head, fmt.Errorf("%w: its header is cut short after %d of %d bytes", ErrSnapshotDamaged, n, snapshotHdrLen)
	}
	if !bytes.Equal(hdr[:len(snapshotMagic)], []byte(snapshotMagic)) {
		return 0, head, fmt.Errorf("%w: it does not start as a journal snapshot does", ErrSnapshotDamaged)
	}
	if v := hdr[len(snapshotMagic)]; v != snapshotVersion {
		return 0, head, fmt.Errorf("%w: snapshot version %d, this ledger reads version %d", ErrSnapshotDamaged, v, snapshotVersion)
	}
	seq, head = binary.BigEndian.Uint64(hdr[len(snapshotMagic)+1:]), [32]byte(hdr[len(snapshotMagic)+9:])
	if seq == 0 {
		return 0, head, fmt.Errorf("%w: it claims no records", ErrSnapshotDamaged)
	}
	return seq, head, nil
}

// stage reads the snapshot's records, checking each one's framing and its
// link to the one before; it compares those the journal holds with the
// journal's and spools the rest to w. It returns the first record where
// the journal and the snapshot differ, or 0.
func (s *StagedSnapshot) stage(br *bufio.Reader, w *bufio.Writer) (fork uint64, err error) {
	ours := &journalCursor{l: s.l, next: 1, last: s.from - 1}
	var prev [32]byte
	var rec, lenb []byte
	for seq := uint64(1); seq <= s.seq; seq++ {
		if rec, err = readSnapshotRecord(br, seq, s.seq, rec); err != nil {
			return 0, err
		}
		if !bytes.Equal(rec[recHashOffset:recHashOffset+32], prev[:]) {
			return 0, fmt.Errorf("%w: record %d does not chain to record %d (one of them was changed)", ErrSnapshotDamaged, seq, seq-1)
		}
		prev = recordHash(rec)
		switch {
		case fork != 0:
		case seq < s.from:
			mine, err := ours.record()
			if err != nil {
				return 0, fmt.Errorf("ledger: stage snapshot: read the journal: %w", err)
			}
			if !bytes.Equal(mine, rec) {
				fork = seq
			}
		default:
			lenb = binary.AppendUvarint(lenb[:0], uint64(len(rec)))
			w.Write(lenb)
			if _, err := w.Write(rec); err != nil {
				return 0, fmt.Errorf("ledger: stage snapshot: spool: %w", err)
			}
		}
	}
	if prev != s.head {
		return 0, fmt.Errorf("%w: its last record, %d, does not hash to the head its header names", ErrSnapshotDamaged, s.seq)
	}
	switch extra, err := br.Peek(1); {
	case len(extra) > 0:
		return 0, fmt.Errorf("%w: bytes follow its last record, %d", ErrSnapshotDamaged, s.seq)
	case err != io.EOF:
		return 0, fmt.Errorf("%w: after its last record: %v", ErrSnapshotDamaged, err)
	}
	return fork, nil
}

// readSnapshotRecord reads record seq of a snapshot of last records into
// buf's space and checks its framing.
func readSnapshotRecord(br *bufio.Reader, seq, last uint64, buf []byte) ([]byte, error) {
	n, err := binary.ReadUvarint(br)
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return nil, fmt.Errorf("%w: cut short after record %d of %d", ErrSnapshotDamaged, seq-1, last)
	case err != nil:
		return nil, fmt.Errorf("%w: record %d: %v", ErrSnapshotDamaged, seq, err)
	case n < recHeaderLen || n > maxRecordLen:
		return nil, fmt.Errorf("%w: record %d claims to be %d bytes long", ErrSnapshotDamaged, seq, n)
	}
	rec := slices.Grow(buf[:0], int(n))[:n]
	if _, err := io.ReadFull(br, rec); err != nil {
		return nil, fmt.Errorf("%w: cut short inside record %d of %d", ErrSnapshotDamaged, seq, last)
	}
	if got := peekSeq(rec); got != seq {
		return nil, fmt.Errorf("%w: it holds record %d where record %d belongs", ErrSnapshotDamaged, got, seq)
	}
	return rec, nil
}

// Apply brings the journal to the staged snapshot: it applies the records
// the journal lacks through Ledger.Apply, a few megabytes per entry, so
// every link is checked again, the read view and subscribers follow and
// checkpoints are taken as usual. A ledger leading when a snapshot is
// applied stops leading first. A failure part way leaves a journal that is
// a longer prefix of the snapshot, which a later restore takes on from.
func (s *StagedSnapshot) Apply() error {
	if s.done {
		return errors.New("ledger: the staged snapshot was already applied or discarded")
	}
	defer s.Discard()
	l := s.l
	if s.spool == nil {
		l.snaps.restored.Add(1)
		return nil
	}
	if l.Leading() {
		l.log.Warn("ledger replica restores a snapshot while leading; it follows")
		l.Follow()
	}
	if _, err := s.spool.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("ledger: apply snapshot: %w", err)
	}
	br := bufio.NewReaderSize(s.spool, 64<<10)
	entry := make([]byte, 33, restoreEntryBytes+64<<10)
	next := s.from
	for next <= s.seq {
		entry = entry[:33]
		first := next
		var last []byte
		for next <= s.seq && len(entry) < restoreEntryBytes {
			n, err := binary.ReadUvarint(br)
			if err != nil {
				return fmt.Errorf("ledger: apply snapshot: read the spooled record %d: %w", next, err)
			}
			entry = binary.AppendUvarint(entry, n)
			start := len(entry)
			entry = slices.Grow(entry, int(n))[:start+int(n)]
			if _, err := io.ReadFull(br, entry[start:]); err != nil {
				return fmt.Errorf("ledger: apply snapshot: read the spooled record %d: %w", next, err)
			}
			last = entry[start:]
			next++
		}
		entry[0] = entryVersion
		h := recordHash(last)
		copy(entry[1:33], h[:])
		if err := l.Apply(entry); err != nil {
			return fmt.Errorf("ledger: apply snapshot records up to %d: %w", next-1, err)
		}
		l.snaps.records.Add(next - first)
	}
	l.snaps.restored.Add(1)
	l.log.Info("ledger restored a snapshot", "records", s.seq+1-s.from, "seq", s.seq)
	return nil
}

// Discard drops a staged snapshot without applying it.
func (s *StagedSnapshot) Discard() {
	s.done = true
	if s.spool != nil {
		name := s.spool.Name()
		s.spool.Close()
		os.Remove(name)
		s.spool = nil
	}
}

// RestoreSnapshot stages a journal snapshot read from r and applies it,
// returning how many records the journal gained. See StageSnapshot.
func (l *Ledger) RestoreSnapshot(r io.Reader) (added uint64, err error) {
	s, err := l.StageSnapshot(r)
	if err != nil {
		return 0, err
	}
	added = s.Missing()
	if err := s.Apply(); err != nil {
		return 0, err
	}
	return added, nil
}
