package offline_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/offline"
)

// Tests of the encodings: round trips, what every decoder refuses, and
// that signatures cover every byte and are bound to their domain.

// codec is one encoded object and the decoder for its kind.
type codec struct {
	name   string
	typ    byte
	enc    []byte
	parse  func([]byte) ([]byte, error) // decodes and encodes again
	verify func([]byte) error           // decodes and verifies; nil if unsigned
}

func reencode[T interface{ Marshal() []byte }](parse func([]byte) (T, error)) func([]byte) ([]byte, error) {
	return func(b []byte) ([]byte, error) {
		x, err := parse(b)
		if err != nil {
			return nil, err
		}
		return x.Marshal(), nil
	}
}

var (
	parseBank     = reencode(offline.ParseBankCert)
	parseDevice   = reencode(offline.ParseDeviceCert)
	parseRequest  = reencode(offline.ParsePaymentRequest)
	parseVoucher  = reencode(offline.ParseVoucher)
	parseRevoked  = reencode(offline.ParseRevocationList)
	parseFunding  = reencode(offline.ParseFundingReceipt)
	parseSyncRcpt = reencode(offline.ParseSyncReceipt)
)

func codecs(t testing.TB) []codec {
	f := buildFixtures(t)
	root, bankPub := pub(f.root), pub(f.bankKey)
	vBank := func(b []byte) error {
		c, err := offline.ParseBankCert(b)
		if err != nil {
			return err
		}
		return c.Verify(root, t0)
	}
	vDevice := func(b []byte) error {
		c, err := offline.ParseDeviceCert(b)
		if err != nil {
			return err
		}
		return c.Verify(f.bank, t0)
	}
	vVoucher := func(b []byte) error {
		v, err := offline.ParseVoucher(b)
		if err != nil {
			return err
		}
		return v.VerifySignature(root)
	}
	vRevoked := func(b []byte) error {
		l, err := offline.ParseRevocationList(b)
		if err != nil {
			return err
		}
		return l.Verify(root)
	}
	vFunding := func(b []byte) error {
		r, err := offline.ParseFundingReceipt(b)
		if err != nil {
			return err
		}
		return r.Verify(bankPub)
	}
	vSync := func(b []byte) error {
		r, err := offline.ParseSyncReceipt(b)
		if err != nil {
			return err
		}
		return r.Verify(root)
	}
	return []codec{
		{"bank certificate", 'B', f.bank.Marshal(), parseBank, vBank},
		{"device certificate staged", 'D', f.dev1.Marshal(), parseDevice, vDevice},
		{"device certificate intermittent", 'D', f.dev2.Marshal(), parseDevice, vDevice},
		{"payment request", 'R', f.req1.Marshal(), parseRequest, nil},
		{"voucher first", 'V', f.v1.Marshal(), parseVoucher, vVoucher},
		{"voucher chained", 'V', f.v2.Marshal(), parseVoucher, vVoucher},
		{"voucher defund", 'V', f.v3.Marshal(), parseVoucher, vVoucher},
		{"revocation list", 'L', f.crl1.Marshal(), parseRevoked, vRevoked},
		{"revocation list empty", 'L', f.crl2.Marshal(), parseRevoked, vRevoked},
		{"funding receipt", 'F', f.fund1.Marshal(), parseFunding, vFunding},
		{"sync receipt", 'S', f.sync1.Marshal(), parseSyncRcpt, vSync},
	}
}

// sameList compares revocation lists, taking a nil and an empty list of
// serials as the same.
func sameList(a, b offline.RevocationList) bool {
	if len(a.Serials) == 0 && len(b.Serials) == 0 {
		a.Serials, b.Serials = nil, nil
	}
	return reflect.DeepEqual(a, b)
}

