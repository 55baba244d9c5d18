package settlement

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/offline"
)

// A bank cannot certify its own key under a serial another bank
// registered and spend that device's escrow.
func TestAttack_CertificateUnderAnotherBanksSerial(t *testing.T) {
	w := newWorld(t, staged())
	victim := w.person("bank-a", 50_000)
	w.fund(victim, 10_000)
	thief := w.person("bank-b", 0)
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	dc, err := offline.IssueDeviceCert(w.keys["bank-b"], offline.DeviceCert{Serial: victim.purse.Serial(), Key: pub,
		BankID: "bank-b", Limits: w.cfg.Policy.Limits, Issued: time.Now(), Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	r := &rogue{key: key, chain: offline.Chain{Bank: w.certs["bank-b"], Device: dc}}
	v := r.sign(1_000_000, offline.Hash{1}, thief.purse.Serial(), 10_000, time.Now())
	rep := w.reconcile(thief, nil, []offline.Voucher{v})
	if rep.Rejected != 1 || rep.Vouchers[0].Reason != offline.ReasonForged {
		t.Fatalf("impostor voucher: %+v", rep)
	}
	w.wantBalances(map[ledger.AccountID]int64{victim.escrow: 10_000, thief.wallet: 0})
	if w.revoked(victim) != "" || w.revoked(thief) != offline.Forgery {
		t.Errorf("revoked: victim %q, uploader %q", w.revoked(victim), w.revoked(thief))
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
	if _, err := w.s.Reconcile(w.ctx, "bank-a", Upload{Device: x.purse.Serial(), Sent: [][]byte{pre}}); err != nil {
		t.Fatal(err)
	}
	if rep := w.reconcile(b, nil, []offline.Voucher{v}); rep.Settled != 1 {
		t.Fatalf("the genuine voucher after its preimage: %+v", rep)
	}
	w.wantBalances(map[ledger.AccountID]int64{b.wallet: 10_000, a.escrow: 0})
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
	c, err := offline.IssueDeviceCert(w.keys["bank-a"], offline.DeviceCert{Serial: sn, Key: pub, BankID: "bank-a",
		Limits: loose, Issued: time.Now(), Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.s.RegisterDevice(w.ctx, "bank-a", c, p.wallet); ErrorCode(err) != ErrBadCertificate.Code {
		t.Errorf("registered a device with a purse cap above the policy's: %v", err)
	}
}
