package ledgerhttp

import (
	"math/rand/v2"
	"sync"
	"time"
)

// Defaults of a client's circuit breaker (see BreakerOptions).
const (
	DefaultBreakerFailures = 3
	DefaultBackoffMin      = 250 * time.Millisecond
	DefaultBackoffMax      = 3 * time.Second
)

// BreakerOptions tune a client's circuit breaker. The zero value takes the
// defaults.
type BreakerOptions struct {
	// Failures is how many calls in a row must fail to reach the ledger
	// before the circuit opens. A call whose deadline passes opens it at
	// once: the next caller should not wait out the same deadline.
	Failures int
	// BackoffMin is the first wait before a probe; each failed probe
	// doubles it, up to BackoffMax. Each wait is drawn at random from
	// its upper half, so banks that lost the same ledger do not come
	// back in step.
	BackoffMin, BackoffMax time.Duration

	Now    func() time.Time                    // time.Now when nil
	Jitter func(d time.Duration) time.Duration // a wait in [d/2, d]; random when nil
}

// CircuitState is where a client's circuit breaker stands.
type CircuitState int

const (
	// CircuitClosed lets every call go to the ledger.
	CircuitClosed CircuitState = iota
	// CircuitOpen fails calls at once, without touching the network,
	// until its backoff has passed.
	CircuitOpen
	// CircuitHalfOpen lets one call through as a probe; the others fail
	// at once until it is answered.
	CircuitHalfOpen
)

func (s CircuitState) String() string {
	switch s {
	case CircuitClosed:
		return "closed"
	case CircuitOpen:
		return "open"
	}
	return "half-open"
}

// outcome is what became of a call the breaker let through.
type outcome int

const (
	answered  outcome = iota // the ledger answered, whatever it said
	failed                   // no answer: refused, reset, cut short
	timedOut                 // no answer within the call's own deadline
	abandoned                // the caller gave up first: says nothing of the ledger
)

// breaker is a circuit breaker over the calls to one ledger:
// closed → open after Failures calls in a row got no answer (or one ran
// out of time) → half-open once a jittered backoff has passed, letting one
// probe through → closed when the probe is answered, open again with twice
// the backoff (up to BackoffMax) when it is not. It is only a state
// machine: the caller makes the calls, and time comes from opts.Now.
type breaker struct {
	opts BreakerOptions

	mu      sync.Mutex // protects the fields below
	state   CircuitState
	fails   int           // calls in a row without an answer, while closed
	backoff time.Duration // the wait drawn from for the next opening
	until   time.Time     // while open: when a probe may go
	since   time.Time     // when the circuit last left closed
	cause   error         // the failure that opened the circuit
}

func newBreaker(o BreakerOptions) *breaker {
	if o.Failures <= 0 {
		o.Failures = DefaultBreakerFailures
	}
	if o.BackoffMin <= 0 {
		o.BackoffMin = DefaultBackoffMin
	}
	if o.BackoffMax < o.BackoffMin {
		o.BackoffMax = max(DefaultBackoffMax, o.BackoffMin)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Jitter == nil {
		o.Jitter = upperHalf
	}
	return &breaker{opts: o, backoff: o.BackoffMin}
}

// upperHalf draws a wait at random from [d/2, d].
func upperHalf(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

// admit asks whether a call may go to the ledger now. When it may not,
// wait says how long until one may. A probe's outcome decides whether
// the circuit closes; long polls are never probes, since a healthy
// ledger with nothing to say holds them for many seconds.
func (b *breaker) admit(longPoll bool) (probe bool, wait time.Duration, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case CircuitClosed:
		return false, 0, true
	case CircuitOpen:
		now := b.opts.Now()
		if longPoll || now.Before(b.until) {
			return false, max(b.until.Sub(now), b.opts.BackoffMin/2), false
		}
		b.state = CircuitHalfOpen
		return true, 0, true
	}
	return false, b.opts.BackoffMin / 2, false // half-open: the probe is out
}

// done records what became of an admitted call, and reports whether the
// circuit opened or closed because of it.
func (b *breaker) done(probe bool, o outcome, cause error) (opened, closed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case o == answered:
		// Any answer shows the ledger is there, a late one from before the
		// circuit opened too.
		closed = b.state != CircuitClosed
		b.state, b.fails, b.backoff, b.cause = CircuitClosed, 0, b.opts.BackoffMin, nil
		return false, closed
	case o == abandoned:
		if probe { // nothing learnt: let the next call probe
			b.state, b.until = CircuitOpen, b.opts.Now()
		}
		return false, false
	case probe:
		b.backoff = min(2*b.backoff, b.opts.BackoffMax)
		b.open(cause)
		return false, false
	case b.state != CircuitClosed:
		return false, false // already open: this one set off before it did
	}
	b.fails++
	if o == timedOut || b.fails >= b.opts.Failures {
		b.since = b.opts.Now()
		b.open(cause)
		return true, false
	}
	return false, false
}

// open opens the circuit for a wait drawn from the current backoff.
func (b *breaker) open(cause error) {
	b.state, b.fails, b.cause = CircuitOpen, 0, cause
	b.until = b.opts.Now().Add(b.opts.Jitter(b.backoff))
}

// status is the state, since when the circuit has not been closed, what
// opened it, and how long until a probe may go.
func (b *breaker) status() (state CircuitState, since time.Time, cause error, wait time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == CircuitOpen {
		wait = max(b.until.Sub(b.opts.Now()), 0)
	}
	return b.state, b.since, b.cause, wait
}
