package ledger

import "sync"

// wakeup lets any number of goroutines wait for the next occurrence of
// something. wait hands out a channel that the next wake closes. The
// channel is made only when someone waits, so a wake with no waiters
// allocates nothing. The owner's mutex guards it.
type wakeup struct {
	ch chan struct{} // nil while no one waits
}

func (w *wakeup) wait() <-chan struct{} {
	if w.ch == nil {
		w.ch = make(chan struct{})
	}
	return w.ch
}

func (w *wakeup) wake() {
	if w.ch != nil {
		close(w.ch)
		w.ch = nil
	}
}

// commitSignal wakes feeds waiting at the head of the journal. The
// committer calls notify after each durable commit: one uncontended lock,
// and nothing allocated unless a feed is waiting.
type commitSignal struct {
	mu     sync.Mutex // protects the fields below
	next   wakeup
	closed bool
}

// wait returns a channel closed at the next durable commit or at close,
// or reports that the ledger is closed. Take it before looking at the head,
// so a commit in between is not missed.
func (s *commitSignal) wait() (<-chan struct{}, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, true
	}
	return s.next.wait(), false
}

func (s *commitSignal) notify() {
	s.mu.Lock()
	s.next.wake()
	s.mu.Unlock()
}

// close wakes every waiter for the last time; later waits report closed.
func (s *commitSignal) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.next.wake()
}

func (s *commitSignal) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}