func TestRoundTrip(t *testing.T) {
	f := buildFixtures(t)
	check := func(name string, want, got any, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: decoded\n%+v\nwant\n%+v", name, got, want)
		}
	}
	bank, err := offline.ParseBankCert(f.bank.Marshal())
	check("bank certificate", f.bank, bank, err)
	for _, d := range []offline.DeviceCert{f.dev1, f.dev2} {
		got, err := offline.ParseDeviceCert(d.Marshal())
		check("device certificate "+d.Serial.String(), d, got, err)
	}
	for _, q := range []offline.PaymentRequest{f.req1, f.req2} {
		got, err := offline.ParsePaymentRequest(q.Marshal())
		check("payment request", q, got, err)
		got, err = offline.ParsePaymentRequestText(q.Text())
		check("payment request text", q, got, err)
	}
	for _, v := range []offline.Voucher{f.v1, f.v2, f.v3} {
		got, err := offline.ParseVoucher(v.Marshal())
		check(fmt.Sprintf("voucher #%d", v.Counter), v, got, err)
		if got.Hash() != v.Hash() {
			t.Fatalf("voucher #%d: hash changes in a round trip", v.Counter)
		}
		got, err = offline.ParseVoucherText(v.Text())
		check(fmt.Sprintf("voucher #%d text", v.Counter), v, got, err)
	}
	for _, l := range []offline.RevocationList{f.crl1, f.crl2} {
		got, err := offline.ParseRevocationList(l.Marshal())
		if err != nil || !sameList(got, l) {
			t.Fatalf("revocation list %d: decoded %+v, %v; want %+v", l.Seq, got, err, l)
		}
	}
	fund, err := offline.ParseFundingReceipt(f.fund1.Marshal())
	check("funding receipt", f.fund1, fund, err)
	sync, err := offline.ParseSyncReceipt(f.sync1.Marshal())
	check("sync receipt", f.sync1, sync, err)
}

// TestRoundTripExtremes encodes the largest and smallest values each field
// takes; decoders do not verify, so these need no valid signatures.
func TestRoundTripExtremes(t *testing.T) {
	key := make(ed25519.PublicKey, ed25519.PublicKeySize)
	for i := range key {
		key[i] = 0xff
	}
	last := time.UnixMilli(253402300799999).UTC() // the last millisecond of 9999
	first := time.UnixMilli(1).UTC()
	allOnes := repeatSerial(0xff)
	longID := strings.Repeat("a", offline.MaxBankIDLen-10) + "Z9._:@-xyz"

	bank := offline.BankCert{BankID: longID, Key: key, NotAfter: last}
	if got, err := offline.ParseBankCert(bank.Marshal()); err != nil || !reflect.DeepEqual(got, bank) {
		t.Fatalf("bank certificate: %+v, %v", got, err)
	}
	bank.NotAfter = time.Time{} // encoded as 0
	if got, err := offline.ParseBankCert(bank.Marshal()); err != nil || !reflect.DeepEqual(got, bank) {
		t.Fatalf("bank certificate without expiry: %+v, %v", got, err)
	}
	dev := offline.DeviceCert{Serial: allOnes, Key: key, BankID: "b",
		Limits: offline.Limits{Mode: offline.Intermittent, PaymentCap: math.MaxInt64, PurseCap: math.MaxInt64, PaymentsBeforeSync: math.MaxUint32},
		Issued: first, Expires: last}
	if got, err := offline.ParseDeviceCert(dev.Marshal()); err != nil || !reflect.DeepEqual(got, dev) {
		t.Fatalf("device certificate: %+v, %v", got, err)
	}
	dev.Limits = offline.Limits{Mode: offline.Staged, PaymentCap: 1, PurseCap: 1, PaymentsBeforeSync: 1}
	dev.Issued = time.Time{}
	if got, err := offline.ParseDeviceCert(dev.Marshal()); err != nil || !reflect.DeepEqual(got, dev) {
		t.Fatalf("device certificate with the least limits: %+v, %v", got, err)
	}
	q := offline.PaymentRequest{Payee: allOnes, Amount: math.MaxInt64, Nonce: offline.Nonce(allOnes), Time: last}
	if got, err := offline.ParsePaymentRequest(q.Marshal()); err != nil || !reflect.DeepEqual(got, q) {
		t.Fatalf("payment request: %+v, %v", got, err)
	}
	v := offline.Voucher{Chain: offline.Chain{Bank: offline.BankCert{BankID: "b", Key: key, NotAfter: last}, Device: dev},
		Payer: allOnes, Counter: math.MaxUint64, Prev: offline.Hash(bytes.Repeat([]byte{0xee}, 32)),
		Synced: math.MaxUint64 - 1, Payee: serialN(1), Amount: math.MaxInt64, Nonce: offline.Nonce(allOnes), Time: last,
		Receipt: offline.SyncReceipt{Serial: allOnes, Counter: math.MaxUint64 - 1, Head: offline.Hash(bytes.Repeat([]byte{0xdd}, 32)),
			Received: math.MaxUint64, Time: last}}
	if got, err := offline.ParseVoucher(v.Marshal()); err != nil || !reflect.DeepEqual(got, v) {
		t.Fatalf("voucher: %+v, %v", got, err)
	}
	l := offline.RevocationList{Seq: math.MaxUint64, Issued: last, Serials: []offline.Serial{{}, serialN(1), allOnes}}
	if got, err := offline.ParseRevocationList(l.Marshal()); err != nil || !sameList(got, l) {
		t.Fatalf("revocation list: %+v, %v", got, err)
	}
	fr := offline.FundingReceipt{Serial: allOnes, Seq: math.MaxUint64, Amount: math.MaxInt64, Time: last}
	if got, err := offline.ParseFundingReceipt(fr.Marshal()); err != nil || !reflect.DeepEqual(got, fr) {
		t.Fatalf("funding receipt: %+v, %v", got, err)
	}
	sr := offline.SyncReceipt{Serial: allOnes, Counter: math.MaxUint64, Head: offline.Hash(bytes.Repeat([]byte{0xff}, 32)),
		Received: math.MaxUint64, Time: last}
	if got, err := offline.ParseSyncReceipt(sr.Marshal()); err != nil || !reflect.DeepEqual(got, sr) {
		t.Fatalf("sync receipt: %+v, %v", got, err)
	}
}

