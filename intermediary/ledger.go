package intermediary

import (
	"context"

	"github.com/digital-yen/cbdc-sandbox/ledger"
)

// Ledger is the central ledger as one intermediary uses it.
// *ledger.Intermediary implements it in one process and *ledgerhttp.Client
// over the network.
type Ledger interface {
	ID() ledger.AccountID
	OpenAccount(ctx context.Context, opID string, spec ledger.AccountSpec) (ledger.Receipt, error)
	CloseAccount(ctx context.Context, opID string, id ledger.AccountID) (ledger.Receipt, error)
	SetLimits(ctx context.Context, opID string, id ledger.AccountID, lim ledger.Limits) (ledger.Receipt, error)
	Issue(ctx context.Context, opID string, amount int64) (ledger.Receipt, error)
	Redeem(ctx context.Context, opID string, amount int64) (ledger.Receipt, error)
	Transfer(ctx context.Context, opID string, from, to ledger.AccountID, amount int64) (ledger.Receipt, error)
	Batch(ctx context.Context, opID string, transfers []ledger.Transfer) (ledger.Receipt, error)
	Account(ctx context.Context, id ledger.AccountID) (ledger.Account, error)
	Holder(ctx context.Context, h ledger.HolderID) (ledger.Holding, error)
	History(ctx context.Context, id ledger.AccountID, cursor uint64, limit int) ([]ledger.Event, uint64, error)
	Totals(ctx context.Context) (ledger.Totals, error)
	Feed(ctx context.Context, from uint64, limit int) ([]ledger.Event, uint64, error)
	Send(ctx context.Context, to ledger.AccountID, body []byte) error
	Receive(ctx context.Context, max int) ([]ledger.Message, error)
}

var _ Ledger = (*ledger.Intermediary)(nil)

// refused reports whether the ledger did not apply the operation: a rule
// refused it, or another operation holds its id (ledger.IDTaken), as
// opposed to not knowing its outcome (a network failure, a context that
// ended, a ledger that stopped). The bank's op ids come from its wallets'
// request ids and its own intent numbers, so a taken id is a wallet
// reusing a request id for another instruction, or an earlier try of
// this one that took another form (a payment that auto-charged), which
// the caller tells apart by looking up its intent: either way these
// contents were not applied.
func refused(err error) bool {
	switch ledger.OutcomeOf(err) {
	case ledger.Refused, ledger.IDTaken:
		return true
	}
	return false
}
