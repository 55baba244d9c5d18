package intermediary

import (
	"context"
	"errors"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// opID is the ledger op id of a wallet's pay, withdraw or deposit: the
// wallet's key id and its request id. A retried instruction reaches the
// ledger as the same operation; one request id used for two different
// instructions meets the ledger's op_id_reused, whatever their types.
func opID(w *Wallet, requestID string) string {
	return "w:" + w.keyID + ":" + requestID
}

// checkPayment applies the payer's own rules before the ledger sees a
// payment: amount, payee, per-payment limit.
func (b *Bank) checkPayment(w *Wallet, to string, amount int64) error {
	if amount <= 0 {
		return fail(protocol.CodeInvalidAmount, "an amount must be a positive whole number of yen, got %d", amount)
	}
	if _, _, ok := protocol.ParseWalletAddress(to); !ok {
		return fail(protocol.CodeInvalidPayee, "%q is not a wallet address (w-<20 hex digits>@<bank>)", to)
	}
	if to == w.addr {
		return fail(protocol.CodeSameWallet, "a wallet cannot pay itself")
	}
	if t := b.tierOf(w); t.PaymentLimit > 0 && amount > t.PaymentLimit {
		return fail(protocol.CodePaymentLimit, "%d yen is above the %s tier's per-payment limit of %d yen", amount, t.Name, t.PaymentLimit)
	}
	return nil
}

// pay moves amount from w to another wallet at any bank, in one ledger
// operation named op. When the wallet is short and auto-charge is on, the
// shortfall comes from the deposit account in the same ledger operation
// (reverse waterfall). The caller holds w.mu.
func (b *Bank) pay(ctx context.Context, w *Wallet, op, to string, amount int64) (*protocol.Paid, error) {
	if err := b.checkPayment(w, to, amount); err != nil {
		return nil, err
	}
	rc, err := b.led.Transfer(ctx, op, ledger.AccountID(w.addr), ledger.AccountID(to), amount)
	if err == nil {
		return paid(to, amount, 0, rc), nil
	}
	_, autoCharge := w.settings()
	switch {
	case refused(err):
		// An earlier try of this instruction may have gone through
		// auto-charge under the same op id; only then is the intent read.
		in, found, ierr := b.st.intent(op)
		if ierr != nil {
			return nil, ierr
		}
		if found && !sameCharge(in, w, to, amount) {
			return nil, fail(protocol.CodeRequestIDReused, "this request id was used for another instruction")
		}
		if found {
			rc, ok, rerr := b.resume(ctx, in)
			if ok && !(autoCharge && code(rerr) == protocol.CodeInsufficientFunds) {
				return paid(to, amount, in.Transfers[0].Amount, rc), rerr
			}
			// The top-up an earlier try booked no longer covers the
			// payment: one of the wallet's payments, in doubt then, has
			// gone through since. The ledger refused the batch and its
			// booking is reversed; charge again from what it holds now.
		}
		if autoCharge && errors.Is(err, ledger.ErrInsufficientFunds) {
			return b.payCharged(ctx, w, op, to, amount)
		}
	}
	return nil, fromLedger(err)
}

// code is the protocol error code of err, "" for none.
func code(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func paid(to string, amount, charged int64, rc ledger.Receipt) *protocol.Paid {
	return &protocol.Paid{To: to, Amount: amount, Charged: charged, Seq: rc.Seq, Time: rc.Time}
}

func sameCharge(in *intentRec, w *Wallet, to string, amount int64) bool {
	return in.Kind == "charge" && len(in.Transfers) == 2 &&
		in.Transfers[1] == ledger.Transfer{From: ledger.AccountID(w.addr), To: ledger.AccountID(to), Amount: amount}
}

// payCharged tops the wallet up from its deposit account by the shortfall
// and pays, as one atomic ledger batch: the bank's float pays the top-up.
func (b *Bank) payCharged(ctx context.Context, w *Wallet, op, to string, amount int64) (*protocol.Paid, error) {
	acct, err := b.led.Account(ctx, ledger.AccountID(w.addr))
	if err != nil {
		return nil, fromLedger(err)
	}
	short := amount - acct.Balance
	if short <= 0 { // paid in by someone meanwhile: try plainly once more
		rc, err := b.led.Transfer(ctx, op, ledger.AccountID(w.addr), ledger.AccountID(to), amount)
		if err != nil {
			return nil, fromLedger(err)
		}
		return paid(to, amount, 0, rc), nil
	}
	if err := b.enoughFloat(ctx, short); err != nil {
		return nil, err
	}
	in := &intentRec{OpID: op, Kind: "charge", Customer: w.customer, Deposit: -short, Transfers: []ledger.Transfer{
		{From: b.id, To: ledger.AccountID(w.addr), Amount: short},
		{From: ledger.AccountID(w.addr), To: ledger.AccountID(to), Amount: amount},
	}}
	rc, err := b.run(ctx, in)
	if pe := (*protocol.Error)(nil); errors.As(err, &pe) && pe.Code == protocol.CodeInsufficientDeposit {
		return nil, fail(protocol.CodeInsufficientFunds, "the wallet holds %d yen and its deposit account cannot cover the other %d", acct.Balance, short)
	}
	if err != nil {
		return nil, err
	}
	b.kickFloat()
	return paid(to, amount, short, rc), nil
}

// withdraw moves money from the customer's deposit account into the wallet.
func (b *Bank) withdraw(ctx context.Context, w *Wallet, requestID string, amount int64) (*protocol.Withdrawn, error) {
	if amount <= 0 {
		return nil, fail(protocol.CodeInvalidAmount, "an amount must be a positive whole number of yen, got %d", amount)
	}
	op := opID(w, requestID)
	t := ledger.Transfer{From: b.id, To: ledger.AccountID(w.addr), Amount: amount}
	rc, err := b.resumeMove(ctx, op, "withdraw", t)
	if rc == nil && err == nil {
		if err := b.holdingRoom(ctx, w, amount); err != nil {
			return nil, err
		}
		if err := b.enoughFloat(ctx, amount); err != nil {
			return nil, err
		}
		in := &intentRec{OpID: op, Kind: "withdraw", Customer: w.customer, Deposit: -amount, Transfers: []ledger.Transfer{t}}
		r, rerr := b.run(ctx, in)
		rc, err = &r, rerr
	}
	if err != nil {
		return nil, err
	}
	b.kickFloat()
	dep, err := b.st.deposit(w.customer)
	if err != nil {
		return nil, err
	}
	return &protocol.Withdrawn{Amount: amount, Deposit: dep, Seq: rc.Seq, Time: rc.Time}, nil
}

// resumeMove finishes an earlier try of the same instruction, if any: it
// returns its receipt, or nil when there is nothing to resume.
func (b *Bank) resumeMove(ctx context.Context, op, kind string, t ledger.Transfer) (*ledger.Receipt, error) {
	in, found, err := b.st.intent(op)
	if err != nil || !found {
		return nil, err
	}
	if in.Kind != kind || len(in.Transfers) != 1 || in.Transfers[0] != t {
		return nil, fail(protocol.CodeRequestIDReused, "this request id was used for another instruction")
	}
	rc, ok, err := b.resume(ctx, in)
	if !ok {
		return nil, nil
	}
	return &rc, err
}

// holdingRoom refuses a withdrawal that would take the holder over its
// holding limit across banks: the ledger would sweep it straight back.
func (b *Bank) holdingRoom(ctx context.Context, w *Wallet, amount int64) error {
	b.mu.RLock()
	holder := b.customers[w.customer].holder
	b.mu.RUnlock()
	h, err := b.led.Holder(ctx, ledger.HolderID(holder))
	if err != nil {
		return fromLedger(err)
	}
	if h.Limit > 0 && amount > h.Limit-h.Holdings {
		return fail(protocol.CodeHoldingLimit, "the holder has %d yen across its wallets and a holding limit of %d yen: at most %d more", h.Holdings, h.Limit, max(h.Limit-h.Holdings, 0))
	}
	return nil
}

// deposit moves money from the wallet back into the deposit account. The
// ledger moves the CBDC to the bank's float; the feed processor credits the
// deposit account when it sees that, and the answer waits for it.
func (b *Bank) depositBack(ctx context.Context, w *Wallet, requestID string, amount int64) (*protocol.Deposited, error) {
	if amount <= 0 {
		return nil, fail(protocol.CodeInvalidAmount, "an amount must be a positive whole number of yen, got %d", amount)
	}
	rc, err := b.led.Transfer(ctx, opID(w, requestID), ledger.AccountID(w.addr), b.id, amount)
	if err != nil {
		return nil, fromLedger(err)
	}
	if err := b.feed.waitApplied(ctx, rc.Seq); err != nil {
		return nil, fail(protocol.CodeUnavailable, "deposited at the ledger (seq %d) but the deposit account is not yet credited: %v", rc.Seq, err)
	}
	dep, err := b.st.deposit(w.customer)
	if err != nil {
		return nil, err
	}
	return &protocol.Deposited{Amount: amount, Deposit: dep, Seq: rc.Seq, Time: rc.Time}, nil
}
