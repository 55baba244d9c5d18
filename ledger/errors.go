package ledger

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
)

// Error is a rule the ledger refused to break. Code is stable and meant for
// machines (wire protocols, tests); Message is a sentence for people.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return "ledger: " + e.Message }

var (
	// ErrInvalidOpID means an operation id is empty, too long or holds
	// characters other than letters, digits and ._:@-
	ErrInvalidOpID = &Error{"invalid_op_id", "operation id must be 1 to 64 letters, digits or ._:@-"}

	// ErrInvalidAccountID means an account id is empty, too long or holds
	// characters other than letters, digits and ._:@-
	ErrInvalidAccountID = &Error{"invalid_account_id", "account id must be 1 to 64 letters, digits or ._:@-"}

	// ErrInvalidAmount means an amount is zero or negative.
	ErrInvalidAmount = &Error{"invalid_amount", "amount must be a positive whole number of yen"}

	// ErrAmountOverflow means applying the amount would overflow a balance
	// or the CBDC in circulation.
	ErrAmountOverflow = &Error{"amount_overflow", "amount would overflow a balance"}

	// ErrUnknownAccount means no account has the given id.
	ErrUnknownAccount = &Error{"unknown_account", "no such account"}

	// ErrAccountExists means an account with the id is already open or was
	// closed; ids are never reused.
	ErrAccountExists = &Error{"account_exists", "an account with this id already exists"}

	// ErrAccountClosed means the account was closed and takes no more money.
	ErrAccountClosed = &Error{"account_closed", "account is closed"}

	// ErrWrongKind means the account's kind does not allow the operation,
	// such as issuing to a wallet.
	ErrWrongKind = &Error{"wrong_account_kind", "account kind does not allow this operation"}

	// ErrSameAccount means a transfer names one account as payer and payee.
	ErrSameAccount = &Error{"same_account", "payer and payee are the same account"}

	// ErrIssuanceAccount means a transfer touches the issuance account, which
	// only Issue and Redeem may move money to or from.
	ErrIssuanceAccount = &Error{"issuance_account", "only issue and redeem move money to or from the issuance account"}

	// ErrInsufficientFunds means the payer's balance is below the amount.
	ErrInsufficientFunds = &Error{"insufficient_funds", "insufficient funds"}

	// ErrOpIDReused means an operation id was already used for an operation
	// with other contents.
	ErrOpIDReused = &Error{"op_id_reused", "operation id was already used for a different operation"}

	// ErrAccountNotEmpty means an account with a balance cannot be closed.
	ErrAccountNotEmpty = &Error{"account_not_empty", "account still holds money"}

	// ErrAccountInUse means an intermediary still serves open accounts and
	// cannot be closed.
	ErrAccountInUse = &Error{"account_in_use", "intermediary still serves open accounts"}

	// ErrNotYours means an intermediary asked for something on an account
	// it does not serve, such as paying out of another bank's wallet.
	ErrNotYours = &Error{"not_your_account", "the account is not served by the intermediary that asked"}

	// ErrBatchSize means a batch holds no transfers or more than MaxBatchTransfers.
	ErrBatchSize = &Error{"batch_size", "a batch holds 1 to " + strconv.Itoa(MaxBatchTransfers) + " transfers"}

	// ErrInvalidHolder means a holder token is too long or holds characters
	// other than letters, digits and ._:@-
	ErrInvalidHolder = &Error{"invalid_holder", "holder token must be 1 to 64 letters, digits or ._:@-"}

	// ErrHoldingLimit means a credit would take a wallet's holder over its
	// holding limit and the wallet does not sweep the excess.
	ErrHoldingLimit = &Error{"holding_limit", "the credit would take the holder over its holding limit"}

	// ErrUnknownHolder means no open wallet carries the holder token.
	ErrUnknownHolder = &Error{"unknown_holder", "no open wallet has this holder token"}

	// ErrBadCursor means a history cursor is not one of the account's
	// operations; cursors come from the previous page's next.
	ErrBadCursor = &Error{"bad_cursor", "history cursor is not an operation of this account"}

	// ErrSlowSubscriber means a subscription fell behind its buffer and was
	// dropped; the subscriber resumes from its last sequence with Events.
	ErrSlowSubscriber = &Error{"subscriber_too_slow", "subscriber fell behind and was dropped"}

	// ErrMailboxFull means an intermediary's mailbox holds as many messages,
	// or as many bytes, as it may; the sender tries again later.
	ErrMailboxFull = &Error{"mailbox_full", "the recipient's mailbox is full"}

	// ErrMessageTooLarge means a message body is over MaxMessageBytes.
	ErrMessageTooLarge = &Error{"message_too_large", "message body is over " + strconv.Itoa(MaxMessageBytes) + " bytes"}

	// ErrClosed means the ledger was closed.
	ErrClosed = &Error{"ledger_closed", "ledger is closed"}

	// ErrStorage means the ledger could not make an operation durable. The
	// ledger stops taking operations; reopening it recovers every
	// acknowledged operation.
	ErrStorage = &Error{"storage_failed", "ledger storage failed; operation not acknowledged"}

	// ErrCorrupt means stored bytes do not decode or break a ledger rule.
	ErrCorrupt = &Error{"corrupt", "stored data is corrupt"}
)

