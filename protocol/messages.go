package protocol

import (
	"errors"
	"time"
)

// Bodies of the messages. Amounts are whole yen; keys, challenges and
// signatures are base64 (standard alphabet, padded), as encoding/json
// writes []byte.
//
// In the bodies a wallet sends, a field tagged wire:"optional" may be left
// out (or sent as null) and then reads as its zero value; every other
// field is required (ReadBody). The fields are declared in the order
// docs/protocol.md lists them, which is the order ReadBody checks them in.

// Challenge is pushed by the intermediary as soon as a wallet connects.
type Challenge struct {
	Bank      string `json:"bank"`
	Challenge []byte `json:"challenge"` // 32 random bytes, good for this connection only
}

// Hello opens a session for a registered wallet.
type Hello struct {
	PublicKey []byte `json:"public_key"`
	Challenge []byte `json:"challenge"` // the one this connection was sent
	Signature []byte `json:"signature"` // over SessionBytes
}

// Register onboards a new customer with one wallet at the lowest KYC tier
// and opens a session for it.
type Register struct {
	PublicKey []byte `json:"public_key"`
	Name      string `json:"name"`
	PersonID  string `json:"person_id"` // the identity the bank checked; it never leaves the bank
	Challenge []byte `json:"challenge"`
	Signature []byte `json:"signature"` // over SessionBytes
}

// Tier is a KYC tier's limits.
type Tier struct {
	Name         string `json:"name"`
	HoldingLimit int64  `json:"holding_limit"` // across all the holder's wallets at every bank; 0 means none
	PaymentLimit int64  `json:"payment_limit"` // per payment; 0 means none
}

// Welcome answers hello and register.
type Welcome struct {
	Bank     string   `json:"bank"`
	Wallet   string   `json:"wallet"` // the wallet's address, which payers pay to
	Customer string   `json:"customer"`
	Tier     Tier     `json:"tier"`
	Settings Settings `json:"settings"`
}

// Settings are a wallet's waterfall and reverse-waterfall choices. Sent by
// a wallet (signed) to change them; returned as they now stand.
type Settings struct {
	Waterfall  bool   `json:"waterfall"`   // credits over the holding limit sweep to the deposit account
	AutoCharge bool   `json:"auto_charge"` // payments above the balance top up from the deposit account
	Signature  []byte `json:"signature,omitempty"`
}

// BalanceResult answers balance.
type BalanceResult struct {
	Wallet       string `json:"wallet"`
	Balance      int64  `json:"balance"`       // CBDC in this wallet
	Deposit      int64  `json:"deposit"`       // the linked deposit account, commercial-bank money
	Holdings     int64  `json:"holdings"`      // CBDC the holder has across all its wallets at every bank
	HoldingLimit int64  `json:"holding_limit"` // 0 means none
}

// HistoryQuery asks for a page of the wallet's history, newest first.
type HistoryQuery struct {
	Cursor uint64 `json:"cursor,omitempty" wire:"optional"` // 0 for the newest page, else the previous page's next
	Limit  int    `json:"limit,omitempty" wire:"optional"`  // 1 to 200; 50 when 0
}

// HistoryResult answers history.
type HistoryResult struct {
	Entries []Entry `json:"entries"`
	Next    uint64  `json:"next"` // 0 after the oldest page
}

// Entry is one movement of money in or out of a wallet.
type Entry struct {
	Seq          uint64    `json:"seq"` // the central ledger's journal sequence
	Time         time.Time `json:"time"`
	Reason       string    `json:"reason"` // one of the Reason values
	Amount       int64     `json:"amount"` // positive: credit; negative: debit
	Counterparty string    `json:"counterparty"`
}

// Reasons money moves in or out of a wallet.
const (
	ReasonPayment    = "payment"    // to or from another wallet
	ReasonWithdrawal = "withdrawal" // from the deposit account into the wallet
	ReasonDeposit    = "deposit"    // from the wallet into the deposit account
	ReasonSweep      = "sweep"      // waterfall: a credit's excess over the holding limit, to the deposit account
	ReasonTopUp      = "top_up"     // auto-charge: the deposit account covering a payment's shortfall
	ReasonPurseFund  = "purse_fund" // from the wallet into its offline purse's escrow
	ReasonOffline    = "offline"    // an offline voucher settled: paid to this wallet, or a defund of its purse
)

// Pay pays another wallet at any intermediary.
type Pay struct {
	To        string `json:"to"`
	Amount    int64  `json:"amount"`
	Signature []byte `json:"signature"`
}

// Paid answers pay and approve.
type Paid struct {
	To      string    `json:"to"`
	Amount  int64     `json:"amount"`
	Charged int64     `json:"charged,omitempty"` // topped up from the deposit account (reverse waterfall)
	Request string    `json:"request,omitempty"` // the payment request paid, for approve
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
}

// RequestPayment is a merchant asking a payer for money (request-to-pay).
type RequestPayment struct {
	Payer     string `json:"payer"`
	Amount    int64  `json:"amount"`
	Memo      string `json:"memo,omitempty" wire:"optional"`
	ExpiresIn int64  `json:"expires_in,omitempty" wire:"optional"` // seconds, 1 to 604800; 600 when 0
	Signature []byte `json:"signature"`
}

