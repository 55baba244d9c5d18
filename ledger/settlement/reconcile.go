package settlement

import (
	"context"
	"fmt"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/offline"
)

// Upload is what a bank hands in for one of its devices: the encodings of
// the vouchers the purse sent and received since its last sync, and what
// the wallet says of the purse.
type Upload struct {
	Device   offline.Serial
	Sent     [][]byte
	Received [][]byte
	// ReceivedBefore is how many vouchers the purse received before
	// Received[0], which places each in its inbox. Counter is the purse's
	// counter, and ReceivedTotal, when TotalKnown, how many vouchers it
	// has received in all, as the wallet says: the ledger judges an
	// intermittent purse by that account (see checkClaim), and its sync
	// receipt vouches for no more than the ledger holds, whatever is said.
	ReceivedBefore uint64
	Counter        uint64
	ReceivedTotal  uint64
	TotalKnown     bool
}

// incoming is one uploaded voucher after the checks that need no state.
type incoming struct {
	raw    []byte
	v      offline.Voucher
	hash   offline.Hash // the voucher's hash, or the digest of bytes that are not a genuine voucher
	reason string       // ReasonMalformed or ReasonForged; "" for a genuine voucher
	detail string
	sent   bool
	place  uint64 // for a received voucher, its place in the uploader's inbox as the upload says; 0 if unknown
}

// Reconcile settles what a device uploaded and reports what became of each
// voucher, with the ledger's sync receipt for the device. A voucher
// uploaded again, by either side and at any bank, is reported as a
// duplicate and never applied twice.
func (s *Settler) Reconcile(ctx context.Context, bank ledger.AccountID, up Upload) (Report, error) {
	if n := len(up.Sent) + len(up.Received); n > MaxUpload {
		return Report{}, &detailed{ErrTooLarge, fmt.Sprintf("%d vouchers; at most %d per upload", n, MaxUpload)}
	}
	s.mu.RLock()
	_, err := s.uploader(bank, up.Device)
	s.mu.RUnlock()
	if err != nil {
		return Report{}, err
	}
	rj := &reconcileJob{s: s, bank: bank, up: up, ins: s.examineAll(up)}
	err = s.submit(ctx, &job{decide: rj.decide, finish: rj.finish})
	return rj.rep, err
}

// uploader returns the device an upload is for, if the bank serves it.
// Called with s.mu held.
func (s *Settler) uploader(bank ledger.AccountID, sn offline.Serial) (*device, error) {
	d := s.devices[sn]
	switch {
	case s.failure != nil:
		return nil, s.stoppedErr()
	case d == nil || d.escrow == "":
		return nil, &detailed{ErrUnknownDevice, sn.String()}
	case d.bank != bank:
		return nil, &detailed{ErrNotYourDevice, fmt.Sprintf("device %s is served by %s", sn, d.bank)}
	}
	return d, nil
}

// reconcileJob is one upload on its way through a round.
type reconcileJob struct {
	s     *Settler
	bank  ledger.AccountID
	up    Upload
	ins   []incoming
	d     *device
	lines []line
	rep   Report
}

// line is one voucher's place in a report: a stored entry, or a fixed
// result for what was not stored (duplicates, vouchers of another uploader).
type line struct {
	e     *entry
	fixed VoucherResult
}

func (j *reconcileJob) decide(r *round) error {
	s := j.s
	d, err := s.uploader(j.bank, j.up.Device)
	if err != nil {
		return err
	}
	j.d = d
	r.conflicts, r.revoked = nil, nil
	j.claim(r)
	for i := range j.ins {
		j.lines = append(j.lines, s.judge(r, &j.ins[i], d))
	}
	s.settleWork(r)
	j.rep.Conflicts, j.rep.Revoked = r.conflicts, r.revoked
	r.conflicts, r.revoked = nil, nil
	return nil
}

// claim records what the device says of itself, and the place of each
// voucher it hands in as received: the ledger judges an intermittent purse
// by its own account of what it received (see checkClaim).
func (j *reconcileJob) claim(r *round) {
	d, up := j.d, j.up
	// An honest purse's counter and count of received vouchers only grow,
	// so the largest of each belong to its latest account of itself.
	if up.TotalKnown && (up.Counter > d.claimedCounter || up.ReceivedTotal > d.claimedReceived) {
		d.claimedCounter, d.claimedReceived = max(d.claimedCounter, up.Counter), max(d.claimedReceived, up.ReceivedTotal)
		r.w.device(d)
	}
	for k := range up.Received {
		j.ins[len(up.Sent)+k].place = up.ReceivedBefore + uint64(k) + 1
	}
	r.try(d)
}

