package intermediary

import (
	"errors"
	"fmt"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// fail makes the error a wallet or operator sees: a stable code and a sentence.
func fail(code, format string, args ...any) *protocol.Error {
	return &protocol.Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ledgerCodes turns the ledger's refusals into the wallet protocol's codes.
var ledgerCodes = map[string]string{
	ledger.ErrInsufficientFunds.Code: protocol.CodeInsufficientFunds,
	ledger.ErrHoldingLimit.Code:      protocol.CodeHoldingLimit,
	ledger.ErrUnknownAccount.Code:    protocol.CodeUnknownPayee,
	ledger.ErrAccountClosed.Code:     protocol.CodeUnknownPayee,
	ledger.ErrWrongKind.Code:         protocol.CodeInvalidPayee,
	ledger.ErrAmountOverflow.Code:    protocol.CodeAmountOverflow,
	ledger.ErrInvalidAmount.Code:     protocol.CodeInvalidAmount,
	ledger.ErrOpIDReused.Code:        protocol.CodeRequestIDReused,
	ledger.ErrSameAccount.Code:       protocol.CodeSameWallet,
	ledger.ErrBadCursor.Code:         protocol.CodeBadMessage,
}

// fromLedger explains a ledger error to a wallet. An outcome the bank does
// not know (the ledger unreachable or stopped) is "unavailable": retrying
// with the same request id finds out without applying twice. When the
// error says how long the ledger is expected to stay out of reach (the
// network client's circuit is open), the answer carries it as a hint.
func fromLedger(err error) *protocol.Error {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe
	}
	code := ledger.ErrorCode(err)
	if c, ok := ledgerCodes[code]; ok {
		return &protocol.Error{Code: c, Message: ledgerMessage(err)}
	}
	if !refused(err) {
		pe := fail(protocol.CodeUnavailable, "the central ledger did not answer (%v); retry with the same request id", err)
		var hint interface{ RetryAfter() time.Duration }
		if errors.As(err, &hint) {
			pe.RetryAfterMS = max(hint.RetryAfter().Milliseconds(), 0)
		}
		return pe
	}
	return fail(protocol.CodeInternal, "the central ledger refused the operation: %v", err)
}

// ledgerMessage drops the package prefix and operation id from a ledger
// error, which mean nothing to a wallet.
func ledgerMessage(err error) string {
	var oe *ledger.OpError
	if errors.As(err, &oe) {
		err = oe.Err
	}
	msg := err.Error()
	if len(msg) > 8 && msg[:8] == "ledger: " {
		msg = msg[8:]
	}
	return msg
}
