package intermediary_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/offline"
	"github.com/digital-yen/cbdc-sandbox/protocol"
	"github.com/digital-yen/cbdc-sandbox/wallet"
)

// provision gives the wallet a new purse its bank has certified.
func (n *testNet) provision(c *wallet.Client) *offline.Purse {
	n.t.Helper()
	p := newPurse(n.t)
	if _, err := c.ProvisionPurse(n.ctx, "", p); err != nil {
		n.t.Fatal(err)
	}
	return p
}

func newPurse(t testing.TB) *offline.Purse {
	t.Helper()
	p, err := offline.NewPurse(nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestOffline_FundPaySyncDefundOverWebsockets(t *testing.T) {
	n := newOfflineNet(t, 2, offline.DefaultPolicy())
	alice := n.register("bank-1", "Alice", "person-alice")
	bob := n.register("bank-2", "Bob", "person-bob")
	if _, err := alice.Withdraw(n.ctx, "", 20_000); err != nil {
		t.Fatal(err)
	}
	pa, pb := newPurse(t), newPurse(t)
	certs, err := alice.ProvisionPurse(n.ctx, "", pa)
	if err != nil {
		t.Fatal(err)
	}
	if certs.Serial != pa.Serial().String() || certs.Policy.Mode != "staged" {
		t.Fatalf("certificates %+v", certs)
	}
	if _, err := bob.ProvisionPurse(n.ctx, "", pb); err != nil {
		t.Fatal(err)
	}
	f, err := alice.FundPurse(n.ctx, "fund-1", pa, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	if pa.Balance() != 10_000 || f.Escrow != 10_000 || balance(t, n.ctx, alice) != 10_000 {
		t.Fatalf("after funding: purse %d escrow %d wallet %d", pa.Balance(), f.Escrow, balance(t, n.ctx, alice))
	}
	if _, err := alice.FundPurse(n.ctx, "fund-1", pa, 10_000); err != nil || pa.Balance() != 10_000 {
		t.Fatalf("a retried funding applied twice: %v, purse %d", err, pa.Balance())
	}

	// Device to device, with neither side online.
	q, err := pb.Request(3_000, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	v, err := pa.Pay(q, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := pb.Accept(v, time.Now()); err != nil {
		t.Fatal(err)
	}

	rs, err := bob.SyncPurse(n.ctx, pb)
	if err != nil {
		t.Fatal(err)
	}
	if rs[0].Settled != 1 || rs[0].SettledAmount != 3_000 {
		t.Fatalf("bob's sync: %+v", rs[0])
	}
	nextNotify(t, bob, protocol.ReasonOffline, 3_000)
	if got := balance(t, n.ctx, bob); got != 3_000 {
		t.Errorf("bob holds %d after settlement, want 3000", got)
	}
	rs, err = alice.SyncPurse(n.ctx, pa)
	if err != nil {
		t.Fatal(err)
	}
	if rs[0].Duplicate != 1 || pa.SinceSync() != 0 {
		t.Fatalf("alice's sync: %+v, since sync %d", rs[0], pa.SinceSync())
	}

	d, err := alice.DefundPurse(n.ctx, pa, 2_000)
	if err != nil {
		t.Fatal(err)
	}
	if d.Settled != 1 || d.Escrow != 5_000 || pa.Balance() != 5_000 || balance(t, n.ctx, alice) != 12_000 {
		t.Fatalf("defund: %+v purse %d wallet %d", d, pa.Balance(), balance(t, n.ctx, alice))
	}
}

func TestOffline_BadPurseInstructions(t *testing.T) {
	n := newOfflineNet(t, 1, offline.DefaultPolicy())
	alice := n.register("bank-1", "Alice", "person-alice")
	if _, err := alice.Withdraw(n.ctx, "", 50_000); err != nil {
		t.Fatal(err)
	}
	pa := newPurse(t)
	_, err := alice.FundPurse(n.ctx, "", pa, 1_000)
	mustCode(t, err, protocol.CodeUnknownPurse)
	if _, err := alice.ProvisionPurse(n.ctx, "", pa); err != nil {
		t.Fatal(err)
	}
	_, err = alice.ProvisionPurse(n.ctx, "", newPurse(t))
	mustCode(t, err, protocol.CodePurseExists)
	_, err = alice.FundPurse(n.ctx, "", pa, offline.DefaultPurseCap+1)
	mustCode(t, err, protocol.CodePurseCap)
	_, err = alice.FundPurse(n.ctx, "", pa, -5)
	mustCode(t, err, protocol.CodeInvalidAmount)
	var r protocol.PurseSynced
	big := protocol.PurseSync{Serial: pa.Serial().String()}
	for range protocol.MaxSyncVouchers + 1 {
		big.Received = append(big.Received, []byte{}) // "": decodes, and is no voucher
	}
	err = alice.Call(n.ctx, protocol.TypePurseSync, alice.NewRequestID(), &big, protocol.TypePurseSynced, &r)
	mustCode(t, err, protocol.CodeTooManyVouchers)
}

func TestOffline_ClonedPurseCaughtAcrossBanksAndRevoked(t *testing.T) {
	n := newOfflineNet(t, 2, offline.DefaultPolicy())
	alice := n.register("bank-1", "Alice", "person-alice")
	bob := n.register("bank-1", "Bob", "person-bob")
	carol := n.register("bank-2", "Carol", "person-carol")
	if _, err := alice.Withdraw(n.ctx, "", 20_000); err != nil {
		t.Fatal(err)
	}
	pa, pb, pc := n.provision(alice), n.provision(bob), n.provision(carol)
	if _, err := alice.FundPurse(n.ctx, "", pa, 10_000); err != nil {
		t.Fatal(err)
	}
	twin, err := offline.LoadPurse(pa.Save())
	if err != nil {
		t.Fatal(err)
	}
	pay := func(from, to *offline.Purse, amount int64) {
		q, err := to.Request(amount, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		v, err := from.Pay(q, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := to.Accept(v, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	pay(pa, pb, 8_000)
	pay(twin, pc, 8_000)
	if _, err := bob.SyncPurse(n.ctx, pb); err != nil {
		t.Fatal(err)
	}
	rs, err := carol.SyncPurse(n.ctx, pc)
	if err != nil {
		t.Fatal(err)
	}
	r := rs[0]
	if len(r.Conflicts) != 1 || r.Conflicts[0].Kind != string(offline.DoubleSpend) || r.Conflicts[0].Device != pa.Serial().String() {
		t.Fatalf("carol's sync: %+v", r)
	}
	// The payer's bank bears what the escrow cannot cover.
	if v := r.Vouchers[0]; v.FromEscrow != 2_000 || v.FromBearer != 6_000 || v.Bearer != "bank-1" {
		t.Errorf("carol's voucher: %+v", v)
	}
	if balance(t, n.ctx, bob) != 8_000 || balance(t, n.ctx, carol) != 8_000 {
		t.Errorf("payees hold %d and %d, want 8000 each", balance(t, n.ctx, bob), balance(t, n.ctx, carol))
	}
	// Carol's purse now carries the revocation and refuses the clone.
	q, _ := pc.Request(100, time.Now())
	v, err := pa.Pay(q, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.Accept(v, time.Now()); !errors.Is(err, offline.ErrRevoked) {
		t.Errorf("a revoked payer was accepted: %v", err)
	}
	_, err = alice.FundPurse(n.ctx, "", pa, 100)
	mustCode(t, err, protocol.CodePurseRevoked)
}

// A wallet that claims a counter without handing in its vouchers gets no
// receipt for them: the bank vouches only for what the ledger holds.
func TestOffline_SyncReceiptCoversOnlyWhatTheLedgerHolds(t *testing.T) {
	n := newOfflineNet(t, 1, offline.DefaultPolicy())
	alice := n.register("bank-1", "Alice", "person-alice")
	bob := n.register("bank-1", "Bob", "person-bob")
	if _, err := alice.Withdraw(n.ctx, "", 20_000); err != nil {
		t.Fatal(err)
	}
	pa, pb := n.provision(alice), n.provision(bob)
	if _, err := alice.FundPurse(n.ctx, "", pa, 10_000); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		q, _ := pb.Request(1_000, time.Now())
		v, err := pa.Pay(q, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := pb.Accept(v, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	var r protocol.PurseSynced
	lie := protocol.PurseSync{Serial: pa.Serial().String(), Counter: pa.Counter()}
	if err := alice.Call(n.ctx, protocol.TypePurseSync, alice.NewRequestID(), &lie, protocol.TypePurseSynced, &r); err != nil {
		t.Fatal(err)
	}
	s, err := offline.ParseSyncReceipt(r.Receipt)
	if err != nil || s.Counter != 0 {
		t.Fatalf("receipt for vouchers the ledger never saw: counter %d, %v", s.Counter, err)
	}
	// Once the payee hands them in, the payer's bank may vouch for them.
	if _, err := bob.SyncPurse(n.ctx, pb); err != nil {
		t.Fatal(err)
	}
	if err := alice.Call(n.ctx, protocol.TypePurseSync, alice.NewRequestID(), &lie, protocol.TypePurseSynced, &r); err != nil {
		t.Fatal(err)
	}
	if s, _ = offline.ParseSyncReceipt(r.Receipt); s.Counter != 2 {
		t.Fatalf("receipt counter %d after the payee's upload, want 2", s.Counter)
	}
}

// A wallet whose purse is lost retires it: the purse is revoked, a voucher
// it was paid still settles from the payer's upload, and the wallet
// provisions a new purse.
func TestOffline_RetireLostPurse(t *testing.T) {
	n := newOfflineNet(t, 2, offline.DefaultPolicy())
	alice := n.register("bank-1", "Alice", "person-alice")
	bob := n.register("bank-2", "Bob", "person-bob")
	if _, err := alice.Withdraw(n.ctx, "", 20_000); err != nil {
		t.Fatal(err)
	}
	pa, pb := n.provision(alice), n.provision(bob)
	if _, err := alice.FundPurse(n.ctx, "", pa, 10_000); err != nil {
		t.Fatal(err)
	}
	q, _ := pb.Request(4_000, time.Now())
	v, err := pa.Pay(q, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := pb.Accept(v, time.Now()); err != nil {
		t.Fatal(err)
	}
	// Bob's phone is lost with the purse in it.
	_, err = alice.RetirePurse(n.ctx, "", pb.Serial().String())
	mustCode(t, err, protocol.CodeUnknownPurse)
	r, err := bob.RetirePurse(n.ctx, "", pb.Serial().String())
	if err != nil || r.Serial != pb.Serial().String() {
		t.Fatalf("retire: %+v %v", r, err)
	}
	if _, err := alice.SyncPurse(n.ctx, pa); err != nil {
		t.Fatal(err)
	}
	nextNotify(t, bob, protocol.ReasonOffline, 4_000)
	if got := balance(t, n.ctx, bob); got != 4_000 {
		t.Errorf("bob holds %d, want the 4000 his lost purse was paid", got)
	}
	fresh := newPurse(t)
	if _, err := bob.ProvisionPurse(n.ctx, "", fresh); err != nil {
		t.Fatalf("a new purse after retiring the lost one: %v", err)
	}
	if crl := fresh.Revocations(); crl == nil || !crl.Contains(pb.Serial()) {
		t.Error("the new purse's revocation list does not carry the retired purse")
	}
}

// A funding whose answer was lost is asked again after a later funding
// went through: the purse takes each once, and ends holding what its
// escrow holds.
func TestOffline_RetriedFundingAfterALaterOneCreditsOnce(t *testing.T) {
	n := newOfflineNet(t, 1, offline.DefaultPolicy())
	alice := n.register("bank-1", "Alice", "person-alice")
	if _, err := alice.Withdraw(n.ctx, "", 50_000); err != nil {
		t.Fatal(err)
	}
	p := n.provision(alice)
	// The first funding's answer is lost: a copy of the purse takes it,
	// and the purse itself never sees it.
	lost, err := offline.LoadPurse(p.Save())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.FundPurse(n.ctx, "fund-a", lost, 10_000); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.FundPurse(n.ctx, "fund-b", p, 5_000); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.FundPurse(n.ctx, "fund-a", p, 10_000); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.FundPurse(n.ctx, "fund-a", p, 10_000); err != nil {
		t.Fatal(err)
	}
	f, err := alice.FundPurse(n.ctx, "fund-b", p, 5_000)
	if err != nil {
		t.Fatal(err)
	}
	if f.Escrow != p.Balance() {
		t.Fatalf("escrow %d, purse %d: the purse does not hold what its escrow holds", f.Escrow, p.Balance())
	}
}

// A purse in good standing that syncs in the second half of its
// certificate's life gets a new certificate, which the ledger registered:
// it pays on after the first one expired, and its payments settle.
func TestOffline_PurseCertificateRenewedAtSync(t *testing.T) {
	clock := &testClock{now: time.Now()}
	pol := offline.DefaultPolicy()
	n := newNetWithClock(t, 1, &pol, clock.Now)
	alice := n.register("bank-1", "Alice", "person-alice")
	bob := n.register("bank-1", "Bob", "person-bob")
	if _, err := alice.Withdraw(n.ctx, "", 20_000); err != nil {
		t.Fatal(err)
	}
	pa, pb := n.provision(alice), n.provision(bob)
	if _, err := alice.FundPurse(n.ctx, "", pa, 10_000); err != nil {
		t.Fatal(err)
	}
	first := pa.Chain().Device
	answers, err := alice.SyncPurse(n.ctx, pa)
	if err != nil || len(answers[0].DeviceCert) != 0 {
		t.Fatalf("a fresh certificate was renewed: %v", err)
	}
	clock.advance(pol.CertLifetime * 2 / 3)
	answers, err = alice.SyncPurse(n.ctx, pa)
	if err != nil || len(answers[0].DeviceCert) == 0 {
		t.Fatalf("no renewal two thirds into the certificate's life: %v", err)
	}
	if got := pa.Chain().Device; !got.Issued.After(first.Issued) || got.Serial != first.Serial {
		t.Fatalf("installed certificate %+v", got)
	}
	if _, err := bob.SyncPurse(n.ctx, pb); err != nil { // bob renews too
		t.Fatal(err)
	}
	clock.advance(pol.CertLifetime / 2) // past the first certificate's expiry
	q, err := pb.Request(3_000, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	v, err := pa.Pay(q, clock.Now())
	if err != nil {
		t.Fatalf("paying under the renewed certificate: %v", err)
	}
	if err := pb.Accept(v, clock.Now()); err != nil {
		t.Fatal(err)
	}
	answers, err = bob.SyncPurse(n.ctx, pb)
	if err != nil || answers[0].Settled != 1 {
		t.Fatalf("the payment under the renewed certificate: %+v %v", answers, err)
	}
}

type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}
