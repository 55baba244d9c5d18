package ledger

import (
	"context"
	"errors"
)

// Intermediary is the central ledger as one intermediary uses it. Every
// operation is recorded as that intermediary's, its operation ids are its
// own namespace (two banks may both use "pay-1"), and the ledger lets it
// move money only out of its own account and the accounts it serves, open
// and close only accounts it serves, and issue and redeem only its own
// float. The same rules are checked again by every replay and audit.
//
// The network service hands each authenticated intermediary one of these,
// so in one process and over the network the rules are the same.
type Intermediary struct {
	l  *Ledger
	id AccountID
}

// Intermediary returns the ledger as the intermediary id uses it. Whether
// id is an open intermediary is checked with each operation.
func (l *Ledger) Intermediary(id AccountID) *Intermediary { return &Intermediary{l: l, id: id} }

// ID is the intermediary's account id.
func (b *Intermediary) ID() AccountID { return b.id }

func (b *Intermediary) request(typ opType, opID string) *request {
	r := newRequest(typ, opID)
	r.op.origin = b.id
	return r
}

// OpenAccount opens an account the intermediary serves; an empty
// spec.Intermediary means this one.
func (b *Intermediary) OpenAccount(ctx context.Context, opID string, spec AccountSpec) (Receipt, error) {
	if spec.Intermediary == "" {
		spec.Intermediary = b.id
	}
	r := b.request(opOpen, opID)
	r.op.spec = spec
	return b.l.submit(ctx, r)
}

// CloseAccount closes an empty account the intermediary serves.
func (b *Intermediary) CloseAccount(ctx context.Context, opID string, id AccountID) (Receipt, error) {
	r := b.request(opClose, opID)
	r.op.spec.ID = id
	return b.l.submit(ctx, r)
}

// SetLimits sets the limits of a wallet the intermediary serves.
func (b *Intermediary) SetLimits(ctx context.Context, opID string, id AccountID, lim Limits) (Receipt, error) {
	r := b.request(opLimits, opID)
	r.op.spec = AccountSpec{ID: id, Limits: lim}
	return b.l.submit(ctx, r)
}

// Issue obtains amount yen of new CBDC for the intermediary's float.
func (b *Intermediary) Issue(ctx context.Context, opID string, amount int64) (Receipt, error) {
	return b.l.submit(ctx, b.request(opIssue, opID).single(Transfer{IssuanceAccount, b.id, amount}))
}

// Redeem returns amount yen of the intermediary's float to the central bank.
func (b *Intermediary) Redeem(ctx context.Context, opID string, amount int64) (Receipt, error) {
	return b.l.submit(ctx, b.request(opRedeem, opID).single(Transfer{b.id, IssuanceAccount, amount}))
}

// Transfer moves money out of the intermediary's account or one it serves,
// to any account.
func (b *Intermediary) Transfer(ctx context.Context, opID string, from, to AccountID, amount int64) (Receipt, error) {
	return b.l.submit(ctx, b.request(opTransfer, opID).single(Transfer{from, to, amount}))
}

// Batch applies transfers all or none; each must pay out of the
// intermediary's account or one it serves.
func (b *Intermediary) Batch(ctx context.Context, opID string, transfers []Transfer) (Receipt, error) {
	r := b.request(opBatch, opID)
	r.op.transfers = append([]Transfer(nil), transfers...)
	return b.l.submit(ctx, r)
}

// Account returns the intermediary's own account or one it serves; the
// balances of other banks' customers are not its to read.
func (b *Intermediary) Account(_ context.Context, id AccountID) (Account, error) {
	a, err := b.l.Account(id)
	if err != nil {
		return Account{}, err
	}
	if a.ID != b.id && a.Intermediary != b.id {
		return Account{}, broken(ErrNotYours, "%s does not serve %s", b.id, id)
	}
	return a, nil
}

// History pages through the history of an account the intermediary reads
// with Account.
func (b *Intermediary) History(ctx context.Context, id AccountID, cursor uint64, limit int) ([]Event, uint64, error) {
	if _, err := b.Account(ctx, id); err != nil {
		return nil, 0, err
	}
	return b.l.History(id, cursor, limit)
}

// Holder returns a holder's position across every bank, when the
// intermediary serves at least one of its open wallets; otherwise
// ErrNotYours, whether or not other banks know the token, so a bank cannot
// learn where else a person holds wallets.
func (b *Intermediary) Holder(_ context.Context, h HolderID) (Holding, error) {
	b.l.viewMu.RLock()
	defer b.l.viewMu.RUnlock()
	v := b.l.view
	hd, n, err := v.holding(h)
	if errors.Is(err, ErrInvalidHolder) {
		return Holding{}, err
	}
	if bank, ok := v.names.lookup(b.id); err != nil || !ok || !v.servesHolder(bank, n) {
		return Holding{}, broken(ErrNotYours, "%s serves no open wallet of holder %s", b.id, h)
	}
	return hd, nil
}

// Totals returns the money by kind across the whole ledger, which is public.
func (b *Intermediary) Totals(context.Context) (Totals, error) { return b.l.Totals(), nil }
