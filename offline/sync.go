package offline

// Upload is what a purse hands its bank when it comes online: the vouchers
// it made and received since its last sync.
type Upload struct {
	Serial   Serial
	Counter  uint64    // the purse's counter now
	Sent     []Voucher // in counter order
	Received []Voucher // in the order received
	// ReceivedBefore counts the vouchers received before Received[0], so a
	// sync receipt can say how far the bank has them.
	ReceivedBefore uint64
}

// Upload returns the vouchers not yet acknowledged by a sync receipt.
func (p *Purse) Upload() Upload {
	return Upload{
		Serial: p.Serial(), Counter: p.counter,
		Sent:           append([]Voucher(nil), p.sent...),
		Received:       append([]Voucher(nil), p.inbox...),
		ReceivedBefore: p.received - uint64(len(p.inbox)),
	}
}

// ApplySync takes the bank's receipt for an upload: it drops the vouchers
// the bank now holds from the logs, resets the count of payments since the
// last sync, and in staged mode hands the received value over to the
// online wallet, where it arrives when it settles. A newer revocation list
// from the bank, if given and signed by the root, replaces the cached one.
func (p *Purse) ApplySync(s SyncReceipt, crl *RevocationList) error {
	if p.chain == nil {
		return ErrNotProvisioned
	}
	if s.Serial != p.Serial() {
		return broken(ErrWrongDevice, "sync receipt is for %s, purse is %s", s.Serial, p.Serial())
	}
	if err := s.Verify(p.chain.Bank.Key); err != nil {
		return err
	}
	before := p.received - uint64(len(p.inbox))
	switch {
	case s.Counter > p.counter || s.Received > p.received:
		return broken(ErrWrongDevice, "sync receipt covers vouchers this purse never made or received")
	case s.Counter < p.synced || s.Received < before:
		return broken(ErrStaleReceipt, "sync receipt is older than the last one applied")
	}
	if crl != nil {
		if err := p.UpdateRevocations(*crl); err != nil {
			return err
		}
	}
	acked := int(s.Received - before)
	if p.chain.Device.Limits.Mode == Staged {
		for _, v := range p.inbox[:acked] {
			p.pending -= v.Amount
		}
	}
	p.inbox = append([]Voucher(nil), p.inbox[acked:]...)
	p.sent = append([]Voucher(nil), p.sent[s.Counter-p.synced:]...)
	p.synced = s.Counter
	return nil
}

// UpdateRevocations caches a revocation list signed by the root, unless the
// purse already has a newer one.
func (p *Purse) UpdateRevocations(l RevocationList) error {
	if err := l.Verify(p.root); err != nil {
		return err
	}
	if p.crl == nil || l.Seq > p.crl.Seq {
		p.crl = &l
	}
	return nil
}
