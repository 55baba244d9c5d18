package intermediary

import (
	"testing"
	"time"
)

// A wallet's bucket starts full at the burst, refills at the rate, never
// above the burst, and a clock that steps back refills nothing (the
// bucket keeps nanoseconds, not the monotonic reading a time.Time has).
func TestTokenBucket_RefillsAtTheRateUpToTheBurst(t *testing.T) {
	var w Wallet
	t0 := time.Unix(0, 0) // a clock at the epoch is a clock like any other
	allowed := 0
	for range 10 {
		if w.allow(t0, 2, 5) {
			allowed++
		}
	}
	if allowed != 5 {
		t.Fatalf("%d of 10 at once allowed, want the burst, 5", allowed)
	}
	if w.allow(t0.Add(-time.Hour), 2, 5) {
		t.Error("allowed after the clock stepped back an hour with the bucket empty")
	}
	if !w.allow(t0.Add(500*time.Millisecond), 2, 5) || w.allow(t0.Add(500*time.Millisecond), 2, 5) {
		t.Error("half a second at 2 a second should refill one token, no more")
	}
	allowed = 0
	for range 10 {
		if w.allow(t0.Add(time.Hour), 2, 5) {
			allowed++
		}
	}
	if allowed != 5 {
		t.Errorf("after an hour, %d allowed at once, want the burst, 5", allowed)
	}
}