func TestEncodingSizes(t *testing.T) {
	// The sizes docs/offline.md gives.
	f := buildFixtures(t)
	for _, c := range []struct {
		name string
		got  int
		want int
	}{
		{"bank certificate (6-byte id)", len(f.bank.Marshal()), 113},
		{"device certificate (6-byte id)", len(f.dev1.Marshal()), 158},
		{"payment request", len(f.req1.Marshal()), 50},
		{"voucher", len(f.v1.Marshal()), 2 + 2 + 113 + 2 + 158 + 2 + 112 + 64},
		{"voucher with a sync receipt", len(f.v3.Marshal()), 2 + 2 + 113 + 2 + 158 + 2 + 138 + 112 + 64},
		{"voucher signed bytes", len(f.v1.SignedBytes()), len(domainVoucher) + 114},
		{"revocation list of 3", len(f.crl1.Marshal()), 22 + 3*16 + 64},
		{"funding receipt", len(f.fund1.Marshal()), 106},
		{"sync receipt", len(f.sync1.Marshal()), 138},
	} {
		if c.got != c.want {
			t.Errorf("%s is %d bytes, want %d", c.name, c.got, c.want)
		}
	}
}

func TestDecodersRefuseTruncation(t *testing.T) {
	for _, c := range codecs(t) {
		for n := 0; n < len(c.enc); n++ {
			if _, err := c.parse(c.enc[:n:n]); !errors.Is(err, offline.ErrMalformed) {
				t.Fatalf("%s cut to %d of %d bytes: got %v, want malformed", c.name, n, len(c.enc), err)
			}
		}
		if got, err := c.parse(c.enc); err != nil || !bytes.Equal(got, c.enc) {
			t.Fatalf("%s: whole encoding: %v", c.name, err)
		}
	}
}

func TestDecodersRefuseTrailingBytes(t *testing.T) {
	for _, c := range codecs(t) {
		for _, extra := range [][]byte{{0}, {1}, c.enc} {
			b := append(append([]byte(nil), c.enc...), extra...)
			_, err := c.parse(b)
			wantMalformed(t, err)
		}
	}
}

func TestDecodersRefuseVersion(t *testing.T) {
	for _, c := range codecs(t) {
		for _, v := range []byte{0, 2, 'B', 0xff} {
			b := bytes.Clone(c.enc)
			b[0] = v
			_, err := c.parse(b)
			wantMalformed(t, err)
			if !strings.Contains(err.Error(), "version") {
				t.Errorf("%s with version %d: error %q does not name the version", c.name, v, err)
			}
		}
	}
}

func TestDecodersRefuseType(t *testing.T) {
	cs := codecs(t)
	for _, c := range cs {
		for _, typ := range []byte{0, 1, 'B', 'D', 'V', 'R', 'L', 'F', 'S', 'P', 'b', 'v', 0xff} {
			if typ == c.typ {
				continue
			}
			b := bytes.Clone(c.enc)
			b[1] = typ
			_, err := c.parse(b)
			wantMalformed(t, err)
			if !strings.Contains(err.Error(), "type byte") {
				t.Errorf("%s with type %q: error %q does not name the type byte", c.name, typ, err)
			}
		}
		// Another kind's whole encoding is refused too.
		for _, other := range cs {
			if other.typ != c.typ {
				_, err := c.parse(other.enc)
				wantMalformed(t, err)
			}
		}
		_, err := offline.LoadPurse(c.enc)
		wantMalformed(t, err)
	}
}

