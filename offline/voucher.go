package offline

import (
	"crypto/ed25519"
	"crypto/sha256"
	"time"
)

// PaymentRequest is what a payee's purse shows a payer: who to pay, how
// much, and a one-use nonce the voucher must carry.
type PaymentRequest struct {
	Payee  Serial
	Amount int64
	Nonce  Nonce
	Time   time.Time // the payee device's clock
}

// Text prefixes name the object a text form carries.
const (
	requestTextPrefix = "cbdc-req1:"
	voucherTextPrefix = "cbdc-vch1:"
)

// Marshal returns the canonical encoding.
func (q PaymentRequest) Marshal() []byte {
	var w writer
	w.header(typeRequest)
	w.fixed(q.Payee[:])
	w.amount(q.Amount)
	w.fixed(q.Nonce[:])
	w.time(q.Time)
	return w.bytes()
}

// Text returns the request as text for a QR code.
func (q PaymentRequest) Text() string { return toText(requestTextPrefix, q.Marshal()) }

// ParsePaymentRequest decodes a payment request.
func ParsePaymentRequest(b []byte) (PaymentRequest, error) {
	r := reader{b: b, what: "payment request"}
	var q PaymentRequest
	r.header(typeRequest)
	r.fixed(q.Payee[:])
	q.Amount = r.amount("amount")
	r.fixed(q.Nonce[:])
	q.Time = r.time()
	if err := r.end(); err != nil {
		return PaymentRequest{}, err
	}
	if q.Payee.IsZero() {
		return PaymentRequest{}, broken(ErrMalformed, "payment request names the zero serial as payee")
	}
	return q, nil
}

// ParsePaymentRequestText decodes a request's text form.
func ParsePaymentRequestText(text string) (PaymentRequest, error) {
	b, err := fromText(requestTextPrefix, text)
	if err != nil {
		return PaymentRequest{}, err
	}
	return ParsePaymentRequest(b)
}

// Voucher is an offline payment: the payer purse's signed promise that
// Amount yen of its escrow belong to the payee. Counter and Prev chain a
// purse's vouchers, so a cloned or rolled-back purse shows as two vouchers
// with one counter or a fork in the chain.
type Voucher struct {
	Chain     Chain       // the payer's certificates
	Payer     Serial      // must equal Chain.Device.Serial
	Counter   uint64      // 1 for a purse's first voucher, then one more each time
	Prev      Hash        // hash of the payer's previous voucher; zero before the first
	Synced    uint64      // the payer's counter when it last synced with the ledger
	Receipt   SyncReceipt // the ledger's sync receipt for Synced, which proves it; zero when Synced is 0
	Payee     Serial      // zero for a defund to the payer's own online wallet
	Amount    int64       // yen
	Nonce     Nonce       // from the payee's payment request
	Time      time.Time   // the payer device's clock
	Signature [ed25519.SignatureSize]byte
}

// body writes the signed fields after the header.
func (v *Voucher) body(w *writer) {
	w.header(typeVoucher)
	v.fields(w)
}

func (v *Voucher) fields(w *writer) {
	w.fixed(v.Payer[:])
	w.u64(v.Counter)
	w.fixed(v.Prev[:])
	w.u64(v.Synced)
	w.fixed(v.Payee[:])
	w.amount(v.Amount)
	w.fixed(v.Nonce[:])
	w.time(v.Time)
}

// SignedBytes is what the payer purse signs: a domain string, then the
// voucher's fields without its certificates or signature.
func (v *Voucher) SignedBytes() []byte {
	w := writer{b: []byte(domainVoucher)}
	v.body(&w)
	return w.bytes()
}

// Hash names the voucher: SHA-256 of its fields without the domain string,
// certificates or signature. The payer's next voucher carries it as Prev.
func (v *Voucher) Hash() Hash {
	var w writer
	v.body(&w)
	return sha256.Sum256(w.bytes())
}

// Key is what settles exactly once: the payer and the counter.
func (v *Voucher) Key() VoucherKey { return VoucherKey{v.Payer, v.Counter} }

// VoucherKey names a voucher slot: a payer device and one of its counters.
type VoucherKey struct {
	Payer   Serial
	Counter uint64
}

// Marshal returns the canonical encoding: version and type bytes, the two
// certificates and the sync receipt (each with a 2-byte length; the receipt
// empty when Synced is 0), the fields, the signature.
func (v Voucher) Marshal() []byte {
	var w writer
	w.header(typeVoucher)
	w.blob(v.Chain.Bank.Marshal())
	w.blob(v.Chain.Device.Marshal())
	if v.Synced > 0 {
		w.blob(v.Receipt.Marshal())
	} else {
		w.blob(nil)
	}
	v.fields(&w)
	w.fixed(v.Signature[:])
	return w.bytes()
}

