package intermediary

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/digital-yen/cbdc-sandbox/bankadmin"
	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// The float is the CBDC the bank holds at the central ledger to pay out
// withdrawals and auto-charges. It is issued against the bank's reserves
// and redeemed back into them.

// kickFloat asks the float keeper to look at the float now.
func (b *Bank) kickFloat() {
	select {
	case b.floatKick <- struct{}{}:
	default:
	}
}

// enoughFloat refuses an operation the float cannot pay for yet, and has
// the keeper top it up.
func (b *Bank) enoughFloat(ctx context.Context, amount int64) error {
	acct, err := b.led.Account(ctx, b.id)
	if err != nil {
		return fromLedger(err)
	}
	if acct.Balance < amount {
		b.kickFloat()
		return fail(protocol.CodeUnavailable, "the bank's CBDC float (%d yen) is being topped up; retry with the same request id", acct.Balance)
	}
	return nil
}

// keepFloat issues the bank more CBDC whenever its float falls below the
// low mark, up to the target.
func (b *Bank) keepFloat() {
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for first := true; ; first = false {
		if !first {
			select {
			case <-b.ctx.Done():
				return
			case <-b.floatKick:
			case <-tick.C:
			}
		}
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		acct, err := b.led.Account(ctx, b.id)
		if err == nil && acct.Balance < b.cfg.FloatLow {
			_, err = b.IssueFloat(ctx, b.cfg.FloatTarget-acct.Balance)
		}
		cancel()
		if err != nil && b.ctx.Err() == nil {
			b.logErr("float top-up failed", err)
		}
	}
}

// IssueFloat obtains amount yen of new CBDC against the bank's reserves.
func (b *Bank) IssueFloat(ctx context.Context, amount int64) (bankadmin.Status, error) {
	return b.moveFloat(ctx, "issue", "", amount)
}

// RedeemFloat returns amount yen of the float to the central bank, which
// credits the bank's reserves.
func (b *Bank) RedeemFloat(ctx context.Context, amount int64) (bankadmin.Status, error) {
	return b.moveFloat(ctx, "redeem", "", amount)
}

// MoveFloat issues (kind "issue") or redeems ("redeem") float as IssueFloat
// and RedeemFloat do, under the operator's request id: asking again with
// the same id, after an answer was lost, moves the float once. The same
// id for another kind or amount is refused with request_id_reused.
func (b *Bank) MoveFloat(ctx context.Context, kind, requestID string, amount int64) (bankadmin.Status, error) {
	switch {
	case kind != "issue" && kind != "redeem":
		return bankadmin.Status{}, fail(protocol.CodeBadMessage, "float moves by issue or redeem, not %q", kind)
	case !protocol.ValidRequestID(requestID):
		return bankadmin.Status{}, fail(protocol.CodeBadRequestID, "a request id is 1 to 32 letters, digits or ._- (got %q)", requestID)
	}
	return b.moveFloat(ctx, kind, requestID, amount)
}

func (b *Bank) moveFloat(ctx context.Context, kind, requestID string, amount int64) (bankadmin.Status, error) {
	if amount <= 0 {
		return bankadmin.Status{}, fail(protocol.CodeInvalidAmount, "an amount must be a positive whole number of yen, got %d", amount)
	}
	b.floatMu.Lock()
	defer b.floatMu.Unlock()
	if requestID != "" {
		return b.moveFloatOnce(ctx, kind, requestID, amount)
	}
	n, err := b.st.floatNumber()
	if err != nil {
		return bankadmin.Status{}, err
	}
	return b.runFloat(ctx, "float:"+strconv.FormatUint(n, 10), kind, amount)
}

// runFloat books a move of the float as an intent under opID and asks the
// ledger for it. The caller holds floatMu.
func (b *Bank) runFloat(ctx context.Context, opID, kind string, amount int64) (bankadmin.Status, error) {
	in := &intentRec{OpID: opID, Kind: kind, Amount: amount}
	if kind == "issue" {
		in.Reserves = -amount
	}
	if _, err := b.run(ctx, in); err != nil {
		return bankadmin.Status{}, err
	}
	b.log.Info("float "+kind+"d", "amount", amount, "op", in.OpID)
	return b.Status(ctx)
}

// moveFloatOnce moves float under an op id made of the operator's request
// id, finishing rather than repeating an earlier try under it. The caller
// holds floatMu.
func (b *Bank) moveFloatOnce(ctx context.Context, kind, requestID string, amount int64) (bankadmin.Status, error) {
	opID := "float:op:" + requestID
	in, found, err := b.st.intent(opID)
	if err != nil {
		return bankadmin.Status{}, err
	}
	if found && in.State != intentRefused { // a refused move used nothing: its id is free again
		if in.Kind != kind || in.Amount != amount {
			return bankadmin.Status{}, fail(protocol.CodeRequestIDReused, "request id %q was used to %s %d yen of float", requestID, in.Kind, in.Amount)
		}
		if _, ok, err := b.resume(ctx, in); ok {
			if err != nil {
				return bankadmin.Status{}, err
			}
			return b.Status(ctx)
		}
	}
	return b.runFloat(ctx, opID, kind, amount)
}

// Status reports the bank's position.
func (b *Bank) Status(ctx context.Context) (bankadmin.Status, error) {
	acct, err := b.led.Account(ctx, b.id)
	if err != nil {
		return bankadmin.Status{}, fmt.Errorf("intermediary: float: %w", err)
	}
	s := bankadmin.Status{Bank: string(b.id), Float: acct.Balance, FeedCursor: b.feed.applied(), Connections: b.notifier.get().Connections()}
	b.mu.RLock()
	s.Customers, s.Wallets = len(b.customers), len(b.wallets)
	b.mu.RUnlock()
	t, err := b.st.totals()
	s.Reserves, s.Deposits, s.OfflineLosses, s.PendingIntents = t.reserves, t.deposits, t.offlineLosses, t.pendingIntents
	s.Books = s.Reserves + s.Float - s.Deposits + s.OfflineLosses
	return s, err
}
