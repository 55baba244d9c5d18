package offline_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"math"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/offline"
)

// Tests of the emulated purse: paying, accepting, funding, syncing,
// defunding, and the attacks it lets scenarios play (clones, rollbacks,
// forged balances).

var (
	staged       = testLimits(offline.Staged)
	intermittent = testLimits(offline.Intermittent)
)

// TestAcceptRefusals has one case (or a few) per check of Accept's doc
// comment, in its order, each with the exact error code. A refused voucher
// leaves the payee purse as it was, its open request included.
func TestAcceptRefusals(t *testing.T) {
	type setup func(t *testing.T, w *world) (payee *offline.Purse, v offline.Voucher, now time.Time)
	cases := []struct {
		name  string
		code  string
		setup setup
	}{
		{"no request with this nonce", "unknown_request", func(t *testing.T, w *world) (*offline.Purse, offline.Voucher, time.Time) {
			payer, payee := w.funded(staged, 10_000), w.purse(staged)
			q := offline.PaymentRequest{Payee: payee.Serial(), Amount: 100, Nonce: fixedNonce("never asked"), Time: t0}
			v, err := payer.Pay(q, t0)
			if err != nil {
				t.Fatal(err)
			}
			return payee, v, t0
		}},
		{"request already paid", "unknown_request", func(t *testing.T, w *world) (*offline.Purse, offline.Voucher, time.Time) {
			payer, payee := w.funded(staged, 10_000), w.purse(staged)
			return payee, pay(t, payer, payee, 100), t0
		}},
		{"request cancelled", "unknown_request", func(t *testing.T, w *world) (*offline.Purse, offline.Voucher, time.Time) {
			payer, payee := w.funded(staged, 10_000), w.purse(staged)
			v := payOnly(t, payer, payee, 100)
			payee.CancelRequest(v.Nonce)
			return payee, v, t0
		}},
		{"voucher pays another purse", "wrong_payee", func(t *testing.T, w *world) (*offline.Purse, offline.Voucher, time.Time) {
			payer, payee, other := w.funded(staged, 10_000), w.purse(staged), w.purse(staged)
			v := payOnly(t, payer, payee, 100)
			if _, err := other.Request(100, t0); err != nil {
				t.Fatal(err)
			}
			return other, v, t0
		}},
		{"voucher is a defund", "wrong_payee", func(t *testing.T, w *world) (*offline.Purse, offline.Voucher, time.Time) {
			payer, payee := w.funded(staged, 10_000), w.purse(staged)
			v, err := payer.Defund(100, t0)
			if err != nil {
				t.Fatal(err)
			}
			return payee, v, t0
		}},
		{"amount differs from the request", "amount_mismatch", func(t *testing.T, w *world) (*offline.Purse, offline.Voucher, time.Time) {
			payer, payee := w.funded(staged, 10_000), w.purse(staged)
			q, err := payee.Request(1000, t0)
			if err != nil {
				t.Fatal(err)
			}
			q.Amount = 999
			v, err := payer.Pay(q, t0)
			if err != nil {
				t.Fatal(err)
			}
			return payee, v, t0
		}},
		{"payer certificate expired", "certificate_expired", func(t *testing.T, w *world) (*offline.Purse, offline.Voucher, time.Time) {
			payer, err := offline.NewPurse(w.rootPub())
			if err != nil {
				t.Fatal(err)
			}
			w.install(payer, w.deviceCertValid(payer.PublicKey(), staged, t0.Add(-time.Hour), t0.Add(time.Hour)))
			w.fund(payer, 10_000)
			payee := w.purse(staged)
			return payee, payOnly(t, payer, payee, 100), t0.Add(2 * time.Hour)
		}},
		{"voucher dated outside the payer's certificate", "certificate_expired", func(t *testing.T, w *world) (*offline.Purse, offline.Voucher, time.Time) {
			d := w.device("backdated", staged)
			d.chain.Device = w.deviceCertValid(pub(d.key), staged, t0.Add(-time.Hour), t0.Add(48*time.Hour))
			payee := w.purse(staged)
			v := d.pays(t, payee, 100, nil)
			v.Time = t0.Add(-2 * time.Hour) // before the certificate was issued
			return payee, d.voucher(v), t0
		}},
		{"payer certificate not yet valid", "certificate_expired", func(t *testing.T, w *world) (*offline.Purse, offline.Voucher, time.Time) {
			d := w.device("early", staged)
			d.chain.Device = w.deviceCertValid(pub(d.key), staged, t0.Add(time.Hour), t0.Add(48*time.Hour))
			payee := w.purse(staged)
			return payee, d.pays(t, payee, 100, nil), t0
		}},
		{"payer bank certificate expired", "certificate_expired", func(t *testing.T, w *world) (*offline.Purse, offline.Voucher, time.Time) {
			payer, err := offline.NewPurse(w.rootPub())
			if err != nil {
				t.Fatal(err)
			}
			short := w.issueBank("bank-a", w.bankKey, t0.Add(time.Hour))
			if err := payer.Install(offline.Chain{Bank: short, Device: w.deviceCert(payer.PublicKey(), staged)}, t0); err != nil {
				t.Fatal(err)
			}
			w.fund(payer, 10_000)
			payee := w.purse(staged)
			return payee, payOnly(t, payer, payee, 100), t0.Add(2 * time.Hour)
		}},
		{"bank not certified by the root", "unknown_bank", func(t *testing.T, w *world) (*offline.Purse, offline.Voucher, time.Time) {
			d := w.device("rogue", staged)
			rogue, err := offline.IssueBankCert(seedKey("another root"), "bank-a", pub(w.bankKey), t0.AddDate(1, 0, 0))
			if err != nil {
				t.Fatal(err)
			}
			d.chain.Bank = rogue
			payee := w.purse(staged)
			return payee, d.pays(t, payee, 100, nil), t0
		}},
		{"device certificate of another bank", "unknown_bank", func(t *testing.T, w *world) (*offline.Purse, offline.Voucher, time.Time) {
			d := w.device("elsewhere", staged)
			dev := d.chain.Device
			dev.BankID = "bank-b"
			var err error
			if d.chain.Device, err = offline.IssueDeviceCert(w.bankKey, dev); err != nil {
				t.Fatal(err)
			}
			payee := w.purse(staged)
			return payee, d.pays(t, payee, 100, nil), t0
		}},
		{"payer revoked", "revoked", func(t *testing.T, w *world) (*offline.Purse, offline.Voucher, time.Time) {
			payer, payee := w.funded(staged, 10_000), w.purse(staged)
			if err := payee.UpdateRevocations(w.revocations(1, serialN(1000), payer.Serial())); err != nil {
				t.Fatal(err)
			}
			return payee, payOnly(t, payer, payee, 100), t0
		}},
		{"signature changed", "bad_signature", func(t *testing.T, w *world) (*offline.Purse, offline.Voucher, time.Time) {
			payer, payee := w.funded(staged, 10_000), w.purse(staged)
			v := payOnly(t, payer, payee, 100)
			v.Signature[5] ^= 1
			return payee, v, t0
		}},
		{"field changed after signing", "bad_signature", func(t *testing.T, w *world) (*offline.Purse, offline.Voucher, time.Time) {
			payer, payee := w.funded(staged, 10_000), w.purse(staged)
			v := payOnly(t, payer, payee, 100)
			v.Time = v.Time.Add(time.Millisecond)
			return payee, v, t0
		}},
		{"signed by another key", "bad_signature", func(t *testing.T, w *world) (*offline.Purse, offline.Voucher, time.Time) {
			payer, payee := w.funded(staged, 10_000), w.purse(staged)
			return payee, resign(seedKey("mallory"), payOnly(t, payer, payee, 100)), t0
		}},
		{"device certificate not signed by its bank", "bad_signature", func(t *testing.T, w *world) (*offline.Purse, offline.Voucher, time.Time) {
			d := w.device("self-made", staged)
			var err error
			if d.chain.Device, err = offline.IssueDeviceCert(seedKey("not the bank"), d.chain.Device); err != nil {
				t.Fatal(err)
			}
			payee := w.purse(staged)
			return payee, d.pays(t, payee, 100, nil), t0
		}},
		{"over the payer's per-payment cap", "payment_cap", func(t *testing.T, w *world) (*offline.Purse, offline.Voucher, time.Time) {
			d := w.device("big spender", staged)
			payee := w.purse(staged)
			return payee, d.pays(t, payee, staged.PaymentCap+1, nil), t0
		}},
		{"payer certified with other limits", "limits_mismatch", func(t *testing.T, w *world) (*offline.Purse, offline.Voucher, time.Time) {
			d := w.device("looser", offline.Limits{Mode: offline.Staged, PaymentCap: 50_000, PurseCap: 500_000, PaymentsBeforeSync: 300})
			payee := w.purse(staged)
			return payee, d.pays(t, payee, 100, nil), t0
		}},
		{"payer certified for longer", "limits_mismatch", func(t *testing.T, w *world) (*offline.Purse, offline.Voucher, time.Time) {
			key := seedKey("long-lived")
			d := &device{key: key, chain: offline.Chain{Bank: w.bank,
				Device: w.deviceCertValid(pub(key), staged, t0.AddDate(0, 0, -1), t0.AddDate(1, 0, 0))}}
			payee := w.purse(staged)
			return payee, d.pays(t, payee, 100, nil), t0
		}},
		{"payee's own certificate expired", "certificate_expired", func(t *testing.T, w *world) (*offline.Purse, offline.Voucher, time.Time) {
			payer, payee := w.funded(staged, 10_000), w.purse(staged)
			return payee, payOnly(t, payer, payee, 100), t0.AddDate(0, 0, 31)
		}},
		{"over the payee's own cap", "purse_cap", func(t *testing.T, w *world) (*offline.Purse, offline.Voucher, time.Time) {
			small := offline.Limits{Mode: offline.Staged, PaymentCap: 20_000, PurseCap: 30_000, PaymentsBeforeSync: 5}
			payer := w.funded(small, 40_000)
			payee := w.purse(small)
			// Both requests fit when made; the second no longer fits once
			// the first is paid.
			first, second := payOnly(t, payer, payee, 20_000), payOnly(t, payer, payee, 20_000)
			if err := payee.Accept(first, t0); err != nil {
				t.Fatal(err)
			}
			return payee, second, t0
		}},
		{"over the payee's own cap, intermittent", "purse_cap", func(t *testing.T, w *world) (*offline.Purse, offline.Voucher, time.Time) {
			small := offline.Limits{Mode: offline.Intermittent, PaymentCap: 20_000, PurseCap: 30_000, PaymentsBeforeSync: 5}
			payer := w.funded(small, 30_000)
			payee := w.purse(small)
			w.fund(payee, 15_000)
			v := payOnly(t, payer, payee, 15_000)
			w.fund(payee, 1)
			return payee, v, t0
		}},
		{"too many payments since the payer's last sync", "sync_required", func(t *testing.T, w *world) (*offline.Purse, offline.Voucher, time.Time) {
			d := w.device("never syncs", staged)
			payee := w.purse(staged)
			q, err := payee.Request(100, t0)
			if err != nil {
				t.Fatal(err)
			}
			v := d.voucher(offline.Voucher{Counter: uint64(staged.PaymentsBeforeSync) + 1, Prev: offline.Hash{1}, Synced: 0,
				Payee: q.Payee, Amount: 100, Nonce: q.Nonce, Time: t0})
			return payee, v, t0
		}},
		{"claims a sync the ledger never vouched for", "bad_signature", func(t *testing.T, w *world) (*offline.Purse, offline.Voucher, time.Time) {
			d := w.device("self-synced", staged)
			payee := w.purse(staged)
			q := mustRequest(t, payee, 100)
			r := offline.SyncReceipt{Serial: d.chain.Device.Serial, Counter: 500, Head: offline.Hash{5}, Time: t0}
			r.Sign(w.bankKey) // a bank's key, not the root's
			return payee, d.voucher(offline.Voucher{Counter: 501, Prev: offline.Hash{5}, Synced: 500, Receipt: r,
				Payee: q.Payee, Amount: 100, Nonce: q.Nonce, Time: t0}), t0
		}},
		{"first voucher after a sync does not follow the receipt's voucher", "counter_order", func(t *testing.T, w *world) (*offline.Purse, offline.Voucher, time.Time) {
			d := w.device("forked after sync", staged)
			payee := w.purse(staged)
			q := mustRequest(t, payee, 100)
			r := offline.SyncReceipt{Serial: d.chain.Device.Serial, Counter: 7, Head: offline.Hash{7}, Time: t0}
			r.Sign(w.root)
			return payee, d.voucher(offline.Voucher{Counter: 8, Prev: offline.Hash{8}, Synced: 7, Receipt: r,
				Payee: q.Payee, Amount: 100, Nonce: q.Nonce, Time: t0}), t0
		}},
		{"rolled-back payer reuses a counter", "counter_order", func(t *testing.T, w *world) (*offline.Purse, offline.Voucher, time.Time) {
			payer, payee := w.funded(staged, 10_000), w.purse(staged)
			saved := payer.Save()
			pay(t, payer, payee, 100)
			return payee, payOnly(t, mustLoad(t, saved), payee, 100), t0
		}},
		{"payer goes back to an earlier counter", "counter_order", func(t *testing.T, w *world) (*offline.Purse, offline.Voucher, time.Time) {
			d := w.device("out of order", staged)
			payee := w.purse(staged)
			q1, q2 := mustRequest(t, payee, 100), mustRequest(t, payee, 100)
			later := d.voucher(offline.Voucher{Counter: 5, Prev: offline.Hash{5}, Payee: q1.Payee, Amount: 100, Nonce: q1.Nonce, Time: t0})
			if err := payee.Accept(later, t0); err != nil {
				t.Fatal(err)
			}
			return payee, d.voucher(offline.Voucher{Counter: 4, Prev: offline.Hash{4}, Payee: q2.Payee, Amount: 100, Nonce: q2.Nonce, Time: t0}), t0
		}},
		{"next counter does not chain to the last voucher", "counter_order", func(t *testing.T, w *world) (*offline.Purse, offline.Voucher, time.Time) {
			d := w.device("forked", staged)
			payee := w.purse(staged)
			first := d.pays(t, payee, 100, nil)
			if err := payee.Accept(first, t0); err != nil {
				t.Fatal(err)
			}
			next := d.pays(t, payee, 100, &first)
			next.Prev[0] ^= 1
			return payee, d.voucher(next), t0
		}},
		{"payee not provisioned", "not_provisioned", func(t *testing.T, w *world) (*offline.Purse, offline.Voucher, time.Time) {
			payer, payee := w.funded(staged, 10_000), w.purse(staged)
			bare, err := offline.NewPurse(w.rootPub())
			if err != nil {
				t.Fatal(err)
			}
			return bare, payOnly(t, payer, payee, 100), t0
		}},
	}
	codes := map[string]bool{}
	for _, c := range cases {
		codes[c.code] = true
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t)
			payee, v, now := c.setup(t, w)
			unchanged(t, payee, func() { wantCode(t, payee.Accept(v, now), c.code) })
		})
	}
	for _, code := range []string{"unknown_request", "wrong_payee", "amount_mismatch", "certificate_expired", "unknown_bank",
		"revoked", "bad_signature", "limits_mismatch", "payment_cap", "purse_cap", "sync_required", "counter_order"} {
		if !codes[code] {
			t.Errorf("no case for %s", code)
		}
	}
}

