package offline_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/offline"
)

// The tests of this package use only its exported API, as a wallet or a
// bank would. Signature domains are written out here rather than taken from
// the package, so the tests also pin the documented format.
const (
	domainBankCert    = "cbdc-sandbox/offline/bank-cert/v1\x00"
	domainDeviceCert  = "cbdc-sandbox/offline/device-cert/v1\x00"
	domainVoucher     = "cbdc-sandbox/offline/voucher/v1\x00"
	domainRevocations = "cbdc-sandbox/offline/revocations/v1\x00"
	domainReceipt     = "cbdc-sandbox/offline/funding-receipt/v1\x00"
	domainSync        = "cbdc-sandbox/offline/sync-receipt/v1\x00"
)

var allDomains = []string{domainBankCert, domainDeviceCert, domainVoucher, domainRevocations, domainReceipt, domainSync}

// t0 is the tests' "now": certificates are valid around it.
var t0 = time.Date(2030, 4, 10, 12, 0, 0, 0, time.UTC)

// seedKey is the ed25519 key whose seed is SHA-256 of name.
func seedKey(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte(name))
	return ed25519.NewKeyFromSeed(seed[:])
}

func pub(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

// serialN is a serial that reads as n in its last eight bytes.
func serialN(n uint64) offline.Serial {
	var s offline.Serial
	binary.BigEndian.PutUint64(s[8:], n)
	return s
}

// testLimits are the default limits in the given mode.
func testLimits(mode offline.Mode) offline.Limits {
	lim := offline.DefaultPolicy().Limits
	lim.Mode = mode
	return lim
}

// world is a central bank, one certified bank, and the bookkeeping to
// provision and fund purses.
type world struct {
	t       testing.TB
	root    ed25519.PrivateKey
	bankKey ed25519.PrivateKey
	bank    offline.BankCert
	serials uint64
	funding map[offline.Serial]uint64 // last funding receipt sequence per purse
}

func newWorld(t testing.TB) *world {
	t.Helper()
	w := &world{t: t, root: seedKey("root"), bankKey: seedKey("bank-a"), funding: map[offline.Serial]uint64{}}
	w.bank = w.issueBank("bank-a", w.bankKey, t0.AddDate(1, 0, 0))
	return w
}

func (w *world) rootPub() ed25519.PublicKey { return pub(w.root) }

func (w *world) issueBank(id string, key ed25519.PrivateKey, notAfter time.Time) offline.BankCert {
	w.t.Helper()
	c, err := offline.IssueBankCert(w.root, id, pub(key), notAfter)
	if err != nil {
		w.t.Fatalf("issue bank certificate: %v", err)
	}
	return c
}

func (w *world) nextSerial() offline.Serial {
	w.serials++
	return serialN(w.serials)
}

// deviceCert certifies key under a fresh serial, valid from a day before t0
// to 30 days after.
func (w *world) deviceCert(key ed25519.PublicKey, lim offline.Limits) offline.DeviceCert {
	w.t.Helper()
	return w.deviceCertValid(key, lim, t0.AddDate(0, 0, -1), t0.AddDate(0, 0, 30))
}

func (w *world) deviceCertValid(key ed25519.PublicKey, lim offline.Limits, issued, expires time.Time) offline.DeviceCert {
	w.t.Helper()
	c, err := offline.IssueDeviceCert(w.bankKey, offline.DeviceCert{
		Serial: w.nextSerial(), Key: key, BankID: w.bank.BankID, Limits: lim, Issued: issued, Expires: expires})
	if err != nil {
		w.t.Fatalf("issue device certificate: %v", err)
	}
	return c
}

// purse makes a purse and installs a certificate with the given limits.
func (w *world) purse(lim offline.Limits) *offline.Purse {
	w.t.Helper()
	p, err := offline.NewPurse(w.rootPub())
	if err != nil {
		w.t.Fatal(err)
	}
	w.install(p, w.deviceCert(p.PublicKey(), lim))
	return p
}

func (w *world) install(p *offline.Purse, dev offline.DeviceCert) {
	w.t.Helper()
	if err := p.Install(offline.Chain{Bank: w.bank, Device: dev}, t0); err != nil {
		w.t.Fatalf("install: %v", err)
	}
}

// funded is purse with amount funded.
func (w *world) funded(lim offline.Limits, amount int64) *offline.Purse {
	w.t.Helper()
	p := w.purse(lim)
	w.fund(p, amount)
	return p
}

// receipt is the bank's next funding receipt for p.
func (w *world) receipt(p *offline.Purse, amount int64) offline.FundingReceipt {
	w.funding[p.Serial()]++
	f := offline.FundingReceipt{Serial: p.Serial(), Seq: w.funding[p.Serial()], Amount: amount, Time: t0}
	f.Sign(w.bankKey)
	return f
}

func (w *world) fund(p *offline.Purse, amount int64) {
	w.t.Helper()
	if err := p.Fund(w.receipt(p, amount)); err != nil {
		w.t.Fatalf("fund: %v", err)
	}
}

// syncReceipt is the ledger's receipt for everything p has uploaded.
func (w *world) syncReceipt(p *offline.Purse) offline.SyncReceipt {
	u := p.Upload()
	s := offline.SyncReceipt{Serial: p.Serial(), Counter: u.Counter, Head: p.Last(),
		Received: u.ReceivedBefore + uint64(len(u.Received)), Time: t0}
	s.Sign(w.root)
	return s
}

func (w *world) sync(p *offline.Purse) {
	w.t.Helper()
	if err := p.ApplySync(w.syncReceipt(p), nil); err != nil {
		w.t.Fatalf("apply sync: %v", err)
	}
}

// revocations is a root-signed revocation list.
func (w *world) revocations(seq uint64, serials ...offline.Serial) offline.RevocationList {
	return offline.IssueRevocationList(w.root, seq, t0, serials)
}

// device is a certified payer whose key the test holds, to sign vouchers
// a genuine purse would refuse to make.
type device struct {
	key   ed25519.PrivateKey
	chain offline.Chain
}

func (w *world) device(name string, lim offline.Limits) *device {
	w.t.Helper()
	key := seedKey(name)
	return &device{key: key, chain: offline.Chain{Bank: w.bank, Device: w.deviceCert(pub(key), lim)}}
}

// voucher signs a voucher of d with the given fields; Chain, Payer and
// Signature are filled in.
func (d *device) voucher(v offline.Voucher) offline.Voucher {
	v.Chain = d.chain
	v.Payer = d.chain.Device.Serial
	return resign(d.key, v)
}

func resign(key ed25519.PrivateKey, v offline.Voucher) offline.Voucher {
	copy(v.Signature[:], ed25519.Sign(key, v.SignedBytes()))
	return v
}

// pays answers a request of payee for amount from d, as its first voucher
// or after prev.
func (d *device) pays(t testing.TB, payee *offline.Purse, amount int64, prev *offline.Voucher) offline.Voucher {
	t.Helper()
	q, err := payee.Request(amount, t0)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	v := offline.Voucher{Counter: 1, Payee: q.Payee, Amount: q.Amount, Nonce: q.Nonce, Time: t0}
	if prev != nil {
		v.Counter, v.Prev, v.Synced = prev.Counter+1, prev.Hash(), prev.Synced
	}
	return d.voucher(v)
}

// pay has payer answer a request of payee and payee accept the voucher.
func pay(t testing.TB, payer, payee *offline.Purse, amount int64) offline.Voucher {
	t.Helper()
	v := payOnly(t, payer, payee, amount)
	if err := payee.Accept(v, t0); err != nil {
		t.Fatalf("accept: %v", err)
	}
	return v
}

// payOnly has payer answer a request of payee, without accepting.
func payOnly(t testing.TB, payer, payee *offline.Purse, amount int64) offline.Voucher {
	t.Helper()
	q, err := payee.Request(amount, t0)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	v, err := payer.Pay(q, t0)
	if err != nil {
		t.Fatalf("pay: %v", err)
	}
	return v
}

// wantCode fails unless err is an offline error with the given code.
func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", code)
	}
	if got := offline.CodeOf(err); got != code {
		t.Fatalf("got error %q (code %q), want code %s", err, got, code)
	}
}

// wantMalformed fails unless err is ErrMalformed.
func wantMalformed(t testing.TB, err error) {
	t.Helper()
	if !errors.Is(err, offline.ErrMalformed) {
		t.Fatalf("got %v, want a malformed-encoding error", err)
	}
	wantCode(t, err, "malformed")
}

// unchanged runs f and fails if it changed the purse's saved state.
func unchanged(t testing.TB, p *offline.Purse, f func()) {
	t.Helper()
	before := p.Save()
	f()
	if !bytes.Equal(before, p.Save()) {
		t.Fatal("a refused operation changed the purse")
	}
}

func mustLoad(t testing.TB, b []byte) *offline.Purse {
	t.Helper()
	p, err := offline.LoadPurse(b)
	if err != nil {
		t.Fatalf("load purse: %v", err)
	}
	return p
}
