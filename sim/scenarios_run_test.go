package sim_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/sim"
	"github.com/digital-yen/cbdc-sandbox/sim/local"
)

// Every scenario in scenarios/ runs, shrunk to a few seconds and a few
// dozen parties with its features kept: arrival process, mix, purses and
// policy, outages moved into the short run, one of each attack. Money is
// conserved, no honest purse is revoked, and every attack is caught.
func TestScenarios_EachRunsShrunk(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every scenario for a few seconds")
	}
	files, err := filepath.Glob("../scenarios/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("scenarios/: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".json"), func(t *testing.T) {
			t.Parallel() // each run mostly waits for its payments to fall due
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			sc, err := sim.ParseScenario(f, raw)
			if err != nil {
				t.Fatal(err)
			}
			shrink(sc)
			if err := sc.Validate(); err != nil {
				t.Fatalf("shrunk scenario: %v", err)
			}
			w, err := local.OpenWorld(context.Background(), sc, t.TempDir(), 40, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			rep, err := sim.Run(context.Background(), w, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !rep.Conserved || rep.Paid == 0 {
				t.Errorf("conserved %v, %d of %d paid (%v)", rep.Conserved, rep.Paid, rep.Payments, rep.Errors)
			}
			if o := rep.Offline; o != nil {
				if o.HonestRevoked != 0 || o.Pending != 0 {
					t.Errorf("%d honest purses revoked, %d vouchers pending", o.HonestRevoked, o.Pending)
				}
				for _, a := range o.Attacks {
					if a.Committed == 0 || a.Caught != a.Committed {
						t.Errorf("attack %s: %+v", a.Kind, a)
					}
				}
			}
		})
	}
}

// shrink makes a scenario a four-second run of at most 60 wallets and 6
// merchants at most 40 payments a second.
func shrink(sc *sim.Scenario) {
	const span = 4 * time.Second
	sc.Wallets, sc.Merchants = min(sc.Wallets, 60), min(sc.Merchants, 6)
	scale := float64(span) / float64(max(sc.Duration.D(), time.Second))
	sc.Duration, sc.Payments = sim.Duration(span), 0
	sc.Warmup, sc.Cooldown = 0, 0
	switch sc.Arrival.Process {
	case sim.ArrivalClosed:
		sc.Arrival.Concurrency = min(sc.Arrival.Concurrency, 8)
	case sim.ArrivalSchedule:
		for i := range sc.Arrival.Steps {
			sc.Arrival.Steps[i].At = sim.Duration(float64(sc.Arrival.Steps[i].At) * scale)
			sc.Arrival.Steps[i].Rate = min(sc.Arrival.Steps[i].Rate, 40)
		}
	default:
		sc.Arrival.Rate = min(sc.Arrival.Rate, 40)
	}
	for i := range sc.Outages {
		sc.Outages[i].At = sim.Duration(float64(sc.Outages[i].At) * scale)
		sc.Outages[i].For = sim.Duration(float64(sc.Outages[i].For) * scale)
	}
	if sc.Offline != nil {
		sc.Offline.SyncEvery = sim.Duration(time.Second)
	}
	for i := range sc.Attacks {
		sc.Attacks[i].PerMinute = 15 // one, two seconds in
	}
}
