package settlement

import (
	"encoding/binary"
	"fmt"
	"sort"
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
)

// device is an offline purse the ledger knows: where its escrow is, who
// owns it, and whether it is revoked.
type device struct {
	serial  offline.Serial
	bank    ledger.AccountID
	wallet  ledger.AccountID
	escrow  ledger.AccountID // "" for a device no bank registered
	cert    offline.DeviceCert
	revoked offline.ConflictKind // why it is revoked; "" while in good standing

	// Kept in memory only, from the entries: what its settled vouchers fell
	// short of (borne by the policy or their payees), and what it lost as a
	// payee on value paid into its escrow.
	short, lost int64
	through     uint64 // the ledger holds its vouchers 1..through
}

func (d *device) mode() offline.Mode { return d.cert.Limits.Mode }

// status of an entry on disk: the outcomes, plus settling for a settlement
// decided and made durable whose ledger batch has not been confirmed.
const (
	statusSettled  = 1
	statusPending  = 2
	statusRejected = 3
	statusSettling = 4
)

// entry is one voucher the settler has seen.
type entry struct {
	hash     offline.Hash
	arrival  uint64
	raw      []byte
	v        offline.Voucher // zero for undecodable or forged bytes
	uploader offline.Serial
	status   uint8
	reason   string
	res      VoucherResult
}

func (e *entry) key() offline.VoucherKey { return e.v.Key() }

type enc struct{ b []byte }

func (w *enc) u8(v uint8)     { w.b = append(w.b, v) }
func (w *enc) u64(v uint64)   { w.b = binary.BigEndian.AppendUint64(w.b, v) }
func (w *enc) str(s string)   { w.u8(uint8(len(s))); w.b = append(w.b, s...) }
func (w *enc) blob(p []byte)  { w.u64(uint64(len(p))); w.b = append(w.b, p...) }
func (w *enc) fixed(p []byte) { w.b = append(w.b, p...) }

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

func (r *dec) str() string     { return string(r.take(int(r.u8()))) }
func (r *dec) blob() []byte    { return append([]byte(nil), r.take(int(r.u64()))...) }
func (r *dec) fixed(p []byte)  { copy(p, r.take(len(p))) }
func (r *dec) i64() int64      { return int64(r.u64()) }
func (r *dec) ok() bool        { return !r.bad && len(r.b) == 0 }
func (w *enc) i64(v int64)     { w.u64(uint64(v)) }
func (w *enc) hash(h [32]byte) { w.fixed(h[:]) }

// entryVersion is the format of a stored entry; version 1 keyed entries by
// hash, which scattered every write over the whole file.
const entryVersion = 2

func (e *entry) marshal() []byte {
	var w enc
	w.u8(entryVersion)
	w.hash(e.hash)
	w.u64(e.arrival)
	w.u8(e.status)
	w.str(e.reason)
	w.fixed(e.uploader[:])
	w.str(string(e.res.PayeeAccount))
	w.i64(e.res.FromEscrow)
	w.i64(e.res.FromBearer)
	w.str(string(e.res.Bearer))
	w.i64(e.res.PayeeLoss)
	w.u64(e.res.Seq)
	w.blob(e.raw)
	return w.b
}

func unmarshalEntry(key, b []byte) (*entry, error) {
	r := dec{b: b}
	e := &entry{}
	if v := r.u8(); v != entryVersion {
		return nil, fmt.Errorf("settlement: voucher record %x has format %d; this build reads %d", key, v, entryVersion)
	}
	r.fixed(e.hash[:])
	h := e.hash
	e.arrival, e.status, e.reason = r.u64(), r.u8(), r.str()
	r.fixed(e.uploader[:])
	e.res.PayeeAccount = ledger.AccountID(r.str())
	e.res.FromEscrow, e.res.FromBearer = r.i64(), r.i64()
	e.res.Bearer = ledger.AccountID(r.str())
	e.res.PayeeLoss, e.res.Seq = r.i64(), r.u64()
	e.raw = r.blob()
	if !r.ok() || e.status < statusSettled || e.status > statusSettling {
		return nil, fmt.Errorf("settlement: voucher %s: corrupt record", h)
	}
	if e.reason != offline.ReasonMalformed && e.reason != offline.ReasonForged {
		v, err := offline.ParseVoucher(e.raw)
		if err != nil {
			return nil, fmt.Errorf("settlement: voucher %s: %w", h, err)
		}
		e.v = v
	}
	e.fillResult()
	return e, nil
}

