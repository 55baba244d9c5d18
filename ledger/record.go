package ledger

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// opType is the kind of operation a journal record holds.
type opType uint8

const (
	opGenesis  opType = 1
	opOpen     opType = 2
	opClose    opType = 3
	opIssue    opType = 4
	opRedeem   opType = 5
	opTransfer opType = 6
	opBatch    opType = 7
	opLimits   opType = 8
)

var opNames = [...]string{"", "genesis", "open", "close", "issue", "redeem", "transfer", "batch", "limits"}

func (t opType) String() string {
	if t >= opGenesis && t <= opLimits {
		return opNames[t]
	}
	return fmt.Sprintf("op(%d)", uint8(t))
}

// recordVersion is the first byte of every journal record written now.
// Version 2 records, which have no holders, limits or sweeps, still decode.
const (
	recordVersion   = 3
	recordVersionV2 = 2
)

// MaxBatchTransfers bounds the transfers of one atomic batch.
const MaxBatchTransfers = 1000

// posting moves amount from one account number to another.
type posting struct {
	from, to uint32
	amount   int64
}

// link points from a record to the previous record that touched the same
// account, so an account's history is a chain walked newest first.
type link struct {
	acct uint32
	prev uint64
}

// record is one committed operation in the journal. Accounts are named by
// number (the order they were opened in), which keeps records small.
type record struct {
	seq    uint64
	time   int64    // unix nanoseconds when the ledger sequenced it
	prev   [32]byte // SHA-256 of the previous record's bytes
	typ    opType
	opID   string
	origin uint32 // the intermediary that asked, by number; 0 is the central bank

	v2 bool // read from a version 2 record

	// genesis, open, close, limits
	acct      uint32
	kind      Kind
	tag       uint32 // serving intermediary's number; 0 (the issuance account) means none
	accountID AccountID
	holder    HolderID // open
	limits    Limits   // open, limits

	postings []posting
	sweeps   []posting // transfer, batch: excess moved by the holding limits, set by state.apply
	links    []link

	// Room for the common case, so most records are one allocation.
	postBuf [1]posting
	linkBuf [2]link

	// Not encoded: set by state.apply where operation ids are tracked, for
	// the checkpoint's copy of the id index, and kept so that applying
	// the same record to another state (the read view) does not hash again.
	key      opKey
	digest   uint64
	keyed    bool // key is set
	digested bool // digest is set
}

// Fixed offsets in an encoded record.
const (
	recSeqOffset  = 2
	recHashOffset = 18
	recHeaderLen  = 50 // version, type, seq, time, prev
)

// appendRecord appends the canonical encoding of r to b.
func appendRecord(b []byte, r *record) []byte {
	v := byte(recordVersion)
	if r.v2 {
		v = recordVersionV2
	}
	b = append(b, v, byte(r.typ))
	b = binary.BigEndian.AppendUint64(b, r.seq)
	b = binary.BigEndian.AppendUint64(b, uint64(r.time))
	b = append(b, r.prev[:]...)
	b = append(b, byte(len(r.opID)))
	b = append(b, r.opID...)
	b = binary.BigEndian.AppendUint32(b, r.origin)
	switch r.typ {
	case opGenesis, opOpen:
		b = binary.BigEndian.AppendUint32(b, r.acct)
		b = append(b, byte(r.kind))
		b = binary.BigEndian.AppendUint32(b, r.tag)
		b = append(b, byte(len(r.accountID)))
		b = append(b, r.accountID...)
		if !r.v2 {
			b = append(b, byte(len(r.holder)))
			b = append(b, r.holder...)
			b = appendLimits(b, r.limits)
		}
	case opClose:
		b = binary.BigEndian.AppendUint32(b, r.acct)
	case opLimits:
		b = binary.BigEndian.AppendUint32(b, r.acct)
		b = appendLimits(b, r.limits)
	default:
		b = appendPostings(b, r.postings)
		if !r.v2 {
			b = appendPostings(b, r.sweeps)
		}
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(r.links)))
	for _, l := range r.links {
		b = binary.BigEndian.AppendUint32(b, l.acct)
		b = binary.BigEndian.AppendUint64(b, l.prev)
	}
	return b
}

func appendPostings(b []byte, ps []posting) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(ps)))
	for _, p := range ps {
		b = binary.BigEndian.AppendUint32(b, p.from)
		b = binary.BigEndian.AppendUint32(b, p.to)
		b = binary.BigEndian.AppendUint64(b, uint64(p.amount))
	}
	return b
}

func appendLimits(b []byte, l Limits) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(l.Holding))
	if l.Sweep {
		return append(b, 1)
	}
	return append(b, 0)
}

// decoder reads big-endian fields and remembers the first shortfall.
type decoder struct {
	b   []byte
	bad bool
}

