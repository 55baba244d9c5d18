package settlement

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/offline"
)

var (
	bucketBanks     = []byte("banks")     // bank id → bank certificate
	bucketDevices   = []byte("devices")   // serial → device
	bucketVouchers  = []byte("vouchers")  // arrival number → entry (appended in order, so writes stay on the last pages)
	bucketConflicts = []byte("conflicts") // seq → conflict
	bucketOps       = []byte("ops")       // ledger operation id → what it does, until the ledger has confirmed it
)

// Record formats. A file written by another format is refused with a
// message that says so, never misread.
const (
	entryFormat    = 3
	deviceFormat   = 2
	conflictFormat = 2
	opFormat       = 1
)

type enc struct{ b []byte }

func (w *enc) u8(v uint8)     { w.b = append(w.b, v) }
func (w *enc) u64(v uint64)   { w.b = binary.BigEndian.AppendUint64(w.b, v) }
func (w *enc) i64(v int64)    { w.u64(uint64(v)) }
func (w *enc) str(s string)   { w.u8(uint8(len(s))); w.b = append(w.b, s...) }
func (w *enc) blob(p []byte)  { w.u64(uint64(len(p))); w.b = append(w.b, p...) }
func (w *enc) fixed(p []byte) { w.b = append(w.b, p...) }
func (w *enc) flag(v bool) {
	if v {
		w.u8(1)
	} else {
		w.u8(0)
	}
}

type dec struct {
	b   []byte
	bad bool
}

func (r *dec) take(n int) []byte {
	if r.bad || n < 0 || n > len(r.b) {
		r.bad = true
		return nil
	}
	p := r.b[:n]
	r.b = r.b[n:]
	return p
}

func (r *dec) u8() uint8 {
	if p := r.take(1); p != nil {
		return p[0]
	}
	return 0
}

func (r *dec) u64() uint64 {
	if p := r.take(8); p != nil {
		return binary.BigEndian.Uint64(p)
	}
	return 0
}

func (r *dec) i64() int64  { return int64(r.u64()) }
func (r *dec) str() string { return string(r.take(int(r.u8()))) }
func (r *dec) blob() []byte {
	n := r.u64()
	if n > uint64(len(r.b)) {
		r.bad = true
		return nil
	}
	return append([]byte(nil), r.take(int(n))...)
}
func (r *dec) fixed(p []byte) { copy(p, r.take(len(p))) }
func (r *dec) ok() bool       { return !r.bad && len(r.b) == 0 }
func (r *dec) flag() bool {
	v := r.u8()
	if v > 1 {
		r.bad = true
	}
	return v == 1
}

// count reads a count of items of at least size bytes each, refusing one
// the rest of the record cannot hold.
func (r *dec) count(size int) int {
	n := r.u64()
	if n > uint64(len(r.b)/size) {
		r.bad = true
		return 0
	}
	return int(n)
}

func (e *entry) marshal() []byte {
	var w enc
	w.u8(entryFormat)
	w.fixed(e.hash[:])
	w.u64(e.arrival)
	w.u8(uint8(e.class))
	w.str(e.reason)
	w.str(e.fault)
	w.fixed(e.uploader[:])
	w.str(string(e.payee))
	w.i64(e.fromEscrow)
	w.i64(e.fromBearer)
	w.str(string(e.bearer))
	w.i64(e.payeeLoss)
	w.flag(e.closed)
	w.u64(uint64(e.ops))
	w.str(e.inflight)
	w.u64(e.seq)
	w.u64(e.place)
	w.blob(e.raw)
	return w.b
}