// fillResult sets the fields of res that follow from the voucher itself.
func (e *entry) fillResult() {
	e.res.Hash, e.res.Payer, e.res.Counter = e.hash, e.v.Payer, e.v.Counter
	e.res.Payee, e.res.Amount, e.res.Reason = e.v.Payee, e.v.Amount, e.reason
	switch e.status {
	case statusSettled:
		e.res.Outcome = offline.Settled
	case statusRejected:
		e.res.Outcome = offline.Rejected
	default:
		e.res.Outcome = offline.Pending
	}
}

func (d *device) marshal() []byte {
	var w enc
	w.u8(1)
	w.str(string(d.bank))
	w.str(string(d.wallet))
	w.str(string(d.escrow))
	w.str(string(d.revoked))
	w.blob(d.cert.Marshal())
	return w.b
}

func unmarshalDevice(s offline.Serial, b []byte) (*device, error) {
	r := dec{b: b}
	d := &device{serial: s}
	if r.u8() != 1 {
		return nil, fmt.Errorf("settlement: device %s: unknown record version", s)
	}
	d.bank, d.wallet, d.escrow = ledger.AccountID(r.str()), ledger.AccountID(r.str()), ledger.AccountID(r.str())
	d.revoked = offline.ConflictKind(r.str())
	raw := r.blob()
	if !r.ok() {
		return nil, fmt.Errorf("settlement: device %s: corrupt record", s)
	}
	c, err := offline.ParseDeviceCert(raw)
	if err != nil {
		return nil, fmt.Errorf("settlement: device %s: %w", s, err)
	}
	d.cert = c
	return d, nil
}

func (c *Conflict) marshal() []byte {
	var w enc
	w.u8(1)
	w.str(string(c.Kind))
	w.fixed(c.Device[:])
	w.u64(uint64(len(c.Evidence)))
	for _, h := range c.Evidence {
		w.hash(h)
	}
	w.blob([]byte(c.Detail))
	w.i64(c.Time.UnixNano())
	return w.b
}

func unmarshalConflict(seq uint64, b []byte) (Conflict, error) {
	r := dec{b: b}
	c := Conflict{Seq: seq}
	if r.u8() != 1 {
		return c, fmt.Errorf("settlement: conflict %d: unknown record version", seq)
	}
	c.Kind = offline.ConflictKind(r.str())
	r.fixed(c.Device[:])
	n := r.u64()
	for i := uint64(0); i < n && !r.bad; i++ {
		var h offline.Hash
		r.fixed(h[:])
		c.Evidence = append(c.Evidence, h)
	}
	c.Detail = string(r.blob())
	c.Time = time.Unix(0, r.i64()).UTC()
	if !r.ok() {
		return c, fmt.Errorf("settlement: conflict %d: corrupt record", seq)
	}
	return c, nil
}

func putBank(tx *bolt.Tx, c offline.BankCert) error {
	b, err := tx.CreateBucketIfNotExists(bucketBanks)
	if err != nil {
		return err
	}
	return b.Put([]byte(c.BankID), c.Marshal())
}

// batch is what one step of reconciliation writes: all of it or none.
type batch struct {
	entries   []*entry
	devices   []*device
	conflicts []Conflict
}

func (b *batch) empty() bool { return len(b.entries)+len(b.devices)+len(b.conflicts) == 0 }

// write stores key-value items. Each carries the generation it was encoded
// at (under s.mu), stored in front of its value; a put older than what the
// file holds for its key is skipped, so writes that concurrent rounds make
// in any order leave the newest state on disk.
func (s *Settler) write(items []kv) error {
	if len(items) == 0 {
		return nil
	}
	return s.db.Batch(func(tx *bolt.Tx) error {
		for _, it := range items {
			b, err := tx.CreateBucketIfNotExists(it.bucket)
			if err != nil {
				return err
			}
			b.FillPercent = 0.9 // keys mostly arrive in order: fill pages, split rarely
			if old := b.Get(it.key); len(old) >= 8 && binary.BigEndian.Uint64(old) > it.gen {
				continue
			}
			val := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(it.val)), it.gen)
			if err := b.Put(it.key, append(val, it.val...)); err != nil {
				return err
			}
		}
		return nil
	})
}

