package ledgerhttp

import (
	"errors"
	"testing"
	"time"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) add(d time.Duration)     { c.t = c.t.Add(d) }
func fullWait(d time.Duration) time.Duration { return d } // no jitter: the upper end

func newTestBreaker(c *fakeClock) *breaker {
	return newBreaker(BreakerOptions{Failures: 3, BackoffMin: 100 * time.Millisecond, BackoffMax: time.Second, Now: c.now, Jitter: fullWait})
}

var errDown = errors.New("connection refused")

// mustAdmit lets a call through and says whether it is the probe.
func mustAdmit(t *testing.T, b *breaker, longPoll bool) bool {
	t.Helper()
	probe, wait, ok := b.admit(longPoll)
	if !ok {
		t.Fatalf("a call was refused (wait %s) in state %v", wait, b.state)
	}
	return probe
}

func mustRefuse(t *testing.T, b *breaker, longPoll bool, wantWait time.Duration) {
	t.Helper()
	if _, wait, ok := b.admit(longPoll); ok || wait != wantWait {
		t.Fatalf("admit = ok %v, wait %s; want refused with wait %s", ok, wait, wantWait)
	}
}

func TestBreaker_OpensAfterFailuresInARow(t *testing.T) {
	c := &fakeClock{t: time.Unix(1000, 0)}
	b := newTestBreaker(c)
	for i := range 2 {
		mustAdmit(t, b, false)
		if opened, _ := b.done(false, failed, errDown); opened {
			t.Fatalf("opened after %d failures, want 3", i+1)
		}
	}
	// An answer in between starts the count again.
	mustAdmit(t, b, false)
	b.done(false, answered, nil)
	for i := range 3 {
		mustAdmit(t, b, false)
		opened, _ := b.done(false, failed, errDown)
		if opened != (i == 2) {
			t.Fatalf("failure %d after an answer: opened = %v", i+1, opened)
		}
	}
	mustRefuse(t, b, false, 100*time.Millisecond)
	if st, _, cause, wait := b.status(); st != CircuitOpen || cause != errDown || wait != 100*time.Millisecond {
		t.Errorf("status = %v, %v, %s; want open by %v for 100ms", st, cause, wait, errDown)
	}
}

func TestBreaker_DeadlineOpensAtOnce(t *testing.T) {
	c := &fakeClock{t: time.Unix(1000, 0)}
	b := newTestBreaker(c)
	mustAdmit(t, b, false)
	if opened, _ := b.done(false, timedOut, errDown); !opened {
		t.Fatal("a call that ran out of time did not open the circuit")
	}
	mustRefuse(t, b, false, 100*time.Millisecond)
}

// The caller giving up says nothing about the ledger.
func TestBreaker_AbandonedCallsCountForNothing(t *testing.T) {
	c := &fakeClock{t: time.Unix(1000, 0)}
	b := newTestBreaker(c)
	for range 10 {
		mustAdmit(t, b, false)
		b.done(false, abandoned, nil)
	}
	if st, _, _, _ := b.status(); st != CircuitClosed {
		t.Fatalf("state %v after abandoned calls, want closed", st)
	}
	// An abandoned probe lets the next call probe at once.
	mustAdmit(t, b, false)
	b.done(false, timedOut, errDown)
	c.add(100 * time.Millisecond)
	if !mustAdmit(t, b, false) {
		t.Fatal("the first call after the backoff is not the probe")
	}
	b.done(true, abandoned, nil)
	if !mustAdmit(t, b, false) {
		t.Fatal("the call after an abandoned probe is not a probe")
	}
}

// A specification of the breaker's life through an outage: the steps
// and what each call meets.
func TestBreaker_HalfOpenProbeAndBackoff(t *testing.T) {
	c := &fakeClock{t: time.Unix(1000, 0)}
	b := newTestBreaker(c)
	mustAdmit(t, b, false)
	b.done(false, timedOut, errDown) // open for 100ms

	c.add(99 * time.Millisecond)
	mustRefuse(t, b, false, 50*time.Millisecond) // at least half the smallest backoff is hinted
	c.add(time.Millisecond)
	mustRefuse(t, b, true, 50*time.Millisecond) // a long poll is never the probe
	if !mustAdmit(t, b, false) {
		t.Fatal("the first call after the backoff is not the probe")
	}
	if st, _, _, _ := b.status(); st != CircuitHalfOpen {
		t.Fatalf("state %v with the probe out, want half-open", st)
	}
	mustRefuse(t, b, false, 50*time.Millisecond) // one probe at a time

	// Failed probes double the backoff up to its cap: 200, 400, 800, 1000, 1000ms.
	for _, want := range []time.Duration{200, 400, 800, 1000, 1000} {
		b.done(true, failed, errDown)
		want *= time.Millisecond
		if _, _, _, wait := b.status(); wait != want {
			t.Fatalf("backoff after a failed probe = %s, want %s", wait, want)
		}
		c.add(want)
		if !mustAdmit(t, b, false) {
			t.Fatal("no probe after the backoff")
		}
	}
	// The probe is answered: closed, and the backoff starts small again.
	if _, closed := b.done(true, answered, nil); !closed {
		t.Fatal("an answered probe did not close the circuit")
	}
	mustAdmit(t, b, true)
	mustAdmit(t, b, false)
	b.done(false, timedOut, errDown)
	if _, _, _, wait := b.status(); wait != 100*time.Millisecond {
		t.Errorf("backoff after closing and opening again = %s, want 100ms", wait)
	}
}

// A call let through before the circuit opened and answered after it
// shows the ledger is there: the circuit closes. One that fails then
// changes nothing.
func TestBreaker_LateCalls(t *testing.T) {
	c := &fakeClock{t: time.Unix(1000, 0)}
	b := newTestBreaker(c)
	mustAdmit(t, b, false)
	mustAdmit(t, b, false)
	mustAdmit(t, b, false)
	b.done(false, timedOut, errDown)
	if opened, _ := b.done(false, timedOut, errDown); opened {
		t.Error("a late failure opened the circuit again")
	}
	if _, _, _, wait := b.status(); wait != 100*time.Millisecond {
		t.Errorf("a late failure moved the backoff: %s", wait)
	}
	if _, closed := b.done(false, answered, nil); !closed {
		t.Error("a late answer did not close the circuit")
	}
}

func TestBreaker_JitterStaysInTheUpperHalf(t *testing.T) {
	for range 1000 {
		if d := upperHalf(time.Second); d < 500*time.Millisecond || d > time.Second {
			t.Fatalf("upperHalf(1s) = %s", d)
		}
	}
}
