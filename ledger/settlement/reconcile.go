package settlement

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/offline"
)

// Upload is what a bank hands in for one of its devices: the encodings of
// the vouchers the purse sent and received since its last sync.
type Upload struct {
	Device   offline.Serial
	Sent     [][]byte
	Received [][]byte
}

// incoming is one uploaded voucher after the checks that need no state.
type incoming struct {
	raw     []byte
	v       offline.Voucher
	hash    offline.Hash // the voucher's hash, or the digest of bytes that are not a genuine voucher
	reason  string       // ReasonMalformed or ReasonForged; "" for a genuine voucher
	detail  string
	sent    bool
	expired bool
}

// Reconcile settles what a device uploaded and reports what became of each
// voucher. A voucher uploaded again, by either side and at any bank, is
// reported as a duplicate and never applied twice.
func (s *Settler) Reconcile(ctx context.Context, bank ledger.AccountID, up Upload) (Report, error) {
	if n := len(up.Sent) + len(up.Received); n > MaxUpload {
		return Report{}, &detailed{ErrTooLarge, fmt.Sprintf("%d vouchers; at most %d per upload", n, MaxUpload)}
	}
	s.mu.Lock()
	d, failure := s.devices[up.Device], s.failure
	s.mu.Unlock()
	switch {
	case failure != nil:
		return Report{}, &detailed{ErrStopped, failure.Error()}
	case d == nil || d.escrow == "":
		return Report{}, &detailed{ErrUnknownDevice, up.Device.String()}
	case d.bank != bank:
		return Report{}, &detailed{ErrNotYourDevice, fmt.Sprintf("device %s is served by %s", up.Device, d.bank)}
	}
	ins := s.examineAll(up)
	t := &round{rep: Report{Device: up.Device}}
	s.mu.Lock()
	for i := range ins {
		t.results = append(t.results, s.decide(&ins[i], d, t))
	}
	return s.finish(ctx, t)
}

// CloseWindow ends the wait for pending vouchers: each is settled now as far
// as its payer's escrow goes, and what is still short is an overspend, borne
// as the policy says. A payer is taken only once no pending voucher pays
// into its escrow, so value on its way to it arrives first; then payers in
// serial order, vouchers in counter order. Where pending vouchers wait on
// each other in a cycle, a payer that is short even if all its pending
// value arrives goes first.
func (s *Settler) CloseWindow(ctx context.Context) (Report, error) {
	t := &round{}
	tried := map[*entry]bool{}
	s.mu.Lock()
	// Settlements in doubt first: value they pay into an escrow counts.
	t.jobs = s.inDoubt()
	if err := s.drain(ctx, t); err != nil {
		return Report{}, err
	}
	for {
		payers := s.closeNext(tried)
		if len(payers) == 0 {
			break
		}
		for _, p := range payers {
			for _, e := range s.sortedPending(p) {
				if tried[e] {
					continue
				}
				tried[e] = true
				s.try(e, true, t)
				t.results = append(t.results, result{e: e})
			}
		}
		if err := s.drain(ctx, t); err != nil {
			return Report{}, err
		}
	}
	rep, err := s.finish(ctx, t)
	if err != nil {
		return rep, err
	}
	return rep, s.releaseRetired(ctx)
}

// closeNext picks the payers CloseWindow settles next: those whose escrow no
// pending voucher pays into, or else one payer of a cycle. Vouchers already
// tried in this window (refused by the ledger) are left alone. Called with
// s.mu held.
func (s *Settler) closeNext(tried map[*entry]bool) []offline.Serial {
	out := map[offline.Serial]int64{} // pending amounts by payer
	in := map[offline.Serial]int64{}  // pending amounts into a device's escrow
	for payer, hs := range s.pending {
		for h := range hs {
			e := s.vouchers[h]
			if tried[e] {
				continue
			}
			out[payer] += e.v.Amount
			if pd := s.devices[e.v.Payee]; pd != nil && pd.escrow != "" && e.res.PayeeAccount == pd.escrow && pd.serial != payer {
				in[pd.serial] += e.v.Amount
			}
		}
	}
	var roots, short, all []offline.Serial
	for p, amount := range out {
		all = append(all, p)
		if in[p] == 0 {
			roots = append(roots, p)
		} else if amount > s.available(s.devices[p])+in[p] {
			short = append(short, p)
		}
	}
	for _, set := range [][]offline.Serial{roots, short, all} {
		if len(set) > 0 {
			sortSerials(set)
			if len(roots) == 0 {
				return set[:1]
			}
			return set
		}
	}
	return nil
}

