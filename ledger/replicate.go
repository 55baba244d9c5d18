package ledger

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
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

// Proposer is a Replicator that orders entries as they are proposed and
// decides them later: Propose returns once entry is queued behind every
// entry proposed before it, and wait returns what Replicate would have.
// A ledger whose Replicator is one keeps up to maxInFlight group commits
// in consensus at once, so that one batch's round to the replicas
// overlaps the applying of the one before it.
type Proposer interface {
	Propose(entry []byte) (wait func() error)
}

// maxInFlight is how many group commits a Proposer's ledger has in
// consensus at once. Two overlap one batch's round with the previous
// batch's apply, which is where the time goes; more split the same load
// into smaller batches, each with a round and fsyncs of its own.
const maxInFlight = 2

// ErrNotLeader means the replica asked is not the leader of a replicated
// ledger, or stopped being it while the operation was in flight. The
// operation may have been applied; ask the leader under the same id.
var ErrNotLeader = &Error{"not_leader", "this replica is not the ledger's leader; ask the leader again under the same operation id"}

const entryVersion = 1

// replication is a replicated ledger's side of the pipeline.
type replication struct {
	rep   Replicator
	leads chan chan uint64 // Lead's requests to the sequencer

	applyMu sync.Mutex // one Apply at a time, and none after Close
	closed  bool       // protected by applyMu

	mu      sync.Mutex  // serialises changes of leading and epoch together
	leading atomic.Bool // read without mu by the sequencer and committer
	epoch   atomic.Uint64

	// proposed are the batches the committer has in consensus, with the
	// entries it proposed: when the same bytes come back to be applied
	// here, their records are applied as they are, not decoded and
	// hashed again.
	proposedMu sync.Mutex
	proposed   []proposal
}

type proposal struct {
	entry []byte
	b     *batch
}

// own returns the proposed batch whose entry is entry's very bytes, as
// the consensus engine hands a leader back its own proposals.
func (r *replication) own(entry []byte) *batch {
	r.proposedMu.Lock()
	defer r.proposedMu.Unlock()
	for _, p := range r.proposed {
		if len(entry) == len(p.entry) && unsafe.SliceData(entry) == unsafe.SliceData(p.entry) {
			return p.b
		}
	}
	return nil
}

func (r *replication) addProposed(entry []byte, b *batch) {
	r.proposedMu.Lock()
	r.proposed = append(r.proposed, proposal{entry, b})
	r.proposedMu.Unlock()
}

func (r *replication) dropProposed(b *batch) {
	r.proposedMu.Lock()
	r.proposed = slices.DeleteFunc(r.proposed, func(p proposal) bool { return p.b == b })
	r.proposedMu.Unlock()
}

// proposeOnly makes a Replicator a Proposer whose Propose decides at once.
type proposeOnly struct{ Replicator }

func (p proposeOnly) Propose(entry []byte) func() error {
	err := p.Replicate(entry)
	return func() error { return err }
}

// errStaleEntry answers an entry that does not extend the journal: it was
// sequenced on a state the group has since left (a proposal of an earlier
// leadership that reached the log late, or one replayed after a restart).
// Every replica refuses it alike and changes nothing; its proposer answers
// its callers not_leader, in doubt, and they ask again.
var errStaleEntry = broken(ErrNotLeader, "the entry does not extend the journal; it was sequenced under an earlier leadership")

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
	if l.repl.rep != nil {
		l.follow(0, nil)
	}
}

// follow stops the leadership of epoch, or any when epoch is 0, so that the
// failure of a batch of an old leadership cannot end a newer one; cause is
// that failure.
func (l *Ledger) follow(epoch uint64, cause error) {
	l.repl.mu.Lock()
	defer l.repl.mu.Unlock()
	if l.repl.leading.Load() && (epoch == 0 || epoch == l.repl.epoch.Load()) {
		l.repl.leading.Store(false)
		l.repl.epoch.Add(1)
		if cause != nil {
			l.log.Warn("ledger replica follows: a batch it proposed failed", "err", cause)
		} else {
			l.log.Info("ledger replica follows")
		}
	}
}

