package offline

import (
	"bytes"
	"crypto/ed25519"
	"sort"
)

const typePurse = 'P'

// Save returns the purse's whole state, private key included, for the
// wallet to keep encrypted. Loading it twice makes a clone; loading an old
// copy rolls the purse back.
func (p *Purse) Save() []byte {
	var w writer
	w.header(typePurse)
	w.fixed(p.key.Seed())
	root := make([]byte, ed25519.PublicKeySize) // zeros until the purse trusts a root
	copy(root, p.root)
	w.fixed(root)
	if p.chain != nil {
		w.blob(p.chain.Bank.Marshal())
		w.blob(p.chain.Device.Marshal())
	} else {
		w.blob(nil)
		w.blob(nil)
	}
	for _, v := range []int64{p.balance, p.pending} {
		w.i64(v)
	}
	for _, v := range []uint64{p.counter, p.synced, p.fundingSeq, p.received} {
		w.u64(v)
	}
	w.fixed(p.last[:])
	if p.synced > 0 {
		w.blob(p.receipt.Marshal())
	} else {
		w.blob(nil)
	}
	w.u32(uint32(len(p.fundedPast)))
	for _, seq := range p.fundedPast {
		w.u64(seq)
	}
	if p.crl != nil {
		w.u32(1)
		crl := p.crl.Marshal()
		w.u32(uint32(len(crl)))
		w.fixed(crl)
	} else {
		w.u32(0)
	}
	p.saveMaps(&w)
	for _, log := range [][]Voucher{p.sent, p.inbox} {
		w.u32(uint32(len(log)))
		for _, v := range log {
			w.blob(v.Marshal())
		}
	}
	return w.bytes()
}

// saveMaps writes the open requests and seen payers in a fixed order, so
// one state always saves to the same bytes.
func (p *Purse) saveMaps(w *writer) {
	nonces := make([]Nonce, 0, len(p.open))
	for n := range p.open {
		nonces = append(nonces, n)
	}
	sort.Slice(nonces, func(i, j int) bool { return string(nonces[i][:]) < string(nonces[j][:]) })
	w.u32(uint32(len(nonces)))
	for _, n := range nonces {
		w.blob(p.open[n].Marshal())
	}
	payers := make([]Serial, 0, len(p.seen))
	for s := range p.seen {
		payers = append(payers, s)
	}
	sort.Slice(payers, func(i, j int) bool { return string(payers[i][:]) < string(payers[j][:]) })
	w.u32(uint32(len(payers)))
	for _, s := range payers {
		w.fixed(s[:])
		sp := p.seen[s]
		w.u64(sp.counter)
		w.fixed(sp.hash[:])
	}
}

// LoadPurse restores a purse from Save's bytes.
func LoadPurse(b []byte) (*Purse, error) {
	r := reader{b: b, what: "purse state"}
	r.header(typePurse)
	seed := make([]byte, ed25519.SeedSize)
	r.fixed(seed)
	p := &Purse{key: ed25519.NewKeyFromSeed(seed), root: make(ed25519.PublicKey, ed25519.PublicKeySize),
		open: map[Nonce]PaymentRequest{}, seen: map[Serial]seenPayer{}}
	r.fixed(p.root)
	bank, dev := r.blob(), r.blob()
	p.balance, p.pending = int64(r.u64()), int64(r.u64())
	p.counter, p.synced, p.fundingSeq, p.received = r.u64(), r.u64(), r.u64(), r.u64()
	r.fixed(p.last[:])
	if sync := r.blob(); len(sync) > 0 {
		s, err := ParseSyncReceipt(sync)
		if err != nil {
			return nil, err
		}
		p.receipt = s
	}
	for n := r.u32(); r.err == nil && n > 0; n-- {
		seq := r.u64()
		if k := len(p.fundedPast); seq <= p.fundingSeq+1 || k > 0 && seq <= p.fundedPast[k-1] || k >= MaxFundingsAhead {
			r.fail("fundings applied past %d are not ascending, distinct and at most %d ahead", p.fundingSeq, MaxFundingsAhead)
		}
		p.fundedPast = append(p.fundedPast, seq)
	}
	var crl []byte
	if r.u32() == 1 {
		crl = r.take(int(r.u32()))
	}
	if err := p.loadRest(&r); err != nil {
		return nil, err
	}
	if err := p.loadParts(bank, dev, crl); err != nil {
		return nil, err
	}
	// The logs must match the counters, or ApplySync would cut them at
	// positions they do not have.
	if p.synced > p.counter || uint64(len(p.sent)) != p.counter-p.synced || uint64(len(p.inbox)) > p.received {
		return nil, broken(ErrMalformed, "purse state: counter %d, synced %d and %d sent vouchers, or %d received and %d in the inbox, do not agree",
			p.counter, p.synced, len(p.sent), p.received, len(p.inbox))
	}
	if (p.synced > 0) != (p.receipt.Counter > 0) || p.receipt.Counter != p.synced || p.synced > 0 && p.receipt.Serial != p.Serial() {
		return nil, broken(ErrMalformed, "purse state: synced %d but a sync receipt for %d of %s", p.synced, p.receipt.Counter, p.receipt.Serial)
	}
	// One state has one encoding: refuse what would save differently (an
	// unknown revocation-list flag, a device certificate without its bank
	// certificate, requests or payers unsorted or repeated).
	if !bytes.Equal(p.Save(), b) {
		return nil, broken(ErrMalformed, "purse state is not in its canonical form")
	}
	return p, nil
}

func (p *Purse) loadRest(r *reader) error {
	for n := r.u32(); r.err == nil && n > 0; n-- {
		q, err := ParsePaymentRequest(r.blob())
		if err != nil {
			return err
		}
		p.open[q.Nonce] = q
	}
	for n := r.u32(); r.err == nil && n > 0; n-- {
		var s Serial
		var sp seenPayer
		r.fixed(s[:])
		sp.counter = r.u64()
		r.fixed(sp.hash[:])
		p.seen[s] = sp
	}
	for _, log := range []*[]Voucher{&p.sent, &p.inbox} {
		for n := r.u32(); r.err == nil && n > 0; n-- {
			v, err := ParseVoucher(r.blob())
			if err != nil {
				return err
			}
			*log = append(*log, v)
		}
	}
	return r.end()
}

func (p *Purse) loadParts(bank, dev, crl []byte) error {
	if len(bank) > 0 {
		var ch Chain
		var err error
		if ch.Bank, err = ParseBankCert(bank); err != nil {
			return err
		}
		if ch.Device, err = ParseDeviceCert(dev); err != nil {
			return err
		}
		p.chain = &ch
	}
	if crl != nil {
		l, err := ParseRevocationList(crl)
		if err != nil {
			return err
		}
		p.crl = &l
	}
	return nil
}

// ForgeBalance sets the balance as a purse whose secure element was broken
// open might: without funding. It exists to play the "spending beyond what
// was funded" attack; reconciliation catches what such a purse spends.
func (p *Purse) ForgeBalance(balance int64) { p.balance = balance }
