package settlement

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/offline"
)

// The attack catalogue: each test plays one way of cheating offline and
// checks who is credited, who is revoked, what is booked as loss and the
// evidence the settler keeps.

var bearers = []struct {
	bearer offline.Bearer
	acct   ledger.AccountID // "" when the payee bears the loss
}{
	{offline.PayerBank, "bank-a"},
	{offline.Guarantee, GuaranteeAccount},
	{offline.Payee, ""},
}

func withBearer(p offline.Policy, b offline.Bearer) offline.Policy {
	p.LossBearer = b
	return p
}

// bearerBalance is the balance of the loss bearer's account, 0 for payee-bears.
func (w *world) bearerBalance(acct ledger.AccountID) int64 {
	if acct == "" {
		return 0
	}
	return w.balance(acct)
}

// onlyConflict finds the single conflict of a kind and checks its device and evidence.
func (w *world) onlyConflict(kind offline.ConflictKind, device offline.Serial, evidence ...offline.Hash) Conflict {
	w.t.Helper()
	var found []Conflict
	for _, c := range w.s.Conflicts() {
		if c.Kind == kind {
			found = append(found, c)
		}
	}
	if len(found) != 1 {
		w.t.Fatalf("%d conflicts of kind %s, want 1: %+v", len(found), kind, w.s.Conflicts())
	}
	c := found[0]
	if c.Device != device {
		w.t.Errorf("%s attributed to %s, want %s", kind, c.Device, device)
	}
	if !slices.Equal(c.Evidence, evidence) {
		w.t.Errorf("%s evidence %v, want %v", kind, c.Evidence, evidence)
	}
	return c
}

// wantRevoked checks the devices revoked, as the settler and the signed
// revocation list say.
func (w *world) wantRevoked(want map[offline.Serial]offline.ConflictKind, honest ...offline.Serial) {
	w.t.Helper()
	crl := w.s.Revocations()
	if err := crl.Verify(w.s.RootKey()); err != nil {
		w.t.Fatalf("revocation list: %v", err)
	}
	if crl.Seq != uint64(len(want)) || len(crl.Serials) != len(want) {
		w.t.Errorf("revocation list %d holds %d serials, want %d", crl.Seq, len(crl.Serials), len(want))
	}
	for sn, kind := range want {
		if d, err := w.s.Device(sn); err == nil && d.Revoked != kind {
			w.t.Errorf("device %s revoked for %q, want %q", sn, d.Revoked, kind)
		}
		if !crl.Contains(sn) {
			w.t.Errorf("revocation list lacks %s", sn)
		}
	}
	for _, sn := range honest {
		if d, err := w.s.Device(sn); err != nil || d.Revoked != "" {
			w.t.Errorf("honest device %s: revoked %q, err %v", sn, d.Revoked, err)
		}
		if crl.Contains(sn) {
			w.t.Errorf("revocation list carries honest device %s", sn)
		}
	}
	if sum := w.s.Summary(); sum.RevokedDevices != len(want) || sum.RevocationSeq != uint64(len(want)) {
		w.t.Errorf("summary counts %d revoked devices (seq %d), want %d", sum.RevokedDevices, sum.RevocationSeq, len(want))
	}
}

