package settlement

import (
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/offline"
)

// The clearing decides where escrow goes. Its rules, which make the
// outcome the same whatever order uploads come in:
//
//   - a payer's vouchers take its escrow in counter order, each in full; a
//     voucher that does not fit waits, and so do the ones after it;
//   - value that reaches an escrow pays, in the same order, first what its
//     vouchers still owe: a payee that went without, or a bearer that paid
//     in the escrow's stead;
//   - under the payee policy, where who goes short depends on the order,
//     a voucher leaves room for the vouchers with lower counters the
//     ledger has not seen (a payment cap each) until its payer's vouchers
//     can no longer arrive;
//   - a shortfall is decided only when it is certain: at once in staged
//     mode, where nothing but funding raises an escrow; in intermittent
//     mode only when the payer's vouchers and all value it may have
//     received have had their chance to arrive. Until then the window's
//     close settles cycles of waiting payers by netting, and, where a bank
//     or the guarantee fund bears losses, advances what still waits.

// settleWork tries the open vouchers of every device on the worklist.
func (s *Settler) settleWork(r *round) {
	for len(r.work) > 0 {
		ds := make([]*device, 0, len(r.work))
		for d := range r.work {
			ds = append(ds, d)
		}
		slices.SortFunc(ds, func(a, b *device) int { return compareSerials(a.serial, b.serial) })
		clear(r.work)
		for _, d := range ds {
			s.settleDevice(r, d)
		}
	}
}

// settleDevice pays a device's open vouchers from its escrow, in order, as
// far as it goes. In staged mode a voucher its escrow cannot cover is an
// overspend now.
func (s *Settler) settleDevice(r *round, d *device) {
	avail := s.available(d)
	for _, e := range slices.Clone(d.open) {
		if e.inflight != "" || e.refused || s.defundWaits(d, e, r.now) {
			return
		}
		room := avail - s.gapReserve(d, e, r.now)
		if need := e.need(); room >= need {
			s.payFromEscrow(r, d, e, need)
			avail -= need
			continue
		}
		if e.closed && room > 0 {
			s.payFromEscrow(r, d, e, room) // part of what it still owes
		}
		break
	}
	if d.mode() == offline.Staged {
		s.stagedShortfall(r, d)
	} else {
		s.checkClaim(r, d)
	}
}

// checkClaim judges an intermittent purse by its own account: once it has
// handed in the first n vouchers it received, n being what its latest
// upload says it had received, the vouchers it made up to the counter that
// upload gives were made with no more value than it was funded and those n
// vouchers brought, at face value. A purse that paid more overspent; an
// honest purse, which hands in all it receives, never does. Its waiting
// vouchers are then closed as the policy says, and value that reaches its
// escrow later makes them good.
func (s *Settler) checkClaim(r *round, d *device) {
	if d.revoked != "" || d.claimedCounter == 0 || d.gotThrough < d.claimedReceived {
		return
	}
	var out, in Sum
	for _, e := range d.out {
		if e.v.Counter <= d.claimedCounter {
			out = out.Add(e.v.Amount)
		}
	}
	for p := uint64(1); p <= d.claimedReceived; p++ {
		if e := d.received[p]; e.class == classHonoured || e.class == classBankFault {
			in = in.Add(e.v.Amount)
		}
	}
	funded, err := s.funded(d)
	if err != nil || out.Cmp(funded.Plus(in)) <= 0 {
		return // unread, it is judged at a later round
	}
	s.overspent(r, d, fmt.Sprintf("up to counter %d it paid %s yen; it was funded %s and says it had received %d vouchers worth %s",
		d.claimedCounter, out, funded, d.claimedReceived, in))
	s.force(r, d, s.available(d))
}

// defundWaits: a revoked device's defund waits until none of its vouchers
// can still be honoured, so its escrow pays its payees first.
func (s *Settler) defundWaits(d *device, e *entry, now time.Time) bool {
	return e.defund() && d.revoked != "" && !now.After(s.honourDeadline(d))
}

// gapReserve is what a voucher leaves in escrow, under the payee policy,
// for the vouchers with lower counters the ledger has not seen.
func (s *Settler) gapReserve(d *device, e *entry, now time.Time) int64 {
	if s.cfg.Policy.LossBearer != offline.Payee || now.After(s.honourDeadline(d)) {
		return 0
	}
	missing := d.missingBelow(e.v.Counter)
	if missing == 0 {
		return 0
	}
	cap := s.cfg.Policy.PaymentCap
	if missing > uint64(maxAmount/cap) {
		return maxAmount
	}
	return int64(missing) * cap
}

