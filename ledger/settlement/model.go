package settlement

import (
	"cmp"
	"slices"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/offline"
)

// device is an offline purse the ledger knows: where its escrow is, who
// owns it, the certificates its bank registered for it, and whether it is
// revoked. A serial seen only in vouchers whose certificate no bank
// registered is a phantom: it has no escrow.
type device struct {
	serial  offline.Serial
	bank    ledger.AccountID
	wallet  ledger.AccountID
	escrow  ledger.AccountID     // "" for a phantom
	certs   []offline.DeviceCert // registered, in the order of registration
	revoked offline.ConflictKind // why it is revoked; "" while in good standing
	receipt uint64               // the highest counter a sync receipt vouched for
	// claimed is what the device last said of itself in an upload: its
	// counter and how many vouchers it had received.
	claimedCounter, claimedReceived uint64
	release                         uint64 // ledger operations that returned its escrow to the owner
	released                        int64  // what they returned

	// Kept in memory only, from the entries.
	open     []*entry        // its vouchers as payer that still need escrow, in settling order
	incoming map[*entry]bool // open vouchers that pay into its escrow
	out      []*entry        // every voucher it made that may draw on its escrow
	in       []*entry        // every voucher that pays into its escrow
	through  uint64          // the ledger holds its vouchers 1..through
	known    []uint64        // counters the ledger holds a voucher for, ascending
	// received holds the vouchers it handed in as received, by their place
	// in its inbox (1 for the first it ever received); gotThrough is the
	// longest run from 1 it has handed in.
	received   map[uint64]*entry
	gotThrough uint64
}

func (d *device) mode() offline.Mode {
	if len(d.certs) == 0 {
		return 0
	}
	return d.certs[0].Limits.Mode
}

// lastExpiry is when the device's last registered certificate expires.
func (d *device) lastExpiry() time.Time {
	var t time.Time
	for _, c := range d.certs {
		if c.Expires.After(t) {
			t = c.Expires
		}
	}
	return t
}

// registered reports whether the ledger registered this very certificate
// for the device.
func (d *device) registered(c *offline.DeviceCert) bool {
	for i := range d.certs {
		if d.certs[i].Signature == c.Signature {
			return true
		}
	}
	return false
}

// class says who an entry's money comes from.
type class uint8

const (
	// classRejected: nothing moves; not a genuine voucher, or one nobody can be paid for.
	classRejected class = iota + 1
	// classPayeeFault: a genuine voucher an honest payee refuses; nothing moves
	// and its payee bears all of it.
	classPayeeFault
	// classBankFault: a certificate the bank's key signed but the bank never
	// registered; that bank pays it in full, whatever the policy.
	classBankFault
	// classHonoured: the payer's escrow pays it, and the loss policy the rest.
	classHonoured
)

// entry is one voucher the settler has seen, and what it has paid so far.
type entry struct {
	hash     offline.Hash
	arrival  uint64
	raw      []byte
	v        offline.Voucher // zero for undecodable or forged bytes
	uploader offline.Serial
	class    class
	reason   string
	fault    string // the rule a payee should have refused it for

	payee      ledger.AccountID // the account it pays
	fromEscrow int64            // paid out of the payer's escrow
	fromBearer int64            // paid by a bank or the guarantee fund, owed back by the escrow
	bearer     ledger.AccountID
	payeeLoss  int64  // what its payee has gone without, until made good
	closed     bool   // its shortfall was decided (forced or advanced): it counts as settled
	ops        uint32 // ledger operations made for it, which number their ids
	inflight   string // the operation it waits on; "" when none
	seq        uint64 // the last ledger record that moved money for it
	place      uint64 // its place in its payee's inbox, when the payee handed it in; 0 until then

	refused bool // the ledger refused its last operation; retried when the window closes
	netted  bool // settled by netting (kept in memory only, for reports and tests)
}

func (e *entry) payer() offline.Serial { return e.v.Payer }
func (e *entry) defund() bool          { return e.v.Payee.IsZero() }

// need is what the payer's escrow still owes for it: to its payee, or back
// to the bearer that paid in the escrow's stead.
func (e *entry) need() int64 { return e.v.Amount - e.fromEscrow }

// unpaid is what its payee has not yet received.
func (e *entry) unpaid() int64 { return e.v.Amount - e.fromEscrow - e.fromBearer }

// outcome is the entry's outcome as reports give it.
func (e *entry) outcome() offline.Outcome {
	switch {
	case e.class == classRejected || e.class == classPayeeFault:
		return offline.Rejected
	case e.fromEscrow+e.fromBearer+e.payeeLoss == e.v.Amount && (e.closed || e.need() == 0):
		return offline.Settled
	}
	return offline.Pending
}

// settlingOrder sorts a payer's open vouchers: counter order, and within a
// counter (a double spend) arrival order. A revoked device's defunds come
// last: its escrow is kept for the vouchers it paid others with.
func settlingOrder(revoked bool) func(a, b *entry) int {
	return func(a, b *entry) int {
		if revoked && a.defund() != b.defund() {
			if a.defund() {
				return 1
			}
			return -1
		}
		return cmp.Or(cmp.Compare(a.v.Counter, b.v.Counter), cmp.Compare(a.arrival, b.arrival))
	}
}

func (d *device) sortOpen() { slices.SortFunc(d.open, settlingOrder(d.revoked != "")) }

// addOpen puts an entry among its payer's open vouchers.
func (d *device) addOpen(e *entry) {
	if !slices.Contains(d.open, e) {
		d.open = append(d.open, e)
		d.sortOpen()
	}
}

func (d *device) dropOpen(e *entry) {
	if i := slices.Index(d.open, e); i >= 0 {
		d.open = slices.Delete(d.open, i, i+1)
	}
}

// hold records that the ledger holds a voucher with counter c.
func (d *device) hold(c uint64) {
	i, found := slices.BinarySearch(d.known, c)
	if !found {
		d.known = slices.Insert(d.known, i, c)
	}
	for {
		if _, ok := slices.BinarySearch(d.known, d.through+1); !ok {
			return
		}
		d.through++
	}
}

// gotAt records that the device handed in e as the voucher at place p of
// its inbox; the first voucher handed in for a place keeps it.
func (d *device) gotAt(p uint64, e *entry) bool {
	if p == 0 || d.received[p] != nil {
		return false
	}
	if d.received == nil {
		d.received = map[uint64]*entry{}
	}
	d.received[p] = e
	for d.received[d.gotThrough+1] != nil {
		d.gotThrough++
	}
	return true
}

// missingBelow counts the counters under c the ledger holds no voucher for.
func (d *device) missingBelow(c uint64) uint64 {
	i, _ := slices.BinarySearch(d.known, c)
	return c - 1 - uint64(i)
}
