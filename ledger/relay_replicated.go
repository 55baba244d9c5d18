package ledger

import (
	"bytes"
	"encoding/binary"
	"time"
)

// A replicated ledger's relay: the leader checks a send as a lone ledger
// does, then proposes it as one entry, and every replica puts it in its
// own mailbox when the entry is applied, refusing alike when the mailbox
// is full. A receive proposes the number of the last message it takes, so
// every replica drops the same messages. A receipt whose entry is in
// doubt still hands its messages over; if the entry never commits, the
// next leader delivers them again (at least once, never lost). The Raft log is replayed into empty mailboxes
// when a replica starts, so the mailboxes survive restarts too.

// relayEntryKind starts a relay entry; a journal entry starts with its
// version, a settlement index entry with 'S'.
const relayEntryKind = 'R'

const (
	relaySend = 1 // mailbox, to, from, time, body
	relayTake = 2 // mailbox, through: the number of the last message taken
)

func (l *Ledger) replicateSend(n uint32, to AccountID, m Message) error {
	if !l.Leading() {
		return ErrNotLeader
	}
	e := []byte{relayEntryKind, relaySend}
	e = binary.BigEndian.AppendUint32(e, n)
	e = appendString(e, string(to))
	e = appendString(e, string(m.From))
	e = binary.BigEndian.AppendUint64(e, uint64(m.Time.UnixNano()))
	e = append(e, m.Body...)
	return l.replicateEntry(e)
}

// replicateTake takes up to max messages from mailbox n once a majority
// holds that they are taken; receivers of one mailbox take in turn, so
// none is handed the same message twice by one leader.
func (l *Ledger) replicateTake(n uint32, max int) ([]Message, <-chan struct{}, error) {
	if !l.Leading() {
		return nil, nil, ErrNotLeader
	}
	r := &l.relay
	r.takeMu.Lock()
	defer r.takeMu.Unlock()
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, nil, ErrClosed
	}
	b := r.box(n)
	if len(b.msgs) == 0 {
		ch := b.arrived.wait()
		r.mu.Unlock()
		return nil, ch, nil
	}
	k := min(max, len(b.msgs))
	out := append([]Message(nil), b.msgs[:k]...)
	through := b.taken + uint64(k)
	r.mu.Unlock()
	e := []byte{relayEntryKind, relayTake}
	e = binary.BigEndian.AppendUint32(e, n)
	e = binary.BigEndian.AppendUint64(e, through)
	if err := l.replicateEntry(e); err != nil && OutcomeOf(err) == Refused {
		return nil, nil, err
	}
	// Delivered even when the receipt is in doubt: had it committed
	// unanswered, the messages would be gone from every mailbox and lost
	// to a caller told to ask again. If it did not commit, the next
	// leader delivers them again: at least once.
	return out, nil, nil
}

// replicateEntry carries an entry that is not a journal batch (a relay
// or key registry change) to the replicas: a rule's refusal stands, any
// other failure leaves it in doubt (not_leader).
func (l *Ledger) replicateEntry(e []byte) error {
	err := l.repl.rep.Replicate(e)
	if err != nil && OutcomeOf(err) != Refused {
		return broken(ErrNotLeader, "%v", err)
	}
	return err
}

// applyRelay applies a committed relay entry to this replica's mailboxes.
func (l *Ledger) applyRelay(e []byte) error {
	bad := broken(ErrCorrupt, "replicated relay entry cut short or of an unknown kind")
	if len(e) < 2+4 {
		return bad
	}
	kind, n, rest := e[1], binary.BigEndian.Uint32(e[2:6]), e[6:]
	r := &l.relay
	switch kind {
	case relaySend:
		to, rest, ok := readString(rest)
		from, rest, ok2 := readString(rest)
		if !ok || !ok2 || len(rest) < 8 {
			return bad
		}
		at := time.Unix(0, int64(binary.BigEndian.Uint64(rest))).UTC()
		return r.put(n, AccountID(to), Message{From: AccountID(from), Time: at, Body: bytes.Clone(rest[8:])})
	case relayTake:
		if len(rest) != 8 {
			return bad
		}
		through := binary.BigEndian.Uint64(rest)
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.closed {
			return ErrClosed
		}
		b := r.box(n)
		if through > b.taken {
			b.drop(int(min(through-b.taken, uint64(len(b.msgs)))))
		}
		return nil
	}
	return bad
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func readString(b []byte) (string, []byte, bool) {
	if len(b) < 2 {
		return "", nil, false
	}
	n := int(binary.BigEndian.Uint16(b))
	if len(b) < 2+n {
		return "", nil, false
	}
	return string(b[2 : 2+n]), b[2+n:], true
}