type kv struct {
	bucket, key, val []byte
	gen              uint64
}

// encode turns a batch into key-value writes; called with s.mu held.
func (s *Settler) encode(b *batch) []kv {
	items := make([]kv, 0, len(b.entries)+len(b.devices)+len(b.conflicts))
	next := func() uint64 { s.gen++; return s.gen }
	seen := make(map[*entry]bool, len(b.entries))
	for _, e := range b.entries {
		if seen[e] {
			continue
		}
		seen[e] = true
		items = append(items, kv{bucketVouchers, binary.BigEndian.AppendUint64(nil, e.arrival), e.marshal(), next()})
	}
	for _, d := range b.devices {
		items = append(items, kv{bucketDevices, append([]byte(nil), d.serial[:]...), d.marshal(), next()})
	}
	for _, c := range b.conflicts {
		items = append(items, kv{bucketConflicts, binary.BigEndian.AppendUint64(nil, c.Seq), c.marshal(), next()})
	}
	return items
}

// stripGen takes the generation off a stored value.
func (s *Settler) stripGen(v []byte) ([]byte, error) {
	if len(v) < 8 {
		return nil, fmt.Errorf("settlement: a stored record of %d bytes has no generation", len(v))
	}
	s.gen = max(s.gen, binary.BigEndian.Uint64(v))
	return v[8:], nil
}

// load rebuilds the in-memory index from disk.
func (s *Settler) load() error {
	var entries []*entry
	err := s.db.View(func(tx *bolt.Tx) error {
		if err := forEach(tx, bucketBanks, func(k, v []byte) error {
			c, err := offline.ParseBankCert(v)
			s.banks[ledger.AccountID(k)] = c
			return err
		}); err != nil {
			return err
		}
		if err := forEach(tx, bucketDevices, func(k, v []byte) error {
			var sn offline.Serial
			copy(sn[:], k)
			v, err := s.stripGen(v)
			if err != nil {
				return err
			}
			d, err := unmarshalDevice(sn, v)
			if err == nil {
				s.devices[sn] = d
			}
			return err
		}); err != nil {
			return err
		}
		if err := forEach(tx, bucketConflicts, func(k, v []byte) error {
			v, err := s.stripGen(v)
			if err != nil {
				return err
			}
			c, err := unmarshalConflict(binary.BigEndian.Uint64(k), v)
			s.conflicts = append(s.conflicts, c)
			return err
		}); err != nil {
			return err
		}
		return forEach(tx, bucketVouchers, func(k, v []byte) error {
			v, err := s.stripGen(v)
			if err != nil {
				return err
			}
			e, err := unmarshalEntry(k, v)
			if err == nil {
				entries = append(entries, e)
			}
			return err
		})
	})
	if err != nil {
		return err
	}
	// Slots go to the first voucher that arrived for them, as they did live.
	sort.Slice(entries, func(i, j int) bool { return entries[i].arrival < entries[j].arrival })
	for _, e := range entries {
		s.index(e)
		if e.v.Counter != 0 && (e.status == statusSettled || e.status == statusSettling) {
			s.account(e, 1)
		}
	}
	for _, d := range s.devices {
		if d.revoked != "" {
			s.revoked++
		}
	}
	return nil
}

func forEach(tx *bolt.Tx, name []byte, fn func(k, v []byte) error) error {
	b := tx.Bucket(name)
	if b == nil {
		return nil
	}
	return b.ForEach(fn)
}

// index adds an entry to the in-memory maps.
func (s *Settler) index(e *entry) {
	s.vouchers[e.hash] = e
	s.arrivals = max(s.arrivals, e.arrival)
	if e.v.Counter == 0 {
		return
	}
	if _, ok := s.slots[e.key()]; !ok {
		s.slots[e.key()] = e.hash
	}
	if e.status == statusPending {
		s.markPending(e)
	}
}

func (s *Settler) markPending(e *entry) {
	m := s.pending[e.v.Payer]
	if m == nil {
		m = map[offline.Hash]bool{}
		s.pending[e.v.Payer] = m
	}
	m[e.hash] = true
}

func (s *Settler) unmarkPending(e *entry) {
	if m := s.pending[e.v.Payer]; m != nil {
		delete(m, e.hash)
		if len(m) == 0 {
			delete(s.pending, e.v.Payer)
		}
	}
}