func mustRequest(t testing.TB, p *offline.Purse, amount int64) offline.PaymentRequest {
	t.Helper()
	q, err := p.Request(amount, t0)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	return q
}

// TestAcceptCheckOrder gives vouchers that break two rules: Accept reports
// the one its doc comment lists first.
func TestAcceptCheckOrder(t *testing.T) {
	w := newWorld(t)
	lim := offline.Limits{Mode: offline.Staged, PaymentCap: 1000, PurseCap: 5000, PaymentsBeforeSync: 2}
	d := w.device("order", lim)
	payee := w.purse(lim)
	// Sync receipts for the counters the payer claims, so that only the
	// rule under test fails.
	receipts := map[uint64]offline.SyncReceipt{}
	answer := func(amount int64, counter, synced uint64) offline.Voucher {
		q := mustRequest(t, payee, amount)
		v := offline.Voucher{Counter: counter, Synced: synced, Payee: q.Payee, Amount: q.Amount, Nonce: q.Nonce, Time: t0}
		if counter > 1 {
			v.Prev = offline.Hash{byte(counter)} // not what the payer's last voucher hashed to
		}
		if synced > 0 {
			r, ok := receipts[synced]
			if !ok {
				r = offline.SyncReceipt{Serial: d.chain.Device.Serial, Counter: synced, Head: offline.Hash{0xee, byte(synced)}, Time: t0}
				r.Sign(w.root)
				receipts[synced] = r
			}
			v.Receipt = r
		}
		return v
	}
	refused := func(v offline.Voucher, now time.Time, code string) {
		t.Helper()
		unchanged(t, payee, func() { wantCode(t, payee.Accept(v, now), code) })
	}
	accept := func(v offline.Voucher) {
		t.Helper()
		if err := payee.Accept(d.voucher(v), t0); err != nil {
			t.Fatal(err)
		}
	}

	// Another payee and an unknown nonce: the payee is checked first.
	v := answer(100, 1, 0)
	v.Payee, v.Nonce = serialN(999), fixedNonce("other")
	refused(d.voucher(v), t0, "wrong_payee")
	// An unknown nonce and another amount: the nonce first.
	v = answer(100, 1, 0)
	v.Nonce, v.Amount = fixedNonce("other"), 5
	refused(d.voucher(v), t0, "unknown_request")
	// Expired and revoked: the certificate first.
	if err := payee.UpdateRevocations(w.revocations(1, d.chain.Device.Serial)); err != nil {
		t.Fatal(err)
	}
	refused(d.voucher(answer(100, 1, 0)), t0.AddDate(1, 0, 0), "certificate_expired")
	// Revoked and badly signed: the revocation list first.
	bad := d.voucher(answer(100, 1, 0))
	bad.Signature[0] ^= 1
	refused(bad, t0, "revoked")
	if err := payee.UpdateRevocations(w.revocations(2)); err != nil {
		t.Fatal(err)
	}
	// Badly signed and over the payer's cap: the signature first.
	bad = d.voucher(answer(1001, 1, 0))
	bad.Signature[0] ^= 1
	refused(bad, t0, "bad_signature")
	// Over the payer's cap and its sync limit: the cap first.
	refused(d.voucher(answer(1001, 3, 0)), t0, "payment_cap")
	// Over the sync limit and out of order: the sync limit first.
	accept(answer(100, 5, 3))
	refused(d.voucher(answer(100, 4, 0)), t0, "sync_required")
	// Out of order and over the payee's cap: the order first.
	for c := uint64(8); c <= 14; c += 2 {
		accept(answer(1000, c, c-2))
	}
	if payee.Pending() != 4100 {
		t.Fatalf("pending %d", payee.Pending())
	}
	refused(d.voucher(answer(900, 14, 12)), t0, "counter_order")
	v = answer(900, 16, 14)
	v.Amount = 901
	refused(d.voucher(v), t0, "amount_mismatch")
	// A request that fits when made, answered after the purse filled up.
	last := answer(1, 18, 16)
	accept(answer(900, 16, 14))
	refused(d.voucher(last), t0, "purse_cap")
}