// PaymentRequest is a request-to-pay as both sides see it.
type PaymentRequest struct {
	Ref      string    `json:"ref"` // unique across intermediaries
	Merchant string    `json:"merchant"`
	Payer    string    `json:"payer"`
	Amount   int64     `json:"amount"`
	Memo     string    `json:"memo,omitempty"`
	Expires  time.Time `json:"expires"`
	Status   string    `json:"status"` // pending, paid, declined or expired
	Seq      uint64    `json:"seq,omitempty"`
}

// Payment request states.
const (
	RequestPending  = "pending"
	RequestPaid     = "paid"
	RequestDeclined = "declined"
	RequestExpired  = "expired"
)

// Requested answers request_payment.
type Requested struct {
	Request PaymentRequest `json:"request"`
}

// Approve pays a request this wallet received. Merchant and amount repeat
// what the payer saw, so the signature covers them.
type Approve struct {
	Ref       string `json:"ref"`
	Merchant  string `json:"merchant"`
	Amount    int64  `json:"amount"`
	Signature []byte `json:"signature"`
}

// Decline refuses a request this wallet received.
type Decline struct {
	Ref       string `json:"ref"`
	Signature []byte `json:"signature"`
}

// Declined answers decline.
type Declined struct {
	Request PaymentRequest `json:"request"`
}

// RequestList answers requests: pending and recent requests both ways.
type RequestList struct {
	Incoming []PaymentRequest `json:"incoming"`
	Outgoing []PaymentRequest `json:"outgoing"`
}

// Withdraw moves money from the deposit account into the wallet.
type Withdraw struct {
	Amount    int64  `json:"amount"`
	Signature []byte `json:"signature"`
}

// Withdrawn answers withdraw.
type Withdrawn struct {
	Amount  int64     `json:"amount"`
	Deposit int64     `json:"deposit"` // the deposit account after it
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
}

// Deposit moves money from the wallet back into the deposit account.
type Deposit struct {
	Amount    int64  `json:"amount"`
	Signature []byte `json:"signature"`
}

// Deposited answers deposit.
type Deposited struct {
	Amount  int64     `json:"amount"`
	Deposit int64     `json:"deposit"`
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
}

// Schedule sets up a payment at a time, once or recurring.
type Schedule struct {
	To        string    `json:"to"`
	Amount    int64     `json:"amount"`
	Memo      string    `json:"memo,omitempty" wire:"optional"`
	At        time.Time `json:"at"`                              // first payment
	Every     string    `json:"every,omitempty" wire:"optional"` // Go duration such as "24h"; empty for one payment
	Times     int       `json:"times,omitempty" wire:"optional"` // payments in all when recurring; 0 until cancelled
	Signature []byte    `json:"signature"`
}

// ScheduleInfo is a scheduled payment as it stands.
type ScheduleInfo struct {
	Ref       string    `json:"ref"`
	To        string    `json:"to"`
	Amount    int64     `json:"amount"`
	Memo      string    `json:"memo,omitempty"`
	Next      time.Time `json:"next"`
	Every     string    `json:"every,omitempty"`
	Times     int       `json:"times,omitempty"`
	Fired     int       `json:"fired"`
	Status    string    `json:"status"` // active, done or cancelled
	LastError *Error    `json:"last_error,omitempty"`
}

// Scheduled answers schedule.
type Scheduled struct {
	Schedule ScheduleInfo `json:"schedule"`
}

// CancelSchedule stops a scheduled payment.
type CancelSchedule struct {
	Ref       string `json:"ref"`
	Signature []byte `json:"signature"`
}

// ScheduleList answers schedules.
type ScheduleList struct {
	Schedules []ScheduleInfo `json:"schedules"`
}

// ScheduleUpdate is pushed when a scheduled payment fires.
type ScheduleUpdate struct {
	Schedule ScheduleInfo `json:"schedule"`
	Paid     *Paid        `json:"paid,omitempty"`
	Error    *Error       `json:"error,omitempty"`
}

// Notify is pushed on every credit and debit of the wallet.
type Notify struct {
	Entry
	Balance *int64 `json:"balance,omitempty"` // the wallet's balance after it; omitted while the bank does not know it yet
}

// RequestUpdate is pushed to a merchant when its request is paid or declined.
type RequestUpdate struct {
	Request PaymentRequest `json:"request"`
}

// Error answers a request that failed.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// RetryAfterMS, on some unavailable errors, is how many milliseconds
	// the bank expects the cause to last: retrying sooner is answered
	// unavailable again at once. Zero (left out) when it does not know.
	RetryAfterMS int64 `json:"retry_after_ms,omitempty"`
}

// RetryAfter is the error's retry hint, zero when it has none.
func (e *Error) RetryAfter() time.Duration { return time.Duration(e.RetryAfterMS) * time.Millisecond }

// AskAgain says whether err is an answer that decided nothing (unavailable,
// busy or rate_limited), so the same request may be sent again under the
// same request id, and how long the answer asks to wait first (zero when
// it names no wait).
func AskAgain(err error) (wait time.Duration, ok bool) {
	var e *Error
	if !errors.As(err, &e) {
		return 0, false
	}
	switch e.Code {
	case CodeUnavailable, CodeBusy, CodeRateLimited:
		return e.RetryAfter(), true
	}
	return 0, false
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Is makes errors.Is match errors by code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}