// allErrors is every Error the ledger answers with.
var allErrors = []*Error{ErrInvalidOpID, ErrInvalidAccountID, ErrInvalidAmount, ErrAmountOverflow,
	ErrUnknownAccount, ErrAccountExists, ErrAccountClosed, ErrWrongKind, ErrSameAccount,
	ErrIssuanceAccount, ErrInsufficientFunds, ErrOpIDReused, ErrAccountNotEmpty, ErrAccountInUse,
	ErrNotYours, ErrBatchSize, ErrInvalidHolder, ErrHoldingLimit, ErrUnknownHolder, ErrBadCursor, ErrSlowSubscriber,
	ErrClosed, ErrStorage, ErrCorrupt, ErrMailboxFull, ErrMessageTooLarge, ErrNotLeader}

// Errors returns every Error the ledger answers with, so the tables that
// carry them across a wire can be built from, and checked against, one
// list.
func Errors() []*Error { return slices.Clone(allErrors) }

// errorsByCode finds an Error by its code, so a code that crossed the
// network can be turned back into the value errors.Is compares with.
var errorsByCode = func() map[string]*Error {
	m := map[string]*Error{}
	for _, e := range allErrors {
		m[e.Code] = e
	}
	return m
}()

// Outcome is what the answer to an operation says about whether the
// ledger applied it. It is the heart of exactly-once: a caller that
// retries an operation in doubt under the same id, and only that one,
// never applies it twice and never gives up on one that went through.
type Outcome uint8

const (
	// Applied: the operation was applied (no error).
	Applied Outcome = iota
	// Refused: a rule refused it. It was not applied, and it did not use
	// up its id: asking again with the same contents gets the same
	// refusal while the rule holds, and the id may carry other contents.
	Refused
	// IDTaken: it was not applied, but another operation with other
	// contents was, under its id (ErrOpIDReused). Asking again cannot
	// change that. A caller that derives each id from what it asks has
	// lost track of that other operation, and must not treat the id as
	// free: what was done under it is for an operator to find.
	IDTaken
	// InDoubt: no rule answered: the ledger stopped, its storage failed,
	// its data is damaged, the replica asked was not (or stopped being) the
	// leader, or the answer was lost on the way (a network error, a
	// context that ended). It may or may not have been applied;
	// asking again under the same id finds out.
	InDoubt
)

func (o Outcome) String() string {
	switch o {
	case Applied:
		return "applied"
	case Refused:
		return "refused"
	case IDTaken:
		return "id_taken"
	}
	return "in_doubt"
}

// OutcomeOf classifies the error an operation returned.
func OutcomeOf(err error) Outcome {
	if err == nil {
		return Applied
	}
	switch ErrorCode(err) {
	case "", ErrClosed.Code, ErrStorage.Code, ErrCorrupt.Code, ErrNotLeader.Code:
		return InDoubt
	case ErrOpIDReused.Code:
		return IDTaken
	}
	return Refused
}

// ErrorForCode returns the Error with the given code, or nil.
func ErrorForCode(code string) *Error { return errorsByCode[code] }

// ErrorCode returns the stable code of the ledger error inside err, or ""
// when err is nil or did not come from a ledger rule.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// ruleError is a broken rule with the particulars of one case.
type ruleError struct {
	err    *Error
	detail string
}

func (e *ruleError) Error() string {
	if e.detail == "" {
		return e.err.Error()
	}
	return e.err.Error() + ": " + e.detail
}

func (e *ruleError) Unwrap() error { return e.err }

func broken(err *Error, format string, args ...any) error {
	return &ruleError{err: err, detail: fmt.Sprintf(format, args...)}
}

// OpError reports a refused operation: which one and why.
type OpError struct {
	Op  string // "transfer", "issue", ...
	ID  string // the client's operation id
	Err error  // wraps one of the Err* values
}

func (e *OpError) Error() string {
	msg := e.Err.Error()
	var r *ruleError
	if errors.As(e.Err, &r) {
		msg = r.err.Message
		if r.detail != "" {
			msg += ": " + r.detail
		}
	} else if le, ok := e.Err.(*Error); ok {
		msg = le.Message
	}
	return fmt.Sprintf("ledger: %s %s: %s", e.Op, strconv.Quote(e.ID), msg)
}

func (e *OpError) Unwrap() error { return e.Err }
