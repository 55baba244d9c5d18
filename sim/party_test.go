package sim

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// A request the bank answers "nothing decided" is made again under the
// same id, after the wait the answer names; any other answer, and a
// caller giving up, end it at once with what the bank said last.
func TestAskAgain(t *testing.T) {
	unavailable := &protocol.Error{Code: protocol.CodeUnavailable, Message: "ledger: leadership lost while committing", RetryAfterMS: 150}
	busy := &protocol.Error{Code: protocol.CodeBusy, Message: "too many in flight"}
	refused := &protocol.Error{Code: protocol.CodeInsufficientFunds, Message: "no"}
	broken := errors.New("connection reset")
	for _, c := range []struct {
		name    string
		answers []error
		calls   int
		want    error
		atLeast time.Duration
	}{
		{"made once", []error{nil}, 1, nil, 0},
		{"through an election", []error{unavailable, busy, unavailable, nil}, 4, nil, 150 + 200 + 400},
		{"a refusal is final", []error{unavailable, refused, nil}, 2, refused, 150},
		{"a broken connection is final", []error{broken, nil}, 1, broken, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			calls := 0
			start := time.Now()
			err := askAgain(context.Background(), func() error {
				calls++
				return c.answers[calls-1]
			})
			if err != c.want || calls != c.calls {
				t.Errorf("%d requests answered %v, want %d and %v", calls, err, c.calls, c.want)
			}
			if took := time.Since(start); took < c.atLeast*time.Millisecond {
				t.Errorf("asked again after %v in all, sooner than the %v the answers named", took, c.atLeast*time.Millisecond)
			}
		})
	}

	t.Run("the caller gives up", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		calls := 0
		err := askAgain(ctx, func() error {
			calls++
			if calls == 2 {
				cancel()
			}
			return unavailable
		})
		if err != unavailable || calls != 2 {
			t.Errorf("%d requests answered %v, want 2 and the last answer", calls, err)
		}
	})
}