func TestStagedPayment(t *testing.T) {
	w := newWorld(t)
	payer, payee := w.funded(staged, 50_000), w.purse(staged)
	v := pay(t, payer, payee, 1500)
	if payer.Balance() != 48_500 || payer.Counter() != 1 || payer.SinceSync() != 1 {
		t.Fatalf("payer: balance %d, counter %d, since sync %d", payer.Balance(), payer.Counter(), payer.SinceSync())
	}
	// Received value waits for settlement: it is pending, not spendable.
	if payee.Balance() != 0 || payee.Pending() != 1500 {
		t.Fatalf("payee: balance %d, pending %d", payee.Balance(), payee.Pending())
	}
	third := w.purse(staged)
	q := mustRequest(t, third, 100)
	_, err := payee.Pay(q, t0)
	wantCode(t, err, "insufficient_funds")
	// Pending value counts towards the payee's cap.
	_, err = payee.Request(offline.DefaultPurseCap-1499, t0)
	wantCode(t, err, "purse_cap")

	up := payee.Upload()
	if len(up.Received) != 1 || up.Received[0].Hash() != v.Hash() || up.ReceivedBefore != 0 || len(up.Sent) != 0 {
		t.Fatalf("payee upload: %+v", up)
	}
	up = payer.Upload()
	if len(up.Sent) != 1 || up.Sent[0].Hash() != v.Hash() || up.Counter != 1 || up.Serial != payer.Serial() {
		t.Fatalf("payer upload: %+v", up)
	}
	// Syncing hands the received value to the online wallet.
	w.sync(payee)
	if payee.Balance() != 0 || payee.Pending() != 0 || len(payee.Upload().Received) != 0 {
		t.Fatalf("payee after sync: balance %d, pending %d, upload %+v", payee.Balance(), payee.Pending(), payee.Upload())
	}
	w.sync(payer)
	if payer.SinceSync() != 0 || len(payer.Upload().Sent) != 0 || payer.Balance() != 48_500 {
		t.Fatalf("payer after sync: since sync %d, balance %d", payer.SinceSync(), payer.Balance())
	}
}

