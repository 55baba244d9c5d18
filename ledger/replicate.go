package ledger

import (
	"sync/atomic"
	"time"
)

// A replicated ledger runs on every replica of a consensus group. Its
// leader sequences operations as a lone ledger does, but its committer
// hands each group commit to the Replicator instead of writing it: the
// batch is one consensus entry, so replication costs one round per batch,
// not per operation. Every replica, the leader included, writes the entry
// to its own journal through Apply, checking that it extends its hash
// chain, so the journals are the same record for record. An operation is
// answered only once its entry is held by a majority and applied here.
//
// A replica that is not the leader refuses operations with ErrNotLeader,
// and so does a leader that loses its leadership while an operation is in
// flight: its outcome is then in doubt, and asking the new leader again
// under the same id finds out without applying it twice.

// Replicator carries a group commit to the ledger's replicas.
type Replicator interface {
	// Replicate returns once entry is held durably by a majority of the
	// replicas and this replica has applied it (through Ledger.Apply), or
	// with an error when that is not known: the replica lost its
	// leadership, or its consensus stopped.
	Replicate(entry []byte) error
}

// ErrNotLeader means the replica asked is not the leader of a replicated
// ledger, or stopped being it while the operation was in flight. The
// operation may have been applied; ask the leader under the same id.
var ErrNotLeader = &Error{"not_leader", "this replica is not the ledger's leader; ask the leader again under the same operation id"}

const entryVersion = 1

// replication is a replicated ledger's side of the pipeline.
type replication struct {
	rep     Replicator
	leading atomic.Bool
	epoch   atomic.Uint64    // moves at every change of leadership
	leads   chan chan uint64 // Lead's requests to the sequencer
}

// Replicated reports whether the ledger is one replica of a group.
func (l *Ledger) Replicated() bool { return l.repl.rep != nil }

// Leading reports whether a replicated ledger takes operations now.
func (l *Ledger) Leading() bool { return l.repl.rep != nil && l.repl.leading.Load() }

// Lead makes this replica take operations, sequencing from its read view.
// The caller must first have this replica apply every entry committed
// before its leadership (a consensus barrier), so the view is complete.
func (l *Ledger) Lead() {
	if l.repl.rep == nil {
		return
	}
	done := make(chan uint64)
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return
	}
	l.repl.leads <- done
	l.mu.RUnlock()
	<-done
}

// Follow stops this replica taking operations: those not yet answered
// are answered ErrNotLeader. It is safe to call at any time, from any
// goroutine.
func (l *Ledger) Follow() {
	if l.repl.rep == nil {
		return
	}
	if l.repl.leading.Swap(false) {
		l.repl.epoch.Add(1)
		l.log.Info("ledger replica follows")
	}
}

// lead runs on the sequencer: the working state starts again from the
// read view, and batches of an earlier leadership are failed by the
// committer, whose epoch no longer matches.
func (l *Ledger) lead() {
	l.viewMu.RLock()
	l.work = l.view.cloneWithOps()
	l.viewMu.RUnlock()
	l.repl.epoch.Add(1)
	l.repl.leading.Store(true)
	l.log.Info("ledger replica leads", "seq", l.work.seq)
}

// sequencing says whether a request may be sequenced into b.
func (l *Ledger) sequencing(b *batch) bool {
	return l.repl.rep == nil || l.repl.leading.Load() && b.epoch == l.repl.epoch.Load()
}

// replicate hands a batch to the replicas; nil once it is applied here.
func (l *Ledger) replicate(b *batch) error {
	if b.epoch != l.repl.epoch.Load() || !l.repl.leading.Load() {
		return ErrNotLeader
	}
	if len(b.chunks) == 0 {
		return nil
	}
	start := time.Now()
	if err := l.repl.rep.Replicate(encodeEntry(b)); err != nil {
		l.Follow()
		return broken(ErrNotLeader, "%v", err)
	}
	if on := l.onCommit; on != nil {
		on(len(b.recs), b.bytes, time.Since(start))
	}
	return nil
}

// An entry is its version, the hash of its last record (so a replica
// checks the whole entry, its last record too, before it writes it) and
// the batch's chunks, which hold the encoded records one after another.
func encodeEntry(b *batch) []byte {
	n := 1 + len(b.head)
	for _, c := range b.chunks {
		n += len(c)
	}
	out := make([]byte, 0, n)
	out = append(out, entryVersion)
	out = append(out, b.head[:]...)
	for _, c := range b.chunks {
		out = append(out, c...)
	}
	return out
}

// Apply writes one replicated group commit to this replica's journal and
// read view. Records this replica holds already (the consensus log is
// replayed from its last snapshot after a restart) are passed over; a
// record that does not extend the journal's hash chain is refused as
// corrupt, and so is an entry after a failed write.
func (l *Ledger) Apply(entry []byte) error {
	if len(entry) < 33 || entry[0] != entryVersion {
		return broken(ErrCorrupt, "replicated entry of unknown version or cut short")
	}
	last := [32]byte(entry[1:33])
	if err := l.failed(); err != nil {
		return err
	}
	l.viewMu.RLock()
	seq, head := l.view.seq, l.view.head
	l.viewMu.RUnlock()
	b := &batch{}
	err := eachRecord(entry[33:], func(enc []byte) error {
		s := peekSeq(enc)
		if s < seq && len(b.recs) == 0 {
			return nil // held already
		}
		if s == seq && len(b.recs) == 0 {
			if recordHash(enc) != head {
				return broken(ErrCorrupt, "replicated record %d differs from this replica's record %d", s, s)
			}
			return nil
		}
		r, err := decodeRecord(enc)
		if err != nil {
			return err
		}
		if r.seq != seq+1 || r.prev != head {
			return broken(ErrCorrupt, "replicated record %d does not follow record %d of this replica's journal", r.seq, seq)
		}
		b.add(r.seq, enc)
		b.recs = append(b.recs, r)
		seq, head = r.seq, recordHash(enc)
		return nil
	})
	if err != nil || len(b.recs) == 0 {
		return err
	}
	if head != last {
		return broken(ErrCorrupt, "replicated entry ending at record %d does not hash to the leader's head", seq)
	}
	b.head = head
	// The rules are checked on the view before the journal is written: a
	// record the leader's rules admitted and this replica's refuse means
	// the entry was damaged on its way, and this replica stops rather
	// than keep a journal that differs from the others'.
	events, err := l.toView(b)
	if err != nil {
		l.fail(broken(ErrCorrupt, "replicated record refused by this replica's rules: %v", err))
		return l.failed()
	}
	if err := appendChunks(l.db, b.keys, b.chunks, seq, head); err != nil {
		l.fail(err)
		return l.failed()
	}
	if events != nil {
		l.subs.send(events)
	}
	l.durable.notify()
	l.noteCommitted(b)
	return nil
}
