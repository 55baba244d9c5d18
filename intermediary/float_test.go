package intermediary_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/digital-yen/cbdc-sandbox/intermediary"
	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// losesAnswers applies every float operation at the ledger and then loses
// the next lose answers, as a connection that breaks after the ledger has
// committed would.
type losesAnswers struct {
	intermediary.Ledger
	lose atomic.Int32
}

var errAnswerLost = errors.New("connection reset by peer: the ledger's answer was lost")

func (l *losesAnswers) lost(rc ledger.Receipt, err error) (ledger.Receipt, error) {
	if err == nil && l.lose.Add(-1) >= 0 {
		return ledger.Receipt{}, errAnswerLost
	}
	return rc, err
}

func (l *losesAnswers) Issue(ctx context.Context, opID string, amount int64) (ledger.Receipt, error) {
	return l.lost(l.Ledger.Issue(ctx, opID, amount))
}

func (l *losesAnswers) Redeem(ctx context.Context, opID string, amount int64) (ledger.Receipt, error) {
	return l.lost(l.Ledger.Redeem(ctx, opID, amount))
}

// An operator who asks again under the same request id, after an answer
// was lost, moves the float once: the ledger committed the first try, the
// bank finishes it rather than issue again, and its books do not move.
// Concurrent retries and a restart of the bank change nothing; the same
// id for another move is refused.
func TestBank_MoveFloatOnceByRequestID(t *testing.T) {
	var led *losesAnswers
	n := newTestNet(t, 1, func(c *intermediary.Config) {
		led = &losesAnswers{Ledger: c.Ledger}
		c.Ledger = led
	})
	b := n.banks["bank-1"]
	ctx := context.Background()
	before := status(t, b)

	led.lose.Store(1)
	if _, err := b.MoveFloat(ctx, "redeem", "redeem-0425", 1_000_000); err == nil {
		t.Fatal("the lost answer was not reported")
	}
	after, err := b.MoveFloat(ctx, "redeem", "redeem-0425", 1_000_000)
	if err != nil {
		t.Fatalf("asking again: %v", err)
	}
	if after.Float != before.Float-1_000_000 || after.Reserves != before.Reserves+1_000_000 || after.Books != before.Books {
		t.Errorf("a redemption asked twice: %+v -> %+v; want float down and reserves up 1,000,000 once", before, after)
	}
	again, err := b.MoveFloat(ctx, "redeem", "redeem-0425", 1_000_000)
	if err != nil || again.Float != after.Float || again.Reserves != after.Reserves {
		t.Errorf("a third time: %+v, %v; want nothing more moved", again, err)
	}
	_, err = b.MoveFloat(ctx, "redeem", "redeem-0425", 2_000_000)
	mustCode(t, err, protocol.CodeRequestIDReused)
	_, err = b.MoveFloat(ctx, "issue", "redeem-0425", 1_000_000)
	mustCode(t, err, protocol.CodeRequestIDReused)
	_, err = b.MoveFloat(ctx, "issue", "no spaces", 1_000_000)
	mustCode(t, err, protocol.CodeBadRequestID)

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := b.MoveFloat(ctx, "issue", "issue-0425", 500_000); err != nil {
				t.Errorf("concurrent issue: %v", err)
			}
		})
	}
	wg.Wait()
	if st := status(t, b); st.Float != after.Float+500_000 || st.Books != before.Books {
		t.Errorf("eight tries of one issue: float %d, want %d", st.Float, after.Float+500_000)
	}

	b.srv.Close()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = n.reopenBank("bank-1", b)
	st, err := b.MoveFloat(ctx, "issue", "issue-0425", 500_000)
	if err != nil || st.Float != after.Float+500_000 {
		t.Errorf("the issue asked again after a restart: float %d, %v; want %d", st.Float, err, after.Float+500_000)
	}
}

// A float move the ledger refused used nothing: its request id may carry
// another move.
func TestBank_MoveFloatRefusedIDIsFree(t *testing.T) {
	n := newTestNet(t, 1, nil)
	b := n.banks["bank-1"]
	ctx := context.Background()
	before := status(t, b)
	_, err := b.MoveFloat(ctx, "redeem", "r-0426", before.Float+1)
	mustCode(t, err, protocol.CodeInsufficientFunds)
	after, err := b.MoveFloat(ctx, "redeem", "r-0426", 1_000)
	if err != nil || after.Float != before.Float-1_000 {
		t.Errorf("the id after a refusal: float %d, %v; want %d", after.Float, err, before.Float-1_000)
	}
}