func unmarshalEntry(key, b []byte) (*entry, error) {
	r := dec{b: b}
	if v := r.u8(); v != entryFormat {
		return nil, fmt.Errorf("settlement: voucher record %x has format %d; this build reads %d", key, v, entryFormat)
	}
	e := &entry{}
	r.fixed(e.hash[:])
	e.arrival, e.class = r.u64(), class(r.u8())
	e.reason, e.fault = r.str(), r.str()
	r.fixed(e.uploader[:])
	e.payee = ledger.AccountID(r.str())
	e.fromEscrow, e.fromBearer = r.i64(), r.i64()
	e.bearer = ledger.AccountID(r.str())
	e.payeeLoss, e.closed = r.i64(), r.flag()
	if ops := r.u64(); ops <= math.MaxUint32 {
		e.ops = uint32(ops)
	} else {
		r.bad = true
	}
	e.inflight, e.seq, e.place = r.str(), r.u64(), r.u64()
	e.raw = r.blob()
	if !r.ok() || e.class < classRejected || e.class > classHonoured {
		return nil, fmt.Errorf("settlement: voucher record %x: corrupt record", key)
	}
	if e.class != classRejected || (e.reason != offline.ReasonMalformed && e.reason != offline.ReasonForged) {
		v, err := offline.ParseVoucher(e.raw)
		if err != nil {
			return nil, fmt.Errorf("settlement: voucher %s: %w", e.hash, err)
		}
		e.v = v
	}
	if e.fromEscrow < 0 || e.fromBearer < 0 || e.payeeLoss < 0 || e.fromEscrow+e.fromBearer+e.payeeLoss > e.v.Amount && e.v.Counter != 0 {
		return nil, fmt.Errorf("settlement: voucher %s: its record pays %d + %d + %d of %d yen", e.hash, e.fromEscrow, e.fromBearer, e.payeeLoss, e.v.Amount)
	}
	return e, nil
}

func (d *device) marshal() []byte {
	var w enc
	w.u8(deviceFormat)
	w.str(string(d.bank))
	w.str(string(d.wallet))
	w.str(string(d.escrow))
	w.str(string(d.revoked))
	w.u64(d.receipt)
	w.u64(d.claimedCounter)
	w.u64(d.claimedReceived)
	w.u64(d.release)
	w.i64(d.released)
	w.u64(uint64(len(d.certs)))
	for _, c := range d.certs {
		w.blob(c.Marshal())
	}
	return w.b
}

func unmarshalDevice(s offline.Serial, b []byte) (*device, error) {
	r := dec{b: b}
	if v := r.u8(); v != deviceFormat {
		return nil, fmt.Errorf("settlement: device record %s has format %d; this build reads %d", s, v, deviceFormat)
	}
	d := &device{serial: s, incoming: map[*entry]bool{}}
	d.bank, d.wallet, d.escrow = ledger.AccountID(r.str()), ledger.AccountID(r.str()), ledger.AccountID(r.str())
	d.revoked = offline.ConflictKind(r.str())
	d.receipt, d.claimedCounter, d.claimedReceived = r.u64(), r.u64(), r.u64()
	d.release, d.released = r.u64(), r.i64()
	for n := r.count(8); n > 0 && !r.bad; n-- {
		c, err := offline.ParseDeviceCert(r.blob())
		if err != nil {
			return nil, fmt.Errorf("settlement: device %s: %w", s, err)
		}
		d.certs = append(d.certs, c)
	}
	if !r.ok() {
		return nil, fmt.Errorf("settlement: device %s: corrupt record", s)
	}
	return d, nil
}

func (c *Conflict) marshal() []byte {
	var w enc
	w.u8(conflictFormat)
	w.str(string(c.Kind))
	w.fixed(c.Device[:])
	w.str(string(c.Bank))
	w.u64(uint64(len(c.Evidence)))
	for _, h := range c.Evidence {
		w.fixed(h[:])
	}
	w.blob([]byte(c.Detail))
	w.i64(c.Time.UnixNano())
	w.flag(c.Revokes)
	return w.b
}

func unmarshalConflict(seq uint64, b []byte) (Conflict, error) {
	r := dec{b: b}
	c := Conflict{Seq: seq}
	if v := r.u8(); v != conflictFormat {
		return c, fmt.Errorf("settlement: conflict %d has format %d; this build reads %d", seq, v, conflictFormat)
	}
	c.Kind = offline.ConflictKind(r.str())
	r.fixed(c.Device[:])
	c.Bank = ledger.AccountID(r.str())
	for n := r.count(32); n > 0 && !r.bad; n-- {
		var h offline.Hash
		r.fixed(h[:])
		c.Evidence = append(c.Evidence, h)
	}
	c.Detail = string(r.blob())
	c.Time = time.Unix(0, r.i64()).UTC()
	c.Revokes = r.flag()
	if !r.ok() {
		return c, fmt.Errorf("settlement: conflict %d: corrupt record", seq)
	}
	return c, nil
}

