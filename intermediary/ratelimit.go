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

// allow spends one of the wallet's instruction tokens.
func (w *Wallet) allow(now time.Time) bool {
	w.setMu.Lock()
	defer w.setMu.Unlock()
	return w.rate.take(now)
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
