package sim

import (
	"math"
	"slices"
	"testing"
	"time"
)

func planScenario(t *testing.T, edit func(*Scenario)) *Scenario {
	t.Helper()
	sc, err := ParseScenario("base.json", []byte(baseScenario))
	if err != nil {
		t.Fatal(err)
	}
	sc.Offline, sc.Outages, sc.Attacks = nil, nil, nil
	if edit != nil {
		edit(sc)
	}
	if err := sc.Validate(); err != nil {
		t.Fatal(err)
	}
	return sc
}

func drawAll(sc *Scenario) []Payment {
	var out []Payment
	for p := NewPlanner(sc); ; {
		pay, ok := p.Next()
		if !ok {
			return out
		}
		out = append(out, pay)
	}
}

func TestPlan_SameSeedSamePayments(t *testing.T) {
	sc := planScenario(t, func(sc *Scenario) { sc.Duration = Duration(time.Minute) })
	a, b := drawAll(sc), drawAll(sc)
	if len(a) == 0 || !slices.Equal(a, b) {
		t.Fatalf("two plans of one scenario differ (%d and %d payments)", len(a), len(b))
	}
	sc.Seed++
	if c := drawAll(sc); slices.Equal(a, c) {
		t.Error("another seed gave the same plan")
	}
	if !slices.Equal(StartingBalances(sc), StartingBalances(sc)) {
		t.Error("starting balances differ between two draws")
	}
}

func TestPlan_ArrivalProcesses(t *testing.T) {
	t.Run("fixed", func(t *testing.T) {
		sc := planScenario(t, func(sc *Scenario) {
			sc.Arrival = Arrival{Process: ArrivalFixed, Rate: 100}
			sc.Duration = Duration(10 * time.Second)
		})
		ps := drawAll(sc)
		if len(ps) != 1000 || ps[1].At != 10*time.Millisecond || ps[999].At != 9990*time.Millisecond {
			t.Errorf("%d payments, the second at %s, the last at %s", len(ps), ps[1].At, ps[len(ps)-1].At)
		}
	})
	t.Run("poisson", func(t *testing.T) {
		sc := planScenario(t, func(sc *Scenario) {
			sc.Arrival = Arrival{Process: ArrivalPoisson, Rate: 1000}
			sc.Duration = Duration(100 * time.Second)
		})
		if n := len(drawAll(sc)); math.Abs(float64(n)-100_000) > 1_500 {
			t.Errorf("%d payments in 100s at 1000/s", n)
		}
	})
	t.Run("schedule", func(t *testing.T) {
		sc := planScenario(t, func(sc *Scenario) {
			sc.Arrival = Arrival{Process: ArrivalSchedule, Steps: []Step{
				{At: 0, Rate: 100}, {At: Duration(10 * time.Second), Rate: 0}, {At: Duration(20 * time.Second), Rate: 1000}}}
			sc.Duration = Duration(30 * time.Second)
		})
		counts := make([]int, 3)
		for _, p := range drawAll(sc) {
			counts[p.At/(10*time.Second)]++
		}
		if math.Abs(float64(counts[0])-1_000) > 150 || counts[1] != 0 || math.Abs(float64(counts[2])-10_000) > 400 {
			t.Errorf("payments per 10s step: %v, want about 1000, 0, 10000", counts)
		}
	})
	t.Run("payments", func(t *testing.T) {
		sc := planScenario(t, func(sc *Scenario) {
			sc.Arrival = Arrival{Process: ArrivalClosed, Concurrency: 10}
			sc.Duration, sc.Payments = 0, 500
		})
		if n := len(drawAll(sc)); n != 500 {
			t.Errorf("%d payments, want 500", n)
		}
	})
}

func TestPlan_MixAndAmounts(t *testing.T) {
	sc := planScenario(t, func(sc *Scenario) {
		sc.Arrival = Arrival{Process: ArrivalPoisson, Rate: 1000}
		sc.Duration = Duration(50 * time.Second)
		sc.Mix = Mix{PersonToPerson: 0.3, Merchant: 0.7, Amount: Amount{Dist: DistLognormal, Median: 1000, Sigma: 0.8, Max: 20_000}}
	})
	ps := drawAll(sc)
	merchant, amounts := 0, make([]int64, 0, len(ps))
	for _, p := range ps {
		if p.From == p.To || p.From >= sc.Wallets || p.To >= sc.Wallets+sc.Merchants {
			t.Fatalf("payment %+v: from must be a wallet, to anyone else", p)
		}
		if p.To >= sc.Wallets {
			merchant++
		}
		if p.Amount < 1 || p.Amount > 20_000 {
			t.Fatalf("amount %d outside 1..20000", p.Amount)
		}
		amounts = append(amounts, p.Amount)
	}
	if share := float64(merchant) / float64(len(ps)); math.Abs(share-0.7) > 0.01 {
		t.Errorf("merchant share %.3f, want 0.7", share)
	}
	slices.Sort(amounts)
	if median := amounts[len(amounts)/2]; median < 950 || median > 1050 {
		t.Errorf("median amount %d, want about 1000", median)
	}
}
