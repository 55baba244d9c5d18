package purseweb

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/digital-yen/cbdc-sandbox/offline"
)

// CheckVectors holds the offline package, as it runs where Call runs (in
// a browser, compiled to WebAssembly), to the test vectors of
// offline/testdata/vectors/vectors.json: every vector decodes, encodes to
// the same bytes, and verifies under the key the file names, and every
// text form decodes to the same object. It returns how many vectors it
// checked and what it found wrong.
func CheckVectors(file []byte) (checked int, problems []string) {
	var vf struct {
		FormatVersion int `json:"format_version"`
		Keys          []struct {
			Name      string `json:"name"`
			PublicKey string `json:"public_key"`
		} `json:"keys"`
		Vectors []struct {
			Name     string `json:"name"`
			Type     string `json:"type"`
			SignedBy string `json:"signed_by"`
			Encoding string `json:"encoding"`
			Hash     string `json:"hash"`
			Text     string `json:"text"`
		} `json:"vectors"`
	}
	if err := json.Unmarshal(file, &vf); err != nil {
		return 0, []string{"the file does not decode: " + err.Error()}
	}
	if vf.FormatVersion != offline.FormatVersion {
		return 0, []string{fmt.Sprintf("the file is format version %d, the code %d", vf.FormatVersion, offline.FormatVersion)}
	}
	keys := map[string]ed25519.PublicKey{}
	for _, k := range vf.Keys {
		b, _ := hex.DecodeString(k.PublicKey)
		keys[k.Name] = b
	}
	banks := map[string]offline.BankCert{} // verified, by bank id
	for _, vec := range vf.Vectors {
		enc, err := hex.DecodeString(vec.Encoding)
		if err == nil {
			err = checkVector(vec.Type, enc, keys[vec.SignedBy], keys["root"], banks, vec.Hash, vec.Text)
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", vec.Name, err))
		}
		checked++
	}
	return checked, problems
}

// checkVector decodes one vector's encoding as its type, encodes it again
// and verifies it.
func checkVector(typ string, enc []byte, signer, root ed25519.PublicKey, banks map[string]offline.BankCert, hash, text string) error {
	var reenc []byte
	var verify error
	switch typ {
	case "bank_cert":
		c, err := offline.ParseBankCert(enc)
		if err != nil {
			return err
		}
		if reenc, verify = c.Marshal(), c.Verify(signer, c.NotAfter); verify == nil {
			banks[c.BankID] = c
		}
	case "device_cert":
		c, err := offline.ParseDeviceCert(enc)
		if err != nil {
			return err
		}
		bank, ok := banks[c.BankID]
		if !ok {
			return fmt.Errorf("no verified certificate of bank %s comes before it", c.BankID)
		}
		reenc, verify = c.Marshal(), c.Verify(bank, c.Issued)
	case "funding_receipt":
		f, err := offline.ParseFundingReceipt(enc)
		if err != nil {
			return err
		}
		reenc, verify = f.Marshal(), f.Verify(signer)
	case "sync_receipt":
		s, err := offline.ParseSyncReceipt(enc)
		if err != nil {
			return err
		}
		reenc, verify = s.Marshal(), s.Verify(signer)
	case "revocation_list":
		l, err := offline.ParseRevocationList(enc)
		if err != nil {
			return err
		}
		reenc, verify = l.Marshal(), l.Verify(signer)
	case "payment_request":
		q, err := offline.ParsePaymentRequest(enc)
		if err != nil {
			return err
		}
		qt, err := offline.ParsePaymentRequestText(text)
		if err != nil || !reflect.DeepEqual(qt, q) {
			return fmt.Errorf("its text form decodes to %+v (%v), not the encoding's %+v", qt, err, q)
		}
		reenc = q.Marshal()
	case "voucher":
		v, err := offline.ParseVoucher(enc)
		if err != nil {
			return err
		}
		vt, err := offline.ParseVoucherText(text)
		if err != nil || !bytes.Equal(vt.Marshal(), enc) {
			return fmt.Errorf("its text form does not decode to the encoding (%v)", err)
		}
		if h := v.Hash(); hex.EncodeToString(h[:]) != hash {
			return fmt.Errorf("hash %x, the file says %s", h, hash)
		}
		reenc, verify = v.Marshal(), v.VerifySignature(root)
	default:
		return fmt.Errorf("unknown type %q", typ)
	}
	if !bytes.Equal(reenc, enc) {
		return fmt.Errorf("encodes again to other bytes")
	}
	return verify
}
