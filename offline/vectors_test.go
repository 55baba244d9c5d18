package offline_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/offline"
)

// Test vectors: deterministic objects of every kind, their encodings, the
// messages their signatures cover, voucher hashes and text forms, kept in
// testdata/vectors/vectors.json. TestVectors holds the file to the code;
// `go test ./offline -run TestVectors -update` rewrites it.
// TestVectorsFromFile reads the file alone, as another implementation
// would: it decodes every vector, verifies every signature from the root
// public key the file gives, and checks the readable fields.

var update = flag.Bool("update", false, "rewrite testdata/vectors/vectors.json from the code")

var vectorsPath = filepath.Join("testdata", "vectors", "vectors.json")

// fixtures are the deterministic objects the vectors hold. Keys come from
// seeds that are SHA-256 of their names; times, serials and nonces are
// fixed, and ed25519 signatures are deterministic.
type fixtures struct {
	root, bankKey, purse1Key, purse2Key ed25519.PrivateKey

	bank       offline.BankCert
	dev1, dev2 offline.DeviceCert
	fund1      offline.FundingReceipt
	req1, req2 offline.PaymentRequest
	v1, v2, v3 offline.Voucher // v3 is a defund
	sync1      offline.SyncReceipt
	crl1, crl2 offline.RevocationList // crl2 is empty
}

func repeatSerial(b byte) offline.Serial {
	var s offline.Serial
	copy(s[:], bytes.Repeat([]byte{b}, len(s)))
	return s
}