func TestDecodersRefuseAmounts(t *testing.T) {
	f := buildFixtures(t)
	// 0 and 2^63 are refused; 2^63 - 1 is accepted (TestRoundTripExtremes).
	for _, bad := range []int64{0, -1, math.MinInt64, -20_000} {
		t.Run(fmt.Sprint(bad), func(t *testing.T) {
			q := f.req1
			q.Amount = bad
			_, err := offline.ParsePaymentRequest(q.Marshal())
			wantMalformed(t, err)

			v := f.v1
			v.Amount = bad
			_, err = offline.ParseVoucher(v.Marshal())
			wantMalformed(t, err)

			d := f.dev1
			d.Limits.PaymentCap = bad
			_, err = offline.ParseDeviceCert(d.Marshal())
			wantMalformed(t, err)
			d = f.dev1
			d.Limits.PurseCap = bad
			_, err = offline.ParseDeviceCert(d.Marshal())
			wantMalformed(t, err)

			r := f.fund1
			r.Amount = bad
			_, err = offline.ParseFundingReceipt(r.Marshal())
			wantMalformed(t, err)
		})
	}
	// The encoded bytes of 2^63: the top bit alone.
	b := f.req1.Marshal()
	copy(b[18:26], []byte{0x80, 0, 0, 0, 0, 0, 0, 0})
	_, err := offline.ParsePaymentRequest(b)
	wantMalformed(t, err)
}

func TestDecodersRefuseTimes(t *testing.T) {
	f := buildFixtures(t)
	for _, bad := range []time.Time{time.UnixMilli(-1), time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC),
		time.UnixMilli(253402300800000), time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC)} {
		q := f.req1
		q.Time = bad
		_, err := offline.ParsePaymentRequest(q.Marshal())
		wantMalformed(t, err)

		c := f.bank
		c.NotAfter = bad
		_, err = offline.ParseBankCert(c.Marshal())
		wantMalformed(t, err)

		d := f.dev1
		d.Expires = bad
		_, err = offline.ParseDeviceCert(d.Marshal())
		wantMalformed(t, err)

		v := f.v1
		v.Time = bad
		_, err = offline.ParseVoucher(v.Marshal())
		wantMalformed(t, err)

		l := f.crl1
		l.Issued = bad
		_, err = offline.ParseRevocationList(l.Marshal())
		wantMalformed(t, err)

		r := f.fund1
		r.Time = bad
		_, err = offline.ParseFundingReceipt(r.Marshal())
		wantMalformed(t, err)

		s := f.sync1
		s.Time = bad
		_, err = offline.ParseSyncReceipt(s.Marshal())
		wantMalformed(t, err)
	}
}

func TestDecodersRefuseBankID(t *testing.T) {
	f := buildFixtures(t)
	for _, id := range []string{"", "bank a", "bank/a", "bank\x00", "bänk", "bank+a", "bank#1", "bank,a",
		strings.Repeat("b", offline.MaxBankIDLen+1)} {
		t.Run(fmt.Sprintf("%q", id), func(t *testing.T) {
			c := f.bank
			c.BankID = id
			_, err := offline.ParseBankCert(c.Marshal())
			wantMalformed(t, err)

			d := f.dev1
			d.BankID = id
			_, err = offline.ParseDeviceCert(d.Marshal())
			wantMalformed(t, err)

			// A voucher carrying such a certificate.
			v := f.v1
			v.Chain.Bank = c
			_, err = offline.ParseVoucher(v.Marshal())
			wantMalformed(t, err)

			// And neither issues one.
			_, err = offline.IssueBankCert(f.root, id, pub(f.bankKey), t0)
			wantMalformed(t, err)
			d.Signature = [64]byte{}
			_, err = offline.IssueDeviceCert(f.bankKey, d)
			wantMalformed(t, err)
		})
	}
}

func TestDecodersRefuseDeviceCert(t *testing.T) {
	f := buildFixtures(t)
	for _, c := range []struct {
		name   string
		change func(*offline.DeviceCert)
	}{
		{"zero serial", func(d *offline.DeviceCert) { d.Serial = offline.Serial{} }},
		{"expires when issued", func(d *offline.DeviceCert) { d.Expires = d.Issued }},
		{"expires before issued", func(d *offline.DeviceCert) { d.Expires = d.Issued.Add(-time.Millisecond) }},
		{"mode 0", func(d *offline.DeviceCert) { d.Limits.Mode = 0 }},
		{"mode 3", func(d *offline.DeviceCert) { d.Limits.Mode = 3 }},
		{"purse cap below payment cap", func(d *offline.DeviceCert) { d.Limits.PurseCap = d.Limits.PaymentCap - 1 }},
		{"no payments before sync", func(d *offline.DeviceCert) { d.Limits.PaymentsBeforeSync = 0 }},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := f.dev1
			c.change(&d)
			_, err := offline.ParseDeviceCert(d.Marshal())
			wantMalformed(t, err)
			v := f.v1
			v.Chain.Device = d
			v.Payer = d.Serial
			_, err = offline.ParseVoucher(v.Marshal())
			wantMalformed(t, err)
			if _, err := offline.IssueDeviceCert(f.bankKey, d); err == nil {
				t.Fatal("IssueDeviceCert signs it")
			}
		})
	}
}

