package settlement

import (
	"crypto/ed25519"
	"crypto/rand"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/offline"
)

// The attack catalogue of docs/offline.md, and the service's own faults:
// each test plays one and checks who is credited, who is revoked, what is
// booked and the evidence kept.

// A purse saved before a payment and loaded after it pays someone else
// with the same counter: two vouchers in one slot.
func TestAttack_RolledBackPurseDoubleSpends(t *testing.T) {
	for _, b := range bearers {
		t.Run(b.bearer.String(), func(t *testing.T) {
			w := newWorld(t, withBearer(staged(), b.bearer))
			a, x, y := w.person("bank-a", 50_000), w.person("bank-b", 0), w.person("bank-b", 0)
			w.fund(a, 10_000)
			saved := a.purse.Save()
			v1 := w.pay(a, x, 8_000)
			old, err := offline.LoadPurse(saved)
			if err != nil {
				t.Fatal(err)
			}
			v2 := w.payFrom(old, y, 8_000)
			before := w.bearerBalance(b.acct)
			w.sync(x)
			w.sync(y)
			w.onlyConflict(offline.DoubleSpend, serial(a), v1.Hash(), v2.Hash())
			w.wantRevoked(map[offline.Serial]offline.ConflictKind{serial(a): offline.DoubleSpend}, serial(x), serial(y))
			short := int64(6_000)
			if b.acct == "" {
				w.wantBalances(map[ledger.AccountID]int64{x.wallet: 8_000, y.wallet: 2_000})
				w.wantLoss(nil, short)
			} else {
				w.wantBalances(map[ledger.AccountID]int64{x.wallet: 8_000, y.wallet: 8_000})
				w.wantLoss(map[ledger.AccountID]int64{b.acct: short}, 0)
				if got := before - w.bearerBalance(b.acct); got != short {
					t.Errorf("bearer paid %d", got)
				}
			}
		})
	}
}

// A rollback seen only in the chain: counters 1 and 2 of one purse that
// do not chain, with no counter used twice in what reaches the ledger.
func TestAttack_ChainForkWithoutSameCounterPair(t *testing.T) {
	w := newWorld(t, staged())
	r := w.registeredRogue("bank-a", 50_000, 10_000, epoch, w.cfg.Policy.CertLifetime)
	x := w.person("bank-b", 0)
	v1 := r.sign(1, offline.Hash{}, 0, serial(x), 1_000, w.clockNow())
	v2 := r.sign(2, offline.Hash{7}, 0, serial(x), 1_000, w.clockNow())
	w.reconcile(x, nil, []offline.Voucher{v2})
	w.reconcile(x, nil, []offline.Voucher{v1})
	w.onlyConflict(offline.ChainFork, r.serial())
	w.wantBalances(map[ledger.AccountID]int64{x.wallet: 2_000, r.escrow: 8_000})
}

// A purse whose balance was raised without funding pays beyond its escrow:
// caught at once in staged mode.
func TestAttack_ForgedBalanceOverspendsStaged(t *testing.T) {
	w := newWorld(t, staged())
	a, x := w.person("bank-a", 50_000), w.person("bank-b", 0)
	w.fund(a, 10_000)
	a.purse.ForgeBalance(30_000)
	v1, v2 := w.pay(a, x, 8_000), w.pay(a, x, 8_000)
	w.sync(x)
	w.onlyConflict(offline.Overspend, serial(a))
	if r := w.result(v2); r.FromEscrow != 2_000 || r.FromBearer != 6_000 || r.Bearer != "bank-a" {
		t.Errorf("second voucher: %+v (first %+v)", r, w.result(v1))
	}
	w.wantLoss(map[ledger.AccountID]int64{"bank-a": 6_000}, 0)
}

// In intermittent mode a purse that spent a forged balance is caught when
// it hands in all it received and it still paid more: judged by its own
// account. Until then its payees wait, or are paid by the bearer when the
// window closes, and nobody is revoked for value that may be on its way.
func TestAttack_ForgedBalanceOverspendsIntermittent(t *testing.T) {
	w := newWorld(t, intermittent())
	a, x := w.person("bank-a", 50_000), w.person("bank-b", 0)
	w.fund(a, 10_000)
	a.purse.ForgeBalance(30_000)
	w.pay(a, x, 8_000)
	v2 := w.pay(a, x, 8_000)
	w.sync(x)
	if w.revoked(a) != "" || w.result(v2).Outcome != offline.Pending {
		t.Fatalf("before the forger syncs: revoked %q, %+v", w.revoked(a), w.result(v2))
	}
	w.closeWindow()
	if r := w.result(v2); r.Outcome != offline.Settled || r.FromBearer != 6_000 {
		t.Errorf("advanced at the window's close: %+v", r)
	}
	rep := w.sync(a)
	if w.revoked(a) != offline.Overspend || rep.Receipt.Counter != 0 {
		t.Errorf("after the forger's own sync: revoked %q, receipt %d", w.revoked(a), rep.Receipt.Counter)
	}
	w.wantLoss(map[ledger.AccountID]int64{"bank-a": 6_000}, 0)
}

