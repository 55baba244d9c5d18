package protocol

// Error codes. Each is stable; the sentence that travels with it may change.
const (
	CodeBadMessage          = "bad_message"
	CodeUnknownType         = "unknown_type"
	CodeUnsupportedVersion  = "unsupported_version"
	CodeMessageTooLarge     = "message_too_large"
	CodeNotAuthenticated    = "not_authenticated"
	CodeAlreadyAuthed       = "already_authenticated"
	CodeWrongChallenge      = "wrong_challenge"
	CodeBadSignature        = "bad_signature"
	CodeBadPublicKey        = "bad_public_key"
	CodeUnknownWallet       = "unknown_wallet"
	CodeWalletExists        = "wallet_exists"
	CodeBadCustomer         = "bad_customer"
	CodeBadRequestID        = "bad_request_id"
	CodeRequestIDReused     = "request_id_reused"
	CodeInvalidAmount       = "invalid_amount"
	CodeAmountOverflow      = "amount_overflow"
	CodeBadMemo             = "bad_memo"
	CodeInvalidPayee        = "invalid_payee"
	CodeUnknownPayee        = "unknown_payee"
	CodeSameWallet          = "same_wallet"
	CodePaymentLimit        = "payment_limit"
	CodeHoldingLimit        = "holding_limit"
	CodeInsufficientFunds   = "insufficient_funds"
	CodeInsufficientDeposit = "insufficient_deposit"
	CodeRateLimited         = "rate_limited"
	CodeUnknownRequest      = "unknown_request"
	CodeRequestClosed       = "request_closed"
	CodeRequestMismatch     = "request_mismatch"
	CodeBadSchedule         = "bad_schedule"
	CodeUnknownSchedule     = "unknown_schedule"
	CodeUnknownPurse        = "unknown_purse"
	CodePurseExists         = "purse_exists"
	CodePurseCap            = "purse_cap"
	CodePurseRevoked        = "purse_revoked"
	CodeTooManyVouchers     = "too_many_vouchers"
	CodeOfflineDisabled     = "offline_disabled"
	CodeBusy                = "busy"
	CodeUnavailable         = "unavailable"
	CodeInternal            = "internal"
)

// Codes says what each error code means, for documentation and for tests
// that hold docs/protocol.md to the code.
var Codes = map[string]string{
	CodeBadMessage:          "the message is not JSON of the expected shape; the connection stays open",
	CodeUnknownType:         "the message type is missing, not a string, or not one this version knows",
	CodeUnsupportedVersion:  "the envelope's v is missing or not the JSON number of a protocol version the intermediary speaks",
	CodeMessageTooLarge:     "a message exceeded MaxMessageBytes; the intermediary closes the connection (close code 1009)",
	CodeNotAuthenticated:    "the session has not said hello or registered yet",
	CodeAlreadyAuthed:       "hello or register on a session that is already open",
	CodeWrongChallenge:      "hello or register signed a challenge other than this connection's",
	CodeBadSignature:        "a signature does not verify with the wallet's public key",
	CodeBadPublicKey:        "a public key is not 32 bytes, does not encode a point of the ed25519 curve, or is a point of small order",
	CodeUnknownWallet:       "no wallet with this key is registered at this intermediary (it may be registered at another)",
	CodeWalletExists:        "register with a key that is already registered",
	CodeBadCustomer:         "a name or person id is missing, too long or holds control characters",
	CodeBadRequestID:        "a request id is missing, not a JSON string, longer than 32 characters or not letters, digits and ._-",
	CodeRequestIDReused:     "a request id this wallet already used for a different instruction (pay, withdraw, deposit and purse_fund share one space of ids; payment requests and schedules each have their own)",
	CodeInvalidAmount:       "an amount is zero or negative",
	CodeAmountOverflow:      "an amount does not fit in a signed 64-bit number of yen, or a sum would overflow",
	CodeBadMemo:             "a memo is longer than 140 characters or holds control characters",
	CodeInvalidPayee:        "the payee is not a wallet address",
	CodeUnknownPayee:        "no wallet has the payee's address",
	CodeSameWallet:          "a wallet paying or asking itself",
	CodePaymentLimit:        "the amount is above the payer's per-payment limit",
	CodeHoldingLimit:        "a payment would take the payee's holder over its holding limit and the payee's waterfall is off; or a withdrawal would take the wallet's holder over it",
	CodeInsufficientFunds:   "the wallet holds less than the amount and auto-charge is off or the deposit account is short too",
	CodeInsufficientDeposit: "the deposit account holds less than the amount",
	CodeRateLimited:         "the wallet sent instructions faster than its rate limit, or its address registered too many wallets; retry later with the same request id",
	CodeUnknownRequest:      "no payment request with this ref is addressed to or made by this wallet",
	CodeRequestClosed:       "the payment request was already paid, declined or has expired",
	CodeRequestMismatch:     "an approval's merchant or amount differs from the request's",
	CodeBadSchedule:         "a schedule's time, interval or count is out of range",
	CodeUnknownSchedule:     "no scheduled payment with this ref belongs to this wallet",
	CodeUnknownPurse:        "no purse with this serial belongs to this wallet",
	CodePurseExists:         "the wallet already has a purse with another key; one purse per wallet",
	CodePurseCap:            "funding would take the purse's escrow over the purse cap",
	CodePurseRevoked:        "the purse is revoked; it can still sync and defund, not be funded",
	CodeTooManyVouchers:     "a purse_sync carries more than MaxSyncVouchers vouchers; sync in several messages",
	CodeOfflineDisabled:     "this intermediary does not offer offline purses",
	CodeBusy:                "too many requests in flight on this connection; wait for answers",
	CodeUnavailable:         "the central ledger or another intermediary could not be reached; retry with the same request id",
	CodeInternal:            "the intermediary failed unexpectedly; retry with the same request id",
}

// Errorf makes an Error with a code and a sentence.
func Errorf(code, message string) *Error { return &Error{Code: code, Message: message} }