func TestDecodersRefuseVoucher(t *testing.T) {
	f := buildFixtures(t)
	for _, c := range []struct {
		name   string
		change func(*offline.Voucher)
	}{
		{"payer is not the certificate's serial", func(v *offline.Voucher) { v.Payer = serialN(99) }},
		{"counter 0", func(v *offline.Voucher) { v.Counter = 0 }},
		{"first voucher with a previous hash", func(v *offline.Voucher) { v.Prev[31] = 1 }},
		{"synced at the counter", func(v *offline.Voucher) { v.Synced = v.Counter }},
		{"synced after the counter", func(v *offline.Voucher) { v.Synced = v.Counter + 5 }},
		{"pays its payer", func(v *offline.Voucher) { v.Payee = v.Payer }},
		{"bank certificate cut short", func(v *offline.Voucher) { v.Chain.Bank.Key = v.Chain.Bank.Key[:31] }},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := f.v1
			c.change(&v)
			_, err := offline.ParseVoucher(v.Marshal())
			wantMalformed(t, err)
			// A voucher that is not well formed does not verify either,
			// whatever its signature.
			v = resign(f.purse1Key, v)
			if err := v.VerifySignature(pub(f.root)); err == nil {
				t.Fatal("VerifySignature accepts it")
			}
		})
	}
	// Certificates swapped: each blob holds the other kind.
	v := f.v1.Marshal()
	bank, dev := f.bank.Marshal(), f.dev1.Marshal()
	swapped := append([]byte{1, 'V', 0, byte(len(dev))}, dev...)
	swapped = append(swapped, 0, byte(len(bank)))
	swapped = append(swapped, bank...)
	swapped = append(swapped, v[2+2+len(bank)+2+len(dev):]...)
	if len(swapped) != len(v) {
		t.Fatalf("swapped voucher is %d bytes, want %d", len(swapped), len(v))
	}
	_, err := offline.ParseVoucher(swapped)
	wantMalformed(t, err)
}

func TestDecodersRefusePaymentRequest(t *testing.T) {
	f := buildFixtures(t)
	q := f.req1
	q.Payee = offline.Serial{}
	_, err := offline.ParsePaymentRequest(q.Marshal())
	wantMalformed(t, err)
}

func TestDecodersRefuseRevocationList(t *testing.T) {
	f := buildFixtures(t)
	a, b, c := serialN(1), serialN(2), serialN(3)
	for _, serials := range [][]offline.Serial{{b, a}, {a, c, b}, {a, a}, {a, b, b, c}, {c, b, a}} {
		l := f.crl1
		l.Serials = serials
		_, err := offline.ParseRevocationList(l.Marshal())
		wantMalformed(t, err)
		// IssueRevocationList sorts and drops repeats.
		issued := offline.IssueRevocationList(f.root, 7, t0, serials)
		got, err := offline.ParseRevocationList(issued.Marshal())
		if err != nil {
			t.Fatalf("issued list %v: %v", serials, err)
		}
		if err := got.Verify(pub(f.root)); err != nil {
			t.Fatal(err)
		}
		for i := 1; i < len(got.Serials); i++ {
			if bytes.Compare(got.Serials[i-1][:], got.Serials[i][:]) >= 0 {
				t.Fatalf("issued list is not sorted: %v", got.Serials)
			}
		}
		for _, s := range serials {
			if !got.Contains(s) {
				t.Fatalf("issued list lost %s", s)
			}
		}
		if got.Contains(serialN(4)) {
			t.Fatal("list contains a serial never revoked")
		}
	}
	// A count larger than the bytes that follow, or than the maximum.
	for _, n := range []uint32{4, offline.MaxRevocations + 1, math.MaxUint32} {
		b := f.crl1.Marshal()
		b[18], b[19], b[20], b[21] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
		_, err := offline.ParseRevocationList(b)
		wantMalformed(t, err)
	}
}