// lead runs on the sequencer: the working state starts again from the
// read view, and batches of an earlier leadership are failed by the
// committer, whose epoch no longer matches.
func (l *Ledger) lead() {
	l.viewMu.RLock()
	l.work = l.view.cloneWithOps()
	l.viewMu.RUnlock()
	l.repl.mu.Lock()
	l.repl.epoch.Add(1)
	l.repl.leading.Store(true)
	l.repl.mu.Unlock()
	l.log.Info("ledger replica leads", "seq", l.work.seq)
}

// sequencing says whether a request may be sequenced into b.
func (l *Ledger) sequencing(b *batch) bool {
	return l.repl.rep == nil || l.repl.leading.Load() && b.epoch == l.repl.epoch.Load()
}

// commitReplicated is the committer of a replicated ledger: it proposes
// each batch in turn, up to maxInFlight at once when its Replicator is a
// Proposer, and answers the batches in the same order as each is decided.
func (l *Ledger) commitReplicated() {
	p, ok := l.repl.rep.(Proposer)
	slots := 1
	if ok {
		slots = maxInFlight
	} else {
		p = proposeOnly{l.repl.rep}
	}
	type pending struct {
		b    *batch
		wait func() error
	}
	free := make(chan struct{}, slots)
	for range slots {
		free <- struct{}{}
	}
	decided := make(chan pending, slots)
	answered := make(chan struct{})
	go func() {
		defer close(answered)
		for pd := range decided {
			l.answer(pd.b, pd.wait()) // Apply has written and published it
			free <- struct{}{}
		}
	}()
	for {
		<-free // the open batch goes on filling until a slot is free
		b, ok := <-l.commits
		if !ok {
			break
		}
		decided <- pending{b, l.propose(p, b)}
	}
	close(decided)
	<-answered
}

