package offline

import "time"

// Accept is the payee's side of an offline payment: it checks the voucher
// answers one of its open requests, and everything it can check without
// going online, then takes the value. The checks, in order:
//
//   - this purse's own certificate is valid now;
//   - the voucher answers an open request of this purse: payee, nonce, amount;
//   - the payer's certificate chain leads to the root and is valid now and
//     at the voucher's own time;
//   - the payer is not on the cached revocation list;
//   - the payer's signature, and the ledger's signature on the sync receipt
//     that proves the payer's Synced;
//   - the payer's certificate carries this purse's caps, count of payments
//     before sync and lifetime (the sandbox's policy);
//   - the amount is within the payer's per-payment and purse caps;
//   - the payer has not made more offline payments since its last sync
//     than its certificate allows, and its first voucher after a sync
//     follows the voucher the sync receipt names;
//   - the counter and hash chain follow the payer's earlier vouchers;
//   - this purse stays within its own cap.
func (p *Purse) Accept(v Voucher, now time.Time) error {
	lim, err := p.limits()
	if err != nil {
		return err
	}
	if err := p.chain.ValidAt(now); err != nil {
		return err
	}
	if err := p.matchRequest(&v); err != nil {
		return err
	}
	if err := checkOrigin(&v, p.root, p.crl, now); err != nil {
		return err
	}
	if err := p.samePolicy(&v); err != nil {
		return err
	}
	if err := v.checkLimits(); err != nil {
		return err
	}
	if s, ok := p.seen[v.Payer]; ok {
		if v.Counter <= s.counter || (v.Counter == s.counter+1 && v.Prev != s.hash) {
			return broken(ErrCounterOrder, "payer %s sent counter %d before; this voucher has counter %d", v.Payer, s.counter, v.Counter)
		}
	}
	if v.Amount > lim.PurseCap-p.balance-p.pending {
		return broken(ErrPurseCap, "purse holds %d of its %d yen cap and cannot take %d more", p.balance+p.pending, lim.PurseCap, v.Amount)
	}
	delete(p.open, v.Nonce)
	p.seen[v.Payer] = seenPayer{v.Counter, v.Hash()}
	if lim.Mode == Intermittent {
		p.balance += v.Amount
	} else {
		p.pending += v.Amount
	}
	p.inbox = append(p.inbox, v)
	p.received++
	return nil
}

// samePolicy checks the payer was certified with this purse's risk limits:
// a certificate with other caps, another count of payments before sync or
// a longer life is one no bank may register, so the ledger would not
// honour what it pays. (The mode decides only where received value goes.)
func (p *Purse) samePolicy(v *Voucher) error {
	own, theirs := p.chain.Device, v.Chain.Device
	ol, tl := own.Limits, theirs.Limits
	ol.Mode, tl.Mode = 0, 0
	if tl != ol || theirs.Expires.Sub(theirs.Issued) > own.Expires.Sub(own.Issued) {
		return broken(ErrLimitsMismatch, "payer %s is certified with limits %+v for %s; this purse's policy is %+v for at most %s",
			v.Payer, theirs.Limits, theirs.Expires.Sub(theirs.Issued), own.Limits, own.Expires.Sub(own.Issued))
	}
	return nil
}

func (p *Purse) matchRequest(v *Voucher) error {
	q, ok := p.open[v.Nonce]
	switch {
	case v.Payee != p.Serial():
		return broken(ErrWrongPayee, "voucher pays %s, this purse is %s", v.Payee, p.Serial())
	case !ok:
		return broken(ErrUnknownRequest, "nonce %s", v.Nonce)
	case v.Amount != q.Amount:
		return broken(ErrAmountMismatch, "voucher pays %d yen, the request asked for %d", v.Amount, q.Amount)
	}
	return nil
}

// CheckVoucher runs the checks any offline party can make of a voucher on
// its own: the chain to root valid at now and at the voucher's time, the
// revocation list (if any), the payer's signature and its sync receipt, the
// payer's caps, and its count of payments since its last sync.
func CheckVoucher(v *Voucher, root []byte, crl *RevocationList, now time.Time) error {
	if err := checkOrigin(v, root, crl, now); err != nil {
		return err
	}
	return v.checkLimits()
}

// checkOrigin checks who made the voucher: the chain at now and at the
// voucher's time, the revocation list, the signatures.
func checkOrigin(v *Voucher, root []byte, crl *RevocationList, now time.Time) error {
	if err := v.Chain.Verify(root, now); err != nil {
		return err
	}
	// The payer's own clock too: reconciliation holds the payee to a
	// voucher dated outside the certificate, so the payee must refuse it.
	if err := v.ValidAtItsTime(); err != nil {
		return err
	}
	if crl != nil && crl.Contains(v.Payer) {
		return broken(ErrRevoked, "payer %s is on revocation list %d", v.Payer, crl.Seq)
	}
	return v.VerifySignature(root)
}

// CheckRules checks, from the voucher alone, the rules a genuine purse
// keeps when it pays and a payee checks before accepting: the voucher's
// time is within its certificate, the amount within the caps, the count of
// payments since the last sync within the limit, and the first voucher
// after a sync follows the voucher the sync receipt names. A defund is the
// payer's own and has no payee to check it: only the count and the chain
// apply. The central ledger applies these checks before it lets a voucher
// draw on anyone but its payee. It does not check signatures.
func (v *Voucher) CheckRules() error {
	if !v.Payee.IsZero() {
		if err := v.ValidAtItsTime(); err != nil {
			return err
		}
	}
	return v.checkLimits()
}

func (v *Voucher) checkLimits() error {
	lim := v.Chain.Device.Limits
	defund := v.Payee.IsZero()
	switch {
	case !defund && v.Amount > lim.PaymentCap:
		return broken(ErrPaymentCap, "%d yen is over the payer's %d yen per-payment cap", v.Amount, lim.PaymentCap)
	case !defund && v.Amount > lim.PurseCap:
		return broken(ErrPurseCap, "%d yen is over the payer's %d yen purse cap", v.Amount, lim.PurseCap)
	case v.Counter-v.Synced > uint64(lim.PaymentsBeforeSync):
		return broken(ErrSyncRequired, "payer made %d offline payments since its last sync; the limit is %d", v.Counter-v.Synced, lim.PaymentsBeforeSync)
	case v.Synced > 0 && v.Counter == v.Synced+1 && v.Prev != v.Receipt.Head:
		return broken(ErrCounterOrder, "voucher %d of %s does not follow voucher %d that its sync receipt names", v.Counter, v.Payer, v.Synced)
	}
	return nil
}