func TestIntermittentMultiHop(t *testing.T) {
	w := newWorld(t)
	a, b, c := w.funded(intermittent, 10_000), w.purse(intermittent), w.purse(intermittent)
	pay(t, a, b, 3000)
	// Value received in intermittent mode is spendable at once.
	if b.Balance() != 3000 || b.Pending() != 0 {
		t.Fatalf("b: balance %d, pending %d", b.Balance(), b.Pending())
	}
	pay(t, b, c, 2000)
	pay(t, c, a, 1500)
	pay(t, a, c, 8000)
	for _, x := range []struct {
		name string
		p    *offline.Purse
		want int64
	}{{"a", a, 10_000 - 3000 + 1500 - 8000}, {"b", b, 1000}, {"c", c, 2000 - 1500 + 8000}} {
		if x.p.Balance() != x.want || x.p.Pending() != 0 {
			t.Errorf("%s: balance %d, pending %d; want balance %d", x.name, x.p.Balance(), x.p.Pending(), x.want)
		}
	}
	// Syncing leaves the spendable value where it is.
	w.sync(c)
	if c.Balance() != 8500 || len(c.Upload().Received) != 0 || len(c.Upload().Sent) != 0 {
		t.Fatalf("c after sync: balance %d, upload %+v", c.Balance(), c.Upload())
	}
}

func TestAcceptCounterGaps(t *testing.T) {
	// A payer pays others between two payments to this payee: counters
	// may skip, and the next one need not chain to what this payee saw.
	w := newWorld(t)
	payer, payee, other := w.funded(staged, 10_000), w.purse(staged), w.purse(staged)
	first := pay(t, payer, payee, 100)
	pay(t, payer, other, 100)
	third := pay(t, payer, payee, 100)
	if first.Counter != 1 || third.Counter != 3 || third.Prev == first.Hash() {
		t.Fatalf("counters %d, %d", first.Counter, third.Counter)
	}
	// The next counter right after one seen must chain.
	fourth := pay(t, payer, payee, 100)
	if fourth.Prev != third.Hash() {
		t.Fatal("fourth voucher does not chain to the third")
	}
	if payee.Pending() != 300 {
		t.Fatalf("pending %d", payee.Pending())
	}
}

func TestPayVoucher(t *testing.T) {
	w := newWorld(t)
	payer, payee := w.funded(staged, 10_000), w.purse(staged)
	var prev offline.Hash
	for i := uint64(1); i <= 3; i++ {
		q := mustRequest(t, payee, int64(100*i))
		now := t0.Add(time.Duration(i)*time.Second + 123456*time.Nanosecond)
		v, err := payer.Pay(q, now)
		if err != nil {
			t.Fatal(err)
		}
		want := offline.Voucher{Chain: *payer.Chain(), Payer: payer.Serial(), Counter: i, Prev: prev, Synced: 0,
			Payee: payee.Serial(), Amount: int64(100 * i), Nonce: q.Nonce, Time: now.Truncate(time.Millisecond), Signature: v.Signature}
		if !bytes.Equal(v.Marshal(), want.Marshal()) {
			t.Fatalf("voucher %d:\n%+v\nwant\n%+v", i, v, want)
		}
		if err := v.VerifySignature(w.rootPub()); err != nil {
			t.Fatal(err)
		}
		if err := offline.CheckVoucher(&v, w.rootPub(), nil, now); err != nil {
			t.Fatal(err)
		}
		parsed, err := offline.ParseVoucher(v.Marshal())
		if err != nil || parsed.Hash() != v.Hash() {
			t.Fatalf("voucher %d does not round trip: %v", i, err)
		}
		prev = v.Hash()
	}
	if payer.Balance() != 10_000-600 {
		t.Fatalf("balance %d", payer.Balance())
	}
}

func TestPayRefusals(t *testing.T) {
	w := newWorld(t)
	limits := offline.Limits{Mode: offline.Staged, PaymentCap: 1000, PurseCap: 5000, PaymentsBeforeSync: 3}
	payer, payee := w.funded(limits, 5000), w.purse(limits)
	refuse := func(q offline.PaymentRequest, now time.Time, code string) {
		t.Helper()
		unchanged(t, payer, func() {
			_, err := payer.Pay(q, now)
			wantCode(t, err, code)
		})
	}
	q := mustRequest(t, payee, 1000)
	big := q
	big.Amount = 1001
	refuse(big, t0, "payment_cap")
	for _, amount := range []int64{0, -1, math.MinInt64} {
		bad := q
		bad.Amount = amount
		refuse(bad, t0, "invalid_amount")
	}
	for _, s := range []offline.Serial{{}, payer.Serial()} {
		bad := q
		bad.Payee = s
		refuse(bad, t0, "wrong_payee")
	}
	refuse(q, t0.AddDate(0, 0, 31), "certificate_expired")
	refuse(q, t0.AddDate(0, 0, -2), "certificate_expired")

	// PaymentsBeforeSync payments, then a sync is required.
	for i := 0; i < 3; i++ {
		pay(t, payer, payee, 1000)
	}
	if payer.SinceSync() != 3 {
		t.Fatalf("since sync %d", payer.SinceSync())
	}
	refuse(mustRequest(t, payee, 10), t0, "sync_required")
	w.sync(payer)
	pay(t, payer, payee, 1000)
	if payer.Balance() != 1000 {
		t.Fatalf("balance %d", payer.Balance())
	}
	w.sync(payee) // its pending value goes online, so it has room to ask
	refuse(mustRequest(t, payee, 1001), t0, "payment_cap")
	pay(t, payer, payee, 1000)
	refuse(mustRequest(t, payee, 1), t0, "insufficient_funds")

	bare, err := offline.NewPurse(w.rootPub())
	if err != nil {
		t.Fatal(err)
	}
	_, err = bare.Pay(q, t0)
	wantCode(t, err, "not_provisioned")
}

