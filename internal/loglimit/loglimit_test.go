package loglimit

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

type testClock struct{ t time.Time }

func (c *testClock) now() time.Time      { return c.t }
func (c *testClock) add(d time.Duration) { c.t = c.t.Add(d) }

func newTestLimiter() (*Limiter, *bytes.Buffer, *testClock) {
	var buf bytes.Buffer
	clock := &testClock{t: time.Unix(1000, 0)}
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	return New(log, 10*time.Second, clock.now), &buf, clock
}

func lines(buf *bytes.Buffer) []string {
	s := strings.TrimSpace(buf.String())
	buf.Reset()
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// An outage of a minute with a failure every 10 ms, of two causes: the
// log has the first line of each and then one line per cause per period,
// with the count of the lines held back, and nothing is lost from the
// count.
func TestLogLimiter_OneLinePerCausePerPeriod(t *testing.T) {
	l, buf, clock := newTestLimiter()
	counted := map[string]int{}
	for i := range 6000 {
		l.Logf(slog.LevelWarn, "unavailable", "wallet request not completed", "code", "unavailable", "n", i)
		l.Logf(slog.LevelWarn, "feed", "ledger feed failed; retrying")
		clock.add(10 * time.Millisecond)
		if i%100 == 99 {
			l.Flush() // the bank's watcher, every second
		}
	}
	clock.add(10 * time.Second)
	l.Flush()
	got := lines(buf)
	for _, line := range got {
		var n int
		if i := strings.Index(line, "more_like_this="); i >= 0 {
			fmt.Sscanf(line[i:], "more_like_this=%d", &n)
			if !strings.Contains(line, "within=10s") {
				t.Errorf("a summary without its period: %s", line)
			}
		}
		cause := "feed"
		if strings.Contains(line, "wallet request") {
			cause = "unavailable"
		}
		counted[cause] += n + 1
	}
	// 60 s of failures: the first line, then a summary at the end of
	// each of six periods.
	if len(got) != 2*7 {
		t.Errorf("%d lines for a minute of failures of two causes, want 14:\n%s", len(got), strings.Join(got, "\n"))
	}
	if n := counted["unavailable"]; n != 6000 {
		t.Errorf("the lines of one cause count %d failures, want 6000", n)
	}
	if n := counted["feed"]; n != 6000 {
		t.Errorf("the lines of the other cause count %d failures, want 6000", n)
	}
	if !strings.Contains(got[0], "n=0") || strings.Contains(got[0], "more_like_this") {
		t.Errorf("the first line is not the first failure as it was: %s", got[0])
	}
}

func TestLogLimiter_QuietCausesAreForgotten(t *testing.T) {
	l, buf, clock := newTestLimiter()
	l.Logf(slog.LevelWarn, "a", "first")
	clock.add(10 * time.Second)
	l.Flush()
	if len(l.causes) != 0 {
		t.Errorf("a cause with nothing held back was kept after its period: %v", l.causes)
	}
	l.Logf(slog.LevelWarn, "a", "again")
	// Without a flush, a line after the period carries the count.
	l.Logf(slog.LevelWarn, "a", "held")
	l.Logf(slog.LevelWarn, "a", "held")
	clock.add(11 * time.Second)
	l.Logf(slog.LevelWarn, "a", "after")
	// One line held back is written as it was, without a count.
	l.Logf(slog.LevelWarn, "a", "held once")
	clock.add(10 * time.Second)
	l.Flush()
	got := lines(buf)
	want := []string{`level=WARN msg=first`, `level=WARN msg=again`, `level=WARN msg=after more_like_this=2 within=10s`, `level=WARN msg="held once"`}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// Lines below the logger's level are neither written nor counted.
func TestLogLimiter_BelowTheLevel(t *testing.T) {
	l, buf, _ := newTestLimiter()
	l.Logf(slog.LevelDebug, "d", "debug")
	if len(l.causes) != 0 || buf.Len() != 0 {
		t.Errorf("a debug line was kept: %v %q", l.causes, buf.String())
	}
}

func TestEveryFew_LetsOneThroughPerPeriod(t *testing.T) {
	e := EveryFew{Period: 10 * time.Second}
	t0 := time.Unix(1000, 0)
	got := []bool{e.Allow(t0), e.Allow(t0.Add(time.Second)), e.Allow(t0.Add(9 * time.Second)), e.Allow(t0.Add(10 * time.Second))}
	if got[0] != true || got[1] || got[2] || !got[3] {
		t.Errorf("allowed %v, want the first and the one a period later", got)
	}
}