// op is one ledger operation settlement decided: its transfers, and what it
// does to the entries and devices once the ledger has applied it. It is
// stored before it is sent and deleted once confirmed, so after a crash or
// a lost answer it is sent again under the same id, which the ledger
// answers with its first receipt.
type op struct {
	id        string
	transfers []ledger.Transfer
	effects   []effect
	reserve   map[ledger.AccountID]int64 // escrow debits held while it runs
	release   offline.Serial             // the device whose escrow it returns, if any
	released  int64                      // what it returns
	credits   []offline.Serial           // devices whose escrow it credits

	running bool // sent and not yet answered
}

// effect is what an entry holds once its operation is confirmed.
type effect struct {
	hash       offline.Hash
	fromEscrow int64
	fromBearer int64
	bearer     ledger.AccountID
	payeeLoss  int64
	closed     bool
}

func (o *op) marshal() []byte {
	var w enc
	w.u8(opFormat)
	w.u64(uint64(len(o.transfers)))
	for _, t := range o.transfers {
		w.str(string(t.From))
		w.str(string(t.To))
		w.i64(t.Amount)
	}
	w.u64(uint64(len(o.effects)))
	for _, f := range o.effects {
		w.fixed(f.hash[:])
		w.i64(f.fromEscrow)
		w.i64(f.fromBearer)
		w.str(string(f.bearer))
		w.i64(f.payeeLoss)
		w.flag(f.closed)
	}
	w.u64(uint64(len(o.reserve)))
	for _, a := range sortedAccounts(o.reserve) {
		w.str(string(a))
		w.i64(o.reserve[a])
	}
	w.fixed(o.release[:])
	w.i64(o.released)
	w.u64(uint64(len(o.credits)))
	for _, s := range o.credits {
		w.fixed(s[:])
	}
	return w.b
}

func unmarshalOp(id string, b []byte) (*op, error) {
	r := dec{b: b}
	if v := r.u8(); v != opFormat {
		return nil, fmt.Errorf("settlement: ledger operation %s has format %d; this build reads %d", id, v, opFormat)
	}
	o := &op{id: id, reserve: map[ledger.AccountID]int64{}}
	for n := r.count(10); n > 0 && !r.bad; n-- {
		o.transfers = append(o.transfers, ledger.Transfer{From: ledger.AccountID(r.str()), To: ledger.AccountID(r.str()), Amount: r.i64()})
	}
	for n := r.count(58); n > 0 && !r.bad; n-- {
		var f effect
		r.fixed(f.hash[:])
		f.fromEscrow, f.fromBearer = r.i64(), r.i64()
		f.bearer = ledger.AccountID(r.str())
		f.payeeLoss, f.closed = r.i64(), r.flag()
		o.effects = append(o.effects, f)
	}
	for n := r.count(9); n > 0 && !r.bad; n-- {
		a := ledger.AccountID(r.str())
		o.reserve[a] = r.i64()
	}
	r.fixed(o.release[:])
	o.released = r.i64()
	for n := r.count(16); n > 0 && !r.bad; n-- {
		var s offline.Serial
		r.fixed(s[:])
		o.credits = append(o.credits, s)
	}
	if !r.ok() || len(o.transfers) == 0 {
		return nil, fmt.Errorf("settlement: ledger operation %s: corrupt record", id)
	}
	return o, nil
}

// writes is what one step of a round makes durable: all of it or none.
type writes struct {
	entries   map[*entry]bool
	devices   map[*device]bool
	banks     []offline.BankCert
	conflicts []Conflict
	ops       []*op
	doneOps   []string
}

func (w *writes) empty() bool {
	return len(w.entries)+len(w.devices)+len(w.banks)+len(w.conflicts)+len(w.ops)+len(w.doneOps) == 0
}

func (w *writes) entry(e *entry) {
	if w.entries == nil {
		w.entries = map[*entry]bool{}
	}
	w.entries[e] = true
}

func (w *writes) device(d *device) {
	if w.devices == nil {
		w.devices = map[*device]bool{}
	}
	w.devices[d] = true
}

// encoded is a write's key-value puts and deletes, made while the state
// is locked and written after.
type encoded struct {
	puts    []kv
	deletes [][]byte // op ids
}