func TestRequest(t *testing.T) {
	w := newWorld(t)
	p := w.purse(offline.Limits{Mode: offline.Intermittent, PaymentCap: 1000, PurseCap: 5000, PaymentsBeforeSync: 3})
	for _, bad := range []int64{0, -1} {
		_, err := p.Request(bad, t0)
		wantCode(t, err, "invalid_amount")
	}
	w.fund(p, 4000)
	_, err := p.Request(1001, t0)
	wantCode(t, err, "purse_cap")
	q := mustRequest(t, p, 1000)
	if q.Payee != p.Serial() || q.Amount != 1000 || !q.Time.Equal(t0) {
		t.Fatalf("request %+v", q)
	}
	seen := map[offline.Nonce]bool{q.Nonce: true}
	for i := 1; i < offline.MaxOpenRequests; i++ {
		q := mustRequest(t, p, 1)
		if seen[q.Nonce] {
			t.Fatal("a nonce repeats")
		}
		seen[q.Nonce] = true
	}
	_, err = p.Request(1, t0)
	wantCode(t, err, "unknown_request")
	p.CancelRequest(q.Nonce)
	mustRequest(t, p, 1)

	bare, err := offline.NewPurse(w.rootPub())
	if err != nil {
		t.Fatal(err)
	}
	_, err = bare.Request(1, t0)
	wantCode(t, err, "not_provisioned")
}

func TestInstall(t *testing.T) {
	w := newWorld(t)
	p, err := offline.NewPurse(w.rootPub())
	if err != nil {
		t.Fatal(err)
	}
	if p.Chain() != nil || !p.Serial().IsZero() {
		t.Fatal("a new purse has a certificate")
	}
	other := w.deviceCert(pub(seedKey("someone else")), staged)
	wantCode(t, p.Install(offline.Chain{Bank: w.bank, Device: other}, t0), "wrong_device")
	dev := w.deviceCert(p.PublicKey(), staged)
	wantCode(t, p.Install(offline.Chain{Bank: w.bank, Device: dev}, t0.AddDate(0, 2, 0)), "certificate_expired")
	rogue, err := offline.IssueBankCert(seedKey("another root"), "bank-a", pub(w.bankKey), t0.AddDate(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, p.Install(offline.Chain{Bank: rogue, Device: dev}, t0), "unknown_bank")
	w.install(p, dev)
	if p.Serial() != dev.Serial {
		t.Fatal("serial")
	}
	// A renewed certificate for the same serial replaces the old one; one
	// for another serial is refused.
	renewed := dev
	renewed.Expires = dev.Expires.AddDate(0, 1, 0)
	if renewed, err = offline.IssueDeviceCert(w.bankKey, renewed); err != nil {
		t.Fatal(err)
	}
	w.install(p, renewed)
	if !p.Chain().Device.Expires.Equal(renewed.Expires) {
		t.Fatal("renewed certificate not installed")
	}
	wantCode(t, p.Install(offline.Chain{Bank: w.bank, Device: w.deviceCert(p.PublicKey(), staged)}, t0), "wrong_device")
}

func TestFund(t *testing.T) {
	w := newWorld(t)
	p, q := w.purse(staged), w.purse(staged)
	first := w.receipt(p, 1000)
	if err := p.Fund(first); err != nil {
		t.Fatal(err)
	}
	w.fund(p, 2000)
	if p.Balance() != 3000 {
		t.Fatalf("balance %d", p.Balance())
	}
	refuse := func(f offline.FundingReceipt, code string) {
		t.Helper()
		unchanged(t, p, func() { wantCode(t, p.Fund(f), code) })
	}
	// Stale: applied already, or older than one applied.
	refuse(first, "stale_receipt")
	again := offline.FundingReceipt{Serial: p.Serial(), Seq: 2, Amount: 5000, Time: t0}
	again.Sign(w.bankKey)
	refuse(again, "stale_receipt")
	// Foreign: for another purse.
	refuse(w.receipt(q, 1000), "wrong_device")
	// Badly signed: another key, the root, a changed amount, the sync
	// receipt domain.
	for _, key := range []ed25519.PrivateKey{seedKey("bank-b"), w.root} {
		f := offline.FundingReceipt{Serial: p.Serial(), Seq: 3, Amount: 5000, Time: t0}
		f.Sign(key)
		refuse(f, "bad_signature")
	}
	f := offline.FundingReceipt{Serial: p.Serial(), Seq: 3, Amount: 5000, Time: t0}
	f.Sign(w.bankKey)
	changed := f
	changed.Amount = 50_000
	refuse(changed, "bad_signature")
	asSync := f
	copy(asSync.Signature[:], ed25519.Sign(w.bankKey, append([]byte(domainSync), f.Marshal()[:len(f.Marshal())-64]...)))
	refuse(asSync, "bad_signature")
	// A receipt ahead of one not yet seen applies; the one behind it still
	// applies when it comes, once.
	f.Seq = 4
	f.Sign(w.bankKey)
	if err := p.Fund(f); err != nil {
		t.Fatal(err)
	}
	refuse(f, "stale_receipt")
	late := offline.FundingReceipt{Serial: p.Serial(), Seq: 3, Amount: 700, Time: t0}
	late.Sign(w.bankKey)
	if err := p.Fund(late); err != nil {
		t.Fatalf("a funding answered late, after a later one: %v", err)
	}
	refuse(late, "stale_receipt")
	if p.Balance() != 8700 {
		t.Fatalf("balance %d", p.Balance())
	}
	// The balance never overflows.
	big := offline.FundingReceipt{Serial: p.Serial(), Seq: 5, Amount: math.MaxInt64, Time: t0}
	big.Sign(w.bankKey)
	refuse(big, "purse_cap")
	// At most MaxFundingsAhead receipts wait past a missing one.
	for i := uint64(0); i < offline.MaxFundingsAhead; i++ {
		r := offline.FundingReceipt{Serial: p.Serial(), Seq: 7 + i, Amount: 1, Time: t0}
		r.Sign(w.bankKey)
		if err := p.Fund(r); err != nil {
			t.Fatalf("funding %d ahead: %v", i+1, err)
		}
	}
	tooFar := offline.FundingReceipt{Serial: p.Serial(), Seq: 7 + offline.MaxFundingsAhead, Amount: 1, Time: t0}
	tooFar.Sign(w.bankKey)
	refuse(tooFar, "stale_receipt")
	saved := p.Save()
	if !bytes.Equal(mustLoad(t, saved).Save(), saved) {
		t.Fatal("a purse with fundings ahead does not save and load")
	}
	w.funding[p.Serial()] = 4
	w.fund(p, 1) // the missing fifth and sixth
	w.fund(p, 1)
	if err := p.Fund(tooFar); err != nil { // next in line now
		t.Fatal(err)
	}
	if p.Balance() != 8700+2+offline.MaxFundingsAhead+1 {
		t.Fatalf("balance %d", p.Balance())
	}

	bare, err := offline.NewPurse(w.rootPub())
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, bare.Fund(f), "not_provisioned")
}

