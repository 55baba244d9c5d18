package purseweb_test

import (
	"crypto/ed25519"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/internal/pursetest"
	"github.com/digital-yen/cbdc-sandbox/offline"
	"github.com/digital-yen/cbdc-sandbox/protocol"
	"github.com/digital-yen/cbdc-sandbox/wallet/purseweb"
)

// page is a wallet page's side of the bridge: it keeps the purse's state
// between calls, as the page keeps it in IndexedDB.
type page struct {
	t     *testing.T
	state []byte
	view  purseweb.View
}

// call runs method with args (the state added) and returns the answer, or
// the refusal's code.
func (p *page) call(method string, args map[string]any) (purseweb.Result, string) {
	p.t.Helper()
	if args == nil {
		args = map[string]any{}
	}
	if p.state != nil {
		args["state"] = p.state
	}
	if _, ok := args["now"]; !ok {
		args["now"] = pursetest.Now
	}
	in, _ := json.Marshal(args)
	out := purseweb.Call(method, in)
	var refused struct{ Error *purseweb.Error }
	if err := json.Unmarshal(out, &refused); err != nil {
		p.t.Fatalf("%s: the answer is not JSON: %s", method, out)
	}
	if refused.Error != nil {
		return purseweb.Result{}, refused.Error.Code
	}
	var res purseweb.Result
	if err := json.Unmarshal(out, &res); err != nil {
		p.t.Fatal(err)
	}
	if res.State != nil {
		p.state = res.State
	}
	if res.Purse != nil {
		p.view = *res.Purse
	}
	return res, ""
}

func (p *page) must(method string, args map[string]any) purseweb.Result {
	p.t.Helper()
	res, code := p.call(method, args)
	if code != "" {
		p.t.Fatalf("%s: refused %s", method, code)
	}
	return res
}

// bank answers as a bank would over the wallet protocol, from
// pursetest's keys.
type bank struct {
	t      *testing.T
	cert   offline.BankCert
	serial byte
	funded uint64
}