// inDoubt returns the settlements decided whose ledger answer never came,
// excluding those a round is running now. Called with s.mu held.
func (s *Settler) inDoubt() []*entry {
	var es []*entry
	for _, e := range s.vouchers {
		if e.status == statusSettling && strings.HasPrefix(e.reason, reasonInDoubt) {
			es = append(es, e)
		}
	}
	return es
}

// reasonInDoubt marks a settlement whose ledger answer never came.
const reasonInDoubt = "in_doubt"

// resume retries settlements a crash or a lost answer left in doubt.
func (s *Settler) resume(ctx context.Context) error {
	t := &round{}
	s.mu.Lock()
	for _, e := range s.vouchers {
		if e.status == statusSettling {
			s.reserved[s.devices[e.v.Payer].escrow] += e.res.FromEscrow
			t.jobs = append(t.jobs, e)
		}
	}
	_, err := s.finish(ctx, t)
	return err
}

// round is one reconciliation: what it decided, the ledger batches it must
// run, and the report it builds.
type round struct {
	results []result
	jobs    []*entry
	b       batch
	rep     Report
	freed   []*entry // pending vouchers of other uploads that this one settled
}

// result is one voucher's line in a report: a stored entry, or a fixed
// result for what was not stored (duplicates, vouchers of another uploader).
type result struct {
	e     *entry
	fixed VoucherResult
}

// finish writes what was decided, runs the ledger batches, and repeats for
// pending vouchers the settlements freed. Called with s.mu held; returns
// with it released.
func (s *Settler) finish(ctx context.Context, t *round) (Report, error) {
	if err := s.drain(ctx, t); err != nil {
		return Report{}, err
	}
	defer s.mu.Unlock()
	for _, r := range t.results {
		if r.e != nil {
			t.rep.add(r.e.res)
		} else {
			t.rep.add(r.fixed)
		}
	}
	for _, e := range t.freed {
		t.rep.Freed = append(t.rep.Freed, e.res)
	}
	if !t.rep.Device.IsZero() {
		t.rep.SyncedThrough = s.syncedThrough(t.rep.Device)
	}
	return t.rep, nil
}

// syncedThrough is the highest n such that the ledger holds a voucher of
// the device for every counter from 1 to n, uploaded by anyone: what its
// bank may vouch for in a sync receipt. Called with s.mu held.
func (s *Settler) syncedThrough(sn offline.Serial) uint64 {
	d := s.devices[sn]
	if d == nil {
		return 0
	}
	for {
		if _, ok := s.slots[offline.VoucherKey{Payer: sn, Counter: d.through + 1}]; !ok {
			return d.through
		}
		d.through++
	}
}

// drain writes what was decided, runs the ledger batches, and repeats for
// pending vouchers the settlements freed. Called with s.mu held; returns
// with it held, or released after an error.
//
// Decisions are durable before their ledger batches run and before the
// caller answers. The last write of a round, which only records batches
// the ledger has confirmed (and settlements that move nothing), goes to
// disk in the background: after a crash those entries are still
// "settling", and reopening sends their batches again under the same ids,
// which the ledger answers with the first receipts.
func (s *Settler) drain(ctx context.Context, t *round) error {
	for first := true; ; first = false {
		items := s.encode(&t.b)
		t.b = batch{}
		jobs := t.jobs
		t.jobs = nil
		s.mu.Unlock()
		if !first && len(jobs) == 0 {
			s.writeBehind(items)
			s.mu.Lock()
			return nil
		}
		if err := s.write(items); err != nil {
			s.mu.Lock()
			err = s.stop(err)
			s.mu.Unlock()
			return err
		}
		if len(jobs) == 0 {
			s.mu.Lock()
			return nil
		}
		errs := s.runJobs(ctx, jobs)
		s.mu.Lock()
		s.settled(jobs, errs, t)
	}
}

