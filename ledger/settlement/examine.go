package settlement

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/digital-yen/cbdc-sandbox/offline"
)

// examineAll checks an upload's vouchers on all cores: signature checks are
// most of the work, and they need no state.
func (s *Settler) examineAll(up Upload) []incoming {
	ins := make([]incoming, len(up.Sent)+len(up.Received))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(ins)) {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < len(ins); i = int(next.Add(1)) - 1 {
				if i < len(up.Sent) {
					ins[i] = s.examine(up.Device, up.Sent[i], true)
				} else {
					ins[i] = s.examine(up.Device, up.Received[i-len(up.Sent)], false)
				}
			}
		})
	}
	wg.Wait()
	return ins
}

// examine decodes a voucher the device uploader handed in and checks its
// signatures.
func (s *Settler) examine(uploader offline.Serial, raw []byte, sent bool) incoming {
	in := incoming{raw: raw, sent: sent}
	v, err := offline.ParseVoucher(raw)
	if err != nil {
		in.hash, in.reason, in.detail = rejectedDigest(uploader, raw), offline.ReasonMalformed, err.Error()
		return in
	}
	if err := s.verifyEvidence(raw, &v); err != nil {
		in.hash, in.reason, in.detail = rejectedDigest(uploader, raw), offline.ReasonForged, err.Error()
		return in
	}
	if !ed25519.Verify(v.Chain.Device.Key, v.SignedBytes(), v.Signature[:]) {
		in.hash, in.reason, in.detail = rejectedDigest(uploader, raw), offline.ReasonForged, "payer signature does not verify"
		return in
	}
	in.v, in.hash = v, v.Hash()
	return in
}

// verifyEvidence checks a voucher's certificates up to the root and its
// sync receipt, remembering those that verified: a device's certificates
// and receipt travel with every voucher it makes, and checking them each
// time would triple the work.
func (s *Settler) verifyEvidence(raw []byte, v *offline.Voucher) error {
	// The certificates and the receipt are the three length-prefixed
	// blobs after the version and type bytes.
	lb := int(binary.BigEndian.Uint16(raw[2:]))
	ld := int(binary.BigEndian.Uint16(raw[4+lb:]))
	chain := sha256.Sum256(raw[:6+lb+ld])
	if _, ok := s.chains.Load(chain); !ok {
		if err := v.Chain.VerifySignatures(s.RootKey()); err != nil {
			return err
		}
		s.chains.Store(chain, struct{}{})
	}
	if v.Synced == 0 {
		return nil
	}
	lr := int(binary.BigEndian.Uint16(raw[6+lb+ld:]))
	receipt := sha256.Sum256(raw[8+lb+ld : 8+lb+ld+lr])
	if _, ok := s.receipts.Load(receipt); !ok {
		if err := v.Receipt.Verify(s.RootKey()); err != nil {
			return err
		}
		s.receipts.Store(receipt, struct{}{})
	}
	return nil
}

// rejectedDigest names bytes that are not a genuine voucher, as handed in
// by the device uploader: the SHA-256 of the text
// "cbdc-sandbox/settlement/rejected", a zero byte, the uploader's serial
// and the bytes. Its domain keeps it apart from voucher hashes, so no
// upload of bytes can take the place of a genuine voucher. It names the
// uploader because handing in bytes that are not a voucher is that
// device's own fault: each device that hands them in is charged with a
// forgery, and only the same device handing them in again is a duplicate.
func rejectedDigest(uploader offline.Serial, raw []byte) offline.Hash {
	h := sha256.New()
	h.Write([]byte("cbdc-sandbox/settlement/rejected\x00"))
	h.Write(uploader[:])
	h.Write(raw)
	return offline.Hash(h.Sum(nil))
}