func TestDefund(t *testing.T) {
	w := newWorld(t)
	p, payee := w.funded(staged, 10_000), w.purse(staged)
	// A purse that never paid has nothing to sync.
	v, err := p.Defund(3000, t0)
	if err != nil {
		t.Fatal(err)
	}
	if !v.Payee.IsZero() || v.Amount != 3000 || v.Counter != 1 || v.Payer != p.Serial() || p.Balance() != 7000 {
		t.Fatalf("defund voucher %+v, balance %d", v, p.Balance())
	}
	if err := v.VerifySignature(w.rootPub()); err != nil {
		t.Fatal(err)
	}
	if parsed, err := offline.ParseVoucher(v.Marshal()); err != nil || parsed.Hash() != v.Hash() {
		t.Fatalf("defund voucher does not round trip: %v", err)
	}
	refuse := func(amount int64, code string) {
		t.Helper()
		unchanged(t, p, func() {
			_, err := p.Defund(amount, t0)
			wantCode(t, err, code)
		})
	}
	// The defund itself must be synced before the next one.
	refuse(1000, "sync_required")
	w.sync(p)
	pay(t, p, payee, 500)
	refuse(1000, "sync_required")
	w.sync(p)
	refuse(0, "invalid_amount")
	refuse(-5, "invalid_amount")
	refuse(6501, "insufficient_funds")
	v, err = p.Defund(6500, t0)
	if err != nil {
		t.Fatal(err)
	}
	if p.Balance() != 0 || v.Counter != 3 || v.Synced != 2 {
		t.Fatalf("balance %d, voucher %+v", p.Balance(), v)
	}
	bare, err := offline.NewPurse(w.rootPub())
	if err != nil {
		t.Fatal(err)
	}
	_, err = bare.Defund(1, t0)
	wantCode(t, err, "not_provisioned")
}

func TestApplySyncSent(t *testing.T) {
	w := newWorld(t)
	limits := offline.Limits{Mode: offline.Staged, PaymentCap: 1000, PurseCap: 5000, PaymentsBeforeSync: 5}
	a, b := w.funded(limits, 5000), w.purse(limits)
	var sent []offline.Voucher
	for i := int64(1); i <= 3; i++ {
		sent = append(sent, pay(t, a, b, 100*i))
	}
	heads := map[uint64]offline.Hash{}
	for _, v := range sent {
		heads[v.Counter] = v.Hash()
	}
	receipt := func(counter, received uint64) offline.SyncReceipt {
		s := offline.SyncReceipt{Serial: a.Serial(), Counter: counter, Head: heads[counter], Received: received, Time: t0}
		s.Sign(w.root)
		return s
	}
	// A receipt for the first two drops them from the log.
	partial := receipt(2, 0)
	if err := a.ApplySync(partial, nil); err != nil {
		t.Fatal(err)
	}
	if up := a.Upload(); len(up.Sent) != 1 || up.Sent[0].Hash() != sent[2].Hash() || a.SinceSync() != 1 {
		t.Fatalf("after partial sync: %d sent, since sync %d", len(up.Sent), a.SinceSync())
	}
	// A voucher made now records the sync.
	v := pay(t, a, b, 50)
	if v.Synced != 2 || v.Counter != 4 || v.Receipt != partial {
		t.Fatalf("voucher after sync: counter %d, synced %d, receipt %+v", v.Counter, v.Synced, v.Receipt)
	}
	heads[4] = v.Hash()
	full := receipt(4, 0)
	if err := a.ApplySync(full, nil); err != nil {
		t.Fatal(err)
	}
	if len(a.Upload().Sent) != 0 || a.SinceSync() != 0 || a.Counter() != 4 || a.Balance() != 5000-650 {
		t.Fatalf("after full sync: %+v, since sync %d, balance %d", a.Upload(), a.SinceSync(), a.Balance())
	}
	refuse := func(s offline.SyncReceipt, code string) {
		t.Helper()
		unchanged(t, a, func() { wantCode(t, a.ApplySync(s, nil), code) })
	}
	// Stale: older than the one applied.
	refuse(partial, "stale_receipt")
	// Applying the same receipt again changes nothing.
	unchanged(t, a, func() {
		if err := a.ApplySync(full, nil); err != nil {
			t.Fatal(err)
		}
	})
	// Foreign: for another purse, or covering vouchers never made.
	foreign := offline.SyncReceipt{Serial: b.Serial(), Counter: 4, Head: heads[4], Time: t0}
	foreign.Sign(w.root)
	refuse(foreign, "wrong_device")
	heads[5] = offline.Hash{5}
	refuse(receipt(5, 0), "wrong_device")
	refuse(receipt(4, 1), "wrong_device")
	// A receipt naming another voucher at a counter the purse reached: a
	// copy of the purse that paid differently.
	copied := receipt(4, 0)
	copied.Head[0] ^= 1
	copied.Sign(w.root)
	refuse(copied, "wrong_device")
	// Badly signed.
	forged := full
	forged.Time = forged.Time.Add(time.Second)
	refuse(forged, "bad_signature")
	byBank := offline.SyncReceipt{Serial: a.Serial(), Counter: 4, Head: heads[4], Time: t0}
	byBank.Sign(w.bankKey)
	refuse(byBank, "bad_signature")
	asRevocations := full
	copy(asRevocations.Signature[:], ed25519.Sign(w.root, append([]byte(domainRevocations), full.Marshal()[:len(full.Marshal())-64]...)))
	refuse(asRevocations, "bad_signature")

	bare, err := offline.NewPurse(w.rootPub())
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, bare.ApplySync(full, nil), "not_provisioned")
}

func TestApplySyncReceived(t *testing.T) {
	for _, mode := range []offline.Mode{offline.Staged, offline.Intermittent} {
		t.Run(mode.String(), func(t *testing.T) {
			w := newWorld(t)
			a, b := w.funded(testLimits(mode), 5000), w.purse(testLimits(mode))
			var got []offline.Voucher
			for i := int64(1); i <= 3; i++ {
				got = append(got, pay(t, a, b, 100*i))
			}
			spendable, pending := int64(600), int64(0)
			if mode == offline.Staged {
				spendable, pending = 0, 600
			}
			if b.Balance() != spendable || b.Pending() != pending {
				t.Fatalf("balance %d, pending %d", b.Balance(), b.Pending())
			}
			receipt := func(received uint64) offline.SyncReceipt {
				s := offline.SyncReceipt{Serial: b.Serial(), Received: received, Time: t0}
				s.Sign(w.root)
				return s
			}
			first := receipt(1)
			if err := b.ApplySync(first, nil); err != nil {
				t.Fatal(err)
			}
			up := b.Upload()
			if len(up.Received) != 2 || up.ReceivedBefore != 1 || up.Received[0].Hash() != got[1].Hash() {
				t.Fatalf("after the first receipt: %d received, %d before", len(up.Received), up.ReceivedBefore)
			}
			if mode == offline.Staged {
				pending -= 100
			}
			if b.Balance() != spendable || b.Pending() != pending {
				t.Fatalf("after the first receipt: balance %d, pending %d", b.Balance(), b.Pending())
			}
			if err := b.ApplySync(receipt(3), nil); err != nil {
				t.Fatal(err)
			}
			if len(b.Upload().Received) != 0 || b.Upload().ReceivedBefore != 3 || b.Pending() != 0 || b.Balance() != spendable {
				t.Fatalf("after the full receipt: %+v, balance %d, pending %d", b.Upload(), b.Balance(), b.Pending())
			}
			unchanged(t, b, func() { wantCode(t, b.ApplySync(first, nil), "stale_receipt") })
		})
	}
}