// writeBehind writes items without waiting; a failure stops the service.
func (s *Settler) writeBehind(items []kv) {
	if len(items) == 0 {
		return
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		if err := s.write(items); err != nil {
			s.mu.Lock()
			s.stop(err)
			s.mu.Unlock()
		}
		return
	}
	s.behind.Add(1) // under s.mu, so Close's Wait sees it
	s.mu.Unlock()
	go func() {
		defer s.behind.Done()
		if err := s.write(items); err != nil {
			s.mu.Lock()
			s.stop(err)
			s.mu.Unlock()
		}
	}()
}

// examineAll checks an upload's vouchers on all cores: signature checks are
// most of the work, and an upload's own finish more quickly leaves the
// cores to other uploads while it waits for the disk and the ledger.
func (s *Settler) examineAll(up Upload) []incoming {
	ins := make([]incoming, len(up.Sent)+len(up.Received))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(ins)) {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < len(ins); i = int(next.Add(1)) - 1 {
				if i < len(up.Sent) {
					ins[i] = s.examine(up.Sent[i], true)
				} else {
					ins[i] = s.examine(up.Received[i-len(up.Sent)], false)
				}
			}
		})
	}
	wg.Wait()
	return ins
}

// examine decodes a voucher and checks its signatures; it needs no state.
func (s *Settler) examine(raw []byte, sent bool) incoming {
	in := incoming{raw: raw, sent: sent}
	v, err := offline.ParseVoucher(raw)
	if err != nil {
		in.hash, in.reason, in.detail = rejectedDigest(raw), offline.ReasonMalformed, err.Error()
		return in
	}
	if err := s.verifyChain(raw, &v); err != nil {
		in.hash, in.reason, in.detail = rejectedDigest(raw), offline.ReasonForged, err.Error()
		return in
	}
	if !ed25519.Verify(v.Chain.Device.Key, v.SignedBytes(), v.Signature[:]) {
		in.hash, in.reason, in.detail = rejectedDigest(raw), offline.ReasonForged, "payer signature does not verify"
		return in
	}
	in.v, in.hash = v, v.Hash()
	in.expired = v.ValidAtItsTime() != nil
	return in
}

// verifyChain checks a voucher's certificates up to the root, remembering
// chains that verified: a device's certificates travel with every voucher
// it makes, and checking them each time would triple the work.
func (s *Settler) verifyChain(raw []byte, v *offline.Voucher) error {
	// The certificates are the two length-prefixed blobs after the
	// version and type bytes.
	lb := int(binary.BigEndian.Uint16(raw[2:]))
	ld := int(binary.BigEndian.Uint16(raw[4+lb:]))
	key := sha256.Sum256(raw[:6+lb+ld])
	if _, ok := s.chains.Load(key); ok {
		return nil
	}
	if err := v.Chain.VerifySignatures(s.RootKey()); err != nil {
		return err
	}
	s.chains.Store(key, struct{}{})
	return nil
}

