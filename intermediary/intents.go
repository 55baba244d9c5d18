package intermediary

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// book records an intent and its booking on the bank's side in one
// transaction: the deposit account and reserves change before the ledger
// is asked, so money can never be spent twice from them.
func (b *Bank) book(in *intentRec) error {
	in.State, in.Created = intentPending, b.now().UTC()
	return b.st.bookIntent(in)
}

// submit asks the ledger for an intent's operation. The op id and contents
// are the intent's, so asking again after a lost answer is safe.
func (b *Bank) submit(ctx context.Context, in *intentRec) (ledger.Receipt, error) {
	switch in.Kind {
	case "issue":
		return b.led.Issue(ctx, in.OpID, in.Amount)
	case "redeem":
		return b.led.Redeem(ctx, in.OpID, in.Amount)
	}
	if len(in.Transfers) == 1 {
		t := in.Transfers[0]
		return b.led.Transfer(ctx, in.OpID, t.From, t.To, t.Amount)
	}
	return b.led.Batch(ctx, in.OpID, in.Transfers)
}

// settle records the ledger's answer to an intent: done; refused, with its
// booking reversed; or, when the answer is unknown, still pending. An
// intent already settled (by another attempt that got its answer first) is
// left as it is: a booking is reversed, or a redemption credited, once.
func (b *Bank) settle(in *intentRec, rc ledger.Receipt, lerr error) error {
	if lerr != nil && !refused(lerr) {
		return fromLedger(lerr)
	}
	err := b.st.settleIntent(in, func(in *intentRec) int64 {
		if lerr != nil {
			in.State = intentRefused
			return -1
		}
		in.State, in.Seq, in.Time = intentDone, rc.Seq, rc.Time
		if in.Kind == "redeem" { // the reserves rise only once the CBDC is gone
			in.Reserves = in.Amount
			return 1
		}
		return 0
	})
	if err != nil {
		return fmt.Errorf("intermediary: settle %s: %w", in.OpID, err)
	}
	if lerr != nil {
		return fromLedger(lerr)
	}
	return nil
}

// run books an intent, asks the ledger and settles it.
func (b *Bank) run(ctx context.Context, in *intentRec) (ledger.Receipt, error) {
	if err := b.book(in); err != nil {
		return ledger.Receipt{}, err
	}
	rc, err := b.submit(ctx, in)
	return rc, b.settle(in, rc, err)
}

// resume finishes an intent found under an op id: a done one answers with
// its receipt, a pending one is asked again, a refused one is forgotten so
// the caller may book it anew.
func (b *Bank) resume(ctx context.Context, in *intentRec) (ledger.Receipt, bool, error) {
	switch in.State {
	case intentDone:
		return ledger.Receipt{OpID: in.OpID, Seq: in.Seq, Time: in.Time}, true, nil
	case intentPending:
		rc, err := b.submit(ctx, in)
		return rc, true, b.settle(in, rc, err)
	}
	return ledger.Receipt{}, false, nil
}

// resolveIntents asks the ledger again about every pending intent.
func (b *Bank) resolveIntents(ctx context.Context) {
	pending, err := b.st.pendingIntents()
	if err != nil {
		b.logErr("read pending intents", err)
		return
	}
	for _, in := range pending {
		b.resolveIntent(ctx, in)
	}
}

// resolveIntent asks the ledger again about one pending intent, holding
// the lock its own instruction holds (the wallet's, or the float's) and
// reading it again under that lock, so it never races the instruction.
func (b *Bank) resolveIntent(ctx context.Context, in *intentRec) {
	mu := &b.floatMu
	if w := b.walletOfIntent(in); w != nil {
		mu = &w.mu
	}
	mu.Lock()
	defer mu.Unlock()
	in, found, err := b.st.intent(in.OpID)
	if err != nil || !found || in.State != intentPending {
		return
	}
	if _, _, err := b.resume(ctx, in); err != nil {
		var pe *protocol.Error
		if errors.As(err, &pe) && pe.Code == protocol.CodeUnavailable {
			b.logErr("intent still unresolved", err, "op", in.OpID)
		}
	}
}

// walletOfIntent is the wallet whose instructions an intent belongs to.
func (b *Bank) walletOfIntent(in *intentRec) *Wallet {
	for _, t := range in.Transfers {
		for _, a := range []ledger.AccountID{t.From, t.To} {
			if keyID, bank, ok := protocol.ParseWalletAddress(string(a)); ok && bank == string(b.id) {
				return b.wallet(keyID)
			}
		}
	}
	return nil
}

// keepIntents retries pending intents every RetryEvery.
func (b *Bank) keepIntents() {
	for b.sleep(b.cfg.RetryEvery) {
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		b.resolveIntents(ctx)
		cancel()
	}
}