type kv struct{ bucket, key, val []byte }

func (w *writes) encode() encoded {
	var out encoded
	for e := range w.entries {
		out.puts = append(out.puts, kv{bucketVouchers, binary.BigEndian.AppendUint64(nil, e.arrival), e.marshal()})
	}
	for d := range w.devices {
		out.puts = append(out.puts, kv{bucketDevices, append([]byte(nil), d.serial[:]...), d.marshal()})
	}
	for _, c := range w.banks {
		out.puts = append(out.puts, kv{bucketBanks, []byte(c.BankID), c.Marshal()})
	}
	for _, c := range w.conflicts {
		out.puts = append(out.puts, kv{bucketConflicts, binary.BigEndian.AppendUint64(nil, c.Seq), c.marshal()})
	}
	for _, o := range w.ops {
		out.puts = append(out.puts, kv{bucketOps, []byte(o.id), o.marshal()})
	}
	for _, id := range w.doneOps {
		out.deletes = append(out.deletes, []byte(id))
	}
	return out
}

// write makes an encoded write durable: in the index's file, or, on a
// replicated ledger, at a majority of the replicas and in this one's copy.
func (s *Settler) write(e encoded) error {
	if len(e.puts)+len(e.deletes) == 0 {
		return nil
	}
	if s.rep != nil {
		return s.rep.Replicate(e.entry())
	}
	return writeIndex(s.db, e)
}

// writeIndex stores an encoded write in one transaction.
func writeIndex(db *bolt.DB, e encoded) error {
	return db.Update(func(tx *bolt.Tx) error {
		for _, it := range e.puts {
			b, err := tx.CreateBucketIfNotExists(it.bucket)
			if err != nil {
				return err
			}
			if string(it.bucket) == string(bucketVouchers) {
				b.FillPercent = 0.9 // keys arrive in order: fill pages, split rarely
			}
			if err := b.Put(it.key, it.val); err != nil {
				return err
			}
		}
		if len(e.deletes) > 0 {
			b, err := tx.CreateBucketIfNotExists(bucketOps)
			if err != nil {
				return err
			}
			for _, k := range e.deletes {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// stored is everything the index holds, as read from disk.
type stored struct {
	banks     map[ledger.AccountID]offline.BankCert
	devices   map[offline.Serial]*device
	entries   []*entry
	conflicts []Conflict
	ops       []*op
}

func readIndex(db *bolt.DB) (*stored, error) {
	st := &stored{banks: map[ledger.AccountID]offline.BankCert{}, devices: map[offline.Serial]*device{}}
	err := db.View(func(tx *bolt.Tx) error {
		if err := forEach(tx, bucketBanks, func(k, v []byte) error {
			c, err := offline.ParseBankCert(v)
			st.banks[ledger.AccountID(k)] = c
			return err
		}); err != nil {
			return err
		}
		if err := forEach(tx, bucketDevices, func(k, v []byte) error {
			var sn offline.Serial
			if len(k) != len(sn) {
				return fmt.Errorf("settlement: device key %x is not a serial", k)
			}
			copy(sn[:], k)
			d, err := unmarshalDevice(sn, v)
			st.devices[sn] = d
			return err
		}); err != nil {
			return err
		}
		if err := forEach(tx, bucketConflicts, func(k, v []byte) error {
			if len(k) != 8 {
				return fmt.Errorf("settlement: conflict key %x is not a number", k)
			}
			c, err := unmarshalConflict(binary.BigEndian.Uint64(k), v)
			st.conflicts = append(st.conflicts, c)
			return err
		}); err != nil {
			return err
		}
		if err := forEach(tx, bucketOps, func(k, v []byte) error {
			o, err := unmarshalOp(string(k), v)
			st.ops = append(st.ops, o)
			return err
		}); err != nil {
			return err
		}
		return forEach(tx, bucketVouchers, func(k, v []byte) error {
			e, err := unmarshalEntry(k, v)
			st.entries = append(st.entries, e)
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}

func forEach(tx *bolt.Tx, name []byte, fn func(k, v []byte) error) error {
	b := tx.Bucket(name)
	if b == nil {
		return nil
	}
	return b.ForEach(fn)
}