// decide settles, holds or rejects one uploaded voucher. Called with s.mu held.
func (s *Settler) decide(in *incoming, uploader *device, t *round) result {
	if in.reason == "" {
		if reason := s.impostor(&in.v); reason != "" {
			in.reason, in.detail, in.hash = offline.ReasonForged, reason, rejectedDigest(in.raw)
		}
	}
	v := &in.v
	if in.reason == "" && (in.sent && v.Payer != uploader.serial || !in.sent && v.Payee != uploader.serial) {
		r := VoucherResult{Hash: in.hash, Payer: v.Payer, Counter: v.Counter, Payee: v.Payee, Amount: v.Amount,
			Outcome: offline.Rejected, Reason: offline.ReasonNotUploaders}
		return result{fixed: r}
	}
	if e := s.vouchers[in.hash]; e != nil {
		r := e.res
		r.Outcome, r.Reason = offline.Duplicate, "first outcome: "+string(e.res.Outcome)
		return result{fixed: r}
	}
	if in.reason != "" {
		e := &entry{hash: in.hash, arrival: s.next(), raw: in.raw, uploader: uploader.serial,
			status: statusRejected, reason: in.reason}
		e.fillResult()
		s.index(e)
		t.b.entries = append(t.b.entries, e)
		s.conflict(offline.Forgery, uploader, "uploaded a voucher that is "+in.reason+": "+in.detail, &t.b, &t.rep, in.hash)
		return result{e: e}
	}
	e := &entry{hash: in.hash, arrival: s.next(), raw: in.raw, v: in.v, uploader: uploader.serial, status: statusPending}
	payer := s.payer(v, t)
	s.checkChain(e, payer, t)
	if in.expired {
		s.conflict(offline.ExpiredCertificate, payer, fmt.Sprintf("paid at %s, outside its certificate's validity", v.Time), &t.b, &t.rep, e.hash)
	}
	if !s.resolvePayee(e, payer) {
		e.status, e.reason = statusRejected, offline.ReasonUnknownPayee
	}
	s.index(e)
	if e.status == statusPending {
		s.try(e, false, t)
	}
	e.fillResult()
	t.b.entries = append(t.b.entries, e)
	return result{e: e}
}

// impostor says why a voucher's certificate is not that of the device
// registered under its serial, or "" when it is (or none is registered).
// A bank's certificate is good for the serials it registers, so another
// bank, or another key, under a registered serial is a forgery: it would
// otherwise spend that device's escrow. Called with s.mu held.
func (s *Settler) impostor(v *offline.Voucher) string {
	d := s.devices[v.Payer]
	switch {
	case d == nil || d.escrow == "":
		return ""
	case string(d.bank) != v.Chain.Device.BankID:
		return fmt.Sprintf("serial %s is registered by %s, the voucher's certificate is from %s", v.Payer, d.bank, v.Chain.Device.BankID)
	case !d.cert.Key.Equal(v.Chain.Device.Key):
		return fmt.Sprintf("the voucher's certificate has another key than the device registered as %s", v.Payer)
	}
	return ""
}

// rejectedDigest names bytes that are not a genuine voucher. Its domain
// keeps it apart from voucher hashes, so no upload of bytes can take the
// place of a genuine voucher.
func rejectedDigest(raw []byte) offline.Hash {
	return sha256.Sum256(append([]byte("cbdc-sandbox/settlement/rejected\x00"), raw...))
}

func (s *Settler) next() uint64 { s.arrivals++; return s.arrivals }

// payer returns the voucher's payer device, recording one no bank
// registered (it has no escrow, so all it spends is overspent).
func (s *Settler) payer(v *offline.Voucher, t *round) *device {
	d := s.devices[v.Payer]
	if d == nil {
		d = &device{serial: v.Payer, bank: ledger.AccountID(v.Chain.Device.BankID), cert: v.Chain.Device}
		s.devices[v.Payer] = d
		t.b.devices = append(t.b.devices, d)
	}
	return d
}

// checkChain looks for another voucher in this one's slot and for a fork
// with its neighbours.
func (s *Settler) checkChain(e *entry, payer *device, t *round) {
	v := &e.v
	if other, ok := s.slots[v.Key()]; ok {
		s.conflict(offline.DoubleSpend, payer, fmt.Sprintf("two vouchers with counter %d", v.Counter), &t.b, &t.rep, other, e.hash)
		return
	}
	var prev, nextPrev *offline.Hash
	var evidence []offline.Hash
	if h, ok := s.slots[offline.VoucherKey{Payer: v.Payer, Counter: v.Counter - 1}]; ok && v.Counter > 1 {
		prev = &h
		evidence = append(evidence, h)
	}
	if h, ok := s.slots[offline.VoucherKey{Payer: v.Payer, Counter: v.Counter + 1}]; ok {
		np := s.vouchers[h].v.Prev
		nextPrev = &np
		evidence = append(evidence, h)
	}
	if offline.ChainConflict(v, prev, nextPrev) {
		s.conflict(offline.ChainFork, payer, fmt.Sprintf("voucher %d does not chain to its neighbours", v.Counter), &t.b, &t.rep,
			append(evidence, e.hash)...)
	}
}

