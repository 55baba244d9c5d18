package settlement

import "errors"

// Error is a request the settlement service refused. Code is stable and
// meant for machines; Message is a sentence for people.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return "settlement: " + e.Message }

var (
	// ErrUnknownBank means the bank has no certificate from the root yet.
	ErrUnknownBank = &Error{"unknown_bank", "the bank's offline key is not certified"}

	// ErrBadCertificate means a device certificate does not verify under the
	// bank's certified key, or names another bank.
	ErrBadCertificate = &Error{"bad_certificate", "device certificate does not verify under the bank's certified key"}

	// ErrUnknownDevice means no registered device has the serial.
	ErrUnknownDevice = &Error{"unknown_device", "no registered offline device has this serial"}

	// ErrNotYourDevice means the device or wallet is served by another bank.
	ErrNotYourDevice = &Error{"not_your_device", "the device or wallet is served by another bank"}

	// ErrDeviceExists means the serial is registered with another key or wallet.
	ErrDeviceExists = &Error{"device_exists", "a device with this serial is already registered differently"}

	// ErrTooLarge means an upload holds more vouchers than MaxUpload.
	ErrTooLarge = &Error{"upload_too_large", "upload holds too many vouchers"}

	// ErrNoIndex means a ledger's directory holds no settlement index: it
	// has never settled offline vouchers.
	ErrNoIndex = &Error{"no_index", "no settlement index in this directory"}

	// ErrDeviceRevoked means a revoked device asked for what only a device
	// in good standing gets, such as a renewed certificate.
	ErrDeviceRevoked = &Error{"device_revoked", "the device is revoked"}

	// ErrBadNumber means a number in a report does not fit 128 bits.
	ErrBadNumber = &Error{"bad_number", "number does not fit 128 bits"}

	// ErrStopped means a write to the settlement index failed; the service
	// refuses work until it is reopened, so memory and disk cannot drift apart.
	ErrStopped = &Error{"stopped", "settlement index failed; reopen the ledger"}

	// ErrOfflineDisabled means the ledger settles no offline vouchers (a
	// replicated ledger, until its settlement is replicated too).
	ErrOfflineDisabled = &Error{"offline_disabled", "this ledger does not settle offline vouchers"}
)

// detailed wraps a sentinel with what exactly was wrong.
type detailed struct {
	err    *Error
	detail string
}

func (e *detailed) Error() string { return e.err.Error() + ": " + e.detail }
func (e *detailed) Unwrap() error { return e.err }

// ErrorCode returns the stable code of a settlement error, or "".
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

var allErrors = []*Error{ErrUnknownBank, ErrBadCertificate, ErrUnknownDevice, ErrNotYourDevice, ErrDeviceExists,
	ErrDeviceRevoked, ErrTooLarge, ErrNoIndex, ErrBadNumber, ErrStopped, ErrOfflineDisabled}

// ErrorForCode returns the error with the code, or nil; the network client
// uses it so errors.Is works across the network.
func ErrorForCode(code string) *Error {
	for _, e := range allErrors {
		if e.Code == code {
			return e
		}
	}
	return nil
}
