package settlement

import (
	"fmt"
	"slices"

	"github.com/digital-yen/cbdc-sandbox/offline"
)

// invariants checks the settler's state in memory agrees with itself: every
// honoured voucher its payer's escrow still owes is among the payer's open
// vouchers, and no other is; what is reserved is what the operations in
// flight hold. It returns the first disagreement.
func (s *Settler) invariants() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, e := range s.vouchers {
		if e.class != classHonoured {
			continue
		}
		d := s.devices[e.v.Payer]
		in := slices.Contains(d.open, e)
		if want := e.need() > 0; in != want {
			return fmt.Errorf("voucher %s#%d needs %d (inflight %q, closed %v) but is open: %v", e.v.Payer, e.v.Counter, e.need(), e.inflight, e.closed, in)
		}
	}
	held := map[string]int64{}
	for _, o := range s.ops {
		for a, v := range o.reserve {
			held[string(a)] += v
		}
	}
	for a, v := range s.reserved {
		if held[string(a)] != v {
			return fmt.Errorf("%s has %d reserved, its operations hold %d", a, v, held[string(a)])
		}
	}
	return nil
}

// played counts the conflicts by kind and the ways settlement moved money,
// for the property test to show its economies play every attack.
func (s *Settler) played() map[string]int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := map[string]int{}
	for _, c := range s.conflicts {
		out[string(c.Kind)]++
	}
	for _, d := range s.devices {
		if d.revoked == offline.Retired {
			out[string(offline.Retired)]++
		}
	}
	for _, e := range s.vouchers {
		switch {
		case e.reason == offline.ReasonPayeeFault:
			out[offline.ReasonPayeeFault]++
		case e.class == classHonoured && e.ops > 1 && e.fromBearer == 0 && e.payeeLoss == 0 && e.closed:
			out["made good"]++ // paid in the end after going short or being advanced
		case e.class == classHonoured && e.fromBearer > 0:
			out["advanced"]++
		}
		if e.netted {
			out["netted"]++
		}
	}
	return out
}
