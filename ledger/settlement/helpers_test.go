package settlement

import (
	"context"
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

// world is a ledger with two banks, a settler, a clock the test moves, and
// people who carry purses.
type world struct {
	t      testing.TB
	ctx    context.Context
	dir    string
	l      *ledger.Ledger
	s      *Settler
	cfg    Config
	keys   map[ledger.AccountID]ed25519.PrivateKey
	certs  map[ledger.AccountID]offline.BankCert
	people int
	ops    int

	clock sync.Mutex
	now   time.Time
}

// person is one wallet owner with a provisioned purse.
type person struct {
	name    string
	bank    ledger.AccountID
	wallet  ledger.AccountID
	escrow  ledger.AccountID
	purse   *offline.Purse
	funding uint64
}

const bankFloat = 1_000_000_000

// epoch is where the tests' clocks start.
var epoch = time.Date(2031, 3, 1, 9, 0, 0, 0, time.UTC)

func newWorld(t testing.TB, policy offline.Policy) *world {
	t.Helper()
	w := &world{t: t, ctx: context.Background(), dir: t.TempDir(), now: epoch,
		keys: map[ledger.AccountID]ed25519.PrivateKey{}, certs: map[ledger.AccountID]offline.BankCert{}}
	w.cfg = Config{Policy: policy, GuaranteeFund: 10_000_000, Now: w.clockNow}
	var err error
	if w.l, err = ledger.Open(w.dir, ledger.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.l.Close() })
	for _, b := range []ledger.AccountID{"bank-a", "bank-b"} {
		w.must(w.l.OpenAccount(w.ctx, "open-"+string(b), ledger.AccountSpec{ID: b, Kind: ledger.KindIntermediary}))
		w.must(w.l.Issue(w.ctx, "issue-"+string(b), b, bankFloat))
	}
	w.open()
	for _, b := range []ledger.AccountID{"bank-a", "bank-b"} {
		_, key, _ := ed25519.GenerateKey(rand.Reader)
		c, err := w.s.CertifyBank(b, key.Public().(ed25519.PublicKey))
		if err != nil {
			t.Fatal(err)
		}
		w.keys[b], w.certs[b] = key, c
	}
	return w
}

func (w *world) clockNow() time.Time {
	w.clock.Lock()
	defer w.clock.Unlock()
	return w.now
}

// advance moves the clock on.
func (w *world) advance(d time.Duration) {
	w.clock.Lock()
	w.now = w.now.Add(d)
	w.clock.Unlock()
}

// pastEveryDeadline moves the clock past the day no voucher of a device
// certified until now can be honoured, nor any value reach its escrow.
func (w *world) pastEveryDeadline() {
	p := w.cfg.Policy
	w.advance(2*p.CertLifetime + p.UploadGrace + time.Hour)
}

