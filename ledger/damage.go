package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/digital-yen/cbdc-sandbox/boltfile"
	bolt "go.etcd.io/bbolt"
)

// DamageError is damage found in the ledger's files: bytes altered,
// records missing, a record or the file cut short. It says which record
// when the damage is in one. errors.Is matches it with ErrCorrupt and with
// boltfile.ErrDamaged, so callers tell damage from a refused operation
// and from a journal that is whole but breaks a rule.
type DamageError struct {
	Path   string        // the damaged file
	Record uint64        // the first damaged or missing record; 0 when the damage is not in one
	Kind   boltfile.Kind // what happened to the bytes
	Detail string        // where and what, in a sentence
}

func (e *DamageError) Error() string {
	if e.Record == 0 {
		return fmt.Sprintf("ledger: %s is damaged (%s): %s", e.Path, e.Kind, e.Detail)
	}
	return fmt.Sprintf("ledger: %s is damaged: record %d: %s (%s)", e.Path, e.Record, e.Detail, e.Kind)
}

// Unwrap gives ErrCorrupt, the ledger's error for stored data it cannot
// use, so ErrorCode says "corrupt".
func (e *DamageError) Unwrap() error { return ErrCorrupt }

// Is makes errors.Is match boltfile.ErrDamaged.
func (e *DamageError) Is(target error) bool { return target == boltfile.ErrDamaged }

// damageOf turns a damaged file boltfile found into a DamageError.
func damageOf(err error) (*DamageError, bool) {
	if d, ok := err.(*DamageError); ok {
		return d, true
	}
	if d, ok := err.(*boltfile.Damage); ok {
		return &DamageError{Path: d.Path, Kind: d.Kind, Detail: d.Detail}, true
	}
	return nil, false
}

// chainCheck walks the journal without decoding its records and checks
// that each holds its place in the hash chain: its prev is the hash of
// the record before, its sequence is one more, and the last is the head
// stored beside the journal. Where a check fails it says what kind of
// damage explains it, then takes up the chain again from the record it
// found, so one check lists every damaged place, up to its limit.
type chainCheck struct {
	path  string
	limit int
	seq   uint64   // the last record seen
	hash  [32]byte // its hash
	found []*DamageError
}

// checkChain checks the journal in tx and returns the damage it found,
// at most limit places.
func checkChain(tx *bolt.Tx, path string, limit int) []*DamageError {
	c := &chainCheck{path: path, limit: limit}
	c.run(tx)
	return c.found
}

func (c *chainCheck) damage(rec uint64, kind boltfile.Kind, format string, args ...any) {
	if n := len(c.found); n > 0 && c.found[n-1].Record == rec && rec != 0 {
		return // one place, seen from both sides
	}
	c.found = append(c.found, &DamageError{Path: c.path, Record: rec, Kind: kind, Detail: fmt.Sprintf(format, args...)})
}

func (c *chainCheck) full() bool { return len(c.found) >= c.limit }

func (c *chainCheck) missing(from, to uint64, why string) {
	if from == to {
		c.damage(from, boltfile.Missing, "it is missing from the journal%s", why)
		return
	}
	c.damage(from, boltfile.Missing, "records %d to %d are missing from the journal%s", from, to, why)
}

func (c *chainCheck) run(tx *bolt.Tx) {
	meta, j := tx.Bucket(bucketMeta), tx.Bucket(bucketJournal)
	if meta == nil && j == nil {
		if k, _ := tx.Cursor().First(); k == nil {
			return // a new file the ledger has not written yet
		}
	}
	if j == nil {
		c.damage(0, boltfile.Missing, "the journal bucket is missing")
		return
	}
	cur := j.Cursor()
	for k, v := cur.First(); k != nil && !c.full(); k, v = cur.Next() {
		c.chunk(k, v)
	}
	if !c.full() {
		c.head(meta)
	}
}

// chunk checks the records of one journal chunk.
func (c *chainCheck) chunk(key, v []byte) {
	if len(key) != 8 {
		c.damage(c.seq+1, boltfile.Altered, "the key of its chunk is malformed (%x)", key)
		return
	}
	filed := binary.BigEndian.Uint64(key)
	for first := true; len(v) > 0 && !c.full(); first = false {
		n, w := binary.Uvarint(v)
		if w <= 0 || n < recHeaderLen || n > uint64(len(v)-w) {
			c.damage(c.seq+1, boltfile.Truncated, "it is cut short: the chunk filed under record %d ends inside it", filed)
			return
		}
		rec := v[w : w+int(n)]
		v = v[w+int(n):]
		if c.record(rec) && first && peekSeq(rec) != filed {
			c.damage(peekSeq(rec), boltfile.Altered, "its chunk is filed under record %d", filed)
		}
	}
}

// record checks one record's place in the chain and reports whether it
// holds it. Every explanation rests on one fact: a record whose prev is
// the hash of the record before was written right after it.
func (c *chainCheck) record(rec []byte) bool {
	seq := peekSeq(rec)
	linked := bytes.Equal(rec[recHashOffset:recHeaderLen], c.hash[:])
	next := seq == c.seq+1
	switch {
	case linked && next:
	case linked:
		c.damage(c.seq+1, boltfile.Altered, "it says it is record %d: its sequence number was altered", seq)
		seq = c.seq + 1
	case c.seq == 0 && next:
		c.damage(1, boltfile.Altered, "the genesis record's previous hash is not zero")
	case c.seq == 0 && seq > 1:
		c.missing(1, seq-1, ", the genesis record among them")
	case next:
		c.damage(c.seq, boltfile.Altered, "its hash does not match the chain: record %d holds another, so one of the two was altered", seq)
	case seq > c.seq:
		c.missing(c.seq+1, seq-1, "")
	default:
		c.damage(seq, boltfile.Altered, "it comes after record %d, out of order", c.seq)
	}
	ok := linked && next
	c.seq, c.hash = seq, sha256.Sum256(rec)
	return ok
}

// head compares the last record with the head stored beside the journal,
// which covers the newest record as the next record's prev covers the rest.
func (c *chainCheck) head(meta *bolt.Bucket) {
	if c.seq == 0 {
		c.damage(1, boltfile.Missing, "the journal holds no records")
		return
	}
	var got []byte
	if meta != nil {
		got = meta.Get(keyHead)
	}
	if len(got) != 40 {
		c.damage(0, boltfile.Missing, "the stored head of the journal is missing or malformed")
		return
	}
	hseq := binary.BigEndian.Uint64(got)
	switch {
	case hseq > c.seq:
		c.missing(c.seq+1, hseq, fmt.Sprintf(": the journal ends at record %d, its stored head is record %d", c.seq, hseq))
	case hseq < c.seq:
		c.damage(hseq+1, boltfile.Altered, "the stored head names record %d as the newest, but the journal goes on to record %d", hseq, c.seq)
	case !bytes.Equal(got[8:], c.hash[:]):
		c.damage(c.seq, boltfile.Altered, "its hash does not match the stored head: the newest record or the head was altered")
	}
}
