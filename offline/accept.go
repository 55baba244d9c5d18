package offline

import "time"

// Accept is the payee's side of an offline payment: it checks the voucher
// answers one of its open requests, and everything it can check without
// going online, then takes the value. The checks, in order:
//
//   - the voucher answers an open request of this purse: payee, nonce, amount;
//   - the payer's certificate chain leads to the root and is valid now and
//     at the voucher's own time;
//   - the payer is not on the cached revocation list;
//   - the payer's signature;
//   - the amount is within the payer's per-payment and purse caps;
//   - the payer has not made more offline payments since its last sync
//     than its certificate allows;
//   - the counter and hash chain follow the payer's earlier vouchers;
//   - this purse stays within its own cap.
func (p *Purse) Accept(v Voucher, now time.Time) error {
	lim, err := p.limits()
	if err != nil {
		return err
	}
	if err := p.matchRequest(&v); err != nil {
		return err
	}
	if err := CheckVoucher(&v, p.root, p.crl, now); err != nil {
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
// revocation list (if any),
// the payer's signature, the payer's caps and its count of payments since
// its last sync.
func CheckVoucher(v *Voucher, root []byte, crl *RevocationList, now time.Time) error {
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
	if err := v.VerifySignature(root); err != nil {
		return err
	}
	lim := v.Chain.Device.Limits
	switch {
	case v.Amount > lim.PaymentCap:
		return broken(ErrPaymentCap, "%d yen is over the payer's %d yen per-payment cap", v.Amount, lim.PaymentCap)
	case v.Amount > lim.PurseCap:
		return broken(ErrPurseCap, "%d yen is over the payer's %d yen purse cap", v.Amount, lim.PurseCap)
	case v.Counter-v.Synced > uint64(lim.PaymentsBeforeSync):
		return broken(ErrSyncRequired, "payer made %d offline payments since its last sync; the limit is %d", v.Counter-v.Synced, lim.PaymentsBeforeSync)
	}
	return nil
}
