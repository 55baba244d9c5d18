package sim

import (
	"math"
	"math/rand/v2"
	"time"
)

// Payment is one payment of a run's plan. Parties are numbered: wallets
// 0 … Wallets-1, then merchants.
type Payment struct {
	At       time.Duration // when it is due, from the start; 0 in a closed loop
	From, To int
	Amount   int64
}

// Planner draws a scenario's payments from its seed: the same scenario
// always gives the same payments in the same order. It is not safe for
// concurrent use.
type Planner struct {
	sc   *Scenario
	rng  *rand.Rand
	at   time.Duration
	step int // the schedule step the clock is in
	n    int // payments drawn so far
}

// Streams of the seed, so drawing one thing never shifts another.
const (
	streamPayments = 1
	streamBalances = 2
)

func newRand(seed int64, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), stream))
}

// NewPlanner starts the scenario's plan.
func NewPlanner(sc *Scenario) *Planner {
	return &Planner{sc: sc, rng: newRand(sc.Seed, streamPayments)}
}

// Next returns the next payment, or false once the run's duration or
// payment count is reached. A closed loop has no duration in the plan: the
// runner stops drawing when its time is up.
func (p *Planner) Next() (Payment, bool) {
	if p.sc.Payments > 0 && p.n >= p.sc.Payments {
		return Payment{}, false
	}
	at, ok := p.nextArrival()
	if !ok || (p.sc.Duration > 0 && p.sc.Arrival.Process != ArrivalClosed && at >= p.sc.Duration.D()) {
		return Payment{}, false
	}
	p.n++
	from := p.rng.IntN(p.sc.Wallets)
	var to int
	if p.sc.Merchants > 0 && p.rng.Float64() < p.sc.Mix.Merchant {
		to = p.sc.Wallets + p.rng.IntN(p.sc.Merchants)
	} else {
		to = p.rng.IntN(p.sc.Wallets - 1)
		if to >= from {
			to++ // anyone but the payer
		}
	}
	return Payment{At: at, From: from, To: to, Amount: draw(p.rng, p.sc.Mix.Amount)}, true
}

func (p *Planner) nextArrival() (time.Duration, bool) {
	a := p.sc.Arrival
	switch a.Process {
	case ArrivalFixed:
		return time.Duration(float64(p.n) / a.Rate * float64(time.Second)), true
	case ArrivalPoisson:
		p.at += exponential(p.rng, a.Rate)
		return p.at, true
	case ArrivalSchedule:
		return p.scheduled()
	}
	return 0, true // closed loop
}

// scheduled draws the next Poisson arrival of a rate that changes at the
// schedule's steps. An arrival drawn past the next step's start is dropped
// and drawn again from that start at the new rate, which is exact for a
// Poisson process (it has no memory).
func (p *Planner) scheduled() (time.Duration, bool) {
	steps := p.sc.Arrival.Steps
	for {
		end := time.Duration(math.MaxInt64)
		if p.step+1 < len(steps) {
			end = steps[p.step+1].At.D()
		}
		rate := steps[p.step].Rate
		if rate > 0 {
			if next := p.at + exponential(p.rng, rate); next < end {
				p.at = next
				return next, true
			}
		}
		if p.step+1 >= len(steps) {
			return 0, false // the last step has rate 0: nothing more arrives
		}
		p.step++
		p.at = end
	}
}

func exponential(rng *rand.Rand, rate float64) time.Duration {
	return time.Duration(rng.ExpFloat64() / rate * float64(time.Second))
}

// draw takes one amount from a distribution.
func draw(rng *rand.Rand, a Amount) int64 {
	switch a.Dist {
	case DistUniform:
		return a.Min + rng.Int64N(a.Max-a.Min+1)
	case DistLognormal:
		v := math.Round(float64(a.Median) * math.Exp(a.Sigma*rng.NormFloat64()))
		return int64(min(max(v, 1), float64(a.Max)))
	}
	return a.Value
}

// StartingBalances draws what each party holds at the start: wallets,
// then merchants. It uses its own stream of the seed.
func StartingBalances(sc *Scenario) []int64 {
	rng := newRand(sc.Seed, streamBalances)
	out := make([]int64, sc.Wallets+sc.Merchants)
	for i := range out {
		d := sc.Start.Wallet
		if i >= sc.Wallets {
			d = sc.Start.Merchant
		}
		out[i] = draw(rng, d)
	}
	return out
}