func TestSerialText(t *testing.T) {
	s := serialN(0xabcdef)
	if got := s.String(); got != "00000000000000000000000000abcdef" {
		t.Fatalf("serial text %q", got)
	}
	got, err := offline.ParseSerial(s.String())
	if err != nil || got != s {
		t.Fatalf("ParseSerial: %v, %v", got, err)
	}
	for _, bad := range []string{"", "00", s.String() + "00", s.String()[:31], "0000000000000000000000000000000g"} {
		_, err := offline.ParseSerial(bad)
		wantMalformed(t, err)
	}
}

func TestTextForms(t *testing.T) {
	f := buildFixtures(t)
	qt, vt := f.req1.Text(), f.v1.Text()
	if !strings.HasPrefix(qt, "cbdc-req1:") || !strings.HasPrefix(vt, "cbdc-vch1:") {
		t.Fatalf("text forms %q, %q do not start with their prefixes", qt[:12], vt[:12])
	}
	for _, s := range []string{qt, vt} {
		if strings.ContainsAny(s[10:], "+/=") {
			t.Fatalf("text form %q is not unpadded base64url", s)
		}
	}
	// Surrounding space is ignored.
	if q, err := offline.ParsePaymentRequestText(" \n" + qt + "\r\n"); err != nil || q != f.req1 {
		t.Fatalf("request text with spaces: %v", err)
	}
	if v, err := offline.ParseVoucherText("\t" + vt + "\n"); err != nil || !bytes.Equal(v.Marshal(), f.v1.Marshal()) {
		t.Fatalf("voucher text with spaces: %v", err)
	}
	std := strings.NewReplacer("-", "+", "_", "/")
	for _, c := range []struct {
		name string
		text string
		req  bool
	}{
		{"empty request", "", true},
		{"empty voucher", "", false},
		{"prefix only", "cbdc-req1:", true},
		{"no prefix", qt[len("cbdc-req1:"):], true},
		{"voucher prefix on a request", "cbdc-vch1:" + qt[len("cbdc-req1:"):], false},
		{"request text given as voucher", qt, false},
		{"voucher text given as request", vt, true},
		{"upper-case prefix", "CBDC-REQ1:" + qt[len("cbdc-req1:"):], true},
		{"padded", qt + "==", true},
		{"standard alphabet", "cbdc-vch1:" + std.Replace(vt[10:]) + "+/", false},
		{"space inside", qt[:20] + " " + qt[20:], true},
		{"cut", qt[:len(qt)-3], true},
		{"cut voucher", vt[:len(vt)-3], false},
	} {
		var err error
		if c.req {
			_, err = offline.ParsePaymentRequestText(c.text)
		} else {
			_, err = offline.ParseVoucherText(c.text)
		}
		if !errors.Is(err, offline.ErrMalformed) {
			t.Errorf("%s: got %v, want malformed", c.name, err)
		}
	}
}

// TestSignaturesCoverEveryByte changes every byte of every signed encoding
// in turn: the result is refused, either by the decoder as malformed or by
// verification.
func TestSignaturesCoverEveryByte(t *testing.T) {
	for _, c := range codecs(t) {
		if c.verify == nil {
			continue
		}
		if err := c.verify(c.enc); err != nil {
			t.Fatalf("%s: does not verify unchanged: %v", c.name, err)
		}
		verified := 0
		for i := range c.enc {
			for _, x := range []byte{0x01, 0x80, 0xff} {
				b := bytes.Clone(c.enc)
				b[i] ^= x
				err := c.verify(b)
				switch code := offline.CodeOf(err); code {
				case "malformed":
					if _, perr := c.parse(b); perr == nil {
						t.Fatalf("%s byte %d ^ %#x: decodes but fails verification as malformed: %v", c.name, i, x, err)
					}
				case "bad_signature", "unknown_bank":
					verified++
				default:
					t.Fatalf("%s byte %d of %d ^ %#x: verify gives %v (code %q)", c.name, i, len(c.enc), x, err, code)
				}
			}
		}
		if verified < ed25519.SignatureSize {
			t.Fatalf("%s: only %d changes reached verification", c.name, verified)
		}
	}
}

// signedKind is one kind of signed object, its signer and what follows the
// domain string in the message it signs.
type signedKind struct {
	name   string
	domain string
	key    ed25519.PrivateKey
	body   []byte
	sig    [64]byte
	verify func(sig []byte) error // the object with this signature
}

