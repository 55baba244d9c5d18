package offline

import (
	"errors"
	"fmt"
)

// Error is a rule an offline payment broke. Code is stable and meant for
// machines (wire protocols, reports, tests); Message is a sentence for people.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return "offline: " + e.Message }

// detailError adds what exactly was wrong to a sentinel error, which
// errors.Is still finds.
type detailError struct {
	err    *Error
	detail string
}

func (e *detailError) Error() string { return e.err.Error() + ": " + e.detail }
func (e *detailError) Unwrap() error { return e.err }

func broken(err *Error, format string, args ...any) error {
	return &detailError{err: err, detail: fmt.Sprintf(format, args...)}
}

// CodeOf returns the stable code of an offline error, or "" for others.
// It looks through wrapping, as errors.Is does.
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

var (
	// ErrMalformed means bytes do not decode as the format they claim to be.
	ErrMalformed = &Error{"malformed", "malformed encoding"}

	// ErrBadSignature means a signature does not verify under the key
	// that should have made it.
	ErrBadSignature = &Error{"bad_signature", "signature does not verify"}

	// ErrUnknownBank means a certificate names a bank whose key the root has
	// not certified, or the bank certificate is not signed by the root.
	ErrUnknownBank = &Error{"unknown_bank", "bank key is not certified by the central bank"}

	// ErrCertificateExpired means a certificate was used outside its
	// validity period.
	ErrCertificateExpired = &Error{"certificate_expired", "certificate is not valid at this time"}

	// ErrRevoked means the device is on the revocation list.
	ErrRevoked = &Error{"revoked", "device is revoked"}

	// ErrWrongPayee means a voucher names another payee or nonce than the
	// payment request it answers.
	ErrWrongPayee = &Error{"wrong_payee", "voucher does not answer this payment request"}

	// ErrAmountMismatch means a voucher's amount differs from the request's.
	ErrAmountMismatch = &Error{"amount_mismatch", "voucher amount differs from the requested amount"}

	// ErrInvalidAmount means an amount is zero, negative or too large.
	ErrInvalidAmount = &Error{"invalid_amount", "amount must be a positive whole number of yen"}

	// ErrPaymentCap means one payment exceeds the per-payment cap.
	ErrPaymentCap = &Error{"payment_cap", "amount exceeds the offline per-payment cap"}

	// ErrPurseCap means a purse would hold more than its cap.
	ErrPurseCap = &Error{"purse_cap", "purse would exceed its cap"}

	// ErrSyncRequired means a purse made as many offline payments as its
	// policy allows since it last synced.
	ErrSyncRequired = &Error{"sync_required", "too many offline payments since the last sync"}

	// ErrCounterOrder means a voucher's counter or previous-voucher hash does
	// not follow what the payee has already seen from that payer.
	ErrCounterOrder = &Error{"counter_order", "voucher counter or chain does not follow the payer's earlier vouchers"}

	// ErrInsufficientFunds means a purse holds less than a payment needs.
	ErrInsufficientFunds = &Error{"insufficient_funds", "purse balance is too low"}

	// ErrUnknownRequest means a voucher answers no open payment request of
	// this purse (it was never made, or was already paid).
	ErrUnknownRequest = &Error{"unknown_request", "no open payment request with this nonce"}

	// ErrNotProvisioned means a purse has no certificate yet.
	ErrNotProvisioned = &Error{"not_provisioned", "purse has no device certificate"}

	// ErrWrongDevice means a certificate, receipt or voucher is for another
	// purse than the one it was given to.
	ErrWrongDevice = &Error{"wrong_device", "made for another device"}

	// ErrStaleReceipt means a funding or sync receipt was already applied or
	// is older than one applied.
	ErrStaleReceipt = &Error{"stale_receipt", "receipt was already applied"}

	// ErrLimitsMismatch means a payer's certificate carries other limits, or
	// a longer life, than the payee's policy: no bank may register such a
	// device, so the ledger would not honour what it pays.
	ErrLimitsMismatch = &Error{"limits_mismatch", "payer is certified with other limits than this policy"}

	// ErrInvalidPolicy means a policy's values contradict each other or are
	// out of range.
	ErrInvalidPolicy = &Error{"invalid_policy", "invalid offline policy"}
)
