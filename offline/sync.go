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

// ApplySync takes the ledger's receipt for an upload: it drops the
// vouchers the ledger now holds from the logs, resets the count of payments
// since the last sync, and in staged mode hands the received value over to
// the online wallet, where it arrives when it settles. A receipt is taken
// only if it names this purse's own voucher at its counter, so a copy of
// the purse that paid differently cannot reset its count with the other's
// receipt. A newer revocation list, if given and signed by the root,
// replaces the cached one.
func (p *Purse) ApplySync(s SyncReceipt, crl *RevocationList) error {
	if p.chain == nil {
		return ErrNotProvisioned
	}
	if s.Serial != p.Serial() {
		return broken(ErrWrongDevice, "sync receipt is for %s, purse is %s", s.Serial, p.Serial())
	}
	if err := s.Verify(p.root); err != nil {
		return err
	}
	before := p.received - uint64(len(p.inbox))
	switch {
	case s.Counter > p.counter || s.Received > p.received:
		return broken(ErrWrongDevice, "sync receipt covers vouchers this purse never made or received")
	case s.Counter < p.synced || s.Received < before:
		return broken(ErrStaleReceipt, "sync receipt is older than the last one applied")
	case s.Head != p.hashAt(s.Counter):
		return broken(ErrWrongDevice, "sync receipt names voucher %s at counter %d, this purse made another", s.Head, s.Counter)
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
	if s.Counter > 0 {
		p.receipt = s
	}
	return nil
}

// hashAt is the hash of the purse's voucher with counter c, for c from
// synced to counter; zero for 0.
func (p *Purse) hashAt(c uint64) Hash {
	switch {
	case c == 0:
		return Hash{}
	case c == p.synced:
		return p.receipt.Head
	case c > p.synced && c <= p.counter:
		return p.sent[c-p.synced-1].Hash()
	}
	return Hash{}
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