// A payee raises the amount of a voucher before handing it in: the bytes
// no longer verify, so the uploader is blamed and the payer untouched.
func TestAttack_TamperedVoucherRevokesUploader(t *testing.T) {
	w := newWorld(t, staged())
	a, x := w.person("bank-a", 50_000), w.person("bank-b", 0)
	w.fund(a, 10_000)
	v := w.pay(a, x, 1_000)
	bad := v
	bad.Amount = 9_000
	rep := w.reconcile(x, nil, []offline.Voucher{bad})
	if rep.Rejected != 1 || rep.Vouchers[0].Reason != offline.ReasonForged {
		t.Fatalf("%+v", rep)
	}
	w.wantRevoked(map[offline.Serial]offline.ConflictKind{serial(x): offline.Forgery}, serial(a))
	if rep := w.reconcile(a, []offline.Voucher{v}, nil); rep.Settled != 1 {
		t.Errorf("the genuine voucher from its payer: %+v", rep)
	}
	w.wantBalances(map[ledger.AccountID]int64{a.escrow: 9_000, x.wallet: 1_000})
}

// A voucher handed in again, by either side and after a restart, applies
// once.
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
		r := rep.Vouchers[0]
		if rep.Duplicate != 1 || r.Reason != "first outcome: settled" || r.FromEscrow != 3_000 || len(rep.Conflicts) != 0 {
			t.Errorf("replay: %+v", rep)
		}
		w.wantBalances(map[ledger.AccountID]int64{a.escrow: 7_000, b.wallet: 3_000})
	}
	check(w.reconcile(b, nil, []offline.Voucher{v}))
	check(w.reconcile(a, []offline.Voucher{v}, nil))
	seq := w.l.Totals().Seq
	w.reopen()
	check(w.reconcile(b, nil, []offline.Voucher{v}))
	if got := w.l.Totals().Seq; got != seq {
		t.Errorf("replays wrote %d ledger records", got-seq)
	}
	w.wantRevoked(nil, serial(a), serial(b))
}

