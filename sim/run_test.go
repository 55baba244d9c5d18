package sim_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/sim"
	"github.com/digital-yen/cbdc-sandbox/sim/local"
)

const smallScenario = `{
  "name": "small",
  "seed": 5,
  "banks": 2,
  "wallets": 40,
  "merchants": 4,
  "start": {"wallet": {"dist": "fixed", "value": 100000}, "merchant": {"dist": "fixed", "value": 0}},
  "duration": "2s",
  "arrival": {"process": "fixed", "rate": 100},
  "mix": {"person_to_person": 0.5, "merchant": 0.5, "amount": {"dist": "uniform", "min": 1, "max": 500}}
}`

func runSmall(t *testing.T, edit func(*sim.Scenario)) *sim.Report {
	t.Helper()
	return runSessions(t, 16, edit)
}

func runSessions(t *testing.T, sessions int, edit func(*sim.Scenario)) *sim.Report {
	t.Helper()
	sc, err := sim.ParseScenario("small.json", []byte(smallScenario))
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(sc)
	}
	ctx := context.Background()
	w, err := local.OpenWorld(ctx, sc, t.TempDir(), sessions, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := w.Close(); err != nil {
			t.Error(err)
		}
	}()
	rep, err := sim.Run(ctx, w, nil)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// The same seed makes the same payments and ends with the same balances;
// every payment is answered and money is conserved.
func TestRun_SameSeedSameOutcome(t *testing.T) {
	a, b := runSmall(t, nil), runSmall(t, nil)
	if a.Payments != 200 || a.Paid != 200 || !a.Conserved {
		t.Fatalf("first run: %d payments, %d paid, conserved %v (errors %v)", a.Payments, a.Paid, a.Conserved, a.Errors)
	}
	if a.Balances != b.Balances || a.Payments != b.Payments {
		t.Errorf("two runs of one seed ended differently: %s and %s", a.Balances, b.Balances)
	}
	c := runSmall(t, func(sc *sim.Scenario) { sc.Seed++ })
	if c.Balances == a.Balances {
		t.Error("another seed ended with the same balances")
	}
	var sb strings.Builder
	a.WriteTable(&sb)
	for _, want := range []string{"scenario small (seed 5)", "achieved of 100/s target", "200: 200 paid, 0 failed", "conserved"} {
		if !strings.Contains(sb.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, sb.String())
		}
	}
}

// Payments signed before the run are the very payments the plan draws,
// payers drawn to pay themselves included: the same run signing each
// payment as it is made ends with the same balances, every payment paid
// once in both, and the run signing ahead sent every payment as signed.
func TestRun_SigningAheadPaysThePlan(t *testing.T) {
	const sessions = 4 // few payers, so that some are drawn to pay themselves
	sc, err := sim.ParseScenario("small.json", []byte(smallScenario))
	if err != nil {
		t.Fatal(err)
	}
	self := 0
	for p := sim.NewPlanner(sc); ; {
		pay, ok := p.Next()
		if !ok {
			break
		}
		if pay.To == pay.From%sessions {
			self++
		}
	}
	if self == 0 {
		t.Fatal("the plan draws no payer to pay itself; choose another seed")
	}
	ahead := runSessions(t, sessions, nil)
	restore := sim.SignAheadUpTo(0)
	defer restore()
	asMade := runSessions(t, sessions, nil)
	if ahead.SignedAhead <= 0 || asMade.SignedAhead != 0 || ahead.SentSigned != 200 || asMade.SentSigned != 0 {
		t.Fatalf("signed ahead for %.3f s and %.3f s, %d and %d payments sent so; want 200 ahead, then none",
			ahead.SignedAhead, asMade.SignedAhead, ahead.SentSigned, asMade.SentSigned)
	}
	for _, rep := range []*sim.Report{ahead, asMade} {
		if rep.Payments != 200 || rep.Paid != 200 || !rep.Conserved {
			t.Fatalf("%d payments, %d paid, conserved %v (errors %v)", rep.Payments, rep.Paid, rep.Conserved, rep.Errors)
		}
	}
	if ahead.Balances != asMade.Balances {
		t.Errorf("signed ahead the run ended with balances %s; signed as made, %s (%d payers drawn to pay themselves)", ahead.Balances, asMade.Balances, self)
	}
	var sb strings.Builder
	ahead.WriteTable(&sb)
	if !strings.Contains(sb.String(), "200 signed before the run") {
		t.Errorf("the table does not say the payments were signed ahead:\n%s", sb.String())
	}
	sb.Reset()
	asMade.WriteTable(&sb)
	if strings.Contains(sb.String(), "signed before the run") {
		t.Errorf("the table says payments signed as made were signed ahead:\n%s", sb.String())
	}
}

func TestRun_ClosedLoop(t *testing.T) {
	rep := runSmall(t, func(sc *sim.Scenario) {
		sc.Duration, sc.Payments = 0, 300
		sc.Arrival = sim.Arrival{Process: sim.ArrivalClosed, Concurrency: 8}
	})
	if rep.Payments != 300 || rep.Paid != 300 || rep.Achieved <= 0 || rep.P99 <= 0 || time.Duration(rep.P50*1e6) > 5*time.Second {
		t.Errorf("closed loop: %+v", rep)
	}
}

func TestReport_HTMLStandsAlone(t *testing.T) {
	rep := runSmall(t, nil)
	var sb strings.Builder
	if err := rep.WriteHTML(&sb); err != nil {
		t.Fatal(err)
	}
	page := sb.String()
	for _, want := range []string{"<svg", "Payments answered each second", "CBDC by tier", "money conserved", "scenario small (seed 5)"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	for _, ext := range []string{"http://", "https://", "<script src", "<link"} {
		if strings.Contains(page, ext) {
			t.Errorf("the page refers outside itself (%q)", ext)
		}
	}
	if len(rep.Money) == 0 {
		t.Error("no money samples over a two-second run")
	}
}
