package settlement

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/offline"
)

// world is a ledger with two banks, a settler, and people who carry purses.
type world struct {
	t      *testing.T
	ctx    context.Context
	dir    string
	l      *ledger.Ledger
	s      *Settler
	cfg    Config
	keys   map[ledger.AccountID]ed25519.PrivateKey
	certs  map[ledger.AccountID]offline.BankCert
	people int
	ops    int
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

func newWorld(t *testing.T, policy offline.Policy) *world {
	t.Helper()
	w := &world{t: t, ctx: context.Background(), dir: t.TempDir(),
		keys: map[ledger.AccountID]ed25519.PrivateKey{}, certs: map[ledger.AccountID]offline.BankCert{}}
	w.cfg = Config{Policy: policy, GuaranteeFund: 10_000_000}
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

// person opens a wallet holding cash yen at bank and provisions a purse.
func (w *world) person(bank ledger.AccountID, cash int64) *person {
	w.t.Helper()
	w.people++
	p := &person{name: fmt.Sprintf("p%d", w.people), bank: bank}
	p.wallet = ledger.AccountID("w-" + p.name)
	w.must(w.l.OpenAccount(w.ctx, w.opID(), ledger.AccountSpec{ID: p.wallet, Kind: ledger.KindWallet, Intermediary: bank}))
	if cash > 0 {
		w.must(w.l.Transfer(w.ctx, w.opID(), bank, p.wallet, cash))
	}
	purse, err := offline.NewPurse(w.s.RootKey())
	if err != nil {
		w.t.Fatal(err)
	}
	p.purse = purse
	cert := w.deviceCert(bank, purse.PublicKey(), time.Now(), w.cfg.Policy.CertLifetime)
	if err := purse.Install(offline.Chain{Bank: w.certs[bank], Device: cert}, time.Now()); err != nil {
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
	c, err := offline.IssueDeviceCert(w.keys[bank], offline.DeviceCert{Serial: sn, Key: key, BankID: string(bank),
		Limits: w.cfg.Policy.Limits, Issued: from, Expires: from.Add(life)})
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
	f := offline.FundingReceipt{Serial: p.purse.Serial(), Seq: p.funding, Amount: amount, Time: time.Now()}
	f.Sign(w.keys[p.bank])
	if err := p.purse.Fund(f); err != nil {
		w.t.Fatal(err)
	}
}

// pay runs a device-to-device payment; the payee must accept it.
func (w *world) pay(payer, payee *person, amount int64) offline.Voucher {
	w.t.Helper()
	q, err := payee.purse.Request(amount, time.Now())
	if err != nil {
		w.t.Fatal(err)
	}
	v, err := payer.purse.Pay(q, time.Now())
	if err != nil {
		w.t.Fatalf("%s pays %s %d: %v", payer.name, payee.name, amount, err)
	}
	if err := payee.purse.Accept(v, time.Now()); err != nil {
		w.t.Fatalf("%s accepts from %s: %v", payee.name, payer.name, err)
	}
	return v
}

// sync uploads what the purse holds and applies the bank's sync receipt
// and the current revocation list.
func (w *world) sync(p *person) Report {
	w.t.Helper()
	up := p.purse.Upload()
	rep, err := w.s.Reconcile(w.ctx, p.bank, uploadOf(up))
	if err != nil {
		w.t.Fatalf("%s syncs: %v", p.name, err)
	}
	r := offline.SyncReceipt{Serial: up.Serial, Counter: up.Counter, Received: up.ReceivedBefore + uint64(len(up.Received)), Time: time.Now()}
	r.Sign(w.keys[p.bank])
	crl := w.s.Revocations()
	if err := p.purse.ApplySync(r, &crl); err != nil {
		w.t.Fatal(err)
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
	rep, err := w.s.Reconcile(w.ctx, p.bank, uploadOf(offline.Upload{Serial: p.purse.Serial(), Sent: sent, Received: received}))
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
	d, err := w.s.Device(p.purse.Serial())
	if err != nil {
		w.t.Fatal(err)
	}
	return d.Revoked
}

// clone copies a purse's whole state, as an attacker with a broken secure
// element would.
func clone(t *testing.T, p *offline.Purse) *offline.Purse {
	t.Helper()
	c, err := offline.LoadPurse(p.Save())
	if err != nil {
		t.Fatal(err)
	}
	return c
}
