package sim_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/sim"
)

// offlineSmall gives the small scenario purses, an outage of a share of
// the wallets and one of a bank, and every attack: one of each kind every
// three seconds from a second and a half in.
func offlineSmall(mode, bearer string) func(*sim.Scenario) {
	return func(sc *sim.Scenario) {
		sc.Duration = sim.Duration(6 * time.Second)
		sc.Arrival = sim.Arrival{Process: sim.ArrivalPoisson, Rate: 40}
		sc.Offline = &sim.Offline{Share: 0.8, Fund: 30000, SyncEvery: sim.Duration(time.Second), OfflineShare: 0.3,
			Policy: sim.Policy{Mode: mode, LossBearer: bearer, PaymentsBeforeSync: 10}}
		sc.Outages = []sim.Outage{{At: sim.Duration(time.Second), For: sim.Duration(2 * time.Second), Wallets: 0.3},
			{At: sim.Duration(3 * time.Second), For: sim.Duration(2 * time.Second), Bank: "bank-2"}}
		for _, k := range []string{sim.AttackClone, sim.AttackRollback, sim.AttackForgedBalance, sim.AttackTampered, sim.AttackReplay} {
			sc.Attacks = append(sc.Attacks, sim.Attack{Kind: k, PerMinute: 20})
		}
	}
}

// Every attack is committed and caught, no honest purse is revoked,
// nothing stays pending, and money is conserved, under each mode.
func TestRun_OfflineAttacksCaught(t *testing.T) {
	for _, tc := range []struct{ mode, bearer string }{{"staged", "payer-bank"}, {"intermittent", "guarantee"}} {
		t.Run(tc.mode, func(t *testing.T) {
			rep := runSessions(t, 40, offlineSmall(tc.mode, tc.bearer))
			o := rep.Offline
			if !rep.Conserved || o == nil {
				t.Fatalf("conserved %v, offline report %v", rep.Conserved, o)
			}
			var sb strings.Builder
			rep.WriteTable(&sb)
			t.Log("\n" + sb.String())
			if o.Purses == 0 || o.Paid == 0 || o.Settled == 0 {
				t.Errorf("purses %d, paid offline %d, settled %d: the run paid nothing offline", o.Purses, o.Paid, o.Settled)
			}
			if o.Pending != 0 || o.NotUploaded != 0 {
				t.Errorf("after reconciliation %d vouchers pending and %d never handed in", o.Pending, o.NotUploaded)
			}
			if o.HonestRevoked != 0 {
				t.Errorf("%d honest purses revoked", o.HonestRevoked)
			}
			if len(o.Attacks) != 5 {
				t.Fatalf("attacks %+v, want five kinds", o.Attacks)
			}
			for _, a := range o.Attacks {
				if a.Planned != 2 || a.Committed != a.Planned || a.Caught != a.Committed {
					t.Errorf("%s: %+v, want 2 planned, committed and caught", a.Kind, a)
				}
			}
			if o.Conflicts["double_spend"]+o.Conflicts["chain_fork"] < 4 || o.Conflicts["overspend"] < 2 || o.Conflicts["forgery"] < 2 {
				t.Errorf("conflicts %v, want the clones, rollbacks, forged balances and tampered vouchers", o.Conflicts)
			}
			if rep.Errors["no_connection"] == 0 {
				t.Errorf("no payment found its side cut off during the outages: %v", rep.Errors)
			}
			checkOutageFailures(t, rep)
			if len(o.Exposure) == 0 {
				t.Error("no exposure samples")
			}
		})
	}
}

// The same seed plans the same payments and the same attacks, and the
// attacks end the same way.
func TestRun_OfflineSameSeedSameAttacks(t *testing.T) {
	a, b := runSessions(t, 40, offlineSmall("staged", "payer-bank")), runSessions(t, 40, offlineSmall("staged", "payer-bank"))
	if a.Payments != b.Payments || a.Plan != b.Plan {
		t.Errorf("plans differ: %d payments %s, %d payments %s", a.Payments, a.Plan, b.Payments, b.Plan)
	}
	if a.Balances != b.Balances {
		t.Logf("holdings differ: %s and %s", a.Balances, b.Balances)
	}
	for i := range a.Offline.Attacks {
		x, y := a.Offline.Attacks[i], b.Offline.Attacks[i]
		if x.Kind != y.Kind || x.Committed != y.Committed || x.Caught != y.Caught {
			t.Errorf("attack %s: %+v then %+v", x.Kind, x, y)
		}
	}
}

// Outages need no purses: payments across a cut fail with no_connection.
// In a closed loop a payer cut off fails once and waits for the outage to
// end, rather than running through the plan.
func TestRun_OutagesWithoutPurses(t *testing.T) {
	rep := runSmall(t, func(sc *sim.Scenario) {
		sc.Duration, sc.Payments = 0, 200
		sc.Arrival = sim.Arrival{Process: sim.ArrivalClosed, Concurrency: 4}
		sc.Outages = []sim.Outage{{At: 0, For: sim.Duration(time.Second), Wallets: 0.5}}
	})
	if rep.Offline != nil || !rep.Conserved || rep.Payments != 200 {
		t.Fatalf("offline report %v, conserved %v, %d payments", rep.Offline, rep.Conserved, rep.Payments)
	}
	if n := rep.Errors["no_connection"]; n == 0 || n > 4 {
		t.Errorf("%d payments failed with no_connection; want 1 to 4, one for each payer at most", n)
	}
	if rep.Paid+rep.Errors["no_connection"] != 200 {
		t.Errorf("paid %d, errors %v", rep.Paid, rep.Errors)
	}
	checkOutageFailures(t, rep)
	if rep.FailedInOutage != rep.Failed {
		t.Errorf("%d of %d failures put down to the outage; every one was a payer cut off", rep.FailedInOutage, rep.Failed)
	}
	if len(rep.Outages) != 1 || rep.Outages[0].Label != "outage: 50% of wallets" || rep.Outages[0].To != 1 {
		t.Errorf("outages %+v", rep.Outages)
	}
}

// checkOutageFailures checks that the failures put down to a scripted
// outage add up and fall inside one: no cut-off failure is found in a second
// no outage touches, and every no_connection failure is one.
func checkOutageFailures(t *testing.T, rep *sim.Report) {
	t.Helper()
	sum := 0
	for _, s := range rep.Timeline {
		sum += s.FailedInOutage
		if s.FailedInOutage == 0 {
			continue
		}
		if !slices.ContainsFunc(rep.Outages, func(o sim.OutageWindow) bool { return o.From < float64(s.T+1) && float64(s.T) < o.To }) {
			t.Errorf("second %d: %d failures put down to an outage, and no outage was on", s.T, s.FailedInOutage)
		}
	}
	codes := 0
	for _, n := range rep.OutageErrors {
		codes += n
	}
	if sum != rep.FailedInOutage || codes != rep.FailedInOutage || rep.FailedInOutage > rep.Failed {
		t.Errorf("failed in an outage: %d in all, %d by second, %d by code, of %d failed", rep.FailedInOutage, sum, codes, rep.Failed)
	}
	if rep.OutageErrors["no_connection"] != rep.Errors["no_connection"] {
		t.Errorf("%d no_connection failures, %d of them put down to an outage", rep.Errors["no_connection"], rep.OutageErrors["no_connection"])
	}
}
