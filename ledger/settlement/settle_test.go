package settlement

import (
	"time"

	"testing"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/offline"
)

func staged() offline.Policy { return offline.DefaultPolicy() }

func intermittent() offline.Policy {
	p := offline.DefaultPolicy()
	p.Mode = offline.Intermittent
	return p
}

func TestSettle_StagedPaymentSettlesOnce(t *testing.T) {
	w := newWorld(t, staged())
	a, b := w.person("bank-a", 50_000), w.person("bank-b", 0)
	w.fund(a, 10_000)
	w.pay(a, b, 3_000)
	if b.purse.Pending() != 3_000 || b.purse.Balance() != 0 {
		t.Fatalf("staged payee: balance %d pending %d", b.purse.Balance(), b.purse.Pending())
	}
	rep := w.sync(b)
	if rep.Settled != 1 || rep.SettledAmount != 3_000 {
		t.Fatalf("payee upload: %+v", rep)
	}
	rep = w.sync(a)
	if rep.Duplicate != 1 || rep.Settled != 0 {
		t.Fatalf("payer upload of the same voucher: %+v", rep)
	}
	w.wantBalances(map[ledger.AccountID]int64{a.escrow: 7_000, b.wallet: 3_000, a.wallet: 40_000})
	if b.purse.Pending() != 0 {
		t.Errorf("pending after sync: %d", b.purse.Pending())
	}
	if got := w.reconcile(b, nil, nil); got.Settled+got.Duplicate != 0 {
		t.Errorf("empty upload: %+v", got)
	}
}

func TestSettle_PayerNeverReturns(t *testing.T) {
	w := newWorld(t, staged())
	a, b := w.person("bank-a", 50_000), w.person("bank-a", 0)
	w.fund(a, 10_000)
	w.pay(a, b, 2_500)
	w.pay(a, b, 1_500)
	rep := w.sync(b)
	if rep.Settled != 2 {
		t.Fatalf("%+v", rep)
	}
	w.wantBalances(map[ledger.AccountID]int64{a.escrow: 6_000, b.wallet: 4_000})
}

func TestSettle_PayeeLostDevicePaidFromPayerUpload(t *testing.T) {
	w := newWorld(t, staged())
	a, b := w.person("bank-a", 50_000), w.person("bank-b", 0)
	w.fund(a, 10_000)
	w.pay(a, b, 4_000)
	b.purse = nil // lost
	if rep := w.sync(a); rep.Settled != 1 {
		t.Fatalf("%+v", rep)
	}
	w.wantBalances(map[ledger.AccountID]int64{a.escrow: 6_000, b.wallet: 4_000})
}

func TestSettle_ClonedPurseDoubleSpend(t *testing.T) {
	for _, tc := range []struct {
		bearer            offline.Bearer
		bearerAcct        ledger.AccountID
		cGets, payeesLoss int64
	}{
		{offline.PayerBank, "bank-a", 6_000, 0},
		{offline.Guarantee, GuaranteeAccount, 6_000, 0},
		{offline.Payee, "", 4_000, 2_000},
	} {
		t.Run(tc.bearer.String(), func(t *testing.T) {
			pol := staged()
			pol.LossBearer = tc.bearer
			w := newWorld(t, pol)
			a, b, c := w.person("bank-a", 50_000), w.person("bank-a", 0), w.person("bank-b", 0)
			w.fund(a, 10_000)
			twin := &person{name: "a-clone", bank: a.bank, purse: clone(t, a.purse)}
			v1 := w.pay(a, b, 6_000)
			v2 := w.pay(twin, c, 6_000)
			if v1.Counter != v2.Counter {
				t.Fatalf("clone counters %d and %d", v1.Counter, v2.Counter)
			}
			var before int64
			if tc.bearerAcct != "" {
				before = w.balance(tc.bearerAcct)
			}
			w.sync(b)
			rep := w.sync(c)
			if len(rep.Conflicts) == 0 || rep.Conflicts[0].Kind != offline.DoubleSpend {
				t.Fatalf("no double spend found: %+v", rep)
			}
			ev := rep.Conflicts[0].Evidence
			if len(ev) != 2 || ev[0] != v1.Hash() || ev[1] != v2.Hash() {
				t.Errorf("evidence %v, want both vouchers", ev)
			}
			if got := w.revoked(a); got != offline.DoubleSpend {
				t.Errorf("payer revoked for %q", got)
			}
			if crl := w.s.Revocations(); !crl.Contains(a.purse.Serial()) || crl.Verify(w.s.RootKey()) != nil {
				t.Errorf("revocation list does not carry the cloned device")
			}
			w.wantBalances(map[ledger.AccountID]int64{a.escrow: 0, b.wallet: 6_000, c.wallet: tc.cGets})
			if tc.bearerAcct != "" {
				if got := before - w.balance(tc.bearerAcct); got != 2_000 {
					t.Errorf("%s bore %d, want 2000", tc.bearerAcct, got)
				}
			}
			if sum := w.s.Summary(); sum.LossByPayees != tc.payeesLoss || sum.Conflicts[offline.DoubleSpend] != 1 {
				t.Errorf("summary %+v", sum)
			}
		})
	}
}

