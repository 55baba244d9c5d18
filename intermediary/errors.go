package intermediary

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// fail makes the error a wallet or operator sees: a stable code and a sentence.
func fail(code, format string, args ...any) *protocol.Error {
	return &protocol.Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// walletFacing are the ledger's refusals a wallet's instruction can meet
// that the wallet protocol names otherwise; the rest of the ledger's
// refusals a wallet can meet have a protocol code of the same name.
var walletFacing = map[*ledger.Error]string{
	ledger.ErrUnknownAccount: protocol.CodeUnknownPayee,
	ledger.ErrAccountClosed:  protocol.CodeUnknownPayee,
	ledger.ErrWrongKind:      protocol.CodeInvalidPayee,
	ledger.ErrOpIDReused:     protocol.CodeRequestIDReused,
	ledger.ErrSameAccount:    protocol.CodeSameWallet,
	ledger.ErrBadCursor:      protocol.CodeBadMessage,
}

// notForWallets are the ledger's refusals that no wallet's instruction
// can meet (the bank asks for those operations itself, or checks first),
// though the protocol has a code of the same name: a wallet that met one
// would see internal.
var notForWallets = []*ledger.Error{ledger.ErrMessageTooLarge}

// ledgerCodes turns the ledger's refusals into the wallet protocol's
// codes, built from the ledger's list of errors; what leaves an operation
// in doubt is unavailable (fromLedger), and a test holds every other
// ledger error to a deliberate choice.
var ledgerCodes = func() map[string]string {
	m := map[string]string{}
	for _, e := range ledger.Errors() {
		if c, ok := walletFacing[e]; ok {
			m[e.Code] = c
		} else if _, same := protocol.Codes[e.Code]; same && ledger.OutcomeOf(e) == ledger.Refused && !slices.Contains(notForWallets, e) {
			m[e.Code] = e.Code
		}
	}
	return m
}()

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
	if ledger.OutcomeOf(err) == ledger.InDoubt {
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