func (d *decoder) take(n int) []byte {
	if d.bad || len(d.b) < n {
		d.bad = true
		return make([]byte, n)
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u8() uint8   { return d.take(1)[0] }
func (d *decoder) u16() uint16 { return binary.BigEndian.Uint16(d.take(2)) }
func (d *decoder) u32() uint32 { return binary.BigEndian.Uint32(d.take(4)) }
func (d *decoder) u64() uint64 { return binary.BigEndian.Uint64(d.take(8)) }
func (d *decoder) str() string { return string(d.take(int(d.u8()))) }

// flag reads a byte that must be 0 or 1, so each encoding has one meaning.
func (d *decoder) flag() bool {
	v := d.u8()
	if v > 1 {
		d.bad = true
	}
	return v == 1
}

func (d *decoder) limits() Limits {
	return Limits{Holding: int64(d.u64()), Sweep: d.flag()}
}

// postings reads a count and that many postings, at most most.
func (d *decoder) postings(most int) ([]posting, bool) {
	n := int(d.u16())
	if n > most || n*16 > len(d.b) {
		return nil, false
	}
	if n == 0 {
		return nil, true
	}
	ps := make([]posting, n)
	for i := range ps {
		ps[i] = posting{from: d.u32(), to: d.u32(), amount: int64(d.u64())}
	}
	return ps, true
}

// decodeRecord parses one encoded record. It checks the shape, not the
// ledger rules: state.apply does that.
func decodeRecord(b []byte) (*record, error) {
	d := decoder{b: b}
	v := d.u8()
	if v != recordVersion && v != recordVersionV2 && !d.bad {
		return nil, broken(ErrCorrupt, "record version %d, want %d or %d", v, recordVersionV2, recordVersion)
	}
	r := &record{typ: opType(d.u8()), v2: v == recordVersionV2}
	r.seq = d.u64()
	r.time = int64(d.u64())
	copy(r.prev[:], d.take(32))
	r.opID = d.str()
	r.origin = d.u32()
	switch r.typ {
	case opGenesis, opOpen:
		r.acct = d.u32()
		r.kind = Kind(d.u8())
		r.tag = d.u32()
		r.accountID = AccountID(d.str())
		if !r.v2 {
			r.holder = HolderID(d.str())
			r.limits = d.limits()
		}
	case opClose:
		r.acct = d.u32()
	case opLimits:
		if r.v2 {
			return nil, broken(ErrCorrupt, "record %d: a version 2 record cannot set limits", r.seq)
		}
		r.acct = d.u32()
		r.limits = d.limits()
	case opIssue, opRedeem, opTransfer, opBatch:
		if err := r.decodePostings(&d); err != nil {
			return nil, err
		}
	default:
		if !d.bad {
			return nil, broken(ErrCorrupt, "record %d has unknown type %d", r.seq, r.typ)
		}
	}
	n := int(d.u16())
	if n*12 > len(d.b) {
		return nil, broken(ErrCorrupt, "record %d claims %d links", r.seq, n)
	}
	r.links = make([]link, n)
	for i := range r.links {
		r.links[i] = link{acct: d.u32(), prev: d.u64()}
	}
	if d.bad {
		return nil, broken(ErrCorrupt, "record is truncated or malformed")
	}
	if len(d.b) != 0 {
		return nil, broken(ErrCorrupt, "record %d has %d trailing bytes", r.seq, len(d.b))
	}
	return r, nil
}

func (r *record) decodePostings(d *decoder) error {
	var ok bool
	if r.postings, ok = d.postings(MaxBatchTransfers); !ok {
		return broken(ErrCorrupt, "record %d claims a bad number of postings", r.seq)
	}
	if r.v2 {
		return nil
	}
	if r.sweeps, ok = d.postings(len(r.postings)); !ok {
		return broken(ErrCorrupt, "record %d claims more sweeps than postings", r.seq)
	}
	return nil
}

// recordHash is the link of the hash chain: the next record's prev.
func recordHash(encoded []byte) [32]byte { return sha256.Sum256(encoded) }

// A chunk is one bbolt value in the journal bucket: records, each preceded
// by its length as a uvarint. Its key is the first record's sequence number.

func appendChunkEntry(chunk, rec []byte) []byte {
	chunk = binary.AppendUvarint(chunk, uint64(len(rec)))
	return append(chunk, rec...)
}

// eachRecord calls fn with every encoded record in a chunk, in order.
func eachRecord(chunk []byte, fn func(rec []byte) error) error {
	for len(chunk) > 0 {
		n, w := binary.Uvarint(chunk)
		if w <= 0 || n < recHeaderLen || n > uint64(len(chunk)-w) {
			return broken(ErrCorrupt, "journal chunk has a bad record length")
		}
		if err := fn(chunk[w : w+int(n)]); err != nil {
			return err
		}
		chunk = chunk[w+int(n):]
	}
	return nil
}

// peekSeq reads the sequence number of an encoded record without decoding it.
func peekSeq(rec []byte) uint64 {
	return binary.BigEndian.Uint64(rec[recSeqOffset:])
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }
