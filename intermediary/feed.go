package intermediary

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// The bank follows the central ledger's feed of records that concern it.
// From it the bank credits deposit accounts (for deposits back and for
// waterfall sweeps, which the ledger makes on its own), marks payment
// requests paid and pushes notifications for every credit and debit. The
// cursor is stored in the same transaction as the credits it covers, so a
// restart never credits twice nor skips one.

type feedState struct {
	cursor uint64 // the next sequence to read; owned by followFeed

	mu      sync.Mutex // protects the fields below
	upTo    uint64     // every record before it has been applied
	changed chan struct{}
	closed  bool

	savedAt time.Time // when the cursor was last stored; owned by followFeed
}

func (f *feedState) init() { f.changed = make(chan struct{}) }

func (f *feedState) applied() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.upTo
}

func (f *feedState) advance(next uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if next > f.upTo && !f.closed {
		f.upTo = next
		close(f.changed)
		f.changed = make(chan struct{})
	}
}

func (f *feedState) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed {
		f.closed = true
		close(f.changed)
	}
}

// waitApplied waits until the record at seq has been applied.
func (f *feedState) waitApplied(ctx context.Context, seq uint64) error {
	for {
		f.mu.Lock()
		done, ch, closed := f.upTo > seq, f.changed, f.closed
		f.mu.Unlock()
		switch {
		case done:
			return nil
		case closed:
			return context.Canceled
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (b *Bank) followFeed() {
	f := &b.feed
	f.advance(f.cursor)
	for b.ctx.Err() == nil {
		events, next, err := b.led.Feed(b.ctx, f.cursor, 1000)
		if err != nil {
			if b.ctx.Err() == nil {
				b.logErr("ledger feed failed; retrying", err)
				b.sleep(time.Second)
			}
			continue
		}
		if err := b.applyFeed(events, next); err != nil {
			b.logErr("applying the ledger feed failed; retrying", err)
			b.sleep(time.Second)
			continue
		}
		f.cursor = next
		f.advance(next)
	}
}

// Settlements of offline vouchers are central-bank operations with ids
// "v:<hash>"; escrow accounts are "escrow-<serial>".
const (
	offlineOpPrefix = "v:"
	escrowPrefix    = "escrow-"
)

// offlineSettlement reports whether a record is the central bank settling
// an offline voucher.
func offlineSettlement(e *ledger.Event) bool {
	return e.Origin == "" && strings.HasPrefix(e.OpID, offlineOpPrefix)
}

// movement is one transfer as it concerns one of the bank's wallets.
type movement struct {
	w     *Wallet
	entry protocol.Entry
}

// applyFeed books what a page of the feed means for the bank, then
// notifies wallets.
func (b *Bank) applyFeed(events []ledger.Event, next uint64) error {
	var moves []movement
	var credits []movement // deposit-account credits
	var paidRefs []paidRef
	var losses int64 // paid from the float for overspends by the bank's devices
	for i := range events {
		e := &events[i]
		for _, t := range e.Transfers {
			moves, credits = b.classify(e, t, false, moves, credits)
			if t.From == b.id && offlineSettlement(e) {
				losses += t.Amount
			}
		}
		for _, t := range e.Sweeps {
			moves, credits = b.classify(e, t, true, moves, credits)
		}
		if ref, ok := strings.CutPrefix(e.OpID, "r:"); ok && len(e.Transfers) > 0 {
			t := e.Transfers[len(e.Transfers)-1]
			paidRefs = append(paidRefs, paidRef{ref: ref, from: string(t.From), to: string(t.To), amount: t.Amount, seq: e.Seq})
		}
	}
	var updates []protocol.PaymentRequest
	if len(credits) > 0 || len(paidRefs) > 0 || losses > 0 || time.Since(b.feed.savedAt) > time.Second {
		page := &feedPage{losses: losses, paid: paidRefs, next: next}
		for _, c := range credits {
			page.credits = append(page.credits, depositChange{customer: c.w.customer, amount: -c.entry.Amount})
		}
		var err error
		if updates, err = b.st.applyFeedPage(page); err != nil {
			return err
		}
		b.feed.savedAt = time.Now()
	}
	for _, m := range moves {
		b.notifier.get().Notify(m.w.keyID, m.entry)
	}
	for _, r := range updates {
		b.pushRequestUpdate(r)
	}
	return nil
}

// classify sorts one transfer of a record into wallet movements and the
// deposit credits it causes.
func (b *Bank) classify(e *ledger.Event, t ledger.Transfer, sweep bool, moves, credits []movement) ([]movement, []movement) {
	from, to := b.ownWallet(t.From), b.ownWallet(t.To)
	entry := protocol.Entry{Seq: e.Seq, Time: e.Time, Reason: protocol.ReasonPayment}
	if from != nil {
		out := entry
		out.Amount, out.Counterparty = -t.Amount, string(t.To)
		if strings.HasPrefix(string(t.To), escrowPrefix) {
			out.Reason = protocol.ReasonPurseFund
		}
		if t.To == b.id {
			out.Reason = protocol.ReasonDeposit
			if sweep {
				out.Reason = protocol.ReasonSweep
			}
			credits = append(credits, movement{from, out})
		}
		moves = append(moves, movement{from, out})
	}
	if to != nil {
		in := entry
		in.Amount, in.Counterparty = t.Amount, string(t.From)
		if offlineSettlement(e) {
			in.Reason = protocol.ReasonOffline
		} else if t.From == b.id {
			in.Reason = protocol.ReasonWithdrawal
			if len(e.Transfers) > 1 { // an auto-charge: top-up and payment in one batch
				in.Reason = protocol.ReasonTopUp
			}
		}
		moves = append(moves, movement{to, in})
	}
	return moves, credits
}

// ownWallet returns the wallet an account id names when this bank serves it.
func (b *Bank) ownWallet(id ledger.AccountID) *Wallet {
	keyID, bank, ok := protocol.ParseWalletAddress(string(id))
	if !ok || bank != string(b.id) {
		return nil
	}
	return b.wallet(keyID)
}