func signedKinds(t testing.TB) []signedKind {
	f := buildFixtures(t)
	root, bankPub := pub(f.root), pub(f.bankKey)
	body := func(enc []byte) []byte { return enc[:len(enc)-ed25519.SignatureSize] }
	return []signedKind{
		{"bank certificate", domainBankCert, f.root, body(f.bank.Marshal()), f.bank.Signature, func(sig []byte) error {
			c := f.bank
			copy(c.Signature[:], sig)
			return c.Verify(root, t0)
		}},
		{"device certificate", domainDeviceCert, f.bankKey, body(f.dev1.Marshal()), f.dev1.Signature, func(sig []byte) error {
			c := f.dev1
			copy(c.Signature[:], sig)
			return c.Verify(f.bank, t0)
		}},
		{"voucher", domainVoucher, f.purse1Key, f.v2.SignedBytes()[len(domainVoucher):], f.v2.Signature, func(sig []byte) error {
			v := f.v2
			copy(v.Signature[:], sig)
			return v.VerifySignature(root)
		}},
		{"revocation list", domainRevocations, f.root, body(f.crl1.Marshal()), f.crl1.Signature, func(sig []byte) error {
			l := f.crl1
			copy(l.Signature[:], sig)
			return l.Verify(root)
		}},
		{"funding receipt", domainReceipt, f.bankKey, body(f.fund1.Marshal()), f.fund1.Signature, func(sig []byte) error {
			r := f.fund1
			copy(r.Signature[:], sig)
			return r.Verify(bankPub)
		}},
		{"sync receipt", domainSync, f.root, body(f.sync1.Marshal()), f.sync1.Signature, func(sig []byte) error {
			s := f.sync1
			copy(s.Signature[:], sig)
			return s.Verify(root)
		}},
	}
}

// TestSignatureDomains signs each object's bytes under every domain: only
// its own domain verifies, and signing under it reproduces the signature
// the package made (ed25519 is deterministic), which pins the signed
// message to "domain, then the encoding without the signature".
func TestSignatureDomains(t *testing.T) {
	for _, k := range signedKinds(t) {
		domains := append([]string{"", strings.TrimSuffix(k.domain, "\x00"), strings.ToUpper(k.domain),
			strings.Replace(k.domain, "/v1", "/v2", 1)}, allDomains...)
		for _, d := range domains {
			sig := ed25519.Sign(k.key, append([]byte(d), k.body...))
			err := k.verify(sig)
			if d == k.domain {
				if err != nil {
					t.Fatalf("%s signed under its own domain: %v", k.name, err)
				}
				if !bytes.Equal(sig, k.sig[:]) {
					t.Fatalf("%s: the package signs something other than domain || encoding without signature", k.name)
				}
				continue
			}
			if err == nil {
				t.Fatalf("%s signed under domain %q verifies", k.name, d)
			}
		}
	}
}

