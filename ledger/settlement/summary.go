package settlement

import (
	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/offline"
)

// Summary totals offline settlement across the sandbox.
func (s *Settler) Summary() Summary {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.summary()
}

// summary adds up every voucher's result. Each shortfall is counted once,
// on whoever bears it: a bearer's payment until the escrow repays it, a
// payee's loss where it began rather than at every payee it was passed on
// to. Called with s.mu held.
func (s *Settler) summary() Summary {
	sum := Summary{RevokedDevices: s.revoked, Conflicts: map[offline.ConflictKind]int{},
		LossByBearer: map[ledger.AccountID]Sum{}, RevocationSeq: uint64(s.revoked)}
	for _, d := range s.devices {
		if d.escrow != "" {
			sum.Devices++
		}
	}
	lossOut, lossIn := map[ledger.AccountID]Sum{}, map[ledger.AccountID]Sum{}
	for _, e := range s.vouchers {
		sum.Vouchers++
		switch e.outcome() {
		case offline.Settled:
			sum.Settled++
			sum.SettledAmount = sum.SettledAmount.Add(e.fromEscrow).Add(e.fromBearer)
		case offline.Rejected:
			sum.Rejected++
			if e.class == classPayeeFault {
				sum.RefusedAmount = sum.RefusedAmount.Add(e.v.Amount)
			}
			continue
		default:
			sum.Pending++
			sum.PendingAmount = sum.PendingAmount.Add(e.unpaid())
		}
		if e.fromBearer > 0 {
			sum.LossByBearer[e.bearer] = sum.LossByBearer[e.bearer].Add(e.fromBearer)
			if d := s.devices[e.v.Payer]; e.class == classHonoured && d != nil && d.revoked == "" {
				sum.Advanced = sum.Advanced.Add(e.fromBearer)
			}
		}
		if e.payeeLoss > 0 && e.class == classHonoured && !e.defund() { // a defund's shortfall is its owner's own
			esc := s.devices[e.v.Payer].escrow
			lossOut[esc] = lossOut[esc].Add(e.payeeLoss)
			lossIn[e.payee] = lossIn[e.payee].Add(e.payeeLoss)
		}
	}
	// What a payer's payees went without beyond what it went without itself
	// began with it; the rest it passed on.
	for esc, out := range lossOut {
		if d := out.Minus(lossIn[esc]); d.Sign() > 0 {
			sum.LossByPayees = sum.LossByPayees.Plus(d)
		}
	}
	for _, c := range s.conflicts {
		sum.Conflicts[c.Kind]++
	}
	return sum
}
