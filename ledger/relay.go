package ledger

import (
	"bytes"
	"context"
	"sync"
	"time"
)

// The central system also passes messages between intermediaries, such as
// a merchant's bank forwarding a request-to-pay to the payer's bank. The
// relay is not part of the journal: mailboxes live in memory. A lone
// ledger loses them when it closes or its process stops; banks that need
// a message to survive resend it, or agree on its effect through a
// journaled operation. A replicated ledger replicates every send and
// every receipt (relay_replicated.go), so its mailboxes survive a
// failover and a restart of the whole group.

const (
	// MaxMessageBytes bounds the body of one message.
	MaxMessageBytes = 64 << 10

	// MaxMailbox bounds the messages waiting in one intermediary's mailbox.
	MaxMailbox = 10_000

	// MaxMailboxBytes bounds the bodies waiting in one mailbox, so that
	// full mailboxes cost the ledger at most this much memory each.
	MaxMailboxBytes = 64 << 20

	// MaxReceive bounds the messages one Receive returns.
	MaxReceive = 1000
)

// Message is a note from one intermediary to another, passed on by the
// central system.
type Message struct {
	From AccountID
	Time time.Time // when the ledger took it
	Body []byte
}

// Send leaves body for intermediary to, which may be the sender itself.
// Bodies are at most MaxMessageBytes (ErrMessageTooLarge); each mailbox
// holds at most MaxMailbox messages and MaxMailboxBytes of bodies, and
// when it is full Send fails with ErrMailboxFull. A recipient that is not
// an open intermediary is refused like an operation's account would be:
// ErrUnknownAccount, ErrWrongKind or ErrAccountClosed.
func (b *Intermediary) Send(ctx context.Context, to AccountID, body []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	dest, err := b.l.route(b.id, to)
	if err != nil {
		return err
	}
	if len(body) > MaxMessageBytes {
		return broken(ErrMessageTooLarge, "%d bytes, at most %d", len(body), MaxMessageBytes)
	}
	m := Message{From: b.id, Time: b.l.now(), Body: bytes.Clone(body)}
	if b.l.Replicated() {
		return b.l.replicateSend(dest, to, m)
	}
	return b.l.relay.put(dest, to, m)
}

// Receive takes up to max messages (MaxReceive when max is not in
// 1..MaxReceive) from the intermediary's mailbox, oldest first, blocking
// until at least one arrives or ctx ends (then it returns ctx.Err()). A
// closed ledger gives ErrClosed, waiting receivers included.
func (b *Intermediary) Receive(ctx context.Context, max int) ([]Message, error) {
	if max <= 0 || max > MaxReceive {
		max = MaxReceive
	}
	n, _, err := b.l.checkBank(b.id)
	if err != nil {
		return nil, err
	}
	for {
		var (
			msgs    []Message
			arrived <-chan struct{}
		)
		if b.l.Replicated() {
			msgs, arrived, err = b.l.replicateTake(n, max)
		} else {
			msgs, arrived, err = b.l.relay.take(n, max)
		}
		if err != nil || len(msgs) > 0 {
			return msgs, err
		}
		select {
		case <-arrived:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// route checks that both ends of a message are open intermediaries and
// returns the recipient's number.
func (l *Ledger) route(from, to AccountID) (uint32, error) {
	l.viewMu.RLock()
	defer l.viewMu.RUnlock()
	if _, err := l.view.openIntermediary(from); err != nil {
		return 0, err
	}
	return l.view.openIntermediary(to)
}

// relay holds every intermediary's mailbox.
type relay struct {
	takeMu sync.Mutex // a replicated ledger's receivers take one at a time
	mu     sync.Mutex // protects the fields below
	boxes  map[uint32]*mailbox
	closed bool
}

type mailbox struct {
	msgs    []Message // oldest first
	bytes   int       // of the bodies in msgs
	arrived wakeup
	taken   uint64 // messages taken so far: msgs[i] is message number taken+1+i, counted from 1 as they arrived
}

func (r *relay) box(n uint32) *mailbox {
	if r.boxes == nil {
		r.boxes = make(map[uint32]*mailbox)
	}
	b := r.boxes[n]
	if b == nil {
		b = &mailbox{}
		r.boxes[n] = b
	}
	return b
}

func (r *relay) put(n uint32, to AccountID, m Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	b := r.box(n)
	if len(b.msgs) >= MaxMailbox || b.bytes+len(m.Body) > MaxMailboxBytes {
		return broken(ErrMailboxFull, "%s has %d messages (%d bytes) waiting", to, len(b.msgs), b.bytes)
	}
	b.msgs = append(b.msgs, m)
	b.bytes += len(m.Body)
	b.arrived.wake()
	return nil
}

// take removes up to max messages from mailbox n, or, when it is empty,
// returns a channel closed when the next message arrives.
func (r *relay) take(n uint32, max int) ([]Message, <-chan struct{}, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, nil, ErrClosed
	}
	b := r.box(n)
	if len(b.msgs) == 0 {
		return nil, b.arrived.wait(), nil
	}
	k := min(max, len(b.msgs))
	out := append([]Message(nil), b.msgs[:k]...)
	b.drop(k)
	return out, nil, nil
}

// drop removes the k oldest messages.
func (b *mailbox) drop(k int) {
	for _, m := range b.msgs[:k] {
		b.bytes -= len(m.Body)
	}
	clear(b.msgs[:k]) // let the bodies go
	b.msgs = b.msgs[k:]
	b.taken += uint64(k)
	if len(b.msgs) == 0 {
		b.msgs = nil
	}
}

// close drops every message and wakes every receiver.
func (r *relay) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	for _, b := range r.boxes {
		b.arrived.wake()
	}
	r.boxes = nil
}