// Text returns the voucher as text for a QR code or a paste.
func (v Voucher) Text() string { return toText(voucherTextPrefix, v.Marshal()) }

// ParseVoucher decodes a voucher; it does not verify it.
func ParseVoucher(b []byte) (Voucher, error) {
	r := reader{b: b, what: "voucher"}
	var v Voucher
	r.header(typeVoucher)
	bank, dev, sync := r.blob(), r.blob(), r.blob()
	r.fixed(v.Payer[:])
	v.Counter = r.u64()
	r.fixed(v.Prev[:])
	v.Synced = r.u64()
	r.fixed(v.Payee[:])
	v.Amount = r.amount("amount")
	r.fixed(v.Nonce[:])
	v.Time = r.time()
	r.fixed(v.Signature[:])
	if err := r.end(); err != nil {
		return Voucher{}, err
	}
	var err error
	if v.Chain.Bank, err = ParseBankCert(bank); err != nil {
		return Voucher{}, err
	}
	if v.Chain.Device, err = ParseDeviceCert(dev); err != nil {
		return Voucher{}, err
	}
	if len(sync) > 0 {
		if v.Receipt, err = ParseSyncReceipt(sync); err != nil {
			return Voucher{}, err
		}
	} else if v.Synced > 0 {
		return Voucher{}, broken(ErrMalformed, "voucher synced at %d carries no sync receipt", v.Synced)
	}
	if err := v.wellFormed(); err != nil {
		return Voucher{}, err
	}
	return v, nil
}

// ParseVoucherText decodes a voucher's text form.
func ParseVoucherText(text string) (Voucher, error) {
	b, err := fromText(voucherTextPrefix, text)
	if err != nil {
		return Voucher{}, err
	}
	return ParseVoucher(b)
}

// wellFormed checks what holds for every voucher a genuine purse makes,
// whatever anyone knows about its payer.
func (v *Voucher) wellFormed() error {
	switch {
	case v.Payer != v.Chain.Device.Serial:
		return broken(ErrMalformed, "voucher payer %s differs from its certificate's serial %s", v.Payer, v.Chain.Device.Serial)
	case v.Counter == 0:
		return broken(ErrMalformed, "voucher counter is 0; counters start at 1")
	case v.Counter == 1 && v.Prev != Hash{}:
		return broken(ErrMalformed, "first voucher of a purse carries a previous-voucher hash")
	case v.Synced >= v.Counter:
		return broken(ErrMalformed, "voucher counter %d is not after the last sync at %d", v.Counter, v.Synced)
	case v.Payee == v.Payer:
		return broken(ErrMalformed, "voucher pays its own payer")
	case v.Synced == 0 && v.Receipt != SyncReceipt{}:
		return broken(ErrMalformed, "voucher never synced carries a sync receipt")
	case v.Synced > 0 && (v.Receipt.Serial != v.Payer || v.Receipt.Counter != v.Synced):
		return broken(ErrMalformed, "voucher synced at %d of %s carries the sync receipt of %d of %s",
			v.Synced, v.Payer, v.Receipt.Counter, v.Receipt.Serial)
	}
	return nil
}

// VerifySignature checks the voucher is well formed, the chain's signatures
// up to the root (whatever the time; ValidAtItsTime checks the times), the
// sync receipt's signature and the payer's signature. It is the check that
// attributes a voucher to its payer device: a voucher that passes was made
// by that device's key, and its Synced is one the ledger vouched for.
func (v *Voucher) VerifySignature(root ed25519.PublicKey) error {
	if err := v.wellFormed(); err != nil {
		return err
	}
	if err := v.Chain.VerifySignatures(root); err != nil {
		return err
	}
	if v.Synced > 0 {
		if err := v.Receipt.Verify(root); err != nil {
			return err
		}
	}
	if !ed25519.Verify(v.Chain.Device.Key, v.SignedBytes(), v.Signature[:]) {
		return broken(ErrBadSignature, "voucher %s#%d is not signed by its payer's key", v.Payer, v.Counter)
	}
	return nil
}

// ValidAtItsTime checks the certificates were valid at the voucher's own
// time; a genuine purse never pays outside its certificate's validity.
func (v *Voucher) ValidAtItsTime() error { return v.Chain.ValidAt(v.Time) }
