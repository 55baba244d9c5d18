package offline_test

import (
	"bytes"
	"testing"

	"github.com/digital-yen/cbdc-sandbox/offline"
)

// Fuzz tests for every decoder. Vouchers, certificates, requests, lists
// and receipts arrive from other devices and banks; a purse's state comes
// back from storage. Whatever the bytes, a decoder must not panic, must
// refuse with a malformed-encoding error, and whatever it accepts must
// encode back to exactly the same bytes (the encodings are canonical, so
// one object has one encoding and one hash). Plain `go test` runs the seed
// corpora; `go test ./offline -run '^$' -fuzz FuzzParseVoucher` explores.

// fuzzRefused fails unless err is a malformed-encoding error.
func fuzzRefused(t *testing.T, err error) {
	t.Helper()
	if offline.CodeOf(err) != "malformed" {
		t.Fatalf("decoder error %v has code %q, want malformed", err, offline.CodeOf(err))
	}
}

func fuzzCanonical(t *testing.T, what string, got, in []byte) {
	t.Helper()
	if !bytes.Equal(got, in) {
		t.Fatalf("%s decodes but encodes again to other bytes:\n in: %x\nout: %x", what, in, got)
	}
}

// addCut seeds the corpus with b and a few broken copies of it.
func addCut(f *testing.F, b []byte) {
	f.Add(b)
	f.Add(b[:len(b)/2])
	f.Add(append(bytes.Clone(b), 0))
}

func FuzzParseVoucher(f *testing.F) {
	fx := buildFixtures(f)
	for _, v := range []offline.Voucher{fx.v1, fx.v2, fx.v3} {
		addCut(f, v.Marshal())
	}
	root := pub(fx.root)
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := offline.ParseVoucher(b)
		if err != nil {
			fuzzRefused(t, err)
			return
		}
		fuzzCanonical(t, "voucher", v.Marshal(), b)
		w, err := offline.ParseVoucherText(v.Text())
		if err != nil || w.Hash() != v.Hash() {
			t.Fatalf("text form does not decode to the voucher: %v", err)
		}
		_ = v.VerifySignature(root)
		_ = v.ValidAtItsTime()
		_ = offline.CheckVoucher(&v, root, &fx.crl1, t0)
	})
}

func FuzzParseDeviceCert(f *testing.F) {
	fx := buildFixtures(f)
	addCut(f, fx.dev1.Marshal())
	addCut(f, fx.dev2.Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := offline.ParseDeviceCert(b)
		if err != nil {
			fuzzRefused(t, err)
			return
		}
		fuzzCanonical(t, "device certificate", c.Marshal(), b)
		_ = c.Verify(fx.bank, t0)
		_ = offline.Chain{Bank: fx.bank, Device: c}.Verify(pub(fx.root), t0)
	})
}

func FuzzParseBankCert(f *testing.F) {
	fx := buildFixtures(f)
	addCut(f, fx.bank.Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := offline.ParseBankCert(b)
		if err != nil {
			fuzzRefused(t, err)
			return
		}
		fuzzCanonical(t, "bank certificate", c.Marshal(), b)
		_ = c.Verify(pub(fx.root), t0)
		_ = fx.dev1.Verify(c, t0)
	})
}

func FuzzParseRevocationList(f *testing.F) {
	fx := buildFixtures(f)
	addCut(f, fx.crl1.Marshal())
	addCut(f, fx.crl2.Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := offline.ParseRevocationList(b)
		if err != nil {
			fuzzRefused(t, err)
			return
		}
		fuzzCanonical(t, "revocation list", l.Marshal(), b)
		_ = l.Verify(pub(fx.root))
		for _, s := range l.Serials {
			if !l.Contains(s) {
				t.Fatalf("list does not contain its serial %s", s)
			}
		}
	})
}

func FuzzParsePaymentRequest(f *testing.F) {
	fx := buildFixtures(f)
	addCut(f, fx.req1.Marshal())
	addCut(f, fx.req2.Marshal())
	f.Add([]byte(fx.req1.Text()))
	f.Fuzz(func(t *testing.T, b []byte) {
		if q, err := offline.ParsePaymentRequestText(string(b)); err == nil {
			if r, err := offline.ParsePaymentRequestText(q.Text()); err != nil || r != q {
				t.Fatalf("text form does not round trip: %v", err)
			}
		} else {
			fuzzRefused(t, err)
		}
		q, err := offline.ParsePaymentRequest(b)
		if err != nil {
			fuzzRefused(t, err)
			return
		}
		fuzzCanonical(t, "payment request", q.Marshal(), b)
	})
}

func FuzzParseReceipts(f *testing.F) {
	fx := buildFixtures(f)
	addCut(f, fx.fund1.Marshal())
	addCut(f, fx.sync1.Marshal())
	bank := pub(fx.bankKey)
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := offline.ParseFundingReceipt(b); err == nil {
			fuzzCanonical(t, "funding receipt", r.Marshal(), b)
			_ = r.Verify(bank)
		} else {
			fuzzRefused(t, err)
		}
		if s, err := offline.ParseSyncReceipt(b); err == nil {
			fuzzCanonical(t, "sync receipt", s.Marshal(), b)
			_ = s.Verify(bank)
		} else {
			fuzzRefused(t, err)
		}
	})
}

// FuzzLoadPurse also uses what it loads: a purse restored from storage
// must pay, accept, sync and defund without panicking, whatever the stored
// counters and logs say.
func FuzzLoadPurse(f *testing.F) {
	w := newWorld(f)
	r := richPurse(f, w)
	bare, err := offline.NewPurse(w.rootPub())
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range []*offline.Purse{r.a, r.b, r.c, bare} {
		addCut(f, p.Save())
	}
	for _, b := range damagedStates(f, r) {
		f.Add(b)
	}
	payer := w.device("fuzz payer", staged)
	bankKey := w.bankKey
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := offline.LoadPurse(b)
		if err != nil {
			fuzzRefused(t, err)
			return
		}
		fuzzCanonical(t, "purse state", p.Save(), b)
		up := p.Upload()
		_ = p.SinceSync()
		if p.Chain() == nil {
			return
		}
		// Pay, request, accept.
		q := offline.PaymentRequest{Payee: serialN(1 << 40), Amount: 1, Nonce: fixedNonce("fuzz"), Time: t0}
		_, _ = p.Pay(q, t0)
		if q, err := p.Request(1, t0); err == nil {
			v := payer.voucher(offline.Voucher{Counter: 1, Payee: q.Payee, Amount: q.Amount, Nonce: q.Nonce, Time: t0})
			_ = p.Accept(v, t0)
		}
		// Sync part of the logs, then all of them, then defund.
		up = p.Upload()
		received := up.ReceivedBefore + uint64(len(up.Received))
		for _, s := range []offline.SyncReceipt{
			{Serial: p.Serial(), Counter: p.Counter() - p.SinceSync() + p.SinceSync()/2, Received: received - uint64(len(up.Received))/2, Time: t0},
			{Serial: p.Serial(), Counter: p.Counter(), Received: received, Time: t0},
		} {
			s.Sign(bankKey)
			_ = p.ApplySync(s, nil)
		}
		_, _ = p.Defund(1, t0)
		_ = p.Save()
	})
}