func (w *world) open() {
	w.t.Helper()
	s, err := Open(w.ctx, w.l, w.cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	w.s = s
	w.t.Cleanup(func() { s.Close() })
}

// reopen closes and reopens the settler over the same ledger.
func (w *world) reopen() {
	w.t.Helper()
	if err := w.s.Close(); err != nil {
		w.t.Fatal(err)
	}
	w.open()
}

func (w *world) must(_ ledger.Receipt, err error) {
	w.t.Helper()
	if err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) opID() string { w.ops++; return fmt.Sprintf("op-%d", w.ops) }

// wallet opens a wallet at bank holding cash.
func (w *world) wallet(bank ledger.AccountID, name string, cash int64) ledger.AccountID {
	w.t.Helper()
	id := ledger.AccountID("w-" + name)
	w.must(w.l.OpenAccount(w.ctx, w.opID(), ledger.AccountSpec{ID: id, Kind: ledger.KindWallet, Intermediary: bank}))
	if cash > 0 {
		w.must(w.l.Transfer(w.ctx, w.opID(), bank, id, cash))
	}
	return id
}

// person opens a wallet holding cash yen at bank and provisions a purse.
func (w *world) person(bank ledger.AccountID, cash int64) *person {
	w.t.Helper()
	w.people++
	p := &person{name: fmt.Sprintf("p%d", w.people), bank: bank}
	p.wallet = w.wallet(bank, p.name, cash)
	purse, err := offline.NewPurse(w.s.RootKey())
	if err != nil {
		w.t.Fatal(err)
	}
	p.purse = purse
	cert := w.deviceCert(bank, purse.PublicKey(), w.clockNow(), w.cfg.Policy.CertLifetime)
	if err := purse.Install(offline.Chain{Bank: w.certs[bank], Device: cert}, w.clockNow()); err != nil {
		w.t.Fatal(err)
	}
	if p.escrow, err = w.s.RegisterDevice(w.ctx, bank, cert, p.wallet); err != nil {
		w.t.Fatal(err)
	}
	return p
}

func (w *world) deviceCert(bank ledger.AccountID, key ed25519.PublicKey, from time.Time, life time.Duration) offline.DeviceCert {
	w.t.Helper()
	var sn offline.Serial
	rand.Read(sn[:])
	return w.deviceCertFor(bank, sn, key, w.cfg.Policy.Limits, from, life)
}

func (w *world) deviceCertFor(bank ledger.AccountID, sn offline.Serial, key ed25519.PublicKey, lim offline.Limits, from time.Time, life time.Duration) offline.DeviceCert {
	w.t.Helper()
	c, err := offline.IssueDeviceCert(w.keys[bank], offline.DeviceCert{Serial: sn, Key: key, BankID: string(bank),
		Limits: lim, Issued: from, Expires: from.Add(life)})
	if err != nil {
		w.t.Fatal(err)
	}
	return c
}

// fund moves amount from the person's wallet into escrow, as the bank does,
// and hands the purse the bank's receipt.
func (w *world) fund(p *person, amount int64) {
	w.t.Helper()
	w.must(w.l.Intermediary(p.bank).Transfer(w.ctx, w.opID(), p.wallet, p.escrow, amount))
	p.funding++
	f := offline.FundingReceipt{Serial: p.purse.Serial(), Seq: p.funding, Amount: amount, Time: w.clockNow()}
	f.Sign(w.keys[p.bank])
	if err := p.purse.Fund(f); err != nil {
		w.t.Fatal(err)
	}
}

// pay runs a device-to-device payment; the payee must accept it.
func (w *world) pay(payer, payee *person, amount int64) offline.Voucher {
	w.t.Helper()
	return w.payFrom(payer.purse, payee, amount)
}

// payFrom pays from a given purse: a person's own, or a copy of it.
func (w *world) payFrom(from *offline.Purse, payee *person, amount int64) offline.Voucher {
	w.t.Helper()
	now := w.clockNow()
	q, err := payee.purse.Request(amount, now)
	if err != nil {
		w.t.Fatal(err)
	}
	v, err := from.Pay(q, now)
	if err != nil {
		w.t.Fatalf("pay %s %d: %v", payee.name, amount, err)
	}
	if err := payee.purse.Accept(v, now); err != nil {
		w.t.Fatalf("%s accepts: %v", payee.name, err)
	}
	return v
}

// sync uploads what the purse holds, received before sent as a wallet
// does, and applies the ledger's sync receipt and the revocation list.
func (w *world) sync(p *person) Report {
	w.t.Helper()
	return w.syncPurse(p, p.purse)
}

func (w *world) syncPurse(p *person, purse *offline.Purse) Report {
	w.t.Helper()
	up := purse.Upload()
	u := uploadOf(up)
	u.Counter, u.ReceivedBefore = up.Counter, up.ReceivedBefore
	u.ReceivedTotal, u.TotalKnown = up.ReceivedBefore+uint64(len(up.Received)), true
	rep, err := w.s.Reconcile(w.ctx, p.bank, u)
	if err != nil {
		w.t.Fatalf("%s syncs: %v", p.name, err)
	}
	crl := w.s.Revocations()
	if err := purse.ApplySync(rep.Receipt, &crl); err != nil {
		w.t.Fatalf("%s applies its sync receipt %+v: %v", p.name, rep.Receipt, err)
	}
	w.conserved()
	return rep
}

func uploadOf(up offline.Upload) Upload {
	u := Upload{Device: up.Serial}
	for _, v := range up.Sent {
		u.Sent = append(u.Sent, v.Marshal())
	}
	for _, v := range up.Received {
		u.Received = append(u.Received, v.Marshal())
	}
	return u
}

// reconcile hands in raw vouchers for a device.
func (w *world) reconcile(p *person, sent, received []offline.Voucher) Report {
	w.t.Helper()
	return w.upload(p.bank, serial(p), sent, received)
}

func (w *world) upload(bank ledger.AccountID, device offline.Serial, sent, received []offline.Voucher) Report {
	w.t.Helper()
	rep, err := w.s.Reconcile(w.ctx, bank, uploadOf(offline.Upload{Serial: device, Sent: sent, Received: received}))
	if err != nil {
		w.t.Fatal(err)
	}
	w.conserved()
	return rep
}

// closeWindow closes the settlement window.
func (w *world) closeWindow() Report {
	w.t.Helper()
	rep, err := w.s.CloseWindow(w.ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	w.conserved()
	return rep
}

func (w *world) balance(id ledger.AccountID) int64 {
	w.t.Helper()
	b, err := w.l.Balance(id)
	if err != nil {
		w.t.Fatal(err)
	}
	return b
}

// conserved checks the ledger's money invariant.
func (w *world) conserved() {
	w.t.Helper()
	if tot := w.l.Totals(); !tot.Conserved() {
		w.t.Fatalf("money not conserved: %+v", tot)
	}
}

func (w *world) wantBalances(want map[ledger.AccountID]int64) {
	w.t.Helper()
	for id, b := range want {
		if got := w.balance(id); got != b {
			w.t.Errorf("%s holds %d, want %d", id, got, b)
		}
	}
}

func (w *world) revoked(p *person) offline.ConflictKind {
	w.t.Helper()
	return w.revokedSerial(serial(p))
}

func (w *world) revokedSerial(sn offline.Serial) offline.ConflictKind {
	w.t.Helper()
	d, err := w.s.Device(sn)
	if err != nil {
		w.t.Fatal(err)
	}
	return d.Revoked
}

func serial(p *person) offline.Serial { return p.purse.Serial() }

// clone copies a purse's whole state, as an attacker with a broken secure
// element would.
func clone(t testing.TB, p *offline.Purse) *offline.Purse {
	t.Helper()
	c, err := offline.LoadPurse(p.Save())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// rogue is a device whose key the test holds, to sign what no purse would:
// any counter, synced (with a receipt the ledger really gave), time and
// amount.
type rogue struct {
	key     ed25519.PrivateKey
	chain   offline.Chain
	bank    ledger.AccountID
	wallet  ledger.AccountID
	escrow  ledger.AccountID
	receipt offline.SyncReceipt
}

func (r *rogue) serial() offline.Serial { return r.chain.Device.Serial }

// sign makes a voucher the rogue's key signs. A synced above 0 carries the
// rogue's receipt for it, which must be the ledger's.
func (r *rogue) sign(counter uint64, prev offline.Hash, synced uint64, payee offline.Serial, amount int64, at time.Time) offline.Voucher {
	v := offline.Voucher{Chain: r.chain, Payer: r.chain.Device.Serial, Counter: counter, Prev: prev, Synced: synced,
		Payee: payee, Amount: amount, Time: at.Truncate(time.Millisecond)}
	if synced > 0 {
		v.Receipt = r.receipt
	}
	rand.Read(v.Nonce[:])
	copy(v.Signature[:], ed25519.Sign(r.key, v.SignedBytes()))
	return v
}

// chain signs n vouchers after prev, one of amount to each payee in turn,
// all with the same synced.
func (r *rogue) chainOf(from uint64, prev offline.Hash, synced uint64, payees []offline.Serial, amount int64, at time.Time) []offline.Voucher {
	var vs []offline.Voucher
	for i, p := range payees {
		v := r.sign(from+uint64(i), prev, synced, p, amount, at)
		vs = append(vs, v)
		prev = v.Hash()
	}
	return vs
}

// registeredRogue provisions a registered device with a certificate valid
// from..from+life, with a wallet holding cash and escrow funded by fund.
func (w *world) registeredRogue(bank ledger.AccountID, cash, fund int64, from time.Time, life time.Duration) *rogue {
	w.t.Helper()
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	r := &rogue{key: key, bank: bank}
	r.chain = offline.Chain{Bank: w.certs[bank], Device: w.deviceCert(bank, pub, from, life)}
	w.people++
	r.wallet = w.wallet(bank, fmt.Sprintf("rogue%d", w.people), cash)
	var err error
	if r.escrow, err = w.s.RegisterDevice(w.ctx, bank, r.chain.Device, r.wallet); err != nil {
		w.t.Fatal(err)
	}
	if fund > 0 {
		w.must(w.l.Intermediary(bank).Transfer(w.ctx, w.opID(), r.wallet, r.escrow, fund))
	}
	return r
}

// syncRogue uploads the rogue's vouchers as its own and keeps the receipt.
func (w *world) syncRogue(r *rogue, sent []offline.Voucher, counter uint64) Report {
	w.t.Helper()
	u := uploadOf(offline.Upload{Serial: r.serial(), Sent: sent})
	u.Counter = counter
	rep, err := w.s.Reconcile(w.ctx, r.bank, u)
	if err != nil {
		w.t.Fatal(err)
	}
	if rep.Receipt.Counter > r.receipt.Counter {
		r.receipt = rep.Receipt
	}
	w.conserved()
	return rep
}

// onlyConflict finds the single conflict of a kind and checks its device
// and evidence.
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
	if evidence != nil && !slices.Equal(c.Evidence, evidence) {
		w.t.Errorf("%s evidence %v, want %v", kind, c.Evidence, evidence)
	}
	return c
}

func findResult(t testing.TB, rep Report, h offline.Hash) VoucherResult {
	t.Helper()
	for _, r := range append(slices.Clone(rep.Vouchers), rep.Freed...) {
		if r.Hash == h {
			return r
		}
	}
	t.Fatalf("report has no voucher %s: %+v", h, rep)
	return VoucherResult{}
}

// result is what the settler says of a voucher now.
func (w *world) result(v offline.Voucher) VoucherResult {
	w.t.Helper()
	_, r, ok := w.s.Voucher(v.Hash())
	if !ok {
		w.t.Fatalf("the settler never saw voucher %s#%d", v.Payer, v.Counter)
	}
	return r
}

func staged() offline.Policy { return offline.DefaultPolicy() }

func intermittent() offline.Policy {
	p := offline.DefaultPolicy()
	p.Mode = offline.Intermittent
	return p
}

func withBearer(p offline.Policy, b offline.Bearer) offline.Policy {
	p.LossBearer = b
	return p
}

var bearers = []struct {
	bearer offline.Bearer
	acct   ledger.AccountID // "" when the payee bears the loss
}{
	{offline.PayerBank, "bank-a"},
	{offline.Guarantee, GuaranteeAccount},
	{offline.Payee, ""},
}

// auditProblems audits a closed ledger's directory, settlement included.
func auditProblems(t testing.TB, dir string) []string {
	t.Helper()
	rep, _, err := Audit(dir)
	if err != nil {
		t.Fatalf("audit: %v", err)
	}
	return rep.Problems
}

// wantRevoked checks the devices revoked, as the settler and the signed
// revocation list say, and that the honest ones are not.
func (w *world) wantRevoked(want map[offline.Serial]offline.ConflictKind, honest ...offline.Serial) {
	w.t.Helper()
	crl := w.s.Revocations()
	if err := crl.Verify(w.s.RootKey()); err != nil {
		w.t.Fatalf("revocation list: %v", err)
	}
	if len(crl.Serials) != len(want) {
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
}

// wantLoss checks the summary's losses: what each bearer paid and was not
// repaid, and what payees went without.
func (w *world) wantLoss(byBearer map[ledger.AccountID]int64, byPayees int64) {
	w.t.Helper()
	sum := w.s.Summary()
	got := map[ledger.AccountID]string{}
	for k, v := range sum.LossByBearer {
		if !v.IsZero() {
			got[k] = v.String()
		}
	}
	want := map[ledger.AccountID]string{}
	for k, v := range byBearer {
		if k != "" && v != 0 {
			want[k] = fmt.Sprint(v)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || sum.LossByPayees != SumOf(byPayees) {
		w.t.Errorf("losses: bearers %v payees %s, want bearers %v payees %d", got, sum.LossByPayees, want, byPayees)
	}
}

// bearerBalance is the balance of the loss bearer's account, 0 for payee-bears.
func (w *world) bearerBalance(acct ledger.AccountID) int64 {
	if acct == "" {
		return 0
	}
	return w.balance(acct)
}

// accomplice hands in vouchers as a payee that accepted them, with places.
func (w *world) accomplice(p *person, vs ...offline.Voucher) Report {
	w.t.Helper()
	u := uploadOf(offline.Upload{Serial: serial(p), Received: vs})
	rep, err := w.s.Reconcile(w.ctx, p.bank, u)
	if err != nil {
		w.t.Fatal(err)
	}
	w.conserved()
	return rep
}