// wantLoss checks the summary's losses.
func (w *world) wantLoss(byBearer map[ledger.AccountID]int64, byPayees int64) {
	w.t.Helper()
	sum := w.s.Summary()
	got := map[ledger.AccountID]int64{}
	for k, v := range sum.LossByBearer {
		if v != 0 {
			got[k] = v
		}
	}
	want := map[ledger.AccountID]int64{}
	for k, v := range byBearer {
		if k != "" && v != 0 {
			want[k] = v
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || sum.LossByPayees != byPayees {
		w.t.Errorf("losses: bearers %v payees %d, want bearers %v payees %d", got, sum.LossByPayees, want, byPayees)
	}
}

func serial(p *person) offline.Serial { return p.purse.Serial() }

func findResult(t *testing.T, rep Report, h offline.Hash) VoucherResult {
	t.Helper()
	for _, r := range rep.Vouchers {
		if r.Hash == h {
			return r
		}
	}
	t.Fatalf("report has no voucher %s: %+v", h, rep)
	return VoucherResult{}
}

// rogue is a device whose key the test holds, to sign what no purse would.
type rogue struct {
	key    ed25519.PrivateKey
	chain  offline.Chain
	wallet ledger.AccountID
	escrow ledger.AccountID
}

func (r *rogue) serial() offline.Serial { return r.chain.Device.Serial }

// sign makes a voucher the rogue's key signs, whatever its dates.
func (r *rogue) sign(counter uint64, prev offline.Hash, payee offline.Serial, amount int64, at time.Time) offline.Voucher {
	v := offline.Voucher{Chain: r.chain, Payer: r.chain.Device.Serial, Counter: counter, Prev: prev,
		Payee: payee, Amount: amount, Time: at.Truncate(time.Millisecond)}
	rand.Read(v.Nonce[:])
	copy(v.Signature[:], ed25519.Sign(r.key, v.SignedBytes()))
	return v
}

// registeredRogue provisions a registered device with a certificate valid
// from..from+life, with a wallet holding cash and escrow funded by fund.
func (w *world) registeredRogue(bank ledger.AccountID, cash, fund int64, from time.Time, life time.Duration) *rogue {
	w.t.Helper()
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	r := &rogue{key: key}
	r.chain = offline.Chain{Bank: w.certs[bank], Device: w.deviceCert(bank, pub, from, life)}
	w.people++
	r.wallet = ledger.AccountID(fmt.Sprintf("w-rogue%d", w.people))
	w.must(w.l.OpenAccount(w.ctx, w.opID(), ledger.AccountSpec{ID: r.wallet, Kind: ledger.KindWallet, Intermediary: bank}))
	w.must(w.l.Transfer(w.ctx, w.opID(), bank, r.wallet, cash))
	var err error
	if r.escrow, err = w.s.RegisterDevice(w.ctx, bank, r.chain.Device, r.wallet); err != nil {
		w.t.Fatal(err)
	}
	if fund > 0 {
		w.must(w.l.Intermediary(bank).Transfer(w.ctx, w.opID(), r.wallet, r.escrow, fund))
	}
	return r
}

// (a) A purse saved before a payment and loaded after it pays someone else
// with the same counter.
func TestAttack_RolledBackPurseDoubleSpends(t *testing.T) {
	for _, tc := range bearers {
		t.Run(tc.bearer.String(), func(t *testing.T) {
			w := newWorld(t, withBearer(staged(), tc.bearer))
			a, b, c := w.person("bank-a", 50_000), w.person("bank-a", 0), w.person("bank-b", 0)
			w.fund(a, 10_000)
			saved := a.purse.Save()
			v1 := w.pay(a, b, 7_000)
			var err error
			if a.purse, err = offline.LoadPurse(saved); err != nil {
				t.Fatal(err)
			}
			v2 := w.pay(a, c, 7_000)
			if v1.Counter != 1 || v2.Counter != 1 {
				t.Fatalf("counters %d and %d, want both 1", v1.Counter, v2.Counter)
			}
			before := w.bearerBalance(tc.acct)
			if rep := w.sync(b); rep.Settled != 1 || len(rep.Conflicts) != 0 {
				t.Fatalf("first voucher: %+v", rep)
			}
			rep := w.sync(c)
			r := findResult(t, rep, v2.Hash())
			cGets := int64(7_000)
			if tc.acct == "" {
				cGets = 3_000
			}
			if r.Outcome != offline.Settled || r.FromEscrow != 3_000 || r.FromEscrow+r.FromBearer != cGets {
				t.Errorf("second voucher %+v", r)
			}
			w.onlyConflict(offline.DoubleSpend, serial(a), v1.Hash(), v2.Hash())
			w.wantRevoked(map[offline.Serial]offline.ConflictKind{serial(a): offline.DoubleSpend}, serial(b), serial(c))
			w.wantBalances(map[ledger.AccountID]int64{a.escrow: 0, a.wallet: 40_000, b.wallet: 7_000, c.wallet: cGets})
			if got := before - w.bearerBalance(tc.acct); got != cGets-3_000 {
				t.Errorf("bearer paid %d, want %d", got, cGets-3_000)
			}
			w.wantLoss(map[ledger.AccountID]int64{tc.acct: cGets - 3_000}, 7_000-cGets)
			// The rolled-back purse's own upload changes nothing.
			if rep := w.sync(a); rep.Duplicate != 1 || rep.Settled != 0 {
				t.Errorf("cheater's own upload: %+v", rep)
			}
			w.wantBalances(map[ledger.AccountID]int64{a.escrow: 0, b.wallet: 7_000, c.wallet: cGets})
		})
	}
}

// (b) A fork without two vouchers in one slot: the rolled-back purse pays
// C with counter 1' and D with counter 2 chained to 1'; the ledger only
// ever sees B's counter 1 and D's counter 2.
func TestAttack_ChainForkWithoutSameCounterPair(t *testing.T) {
	for _, order := range []string{"B-then-D", "D-then-B"} {
		t.Run(order, func(t *testing.T) {
			w := newWorld(t, staged())
			a := w.person("bank-a", 50_000)
			b, c, d := w.person("bank-a", 0), w.person("bank-b", 0), w.person("bank-b", 0)
			w.fund(a, 10_000)
			saved := a.purse.Save()
			v1 := w.pay(a, b, 4_000)
			var err error
			if a.purse, err = offline.LoadPurse(saved); err != nil {
				t.Fatal(err)
			}
			w.pay(a, c, 4_000) // counter 1', never uploaded
			v2 := w.pay(a, d, 4_000)
			if v2.Counter != 2 || v2.Prev == v1.Hash() {
				t.Fatalf("fork voucher counter %d chains to %v", v2.Counter, v2.Prev)
			}
			first, second := b, d
			ev := []offline.Hash{v1.Hash(), v2.Hash()}
			if order == "D-then-B" {
				first, second = d, b
				ev = []offline.Hash{v2.Hash(), v1.Hash()}
			}
			if rep := w.sync(first); rep.Settled != 1 || len(rep.Conflicts) != 0 {
				t.Fatalf("first upload: %+v", rep)
			}
			rep := w.sync(second)
			if rep.Settled != 1 || len(rep.Conflicts) != 1 || rep.Conflicts[0].Kind != offline.ChainFork {
				t.Fatalf("second upload: %+v", rep)
			}
			w.onlyConflict(offline.ChainFork, serial(a), ev...)
			w.wantRevoked(map[offline.Serial]offline.ConflictKind{serial(a): offline.ChainFork}, serial(b), serial(c), serial(d))
			w.wantBalances(map[ledger.AccountID]int64{a.escrow: 2_000, b.wallet: 4_000, c.wallet: 0, d.wallet: 4_000})
			w.wantLoss(nil, 0)
			if sum := w.s.Summary(); sum.Conflicts[offline.DoubleSpend] != 0 || sum.Settled != 2 {
				t.Errorf("summary %+v", sum)
			}
		})
	}
}

// (c) A purse whose balance was forged spends beyond what was funded.
func TestAttack_ForgedBalanceOverspends(t *testing.T) {
	for _, tc := range bearers {
		t.Run(tc.bearer.String(), func(t *testing.T) {
			w := newWorld(t, withBearer(staged(), tc.bearer))
			a, b := w.person("bank-a", 50_000), w.person("bank-b", 0)
			w.fund(a, 5_000)
			a.purse.ForgeBalance(30_000)
			v1 := w.pay(a, b, 4_000)
			v2 := w.pay(a, b, 4_000)
			before := w.bearerBalance(tc.acct)
			rep := w.sync(b)
			if rep.Settled != 2 {
				t.Fatalf("%+v", rep)
			}
			r1, r2 := findResult(t, rep, v1.Hash()), findResult(t, rep, v2.Hash())
			if r1.FromEscrow != 4_000 || r1.FromBearer != 0 || r2.FromEscrow != 1_000 {
				t.Errorf("results %+v %+v", r1, r2)
			}
			bGets, bearerPaid, payeesLost := int64(8_000), int64(3_000), int64(0)
			if tc.acct == "" {
				bGets, bearerPaid, payeesLost = 5_000, 0, 3_000
			} else if r2.Bearer != tc.acct || r2.FromBearer != 3_000 {
				t.Errorf("second voucher borne by %q: %+v", r2.Bearer, r2)
			}
			w.onlyConflict(offline.Overspend, serial(a), v2.Hash())
			w.wantRevoked(map[offline.Serial]offline.ConflictKind{serial(a): offline.Overspend}, serial(b))
			w.wantBalances(map[ledger.AccountID]int64{a.escrow: 0, b.wallet: bGets})
			if got := before - w.bearerBalance(tc.acct); got != bearerPaid {
				t.Errorf("bearer paid %d, want %d", got, bearerPaid)
			}
			w.wantLoss(map[ledger.AccountID]int64{tc.acct: bearerPaid}, payeesLost)
		})
	}
}

// (d) A payee changes the amount of a real voucher and uploads it.
func TestAttack_TamperedVoucherRevokesUploader(t *testing.T) {
	w := newWorld(t, staged())
	a, b := w.person("bank-a", 50_000), w.person("bank-b", 0)
	w.fund(a, 10_000)
	v := w.pay(a, b, 3_000)
	tampered := v
	tampered.Amount = 9_000
	raw := tampered.Marshal()
	rep, err := w.s.Reconcile(w.ctx, b.bank, Upload{Device: serial(b), Received: [][]byte{raw}})
	if err != nil {
		t.Fatal(err)
	}
	w.conserved()
	digest := rejectedDigest(raw)
	r := findResult(t, rep, digest)
	if r.Outcome != offline.Rejected || r.Reason != offline.ReasonForged || rep.Rejected != 1 {
		t.Errorf("tampered voucher: %+v", rep)
	}
	w.onlyConflict(offline.Forgery, serial(b), digest)
	w.wantRevoked(map[offline.Serial]offline.ConflictKind{serial(b): offline.Forgery}, serial(a))
	w.wantBalances(map[ledger.AccountID]int64{a.escrow: 10_000, b.wallet: 0})
	if stored, res, ok := w.s.Voucher(digest); !ok || string(stored) != string(raw) || res.Outcome != offline.Rejected {
		t.Errorf("evidence not kept: %v %+v", ok, res)
	}
	// The genuine voucher, from the payer, still settles once.
	rep = w.sync(a)
	if rep.Settled != 1 || findResult(t, rep, v.Hash()).FromEscrow != 3_000 {
		t.Errorf("genuine voucher: %+v", rep)
	}
	w.wantBalances(map[ledger.AccountID]int64{a.escrow: 7_000, b.wallet: 3_000})
	w.wantLoss(nil, 0)
}

// (e) A voucher from a device whose certificate no certified bank key signed.
func TestAttack_WhollyForgedVoucher(t *testing.T) {
	for _, how := range []string{"fake-root", "uncertified-bank-key"} {
		t.Run(how, func(t *testing.T) {
			w := newWorld(t, staged())
			b := w.person("bank-a", 0)
			_, fakeBank, _ := ed25519.GenerateKey(rand.Reader)
			bankCert := w.certs["bank-a"]
			wantCode := offline.ErrBadSignature.Code
			if how == "fake-root" {
				_, fakeRoot, _ := ed25519.GenerateKey(rand.Reader)
				var err error
				if bankCert, err = offline.IssueBankCert(fakeRoot, "bank-a", fakeBank.Public().(ed25519.PublicKey), time.Now().Add(time.Hour)); err != nil {
					t.Fatal(err)
				}
				wantCode = offline.ErrUnknownBank.Code
			}
			pub, key, _ := ed25519.GenerateKey(rand.Reader)
			var sn offline.Serial
			rand.Read(sn[:])
			dc, err := offline.IssueDeviceCert(fakeBank, offline.DeviceCert{Serial: sn, Key: pub, BankID: "bank-a",
				Limits: w.cfg.Policy.Limits, Issued: time.Now().Add(-time.Minute), Expires: time.Now().Add(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			forger := &rogue{key: key, chain: offline.Chain{Bank: bankCert, Device: dc}}
			q, err := b.purse.Request(5_000, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			v := forger.sign(1, offline.Hash{}, serial(b), 5_000, time.Now())
			v.Nonce = q.Nonce
			copy(v.Signature[:], ed25519.Sign(key, v.SignedBytes()))
			if err := b.purse.Accept(v, time.Now()); offline.CodeOf(err) != wantCode {
				t.Errorf("honest purse accepted a forged voucher: %v", err)
			}
			devices := w.s.Summary().Devices
			rep := w.reconcile(b, nil, []offline.Voucher{v})
			digest := rejectedDigest(v.Marshal())
			if r := findResult(t, rep, digest); r.Outcome != offline.Rejected || r.Reason != offline.ReasonForged {
				t.Errorf("forged voucher: %+v", r)
			}
			w.onlyConflict(offline.Forgery, serial(b), digest)
			w.wantRevoked(map[offline.Serial]offline.ConflictKind{serial(b): offline.Forgery})
			if _, err := w.s.Device(sn); ErrorCode(err) != ErrUnknownDevice.Code {
				t.Errorf("the forger's serial became a device: %v", err)
			}
			if sum := w.s.Summary(); sum.Devices != devices || sum.Settled != 0 || sum.Rejected != 1 {
				t.Errorf("summary %+v", sum)
			}
			w.wantBalances(map[ledger.AccountID]int64{b.wallet: 0})
			w.wantLoss(nil, 0)
		})
	}
}

// (f) A device pays after its certificate expired: its escrow pays what it
// holds and the payee, who should have refused, bears the rest whatever
// the policy.
func TestAttack_ExpiredCertificate(t *testing.T) {
	for _, tc := range bearers {
		t.Run(tc.bearer.String(), func(t *testing.T) {
			w := newWorld(t, withBearer(staged(), tc.bearer))
			b := w.person("bank-b", 0)
			start := time.Now().Add(-time.Minute)
			r := w.registeredRogue("bank-a", 10_000, 5_000, start, 2*time.Minute)
			v := r.sign(1, offline.Hash{}, serial(b), 8_000, start.Add(3*time.Minute))
			if v.ValidAtItsTime() == nil {
				t.Fatal("voucher is dated within its certificate")
			}
			before := w.bearerBalance(tc.acct)
			rep := w.reconcile(b, nil, []offline.Voucher{v})
			res := findResult(t, rep, v.Hash())
			if res.Outcome != offline.Settled || res.FromEscrow != 5_000 || res.FromBearer != 0 || res.PayeeLoss != 3_000 {
				t.Errorf("expired voucher: %+v", res)
			}
			c := w.onlyConflict(offline.ExpiredCertificate, r.serial(), v.Hash())
			if c.Seq != 1 {
				t.Errorf("expired certificate is not the first conflict: %+v", w.s.Conflicts())
			}
			w.wantRevoked(map[offline.Serial]offline.ConflictKind{r.serial(): offline.ExpiredCertificate}, serial(b))
			w.wantBalances(map[ledger.AccountID]int64{r.escrow: 0, b.wallet: 5_000})
			if after := w.bearerBalance(tc.acct); after != before {
				t.Errorf("bearer paid %d for a voucher the payee should have refused", before-after)
			}
			w.wantLoss(nil, 3_000)
		})
	}
}

// (f, continued) A device revoked for another reason first: its expired voucher is
// still the payee's loss, and a later voucher within its certificate's
// validity is still the policy's.
func TestAttack_ExpiredVoucherOfDeviceRevokedEarlier(t *testing.T) {
	w := newWorld(t, staged())
	b, c := w.person("bank-b", 0), w.person("bank-b", 0)
	start := time.Now().Add(-time.Minute)
	r := w.registeredRogue("bank-a", 10_000, 5_000, start, time.Hour)
	bank := w.balance("bank-a")
	// Two vouchers with counter 1: a double spend within the validity.
	v1 := r.sign(1, offline.Hash{}, serial(b), 5_000, time.Now())
	v1b := r.sign(1, offline.Hash{}, serial(c), 1_000, time.Now())
	// Then one dated after expiry.
	v2 := r.sign(2, v1.Hash(), serial(c), 2_000, start.Add(2*time.Hour))
	w.reconcile(b, nil, []offline.Voucher{v1})
	w.reconcile(c, nil, []offline.Voucher{v1b, v2})
	if got := w.revokedSerial(r.serial()); got != offline.DoubleSpend {
		t.Errorf("revoked for %q", got)
	}
	if _, res, _ := w.s.Voucher(v2.Hash()); res.PayeeLoss != 2_000 || res.FromBearer != 0 {
		t.Errorf("expired voucher of a device revoked earlier: %+v", res)
	}
	if _, res, _ := w.s.Voucher(v1b.Hash()); res.FromBearer != 1_000 || res.PayeeLoss != 0 {
		t.Errorf("double-spent voucher within validity: %+v", res)
	}
	w.wantBalances(map[ledger.AccountID]int64{r.escrow: 0, b.wallet: 5_000, c.wallet: 1_000})
	if got := bank - w.balance("bank-a"); got != 1_000 {
		t.Errorf("payer's bank paid %d, want 1000", got)
	}
}

// (f, continued) A device revoked for an expired certificate: a later voucher dated
// within its certificate's validity is the policy's loss, not its payee's.
func TestAttack_ValidVoucherOfDeviceRevokedForExpiry(t *testing.T) {
	w := newWorld(t, staged())
	b, c := w.person("bank-b", 0), w.person("bank-b", 0)
	start := time.Now().Add(-time.Minute)
	r := w.registeredRogue("bank-a", 10_000, 1_000, start, time.Hour)
	bank := w.balance("bank-a")
	v1 := r.sign(1, offline.Hash{}, serial(b), 3_000, start.Add(2*time.Hour))
	v2 := r.sign(2, v1.Hash(), serial(c), 500, time.Now())
	w.reconcile(b, nil, []offline.Voucher{v1})
	w.reconcile(c, nil, []offline.Voucher{v2})
	if got := w.revokedSerial(r.serial()); got != offline.ExpiredCertificate {
		t.Errorf("revoked for %q", got)
	}
	if _, res, _ := w.s.Voucher(v1.Hash()); res.FromEscrow != 1_000 || res.PayeeLoss != 2_000 {
		t.Errorf("expired voucher: %+v", res)
	}
	if _, res, _ := w.s.Voucher(v2.Hash()); res.FromBearer != 500 || res.PayeeLoss != 0 {
		t.Errorf("voucher within validity: %+v", res)
	}
	w.wantBalances(map[ledger.AccountID]int64{r.escrow: 0, b.wallet: 1_000, c.wallet: 500})
	if got := bank - w.balance("bank-a"); got != 500 {
		t.Errorf("payer's bank paid %d, want 500", got)
	}
}

func (w *world) revokedSerial(sn offline.Serial) offline.ConflictKind {
	w.t.Helper()
	d, err := w.s.Device(sn)
	if err != nil {
		w.t.Fatal(err)
	}
	return d.Revoked
}

// (g) The same voucher handed in again and again, by both sides, at both
// banks, across a restart.
func TestAttack_ReplaySettlesOnce(t *testing.T) {
	w := newWorld(t, staged())
	a, b := w.person("bank-a", 50_000), w.person("bank-b", 0)
	w.fund(a, 10_000)
	v := w.pay(a, b, 3_000)
	if rep := w.reconcile(b, nil, []offline.Voucher{v, v}); rep.Settled != 1 || rep.Duplicate != 1 {
		t.Fatalf("twice in one upload: %+v", rep)
	}
	check := func(rep Report) {
		t.Helper()
		if rep.Duplicate != 1 || rep.Settled != 0 || len(rep.Conflicts) != 0 {
			t.Errorf("replay: %+v", rep)
		}
		r := rep.Vouchers[0]
		if r.Outcome != offline.Duplicate || r.Reason != "first outcome: settled" || r.FromEscrow != 3_000 {
			t.Errorf("replay result %+v", r)
		}
		w.wantBalances(map[ledger.AccountID]int64{a.escrow: 7_000, b.wallet: 3_000})
	}
	check(w.reconcile(b, nil, []offline.Voucher{v}))
	check(w.reconcile(a, []offline.Voucher{v}, nil))
	seq := w.l.Totals().Seq
	w.reopen()
	check(w.reconcile(b, nil, []offline.Voucher{v}))
	check(w.reconcile(a, []offline.Voucher{v}, nil))
	if got := w.l.Totals().Seq; got != seq {
		t.Errorf("replays wrote %d ledger records", got-seq)
	}
	if sum := w.s.Summary(); sum.Vouchers != 1 || sum.Settled != 1 || sum.SettledAmount != 3_000 || len(w.s.Conflicts()) != 0 {
		t.Errorf("summary %+v", sum)
	}
	w.wantRevoked(nil, serial(a), serial(b))
}

// (h) A cloned purse pays payees at two banks whose uploads arrive at once.
func TestAttack_DoubleSpendAcrossBanksConcurrently(t *testing.T) {
	for range 5 {
		w := newWorld(t, staged())
		a := w.person("bank-b", 50_000)
		b, c := w.person("bank-a", 0), w.person("bank-b", 0)
		w.fund(a, 10_000)
		twin := &person{name: "twin", bank: a.bank, purse: clone(t, a.purse)}
		v1 := w.pay(a, b, 8_000)
		v2 := w.pay(twin, c, 8_000)
		bank := w.balance("bank-b")
		var wg sync.WaitGroup
		reps := make([]Report, 2)
		for i, p := range []*person{b, c} {
			wg.Go(func() {
				up := p.purse.Upload()
				var err error
				if reps[i], err = w.s.Reconcile(w.ctx, p.bank, uploadOf(up)); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		w.conserved()
		if reps[0].Settled != 1 || reps[1].Settled != 1 || len(reps[0].Conflicts)+len(reps[1].Conflicts) != 1 {
			t.Fatalf("reports %+v %+v", reps[0], reps[1])
		}
		cs := w.s.Conflicts()
		if len(cs) != 1 || cs[0].Kind != offline.DoubleSpend || cs[0].Device != serial(a) {
			t.Fatalf("conflicts %+v", cs)
		}
		ev := slices.Clone(cs[0].Evidence)
		if !(slices.Equal(ev, []offline.Hash{v1.Hash(), v2.Hash()}) || slices.Equal(ev, []offline.Hash{v2.Hash(), v1.Hash()})) {
			t.Errorf("evidence %v", ev)
		}
		w.wantRevoked(map[offline.Serial]offline.ConflictKind{serial(a): offline.DoubleSpend}, serial(b), serial(c))
		w.wantBalances(map[ledger.AccountID]int64{a.escrow: 0, b.wallet: 8_000, c.wallet: 8_000})
		if got := bank - w.balance("bank-b"); got != 6_000 {
			t.Errorf("payer's bank bore %d, want 6000", got)
		}
		w.wantLoss(map[ledger.AccountID]int64{"bank-b": 6_000}, 0)
	}
}

// (i) Once revoked, a payer is refused by payees that synced, and a payee
// with a stale list is paid as the policy says.
func TestAttack_RevokedPayerRefusedOffline(t *testing.T) {
	for _, tc := range bearers {
		t.Run(tc.bearer.String(), func(t *testing.T) {
			w := newWorld(t, withBearer(staged(), tc.bearer))
			a := w.person("bank-a", 50_000)
			b, c := w.person("bank-a", 0), w.person("bank-b", 0)
			fresh, stale := w.person("bank-b", 0), w.person("bank-a", 0)
			w.sync(stale) // caches the empty list
			w.fund(a, 10_000)
			twin := &person{name: "twin", bank: a.bank, purse: clone(t, a.purse)}
			w.pay(a, b, 6_000)
			w.pay(twin, c, 6_000)
			w.sync(b)
			w.sync(c)
			if w.revoked(a) != offline.DoubleSpend {
				t.Fatal("clone not revoked")
			}
			w.sync(fresh)
			if crl := fresh.purse.Revocations(); crl == nil || !crl.Contains(serial(a)) {
				t.Fatal("synced purse lacks the new list")
			}
			if crl := stale.purse.Revocations(); crl == nil || crl.Contains(serial(a)) {
				t.Fatal("stale purse has the new list")
			}
			q, err := fresh.purse.Request(1_000, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			refused, err := a.purse.Pay(q, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if err := fresh.purse.Accept(refused, time.Now()); offline.CodeOf(err) != offline.ErrRevoked.Code {
				t.Fatalf("synced payee accepted a revoked payer: %v", err)
			}
			before := w.bearerBalance(tc.acct)
			v := w.pay(a, stale, 1_000)
			rep := w.sync(stale)
			res := findResult(t, rep, v.Hash())
			want := int64(1_000)
			if tc.acct == "" {
				want = 0
			}
			if res.Outcome != offline.Settled || res.FromEscrow != 0 || res.FromBearer != want || res.PayeeLoss != 1_000-want {
				t.Errorf("stale payee's voucher: %+v", res)
			}
			w.wantBalances(map[ledger.AccountID]int64{a.escrow: 0, stale.wallet: want, fresh.wallet: 0})
			if got := before - w.bearerBalance(tc.acct); got != want {
				t.Errorf("bearer paid %d, want %d", got, want)
			}
			w.wantRevoked(map[offline.Serial]offline.ConflictKind{serial(a): offline.DoubleSpend},
				serial(b), serial(c), serial(fresh), serial(stale))
			// The clone's second voucher was 2000 short, the stale payee's 1000.
			if tc.acct != "" {
				w.wantLoss(map[ledger.AccountID]int64{tc.acct: 3_000}, 0)
			} else {
				w.wantLoss(nil, 3_000)
			}
		})
	}
}

// (j) A device hands in a voucher that another device sent or received.
func TestAttack_OtherDevicesVoucherRejected(t *testing.T) {
	w := newWorld(t, staged())
	a, b, c := w.person("bank-a", 50_000), w.person("bank-a", 0), w.person("bank-a", 0)
	w.fund(a, 10_000)
	v := w.pay(a, b, 2_000)
	seq := w.l.Totals().Seq
	for _, rep := range []Report{w.reconcile(c, []offline.Voucher{v}, nil), w.reconcile(c, nil, []offline.Voucher{v})} {
		if rep.Rejected != 1 || rep.Vouchers[0].Reason != offline.ReasonNotUploaders || len(rep.Conflicts) != 0 {
			t.Errorf("%+v", rep)
		}
	}
	if sum := w.s.Summary(); sum.Vouchers != 0 || w.l.Totals().Seq != seq {
		t.Errorf("a rejected upload changed something: %+v", sum)
	}
	w.wantRevoked(nil, serial(a), serial(b), serial(c))
	if rep := w.sync(b); rep.Settled != 1 {
		t.Errorf("the real payee's upload: %+v", rep)
	}
	w.wantBalances(map[ledger.AccountID]int64{a.escrow: 8_000, b.wallet: 2_000, c.wallet: 0})
}

// (k) Defunds pay the owner's wallet, and never more than escrow holds.
func TestAttack_Defund(t *testing.T) {
	for _, tc := range bearers {
		t.Run(tc.bearer.String(), func(t *testing.T) {
			w := newWorld(t, withBearer(staged(), tc.bearer))
			a, b := w.person("bank-a", 50_000), w.person("bank-b", 0)
			w.fund(a, 10_000)
			w.pay(a, b, 3_000)
			if _, err := a.purse.Defund(1_000, time.Now()); offline.CodeOf(err) != offline.ErrSyncRequired.Code {
				t.Errorf("defund before sync: %v", err)
			}
			w.sync(a)
			d, err := a.purse.Defund(5_000, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			rep := w.reconcile(a, []offline.Voucher{d}, nil)
			if r := findResult(t, rep, d.Hash()); r.Outcome != offline.Settled || r.PayeeAccount != a.wallet || r.FromEscrow != 5_000 {
				t.Errorf("defund: %+v", r)
			}
			w.wantBalances(map[ledger.AccountID]int64{a.escrow: 2_000, a.wallet: 45_000, b.wallet: 3_000})
			w.wantRevoked(nil, serial(a), serial(b))
			w.sync(a)
			// A forged balance defunded: only what escrow holds comes back.
			before := w.bearerBalance(tc.acct)
			a.purse.ForgeBalance(50_000)
			d2, err := a.purse.Defund(10_000, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			rep = w.reconcile(a, []offline.Voucher{d2}, nil)
			if r := findResult(t, rep, d2.Hash()); r.FromEscrow != 2_000 || r.FromBearer != 0 || r.PayeeLoss != 8_000 {
				t.Errorf("forged defund: %+v", r)
			}
			w.wantBalances(map[ledger.AccountID]int64{a.escrow: 0, a.wallet: 47_000})
			if got := w.bearerBalance(tc.acct); got != before {
				t.Errorf("a defund drew %d on the bearer", before-got)
			}
			w.onlyConflict(offline.Overspend, serial(a), d2.Hash())
			w.wantRevoked(map[offline.Serial]offline.ConflictKind{serial(a): offline.Overspend}, serial(b))
			w.wantLoss(nil, 8_000)
		})
	}
}

// (l) In intermittent mode a voucher beyond escrow waits for value its
// payer may receive, until the window closes.
func TestAttack_IntermittentOverspendWaitsForWindow(t *testing.T) {
	for _, tc := range bearers {
		t.Run(tc.bearer.String(), func(t *testing.T) {
			w := newWorld(t, withBearer(intermittent(), tc.bearer))
			a, b := w.person("bank-a", 50_000), w.person("bank-b", 0)
			w.fund(a, 5_000)
			a.purse.ForgeBalance(20_000)
			v := w.pay(a, b, 8_000)
			rep := w.sync(b)
			if rep.Pending != 1 || len(rep.Conflicts) != 0 {
				t.Fatalf("before the window closes: %+v", rep)
			}
			if r := findResult(t, rep, v.Hash()); r.Reason != "waiting_for_escrow" {
				t.Errorf("pending reason %q", r.Reason)
			}
			w.wantRevoked(nil, serial(a), serial(b))
			w.wantBalances(map[ledger.AccountID]int64{a.escrow: 5_000, b.escrow: 0})
			if sum := w.s.Summary(); sum.Pending != 1 || sum.PendingAmount != 8_000 {
				t.Errorf("summary %+v", sum)
			}
			before := w.bearerBalance(tc.acct)
			rep, err := w.s.CloseWindow(w.ctx)
			if err != nil {
				t.Fatal(err)
			}
			w.conserved()
			res := findResult(t, rep, v.Hash())
			bGets := int64(8_000)
			if tc.acct == "" {
				bGets = 5_000
			}
			if res.Outcome != offline.Settled || res.FromEscrow != 5_000 || res.FromBearer != bGets-5_000 {
				t.Errorf("after the window: %+v", res)
			}
			w.onlyConflict(offline.Overspend, serial(a), v.Hash())
			w.wantRevoked(map[offline.Serial]offline.ConflictKind{serial(a): offline.Overspend}, serial(b))
			w.wantBalances(map[ledger.AccountID]int64{a.escrow: 0, b.escrow: bGets})
			if got := before - w.bearerBalance(tc.acct); got != bGets-5_000 {
				t.Errorf("bearer paid %d", got)
			}
			w.wantLoss(map[ledger.AccountID]int64{tc.acct: bGets - 5_000}, 8_000-bGets)
			if sum := w.s.Summary(); sum.Pending != 0 {
				t.Errorf("pending after the window: %+v", sum)
			}
			if rep, err := w.s.CloseWindow(w.ctx); err != nil || len(rep.Vouchers) != 0 {
				t.Errorf("closing again: %+v %v", rep, err)
			}
		})
	}
}

// (m) A crash between deciding a settlement and learning the ledger's
// answer: reopening finishes it, and never pays twice.
func TestAttack_CrashInDoubtSettlesOnce(t *testing.T) {
	w := newWorld(t, staged())
	a, b := w.person("bank-a", 50_000), w.person("bank-b", 0)
	w.fund(a, 10_000)
	v1 := w.pay(a, b, 3_000)
	v2 := w.pay(a, b, 2_000)
	w.reconcile(b, nil, []offline.Voucher{v1})
	// v1 was settled on the ledger, but the index says it is in doubt.
	w.s.mu.Lock()
	e1 := w.s.vouchers[v1.Hash()]
	seq1 := e1.res.Seq
	e1.status = statusSettling
	items := w.s.encode(&batch{entries: []*entry{e1}})
	arrival := w.s.next()
	w.s.mu.Unlock()
	if err := w.s.write(items); err != nil {
		t.Fatal(err)
	}
	// v2 was decided and made durable, but its batch never reached the ledger.
	e2 := &entry{hash: v2.Hash(), arrival: arrival, raw: v2.Marshal(), v: v2, uploader: serial(b), status: statusSettling,
		res: VoucherResult{PayeeAccount: b.wallet, FromEscrow: 2_000}}
	e2.fillResult()
	w.s.mu.Lock()
	items = w.s.encode(&batch{entries: []*entry{e2}})
	w.s.mu.Unlock()
	if err := w.s.write(items); err != nil {
		t.Fatal(err)
	}
	seq := w.l.Totals().Seq
	w.reopen()
	w.conserved()
	if got := w.l.Totals().Seq; got != seq+1 {
		t.Errorf("reopening wrote %d ledger records, want 1 (v2's)", got-seq)
	}
	for _, h := range []offline.Hash{v1.Hash(), v2.Hash()} {
		_, res, ok := w.s.Voucher(h)
		if !ok || res.Outcome != offline.Settled || res.Reason != "" || res.Seq == 0 {
			t.Errorf("after reopening: %+v", res)
		}
	}
	if _, res, _ := w.s.Voucher(v1.Hash()); res.Seq != seq1 {
		t.Errorf("v1 settled by record %d, first by %d", res.Seq, seq1)
	}
	w.s.mu.Lock()
	reserved := w.s.reserved[a.escrow]
	w.s.mu.Unlock()
	if reserved != 0 {
		t.Errorf("escrow still reserved: %d", reserved)
	}
	w.wantBalances(map[ledger.AccountID]int64{a.escrow: 5_000, b.wallet: 5_000})
	w.reopen()
	if rep := w.reconcile(a, []offline.Voucher{v1, v2}, nil); rep.Duplicate != 2 {
		t.Errorf("after a second reopen: %+v", rep)
	}
	w.wantBalances(map[ledger.AccountID]int64{a.escrow: 5_000, b.wallet: 5_000})
	if got := w.l.Totals().Seq; got != seq+1 {
		t.Errorf("ledger moved on by %d records", got-seq)
	}
}

// (n) What Reconcile refuses outright, and bytes that are no voucher.
func TestAttack_BadInput(t *testing.T) {
	w := newWorld(t, staged())
	a, b := w.person("bank-a", 50_000), w.person("bank-a", 0)
	w.fund(a, 10_000)
	v := w.pay(a, b, 1_000)
	var stranger offline.Serial
	rand.Read(stranger[:])
	for _, tc := range []struct {
		name string
		bank ledger.AccountID
		up   Upload
		code string
	}{
		{"unknown device", "bank-a", Upload{Device: stranger, Received: [][]byte{v.Marshal()}}, ErrUnknownDevice.Code},
		{"another bank's device", "bank-b", Upload{Device: serial(b), Received: [][]byte{v.Marshal()}}, ErrNotYourDevice.Code},
		{"unknown bank", "bank-z", Upload{Device: serial(b), Received: [][]byte{v.Marshal()}}, ErrNotYourDevice.Code},
		{"too many", "bank-a", Upload{Device: serial(b), Sent: make([][]byte, MaxUpload/2+1), Received: make([][]byte, MaxUpload/2)}, ErrTooLarge.Code},
	} {
		rep, err := w.s.Reconcile(w.ctx, tc.bank, tc.up)
		if ErrorCode(err) != tc.code || len(rep.Vouchers) != 0 {
			t.Errorf("%s: %v (code %q), want %s", tc.name, err, ErrorCode(err), tc.code)
		}
	}
	if sum := w.s.Summary(); sum.Vouchers != 0 || sum.RevokedDevices != 0 {
		t.Fatalf("refused uploads changed the index: %+v", sum)
	}
	// An upload of exactly MaxUpload is taken: one settles, the rest repeat it.
	many := make([][]byte, MaxUpload)
	for i := range many {
		many[i] = v.Marshal()
	}
	rep, err := w.s.Reconcile(w.ctx, "bank-a", Upload{Device: serial(a), Sent: many})
	if err != nil || rep.Settled != 1 || rep.Duplicate != MaxUpload-1 {
		t.Fatalf("MaxUpload vouchers: %v %d settled %d duplicates", err, rep.Settled, rep.Duplicate)
	}
	good := v.Marshal()
	bad := [][]byte{[]byte("not a voucher"), good[:len(good)-1], append(append([]byte(nil), good...), 0), nil}
	rep, err = w.s.Reconcile(w.ctx, "bank-a", Upload{Device: serial(b), Received: bad})
	if err != nil {
		t.Fatal(err)
	}
	w.conserved()
	if rep.Rejected != len(bad) || len(rep.Revoked) != 1 || len(rep.Conflicts) != len(bad) {
		t.Errorf("malformed upload: %+v", rep)
	}
	for i, raw := range bad {
		d := rejectedDigest(raw)
		if r := findResult(t, rep, d); r.Outcome != offline.Rejected || r.Reason != offline.ReasonMalformed {
			t.Errorf("%q: %+v", raw, r)
		}
		if c := rep.Conflicts[i]; c.Kind != offline.Forgery || c.Device != serial(b) || !slices.Equal(c.Evidence, []offline.Hash{d}) {
			t.Errorf("conflict %+v", c)
		}
	}
	w.wantRevoked(map[offline.Serial]offline.ConflictKind{serial(b): offline.Forgery}, serial(a))
	// Bytes already judged are duplicates, and the genuine voucher stays settled once.
	if rep := w.sync(b); rep.Duplicate != 1 || rep.Settled != 0 {
		t.Errorf("%+v", rep)
	}
	if rep, _ := w.s.Reconcile(w.ctx, "bank-a", Upload{Device: serial(b), Received: bad[:1]}); rep.Duplicate != 1 || len(rep.Conflicts) != 0 {
		t.Errorf("malformed bytes again: %+v", rep)
	}
	w.wantBalances(map[ledger.AccountID]int64{a.escrow: 9_000, b.wallet: 1_000})
}

// twoOrdered makes two people at bank-a and returns them with the first
// one's serial sorting before the second's.
func (w *world) twoOrdered() (lo, hi *person) {
	x, y := w.person("bank-a", 50_000), w.person("bank-a", 50_000)
	if sx, sy := serial(x), serial(y); string(sx[:]) < string(sy[:]) {
		return x, y
	}
	return y, x
}

// (l, continued) An honest purse re-spends value an overspender paid it, in
// intermittent mode. When the window closes, the overspender's voucher must
// settle before the honest purse's, whatever the serials' order: the honest
// purse is never revoked, and under payer-bank and guarantee it ends with
// exactly what it received less what it paid.
func TestAttack_IntermittentHonestChainBehindOverspender(t *testing.T) {
	for _, tc := range bearers {
		for _, honestFirst := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/honest-serial-first=%v", tc.bearer, honestFirst), func(t *testing.T) {
				w := newWorld(t, withBearer(intermittent(), tc.bearer))
				z, x := w.twoOrdered() // z's serial sorts first
				if honestFirst {
					z, x = x, z
				}
				y := w.person("bank-b", 0)
				w.fund(z, 1_000)
				z.purse.ForgeBalance(10_000)
				w.pay(z, x, 5_000)
				w.pay(x, y, 4_000) // x re-spends what z paid it
				if rep := w.reconcile(y, nil, y.purse.Upload().Received); rep.Pending != 1 {
					t.Fatalf("y: %+v", rep)
				}
				if rep := w.reconcile(x, nil, x.purse.Upload().Received); rep.Pending != 1 {
					t.Fatalf("x: %+v", rep)
				}
				before := w.bearerBalance(tc.acct)
				if _, err := w.s.CloseWindow(w.ctx); err != nil {
					t.Fatal(err)
				}
				w.conserved()
				w.wantRevoked(map[offline.Serial]offline.ConflictKind{serial(z): offline.Overspend}, serial(x), serial(y))
				if tc.acct != "" {
					w.wantBalances(map[ledger.AccountID]int64{z.escrow: 0, x.escrow: 1_000, y.escrow: 4_000})
					if got := before - w.bearerBalance(tc.acct); got != 4_000 {
						t.Errorf("bearer paid %d, want 4000", got)
					}
					w.wantLoss(map[ledger.AccountID]int64{tc.acct: 4_000}, 0)
				} else {
					// x got 1000 of 5000 and passes its loss on: y gets
					// what x's escrow holds.
					w.wantBalances(map[ledger.AccountID]int64{z.escrow: 0, x.escrow: 0, y.escrow: 1_000})
					w.wantLoss(nil, 4_000+3_000)
				}
			})
		}
	}
}

// (k, continued) In intermittent mode an honest purse syncs and defunds value it
// received whose payer's escrow is still waiting for value of its own: the
// defund waits too, and the owner gets all of it once the chain settles.
func TestAttack_IntermittentDefundWaitsForIncoming(t *testing.T) {
	w := newWorld(t, intermittent())
	c, a, b := w.person("bank-a", 50_000), w.person("bank-a", 0), w.person("bank-b", 0)
	w.fund(c, 10_000)
	w.pay(c, a, 8_000)
	w.pay(a, b, 6_000) // a re-spends what c paid it
	if rep := w.sync(b); rep.Pending != 1 {
		t.Fatalf("b's upload: %+v", rep)
	}
	d, err := b.purse.Defund(6_000, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if rep := w.reconcile(b, []offline.Voucher{d}, nil); rep.Pending != 1 || len(rep.Conflicts) != 0 {
		t.Fatalf("defund of value still settling: %+v", rep)
	}
	rep := w.sync(a)
	if rep.Settled != 1 || len(rep.Freed) != 2 {
		t.Errorf("a's upload frees a→b and b's defund: %+v", rep)
	}
	w.wantRevoked(nil, serial(a), serial(b), serial(c))
	w.wantBalances(map[ledger.AccountID]int64{c.escrow: 2_000, a.escrow: 2_000, b.escrow: 0, b.wallet: 6_000})
	w.wantLoss(nil, 0)
}

// (l, continued) Value flows back to an overspender, so its pending vouchers and
// those of the purse it paid wait on each other. Closing the window settles
// the overspender first (it is short even if everything on its way
// arrives): only it is revoked, every payee is paid in full, and what the
// bearer paid beyond the overspend is left in the overspender's escrow.
func TestAttack_ValueFlowsBackToOverspender(t *testing.T) {
	for _, overspenderFirst := range []bool{true, false} {
		t.Run(fmt.Sprintf("overspender-serial-first=%v", overspenderFirst), func(t *testing.T) {
			w := newWorld(t, intermittent())
			x, y := w.twoOrdered()
			if !overspenderFirst {
				x, y = y, x
			}
			z := w.person("bank-b", 0)
			w.fund(x, 1_000)
			x.purse.ForgeBalance(5_000)
			w.pay(x, y, 3_000)
			w.pay(y, x, 3_000) // y pays it back at once
			w.pay(x, z, 2_000)
			for _, p := range []*person{y, x, z} {
				if rep := w.reconcile(p, nil, p.purse.Upload().Received); rep.Pending != 1 {
					t.Fatalf("%s: %+v", p.name, rep)
				}
			}
			bank := w.balance("bank-a")
			if _, err := w.s.CloseWindow(w.ctx); err != nil {
				t.Fatal(err)
			}
			w.conserved()
			w.wantRevoked(map[offline.Serial]offline.ConflictKind{serial(x): offline.Overspend}, serial(y), serial(z))
			w.wantBalances(map[ledger.AccountID]int64{y.escrow: 0, z.escrow: 2_000})
			paid := bank - w.balance("bank-a")
			if left := w.balance(x.escrow); paid-left != 1_000 {
				t.Errorf("bank paid %d and %d is left in the overspender's escrow; the overspend is 1000", paid, left)
			}
			if sum := w.s.Summary(); sum.Pending != 0 || sum.LossByPayees != 0 {
				t.Errorf("summary %+v", sum)
			}
		})
	}
}