func (j *reconcileJob) finish(r *round) {
	s := j.s
	own := map[*entry]bool{}
	j.rep.Device = j.d.serial
	for _, l := range j.lines {
		if l.e != nil {
			own[l.e] = true
			j.rep.add(l.e.result())
		} else {
			j.rep.add(l.fixed)
		}
	}
	for _, e := range r.freed {
		if !own[e] {
			j.rep.Freed = append(j.rep.Freed, e.result())
		}
	}
	j.rep.Conflicts = append(j.rep.Conflicts, r.conflicts...)
	j.rep.Revoked = append(j.rep.Revoked, r.revoked...)
	j.rep.SyncedThrough = j.d.through
	j.rep.Receipt = s.syncReceipt(r, j.d, j.up.Counter, j.up.ReceivedBefore+uint64(len(j.up.Received)))
}

// judge decides what one uploaded voucher is: not the uploader's to hand
// in, a duplicate, a forgery, one its payee should have refused, one a
// bank must pay for a certificate it never registered, or one its payer's
// escrow settles. Called by the owner with s.mu held.
func (s *Settler) judge(r *round, in *incoming, up *device) line {
	v := &in.v
	if in.reason == "" && (in.sent && v.Payer != up.serial || !in.sent && v.Payee != up.serial) {
		return line{fixed: VoucherResult{Hash: in.hash, Payer: v.Payer, Counter: v.Counter, Payee: v.Payee, Amount: v.Amount,
			Outcome: offline.Rejected, Reason: offline.ReasonNotUploaders}}
	}
	if e := s.vouchers[in.hash]; e != nil {
		s.handedIn(r, e, in, up)
		res := e.result()
		res.Outcome, res.Reason = offline.Duplicate, "first outcome: "+string(e.outcome())
		return line{fixed: res}
	}
	s.arrivals++
	e := &entry{hash: in.hash, arrival: s.arrivals, raw: in.raw, v: in.v, uploader: up.serial}
	s.vouchers[e.hash] = e
	r.w.entry(e)
	s.handedIn(r, e, in, up)
	if in.reason != "" {
		e.class, e.reason = classRejected, in.reason
		s.conflict(r, offline.Forgery, up, "", "uploaded a voucher that is "+in.reason+": "+in.detail, in.hash)
		return line{e: e}
	}
	payer, registered := s.payerOf(v)
	if registered {
		s.index(e, payer)
	}
	e.payee = s.payeeAccount(v, payer)
	switch {
	case e.payee == "":
		e.class, e.reason = classRejected, offline.ReasonUnknownPayee
	case s.payeeFault(r, e, payer, registered, in.sent):
	case !registered:
		s.bankFault(r, e)
	default:
		e.class = classHonoured
		s.chainConflicts(r, e, payer)
		s.honour(r, e, payer)
	}
	return line{e: e}
}

// handedIn notes a voucher's place in its payee's inbox, when its payee
// hands it in.
func (s *Settler) handedIn(r *round, e *entry, in *incoming, up *device) {
	if in.sent || in.reason != "" || e.place != 0 || e.v.Payee != up.serial {
		return
	}
	if up.gotAt(in.place, e) {
		e.place = in.place
		r.w.entry(e)
	}
}

// payerOf returns the voucher's payer device and whether the ledger
// registered the very certificate the voucher carries for it.
func (s *Settler) payerOf(v *offline.Voucher) (*device, bool) {
	d := s.devices[v.Payer]
	return d, d != nil && d.escrow != "" && string(d.bank) == v.Chain.Device.BankID && d.registered(&v.Chain.Device)
}

// payeeAccount is the account a voucher pays: the owner's wallet for a
// defund, else the payee's wallet (staged) or escrow (intermittent, where
// the purse may already have spent the value again); "" when nobody
// registered the payee.
func (s *Settler) payeeAccount(v *offline.Voucher, payer *device) ledger.AccountID {
	if v.Payee.IsZero() {
		if payer == nil || payer.escrow == "" || string(payer.bank) != v.Chain.Device.BankID {
			return ""
		}
		return payer.wallet
	}
	pd := s.devices[v.Payee]
	if pd == nil || pd.escrow == "" {
		return ""
	}
	if pd.mode() == offline.Intermittent {
		return pd.escrow
	}
	return pd.wallet
}

// index adds a genuine voucher of a registered device to its slot and its
// payer's counters.
func (s *Settler) index(e *entry, payer *device) {
	k := e.v.Key()
	s.slots[k] = append(s.slots[k], e)
	payer.hold(e.v.Counter)
}

