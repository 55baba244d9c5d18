package settlement

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/digital-yen/cbdc-sandbox/internal/edbatch"
	"github.com/digital-yen/cbdc-sandbox/offline"
)

// sigBatch is how many payer signatures are checked together.
const sigBatch = 64

// examineAll checks an upload's vouchers on the cores the owner does not
// need (onSpareCores): each voucher's encoding and certificates first (a
// chain or receipt once for all the vouchers that carry it), then the
// payers' signatures in batches (package edbatch), which are most of the
// work. A batch and the one-by-one check that finds a bad signature when
// it fails both use the cofactored equation, so a voucher's verdict does
// not depend on what it was handed in with.
func (s *Settler) examineAll(up Upload) []incoming {
	n := len(up.Sent) + len(up.Received)
	ins := make([]incoming, n)
	sigs := make([]edbatch.Item, n) // each voucher's payer signature; no key for one refused already
	s.onSpareCores(n, func(i int) {
		if i < len(up.Sent) {
			ins[i], sigs[i] = s.examine(up.Device, up.Sent[i], true)
		} else {
			ins[i], sigs[i] = s.examine(up.Device, up.Received[i-len(up.Sent)], false)
		}
	})
	s.onSpareCores((n+sigBatch-1)/sigBatch, func(b int) {
		var batch []*edbatch.Item
		var at []int
		for i := b * sigBatch; i < min(n, (b+1)*sigBatch); i++ {
			if sigs[i].Key != nil {
				batch, at = append(batch, &sigs[i]), append(at, i)
			}
		}
		for j, ok := range edbatch.Verify(batch, sigBatch) {
			in := &ins[at[j]]
			if !ok {
				in.v, in.hash, in.reason, in.detail = offline.Voucher{}, rejectedDigest(up.Device, in.raw), offline.ReasonForged, "payer signature does not verify"
				continue
			}
			in.hash = in.v.Hash()
		}
	})
	return ins
}

// onSpareCores runs f(0) … f(n-1) on as many goroutines as there are cores
// to spare, shared by every upload under examination: the owner, whose
// rounds every upload waits for, keeps a core of its own.
func (s *Settler) onSpareCores(n int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(max(1, cap(s.examiners)), n) {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				s.examiners <- struct{}{}
				f(i)
				<-s.examiners
			}
		})
	}
	wg.Wait()
}

// examine decodes a voucher the device uploader handed in and checks its
// certificates, and returns its payer's signature to check; a voucher
// refused already has its reason, and no key in the signature.
func (s *Settler) examine(uploader offline.Serial, raw []byte, sent bool) (incoming, edbatch.Item) {
	in := incoming{raw: raw, sent: sent}
	v, err := offline.ParseVoucher(raw)
	if err != nil {
		in.hash, in.reason, in.detail = rejectedDigest(uploader, raw), offline.ReasonMalformed, err.Error()
		return in, edbatch.Item{}
	}
	if err := s.verifyEvidence(raw, &v); err != nil {
		in.hash, in.reason, in.detail = rejectedDigest(uploader, raw), offline.ReasonForged, err.Error()
		return in, edbatch.Item{}
	}
	key, err := s.payerKey(v.Chain.Device.Key)
	if err != nil {
		in.hash, in.reason, in.detail = rejectedDigest(uploader, raw), offline.ReasonForged, "payer signature does not verify: the payer's key: "+err.Error()
		return in, edbatch.Item{}
	}
	in.v = v
	return in, edbatch.Item{Key: key, Msg: in.v.SignedBytes(), Sig: in.v.Signature[:]}
}

// payerKey is a purse's key decompressed, once for all its vouchers.
func (s *Settler) payerKey(pub ed25519.PublicKey) (*edbatch.Key, error) {
	var id [ed25519.PublicKeySize]byte
	if len(pub) != len(id) {
		return nil, fmt.Errorf("not %d bytes", len(id))
	}
	copy(id[:], pub)
	if k, ok := s.payerKeys.Load(id); ok {
		return k.(*edbatch.Key), nil
	}
	k, err := edbatch.NewKey(pub)
	if err != nil {
		return nil, err
	}
	s.payerKeys.Store(id, k)
	return k, nil
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
