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

// attackLoop commits the planned attacks at their times, one after the
// other, until ctx ends. Attackers are wallets with purses taken in an
// order drawn from the seed, each attacking once; their victims are the
// other purse holders, which never attack, so every voucher an attack
// hands a victim is handed in.
func (o *offlineRun) attackLoop(ctx context.Context, plan []*attackRecord) {
	var wallets, victims []*holder
	for _, h := range o.holders {
		switch {
		case h == nil:
		case h.merchant:
			victims = append(victims, h)
		default:
			wallets = append(wallets, h)
		}
	}
	order := newRand(o.sc.Seed, streamAttacker)
	order.Shuffle(len(wallets), func(i, j int) { wallets[i], wallets[j] = wallets[j], wallets[i] })
	n := min(len(plan), len(wallets)/2) // leave at least half the wallets honest
	attackers := wallets[:n]
	victims = append(victims, wallets[n:]...)
	pick := newRand(o.sc.Seed, streamAttacks)
	for _, a := range plan {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(o.start.Add(a.at))):
		}
		o.mu.Lock()
		o.attacks = append(o.attacks, a)
		o.mu.Unlock()
		if len(attackers) == 0 || len(victims) < 2 {
			a.skipped = "too_few_purses"
			continue
		}
		attacker := attackers[0]
		attackers = attackers[1:]
		attacker.attacker.Store(true)
		o.commit(ctx, a, attacker, victims, pick)
	}
}

// commit commits one attack with attacker, against victims drawn from
// honest.
func (o *offlineRun) commit(ctx context.Context, a *attackRecord, attacker *holder, honest []*holder, pick *rand.Rand) {
	victim := func() *holder { return honest[pick.IntN(len(honest))] }
	at := time.Since(o.start)
	cp := o.lim.PaymentCap
	if a.kind == AttackTampered || a.kind == AttackReplay {
		o.handIn(ctx, a, attacker, honest, pick, at)
		return
	}
	attacker.mu.Lock()
	defer attacker.mu.Unlock()
	a.serial = attacker.p.Serial()
	bal := attacker.p.Balance()
	switch a.kind {
	case AttackClone, AttackRollback:
		amount := min(bal, cp)
		if amount <= 0 {
			a.skipped = "empty_purse"
			return
		}
		saved := attacker.p.Save()
		first, _ := o.transfer(attacker, attacker.p, victim(), amount, at)
		again, err := offline.LoadPurse(saved)
		if err != nil || !first {
			a.skipped = "first_payment_refused"
			return
		}
		if a.kind == AttackRollback {
			attacker.p = again // the purse itself is set back
		}
		second, _ := o.transfer(attacker, again, victim(), amount, at)
		a.committed = second
		if !second {
			a.skipped = "second_payment_refused"
		}
	case AttackForgedBalance:
		attacker.p.ForgeBalance(bal + 2*cp)
		var spent int64
		for range 8 {
			amount := min(attacker.p.Balance(), cp)
			if amount <= 0 {
				break
			}
			made, _ := o.transfer(attacker, attacker.p, victim(), amount, at)
			if !made {
				break
			}
			spent += amount
		}
		a.committed = spent > bal
		if !a.committed {
			a.skipped = "payments_refused"
		}
	}
}

// handIn has an honest wallet pay the attacker offline, then the attacker
// hands the voucher in at its bank: with a raised amount (tampered), or
// again after it was synced (replay).
func (o *offlineRun) handIn(ctx context.Context, a *attackRecord, attacker *holder, honest []*holder, pick *rand.Rand, at time.Duration) {
	amount := max(min(o.sc.Mix.Amount.Max, o.lim.PaymentCap/2), 1)
	paid := false
	for range 8 { // a wallet whose purse can pay it
		payer := honest[pick.IntN(len(honest))]
		if payer.merchant {
			continue
		}
		if made, code := o.transfer(payer, nil, attacker, amount, at); made && code == "" {
			paid = true
			break
		}
	}
	if !paid {
		a.skipped = "honest_payment_refused"
		return
	}
	attacker.mu.Lock()
	defer attacker.mu.Unlock()
	a.serial = attacker.p.Serial()
	up := attacker.p.Upload()
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
