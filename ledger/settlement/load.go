package settlement

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/digital-yen/cbdc-sandbox/offline"
)

// load builds the state in memory from what the index holds, as it was
// when last written: slots go to vouchers in the order they arrived, and
// operations decided but not confirmed hold their escrow again.
func (s *Settler) load(st *stored) error {
	s.banks, s.devices = st.banks, st.devices
	slices.SortFunc(st.entries, func(a, b *entry) int { return cmp.Compare(a.arrival, b.arrival) })
	for _, e := range st.entries {
		if s.vouchers[e.hash] != nil {
			return fmt.Errorf("settlement: voucher %s is stored twice", e.hash)
		}
		s.vouchers[e.hash] = e
		s.arrivals = max(s.arrivals, e.arrival)
		if e.class == classRejected && (e.reason == offline.ReasonMalformed || e.reason == offline.ReasonForged) {
			continue
		}
		if pd := s.devices[e.v.Payee]; pd != nil && e.place > 0 {
			pd.gotAt(e.place, e)
		}
		payer, registered := s.payerOf(&e.v)
		if registered {
			s.index(e, payer)
		}
		if e.class == classHonoured || e.class == classBankFault {
			s.paysInto(e)
		}
		if e.class == classHonoured {
			if !registered {
				return fmt.Errorf("settlement: voucher %s is honoured but its certificate is not registered", e.hash)
			}
			payer.out = append(payer.out, e)
			s.placed(e)
		}
	}
	s.loadDevices()
	s.conflicts = st.conflicts
	for _, c := range s.conflicts {
		if c.Kind == offline.BankCertificate {
			s.impostors[impostor{bank: c.Bank, serial: c.Device}] = true
		}
	}
	return s.loadOps(st.ops)
}

// loadDevices finishes the devices once their vouchers are in place.
func (s *Settler) loadDevices() {
	for _, d := range s.devices {
		if d.incoming == nil {
			d.incoming = map[*entry]bool{}
		}
		if d.revoked != "" {
			s.revoked++
		}
		d.sortOpen()
	}
}

// loadOps takes back the operations decided and not confirmed: they hold
// their escrow again, and their vouchers wait on them.
func (s *Settler) loadOps(ops []*op) error {
	for _, o := range ops {
		s.ops[o.id] = o
		for a, v := range o.reserve {
			s.reserved[a] += v
		}
		for _, f := range o.effects {
			if e := s.vouchers[f.hash]; e == nil || e.inflight != o.id {
				return fmt.Errorf("settlement: ledger operation %s is for voucher %s, which does not wait on it", o.id, f.hash)
			}
		}
	}
	return nil
}