// resolvePayee finds the account a voucher pays: the owner's wallet for a
// defund, else the payee's wallet (staged) or escrow (intermittent).
func (s *Settler) resolvePayee(e *entry, payer *device) bool {
	if e.v.Payee.IsZero() {
		e.res.PayeeAccount = payer.wallet
		return payer.wallet != ""
	}
	pd := s.devices[e.v.Payee]
	if pd == nil || pd.escrow == "" {
		return false
	}
	e.res.PayeeAccount = pd.wallet
	if pd.mode() == offline.Intermittent {
		// Even for a retired device: its purse may have spent the value
		// again; what is left comes back to the owner with the escrow.
		e.res.PayeeAccount = pd.escrow
	}
	return true
}

// try settles a pending entry if its payer's escrow covers it, or if the
// shortfall is known to be a loss: the payer pays in staged mode (where
// nothing but funding ever raises its escrow), or force is set. Otherwise
// the entry stays pending: in intermittent mode any voucher, a defund or one
// of a revoked device too, waits for value its payer may still receive, so
// the outcome does not depend on the order uploads come in. Called with
// s.mu held.
func (s *Settler) try(e *entry, force bool, t *round) {
	payer := s.devices[e.v.Payer]
	avail := s.available(payer)
	defund := e.v.Payee.IsZero()
	// The payee is at fault for a voucher dated outside its payer's
	// certificate, whatever else the payer was revoked for first.
	payeeAtFault := defund || e.v.ValidAtItsTime() != nil
	if e.v.Amount > avail && payer.mode() == offline.Intermittent && !force {
		e.status, e.reason = statusPending, "waiting_for_escrow"
		s.markPending(e)
		e.fillResult()
		return
	}
	fromEscrow, fromBearer, payeeLoss := offline.Split(e.v.Amount, avail, s.cfg.Policy.LossBearer, payeeAtFault)
	// A shortfall no greater than what the payer lost on value paid into
	// its escrow (intermittent mode) is that loss passed on, not an
	// overspend. A device already caught needs no second conflict.
	short := fromBearer + payeeLoss
	if short > 0 && payer.revoked == "" && payer.short+short > payer.lost {
		s.conflict(offline.Overspend, payer, fmt.Sprintf("voucher %d needs %d yen, escrow has %d", e.v.Counter, e.v.Amount, avail),
			&t.b, &t.rep, e.hash)
	}
	e.res.FromEscrow, e.res.FromBearer, e.res.PayeeLoss, e.res.Bearer = fromEscrow, fromBearer, payeeLoss, ""
	if fromBearer > 0 {
		e.res.Bearer = s.bearer(payer)
	}
	s.account(e, 1)
	s.unmarkPending(e)
	e.reason = ""
	if fromEscrow+fromBearer == 0 {
		e.status = statusSettled // the payee bears all of it; nothing moves
	} else {
		e.status = statusSettling
		s.reserved[payer.escrow] += fromEscrow
		t.jobs = append(t.jobs, e)
	}
	e.fillResult()
	t.b.entries = append(t.b.entries, e)
}

// account adds (sign 1) or takes back (sign -1) a settlement's shortfall
// to its payer's and what its payee lost on value paid into its escrow.
// Called with s.mu held.
func (s *Settler) account(e *entry, sign int64) {
	if payer := s.devices[e.v.Payer]; payer != nil {
		payer.short += sign * (e.res.FromBearer + e.res.PayeeLoss)
	}
	if pd := s.devices[e.v.Payee]; pd != nil && pd.escrow != "" && e.res.PayeeAccount == pd.escrow {
		pd.lost += sign * e.res.PayeeLoss
	}
}

func (s *Settler) bearer(payer *device) ledger.AccountID {
	if s.cfg.Policy.LossBearer == offline.Guarantee {
		return GuaranteeAccount
	}
	return payer.bank
}