// A cloned purse pays payees at two banks whose uploads arrive at once.
func TestAttack_DoubleSpendAcrossBanksConcurrently(t *testing.T) {
	for range 5 {
		w := newWorld(t, staged())
		a := w.person("bank-b", 50_000)
		b, c := w.person("bank-a", 0), w.person("bank-b", 0)
		w.fund(a, 10_000)
		twin := clone(t, a.purse)
		v1 := w.pay(a, b, 8_000)
		v2 := w.payFrom(twin, c, 8_000)
		bank := w.balance("bank-b")
		var wg sync.WaitGroup
		for _, p := range []*person{b, c} {
			wg.Go(func() {
				if _, err := w.s.Reconcile(w.ctx, p.bank, uploadOf(p.purse.Upload())); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		w.conserved()
		cs := w.s.Conflicts()
		if len(cs) != 1 || cs[0].Kind != offline.DoubleSpend || cs[0].Device != serial(a) {
			t.Fatalf("conflicts %+v", cs)
		}
		if ev := cs[0].Evidence; !(slices.Equal(ev, []offline.Hash{v1.Hash(), v2.Hash()}) || slices.Equal(ev, []offline.Hash{v2.Hash(), v1.Hash()})) {
			t.Errorf("evidence %v", ev)
		}
		w.wantBalances(map[ledger.AccountID]int64{a.escrow: 0, b.wallet: 8_000, c.wallet: 8_000})
		if got := bank - w.balance("bank-b"); got != 6_000 {
			t.Errorf("payer's bank bore %d, want 6000", got)
		}
	}
}

// A device hands in a voucher another device sent or received.
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
	if rep := w.sync(b); rep.Settled != 1 {
		t.Errorf("the real payee's upload: %+v", rep)
	}
}

// Bytes that are the preimage of a genuine voucher's hash cannot take its
// place in the index.
func TestAttack_PreimageBytesDoNotBlockAVoucher(t *testing.T) {
	w := newWorld(t, staged())
	a, b, x := w.person("bank-a", 50_000), w.person("bank-b", 0), w.person("bank-a", 0)
	w.fund(a, 10_000)
	v := w.pay(a, b, 10_000)
	sb := v.SignedBytes()
	pre := append([]byte(nil), sb[len(sb)-114:]...) // version, type and fields: what Hash covers
	if _, err := w.s.Reconcile(w.ctx, "bank-a", Upload{Device: serial(x), Sent: [][]byte{pre}}); err != nil {
		t.Fatal(err)
	}
	if rep := w.reconcile(b, nil, []offline.Voucher{v}); rep.Settled != 1 {
		t.Fatalf("the genuine voucher after its preimage: %+v", rep)
	}
}

// Bytes that are no voucher are the fault of whoever hands them in: a
// second device handing in the same bytes is rejected and charged with a
// forgery too, not let off as a duplicate of the first device's upload;
// the same device handing them in again is a duplicate, so a repeated
// sync charges it once.
func TestAttack_JunkIsChargedToEveryUploader(t *testing.T) {
	w := newWorld(t, staged())
	a, b := w.person("bank-a", 0), w.person("bank-b", 0)
	junk := []byte("not a voucher at all")
	forgeries := func() int {
		n := 0
		for _, c := range w.s.Conflicts() {
			if c.Kind == offline.Forgery {
				n++
			}
		}
		return n
	}
	upload := func(p *person) VoucherResult {
		t.Helper()
		rep, err := w.s.Reconcile(w.ctx, p.bank, Upload{Device: serial(p), Received: [][]byte{junk}})
		if err != nil || len(rep.Vouchers) != 1 {
			t.Fatalf("upload by %s: %v %+v", p.name, err, rep)
		}
		return rep.Vouchers[0]
	}
	first := upload(a)
	second := upload(b)
	if first.Outcome != offline.Rejected || second.Outcome != offline.Rejected || second.Reason != offline.ReasonMalformed {
		t.Fatalf("junk from two devices: %+v then %+v, want both rejected malformed", first, second)
	}
	if first.Hash == second.Hash || second.Hash != rejectedDigest(serial(b), junk) {
		t.Errorf("the two uploads are named %s and %s; each should name its uploader", first.Hash, second.Hash)
	}
	w.wantRevoked(map[offline.Serial]offline.ConflictKind{serial(a): offline.Forgery, serial(b): offline.Forgery})
	again := upload(a)
	if again.Outcome != offline.Duplicate || again.Hash != first.Hash || forgeries() != 2 {
		t.Errorf("the same device again: %+v with %d forgeries, want a duplicate of its first upload and 2", again, forgeries())
	}
}

// What Reconcile refuses outright changes nothing; bytes that are no
// voucher revoke the device that handed them in.
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
	good := v.Marshal()
	bad := [][]byte{[]byte("not a voucher"), good[:len(good)-1], append(slices.Clone(good), 0), nil}
	rep, err := w.s.Reconcile(w.ctx, "bank-a", Upload{Device: serial(b), Received: bad})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rejected != len(bad) || len(rep.Revoked) != 1 {
		t.Errorf("malformed upload: %+v", rep)
	}
	for _, raw := range bad {
		if r := findResult(t, rep, rejectedDigest(serial(b), raw)); r.Reason != offline.ReasonMalformed {
			t.Errorf("%q: %+v", raw, r)
		}
	}
	w.wantRevoked(map[offline.Serial]offline.ConflictKind{serial(b): offline.Forgery}, serial(a))
	if rep := w.reconcile(b, nil, []offline.Voucher{v}); rep.Settled != 1 {
		t.Errorf("the genuine voucher: %+v", rep)
	}
	w.wantBalances(map[ledger.AccountID]int64{a.escrow: 9_000, b.wallet: 1_000})
}

// A settlement decided and booked, whose ledger answer never came (or
// which never reached the ledger), completes once when the settler opens
// again, and a second reopening repeats nothing.
func TestAttack_CrashInDoubtSettlesOnce(t *testing.T) {
	w := newWorld(t, staged())
	a, b := w.person("bank-a", 50_000), w.person("bank-b", 0)
	w.fund(a, 10_000)
	v1, v2 := w.pay(a, b, 3_000), w.pay(a, b, 2_000)
	w.reconcile(b, nil, []offline.Voucher{v1})
	// v2 is booked with its operation, as before a crash, but never sent.
	w.s.mu.Lock()
	w.s.arrivals++
	e := &entry{hash: v2.Hash(), arrival: w.s.arrivals, raw: v2.Marshal(), v: v2, uploader: serial(b), class: classHonoured, payee: b.wallet}
	o := &op{id: e.opID(), transfers: []ledger.Transfer{{From: a.escrow, To: b.wallet, Amount: 2_000}},
		effects: []effect{{hash: e.hash, fromEscrow: 2_000, closed: true}}, reserve: map[ledger.AccountID]int64{a.escrow: 2_000}}
	e.inflight, e.ops = o.id, 1
	book := (&writes{entries: map[*entry]bool{e: true}, ops: []*op{o}}).encode()
	w.s.mu.Unlock()
	if err := w.s.write(book); err != nil {
		t.Fatal(err)
	}
	seq := w.l.Totals().Seq
	w.reopen()
	if got := w.l.Totals().Seq; got != seq+1 {
		t.Errorf("reopening wrote %d ledger records, want 1", got-seq)
	}
	if r := w.result(v2); r.Outcome != offline.Settled || r.FromEscrow != 2_000 || r.Seq == 0 {
		t.Errorf("after reopening: %+v", r)
	}
	w.reopen()
	if rep := w.reconcile(a, []offline.Voucher{v1, v2}, nil); rep.Duplicate != 2 {
		t.Errorf("after a second reopening: %+v", rep)
	}
	w.wantBalances(map[ledger.AccountID]int64{a.escrow: 5_000, b.wallet: 5_000})
	if err := w.s.invariants(); err != nil {
		t.Error(err)
	}
}

// A bank may not issue its devices looser limits than the policy.
func TestSettle_RegisterRefusesLooserLimits(t *testing.T) {
	w := newWorld(t, staged())
	p := w.person("bank-a", 0)
	loose := w.cfg.Policy.Limits
	loose.PurseCap *= 10
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	var sn offline.Serial
	rand.Read(sn[:])
	c := w.deviceCertFor("bank-a", sn, pub, loose, w.clockNow(), time.Hour)
	if _, err := w.s.RegisterDevice(w.ctx, "bank-a", c, p.wallet); ErrorCode(err) != ErrBadCertificate.Code {
		t.Errorf("registered a device with a purse cap above the policy's: %v", err)
	}
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

// The audit checks settlement's books against the journal: clean after
// settling, and a change to the index is found.
func TestSettle_AuditCrossChecksTheJournal(t *testing.T) {
	w := newWorld(t, intermittent())
	a, b, c := w.person("bank-a", 50_000), w.person("bank-b", 0), w.person("bank-a", 0)
	w.fund(a, 10_000)
	w.pay(a, b, 4_000)
	v := w.pay(b, c, 3_000)
	w.sync(c)
	w.sync(b)
	w.sync(a)
	if err := w.s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.l.Close(); err != nil {
		t.Fatal(err)
	}
	if p := auditProblems(t, w.dir); len(p) != 0 {
		t.Fatalf("a clean ledger: %v", p)
	}
	// Say the index paid v from the bearer instead.
	db, err := bolt.Open(filepath.Join(w.dir, FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketVouchers)
		return bk.ForEach(func(k, val []byte) error {
			e, err := unmarshalEntry(k, val)
			if err != nil || e.hash != v.Hash() {
				return err
			}
			e.fromEscrow, e.fromBearer, e.bearer = 0, 3_000, "bank-b"
			return bk.Put(slices.Clone(k), e.marshal())
		})
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	problems := auditProblems(t, w.dir)
	if len(problems) == 0 || !strings.Contains(strings.Join(problems, "\n"), "bank-b") {
		t.Errorf("the audit did not find the changed index: %v", problems)
	}
}

// Tampered vouchers hidden among many genuine ones, at every place in the
// batches the payers' signatures are checked in: each is refused as
// forged, and none of the genuine ones is, whatever it was checked with.
func TestAttack_TamperedVouchersAmongManyAreEachFound(t *testing.T) {
	w := newWorld(t, staged())
	x := w.person("bank-b", 0)
	var received []offline.Voucher
	for range 5 {
		a := w.person("bank-a", 50_000)
		w.fund(a, 5_000)
		for range 20 {
			received = append(received, w.pay(a, x, 100))
		}
	}
	tampered := map[int]bool{}
	for i := 3; i < len(received); i += 17 {
		received[i].Amount++
		tampered[i] = true
	}
	rep := w.reconcile(x, nil, received)
	if len(rep.Vouchers) != len(received) {
		t.Fatalf("%d results for %d vouchers", len(rep.Vouchers), len(received))
	}
	for i, r := range rep.Vouchers {
		if forged := r.Reason == offline.ReasonForged; forged != tampered[i] {
			t.Errorf("voucher %d (tampered %v): %s %q", i, tampered[i], r.Outcome, r.Reason)
		}
	}
	if rep.Rejected != len(tampered) {
		t.Errorf("%d rejected, %d tampered", rep.Rejected, len(tampered))
	}
	w.conserved()
}