const maxAmount = int64(^uint64(0) >> 1)

// payFromEscrow plans the transfer of amt from the payer's escrow for e:
// to its payee what the payee has not received, then back to the bearer
// what it paid in the escrow's stead.
func (s *Settler) payFromEscrow(r *round, d *device, e *entry, amt int64) {
	toPayee := min(amt, e.unpaid())
	toBearer := amt - toPayee
	f := effect{hash: e.hash, fromEscrow: e.fromEscrow + amt, fromBearer: e.fromBearer - toBearer, bearer: e.bearer,
		payeeLoss: max(0, e.payeeLoss-toPayee), closed: e.closed || e.fromEscrow+amt == e.v.Amount}
	if f.fromBearer == 0 {
		f.bearer = ""
	}
	o := &op{id: e.opID(), effects: []effect{f}, reserve: map[ledger.AccountID]int64{d.escrow: amt}}
	if toPayee > 0 {
		o.transfers = append(o.transfers, ledger.Transfer{From: d.escrow, To: e.payee, Amount: toPayee})
		o.credits = s.credited(e)
	}
	if toBearer > 0 {
		o.transfers = append(o.transfers, ledger.Transfer{From: d.escrow, To: e.bearer, Amount: toBearer})
	}
	s.plan(r, o)
}

// credited names the device whose escrow a payment to e's payee raises.
func (s *Settler) credited(e *entry) []offline.Serial {
	if pd := s.devices[e.v.Payee]; pd != nil && pd.escrow != "" && e.payee == pd.escrow {
		return []offline.Serial{pd.serial}
	}
	return nil
}

// opID is the ledger operation id of an entry's next operation: derived
// from its hash and how many it had, so a retry finds the first attempt.
func (e *entry) opID() string {
	id := "v:" + hex.EncodeToString(e.hash[:20])
	if e.ops > 0 {
		id += fmt.Sprintf(":%d", e.ops)
	}
	return id
}

// stagedShortfall: in staged mode nothing but funding raises an escrow, so
// open vouchers that add up to more than the escrow holds are an overspend
// now. The payer is revoked, and its vouchers are closed in order: the
// escrow pays what it has, the policy the rest.
func (s *Settler) stagedShortfall(r *round, d *device) {
	var need Sum
	for _, e := range d.open {
		if e.inflight == "" && !e.closed && !e.refused {
			need = need.Add(e.need())
		}
	}
	avail := s.available(d)
	if need.Cmp(SumOf(avail)) <= 0 {
		return
	}
	s.overspent(r, d, fmt.Sprintf("its vouchers waiting for escrow need %s yen, its escrow has %d", need, avail))
	s.force(r, d, avail)
}

// overspent records an overspend conflict, unless the device was already
// caught.
func (s *Settler) overspent(r *round, d *device, detail string) {
	if d.revoked != "" {
		return
	}
	var evidence []offline.Hash
	for _, e := range d.open {
		evidence = append(evidence, e.hash)
	}
	s.conflict(r, offline.Overspend, d, "", detail, evidence...)
	d.sortOpen()
}

// force closes a device's waiting vouchers in order: each takes what is
// left of avail, and the rest of it is borne as the policy says. Under the
// payee policy it stops at a voucher with unseen lower counters, until
// they can no longer arrive.
func (s *Settler) force(r *round, d *device, avail int64) {
	for _, e := range slices.Clone(d.open) {
		if e.inflight != "" || e.refused {
			return
		}
		if e.closed {
			continue
		}
		if s.defundWaits(d, e, r.now) || s.gapReserve(d, e, r.now) > 0 {
			return
		}
		part := min(max(avail, 0), e.need())
		avail -= part
		s.closeShort(r, d, e, part)
	}
}