// fixedNonce is the first 16 bytes of SHA-256 of name.
func fixedNonce(name string) offline.Nonce {
	var n offline.Nonce
	h := sha256.Sum256([]byte(name))
	copy(n[:], h[:])
	return n
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func buildFixtures(t testing.TB) *fixtures {
	t.Helper()
	f := &fixtures{root: seedKey("root"), bankKey: seedKey("bank-a"), purse1Key: seedKey("purse-1"), purse2Key: seedKey("purse-2")}
	var err error
	if f.bank, err = offline.IssueBankCert(f.root, "bank-a", pub(f.bankKey), at("2031-01-01T00:00:00Z")); err != nil {
		t.Fatal(err)
	}
	s1, s2 := repeatSerial(0x01), repeatSerial(0x02)
	if f.dev1, err = offline.IssueDeviceCert(f.bankKey, offline.DeviceCert{
		Serial: s1, Key: pub(f.purse1Key), BankID: "bank-a",
		Limits: offline.Limits{Mode: offline.Staged, PaymentCap: 20_000, PurseCap: 100_000, PaymentsBeforeSync: 30},
		Issued: at("2030-04-01T00:00:00Z"), Expires: at("2030-05-01T00:00:00Z"),
	}); err != nil {
		t.Fatal(err)
	}
	if f.dev2, err = offline.IssueDeviceCert(f.bankKey, offline.DeviceCert{
		Serial: s2, Key: pub(f.purse2Key), BankID: "bank-a",
		Limits: offline.Limits{Mode: offline.Intermittent, PaymentCap: 5_000, PurseCap: 50_000, PaymentsBeforeSync: 10},
		Issued: at("2030-04-01T00:00:00Z"), Expires: at("2030-05-01T00:00:00Z"),
	}); err != nil {
		t.Fatal(err)
	}
	f.fund1 = offline.FundingReceipt{Serial: s1, Seq: 1, Amount: 50_000, Time: at("2030-04-01T08:00:00Z")}
	f.fund1.Sign(f.bankKey)

	chain1 := offline.Chain{Bank: f.bank, Device: f.dev1}
	f.req1 = offline.PaymentRequest{Payee: s2, Amount: 1500, Nonce: fixedNonce("nonce-1"), Time: at("2030-04-10T12:34:56.789Z")}
	f.v1 = resign(f.purse1Key, offline.Voucher{Chain: chain1, Payer: s1, Counter: 1, Payee: s2,
		Amount: f.req1.Amount, Nonce: f.req1.Nonce, Time: at("2030-04-10T12:35:01.250Z")})
	f.req2 = offline.PaymentRequest{Payee: s2, Amount: 2000, Nonce: fixedNonce("nonce-2"), Time: at("2030-04-10T12:40:00Z")}
	f.v2 = resign(f.purse1Key, offline.Voucher{Chain: chain1, Payer: s1, Counter: 2, Prev: f.v1.Hash(), Payee: s2,
		Amount: f.req2.Amount, Nonce: f.req2.Nonce, Time: at("2030-04-10T12:40:03.001Z")})
	f.sync1 = offline.SyncReceipt{Serial: s1, Counter: 2, Head: f.v2.Hash(), Received: 0, Time: at("2030-04-11T09:00:00Z")}
	f.sync1.Sign(f.root)
	f.v3 = resign(f.purse1Key, offline.Voucher{Chain: chain1, Payer: s1, Counter: 3, Prev: f.v2.Hash(), Synced: 2,
		Receipt: f.sync1, Amount: 10_000, Nonce: fixedNonce("nonce-3"), Time: at("2030-04-11T09:00:05Z")})

	f.crl1 = offline.IssueRevocationList(f.root, 1, at("2030-04-09T00:00:00Z"),
		[]offline.Serial{repeatSerial(0x0f), repeatSerial(0x03), repeatSerial(0x0a)})
	f.crl2 = offline.IssueRevocationList(f.root, 2, at("2030-04-12T00:00:00Z"), nil)
	return f
}

// The vectors file.

type vectorFile struct {
	Comment       string            `json:"comment"`
	FormatVersion int               `json:"format_version"`
	Keys          []vectorKey       `json:"keys"`
	Domains       map[string]string `json:"domains"`
	Vectors       []vector          `json:"vectors"`
}

type vectorKey struct {
	Name      string `json:"name"`
	SeedFrom  string `json:"seed_from"`
	Seed      string `json:"seed"`
	PublicKey string `json:"public_key"`
}

type vector struct {
	Name          string          `json:"name"`
	Type          string          `json:"type"`
	Fields        json.RawMessage `json:"fields"`
	SignedBy      string          `json:"signed_by,omitempty"`
	SignedMessage string          `json:"signed_message,omitempty"`
	Encoding      string          `json:"encoding"`
	Hash          string          `json:"hash,omitempty"`
	Text          string          `json:"text,omitempty"`
}

type bankCertFields struct {
	BankID    string `json:"bank_id"`
	Key       string `json:"key"`
	NotAfter  string `json:"not_after"`
	Signature string `json:"signature"`
}

type deviceCertFields struct {
	Serial             string `json:"serial"`
	Key                string `json:"key"`
	BankID             string `json:"bank_id"`
	Mode               string `json:"mode"`
	PaymentCap         int64  `json:"payment_cap"`
	PurseCap           int64  `json:"purse_cap"`
	PaymentsBeforeSync uint32 `json:"payments_before_sync"`
	Issued             string `json:"issued"`
	Expires            string `json:"expires"`
	Signature          string `json:"signature"`
}

type requestFields struct {
	Payee  string `json:"payee"`
	Amount int64  `json:"amount"`
	Nonce  string `json:"nonce"`
	Time   string `json:"time"`
}

type voucherFields struct {
	BankCert    string `json:"bank_cert"`              // name of the vector holding it
	DeviceCert  string `json:"device_cert"`            // name of the vector holding it
	SyncReceipt string `json:"sync_receipt,omitempty"` // name of the vector holding it; none when synced is 0
	Payer       string `json:"payer"`
	Counter     uint64 `json:"counter"`
	Prev        string `json:"prev"`
	Synced      uint64 `json:"synced"`
	Payee       string `json:"payee"`
	Amount      int64  `json:"amount"`
	Nonce       string `json:"nonce"`
	Time        string `json:"time"`
	Signature   string `json:"signature"`
}

type revocationFields struct {
	Seq       uint64   `json:"seq"`
	Issued    string   `json:"issued"`
	Serials   []string `json:"serials"`
	Signature string   `json:"signature"`
}

type fundingFields struct {
	Serial    string `json:"serial"`
	Seq       uint64 `json:"seq"`
	Amount    int64  `json:"amount"`
	Time      string `json:"time"`
	Signature string `json:"signature"`
}

type syncFields struct {
	Serial    string `json:"serial"`
	Counter   uint64 `json:"counter"`
	Head      string `json:"head"`
	Received  uint64 `json:"received"`
	Time      string `json:"time"`
	Signature string `json:"signature"`
}

const vectorTime = "2006-01-02T15:04:05.000Z07:00"

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(vectorTime)
}

