package settlement

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/offline"
)

// TestRule3_CycleSettlesByNetting: Y pays X, X pays Y back with it, Y pays W
// with that. Uploaded in the worst order (Y's second voucher first, which
// takes the escrow Y's first needed), X's and Y's first vouchers wait on
// each other: each is short unless the other settles. The window's close
// settles them together by netting, under every policy; nobody is forced,
// revoked or charged.
func TestRule3_CycleSettlesByNetting(t *testing.T) {
	for _, b := range bearers {
		t.Run(b.bearer.String(), func(t *testing.T) {
			w := newWorld(t, withBearer(intermittent(), b.bearer))
			x, y, z := w.person("bank-a", 0), w.person("bank-b", 100_000), w.person("bank-a", 0)
			w.fund(y, 10_000)
			y1 := w.pay(y, x, 10_000)
			x1 := w.pay(x, y, 10_000)
			y2 := w.pay(y, z, 10_000)
			w.reconcile(z, nil, []offline.Voucher{y2}) // takes Y's 10,000 of escrow
			w.reconcile(y, nil, []offline.Voucher{x1})
			w.reconcile(x, nil, []offline.Voucher{y1})
			// Under the payee policy Y's second voucher leaves room for its
			// unseen first, so no cycle forms; under the others it does.
			for _, v := range []offline.Voucher{y1, x1} {
				if r := w.result(v); r.Outcome != offline.Pending && b.bearer != offline.Payee {
					t.Fatalf("before the window closes %s#%d is %s", v.Payer, v.Counter, r.Outcome)
				}
			}
			w.closeWindow()
			for _, v := range []offline.Voucher{y1, x1, y2} {
				if r := w.result(v); r.Outcome != offline.Settled || r.FromEscrow != v.Amount {
					t.Errorf("%s#%d ended %+v, want paid in full from escrow", v.Payer, v.Counter, r)
				}
			}
			w.wantBalances(map[ledger.AccountID]int64{x.escrow: 0, y.escrow: 0, z.escrow: 10_000,
				"bank-a": bankFloat, "bank-b": bankFloat - 100_000, GuaranteeAccount: w.cfg.GuaranteeFund})
			if n := len(w.s.Conflicts()); n != 0 {
				t.Errorf("%d conflicts: %+v", n, w.s.Conflicts())
			}
			w.pastEveryDeadline()
			w.closeWindow()
			if n := len(w.s.Conflicts()); n != 0 {
				t.Errorf("%d conflicts after the deadlines: %+v", n, w.s.Conflicts())
			}
		})
	}
}

// The rules of docs/offline.md, one test each: who is credited, who is
// revoked, and what is booked where.

var modes = []offline.Mode{offline.Staged, offline.Intermittent}

func policyFor(mode offline.Mode, b offline.Bearer) offline.Policy {
	p := withBearer(staged(), b)
	p.Mode = mode
	return p
}

// floats is the balance of every account that may bear a loss.
func (w *world) floats() map[ledger.AccountID]int64 {
	return map[ledger.AccountID]int64{"bank-a": w.balance("bank-a"), "bank-b": w.balance("bank-b"), GuaranteeAccount: w.balance(GuaranteeAccount)}
}

// TestRule1_CapBreakingVoucherDrawsOnNobody is the attack of one voucher of
// 50,000,000 yen, signed with a purse's own key and handed in by an
// accomplice. An honest payee refuses it (payment_cap), so it draws on
// nobody under any policy: the accomplice bears all of it and is marked
// for it, the payer is revoked, and no bank or fund pays a yen.
func TestRule1_CapBreakingVoucherDrawsOnNobody(t *testing.T) {
	for _, mode := range modes {
		for _, b := range bearers {
			t.Run(mode.String()+"/"+b.bearer.String(), func(t *testing.T) {
				w := newWorld(t, policyFor(mode, b.bearer))
				r := w.registeredRogue("bank-a", 50_000, 10_000, epoch, w.cfg.Policy.CertLifetime)
				mate := w.person("bank-b", 0)
				floats := w.floats()
				v := r.sign(1, offline.Hash{}, 0, serial(mate), 50_000_000, w.clockNow())
				res := findResult(t, w.accomplice(mate, v), v.Hash())
				if res.Outcome != offline.Rejected || res.Reason != offline.ReasonPayeeFault || res.Fault != offline.ErrPaymentCap.Code ||
					res.PayeeLoss != 50_000_000 || res.FromEscrow != 0 || res.FromBearer != 0 {
					t.Fatalf("cap-breaking voucher: %+v", res)
				}
				w.pastEveryDeadline()
				w.closeWindow()
				w.wantBalances(floats)
				// The escrow went back to its owner once nothing of it could
				// be honoured any more.
				w.wantBalances(map[ledger.AccountID]int64{r.escrow: 0, r.wallet: 50_000, mate.escrow: 0, mate.wallet: 0})
				w.wantRevoked(map[offline.Serial]offline.ConflictKind{r.serial(): offline.RuleBreach}, serial(mate))
				c := w.onlyConflict(offline.AcceptedInvalid, serial(mate), v.Hash())
				if c.Revokes {
					t.Error("the accomplice's mark revokes it")
				}
				if sum := w.s.Summary(); sum.RefusedAmount != SumOf(50_000_000) || !sum.LossByPayees.IsZero() {
					t.Errorf("summary: refused %s, payees' loss %s", sum.RefusedAmount, sum.LossByPayees)
				}
			})
		}
	}
}