// closeShort plans e's settlement with part from escrow and the rest of
// what its payee has not received borne as the policy says: by the bearer,
// or by the payee. A defund's shortfall is its owner's own.
func (s *Settler) closeShort(r *round, d *device, e *entry, part int64) {
	short := e.unpaid() - part
	f := effect{hash: e.hash, fromEscrow: e.fromEscrow + part, fromBearer: e.fromBearer, bearer: e.bearer,
		payeeLoss: e.payeeLoss, closed: true}
	o := &op{id: e.opID(), effects: []effect{f}, reserve: map[ledger.AccountID]int64{}}
	if part > 0 {
		o.transfers = append(o.transfers, ledger.Transfer{From: d.escrow, To: e.payee, Amount: part})
		o.reserve[d.escrow] = part
	}
	if short > 0 {
		if b := s.bearer(d); b != "" && !e.defund() {
			o.effects[0].fromBearer += short
			o.effects[0].bearer = b
			o.transfers = append(o.transfers, ledger.Transfer{From: b, To: e.payee, Amount: short})
		} else {
			o.effects[0].payeeLoss += short
		}
	}
	if len(o.transfers) == 0 {
		// Nothing moves: the payee bears all of it. No ledger operation.
		e.payeeLoss, e.closed = f.payeeLoss+short, true
		e.reason = ""
		s.placed(e)
		r.w.entry(e)
		return
	}
	o.credits = s.credited(e)
	s.plan(r, o)
}

// bearer is the account that pays a device's shortfalls, or "" when its
// payees bear them.
func (s *Settler) bearer(d *device) ledger.AccountID {
	switch s.cfg.Policy.LossBearer {
	case offline.Guarantee:
		return GuaranteeAccount
	case offline.PayerBank:
		return d.bank
	}
	return ""
}

// available is what a device's escrow can still pay: its balance on the
// ledger less what operations in flight will take.
func (s *Settler) available(d *device) int64 {
	if d.escrow == "" {
		return 0
	}
	bal, err := s.l.Balance(d.escrow)
	if err != nil {
		return 0
	}
	return bal - s.reserved[d.escrow]
}

// honourDeadline is when the last of a device's vouchers may still arrive
// and be honoured: its last certificate's expiry and the upload grace.
func (s *Settler) honourDeadline(d *device) time.Time {
	return d.lastExpiry().Add(s.cfg.Policy.UploadGrace)
}

// finalDeadline is when every voucher that may raise the device's escrow
// has had its chance to arrive too: a payee accepts only while its own
// certificate is valid, from payers whose certificates live at most one
// lifetime more. After it, a device's shortfall is certain.
func (s *Settler) finalDeadline(d *device) time.Time {
	if d.mode() == offline.Staged {
		return s.honourDeadline(d)
	}
	return s.honourDeadline(d).Add(s.cfg.Policy.CertLifetime)
}

// closeStep is one step of closing the window, taken when nothing else
// moves: netting, then shortfalls that are now certain, then advances,
// then returning the escrow of revoked devices whose vouchers can no
// longer arrive. Each step that plans operations ends the step.
func (s *Settler) closeStep(r *round) {
	r.steps++
	if r.steps > 64 {
		return
	}
	for _, step := range []func(*round) bool{s.net, s.deadlines, s.advance, s.releaseEscrow} {
		if step(r) || len(r.ops) > 0 {
			return
		}
	}
}

// deadlines judges every device whose final deadline has passed and whose
// vouchers its escrow has not paid in full: a device that spent more than
// it was funded and received, at face value, is an overspender; its
// waiting vouchers close as far as its escrow goes, and the rest is borne
// as the policy says.
func (s *Settler) deadlines(r *round) bool {
	planned := false
	for _, d := range s.sortedDevices() {
		if d.escrow == "" || d.revoked != "" && !s.waiting(d) || !r.now.After(s.finalDeadline(d)) || len(d.open) == 0 {
			continue
		}
		out, funded, in, err := s.faceValue(d)
		if err != nil {
			continue // unread, it is judged at a later round
		}
		if out.Cmp(funded.Plus(in)) > 0 {
			s.overspent(r, d, fmt.Sprintf("it paid %s yen; it was funded %s and received %s", out, funded, in))
		}
		n := len(r.ops)
		s.force(r, d, s.available(d))
		planned = planned || len(r.ops) > n
	}
	return planned
}

// waiting reports whether a device has open vouchers not yet closed.
func (s *Settler) waiting(d *device) bool {
	for _, e := range d.open {
		if !e.closed && e.inflight == "" && !e.refused {
			return true
		}
	}
	return false
}

