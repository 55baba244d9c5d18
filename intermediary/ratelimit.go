package intermediary

import "time"

// tokenBucket is spent one token an event and refilled at a rate, up to
// a burst. It holds only what moves: the terms are the bank's, passed to
// take, so the bank's one for every wallet stays small.
type tokenBucket struct {
	tokens  float64
	last    int64 // unix nanoseconds of the last take
	started bool  // a take has set tokens and last
}

// take spends a token if one is left, rate a second on average and burst
// at once. It starts full, and a clock that steps back refills nothing.
func (t *tokenBucket) take(now time.Time, rate, burst float64) bool {
	at := now.UnixNano()
	switch {
	case !t.started:
		t.tokens, t.last, t.started = burst, at, true
	case at > t.last:
		t.tokens = min(burst, t.tokens+float64(at-t.last)/1e9*rate)
		t.last = at
	}
	if t.tokens < 1 {
		return false
	}
	t.tokens--
	return true
}

// allow spends one of the wallet's instruction tokens under the bank's
// rate and burst.
func (w *Wallet) allow(now time.Time, rate, burst float64) bool {
	w.setMu.Lock()
	defer w.setMu.Unlock()
	return w.rate.take(now, rate, burst)
}

// allowRegister spends one of an address's registration tokens.
func (b *Bank) allowRegister(addr string) bool {
	b.regMu.Lock()
	defer b.regMu.Unlock()
	if len(b.regRate) > 100_000 { // forget idle addresses rather than grow without end
		b.regRate = nil
	}
	if b.regRate == nil {
		b.regRate = map[string]*tokenBucket{}
	}
	t := b.regRate[addr]
	if t == nil {
		t = &tokenBucket{}
		b.regRate[addr] = t
	}
	n := float64(b.cfg.RegistrationsPerMinute)
	return t.take(b.now(), n/60, n)
}
