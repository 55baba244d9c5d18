package offline

import (
	"crypto/ed25519"
	"time"
)

// FundingReceipt is a bank's statement that Amount yen moved from the
// device owner's online wallet into the device's escrow; the purse raises
// its balance by Amount when it applies it. Seq numbers a device's fundings
// 1, 2, 3, … without gaps, so each applies exactly once, in any order: a
// receipt whose answer was lost and fetched again after a later funding
// still counts.
type FundingReceipt struct {
	Serial    Serial
	Seq       uint64
	Amount    int64
	Time      time.Time
	Signature [ed25519.SignatureSize]byte
}

func (f *FundingReceipt) signed(w *writer) {
	w.header(typeReceipt)
	w.fixed(f.Serial[:])
	w.u64(f.Seq)
	w.amount(f.Amount)
	w.time(f.Time)
}

// Sign signs the receipt with the bank's key.
func (f *FundingReceipt) Sign(bank ed25519.PrivateKey) {
	f.Time = f.Time.Truncate(time.Millisecond)
	copy(f.Signature[:], ed25519.Sign(bank, signedMessage(domainReceipt, f.signed)))
}

// Verify checks the bank's signature.
func (f FundingReceipt) Verify(bank ed25519.PublicKey) error {
	if !ed25519.Verify(bank, signedMessage(domainReceipt, f.signed), f.Signature[:]) {
		return broken(ErrBadSignature, "funding receipt %d of %s is not signed by its bank", f.Seq, f.Serial)
	}
	return nil
}

// Marshal returns the canonical encoding.
func (f FundingReceipt) Marshal() []byte {
	var w writer
	f.signed(&w)
	w.fixed(f.Signature[:])
	return w.bytes()
}

// ParseFundingReceipt decodes a receipt; it does not verify it.
func ParseFundingReceipt(b []byte) (FundingReceipt, error) {
	r := reader{b: b, what: "funding receipt"}
	var f FundingReceipt
	r.header(typeReceipt)
	r.fixed(f.Serial[:])
	f.Seq = r.u64()
	if r.err == nil && f.Seq == 0 {
		r.fail("funding sequence 0; fundings are numbered from 1")
	}
	f.Amount = r.amount("amount")
	f.Time = r.time()
	r.fixed(f.Signature[:])
	return f, r.end()
}

// SyncReceipt is the central ledger's statement that it holds every voucher
// of a purse up to Counter, the last of them with hash Head, and the first
// Received vouchers the purse received. Applying it resets the purse's count
// of payments since its last sync, and the purse's later vouchers carry it,
// so a payee can check offline that the payer's Synced is true. The root
// key signs it: only the ledger knows what it holds.
type SyncReceipt struct {
	Serial    Serial
	Counter   uint64
	Head      Hash // hash of the purse's voucher with Counter; zero when Counter is 0
	Received  uint64
	Time      time.Time
	Signature [ed25519.SignatureSize]byte
}

func (s *SyncReceipt) signed(w *writer) {
	w.header(typeSync)
	w.fixed(s.Serial[:])
	w.u64(s.Counter)
	w.fixed(s.Head[:])
	w.u64(s.Received)
	w.time(s.Time)
}

// Sign signs the receipt with the root key.
func (s *SyncReceipt) Sign(root ed25519.PrivateKey) {
	s.Time = s.Time.Truncate(time.Millisecond)
	copy(s.Signature[:], ed25519.Sign(root, signedMessage(domainSync, s.signed)))
}

// Verify checks the root's signature.
func (s SyncReceipt) Verify(root ed25519.PublicKey) error {
	if !ed25519.Verify(root, signedMessage(domainSync, s.signed), s.Signature[:]) {
		return broken(ErrBadSignature, "sync receipt %d of %s is not signed by the central bank's root key", s.Counter, s.Serial)
	}
	return nil
}

// Marshal returns the canonical encoding.
func (s SyncReceipt) Marshal() []byte {
	var w writer
	s.signed(&w)
	w.fixed(s.Signature[:])
	return w.bytes()
}

// ParseSyncReceipt decodes a receipt; it does not verify it.
func ParseSyncReceipt(b []byte) (SyncReceipt, error) {
	r := reader{b: b, what: "sync receipt"}
	s := readSyncReceipt(&r)
	return s, r.end()
}

func readSyncReceipt(r *reader) SyncReceipt {
	var s SyncReceipt
	r.header(typeSync)
	r.fixed(s.Serial[:])
	s.Counter = r.u64()
	r.fixed(s.Head[:])
	s.Received = r.u64()
	s.Time = r.time()
	r.fixed(s.Signature[:])
	if r.err == nil && (s.Counter == 0) != (s.Head == Hash{}) {
		r.fail("head must be zero exactly when the counter is 0")
	}
	return s
}