func hx(b []byte) string { return hex.EncodeToString(b) }

func describeBank(c offline.BankCert) bankCertFields {
	return bankCertFields{BankID: c.BankID, Key: hx(c.Key), NotAfter: fmtTime(c.NotAfter), Signature: hx(c.Signature[:])}
}

func describeDevice(c offline.DeviceCert) deviceCertFields {
	return deviceCertFields{Serial: c.Serial.String(), Key: hx(c.Key), BankID: c.BankID, Mode: c.Limits.Mode.String(),
		PaymentCap: c.Limits.PaymentCap, PurseCap: c.Limits.PurseCap, PaymentsBeforeSync: c.Limits.PaymentsBeforeSync,
		Issued: fmtTime(c.Issued), Expires: fmtTime(c.Expires), Signature: hx(c.Signature[:])}
}

func describeRequest(q offline.PaymentRequest) requestFields {
	return requestFields{Payee: q.Payee.String(), Amount: q.Amount, Nonce: q.Nonce.String(), Time: fmtTime(q.Time)}
}

func describeVoucher(v offline.Voucher, bankName, devName, syncName string) voucherFields {
	return voucherFields{BankCert: bankName, DeviceCert: devName, SyncReceipt: syncName, Payer: v.Payer.String(), Counter: v.Counter,
		Prev: v.Prev.String(), Synced: v.Synced, Payee: v.Payee.String(), Amount: v.Amount, Nonce: v.Nonce.String(),
		Time: fmtTime(v.Time), Signature: hx(v.Signature[:])}
}

func describeRevocations(l offline.RevocationList) revocationFields {
	d := revocationFields{Seq: l.Seq, Issued: fmtTime(l.Issued), Serials: []string{}, Signature: hx(l.Signature[:])}
	for _, s := range l.Serials {
		d.Serials = append(d.Serials, s.String())
	}
	return d
}

func describeFunding(f offline.FundingReceipt) fundingFields {
	return fundingFields{Serial: f.Serial.String(), Seq: f.Seq, Amount: f.Amount, Time: fmtTime(f.Time), Signature: hx(f.Signature[:])}
}

func describeSync(s offline.SyncReceipt) syncFields {
	return syncFields{Serial: s.Serial.String(), Counter: s.Counter, Head: s.Head.String(), Received: s.Received,
		Time: fmtTime(s.Time), Signature: hx(s.Signature[:])}
}