func newBank(t *testing.T) *bank {
	c, err := offline.IssueBankCert(pursetest.Root, "bank-a", pursetest.BankKey.Public().(ed25519.PublicKey), pursetest.Now.AddDate(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	return &bank{t: t, cert: c}
}

// provision is the purse_certs answer for a purse's public key.
func (b *bank) provision(pub []byte, lim offline.Limits) json.RawMessage {
	b.serial++
	dev, err := offline.IssueDeviceCert(pursetest.BankKey, offline.DeviceCert{Serial: offline.Serial{15: b.serial}, Key: pub,
		BankID: "bank-a", Limits: lim, Issued: pursetest.Now, Expires: pursetest.Now.Add(offline.DefaultCertLifetime)})
	if err != nil {
		b.t.Fatal(err)
	}
	crl := offline.IssueRevocationList(pursetest.Root, 0, pursetest.Now, nil)
	return answer(b.t, protocol.PurseCertificates{Serial: dev.Serial.String(), BankCert: b.cert.Marshal(), DeviceCert: dev.Marshal(),
		RootKey: pursetest.Root.Public().(ed25519.PublicKey), Revocations: crl.Marshal()})
}

// fund is the purse_funded answer moving amount into the purse serial.
func (b *bank) fund(serial string, amount int64) json.RawMessage {
	sn, err := offline.ParseSerial(serial)
	if err != nil {
		b.t.Fatal(err)
	}
	b.funded++
	f := offline.FundingReceipt{Serial: sn, Seq: b.funded, Amount: amount, Time: pursetest.Now}
	f.Sign(pursetest.BankKey)
	return answer(b.t, protocol.PurseFunded{Serial: serial, Amount: amount, Receipt: f.Marshal()})
}

func answer(t *testing.T, v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newPurse is a purse provisioned at b and funded with amount.
func newPurse(t *testing.T, b *bank, lim offline.Limits, amount int64) *page {
	p := &page{t: t}
	res := p.must("new", nil)
	if res.Purse == nil || len(res.Purse.PublicKey) != ed25519.PublicKeySize || res.Purse.Serial != "" {
		t.Fatalf("a new purse: %+v", res.Purse)
	}
	p.must("install_certificates", map[string]any{"answer": b.provision(p.view.PublicKey, lim)})
	if amount > 0 {
		p.must("apply_funding", map[string]any{"answer": b.fund(p.view.Serial, amount)})
	}
	return p
}

// Two purses pay each other through the bridge, with every payee's check
// the page can meet refused with its code; what was paid is what was
// received, and the payer's upload holds it.
func TestCall_PurseToPurse(t *testing.T) {
	b := newBank(t)
	lim := offline.DefaultPolicy().Limits
	payer, payee := newPurse(t, b, lim, 50_000), newPurse(t, b, lim, 0)
	if payer.view.Balance != 50_000 || payer.view.Mode != "staged" || payer.view.PaymentCap != lim.PaymentCap {
		t.Fatalf("the funded purse: %+v", payer.view)
	}
	req := payee.must("request", map[string]any{"amount": 1_500})
	if !strings.HasPrefix(req.Text, "cbdc-req1:") {
		t.Fatalf("a payment request's text: %q", req.Text)
	}
	review := payer.must("parse_request", map[string]any{"text": req.Text})
	if review.Amount != 1_500 || review.Payee != payee.view.Serial || review.Nonce == "" {
		t.Errorf("the request as the payer reviews it: %+v", review)
	}
	v := payer.must("pay", map[string]any{"text": req.Text})
	if v.Nonce != review.Nonce || v.Payee != payee.view.Serial {
		t.Errorf("the payment's nonce %q and payee %q, the request's %q and %q", v.Nonce, v.Payee, review.Nonce, review.Payee)
	}
	got := payee.must("accept", map[string]any{"text": v.Text})
	if got.Amount != 1_500 || got.Payer != payer.view.Serial || payer.view.Balance != 48_500 {
		t.Errorf("accepted %d from %s; the payer has %d", got.Amount, got.Payer, payer.view.Balance)
	}
	if payee.view.Balance+payee.view.Pending != 1_500 || payee.view.ToUpload != 1 || payer.view.ToUpload != 1 {
		t.Errorf("after one payment: payee %+v, payer %+v", payee.view, payer.view)
	}

	// The payee's checks, each reached from the page.
	if _, code := payee.call("accept", map[string]any{"text": v.Text}); code == "" {
		t.Error("the same voucher was accepted twice")
	}
	other := newPurse(t, b, lim, 0)
	q := other.must("request", map[string]any{"amount": 100})
	v2 := payer.must("pay", map[string]any{"text": q.Text})
	if _, code := payee.call("accept", map[string]any{"text": v2.Text}); code != offline.ErrWrongPayee.Code {
		t.Errorf("a voucher for another purse: %q, want %s", code, offline.ErrWrongPayee.Code)
	}
	over := payee.must("request", map[string]any{"amount": lim.PaymentCap + 1})
	if _, code := payer.call("pay", map[string]any{"text": over.Text}); code != offline.ErrPaymentCap.Code {
		t.Errorf("paying over the payment cap: %q, want %s", code, offline.ErrPaymentCap.Code)
	}
	big := payee.must("request", map[string]any{"amount": 2_000})
	if _, code := payer.call("pay", map[string]any{"text": big.Text, "now": pursetest.Now.Add(offline.DefaultCertLifetime + time.Hour)}); code != offline.ErrCertificateExpired.Code {
		t.Errorf("paying after the certificate expired: %q, want %s", code, offline.ErrCertificateExpired.Code)
	}
	tampered := []byte(v.Text)
	tampered[len(tampered)-3] ^= 1
	if _, code := payee.call("accept", map[string]any{"text": string(tampered)}); code == "" {
		t.Error("a tampered voucher was accepted")
	}

	// The payer's sync uploads what it paid.
	msgs := payer.must("sync_messages", nil).Messages
	if len(msgs) != 1 || len(msgs[0].Sent) != 2 || msgs[0].Serial != payer.view.Serial {
		t.Errorf("the payer's sync: %+v", msgs)
	}
}

// Calls that are not well formed are refused with bad_request and leave
// nothing half done.
func TestCall_RefusesBadCalls(t *testing.T) {
	for _, c := range []struct{ method, args string }{
		{"mint", `{}`},
		{"show", `{}`},
		{"show", `not json`},
		{"show", `{"state": "AAAA"}`},
		{"install_certificates", `{"state": "` + stateOf(t) + `"}`},
		{"apply_funding", `{"state": "` + stateOf(t) + `", "answer": "not an object"}`},
	} {
		out := purseweb.Call(c.method, []byte(c.args))
		var refused struct{ Error *purseweb.Error }
		if err := json.Unmarshal(out, &refused); err != nil || refused.Error == nil || refused.Error.Message == "" {
			t.Errorf("%s %s: %s", c.method, c.args, out)
		}
	}
}

func stateOf(t *testing.T) string {
	var res purseweb.Result
	if err := json.Unmarshal(purseweb.Call("new", []byte(`{}`)), &res); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(res.State)
	return strings.Trim(string(b), `"`)
}

// The vectors check passes on the vectors file and finds a byte changed
// in any of its vectors.
func TestCheckVectors(t *testing.T) {
	file, err := os.ReadFile(filepath.Join("..", "..", "offline", "testdata", "vectors", "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	n, problems := purseweb.CheckVectors(file)
	if n < 12 || len(problems) > 0 {
		t.Fatalf("checked %d vectors: %v", n, problems)
	}
	var vf map[string]any
	if err := json.Unmarshal(file, &vf); err != nil {
		t.Fatal(err)
	}
	vectors := vf["vectors"].([]any)
	for i := range vectors {
		var copyVF map[string]any
		json.Unmarshal(file, &copyVF)
		vec := copyVF["vectors"].([]any)[i].(map[string]any)
		enc := []byte(vec["encoding"].(string))
		at := len(enc) - 10 // in the signature, or the last signed field
		if enc[at] == '0' {
			enc[at] = '1'
		} else {
			enc[at] = '0'
		}
		vec["encoding"] = string(enc)
		spoiled, _ := json.Marshal(copyVF)
		if _, problems := purseweb.CheckVectors(spoiled); len(problems) == 0 {
			t.Errorf("vector %s with a byte changed passed", vec["name"])
		}
	}
}

// The page's wallet key signs the session and instructions as the bank
// checks them, and a call missing what it needs is refused.
func TestCall_WalletKeySigns(t *testing.T) {
	call := func(method string, args map[string]any, out any) string {
		in, _ := json.Marshal(args)
		raw := purseweb.Call(method, in)
		var refused struct{ Error *purseweb.Error }
		json.Unmarshal(raw, &refused)
		if refused.Error != nil {
			return refused.Error.Code
		}
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatal(err)
		}
		return ""
	}
	var key purseweb.Result
	call("key_new", nil, &key)
	pub := ed25519.PublicKey(key.PublicKey)
	var sess purseweb.Result
	challenge := []byte("0123456789abcdef0123456789abcdef")
	call("sign_session", map[string]any{"seed": key.Seed, "bank": "bank-1", "challenge": challenge}, &sess)
	if !ed25519.Verify(pub, protocol.SessionBytes("bank-1", challenge, pub), sess.Signature) {
		t.Error("the session signature does not verify")
	}
	addr := protocol.WalletAddress(pub, "bank-1")
	var signed purseweb.Result
	call("sign", map[string]any{"seed": key.Seed, "type": "pay", "wallet": addr, "id": "r1", "body": map[string]any{"to": "w-x@bank-2", "amount": 700}}, &signed)
	var pay protocol.Pay
	if err := json.Unmarshal(signed.Body, &pay); err != nil || pay.Amount != 700 || !protocol.Verify(pub, "pay", addr, "r1", &pay) {
		t.Errorf("the signed pay %s does not verify (%v)", signed.Body, err)
	}
	if protocol.Verify(pub, "pay", addr, "r2", &pay) {
		t.Error("the signature holds under another request id")
	}
	for _, c := range []struct {
		method string
		args   map[string]any
	}{
		{"sign", map[string]any{"seed": []byte{1, 2}, "type": "pay", "wallet": addr, "id": "r1", "body": map[string]any{}}},
		{"sign", map[string]any{"seed": key.Seed, "type": "balance", "wallet": addr, "id": "r1", "body": map[string]any{}}},
		{"sign", map[string]any{"seed": key.Seed, "type": "pay", "id": "r1", "body": map[string]any{}}},
		{"sign_session", map[string]any{"seed": key.Seed}},
		{"qr_svg", map[string]any{"text": strings.Repeat("x", 4000)}},
	} {
		var out purseweb.Result
		if code := call(c.method, c.args, &out); code != "bad_request" {
			t.Errorf("%s %v: %q, want bad_request", c.method, c.args, code)
		}
	}
	var qr purseweb.Result
	if call("qr_svg", map[string]any{"text": addr, "label": "my <address>"}, &qr); !strings.HasPrefix(qr.SVG, "<svg") || !strings.Contains(qr.SVG, "my &lt;address&gt;") {
		t.Errorf("the address's QR code: %.80s", qr.SVG)
	}
}

// A sync answer is applied through the bridge as the Go wallet applies
// it: the receipt resets the count of payments, a renewed certificate is
// installed, and the purse learns the bank has a newer revocation list;
// a receipt for vouchers the purse never made is refused and changes
// nothing. A revocation list from the root then makes the payee refuse
// a revoked payer's voucher; one the root did not sign is refused.
func TestCall_SyncRenewalAndRevocations(t *testing.T) {
	b := newBank(t)
	lim := offline.DefaultPolicy().Limits
	payer, payee := newPurse(t, b, lim, 50_000), newPurse(t, b, lim, 0)
	req := payee.must("request", map[string]any{"amount": 1_500})
	v := payer.must("pay", map[string]any{"text": req.Text})
	voucher, err := offline.ParseVoucherText(v.Text)
	if err != nil {
		t.Fatal(err)
	}
	sn, _ := offline.ParseSerial(payer.view.Serial)
	receipt := func(counter uint64) []byte {
		r := offline.SyncReceipt{Serial: sn, Counter: counter, Head: voucher.Hash(), Time: pursetest.Now}
		r.Sign(pursetest.Root)
		return r.Marshal()
	}
	before := payer.view
	if _, code := payer.call("apply_synced", map[string]any{"answer": protocol.PurseSynced{Receipt: receipt(2)}}); code != offline.ErrWrongDevice.Code {
		t.Errorf("a receipt for a voucher never made: %q, want %s", code, offline.ErrWrongDevice.Code)
	}
	if payer.view.SinceSync != before.SinceSync || payer.view.ToUpload != before.ToUpload {
		t.Errorf("a refused receipt changed the purse: %+v, was %+v", payer.view, before)
	}
	renewed, err := offline.IssueDeviceCert(pursetest.BankKey, offline.DeviceCert{Serial: sn, Key: payer.view.PublicKey, BankID: "bank-a",
		Limits: lim, Issued: pursetest.Now.Add(time.Hour), Expires: pursetest.Now.Add(60 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	res := payer.must("apply_synced", map[string]any{"answer": protocol.PurseSynced{Receipt: receipt(1), DeviceCert: renewed.Marshal(), RevocationSeq: 5}})
	if !res.NewRevocations || payer.view.SinceSync != 0 || payer.view.ToUpload != 0 || !payer.view.Expires.Equal(renewed.Expires) {
		t.Errorf("after the sync: new revocations %v, purse %+v", res.NewRevocations, payer.view)
	}

	forged := offline.IssueRevocationList(pursetest.BankKey, 6, pursetest.Now, []offline.Serial{sn})
	if _, code := payee.call("apply_revocations", map[string]any{"list": forged.Marshal()}); code == "" {
		t.Error("a revocation list the root did not sign was taken")
	}
	crl := offline.IssueRevocationList(pursetest.Root, 5, pursetest.Now, []offline.Serial{sn})
	payee.must("apply_revocations", map[string]any{"list": crl.Marshal()})
	if _, code := payee.call("accept", map[string]any{"text": v.Text}); code != offline.ErrRevoked.Code {
		t.Errorf("a revoked payer's voucher: %q, want %s", code, offline.ErrRevoked.Code)
	}
	payer.must("apply_revocations", map[string]any{"list": crl.Marshal()})
	if res := payer.must("apply_synced", map[string]any{"answer": protocol.PurseSynced{Receipt: receipt(1), RevocationSeq: 5}}); res.NewRevocations {
		t.Error("the purse holds list 5 and still asks for it")
	}
}