func TestSettle_IntermittentMultiHopInAnyOrder(t *testing.T) {
	w := newWorld(t, intermittent())
	a, b, c := w.person("bank-a", 50_000), w.person("bank-b", 0), w.person("bank-a", 0)
	w.fund(a, 10_000)
	w.pay(a, b, 5_000)
	w.pay(b, c, 3_000) // b re-spends what it received, offline
	// c comes online first: b's escrow is empty, so the voucher waits.
	rep := w.reconcile(c, nil, c.purse.Upload().Received)
	if rep.Pending != 1 {
		t.Fatalf("c's upload: %+v", rep)
	}
	rep = w.reconcile(b, nil, b.purse.Upload().Received)
	if rep.Settled != 1 || len(rep.Freed) != 1 || rep.Freed[0].Outcome != offline.Settled {
		t.Fatalf("b's upload should settle a→b and free b→c: %+v", rep)
	}
	w.wantBalances(map[ledger.AccountID]int64{a.escrow: 5_000, b.escrow: 2_000, c.escrow: 3_000})
	if len(w.s.Conflicts()) != 0 {
		t.Errorf("honest devices in conflict: %+v", w.s.Conflicts())
	}
}

func TestSettle_ReopenKeepsIndex(t *testing.T) {
	w := newWorld(t, staged())
	a, b := w.person("bank-a", 50_000), w.person("bank-a", 0)
	w.fund(a, 10_000)
	v := w.pay(a, b, 1_000)
	w.reconcile(b, nil, []offline.Voucher{v})
	w.reopen()
	rep := w.reconcile(a, []offline.Voucher{v}, nil)
	if rep.Duplicate != 1 {
		t.Fatalf("after reopen: %+v", rep)
	}
	w.wantBalances(map[ledger.AccountID]int64{a.escrow: 9_000, b.wallet: 1_000})
}

func TestSettle_OnlyTheCentralBankReleasesEscrow(t *testing.T) {
	w := newWorld(t, staged())
	a := w.person("bank-a", 50_000)
	w.fund(a, 10_000)
	_, err := w.l.Intermediary("bank-a").Transfer(w.ctx, "take-escrow", a.escrow, a.wallet, 1_000)
	if ledger.ErrorCode(err) != ledger.ErrNotYours.Code {
		t.Fatalf("bank moved money out of escrow: %v", err)
	}
}

// A payee who lost its purse in intermittent mode keeps being paid into its
// escrow (its purse may have spent the value again); once the device's
// certificate has expired, no voucher of it can still be valid and the
// window returns the escrow to the owner's wallet.
func TestSettle_RetiredDevicePaysItsOwner(t *testing.T) {
	w := newWorld(t, intermittent())
	a, b := w.person("bank-a", 50_000), w.person("bank-b", 50_000)
	w.fund(a, 10_000)
	w.fund(b, 2_000)
	v := w.pay(a, b, 3_000)
	info, err := w.s.RetireDevice(w.ctx, "bank-b", b.purse.Serial())
	if err != nil || info.Revoked != offline.Retired {
		t.Fatalf("retire: %+v %v", info, err)
	}
	if _, err := w.s.RetireDevice(w.ctx, "bank-a", b.purse.Serial()); ErrorCode(err) != ErrNotYourDevice.Code {
		t.Errorf("another bank retired the device: %v", err)
	}
	if !w.s.Revocations().Contains(b.purse.Serial()) {
		t.Error("a retired device is not on the revocation list")
	}
	if rep := w.reconcile(a, []offline.Voucher{v}, nil); rep.Settled != 1 || rep.Vouchers[0].PayeeAccount != b.escrow {
		t.Fatalf("payer's upload: %+v", rep)
	}
	if _, err := w.s.CloseWindow(w.ctx); err != nil {
		t.Fatal(err)
	}
	w.wantBalances(map[ledger.AccountID]int64{b.escrow: 5_000, b.wallet: 48_000}) // the certificate is still valid
	w.s.cfg.Now = func() time.Time { return time.Now().Add(w.cfg.Policy.CertLifetime + time.Hour) }
	if _, err := w.s.CloseWindow(w.ctx); err != nil {
		t.Fatal(err)
	}
	w.wantBalances(map[ledger.AccountID]int64{b.escrow: 0, b.wallet: 48_000 + 5_000, a.escrow: 7_000})
	if len(w.s.Conflicts()) != 0 {
		t.Errorf("retiring is not a conflict: %+v", w.s.Conflicts())
	}
}
