package ledger

import "sync"

// Subscription delivers committed operations in journal order. A
// subscriber that lets its buffer fill is dropped rather than slowing the
// ledger: C is closed and Err returns ErrSlowSubscriber. Events are shared
// between subscribers: treat them, and their Transfers, as read-only.
type Subscription struct {
	C <-chan Event

	c    chan Event
	subs *subscribers
	err  error // set before c is closed
}

// Err says why C was closed: nil after Close or the ledger's Close,
// ErrSlowSubscriber when the subscriber fell behind.
func (s *Subscription) Err() error {
	s.subs.mu.Lock()
	defer s.subs.mu.Unlock()
	return s.err
}

// Close ends the subscription and closes C.
func (s *Subscription) Close() { s.subs.remove(s, nil) }

// MaxSubscriberBuffer bounds the events a subscription buffers.
const MaxSubscriberBuffer = 1 << 20

// Subscribe delivers every operation committed from now on, buffering up
// to buffer events (1 to MaxSubscriberBuffer).
func (l *Ledger) Subscribe(buffer int) *Subscription {
	c := make(chan Event, min(max(buffer, 1), MaxSubscriberBuffer))
	s := &Subscription{C: c, c: c, subs: &l.subs}
	l.subs.mu.Lock()
	defer l.subs.mu.Unlock()
	if l.subs.closed {
		close(c)
		return s
	}
	if l.subs.set == nil {
		l.subs.set = make(map[*Subscription]struct{})
	}
	l.subs.set[s] = struct{}{}
	return s
}

type subscribers struct {
	mu     sync.Mutex // protects the fields below and sends on every C
	set    map[*Subscription]struct{}
	closed bool
}

func (ss *subscribers) active() bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return len(ss.set) > 0
}

func (ss *subscribers) send(events []Event) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for s := range ss.set {
		for _, e := range events {
			select {
			case s.c <- e:
			default:
				ss.drop(s, ErrSlowSubscriber)
			}
			if _, ok := ss.set[s]; !ok {
				break
			}
		}
	}
}

func (ss *subscribers) remove(s *Subscription, err error) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.drop(s, err)
}

// drop closes one subscription; ss.mu must be held.
func (ss *subscribers) drop(s *Subscription, err error) {
	if _, ok := ss.set[s]; !ok {
		return
	}
	delete(ss.set, s)
	s.err = err
	close(s.c)
}

func (ss *subscribers) closeAll() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for s := range ss.set {
		ss.drop(s, nil)
	}
	ss.closed = true
}
