package sim

import (
	"context"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/digital-yen/cbdc-sandbox/offline"
	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// attackRecord is one attack the run planned.
type attackRecord struct {
	kind      string
	at        time.Duration
	serial    offline.Serial // the device the ledger should catch
	committed bool
	skipped   string // why it could not be committed
	replays   int    // replay: vouchers handed in again
	dupes     int    // replay: of those, answered as duplicates
}

// AttackOutcome is what became of one kind of attack.
type AttackOutcome struct {
	Kind      string         `json:"kind"`
	Planned   int            `json:"planned"`
	Committed int            `json:"committed"`
	Caught    int            `json:"caught"` // attributed to the attacker's device (replays: applied only once)
	Missed    int            `json:"missed"`
	FoundAs   map[string]int `json:"found_as,omitempty"` // the conflict the ledger recorded against the attacker
	Skipped   map[string]int `json:"skipped,omitempty"`  // why some could not be committed
}

// planAttacks spaces each kind's attacks evenly at its rate over the
// run's duration (a minute when the run is counted in payments), the first
// half an interval in, so a scenario commits a known number of each.
func planAttacks(sc *Scenario) []*attackRecord {
	span := sc.Duration.D()
	if span == 0 {
		span = time.Minute
	}
	var out []*attackRecord
	for _, a := range sc.Attacks {
		every := time.Duration(float64(time.Minute) / a.PerMinute)
		for at := every / 2; at < span; at += every {
			out = append(out, &attackRecord{kind: a.Kind, at: at})
		}
	}
	slices.SortStableFunc(out, func(a, b *attackRecord) int { return int(a.at - b.at) })
	return out
}

// reserve takes, in an order drawn from the seed, the wallets with purses
// each planned attack needs: an attacker, and for a tampered or replayed
// voucher an honest payer too. At most half the wallets are reserved; the
// rest and the merchants are the victims.
func (o *offlineRun) reserve(plan []*attackRecord) {
	var wallets []*holder
	for _, h := range o.holders {
		switch {
		case h == nil:
		case h.merchant:
			o.victims = append(o.victims, h)
		default:
			wallets = append(wallets, h)
		}
	}
	newRand(o.sc.Seed, streamAttacker).Shuffle(len(wallets), func(i, j int) { wallets[i], wallets[j] = wallets[j], wallets[i] })
	n := 0
	for _, a := range plan {
		n++
		if a.kind == AttackTampered || a.kind == AttackReplay {
			n++
		}
	}
	n = min(n, len(wallets)/2)
	for _, h := range wallets[:n] {
		h.reserved = true
	}
	o.reserved = wallets[:n]
	o.victims = append(o.victims, wallets[n:]...)
}

// attackLoop commits the planned attacks at their times, one after the
// other, until ctx ends.
func (o *offlineRun) attackLoop(ctx context.Context, plan []*attackRecord) {
	reserved := o.reserved
	for k, a := range plan {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(o.start.Add(a.at))):
		}
		o.mu.Lock()
		o.attacks = append(o.attacks, a)
		o.mu.Unlock()
		need := 1
		if a.kind == AttackTampered || a.kind == AttackReplay {
			need = 2
		}
		if len(reserved) < need || len(o.victims) < 2 {
			a.skipped = "too_few_purses"
			continue
		}
		attacker := reserved[0]
		attacker.attacker.Store(true)
		if need == 2 {
			o.handIn(ctx, a, attacker, reserved[1], time.Since(o.start))
		} else {
			o.commit(a, attacker, newRand(o.sc.Seed, streamVictims+uint64(k)))
		}
		reserved = reserved[need:]
	}
}

// commit commits a clone, rollback or forged balance with attacker,
// against victims drawn from the seed. Amounts depend only on the
// scenario: the attacker's purse holds what it was funded with.
func (o *offlineRun) commit(a *attackRecord, attacker *holder, pick *rand.Rand) {
	at := time.Since(o.start)
	var last *holder
	victim := func() *holder { // a victim other than the last one
		v := o.victims[pick.IntN(len(o.victims))]
		for v == last {
			v = o.victims[pick.IntN(len(o.victims))]
		}
		last = v
		return v
	}
	// accepted pays a victim; a voucher the victim refused stays with the
	// attacker, who never hands it in, so it is no attack at all
	accepted := func(p *offline.Purse, amount int64) bool {
		made, code := o.transfer(attacker, p, victim(), amount, at)
		return made && code == ""
	}
	cp := o.lim.PaymentCap
	attacker.mu.Lock()
	defer attacker.mu.Unlock()
	a.serial = attacker.p.Serial()
	switch a.kind {
	case AttackClone, AttackRollback:
		amount := min(o.sc.Offline.Fund, cp) // all it may spend, twice
		if amount <= 0 {
			a.skipped = "empty_purse"
			return
		}
		saved := attacker.p.Save()
		first := accepted(attacker.p, amount)
		again, err := offline.LoadPurse(saved)
		if err != nil || !first {
			a.skipped = "first_payment_refused"
			return
		}
		if a.kind == AttackRollback {
			attacker.p = again // the purse itself is set back
		}
		a.committed = accepted(again, amount)
		if !a.committed {
			a.skipped = "second_payment_refused"
		}
	case AttackForgedBalance:
		fund := o.sc.Offline.Fund
		attacker.p.ForgeBalance(fund + 2*cp)
		var spent int64
		for left := fund + 2*cp; left > 0 && spent <= fund; {
			amount := min(left, cp)
			if !accepted(attacker.p, amount) {
				break
			}
			spent += amount
			left -= amount
		}
		a.committed = spent > fund
		if !a.committed {
			a.skipped = "payments_refused"
		}
	}
}

