// Package loglimit keeps a fault from filling the disk with the same log
// line.
package loglimit

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Limiter keeps a fault from filling the disk with the same line: of
// each cause it writes the first line, holds back the ones that follow
// for a period, and then writes the latest of them with the count of the
// others (more_like_this=N within=10s), so an outage costs a line per
// cause per period however many requests meet it. Every line written
// stands for itself and its more_like_this.
type Limiter struct {
	log    *slog.Logger
	period time.Duration
	now    func() time.Time

	mu     sync.Mutex // protects causes
	causes map[string]*logCause
}

// logCause is one cause's current period.
type logCause struct {
	until time.Time // when the period ends
	held  int       // lines held back in it
	last  logLine   // the latest of them
}

type logLine struct {
	level slog.Level
	msg   string
	args  []any
}

// New writes to log, at most one line per cause per period.
func New(log *slog.Logger, period time.Duration, now func() time.Time) *Limiter {
	return &Limiter{log: log, period: period, now: now, causes: map[string]*logCause{}}
}

// Logf writes a line of cause, or holds it back when one of that cause was
// written less than a period ago. A line written after a period with
// lines held back carries their count.
func (l *Limiter) Logf(level slog.Level, cause, msg string, args ...any) {
	if !l.log.Enabled(context.Background(), level) {
		return
	}
	now := l.now()
	l.mu.Lock()
	c := l.causes[cause]
	if c != nil && now.Before(c.until) {
		c.held++
		c.last = logLine{level, msg, args}
		l.mu.Unlock()
		return
	}
	held := 0
	if c != nil {
		held = c.held
	}
	l.causes[cause] = &logCause{until: now.Add(l.period)}
	l.mu.Unlock()
	if held > 0 {
		args = append(args, "more_like_this", held, "within", l.period)
	}
	l.log.Log(context.Background(), level, msg, args...)
}

// Flush writes, for each cause whose period has ended with lines held
// back, the latest of them with the count of the others, and starts a new
// period; a
// cause whose period ended quietly is forgotten. Called every second or
// so, it reports a fault that has stopped without waiting for it to
// happen again.
func (l *Limiter) Flush() {
	now := l.now()
	var out []logLine
	l.mu.Lock()
	for cause, c := range l.causes {
		switch {
		case now.Before(c.until):
		case c.held == 0:
			delete(l.causes, cause)
		default:
			line := c.last // stands for itself and the others held back
			if c.held > 1 {
				line.args = append(line.args[:len(line.args):len(line.args)], "more_like_this", c.held-1, "within", l.period)
			}
			out = append(out, line)
			l.causes[cause] = &logCause{until: now.Add(l.period)}
		}
	}
	l.mu.Unlock()
	for _, line := range out {
		l.log.Log(context.Background(), line.level, line.msg, line.args...)
	}
}

// EveryFew lets an event through at most once per period, so a flood
// cannot flood the log too.
type EveryFew struct {
	Period time.Duration
	mu     sync.Mutex
	last   time.Time
}

// Allow reports whether an event at now may be logged.
func (e *EveryFew) Allow(now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.last.IsZero() && now.Sub(e.last) < e.Period {
		return false
	}
	e.last = now
	return true
}