func TestApplySyncRevocations(t *testing.T) {
	w := newWorld(t)
	p := w.purse(staged)
	receipt := w.syncReceipt(p)
	if p.Revocations() != nil {
		t.Fatal("a new purse has a revocation list")
	}
	l2 := w.revocations(2, serialN(7))
	if err := p.ApplySync(receipt, &l2); err != nil {
		t.Fatal(err)
	}
	if r := p.Revocations(); r == nil || r.Seq != 2 || !r.Contains(serialN(7)) {
		t.Fatalf("revocations %+v", r)
	}
	// An older list is ignored.
	l1 := w.revocations(1, serialN(8))
	unchanged(t, p, func() {
		if err := p.ApplySync(receipt, &l1); err != nil {
			t.Fatal(err)
		}
	})
	// A list not signed by the root is refused, and so is the receipt
	// that came with it.
	payee := w.purse(staged)
	w.fund(p, 1000)
	pay(t, p, payee, 100)
	receipt = w.syncReceipt(p)
	for _, bad := range []offline.RevocationList{
		offline.IssueRevocationList(w.bankKey, 3, t0, nil),
		func() offline.RevocationList { l := w.revocations(3, serialN(9)); l.Seq = 4; return l }(),
		func() offline.RevocationList { l := w.revocations(3, serialN(9)); l.Serials = nil; return l }(),
	} {
		unchanged(t, p, func() { wantCode(t, p.ApplySync(receipt, &bad), "bad_signature") })
		unchanged(t, p, func() { wantCode(t, p.UpdateRevocations(bad), "bad_signature") })
	}
	if p.SinceSync() != 1 {
		t.Fatal("the receipt was applied with a bad revocation list")
	}
	l3 := w.revocations(3, serialN(9))
	if err := p.ApplySync(receipt, &l3); err != nil {
		t.Fatal(err)
	}
	if p.SinceSync() != 0 || p.Revocations().Seq != 3 || p.Revocations().Contains(serialN(7)) {
		t.Fatalf("since sync %d, revocations %+v", p.SinceSync(), p.Revocations())
	}
	// UpdateRevocations takes only newer lists too.
	if err := p.UpdateRevocations(l2); err != nil || p.Revocations().Seq != 3 {
		t.Fatalf("update with an older list: %v, seq %d", err, p.Revocations().Seq)
	}
}

// rich is a purse (a) with every part of its state set: a certificate,
// balance and pending value, sent and received vouchers not yet synced,
// open requests, payers seen and a revocation list; b is the purse that
// paid it (bBefore its state before its last payment), c the purse it paid
// and open its open requests.
type rich struct {
	a, b, c *offline.Purse
	bBefore []byte
	open    []offline.PaymentRequest
}

func richPurse(t testing.TB, w *world) rich {
	t.Helper()
	r := rich{a: w.funded(staged, 20_000), b: w.funded(staged, 20_000), c: w.purse(staged)}
	pay(t, r.a, r.c, 100)
	w.sync(r.a)
	pay(t, r.a, r.c, 200)
	pay(t, r.b, r.a, 300)
	r.bBefore = r.b.Save()
	pay(t, r.b, r.a, 400)
	if err := r.a.UpdateRevocations(w.revocations(4, serialN(77), serialN(78))); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		r.open = append(r.open, mustRequest(t, r.a, int64(10+i)))
	}
	return r
}

func TestSaveLoad(t *testing.T) {
	w := newWorld(t)
	r := richPurse(t, w)
	a, b, c := r.a, r.b, r.c
	saved := a.Save()
	if !bytes.Equal(saved, a.Save()) {
		t.Fatal("saving twice gives different bytes")
	}
	loaded := mustLoad(t, saved)
	if !bytes.Equal(loaded.Save(), saved) {
		t.Fatal("a loaded purse saves to other bytes")
	}
	if loaded.Balance() != a.Balance() || loaded.Pending() != 700 || loaded.Counter() != 2 || loaded.SinceSync() != 1 ||
		loaded.Serial() != a.Serial() || !loaded.PublicKey().Equal(a.PublicKey()) || loaded.Revocations().Seq != 4 {
		t.Fatalf("loaded purse: balance %d, pending %d, counter %d", loaded.Balance(), loaded.Pending(), loaded.Counter())
	}
	if up, want := loaded.Upload(), a.Upload(); len(up.Sent) != 1 || len(up.Received) != 2 ||
		up.Sent[0].Hash() != want.Sent[0].Hash() || up.Received[1].Hash() != want.Received[1].Hash() {
		t.Fatalf("loaded logs: %+v", up)
	}
	// The loaded purse carries on: its next voucher chains, and a payee
	// that saw the last one accepts it.
	v := pay(t, loaded, c, 50)
	if v.Counter != 3 || v.Prev != a.Upload().Sent[0].Hash() || v.Synced != 1 {
		t.Fatalf("voucher of the loaded purse: counter %d, synced %d", v.Counter, v.Synced)
	}
	// It keeps its open requests.
	bv, err := b.Pay(r.open[3], t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := loaded.Accept(bv, t0); err != nil {
		t.Fatalf("the loaded purse refuses an answer to its open request: %v", err)
	}
	// It remembers the payers it saw: b rolled back reuses a counter.
	rolled := mustLoad(t, r.bBefore)
	reused, err := rolled.Pay(r.open[4], t0)
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, loaded.Accept(reused, t0), "counter_order")
	w.sync(loaded)
	if len(loaded.Upload().Sent) != 0 || loaded.Pending() != 0 {
		t.Fatal("sync of the loaded purse")
	}

	// An unprovisioned purse saves and loads too, and can be installed.
	bare, err := offline.NewPurse(w.rootPub())
	if err != nil {
		t.Fatal(err)
	}
	again := mustLoad(t, bare.Save())
	if !bytes.Equal(again.Save(), bare.Save()) || again.Chain() != nil {
		t.Fatal("an unprovisioned purse does not round trip")
	}
	w.install(again, w.deviceCert(bare.PublicKey(), staged))
}

