package ledger

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// A replicated ledger's snapshot holds the relay's mailboxes beside the
// journal: the Raft log before a snapshot is compacted away, so the sends
// and receipts in it can no longer be replayed into the mailboxes.

const relaySnapshotVersion = 1

// RelaySnapshot is the relay's mailboxes at one point.
type RelaySnapshot struct{ boxes []boxCopy }

type boxCopy struct {
	n     uint32
	taken uint64
	msgs  []Message // bodies shared: a stored body is never changed
}

// SnapshotRelay copies the mailboxes as they are now; a replica calls it
// between two entries, so the copy is the state the entries so far made.
func (l *Ledger) SnapshotRelay() *RelaySnapshot {
	r := &l.relay
	r.mu.Lock()
	defer r.mu.Unlock()
	s := &RelaySnapshot{}
	for n, b := range r.boxes {
		if len(b.msgs) == 0 && b.taken == 0 {
			continue
		}
		s.boxes = append(s.boxes, boxCopy{n: n, taken: b.taken, msgs: append([]Message(nil), b.msgs...)})
	}
	return s
}

// WriteTo writes the copy.
func (s *RelaySnapshot) WriteTo(w io.Writer) (int64, error) {
	bw := bufio.NewWriter(w)
	buf := []byte{relaySnapshotVersion}
	buf = binary.AppendUvarint(buf, uint64(len(s.boxes)))
	for _, b := range s.boxes {
		buf = binary.BigEndian.AppendUint32(buf, b.n)
		buf = binary.BigEndian.AppendUint64(buf, b.taken)
		buf = binary.AppendUvarint(buf, uint64(len(b.msgs)))
		for _, m := range b.msgs {
			buf = appendString(buf, string(m.From))
			buf = binary.BigEndian.AppendUint64(buf, uint64(m.Time.UnixNano()))
			buf = binary.AppendUvarint(buf, uint64(len(m.Body)))
			if _, err := bw.Write(buf); err != nil {
				return 0, err
			}
			if _, err := bw.Write(m.Body); err != nil {
				return 0, err
			}
			buf = buf[:0]
		}
	}
	if _, err := bw.Write(buf); err != nil {
		return 0, err
	}
	return 0, bw.Flush()
}

// StagedRelay is a snapshot's mailboxes read and checked, not yet the
// relay's.
type StagedRelay struct {
	l     *Ledger
	boxes map[uint32]*mailbox
}

var errRelaySnapshot = errors.New("ledger: relay snapshot")

// StageRelay reads a snapshot's mailboxes, refusing one that is cut short
// or breaks the relay's bounds; the relay is not changed.
func (l *Ledger) StageRelay(rd io.Reader) (*StagedRelay, error) {
	r := bufio.NewReader(rd)
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", errRelaySnapshot, fmt.Sprintf(format, a...))
	}
	v, err := r.ReadByte()
	if err != nil {
		return nil, bad("cut short")
	}
	if v != relaySnapshotVersion {
		return nil, bad("version %d, this build reads %d", v, relaySnapshotVersion)
	}
	nboxes, err := binary.ReadUvarint(r)
	if err != nil || nboxes > 1<<32 {
		return nil, bad("cut short in its count of mailboxes")
	}
	s := &StagedRelay{l: l, boxes: map[uint32]*mailbox{}}
	var fixed [12]byte
	for range nboxes {
		if _, err := io.ReadFull(r, fixed[:]); err != nil {
			return nil, bad("cut short in a mailbox")
		}
		n := binary.BigEndian.Uint32(fixed[:4])
		if s.boxes[n] != nil {
			return nil, bad("mailbox %d twice", n)
		}
		b := &mailbox{taken: binary.BigEndian.Uint64(fixed[4:])}
		count, err := binary.ReadUvarint(r)
		if err != nil || count > MaxMailbox {
			return nil, bad("mailbox %d holds more than %d messages, or is cut short", n, MaxMailbox)
		}
		for range count {
			m, err := readSnapshotMessage(r)
			if err != nil {
				return nil, bad("mailbox %d: %v", n, err)
			}
			b.msgs = append(b.msgs, m)
			b.bytes += len(m.Body)
		}
		if b.bytes > MaxMailboxBytes {
			return nil, bad("mailbox %d holds %d bytes, over %d", n, b.bytes, MaxMailboxBytes)
		}
		s.boxes[n] = b
	}
	if _, err := r.ReadByte(); err != io.EOF {
		return nil, bad("bytes follow its mailboxes")
	}
	return s, nil
}

func readSnapshotMessage(r *bufio.Reader) (Message, error) {
	var m Message
	var n [2]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return m, errors.New("cut short in a message")
	}
	from := make([]byte, binary.BigEndian.Uint16(n[:]))
	var at [8]byte
	if _, err := io.ReadFull(r, from); err != nil {
		return m, errors.New("cut short in a message's sender")
	}
	if _, err := io.ReadFull(r, at[:]); err != nil {
		return m, errors.New("cut short in a message's time")
	}
	size, err := binary.ReadUvarint(r)
	if err != nil || size > MaxMessageBytes {
		return m, fmt.Errorf("a message over %d bytes, or cut short", MaxMessageBytes)
	}
	m.From, m.Time, m.Body = AccountID(from), time.Unix(0, int64(binary.BigEndian.Uint64(at[:]))).UTC(), make([]byte, size)
	if _, err := io.ReadFull(r, m.Body); err != nil {
		return m, errors.New("cut short in a message's body")
	}
	return m, nil
}

// Apply makes the snapshot's mailboxes the relay's, waking receivers of
// those that hold messages.
func (s *StagedRelay) Apply() error {
	r := &s.l.relay
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	for n, b := range r.boxes {
		nb := s.boxes[n]
		if nb == nil {
			nb = &mailbox{}
			s.boxes[n] = nb
		}
		nb.arrived = b.arrived // receivers waiting on the old box wait on the new one
	}
	r.boxes = s.boxes
	for _, b := range r.boxes {
		if len(b.msgs) > 0 {
			b.arrived.wake()
		}
	}
	return nil
}

// Discard drops what was staged.
func (s *StagedRelay) Discard() { s.boxes = nil }
