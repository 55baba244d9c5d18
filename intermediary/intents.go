package intermediary

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/protocol"
	bolt "go.etcd.io/bbolt"
)

var bucketPending = []byte("pending") // op id -> nothing: the intents still waiting for the ledger's answer

// intent returns the intent booked under a ledger op id.
func (b *Bank) intent(opID string) (*intentRec, bool, error) {
	var in intentRec
	var ok bool
	err := b.st.db.View(func(tx *bolt.Tx) error {
		var err error
		ok, err = getJSON(tx.Bucket(bucketIntents), opID, &in)
		return err
	})
	return &in, ok, err
}

// book records an intent and its booking on the bank's side in one
// transaction: the deposit account and reserves change before the ledger
// is asked, so money can never be spent twice from them.
func (b *Bank) book(in *intentRec) error {
	in.State, in.Created = intentPending, b.now().UTC()
	return b.st.update(func(tx *bolt.Tx) error {
		if err := b.applyBooking(tx, in, 1); err != nil {
			return err
		}
		if err := tx.Bucket(bucketPending).Put([]byte(in.OpID), nil); err != nil {
			return err
		}
		return putJSON(tx.Bucket(bucketIntents), in.OpID, in)
	})
}

// applyBooking adds (sign 1) or reverses (sign -1) an intent's booking.
func (b *Bank) applyBooking(tx *bolt.Tx, in *intentRec, sign int64) error {
	if in.Deposit != 0 {
		if _, err := addDeposit(tx, in.Customer, sign*in.Deposit); err != nil {
			return err
		}
	}
	if in.Reserves != 0 {
		meta := tx.Bucket(bucketMeta)
		r := getInt(meta, metaReserves) + sign*in.Reserves
		if r < 0 {
			return fail(protocol.CodeUnavailable, "the bank's reserves at the central bank are short by %d yen", -r)
		}
		return putInt(meta, metaReserves, r)
	}
	return nil
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
	err := b.st.update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketPending).Get([]byte(in.OpID)) == nil {
			_, err := getJSON(tx.Bucket(bucketIntents), in.OpID, in)
			return err
		}
		if lerr == nil {
			in.State, in.Seq, in.Time = intentDone, rc.Seq, rc.Time
			if in.Kind == "redeem" { // the reserves rise only once the CBDC is gone
				in.Reserves = in.Amount
				if err := b.applyBooking(tx, in, 1); err != nil {
					return err
				}
			}
		} else {
			in.State = intentRefused
			if err := b.applyBooking(tx, in, -1); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bucketPending).Delete([]byte(in.OpID)); err != nil {
			return err
		}
		return putJSON(tx.Bucket(bucketIntents), in.OpID, in)
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
	var pending []*intentRec
	err := b.st.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPending).ForEach(func(k, _ []byte) error {
			in := new(intentRec)
			if _, err := getJSON(tx.Bucket(bucketIntents), string(k), in); err != nil {
				return err
			}
			pending = append(pending, in)
			return nil
		})
	})
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
	in, found, err := b.intent(in.OpID)
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