func TestLoadPurseRefuses(t *testing.T) {
	w := newWorld(t)
	saved := richPurse(t, w).a.Save()
	mustLoad(t, saved)
	for n := 0; n < len(saved); n++ {
		_, err := offline.LoadPurse(saved[:n:n])
		wantMalformed(t, err)
	}
	_, err := offline.LoadPurse(append(bytes.Clone(saved), 0))
	wantMalformed(t, err)
	b := bytes.Clone(saved)
	b[0] = 2
	_, err = offline.LoadPurse(b)
	wantMalformed(t, err)
	b = bytes.Clone(saved)
	b[1] = 'V'
	_, err = offline.LoadPurse(b)
	wantMalformed(t, err)
}

// Offsets in a saved purse state (docs/offline.md): version, type, seed,
// root key, then the two certificates each after a 2-byte length, then
// balance, pending, counter, synced, funding sequence and received count
// (8 bytes each), the last voucher's hash, the sync receipt after a 2-byte
// length and the fundings applied ahead (a 4-byte count, 8 bytes each).
func purseCounterOffset(p *offline.Purse) int {
	return 2 + 32 + 32 + 2 + len(p.Chain().Bank.Marshal()) + 2 + len(p.Chain().Device.Marshal()) + 16
}

// damagedStates are saved states of r.a with one part changed so the
// whole no longer agrees with itself or is not in its canonical form.
func damagedStates(t testing.TB, r rich) map[string][]byte {
	saved := r.a.Save()
	counter := purseCounterOffset(r.a)
	set := func(off int, v uint64) []byte {
		b := bytes.Clone(saved)
		binary.BigEndian.PutUint64(b[off:], v)
		return b
	}
	out := map[string][]byte{
		"counter ahead of the sent log": set(counter, 9),
		"counter behind the sent log":   set(counter, 1),
		"synced after the counter":      set(counter+8, 3),
		"fewer received than in inbox":  set(counter+24, 1),
	}
	// The revocation-list flag, after the last voucher hash, the sync
	// receipt and the (empty) list of fundings applied ahead.
	flag := counter + 32 + 32 + 2 + len(offline.SyncReceipt{}.Marshal()) + 4
	if binary.BigEndian.Uint32(saved[flag:]) != 1 {
		t.Fatal("rich purse has no revocation list")
	}
	b := bytes.Clone(saved)
	b[flag+3] = 2
	out["revocation-list flag 2"] = b
	// A device certificate without its bank certificate.
	bankLen := len(r.a.Chain().Bank.Marshal())
	out["device certificate without bank certificate"] = append(append(bytes.Clone(saved[:66]), 0, 0), saved[66+2+bankLen:]...)
	// Two open requests swapped, and one repeated.
	q1, q2 := r.open[0].Marshal(), r.open[1].Marshal()
	i1, i2 := bytes.Index(saved, q1), bytes.Index(saved, q2)
	if i1 < 0 || i2 < 0 {
		t.Fatal("open requests not found in the saved state")
	}
	swapped := bytes.Clone(saved)
	copy(swapped[i1:], q2)
	copy(swapped[i2:], q1)
	repeated := bytes.Clone(saved)
	copy(repeated[i2:], q1)
	out["open requests unsorted"] = swapped
	out["open request repeated"] = repeated
	return out
}

func TestLoadPurseRefusesDamagedState(t *testing.T) {
	w := newWorld(t)
	r := richPurse(t, w)
	for name, b := range damagedStates(t, r) {
		t.Run(name, func(t *testing.T) {
			_, err := offline.LoadPurse(b)
			wantMalformed(t, err)
		})
	}
}

// TestClone: a purse loaded twice from one saved state makes two different
// vouchers with the same counter, each of which verifies; a payee that sees
// both refuses the second.
func TestClone(t *testing.T) {
	w := newWorld(t)
	a := w.funded(staged, 10_000)
	pay(t, a, w.purse(staged), 100)
	saved := a.Save()
	c1, c2 := mustLoad(t, saved), mustLoad(t, saved)
	b, c := w.purse(staged), w.purse(staged)
	v1, v2 := pay(t, c1, b, 700), pay(t, c2, c, 700)
	if v1.Counter != 2 || v2.Counter != 2 || v1.Prev != v2.Prev || v1.Key() != v2.Key() {
		t.Fatalf("clones' vouchers: counters %d and %d", v1.Counter, v2.Counter)
	}
	if v1.Hash() == v2.Hash() {
		t.Fatal("the clones made the same voucher")
	}
	for _, v := range []offline.Voucher{v1, v2} {
		if err := v.VerifySignature(w.rootPub()); err != nil {
			t.Fatal(err)
		}
	}
	// Together they spent more than the purse held after its first payment.
	if c1.Balance()+c2.Balance() != 2*(10_000-100-700) {
		t.Fatalf("balances %d, %d", c1.Balance(), c2.Balance())
	}
	d := w.purse(staged)
	pay(t, c1, d, 1)
	v := payOnly(t, c2, d, 1)
	unchanged(t, d, func() { wantCode(t, d.Accept(v, t0), "counter_order") })
}

// TestRollback: a purse restored from an old copy reuses a counter.
func TestRollback(t *testing.T) {
	w := newWorld(t)
	a := w.funded(staged, 10_000)
	pay(t, a, w.purse(staged), 100)
	saved := a.Save()
	b, c := w.purse(staged), w.purse(staged)
	v := pay(t, a, b, 5000)
	rolled := mustLoad(t, saved)
	if rolled.Balance() != 9900 || rolled.Counter() != 1 {
		t.Fatalf("rolled back: balance %d, counter %d", rolled.Balance(), rolled.Counter())
	}
	again := pay(t, rolled, c, 5000)
	if again.Counter != v.Counter || again.Prev != v.Prev || again.Hash() == v.Hash() {
		t.Fatalf("rolled-back voucher: counter %d, original %d", again.Counter, v.Counter)
	}
	if err := again.VerifySignature(w.rootPub()); err != nil {
		t.Fatal(err)
	}
	// The payee of the first voucher refuses the reused counter.
	reused := payOnly(t, mustLoad(t, saved), b, 10)
	unchanged(t, b, func() { wantCode(t, b.Accept(reused, t0), "counter_order") })
}

// TestForgeBalance: a purse with a forged balance spends beyond what was
// funded, and payees cannot tell offline.
func TestForgeBalance(t *testing.T) {
	w := newWorld(t)
	a := w.funded(staged, 1000)
	a.ForgeBalance(60_000)
	var spent int64
	for i := 0; i < 3; i++ {
		b := w.purse(staged)
		v := pay(t, a, b, 20_000)
		if err := v.VerifySignature(w.rootPub()); err != nil {
			t.Fatal(err)
		}
		spent += v.Amount
	}
	if spent != 60_000 || a.Balance() != 0 {
		t.Fatalf("spent %d, balance %d", spent, a.Balance())
	}
	var logged int64
	for _, v := range a.Upload().Sent {
		logged += v.Amount
	}
	if logged <= 1000 {
		t.Fatalf("sent vouchers total %d, funded 1000", logged)
	}
}