// payeeFault checks what an honest payee checks before accepting: the
// payer's certificate carries the policy's limits, the voucher keeps them
// and is dated within its certificate, and it arrives in time. A voucher
// that fails draws on nobody: its payee bears it. When the payer's device
// signed what a genuine purse never signs, it is revoked for it (its bank,
// for a certificate it never registered); a payee that handed it in as
// received is marked as a sign of collusion.
func (s *Settler) payeeFault(r *round, e *entry, payer *device, registered, sent bool) bool {
	v := &e.v
	err := s.limitsFault(v)
	if err == nil {
		err = v.CheckRules()
	}
	late := err == nil && !v.Payee.IsZero() && r.now.After(v.Chain.Device.Expires.Add(s.cfg.Policy.UploadGrace))
	if err == nil && !late {
		return false
	}
	e.class, e.payeeLoss, e.closed = classPayeeFault, v.Amount, true
	if late {
		e.reason, e.fault = offline.ReasonLate, offline.ReasonLate
		return true
	}
	e.reason, e.fault = offline.ReasonPayeeFault, offline.CodeOf(err)
	detail := fmt.Sprintf("signed voucher %d, which a genuine purse never makes: %v", v.Counter, err)
	if registered {
		s.conflict(r, offline.RuleBreach, payer, "", detail, e.hash)
	} else {
		s.bankConflict(r, e, detail)
	}
	if !sent {
		if pd := s.devices[v.Payee]; pd != nil && pd.escrow != "" {
			s.conflict(r, offline.AcceptedInvalid, pd, "", fmt.Sprintf("accepted voucher %d of %s, which an honest payee refuses: %v", v.Counter, v.Payer, err), e.hash)
		}
	}
	return true
}

// limitsFault says why a payer's certificate is not one of the policy's.
func (s *Settler) limitsFault(v *offline.Voucher) error {
	c, pol := v.Chain.Device, s.cfg.Policy
	if c.Limits.PaymentCap != pol.PaymentCap || c.Limits.PurseCap != pol.PurseCap ||
		c.Limits.PaymentsBeforeSync != pol.PaymentsBeforeSync || c.Expires.Sub(c.Issued) > pol.CertLifetime {
		return &offline.Error{Code: offline.ErrLimitsMismatch.Code, Message: fmt.Sprintf("certified with limits %+v for %s; the policy is %+v for at most %s",
			c.Limits, c.Expires.Sub(c.Issued), pol.Limits, pol.CertLifetime)}
	}
	return nil
}

// bankFault: the voucher's certificate verifies under its bank's key, but
// the bank never registered it for that serial. The bank whose key signed
// it pays the payee in full, whatever the policy, and is blamed; a serial
// no device has is put on the revocation list.
func (s *Settler) bankFault(r *round, e *entry) {
	v := &e.v
	bank := ledger.AccountID(v.Chain.Device.BankID)
	e.class, e.bearer = classBankFault, bank
	d := s.devices[v.Payer]
	var detail string
	switch {
	case d == nil || d.escrow == "":
		detail = fmt.Sprintf("%s certified serial %s, which it never registered", bank, v.Payer)
	case d.bank != bank:
		detail = fmt.Sprintf("%s certified serial %s, which %s registered", bank, v.Payer, d.bank)
	default:
		detail = fmt.Sprintf("%s certified serial %s with a certificate it never registered", bank, v.Payer)
	}
	s.bankConflict(r, e, detail)
	s.paysInto(e)
	o := &op{id: e.opID(), transfers: []ledger.Transfer{{From: bank, To: e.payee, Amount: v.Amount}},
		effects: []effect{{hash: e.hash, fromBearer: v.Amount, bearer: bank, closed: true}}, credits: s.credited(e)}
	s.plan(r, o)
}

// bankConflict blames the bank whose key certified a voucher's device
// without registering it, once per bank and serial.
func (s *Settler) bankConflict(r *round, e *entry, detail string) {
	v := &e.v
	k := impostor{bank: ledger.AccountID(v.Chain.Device.BankID), serial: v.Payer}
	if s.impostors[k] {
		return
	}
	s.impostors[k] = true
	d := s.devices[v.Payer]
	if d == nil {
		// A serial no bank registered: its revocation harms no device, and
		// payees with the new list refuse it.
		d = &device{serial: v.Payer, bank: k.bank, certs: []offline.DeviceCert{v.Chain.Device}, incoming: map[*entry]bool{}}
		s.devices[d.serial] = d
		r.w.device(d)
		s.conflict(r, offline.BankCertificate, d, k.bank, detail, e.hash)
		return
	}
	// Another device's serial: the revocation list names serials, so the
	// impostor is refused by the ledger alone, which makes its bank pay.
	c := Conflict{Seq: uint64(len(s.conflicts)) + 1, Kind: offline.BankCertificate, Device: v.Payer, Bank: k.bank,
		Evidence: []offline.Hash{e.hash}, Detail: detail, Time: r.now.UTC()}
	s.conflicts = append(s.conflicts, c)
	r.w.conflicts = append(r.w.conflicts, c)
	r.conflicts = append(r.conflicts, c)
}

