package intermediary

import (
	"fmt"
	"testing"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// Every ledger error reaches a wallet as a deliberate code: a refusal as
// the protocol names it, an operation in doubt as unavailable (retry with
// the same request id), and only what no wallet's instruction can meet as
// internal. A new ledger error fails this test until it is placed.
func TestFromLedger_EveryLedgerError(t *testing.T) {
	want := map[string]string{
		"invalid_op_id": protocol.CodeInternal, "invalid_account_id": protocol.CodeInternal,
		"invalid_amount": protocol.CodeInvalidAmount, "amount_overflow": protocol.CodeAmountOverflow,
		"unknown_account": protocol.CodeUnknownPayee, "account_exists": protocol.CodeInternal,
		"account_closed": protocol.CodeUnknownPayee, "wrong_account_kind": protocol.CodeInvalidPayee,
		"same_account": protocol.CodeSameWallet, "issuance_account": protocol.CodeInternal,
		"insufficient_funds": protocol.CodeInsufficientFunds, "op_id_reused": protocol.CodeRequestIDReused,
		"account_not_empty": protocol.CodeInternal, "account_in_use": protocol.CodeInternal,
		"not_your_account": protocol.CodeInternal, "batch_size": protocol.CodeInternal,
		"invalid_holder": protocol.CodeInternal, "holding_limit": protocol.CodeHoldingLimit,
		"unknown_holder": protocol.CodeInternal, "bad_cursor": protocol.CodeBadMessage,
		"subscriber_too_slow": protocol.CodeInternal, "mailbox_full": protocol.CodeInternal,
		"message_too_large": protocol.CodeInternal,
		"ledger_closed":     protocol.CodeUnavailable, "storage_failed": protocol.CodeUnavailable, "corrupt": protocol.CodeUnavailable,
		"not_leader": protocol.CodeUnavailable,
	}
	for _, e := range ledger.Errors() {
		w, ok := want[e.Code]
		if !ok {
			t.Errorf("ledger error %s reaches wallets as %s: place it in this test", e.Code, fromLedger(e).Code)
			continue
		}
		delete(want, e.Code)
		err := &ledger.OpError{Op: "transfer", ID: "w-1:r-1", Err: fmt.Errorf("%w: a detail", e)}
		if got := fromLedger(err); got.Code != w {
			t.Errorf("%s reaches wallets as %s, want %s", e.Code, got.Code, w)
		} else if _, known := protocol.Codes[got.Code]; !known {
			t.Errorf("%s reaches wallets as %s, which the protocol does not define", e.Code, got.Code)
		}
		if got := fromLedger(err); got.Code == protocol.CodeUnavailable && ledger.OutcomeOf(e) != ledger.InDoubt {
			t.Errorf("%s is answered unavailable (retry) though the ledger refused it for good", e.Code)
		}
	}
	for code := range want {
		t.Errorf("%s is no ledger error any more: drop it from this test", code)
	}
}