// handIn has payer, an honest wallet reserved for it, pay the attacker
// offline; then the attacker hands the voucher in at its bank with a
// raised amount (tampered), or again after it was synced (replay).
func (o *offlineRun) handIn(ctx context.Context, a *attackRecord, attacker, payer *holder, at time.Duration) {
	amount := min(o.sc.Offline.Fund/2, o.lim.PaymentCap)
	if amount <= 0 {
		a.skipped = "empty_purse"
		return
	}
	if made, code := o.transfer(payer, nil, attacker, amount, at); !made || code != "" {
		a.skipped = "honest_payment_refused"
		return
	}
	attacker.mu.Lock()
	defer attacker.mu.Unlock()
	a.serial = attacker.p.Serial()
	up := attacker.p.Upload()
	if len(up.Received) == 0 {
		a.skipped = "voucher_already_synced"
		return
	}
	v := up.Received[len(up.Received)-1]
	send := func(raw []byte) (*protocol.PurseSynced, error) {
		m := protocol.PurseSync{Serial: up.Serial.String(), Counter: up.Counter,
			ReceivedBefore: up.ReceivedBefore + uint64(len(up.Received)) - 1, Received: [][]byte{raw}}
		var r protocol.PurseSynced
		err := attacker.c.Call(ctx, protocol.TypePurseSync, attacker.c.NewRequestID(), &m, protocol.TypePurseSynced, &r)
		return &r, err
	}
	if a.kind == AttackTampered {
		v.Amount *= 2
		r, err := send(v.Marshal())
		a.committed = err == nil
		if err != nil {
			a.skipped = errorCode(err)
			return
		}
		o.noteSynced([]*protocol.PurseSynced{r}, time.Since(o.start))
		o.mu.Lock()
		for _, vo := range r.Vouchers {
			if vo.Outcome == string(offline.Rejected) {
				o.rep.Vouchers++
				o.rep.Rejected++
				o.rep.RejectedBy[vo.Reason]++
			}
		}
		o.mu.Unlock()
		return
	}
	answers, err := attacker.c.SyncPurse(ctx, attacker.p)
	o.noteSynced(answers, time.Since(o.start))
	if err != nil {
		a.skipped = errorCode(err)
		return
	}
	a.committed = true
	for range 2 {
		a.replays++
		r, err := send(v.Marshal())
		if err == nil {
			o.noteSynced([]*protocol.PurseSynced{r}, time.Since(o.start))
		}
		if err == nil && r.Duplicate == 1 && r.Settled == 0 {
			a.dupes++
		}
	}
}

// attackSummary counts the attacks by kind against the conflicts the
// ledger recorded, by device.
func (o *offlineRun) attackSummary(caught map[string]string) []AttackOutcome {
	byKind := map[string]*AttackOutcome{}
	var kinds []string
	for _, a := range o.attacks {
		s := byKind[a.kind]
		if s == nil {
			s = &AttackOutcome{Kind: a.kind, FoundAs: map[string]int{}, Skipped: map[string]int{}}
			byKind[a.kind] = s
			kinds = append(kinds, a.kind)
		}
		s.Planned++
		if !a.committed {
			s.Skipped[a.skipped]++
			continue
		}
		s.Committed++
		if a.kind == AttackReplay {
			if a.dupes == a.replays {
				s.Caught++
			} else {
				s.Missed++
			}
			continue
		}
		if k, ok := caught[a.serial.String()]; ok {
			s.Caught++
			s.FoundAs[k]++
		} else {
			s.Missed++
		}
	}
	out := make([]AttackOutcome, 0, len(kinds))
	for _, k := range kinds {
		out = append(out, *byKind[k])
	}
	return out
}