// chainConflicts looks for another voucher in this one's slot and for a
// fork with its neighbours.
func (s *Settler) chainConflicts(r *round, e *entry, payer *device) {
	v := &e.v
	if others := s.slots[v.Key()]; len(others) > 1 {
		s.conflict(r, offline.DoubleSpend, payer, "", fmt.Sprintf("two vouchers with counter %d", v.Counter), others[0].hash, e.hash)
		return
	}
	var prev, nextPrev *offline.Hash
	var evidence []offline.Hash
	if es := s.slots[offline.VoucherKey{Payer: v.Payer, Counter: v.Counter - 1}]; len(es) > 0 && v.Counter > 1 {
		prev = &es[0].hash
		evidence = append(evidence, es[0].hash)
	}
	if es := s.slots[offline.VoucherKey{Payer: v.Payer, Counter: v.Counter + 1}]; len(es) > 0 {
		nextPrev = &es[0].v.Prev
		evidence = append(evidence, es[0].hash)
	}
	if offline.ChainConflict(v, prev, nextPrev) {
		s.conflict(r, offline.ChainFork, payer, "", fmt.Sprintf("voucher %d does not chain to its neighbours", v.Counter),
			append(evidence, e.hash)...)
	}
}

// honour puts a voucher among its payer's open vouchers, to be paid from
// its escrow in order.
func (s *Settler) honour(r *round, e *entry, payer *device) {
	payer.out = append(payer.out, e)
	s.paysInto(e)
	s.placed(e)
	r.try(payer)
}

// paysInto lists a voucher that pays into a device's escrow with that
// device.
func (s *Settler) paysInto(e *entry) {
	if pd := s.escrowOwner(e.payee); pd != nil {
		pd.in = append(pd.in, e)
	}
}

// syncReceipt is the ledger's receipt for a device: it vouches for the
// device's vouchers up to the counter the wallet claims, as far as the
// ledger holds them. Only a device in good standing whose escrow, with the
// value on its way to it, covers what it paid gets a counter above the
// last one vouched for; any other gets that last one again, which resets
// nothing. Called by the owner with s.mu held.
func (s *Settler) syncReceipt(r *round, d *device, claimed, received uint64) offline.SyncReceipt {
	counter := min(claimed, d.through)
	switch {
	case d.revoked != "" || !s.covered(d, counter):
		counter = min(claimed, d.receipt)
	case counter > d.receipt:
		d.receipt = counter
		r.w.device(d)
	}
	rc := offline.SyncReceipt{Serial: d.serial, Counter: counter, Received: received, Time: r.now}
	if counter > 0 {
		rc.Head = s.slots[offline.VoucherKey{Payer: d.serial, Counter: counter}][0].hash
	}
	rc.Sign(s.root)
	return rc
}

// covered reports whether the device's escrow, with what is on its way to
// it, covers its vouchers up to the counter.
func (s *Settler) covered(d *device, through uint64) bool {
	var need, have Sum
	for _, e := range d.open {
		if e.v.Counter <= through {
			need = need.Add(e.need())
		}
	}
	have = have.Add(s.available(d))
	for e := range d.incoming {
		have = have.Add(e.unpaid())
	}
	return need.Cmp(have) <= 0
}

// CloseWindow ends the wait where it can: it sends again operations whose
// answer never came, settles cycles of waiting payers by netting, decides
// the shortfalls that are now certain, advances (under the payer-bank and
// guarantee policies) what still waits in intermittent mode, and returns
// the escrow of revoked devices whose vouchers can no longer arrive.
func (s *Settler) CloseWindow(ctx context.Context) (Report, error) {
	var rep Report
	err := s.submit(ctx, &job{
		decide: func(r *round) error {
			r.closing = true
			for _, e := range s.vouchers {
				e.refused = false
			}
			for _, d := range s.devices {
				if len(d.open) > 0 {
					r.try(d)
				}
			}
			r.ops = append(r.ops, s.inDoubt()...)
			return nil
		},
		finish: func(r *round) {
			for _, e := range r.freed {
				rep.add(e.result())
			}
			rep.Conflicts, rep.Revoked = r.conflicts, r.revoked
		},
	})
	return rep, err
}
