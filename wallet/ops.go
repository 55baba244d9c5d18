package wallet

import (
	"context"
	"crypto/ed25519"
	"time"

	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// The instructions a wallet sends. Each takes a request id: "" makes a
// fresh one; passing the id of an instruction whose answer was lost
// retries it, and the bank answers with the first result, never applying
// it twice.

// Balance returns the wallet's balance, its deposit account and its
// holder's position across banks.
func (c *Client) Balance(ctx context.Context) (*protocol.BalanceResult, error) {
	var r protocol.BalanceResult
	return &r, c.Call(ctx, protocol.TypeBalance, c.NewRequestID(), nil, protocol.TypeBalanceResult, &r)
}

// History returns a page of the wallet's history, newest first.
func (c *Client) History(ctx context.Context, cursor uint64, limit int) (*protocol.HistoryResult, error) {
	var r protocol.HistoryResult
	q := protocol.HistoryQuery{Cursor: cursor, Limit: limit}
	return &r, c.Call(ctx, protocol.TypeHistory, c.NewRequestID(), q, protocol.TypeHistoryResult, &r)
}

// Pay pays amount yen to the wallet at address to, at any bank.
func (c *Client) Pay(ctx context.Context, id, to string, amount int64) (*protocol.Paid, error) {
	var r protocol.Paid
	return &r, c.signed(ctx, protocol.TypePay, c.id(id), &protocol.Pay{To: to, Amount: amount}, protocol.TypePaid, &r)
}

// RequestPayment asks the wallet at payer for amount yen.
func (c *Client) RequestPayment(ctx context.Context, id, payer string, amount int64, memo string, expires time.Duration) (*protocol.PaymentRequest, error) {
	var r protocol.Requested
	m := &protocol.RequestPayment{Payer: payer, Amount: amount, Memo: memo, ExpiresIn: int64(expires / time.Second)}
	return &r.Request, c.signed(ctx, protocol.TypeRequestPayment, c.id(id), m, protocol.TypeRequested, &r)
}

// Approve pays a request this wallet received.
func (c *Client) Approve(ctx context.Context, id string, req protocol.PaymentRequest) (*protocol.Paid, error) {
	var r protocol.Paid
	m := &protocol.Approve{Ref: req.Ref, Merchant: req.Merchant, Amount: req.Amount}
	return &r, c.signed(ctx, protocol.TypeApprove, c.id(id), m, protocol.TypePaid, &r)
}

// Decline refuses a request this wallet received.
func (c *Client) Decline(ctx context.Context, id, ref string) (*protocol.PaymentRequest, error) {
	var r protocol.Declined
	return &r.Request, c.signed(ctx, protocol.TypeDecline, c.id(id), &protocol.Decline{Ref: ref}, protocol.TypeDeclined, &r)
}

// Requests lists the wallet's payment requests both ways.
func (c *Client) Requests(ctx context.Context) (*protocol.RequestList, error) {
	var r protocol.RequestList
	return &r, c.Call(ctx, protocol.TypeRequests, c.NewRequestID(), nil, protocol.TypeRequestList, &r)
}

// Withdraw moves amount yen from the deposit account into the wallet.
func (c *Client) Withdraw(ctx context.Context, id string, amount int64) (*protocol.Withdrawn, error) {
	var r protocol.Withdrawn
	return &r, c.signed(ctx, protocol.TypeWithdraw, c.id(id), &protocol.Withdraw{Amount: amount}, protocol.TypeWithdrawn, &r)
}

// Deposit moves amount yen from the wallet back into the deposit account.
func (c *Client) Deposit(ctx context.Context, id string, amount int64) (*protocol.Deposited, error) {
	var r protocol.Deposited
	return &r, c.signed(ctx, protocol.TypeDeposit, c.id(id), &protocol.Deposit{Amount: amount}, protocol.TypeDeposited, &r)
}

// Schedule sets up a payment at a time; every > 0 repeats it, times in all
// (0: until cancelled).
func (c *Client) Schedule(ctx context.Context, id, to string, amount int64, at time.Time, every time.Duration, times int) (*protocol.ScheduleInfo, error) {
	m := &protocol.Schedule{To: to, Amount: amount, At: at.UTC(), Times: times}
	if every > 0 {
		m.Every = every.String()
	}
	var r protocol.Scheduled
	return &r.Schedule, c.signed(ctx, protocol.TypeSchedule, c.id(id), m, protocol.TypeScheduled, &r)
}

// CancelSchedule stops a scheduled payment.
func (c *Client) CancelSchedule(ctx context.Context, id, ref string) (*protocol.ScheduleInfo, error) {
	var r protocol.Scheduled
	return &r.Schedule, c.signed(ctx, protocol.TypeCancelSchedule, c.id(id), &protocol.CancelSchedule{Ref: ref}, protocol.TypeCancelled, &r)
}

// Schedules lists the wallet's scheduled payments.
func (c *Client) Schedules(ctx context.Context) ([]protocol.ScheduleInfo, error) {
	var r protocol.ScheduleList
	return r.Schedules, c.Call(ctx, protocol.TypeSchedules, c.NewRequestID(), nil, protocol.TypeScheduleList, &r)
}

// SetSettings turns the waterfall and auto-charge on or off.
func (c *Client) SetSettings(ctx context.Context, id string, waterfall, autoCharge bool) (*protocol.Settings, error) {
	var r protocol.Settings
	m := &protocol.Settings{Waterfall: waterfall, AutoCharge: autoCharge}
	return &r, c.signed(ctx, protocol.TypeSettings, c.id(id), m, protocol.TypeSettingsResult, &r)
}

// SignedPay encodes a signed pay instruction without sending it, for load
// generators that sign ahead of time; send it with CallRaw.
func (c *Client) SignedPay(id, to string, amount int64) ([]byte, error) {
	return SignPay(c.key, c.welcome.Wallet, id, to, amount)
}

// SignPay encodes a pay instruction of the wallet at address, signed with
// its key, without sending it: for a caller that drives a session's socket
// itself (OpenSession).
func SignPay(key ed25519.PrivateKey, address, id, to string, amount int64) ([]byte, error) {
	m := &protocol.Pay{To: to, Amount: amount}
	protocol.Sign(key, protocol.TypePay, address, id, m)
	return protocol.Encode(protocol.TypePay, id, m)
}
