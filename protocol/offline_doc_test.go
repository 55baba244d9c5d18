package protocol

import (
	"crypto/ed25519"
	"encoding/json"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/offline"
)

// TestDoc_OfflineExamplesVerify decodes the purse examples of the document
// as an outside client would and checks they hold together: the
// certificates lead to the root key given, the funding receipt is the
// bank's, the voucher handed in is signed by the purse the certificates
// name, and the sync receipt is the root's, for that voucher.
func TestDoc_OfflineExamplesVerify(t *testing.T) {
	bodies := map[string]json.RawMessage{}
	for _, raw := range exampleMessages(readDoc(t)) {
		var env Envelope
		if json.Unmarshal([]byte(raw), &env) == nil && env.Body != nil {
			if _, seen := bodies[env.Type]; !seen {
				bodies[env.Type] = env.Body
			}
		}
	}
	var certs PurseCertificates
	var funded PurseFunded
	var sync PurseSync
	var synced PurseSynced
	for typ, v := range map[string]any{TypePurseCerts: &certs, TypePurseFunded: &funded, TypePurseSync: &sync, TypePurseSynced: &synced} {
		if err := strictBody(bodies[typ], v); err != nil {
			t.Fatalf("example %s: %v", typ, err)
		}
	}
	root := ed25519.PublicKey(certs.RootKey)
	bank, err := offline.ParseBankCert(certs.BankCert)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := offline.ParseDeviceCert(certs.DeviceCert)
	if err != nil {
		t.Fatal(err)
	}
	if err := (offline.Chain{Bank: bank, Device: dev}).Verify(root, dev.Issued.Add(time.Hour)); err != nil || dev.Serial.String() != certs.Serial {
		t.Fatalf("the certificates: %v (serial %s, example %s)", err, dev.Serial, certs.Serial)
	}
	crl, err := offline.ParseRevocationList(certs.Revocations)
	if err != nil || crl.Verify(root) != nil {
		t.Fatalf("the revocation list: %v", err)
	}
	fr, err := offline.ParseFundingReceipt(funded.Receipt)
	if err != nil || fr.Verify(bank.Key) != nil || fr.Seq != 1 || fr.Amount != funded.Amount || fr.Serial != dev.Serial {
		t.Fatalf("the funding receipt %+v: %v", fr, err)
	}
	if len(sync.Sent) != 1 || len(synced.Vouchers) != 1 {
		t.Fatalf("the sync examples hold %d and %d vouchers, want 1", len(sync.Sent), len(synced.Vouchers))
	}
	v, err := offline.ParseVoucher(sync.Sent[0])
	if err != nil || v.VerifySignature(root) != nil || v.Chain.Device.Signature != dev.Signature {
		t.Fatalf("the voucher handed in: %v", err)
	}
	if h := v.Hash(); synced.Vouchers[0].Hash != h.String() || synced.Vouchers[0].Amount != v.Amount {
		t.Errorf("the answer names voucher %s, the voucher handed in hashes to %s", synced.Vouchers[0].Hash, h)
	}
	rc, err := offline.ParseSyncReceipt(synced.Receipt)
	if err != nil || rc.Verify(root) != nil || rc.Serial != v.Payer || rc.Counter != 1 || rc.Head != v.Hash() {
		t.Errorf("the sync receipt %+v: %v", rc, err)
	}
}