// propose hands a batch to the replicas in order behind those before it,
// and returns what waits for it: nil once it is applied here. A batch of
// refusals and recognised retries only still goes through consensus, as
// its head alone: those answers rest on the leader's state, which the
// entry confirms is the group's, so a leader deposed without knowing it
// cannot refuse what its successor applied.
func (l *Ledger) propose(p Proposer, b *batch) (wait func() error) {
	if err := l.failed(); err != nil {
		return func() error { return err }
	}
	if b.epoch != l.repl.epoch.Load() || !l.repl.leading.Load() {
		return func() error { return ErrNotLeader }
	}
	start := time.Now()
	entry := encodeEntry(b)
	l.repl.addProposed(entry, b)
	decided := p.Propose(entry)
	return func() error {
		err := decided()
		l.repl.dropProposed(b)
		if err != nil {
			l.follow(b.epoch, err)
			if errors.Is(err, ErrNotLeader) {
				return err
			}
			return broken(ErrNotLeader, "%v", err)
		}
		if on := l.onCommit; on != nil {
			on(len(b.recs), b.bytes, time.Since(start))
		}
		return nil
	}
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

// Apply writes one committed entry to this replica's journal and read
// view. Every replica decides alike from its journal and the entry alone,
// so the journals stay equal: the entry is applied when its first record
// extends the journal's head and its records chain to the head it carries;
// an entry that does not extend the head (proposed under an earlier
// leadership, or replayed after a restart) is refused with ErrNotLeader
// and changes nothing; one that extends it but does not chain, or does
// not decode, is refused as corrupt. An entry with no records confirms
// that the leader's state is the journal's. One caller at a time: the
// consensus engine's apply loop.
func (l *Ledger) Apply(entry []byte) error { return l.ApplyEntries([][]byte{entry})[0] }

// ApplyEntries applies committed entries in order, as Apply applies each,
// and answers each entry's outcome at its index. The records of
// consecutive batches go to the journal in one transaction, so a replica
// that is handed many entries at once (a follower catching up, or entries
// committed together) fsyncs once for them all; a leader's own proposals,
// applied as sequenced rather than decoded, take a transaction each.
func (l *Ledger) ApplyEntries(entries [][]byte) []error {
	errs := make([]error, len(entries))
	if l.repl.rep == nil {
		for i := range errs {
			errs[i] = broken(ErrCorrupt, "a ledger that is not replicated takes no entries")
		}
		return errs
	}
	l.repl.applyMu.Lock()
	defer l.repl.applyMu.Unlock()
	if l.repl.closed {
		for i := range errs {
			errs[i] = ErrClosed
		}
		return errs
	}
	l.viewMu.RLock()
	seq, head := l.view.seq, l.view.head
	l.viewMu.RUnlock()
	b := &batch{}
	var run []int // the entries whose records b holds
	flush := func() {
		if len(b.recs) > 0 {
			b.head = head
			err := l.applyBatch(b)
			for _, i := range run {
				errs[i] = err
			}
		}
		b, run = &batch{}, nil
	}
	for i, entry := range entries {
		switch {
		case len(entry) > 0 && entry[0] == relayEntryKind:
			flush()
			errs[i] = l.applyRelay(entry)
			continue
		case len(entry) > 0 && entry[0] == keyEntryKind:
			flush()
			errs[i] = l.applyKey(entry)
			continue
		case len(entry) < 33 || entry[0] != entryVersion:
			errs[i] = broken(ErrCorrupt, "replicated entry of unknown version or cut short")
			continue
		}
		if err := l.failed(); err != nil {
			errs[i] = err
			continue
		}
		if own := l.repl.own(entry); own != nil && len(own.recs) > 0 {
			// This replica's own proposal: its records are the ones
			// the entry encodes, already chained to own.head.
			flush()
			switch first := own.recs[0]; {
			case l.failed() != nil:
				errs[i] = l.failed()
			case first.seq != seq+1 || first.prev != head:
				errs[i] = errStaleEntry
			default:
				errs[i] = l.applyBatch(&batch{keys: own.keys, chunks: own.chunks, recs: own.recs, head: own.head, sequenced: true,
					names: own.names, tokens: own.tokens})
				seq, head = own.recs[len(own.recs)-1].seq, own.head
			}
			continue
		}
		recs, encs, last, err := decodeEntry(entry, seq, head)
		if err != nil || len(recs) == 0 {
			// A refusal or a confirmation rests on the journal before
			// it: the records still waiting to be written must be
			// written first, and if that fails, so does this entry.
			flush()
			if ferr := l.failed(); ferr != nil {
				err = ferr
			}
			errs[i] = err
			continue
		}
		for j, r := range recs {
			b.add(r.seq, encs[j])
		}
		b.recs = append(b.recs, recs...)
		seq, head = recs[len(recs)-1].seq, last
		run = append(run, i)
	}
	flush()
	return errs
}

// decodeEntry checks that a batch entry extends the journal at seq and
// head and chains to the head it carries, and decodes its records; encs
// are the records' bytes within entry. An entry with no records that
// carries head is the leader's confirmation: no records and no error.
func decodeEntry(entry []byte, seq uint64, head [32]byte) (recs []*record, encs [][]byte, last [32]byte, err error) {
	carried := [32]byte(entry[1:33])
	last = head
	err = eachRecord(entry[33:], func(enc []byte) error {
		if len(recs) == 0 && peekSeq(enc) != seq+1 {
			return errStaleEntry
		}
		r, err := decodeRecord(enc)
		if err != nil {
			return err
		}
		switch {
		case len(recs) == 0 && r.prev != last:
			return errStaleEntry
		case r.seq != seq+1 || r.prev != last:
			return broken(ErrCorrupt, "replicated record %d does not follow record %d in its entry", r.seq, seq)
		}
		recs, encs = append(recs, r), append(encs, enc)
		seq, last = r.seq, recordHash(enc)
		return nil
	})
	switch {
	case err != nil:
		return nil, nil, last, err
	case last != carried && len(recs) == 0:
		return nil, nil, last, errStaleEntry // a confirmation of a state the journal has left
	case last != carried:
		return nil, nil, last, broken(ErrCorrupt, "replicated entry ending at record %d does not hash to the leader's head", seq)
	}
	return recs, encs, last, nil
}

// applyBatch writes the records of committed entries to the journal, then
// to the read view: readers (feeds, history) find in the journal every
// record the view has.
func (l *Ledger) applyBatch(b *batch) error {
	last := b.recs[len(b.recs)-1].seq
	if err := appendChunks(l.db, b.keys, b.chunks, last, b.head); err != nil {
		l.fail(err)
		return l.failed()
	}
	events, err := l.toView(b)
	if err != nil {
		// The entry is the leader's to the byte (its head says so), so
		// this replica's rules disagreeing with the leader's is a fault of
		// this replica: it stops, and is rebuilt from the others.
		l.fail(broken(ErrCorrupt, "a committed record refused by this replica's rules: %v", err))
		return l.failed()
	}
	if events != nil {
		l.subs.send(events)
	}
	l.durable.notify()
	l.noteCommitted(b)
	return nil
}