// available is what a device's escrow can still pay: its balance on the
// ledger less what settlements in flight will take.
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

// opID is the ledger operation id of a voucher's settlement: derived from
// its hash, so a retry after any failure finds the first attempt.
func opID(h offline.Hash) string { return "v:" + hex.EncodeToString(h[:20]) }

func (s *Settler) transfers(e *entry) []ledger.Transfer {
	var ts []ledger.Transfer
	if e.res.FromEscrow > 0 {
		ts = append(ts, ledger.Transfer{From: s.devices[e.v.Payer].escrow, To: e.res.PayeeAccount, Amount: e.res.FromEscrow})
	}
	if e.res.FromBearer > 0 {
		ts = append(ts, ledger.Transfer{From: e.res.Bearer, To: e.res.PayeeAccount, Amount: e.res.FromBearer})
	}
	return ts
}

// runJobs runs the settlements' ledger batches concurrently, so they share
// the ledger's group commits. Called without s.mu.
func (s *Settler) runJobs(ctx context.Context, jobs []*entry) []error {
	s.mu.Lock()
	ops := make([][]ledger.Transfer, len(jobs))
	for i, e := range jobs {
		ops[i] = s.transfers(e)
	}
	s.mu.Unlock()
	errs := make([]error, len(jobs))
	seqs := make([]uint64, len(jobs))
	// A batch decided must be answered even if the bank that asked goes
	// away: an unanswered one stays in doubt, its escrow held, until retried.
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), batchTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for i, e := range jobs {
		wg.Go(func() {
			r, err := s.l.Batch(bctx, opID(e.hash), ops[i])
			errs[i], seqs[i] = err, r.Seq
		})
	}
	wg.Wait()
	s.mu.Lock()
	for i, e := range jobs {
		if errs[i] == nil {
			e.res.Seq = seqs[i]
		}
	}
	s.mu.Unlock()
	return errs
}

// settled records the ledger's answers and tries the pending vouchers of
// devices whose escrow a settlement just raised. Called with s.mu held.
func (s *Settler) settled(jobs []*entry, errs []error, t *round) {
	var credited []offline.Serial
	for i, e := range jobs {
		err := errs[i]
		if err != nil && !refused(err) {
			e.reason = reasonInDoubt + ": " + err.Error()
			e.fillResult()
			continue // stays settling, with its escrow reserved, until resumed
		}
		s.reserved[s.devices[e.v.Payer].escrow] -= e.res.FromEscrow
		if err != nil {
			e.status, e.reason = statusPending, "refused_by_ledger: "+ledger.ErrorCode(err)
			s.account(e, -1)
			e.res.FromEscrow, e.res.FromBearer, e.res.PayeeLoss, e.res.Bearer = 0, 0, 0, ""
			s.markPending(e)
		} else {
			e.status = statusSettled
			if pd := s.devices[e.v.Payee]; pd != nil && e.res.PayeeAccount == pd.escrow {
				credited = append(credited, pd.serial)
			}
		}
		e.fillResult()
		t.b.entries = append(t.b.entries, e)
	}
	for _, sn := range credited {
		for _, p := range s.sortedPending(sn) {
			if p.v.Amount <= s.available(s.devices[sn]) {
				s.try(p, false, t)
				t.freed = append(t.freed, p)
			}
		}
	}
}

// refused reports whether err is the ledger's definite refusal rather than
// an unknown outcome.
//
// op_id_reused is not one: the ledger already applied a settlement under
// this voucher's id with other amounts, which only a lost write of the
// index can cause; the voucher stays in doubt rather than be decided again.
func refused(err error) bool {
	switch ledger.ErrorCode(err) {
	case "", ledger.ErrClosed.Code, ledger.ErrStorage.Code, ledger.ErrCorrupt.Code, ledger.ErrOpIDReused.Code:
		return false
	}
	return true
}

// batchTimeout bounds the wait for the ledger's answer to settlement batches.
const batchTimeout = 30 * time.Second

func sortSerials(s []offline.Serial) {
	slices.SortFunc(s, func(a, b offline.Serial) int { return bytes.Compare(a[:], b[:]) })
}
