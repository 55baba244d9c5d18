package intermediary

import "time"

// tokenBucket allows rate events a second on average and burst at once.
type tokenBucket struct {
	rate, burst float64
	tokens      float64
	last        time.Time
}

func (t *tokenBucket) take(now time.Time) bool {
	if t.last.IsZero() {
		t.tokens = t.burst
	} else {
		t.tokens = min(t.burst, t.tokens+now.Sub(t.last).Seconds()*t.rate)
	}
	t.last = now
	if t.tokens < 1 {
		return false
	}
	t.tokens--
	return true
}

// walletRate is a wallet's bucket of instruction tokens: the bank's
// RatePerSecond on average and RateBurst at once. It holds only what
// moves; the terms are the bank's.
type walletRate struct {
	tokens  float64
	last    int64 // unix nanoseconds of the last take
	started bool  // a take has set tokens and last
}

// allow spends one of the wallet's instruction tokens under the bank's
// rate and burst. A clock that steps back refills nothing.
func (w *Wallet) allow(now time.Time, rate, burst float64) bool {
	w.setMu.Lock()
	defer w.setMu.Unlock()
	r, at := &w.rate, now.UnixNano()
	switch {
	case !r.started:
		r.tokens, r.last, r.started = burst, at, true
	case at > r.last:
		r.tokens = min(burst, r.tokens+float64(at-r.last)/1e9*rate)
		r.last = at
	}
	if r.tokens < 1 {
		return false
	}
	r.tokens--
	return true
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
		n := float64(b.cfg.RegistrationsPerMinute)
		t = &tokenBucket{rate: n / 60, burst: n}
		b.regRate[addr] = t
	}
	return t.take(b.now())
}