// faceValue is what a device paid, what was funded into its escrow, and
// what it received into its escrow, at the vouchers' face value.
func (s *Settler) faceValue(d *device) (out, funded, in Sum, err error) {
	for _, e := range d.out {
		out = out.Add(e.v.Amount)
	}
	for _, e := range s.into(d) {
		in = in.Add(e.v.Amount)
	}
	funded, err = s.funded(d)
	return out, funded, in, err
}

// funded is what the bank has moved into a device's escrow: its balance,
// plus what settlement took out of it, less what settlement paid into it.
// A balance the ledger cannot give (it is closing) is an error, never a
// zero that would make an honest purse look overspent.
func (s *Settler) funded(d *device) (Sum, error) {
	bal, err := s.l.Balance(d.escrow)
	if err != nil {
		return Sum{}, err
	}
	funded := SumOf(bal).Add(d.released)
	for _, e := range d.out {
		funded = funded.Add(e.fromEscrow)
	}
	for _, e := range s.into(d) {
		funded = funded.Add(-(e.fromEscrow + e.fromBearer))
	}
	return funded, nil
}

// into returns every voucher that pays into the device's escrow.
func (s *Settler) into(d *device) []*entry { return d.in }

// advance, where a bank or the guarantee fund bears losses, pays what
// still waits in intermittent mode from that bearer when the window
// closes: the payer may only be waiting for value on its way, so nobody is
// revoked, and the first value that reaches its escrow repays the bearer.
func (s *Settler) advance(r *round) bool {
	if s.cfg.Policy.LossBearer == offline.Payee {
		return false
	}
	planned := false
	for _, d := range s.sortedDevices() {
		if d.mode() != offline.Intermittent {
			continue
		}
		for _, e := range slices.Clone(d.open) {
			if e.closed || e.inflight != "" || e.refused || e.defund() {
				continue
			}
			s.closeShort(r, d, e, 0)
			planned = true
		}
	}
	return planned
}

// releaseEscrow returns to its owner's wallet what is left in a revoked
// device's escrow once none of its vouchers can be honoured any more, nor
// any value reach it: a retired purse's remaining value, or what a
// cheater's escrow holds after all its payees are paid.
func (s *Settler) releaseEscrow(r *round) bool {
	planned := false
	for _, d := range s.sortedDevices() {
		if d.revoked == "" || d.escrow == "" || d.wallet == "" || !r.now.After(s.finalDeadline(d)) || len(d.open) > 0 {
			continue
		}
		avail := s.available(d)
		if avail <= 0 {
			continue
		}
		o := &op{id: fmt.Sprintf("release:%s:%d", d.serial, d.release), release: d.serial, released: avail,
			transfers: []ledger.Transfer{{From: d.escrow, To: d.wallet, Amount: avail}},
			reserve:   map[ledger.AccountID]int64{d.escrow: avail}}
		s.plan(r, o)
		planned = true
	}
	return planned
}

// payer2escrow is the escrow an entry's payer pays from.
func (e *entry) payer2escrow(s *Settler) ledger.AccountID { return s.devices[e.v.Payer].escrow }

func (s *Settler) escrowOwner(a ledger.AccountID) *device {
	if len(a) != len("escrow-")+32 || a[:7] != "escrow-" {
		return nil
	}
	sn, err := offline.ParseSerial(string(a[7:]))
	if err != nil {
		return nil
	}
	return s.devices[sn]
}

func (s *Settler) sortedDevices() []*device {
	ds := make([]*device, 0, len(s.devices))
	for _, d := range s.devices {
		ds = append(ds, d)
	}
	slices.SortFunc(ds, func(a, b *device) int { return compareSerials(a.serial, b.serial) })
	return ds
}

// placed keeps an entry's place among its payer's open vouchers and its
// payee's incoming ones after its amounts changed.
func (s *Settler) placed(e *entry) {
	if e.class != classHonoured {
		return
	}
	if d := s.devices[e.v.Payer]; d != nil && d.escrow != "" {
		if e.need() > 0 {
			d.addOpen(e)
		} else {
			d.dropOpen(e)
		}
	}
	if pd := s.devices[e.v.Payee]; pd != nil && pd.escrow != "" && e.payee == pd.escrow {
		if e.unpaid() > 0 {
			pd.incoming[e] = true
		} else {
			delete(pd.incoming, e)
		}
	}
}