func rawJSON(t testing.TB, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// signedMessage is what an object's signature covers: its domain, then its
// encoding without the trailing 64-byte signature.
func signedMessage(domain string, enc []byte) []byte {
	return append([]byte(domain), enc[:len(enc)-ed25519.SignatureSize]...)
}

// Vector names, which vouchers use to refer to their certificates.
const (
	vBank = "bank-cert bank-a"
	vDev1 = "device-cert purse-1"
	vDev2 = "device-cert purse-2"
	vSync = "sync-receipt purse-1 counter 2"
)

func buildVectorFile(t testing.TB) vectorFile {
	t.Helper()
	f := buildFixtures(t)
	vf := vectorFile{
		Comment: "Test vectors of the offline payment formats (package offline, docs/offline.md). " +
			"Keys are ed25519 from 32-byte seeds; seed_from says how each seed was made. " +
			"Encodings, signatures, hashes and messages are hex; times are UTC and encoded as Unix milliseconds. " +
			"signed_message is what the signature covers: the domain string, then the encoding up to the signature " +
			"(for a voucher, its version and type bytes and fields, without the certificates and sync receipt). " +
			"A voucher's hash is SHA-256 of its signed_message without the domain string. " +
			"Regenerate with: go test ./offline -run TestVectors -update",
		FormatVersion: offline.FormatVersion,
		Domains: map[string]string{
			"bank_cert": domainBankCert, "device_cert": domainDeviceCert, "voucher": domainVoucher,
			"revocation_list": domainRevocations, "funding_receipt": domainReceipt, "sync_receipt": domainSync,
		},
	}
	for _, k := range []struct {
		name string
		key  ed25519.PrivateKey
	}{{"root", f.root}, {"bank-a", f.bankKey}, {"purse-1", f.purse1Key}, {"purse-2", f.purse2Key}} {
		vf.Keys = append(vf.Keys, vectorKey{Name: k.name, SeedFrom: fmt.Sprintf("sha256(%q)", k.name),
			Seed: hx(k.key.Seed()), PublicKey: hx(pub(k.key))})
	}
	add := func(name, typ string, fields any, signer, domain string, enc []byte) *vector {
		v := vector{Name: name, Type: typ, Fields: rawJSON(t, fields), SignedBy: signer, Encoding: hx(enc)}
		if domain != "" {
			v.SignedMessage = hx(signedMessage(domain, enc))
		}
		vf.Vectors = append(vf.Vectors, v)
		return &vf.Vectors[len(vf.Vectors)-1]
	}
	voucher := func(name string, v offline.Voucher) {
		syncName := ""
		if v.Synced > 0 {
			syncName = vSync
		}
		vec := add(name, "voucher", describeVoucher(v, vBank, vDev1, syncName), "purse-1", "", v.Marshal())
		vec.SignedMessage = hx(v.SignedBytes())
		h := v.Hash()
		vec.Hash = hx(h[:])
		vec.Text = v.Text()
	}
	add(vBank, "bank_cert", describeBank(f.bank), "root", domainBankCert, f.bank.Marshal())
	add(vDev1, "device_cert", describeDevice(f.dev1), "bank-a", domainDeviceCert, f.dev1.Marshal())
	add(vDev2, "device_cert", describeDevice(f.dev2), "bank-a", domainDeviceCert, f.dev2.Marshal())
	add("funding-receipt purse-1 #1", "funding_receipt", describeFunding(f.fund1), "bank-a", domainReceipt, f.fund1.Marshal())
	add("payment-request purse-2 1500", "payment_request", describeRequest(f.req1), "", "", f.req1.Marshal()).Text = f.req1.Text()
	voucher("voucher purse-1 #1 to purse-2", f.v1)
	add("payment-request purse-2 2000", "payment_request", describeRequest(f.req2), "", "", f.req2.Marshal()).Text = f.req2.Text()
	voucher("voucher purse-1 #2 to purse-2", f.v2)
	add(vSync, "sync_receipt", describeSync(f.sync1), "root", domainSync, f.sync1.Marshal())
	voucher("voucher purse-1 #3 defund", f.v3)
	add("revocation-list 1", "revocation_list", describeRevocations(f.crl1), "root", domainRevocations, f.crl1.Marshal())
	add("revocation-list 2 empty", "revocation_list", describeRevocations(f.crl2), "root", domainRevocations, f.crl2.Marshal())
	return vf
}

func encodeVectorFile(t testing.TB, vf vectorFile) []byte {
	t.Helper()
	b, err := json.MarshalIndent(vf, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

func readVectorFile(t testing.TB) vectorFile {
	t.Helper()
	raw, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatalf("read the vectors (go test ./offline -run TestVectors -update writes them): %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var vf vectorFile
	if err := dec.Decode(&vf); err != nil {
		t.Fatalf("decode %s: %v", vectorsPath, err)
	}
	return vf
}

func TestVectors(t *testing.T) {
	want := encodeVectorFile(t, buildVectorFile(t))
	if *update {
		if err := os.MkdirAll(filepath.Dir(vectorsPath), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vectorsPath, want, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", vectorsPath)
		return
	}
	got, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatalf("read the vectors (go test ./offline -run TestVectors -update writes them): %v", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gl) || i < len(wl); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("%s differs from what the code makes, first at line %d:\n file: %s\n code: %s\n"+
					"(if the format changed on purpose: go test ./offline -run TestVectors -update)", vectorsPath, i+1, g, w)
			}
		}
	}
}

// TestVectorsFromFile uses nothing but the file: the root key it names is
// the only trust anchor.
func TestVectorsFromFile(t *testing.T) {
	vf := readVectorFile(t)
	if vf.FormatVersion != offline.FormatVersion {
		t.Fatalf("file is format version %d, the code %d", vf.FormatVersion, offline.FormatVersion)
	}
	keys := map[string]ed25519.PublicKey{}
	for _, k := range vf.Keys {
		seed := unhex(t, k.Seed)
		want := sha256.Sum256([]byte(strings.TrimSuffix(strings.TrimPrefix(k.SeedFrom, `sha256("`), `")`)))
		if !bytes.Equal(seed, want[:]) {
			t.Errorf("key %s: seed is not %s", k.Name, k.SeedFrom)
		}
		p := ed25519.PublicKey(unhex(t, k.PublicKey))
		if !p.Equal(pub(ed25519.NewKeyFromSeed(seed))) {
			t.Errorf("key %s: public key does not belong to the seed", k.Name)
		}
		keys[k.Name] = p
	}
	root := keys["root"]
	if root == nil {
		t.Fatal("the file names no root key")
	}
	domains := map[string]string{}
	for typ, d := range vf.Domains {
		domains[typ] = d
	}
	byName := map[string]vector{}
	banks := map[string]offline.BankCert{}             // verified, by bank id
	devices := map[offline.Serial]offline.DeviceCert{} // verified, by serial
	seen := map[string]bool{}
	for _, vec := range vf.Vectors {
		byName[vec.Name] = vec
		seen[vec.Type] = true
		enc := unhex(t, vec.Encoding)
		t.Run(vec.Name, func(t *testing.T) {
			// Independently of the package: the signature over the signed
			// message verifies under the key the file names.
			if vec.SignedBy != "" {
				msg := unhex(t, vec.SignedMessage)
				d := domains[vec.Type]
				if d == "" || !bytes.HasPrefix(msg, []byte(d)) {
					t.Fatalf("signed message does not start with the %s domain", vec.Type)
				}
				if vec.Type != "voucher" && !bytes.Equal(msg[len(d):], enc[:len(enc)-ed25519.SignatureSize]) {
					t.Fatal("signed message is not the domain and the encoding without its signature")
				}
				if !ed25519.Verify(keys[vec.SignedBy], msg, enc[len(enc)-ed25519.SignatureSize:]) {
					t.Fatalf("signature does not verify under %s's key", vec.SignedBy)
				}
			}
			var got any
			var reenc []byte
			switch vec.Type {
			case "bank_cert":
				c, err := offline.ParseBankCert(enc)
				if err != nil {
					t.Fatal(err)
				}
				if err := c.Verify(root, c.NotAfter); err != nil {
					t.Fatalf("verify under the root key: %v", err)
				}
				banks[c.BankID] = c
				got, reenc = describeBank(c), c.Marshal()
				checkFields(t, vec, &bankCertFields{}, got)
			case "device_cert":
				c, err := offline.ParseDeviceCert(enc)
				if err != nil {
					t.Fatal(err)
				}
				bank, ok := banks[c.BankID]
				if !ok {
					t.Fatalf("no verified bank certificate of %s comes before it", c.BankID)
				}
				if err := c.Verify(bank, c.Issued); err != nil {
					t.Fatalf("verify under the bank certificate: %v", err)
				}
				devices[c.Serial] = c
				got, reenc = describeDevice(c), c.Marshal()
				checkFields(t, vec, &deviceCertFields{}, got)
			case "payment_request":
				q, err := offline.ParsePaymentRequest(enc)
				if err != nil {
					t.Fatal(err)
				}
				qt, err := offline.ParsePaymentRequestText(vec.Text)
				if err != nil || !reflect.DeepEqual(qt, q) {
					t.Fatalf("text form decodes to %+v, %v; want %+v", qt, err, q)
				}
				got, reenc = describeRequest(q), q.Marshal()
				checkFields(t, vec, &requestFields{}, got)
			case "voucher":
				v, err := offline.ParseVoucher(enc)
				if err != nil {
					t.Fatal(err)
				}
				if err := v.VerifySignature(root); err != nil {
					t.Fatalf("verify from the root key: %v", err)
				}
				if err := v.ValidAtItsTime(); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(v.SignedBytes(), unhex(t, vec.SignedMessage)) {
					t.Fatal("signed message differs")
				}
				h := sha256.Sum256(unhex(t, vec.SignedMessage)[len(domainVoucher):])
				if vh := v.Hash(); vec.Hash != hx(h[:]) || vec.Hash != hx(vh[:]) {
					t.Fatalf("hash %s; SHA-256 of the signed message without domain is %x, Hash() is %s", vec.Hash, h, vh)
				}
				var fields voucherFields
				if err := json.Unmarshal(vec.Fields, &fields); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(v.Chain.Bank.Marshal(), unhex(t, byName[fields.BankCert].Encoding)) ||
					!bytes.Equal(v.Chain.Device.Marshal(), unhex(t, byName[fields.DeviceCert].Encoding)) {
					t.Fatalf("certificates differ from vectors %q and %q", fields.BankCert, fields.DeviceCert)
				}
				if (v.Synced > 0) != (fields.SyncReceipt != "") ||
					v.Synced > 0 && !bytes.Equal(v.Receipt.Marshal(), unhex(t, byName[fields.SyncReceipt].Encoding)) {
					t.Fatalf("sync receipt differs from vector %q", fields.SyncReceipt)
				}
				vt, err := offline.ParseVoucherText(vec.Text)
				if err != nil || !bytes.Equal(vt.Marshal(), enc) {
					t.Fatalf("text form decodes to other bytes (%v)", err)
				}
				got, reenc = describeVoucher(v, fields.BankCert, fields.DeviceCert, fields.SyncReceipt), v.Marshal()
				checkFields(t, vec, &voucherFields{}, got)
			case "revocation_list":
				l, err := offline.ParseRevocationList(enc)
				if err != nil {
					t.Fatal(err)
				}
				if err := l.Verify(root); err != nil {
					t.Fatal(err)
				}
				got, reenc = describeRevocations(l), l.Marshal()
				checkFields(t, vec, &revocationFields{}, got)
			case "funding_receipt":
				f, err := offline.ParseFundingReceipt(enc)
				if err != nil {
					t.Fatal(err)
				}
				if err := f.Verify(bankKeyOf(t, banks, devices, f.Serial, keys[vec.SignedBy])); err != nil {
					t.Fatal(err)
				}
				got, reenc = describeFunding(f), f.Marshal()
				checkFields(t, vec, &fundingFields{}, got)
			case "sync_receipt":
				s, err := offline.ParseSyncReceipt(enc)
				if err != nil {
					t.Fatal(err)
				}
				if vec.SignedBy != "root" {
					t.Fatalf("sync receipt signed by %s, not the root", vec.SignedBy)
				}
				if err := s.Verify(root); err != nil {
					t.Fatal(err)
				}
				got, reenc = describeSync(s), s.Marshal()
				checkFields(t, vec, &syncFields{}, got)
			default:
				t.Fatalf("unknown vector type %q", vec.Type)
			}
			if !bytes.Equal(reenc, enc) {
				t.Fatal("decoding and encoding again changes the bytes")
			}
		})
	}
	for _, typ := range []string{"bank_cert", "device_cert", "payment_request", "voucher", "revocation_list", "funding_receipt", "sync_receipt"} {
		if !seen[typ] {
			t.Errorf("the file has no %s vector", typ)
		}
	}
}

// bankKeyOf is the key of the bank that certified a device, from the bank
// certificate verified under the root; signer is the key the file names.
func bankKeyOf(t *testing.T, banks map[string]offline.BankCert, devices map[offline.Serial]offline.DeviceCert,
	s offline.Serial, signer ed25519.PublicKey) ed25519.PublicKey {
	t.Helper()
	d, ok := devices[s]
	if !ok {
		t.Fatalf("no verified device certificate of %s comes before it", s)
	}
	c := banks[d.BankID]
	if !c.Key.Equal(signer) {
		t.Fatalf("the file names another signer than bank %s", d.BankID)
	}
	return c.Key
}

// checkFields decodes a vector's readable fields into want and compares
// them with what the decoded object says.
func checkFields(t *testing.T, vec vector, want any, got any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(vec.Fields))
	dec.DisallowUnknownFields()
	if err := dec.Decode(want); err != nil {
		t.Fatalf("fields: %v", err)
	}
	if w := reflect.ValueOf(want).Elem().Interface(); !reflect.DeepEqual(w, got) {
		t.Fatalf("fields in the file:\n%+v\ndecoded from the encoding:\n%+v", w, got)
	}
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("hex %q: %v", s, err)
	}
	return b
}