// TestSignaturesDoNotCrossKinds moves signatures between kinds that share
// a signer, on bytes that differ only in the type byte: none verifies.
func TestSignaturesDoNotCrossKinds(t *testing.T) {
	f := buildFixtures(t)
	bankPub := pub(f.bankKey)
	// A funding receipt's signature is the bank's; a sync receipt's is the
	// root's. Neither verifies as the other, even under the other's signer.
	fr := offline.FundingReceipt{Serial: f.dev1.Serial, Seq: 7, Amount: 7, Time: t0}
	fr.Sign(f.root)
	sr := offline.SyncReceipt{Serial: fr.Serial, Counter: 7, Head: f.v1.Hash(), Received: 7, Time: t0, Signature: fr.Signature}
	if err := sr.Verify(pub(f.root)); err == nil {
		t.Fatal("a root-signed funding receipt's signature verifies as a sync receipt")
	}
	if fb, sb := fr.Marshal(), sr.Marshal(); fb[1] != 'F' || sb[1] != 'S' {
		t.Fatal("the receipts' type bytes are not F and S")
	}
	// A sync receipt signed by a bank rather than the root: banks vouch for
	// funding, only the ledger for what it holds.
	sr.Sign(f.bankKey)
	wantCode(t, sr.Verify(pub(f.root)), "bad_signature")

	// A device certificate signed by the bank is not a bank certificate,
	// even were its bytes read as one: the root key did not sign it, and a
	// bank key signing a "bank certificate" certifies nothing.
	bankSigned, err := offline.IssueBankCert(f.bankKey, "bank-b", pub(seedKey("bank-b")), t0.AddDate(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, bankSigned.Verify(pub(f.root), t0), "unknown_bank")
	dev := f.dev1
	dev.Signature = f.bank.Signature
	wantCode(t, dev.Verify(f.bank, t0), "bad_signature")
	// A device certificate signed by the root rather than its bank.
	rootSigned, err := offline.IssueDeviceCert(f.root, f.dev1)
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, rootSigned.Verify(f.bank, t0), "bad_signature")
	// A device certificate of a bank checked against another bank's
	// certificate.
	other, err := offline.IssueBankCert(f.root, "bank-b", pub(f.bankKey), t0.AddDate(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, f.dev1.Verify(other, t0), "unknown_bank")
	// A revocation list signed by a bank rather than the root.
	l := offline.IssueRevocationList(f.bankKey, 1, t0, nil)
	wantCode(t, l.Verify(pub(f.root)), "bad_signature")
	// A funding receipt signed by the root rather than the bank.
	fr.Sign(f.root)
	wantCode(t, fr.Verify(bankPub), "bad_signature")
	// A voucher signed by the bank rather than its payer's key.
	v := resign(f.bankKey, f.v1)
	wantCode(t, v.VerifySignature(pub(f.root)), "bad_signature")
}

func TestVoucherHash(t *testing.T) {
	f := buildFixtures(t)
	for _, v := range []offline.Voucher{f.v1, f.v2, f.v3} {
		signed := v.SignedBytes()
		if !bytes.HasPrefix(signed, []byte(domainVoucher)) {
			t.Fatal("signed bytes do not start with the voucher domain")
		}
		body := signed[len(domainVoucher):]
		if body[0] != offline.FormatVersion || body[1] != 'V' {
			t.Fatalf("signed bytes after the domain start %x", body[:2])
		}
		// The fields are the voucher's encoding after its certificates,
		// without the signature.
		enc := v.Marshal()
		if !bytes.Equal(body[2:], enc[len(enc)-64-len(body)+2:len(enc)-64]) {
			t.Fatal("signed fields differ from the encoded fields")
		}
		if h := v.Hash(); h != offline.Hash(sha256.Sum256(body)) {
			t.Fatalf("hash %s is not SHA-256 of the signed bytes without the domain", h)
		}
		// The signature and the certificates are not hashed.
		w := v
		w.Signature[0] ^= 1
		w.Chain.Device.Signature[0] ^= 1
		if w.Hash() != v.Hash() {
			t.Fatal("hash covers the signature or the certificates")
		}
	}
	if f.v2.Prev != f.v1.Hash() || f.v3.Prev != f.v2.Hash() {
		t.Fatal("vouchers do not chain")
	}
	if k := f.v2.Key(); k.Payer != f.dev1.Serial || k.Counter != 2 {
		t.Fatalf("key %+v", k)
	}
}

func TestCodeOf(t *testing.T) {
	_, err := offline.ParseBankCert(nil)
	if !errors.Is(err, offline.ErrMalformed) || offline.CodeOf(err) != "malformed" {
		t.Fatalf("decoder error %v: code %q", err, offline.CodeOf(err))
	}
	if offline.CodeOf(offline.ErrRevoked) != "revoked" {
		t.Fatal("CodeOf of a sentinel")
	}
	if offline.CodeOf(nil) != "" || offline.CodeOf(errors.New("x")) != "" {
		t.Fatal("CodeOf of a foreign error is not empty")
	}
	// Wrapped errors keep their code, as errors.Is keeps finding them.
	wrapped := fmt.Errorf("upload voucher 3: %w", err)
	if !errors.Is(wrapped, offline.ErrMalformed) || offline.CodeOf(wrapped) != "malformed" {
		t.Fatalf("wrapped error %v: code %q", wrapped, offline.CodeOf(wrapped))
	}
	if offline.CodeOf(fmt.Errorf("x: %w", offline.ErrSyncRequired)) != "sync_required" {
		t.Fatal("wrapped sentinel loses its code")
	}
}

// TestVerifySignatureIgnoresTime: VerifySignature attributes a voucher to
// its payer whatever the time; ValidAtItsTime checks the certificates at
// the voucher's own time.
func TestVerifySignatureIgnoresTime(t *testing.T) {
	f := buildFixtures(t)
	late := f.v1
	late.Time = f.dev1.Expires.Add(time.Millisecond)
	late = resign(f.purse1Key, late)
	if err := late.VerifySignature(pub(f.root)); err != nil {
		t.Fatalf("a voucher made after its certificate expired does not verify: %v", err)
	}
	wantCode(t, late.ValidAtItsTime(), "certificate_expired")
	if err := f.v1.ValidAtItsTime(); err != nil {
		t.Fatal(err)
	}
	wantCode(t, offline.CheckVoucher(&late, pub(f.root), nil, late.Time), "certificate_expired")
}