// TestRule1_SyncedIsProvedByTheLedgersReceipt is the attack of a purse
// funded with 1,000 yen that pays hundreds of vouchers, each claiming it
// synced just before. A synced the ledger never vouched for cannot be
// proved: without a receipt, or with a receipt a bank's key signed, the
// voucher is not genuine, and whoever hands it in is revoked for it. With
// the ledger's real receipt, payments before sync count from that receipt,
// so all the purse can cost is payments-before-sync vouchers at the
// payment cap, less its escrow.
func TestRule1_SyncedIsProvedByTheLedgersReceipt(t *testing.T) {
	w := newWorld(t, withBearer(staged(), offline.PayerBank))
	pol := w.cfg.Policy
	r := w.registeredRogue("bank-a", 50_000, 1_000, epoch, pol.CertLifetime)
	mate, honest := w.person("bank-b", 0), w.person("bank-b", 0)
	first := r.sign(1, offline.Hash{}, 0, serial(mate), 100, w.clockNow())
	w.syncRogue(r, []offline.Voucher{first}, 1)
	if r.receipt.Counter != 1 || r.receipt.Head != first.Hash() {
		t.Fatalf("receipt %+v", r.receipt)
	}
	float := w.balance("bank-a")
	prev := first.Hash()
	var vs []offline.Voucher
	for c := uint64(2); c <= 301; c++ {
		v := r.sign(c, prev, 1, serial(mate), pol.PaymentCap, w.clockNow())
		vs, prev = append(vs, v), v.Hash()
	}
	for i := 0; i < len(vs); i += 100 {
		w.accomplice(mate, vs[i:min(i+100, len(vs))]...)
	}
	cost := float - w.balance("bank-a")
	if want := int64(pol.PaymentsBeforeSync)*pol.PaymentCap - 900; cost != want {
		t.Errorf("300 vouchers after one sync cost the bank %d, want %d: %d payments before sync at the cap, less the escrow left", cost, want, pol.PaymentsBeforeSync)
	}
	for _, v := range vs[pol.PaymentsBeforeSync:] {
		if res := w.result(v); res.Reason != offline.ReasonPayeeFault || res.Fault != offline.ErrSyncRequired.Code {
			t.Fatalf("voucher %d: %+v", v.Counter, res)
		}
	}
	// Claims of syncs the ledger never made: no receipt, a bank's receipt.
	fake := offline.SyncReceipt{Serial: r.serial(), Counter: 400, Head: offline.Hash{4}, Time: w.clockNow()}
	fake.Sign(w.keys["bank-a"])
	r.receipt = fake
	claimed := r.sign(401, offline.Hash{4}, 400, serial(honest), pol.PaymentCap, w.clockNow())
	bare := r.sign(402, claimed.Hash(), 401, serial(honest), pol.PaymentCap, w.clockNow())
	bareRaw := bare.Marshal()
	bareRaw = append(bareRaw[:4+len(r.chain.Bank.Marshal())+2+len(r.chain.Device.Marshal())], append([]byte{0, 0}, bareRaw[4+len(r.chain.Bank.Marshal())+2+len(r.chain.Device.Marshal())+2+len(fake.Marshal()):]...)...)
	rep, err := w.s.Reconcile(w.ctx, honest.bank, Upload{Device: serial(honest), Received: [][]byte{claimed.Marshal(), bareRaw}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rejected != 2 || rep.Vouchers[0].Reason != offline.ReasonForged || rep.Vouchers[1].Reason != offline.ReasonMalformed {
		t.Fatalf("vouchers claiming syncs the ledger never made: %+v", rep.Vouchers)
	}
	if got := float - w.balance("bank-a"); got != cost {
		t.Errorf("they cost the bank %d more", got-cost)
	}
	if w.revoked(honest) != offline.Forgery {
		t.Errorf("the purse that handed them in: revoked %q", w.revoked(honest))
	}
}

// TestRule1_UnregisteredCertificateWithForbiddenLimits is the attack of a
// device certificate its bank's key signed and never registered, with
// limits the policy forbids. An honest payee refuses it (limits_mismatch),
// so under the guarantee policy too nothing of it reaches the guarantee
// fund or any bank: its payee bears it, and the bank is named for signing.
func TestRule1_UnregisteredCertificateWithForbiddenLimits(t *testing.T) {
	for _, b := range bearers {
		t.Run(b.bearer.String(), func(t *testing.T) {
			w := newWorld(t, withBearer(staged(), b.bearer))
			mate := w.person("bank-a", 0)
			loose := w.cfg.Policy.Limits
			loose.PaymentCap, loose.PurseCap, loose.PaymentsBeforeSync = 8_000_000, 80_000_000, 1000
			pub, key, _ := ed25519.GenerateKey(rand.Reader)
			var sn offline.Serial
			rand.Read(sn[:])
			r := &rogue{key: key, chain: offline.Chain{Bank: w.certs["bank-b"],
				Device: w.deviceCertFor("bank-b", sn, pub, loose, w.clockNow(), w.cfg.Policy.CertLifetime)}}
			floats := w.floats()
			v := r.sign(1, offline.Hash{}, 0, serial(mate), 8_000_000, w.clockNow())
			res := findResult(t, w.accomplice(mate, v), v.Hash())
			if res.Reason != offline.ReasonPayeeFault || res.Fault != offline.ErrLimitsMismatch.Code || res.FromBearer != 0 {
				t.Fatalf("voucher of an unregistered device with loose limits: %+v", res)
			}
			w.pastEveryDeadline()
			w.closeWindow()
			w.wantBalances(floats)
			c := w.onlyConflict(offline.BankCertificate, sn, v.Hash())
			if c.Bank != "bank-b" || !c.Revokes {
				t.Errorf("conflict %+v", c)
			}
			if !w.s.Revocations().Contains(sn) {
				t.Error("the serial no bank registered is not on the revocation list")
			}
		})
	}
}

// TestRule1_TimeIsCheckedAgainstTheCertificateAndTheUploadDeadline: a
// voucher dated outside its certificate is one an honest payee refuses,
// and its payer broke a rule; a voucher handed in after its certificate's
// expiry and the upload grace is its payee's loss, whatever the date it
// carries, so backdating into a long-expired certificate gains nothing.
func TestRule1_TimeIsCheckedAgainstTheCertificateAndTheUploadDeadline(t *testing.T) {
	for _, b := range bearers {
		t.Run(b.bearer.String(), func(t *testing.T) {
			w := newWorld(t, withBearer(staged(), b.bearer))
			pol := w.cfg.Policy
			w.advance(-2 * pol.CertLifetime) // registered two lifetimes ago
			old := w.registeredRogue("bank-a", 50_000, 0, epoch.Add(-2*pol.CertLifetime), pol.CertLifetime)
			w.advance(2 * pol.CertLifetime)
			live := w.registeredRogue("bank-a", 50_000, 0, epoch, pol.CertLifetime)
			mate := w.person("bank-b", 0)
			floats := w.floats()
			backdated := old.sign(1, offline.Hash{}, 0, serial(mate), 9_000, old.chain.Device.Issued.Add(time.Hour))
			outside := live.sign(1, offline.Hash{}, 0, serial(mate), 9_000, epoch.Add(-time.Hour))
			rep := w.accomplice(mate, backdated, outside)
			if r := findResult(t, rep, backdated.Hash()); r.Reason != offline.ReasonLate || r.PayeeLoss != 9_000 {
				t.Errorf("backdated into a long-expired certificate: %+v", r)
			}
			if r := findResult(t, rep, outside.Hash()); r.Reason != offline.ReasonPayeeFault || r.Fault != offline.ErrCertificateExpired.Code {
				t.Errorf("dated outside its certificate: %+v", r)
			}
			w.pastEveryDeadline()
			w.closeWindow()
			w.wantBalances(floats)
			if w.revokedSerial(old.serial()) != "" || w.revokedSerial(live.serial()) != offline.RuleBreach {
				t.Errorf("revoked: late %q, outside %q", w.revokedSerial(old.serial()), w.revokedSerial(live.serial()))
			}
		})
	}
}

// TestRule2_RevokedDeviceGetsNoReceiptThatResetsItsCount: a cloned purse,
// once caught, syncs and gets back only the receipt it had: its count of
// payments since its last sync is not reset, so payees refuse it once it
// has made as many as its certificate allows.
func TestRule2_RevokedDeviceGetsNoReceiptThatResetsItsCount(t *testing.T) {
	p := staged()
	p.PaymentsBeforeSync = 3
	w := newWorld(t, p)
	a, b, c := w.person("bank-a", 50_000), w.person("bank-b", 0), w.person("bank-b", 0)
	w.fund(a, 20_000)
	w.pay(a, b, 1_000)
	if rep := w.sync(a); rep.Receipt.Counter != 1 {
		t.Fatalf("first receipt %+v", rep.Receipt)
	}
	twin := clone(t, a.purse)
	w.pay(a, b, 2_000)
	w.payFrom(twin, c, 2_000)
	w.sync(b)
	w.sync(c)
	if w.revoked(a) != offline.DoubleSpend {
		t.Fatalf("clone not caught: %q", w.revoked(a))
	}
	rep := w.sync(a)
	if rep.Receipt.Counter != 1 || a.purse.SinceSync() != 1 {
		t.Fatalf("a revoked purse got receipt %d; %d payments since its last sync", rep.Receipt.Counter, a.purse.SinceSync())
	}
	stale := w.person("bank-a", 0) // never synced: no revocation list
	for range 2 {
		w.pay(a, stale, 100)
	}
	q, err := stale.purse.Request(100, w.clockNow())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.purse.Pay(q, w.clockNow()); offline.CodeOf(err) != offline.ErrSyncRequired.Code {
		t.Fatalf("the revoked purse pays a fourth time since its last sync: %v", err)
	}
}

// TestRule2_ExposureBound: a keyholder forks its chain K times from
// receipts the ledger gave it and pays honest payees every voucher each
// fork allows. What the bearer pays is at most (K+1) × payments before
// sync × payment cap, and exactly that less the escrow here.
func TestRule2_ExposureBound(t *testing.T) {
	p := staged()
	p.PaymentsBeforeSync = 4
	w := newWorld(t, p)
	r := w.registeredRogue("bank-a", 50_000, 5_000, epoch, p.CertLifetime)
	var payees []offline.Serial
	for range 3 * int(p.PaymentsBeforeSync) {
		payees = append(payees, serial(w.person("bank-b", 0)))
	}
	float := w.balance("bank-a")
	const forks = 2
	n := int(p.PaymentsBeforeSync)
	for k := range forks + 1 {
		vs := r.chainOf(1, offline.Hash{}, 0, payees[k*n:(k+1)*n], p.PaymentCap, w.clockNow())
		for i, v := range vs {
			w.upload("bank-b", payees[k*n+i], nil, []offline.Voucher{v})
		}
	}
	cost := float - w.balance("bank-a")
	bound := int64(forks+1) * int64(n) * p.PaymentCap
	if cost > bound || cost != bound-5_000 {
		t.Errorf("%d forks of %d vouchers cost the bank %d, bound %d", forks, n, cost, bound)
	}
	w.wantLoss(map[ledger.AccountID]int64{"bank-a": cost}, 0)
}

// TestRule2_RevokedDeviceKeepsItsEscrowForItsPayees: a caught cheater hands
// in a defund before the last of its payees hands in its voucher. The
// defund waits until no voucher of the device can still be honoured, and
// then takes only what is left: the late payee is paid from escrow, not by
// the bank.
func TestRule2_RevokedDeviceKeepsItsEscrowForItsPayees(t *testing.T) {
	w := newWorld(t, staged())
	r := w.registeredRogue("bank-a", 50_000, 20_000, epoch, w.cfg.Policy.CertLifetime)
	b, c, d, e := w.person("bank-b", 0), w.person("bank-b", 0), w.person("bank-b", 0), w.person("bank-b", 0)
	now := w.clockNow()
	v1 := r.sign(1, offline.Hash{}, 0, serial(b), 3_000, now)
	w.upload("bank-b", serial(b), nil, []offline.Voucher{v1})
	w.syncRogue(r, []offline.Voucher{v1}, 1)
	v2a := r.sign(2, v1.Hash(), 1, serial(c), 5_000, now) // two vouchers with counter 2
	v2b := r.sign(2, v1.Hash(), 1, serial(d), 5_000, now)
	v3 := r.sign(3, v2a.Hash(), 1, serial(e), 4_000, now)
	w.upload("bank-b", serial(c), nil, []offline.Voucher{v2a})
	w.upload("bank-b", serial(d), nil, []offline.Voucher{v2b})
	if w.revokedSerial(r.serial()) != offline.DoubleSpend {
		t.Fatal("the clone was not caught")
	}
	float := w.balance("bank-a")
	defund := r.sign(4, v3.Hash(), 1, offline.Serial{}, 7_000, now)
	if res := findResult(t, w.syncRogue(r, []offline.Voucher{defund}, 4), defund.Hash()); res.Outcome != offline.Pending || res.FromEscrow != 0 {
		t.Fatalf("a revoked device's defund: %+v", res)
	}
	if res := findResult(t, w.upload("bank-b", serial(e), nil, []offline.Voucher{v3}), v3.Hash()); res.FromEscrow != 4_000 || res.FromBearer != 0 {
		t.Errorf("the payee who came after the defund: %+v", res)
	}
	w.pastEveryDeadline()
	w.closeWindow()
	if res := w.result(defund); res.Outcome != offline.Settled || res.FromEscrow != 3_000 || res.PayeeLoss != 4_000 {
		t.Errorf("the defund after the deadline: %+v", res)
	}
	if got := float - w.balance("bank-a"); got != 0 {
		t.Errorf("the bank paid %d more for the cheater's payees", got)
	}
	w.wantBalances(map[ledger.AccountID]int64{r.escrow: 0, r.wallet: 30_000 + 3_000})
}

// TestRule2_NothingOfARevokedDeviceIsHonouredPastItsDeadline: a revoked
// device gets no new certificate, and what it pays reaches the ledger too
// late once its certificate has expired and the upload grace has passed.
func TestRule2_NothingOfARevokedDeviceIsHonouredPastItsDeadline(t *testing.T) {
	w := newWorld(t, staged())
	a, b := w.person("bank-a", 50_000), w.person("bank-b", 0)
	w.fund(a, 10_000)
	v := w.pay(a, b, 5_000)
	if _, err := w.s.RetireDevice(w.ctx, "bank-a", serial(a)); err != nil {
		t.Fatal(err)
	}
	w.advance(time.Hour)
	renewed := w.deviceCertFor("bank-a", serial(a), a.purse.PublicKey(), w.cfg.Policy.Limits, w.clockNow(), w.cfg.Policy.CertLifetime)
	if _, err := w.s.RegisterDevice(w.ctx, "bank-a", renewed, a.wallet); ErrorCode(err) != ErrDeviceRevoked.Code {
		t.Errorf("a revoked device's certificate was renewed: %v", err)
	}
	w.advance(w.cfg.Policy.CertLifetime + w.cfg.Policy.UploadGrace + time.Hour)
	float := w.balance("bank-a")
	if res := findResult(t, w.sync(b), v.Hash()); res.Reason != offline.ReasonLate || res.PayeeLoss != 5_000 {
		t.Errorf("a voucher handed in after the deadline: %+v", res)
	}
	w.pastEveryDeadline()
	w.closeWindow()
	if w.balance("bank-a") != float || w.balance(b.wallet) != 0 {
		t.Error("a late voucher was paid")
	}
	w.wantBalances(map[ledger.AccountID]int64{a.escrow: 0, a.wallet: 50_000})
}

// TestRule3_TheIssuesCycleWithWindowsClosingBetweenUploads: Y pays X, X
// pays Y, Y pays W, and the uploads come in the order that once had an
// honest purse revoked, with the window closing after each. Nobody is
// revoked, nobody bears a loss, and everyone ends whole, under every
// policy.
func TestRule3_TheIssuesCycleWithWindowsClosingBetweenUploads(t *testing.T) {
	for _, b := range bearers {
		t.Run(b.bearer.String(), func(t *testing.T) {
			w := newWorld(t, withBearer(intermittent(), b.bearer))
			x, y, wp := w.person("bank-a", 0), w.person("bank-b", 50_000), w.person("bank-a", 0)
			w.fund(y, 10_000)
			y1 := w.pay(y, x, 10_000)
			x1 := w.pay(x, y, 10_000)
			y2 := w.pay(y, wp, 10_000)
			for _, step := range []func(){
				func() { w.reconcile(wp, nil, []offline.Voucher{y2}) },
				func() { w.reconcile(x, []offline.Voucher{x1}, nil) },
				func() { w.reconcile(y, []offline.Voucher{y1}, nil) },
			} {
				step()
				w.advance(time.Hour)
				w.closeWindow()
			}
			w.pastEveryDeadline()
			w.closeWindow()
			w.wantRevoked(nil, serial(x), serial(y), serial(wp))
			w.wantLoss(nil, 0)
			w.wantBalances(map[ledger.AccountID]int64{x.escrow: 0, y.escrow: 0, wp.escrow: 10_000, y.wallet: 40_000,
				"bank-a": bankFloat, "bank-b": bankFloat - 50_000, GuaranteeAccount: w.cfg.GuaranteeFund})
		})
	}
}

// TestRule3_APayersVouchersSettleInCounterOrder: under the payee policy,
// where who goes short matters, a payer's vouchers take its escrow in
// counter order whatever order they arrive in: the later voucher leaves
// room for the earlier ones the ledger has not seen.
func TestRule3_APayersVouchersSettleInCounterOrder(t *testing.T) {
	for _, reverse := range []bool{false, true} {
		t.Run(fmt.Sprintf("reverse=%v", reverse), func(t *testing.T) {
			w := newWorld(t, withBearer(staged(), offline.Payee))
			a, b, c := w.person("bank-a", 50_000), w.person("bank-b", 0), w.person("bank-b", 0)
			w.fund(a, 10_000)
			a.purse.ForgeBalance(12_000)
			v1, v2 := w.pay(a, b, 6_000), w.pay(a, c, 6_000)
			first, second := []*person{b, c}, []offline.Voucher{v1, v2}
			if reverse {
				first, second = []*person{c, b}, []offline.Voucher{v2, v1}
			}
			if res := findResult(t, w.reconcile(first[0], nil, second[:1]), second[0].Hash()); reverse && res.Outcome != offline.Pending {
				t.Errorf("the later voucher, first: %+v", res)
			}
			w.reconcile(first[1], nil, second[1:])
			w.wantBalances(map[ledger.AccountID]int64{b.wallet: 6_000, c.wallet: 4_000, a.escrow: 0})
			w.wantLoss(nil, 2_000)
			w.wantRevoked(map[offline.Serial]offline.ConflictKind{serial(a): offline.Overspend}, serial(b), serial(c))
		})
	}
}

// TestRule3_UnderThePayeePolicyWhoseCloneVoucherGoesShortDependsOnArrival
// shows the one exception to order independence docs/offline.md states.
// Two vouchers with one counter, from a cloned purse whose escrow holds
// one of them: whichever reaches the ledger first is paid in full, since
// a voucher alone in its counter with escrow to cover it must be paid (or
// no offline payment could settle before its payer's certificate expired),
// and the other goes short. Under the other policies both payees are paid.
func TestRule3_UnderThePayeePolicyWhoseCloneVoucherGoesShortDependsOnArrival(t *testing.T) {
	for _, bFirst := range []bool{true, false} {
		w := newWorld(t, withBearer(staged(), offline.Payee))
		a, b, c := w.person("bank-a", 50_000), w.person("bank-b", 0), w.person("bank-b", 0)
		w.fund(a, 6_000)
		twin := clone(t, a.purse)
		w.pay(a, b, 6_000)
		w.payFrom(twin, c, 6_000)
		if bFirst {
			w.sync(b)
			w.sync(c)
			w.wantBalances(map[ledger.AccountID]int64{b.wallet: 6_000, c.wallet: 0})
		} else {
			w.sync(c)
			w.sync(b)
			w.wantBalances(map[ledger.AccountID]int64{b.wallet: 0, c.wallet: 6_000})
		}
		w.wantLoss(nil, 6_000)
	}
}

// TestRule4_ImpostorCertificateBlamesTheBankThatSignedIt: a bank certifies
// its own key under a serial another bank registered and pays an honest
// purse, which cannot tell. The payee is paid in full by the bank that
// signed, under every policy; the bank is named; the honest device whose
// serial it took is neither revoked nor touched, and its own vouchers
// settle as before.
func TestRule4_ImpostorCertificateBlamesTheBankThatSignedIt(t *testing.T) {
	for _, b := range bearers {
		t.Run(b.bearer.String(), func(t *testing.T) {
			w := newWorld(t, withBearer(staged(), b.bearer))
			victim, payee, other := w.person("bank-a", 50_000), w.person("bank-a", 0), w.person("bank-a", 0)
			w.fund(victim, 10_000)
			pub, key, _ := ed25519.GenerateKey(rand.Reader)
			r := &rogue{key: key, chain: offline.Chain{Bank: w.certs["bank-b"],
				Device: w.deviceCertFor("bank-b", serial(victim), pub, w.cfg.Policy.Limits, w.clockNow(), w.cfg.Policy.CertLifetime)}}
			q, err := payee.purse.Request(10_000, w.clockNow())
			if err != nil {
				t.Fatal(err)
			}
			v := r.sign(1, offline.Hash{}, 0, q.Payee, q.Amount, w.clockNow())
			v.Nonce = q.Nonce
			v = signWith(key, v)
			if err := payee.purse.Accept(v, w.clockNow()); err != nil {
				t.Fatalf("an honest payee cannot tell an impostor certificate: %v", err)
			}
			bankB := w.balance("bank-b")
			res := findResult(t, w.sync(payee), v.Hash())
			if res.Outcome != offline.Settled || res.FromBearer != 10_000 || res.Bearer != "bank-b" {
				t.Fatalf("the impostor's voucher: %+v", res)
			}
			if got := bankB - w.balance("bank-b"); got != 10_000 {
				t.Errorf("bank-b paid %d", got)
			}
			c := w.onlyConflict(offline.BankCertificate, serial(victim), v.Hash())
			if c.Bank != "bank-b" || c.Revokes {
				t.Errorf("conflict %+v", c)
			}
			own := w.pay(victim, other, 4_000) // the victim's own counter 1
			if res := findResult(t, w.sync(other), own.Hash()); res.Outcome != offline.Settled || res.FromEscrow != 4_000 {
				t.Errorf("the victim's own voucher: %+v", res)
			}
			w.wantRevoked(nil, serial(victim), serial(payee), serial(other))
			w.wantBalances(map[ledger.AccountID]int64{victim.escrow: 6_000, payee.wallet: 10_000})
		})
	}
}

// TestRule4_CertificateForASerialNoBankRegistered: the bank whose key
// signed pays, and the serial goes on the revocation list, whatever the
// policy (the guarantee fund pays nothing).
func TestRule4_CertificateForASerialNoBankRegistered(t *testing.T) {
	w := newWorld(t, withBearer(staged(), offline.Guarantee))
	payee := w.person("bank-a", 0)
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	var sn offline.Serial
	rand.Read(sn[:])
	r := &rogue{key: key, chain: offline.Chain{Bank: w.certs["bank-b"],
		Device: w.deviceCertFor("bank-b", sn, pub, w.cfg.Policy.Limits, w.clockNow(), w.cfg.Policy.CertLifetime)}}
	v := r.sign(1, offline.Hash{}, 0, serial(payee), 8_000, w.clockNow())
	fund := w.balance(GuaranteeAccount)
	if res := findResult(t, w.reconcile(payee, nil, []offline.Voucher{v}), v.Hash()); res.Bearer != "bank-b" || res.FromBearer != 8_000 {
		t.Fatalf("%+v", res)
	}
	if w.balance(GuaranteeAccount) != fund {
		t.Error("the guarantee fund paid for a bank's unregistered certificate")
	}
	if !w.s.Revocations().Contains(sn) {
		t.Error("the phantom serial is not revoked")
	}
	if _, err := w.s.RegisterDevice(w.ctx, "bank-b", r.chain.Device, w.wallet("bank-b", "late", 0)); ErrorCode(err) != ErrDeviceExists.Code {
		t.Errorf("registering the serial afterwards: %v", err)
	}
}

// TestRule5_CertificateRenewal: a device in good standing gets a renewed
// certificate registered; vouchers under the old and the new one settle;
// a renewal must be issued later than the one it replaces.
func TestRule5_CertificateRenewal(t *testing.T) {
	w := newWorld(t, staged())
	a, b := w.person("bank-a", 50_000), w.person("bank-b", 0)
	w.fund(a, 10_000)
	old := w.pay(a, b, 1_000)
	w.advance(20 * 24 * time.Hour)
	cur := *a.purse.Chain()
	renewed := w.deviceCertFor("bank-a", serial(a), a.purse.PublicKey(), w.cfg.Policy.Limits, w.clockNow(), w.cfg.Policy.CertLifetime)
	if _, err := w.s.RegisterDevice(w.ctx, "bank-a", renewed, a.wallet); err != nil {
		t.Fatal(err)
	}
	if err := a.purse.Install(offline.Chain{Bank: cur.Bank, Device: renewed}, w.clockNow()); err != nil {
		t.Fatal(err)
	}
	if res := findResult(t, w.sync(b), old.Hash()); res.Outcome != offline.Settled {
		t.Errorf("the voucher under the first certificate: %+v", res)
	}
	w.advance(15 * 24 * time.Hour) // past the first certificate's expiry
	c := w.person("bank-b", 0)
	fresh := w.pay(a, c, 2_000)
	if res := findResult(t, w.sync(c), fresh.Hash()); res.Outcome != offline.Settled {
		t.Errorf("the voucher under the renewed certificate: %+v", res)
	}
	stale := w.deviceCertFor("bank-a", serial(a), a.purse.PublicKey(), w.cfg.Policy.Limits, epoch.Add(time.Hour), w.cfg.Policy.CertLifetime)
	if _, err := w.s.RegisterDevice(w.ctx, "bank-a", stale, a.wallet); ErrorCode(err) == "" {
		t.Error("registered a renewal issued before the current certificate")
	}
	w.wantRevoked(nil, serial(a), serial(b), serial(c))
}

// TestRule5_HonestDefundAfterExpiryIsNoConflict: a purse that defunds after
// its certificate expired has done nothing wrong.
func TestRule5_HonestDefundAfterExpiryIsNoConflict(t *testing.T) {
	w := newWorld(t, staged())
	a := w.person("bank-a", 50_000)
	w.fund(a, 10_000)
	w.sync(a)
	w.advance(w.cfg.Policy.CertLifetime + time.Hour)
	d, err := a.purse.Defund(10_000, w.clockNow())
	if err != nil {
		t.Fatal(err)
	}
	if res := findResult(t, w.sync(a), d.Hash()); res.Outcome != offline.Settled || res.FromEscrow != 10_000 {
		t.Fatalf("defund after expiry: %+v", res)
	}
	w.wantRevoked(nil, serial(a))
	w.wantBalances(map[ledger.AccountID]int64{a.escrow: 0, a.wallet: 50_000})
}

// TestRule5_RetiredPurseIsReturnedOnlyWhenNothingOfItCanArrive: a purse is
// lost; a copy of it keeps paying payees whose revocation lists are old.
// Its escrow pays them until its certificate's expiry and the upload grace
// (the owner's loss, as with cash); only after that does what is left go
// back to the owner, and what the copy pays after that is its payees'.
func TestRule5_RetiredPurseIsReturnedOnlyWhenNothingOfItCanArrive(t *testing.T) {
	w := newWorld(t, withBearer(staged(), offline.PayerBank))
	a, b, c := w.person("bank-a", 50_000), w.person("bank-b", 0), w.person("bank-b", 0)
	w.fund(a, 10_000)
	copied := clone(t, a.purse)
	if _, err := w.s.RetireDevice(w.ctx, "bank-a", serial(a)); err != nil {
		t.Fatal(err)
	}
	v1 := w.payFrom(copied, b, 3_000)
	w.closeWindow()
	w.wantBalances(map[ledger.AccountID]int64{a.escrow: 10_000})
	if res := findResult(t, w.sync(b), v1.Hash()); res.FromEscrow != 3_000 {
		t.Errorf("the copy's payment before the deadline: %+v", res)
	}
	w.advance(w.cfg.Policy.CertLifetime - 24*time.Hour)
	v2 := w.payFrom(copied, c, 2_000)
	w.advance(w.cfg.Policy.UploadGrace + 48*time.Hour)
	w.closeWindow()
	w.wantBalances(map[ledger.AccountID]int64{a.escrow: 0, a.wallet: 40_000 + 7_000})
	float := w.balance("bank-a")
	if res := findResult(t, w.sync(c), v2.Hash()); res.Reason != offline.ReasonLate {
		t.Errorf("the copy's payment after the deadline: %+v", res)
	}
	if w.balance("bank-a") != float {
		t.Error("the bank paid for a retired purse's copy after its deadline")
	}
	if len(w.s.Conflicts()) != 0 {
		t.Errorf("conflicts %+v", w.s.Conflicts())
	}
}

// TestRule6_AShortfallPassedOnIsBookedOnce: a forger pays A 10,000 it does
// not have; A pays it on to B, B to C (intermittent, payee policy). The
// last payee goes without 10,000, and the books say so once: not 10,000 at
// every hop.
func TestRule6_AShortfallPassedOnIsBookedOnce(t *testing.T) {
	w := newWorld(t, withBearer(intermittent(), offline.Payee))
	f := w.person("bank-a", 0)
	a, b, c := w.person("bank-a", 0), w.person("bank-b", 0), w.person("bank-a", 0)
	f.purse.ForgeBalance(10_000)
	v0 := w.pay(f, a, 10_000)
	v1 := w.pay(a, b, 10_000)
	v2 := w.pay(b, c, 10_000)
	w.sync(c)
	w.sync(b)
	w.sync(a)
	w.sync(f)
	w.pastEveryDeadline()
	w.closeWindow()
	w.wantLoss(nil, 10_000)
	w.wantRevoked(map[offline.Serial]offline.ConflictKind{serial(f): offline.Overspend}, serial(a), serial(b), serial(c))
	for _, v := range []offline.Voucher{v0, v1, v2} {
		if res := w.result(v); res.Outcome != offline.Settled || res.PayeeLoss != 10_000 {
			t.Errorf("voucher %s#%d: %+v", v.Payer, v.Counter, res)
		}
	}
}

// TestRule6_TotalsDoNotOverflow: vouchers of amounts near the largest an
// int64 holds add up exactly.
func TestRule6_TotalsDoNotOverflow(t *testing.T) {
	w := newWorld(t, staged())
	r := w.registeredRogue("bank-a", 0, 0, epoch, w.cfg.Policy.CertLifetime)
	mate := w.person("bank-b", 0)
	const huge = int64(1) << 62
	var vs []offline.Voucher
	prev := offline.Hash{}
	for c := uint64(1); c <= 4; c++ {
		v := r.sign(c, prev, 0, serial(mate), huge, w.clockNow())
		vs, prev = append(vs, v), v.Hash()
	}
	w.accomplice(mate, vs...)
	sum := w.s.Summary()
	if got := sum.RefusedAmount.String(); got != "18446744073709551616" {
		t.Errorf("refused %s, want 4 × 2^62", got)
	}
	if sum.RefusedAmount.Clamp() != int64(^uint64(0)>>1) {
		t.Errorf("clamped to %d", sum.RefusedAmount.Clamp())
	}
}
