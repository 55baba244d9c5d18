package ledger

import (
	"context"
	"slices"
	"time"
)

// The write path is a two-stage pipeline. The sequencer alone owns the
// working state: it checks each operation against the rules, applies it,
// encodes its record and adds it to the open batch. The committer appends a
// whole batch to the journal in one bbolt transaction (one fsync for
// thousands of operations), then applies it to the read view and answers
// the callers. While one batch is being fsynced the next one fills, so the
// batch size follows the load.

// op is an operation as a caller asked for it, accounts named by id.
type op struct {
	typ       opType
	id        string
	origin    AccountID   // the intermediary asking; "" for the central bank
	spec      AccountSpec // open; close uses spec.ID, limits spec.ID and spec.Limits
	transfers []Transfer  // issue, redeem, transfer, batch
}

type request struct {
	op   op
	one  [1]Transfer // room for a single transfer's op.transfers
	done chan result // buffered: the committer never blocks on a caller
	rest []*request  // sequenced right after this one, into the same batch
}

func newRequest(typ opType, id string) *request {
	return &request{op: op{typ: typ, id: id}, done: make(chan result, 1)}
}

// single makes the request's operation the one transfer t.
func (r *request) single(t Transfer) *request {
	r.one[0] = t
	r.op.transfers = r.one[:]
	return r
}

type result struct {
	receipt Receipt
	err     error
}

// batch is one group commit: chunks to append and callers to answer.
type batch struct {
	keys    []uint64 // first sequence number of each chunk
	chunks  [][]byte
	recs    []*record
	waiters []waiter
	head    [32]byte // hash of the last record
	bytes   int      // encoded size of the chunks
	epoch   uint64   // the leadership it was sequenced under, when replicated
	// sequenced says this ledger's sequencer made the records, having
	// found each id new in its working state, which holds every id the
	// read view does: the view need not look them up again.
	sequenced bool
	// names and tokens are the sequencer's tables of account ids and
	// holder tokens once the batch's records were applied, for the read
	// view to share (see names.ahead); empty when it added none.
	names, tokens nameBytes
}

// maxBatchBytes closes a group commit early when its records are large
// (batches of many transfers), so one fsync stays bounded.
const maxBatchBytes = 16 << 20

type waiter struct {
	req *request
	res result
}

// firstChunkCap is the room a batch's first chunk starts with. Under light
// load a batch holds a few records, and a whole chunk's 16 KiB for each
// was most of what a payment allocated; a larger batch grows it, and its
// later chunks start whole.
const firstChunkCap = 2 << 10

func (b *batch) add(seq uint64, enc []byte) {
	n := len(b.chunks)
	if n == 0 || len(b.chunks[n-1]) >= chunkTarget {
		size := chunkTarget + 512
		if n == 0 {
			size = firstChunkCap
		}
		b.keys = append(b.keys, seq)
		b.chunks = append(b.chunks, make([]byte, 0, size))
		n++
	}
	b.chunks[n-1] = appendChunkEntry(b.chunks[n-1], enc)
	b.bytes += len(enc)
}

// submit hands an operation to the sequencer and waits for its result. A
// caller that gives up (ctx done) does not learn whether the operation
// committed; retrying with the same id tells it, without applying twice.
func (l *Ledger) submit(ctx context.Context, r *request) (Receipt, error) {
	if err := l.enqueue(ctx, r); err != nil {
		return Receipt{}, err
	}
	return l.await(ctx, r)
}

// enqueue hands r, and the requests sequenced with it, to the sequencer,
// unless the caller has given up already.
func (l *Ledger) enqueue(ctx context.Context, r *request) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return &OpError{Op: r.op.typ.String(), ID: r.op.id, Err: ErrClosed}
	}
	select {
	case l.requests <- r:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// await waits for the result of a request the sequencer has.
func (l *Ledger) await(ctx context.Context, r *request) (Receipt, error) {
	select {
	case res := <-r.done:
		return res.receipt, res.err
	case <-ctx.Done():
		return Receipt{}, ctx.Err()
	}
}

// sequence is the sequencer goroutine.
func (l *Ledger) sequence() {
	defer close(l.commits)
	requests := l.requests
	var cur *batch
	for requests != nil || cur != nil {
		in, out := requests, l.commits
		if cur == nil || len(cur.waiters) == 0 {
			out = nil
		}
		if cur != nil && (len(cur.waiters) >= l.maxBatch || cur.bytes >= maxBatchBytes) {
			in = nil // full: wait for the committer
		}
		select {
		case done := <-l.repl.leads:
			if cur != nil {
				l.commits <- cur // sequenced under the old leadership: the committer fails it
				cur = nil
			}
			l.lead()
			done <- l.repl.epoch.Load()
		case r, ok := <-in:
			if !ok {
				requests = nil
				if cur != nil && len(cur.waiters) == 0 {
					cur = nil
				}
				continue
			}
			if cur != nil && len(cur.waiters) > 0 && len(cur.waiters)+1+len(r.rest) > l.maxBatch {
				l.commits <- cur // a group would overfill it: it goes first
				cur = nil
			}
			if cur == nil {
				cur = &batch{epoch: l.repl.epoch.Load(), head: l.work.head}
			}
			l.admit(cur, r)
			for _, more := range r.rest {
				l.admit(cur, more)
			}
		case out <- cur:
			cur = nil
		}
	}
}

// admit sequences one request into the open batch. A refusal that rests
// on ledger state waits in the batch like an acceptance: it is answered
// only once everything sequenced before it is durable, so no caller is
// told "no" on the strength of an operation a crash could still undo.
func (l *Ledger) admit(b *batch, r *request) {
	o := &r.op
	fail := func(err error) result {
		return result{err: &OpError{Op: o.typ.String(), ID: o.id, Err: err}}
	}
	if err := l.failed(); err != nil {
		r.done <- fail(err)
		return
	}
	if !validID(o.id) {
		r.done <- fail(ErrInvalidOpID)
		return
	}
	if !l.sequencing(b) {
		r.done <- fail(ErrNotLeader)
		return
	}
	b.waiters = append(b.waiters, waiter{r, l.sequenceOp(b, o, fail)})
}

// sequenceOp applies o to the working state and adds its record to the
// batch, or says why it is refused, or recognises a retry.
func (l *Ledger) sequenceOp(b *batch, o *op, fail func(error) result) result {
	st := l.work
	origin, err := st.originOf(o)
	if err != nil {
		return fail(err)
	}
	rec, err := st.resolve(o)
	if rec != nil {
		rec.origin = origin
	}
	key := keyOf(origin, o.id)
	if ref, seen := st.ops.get(&key); seen {
		if err != nil || st.opDigest(rec) != ref.digest {
			return fail(broken(ErrOpIDReused, "%q was used at sequence %d", o.id, ref.seq))
		}
		return result{receipt: receipt(o.id, ref.seq, ref.time)}
	}
	if err != nil {
		return fail(err)
	}
	rec.seq, rec.time, rec.prev = st.seq+1, l.now().UnixNano(), st.head
	rec.key, rec.keyed = key, st.ops != nil
	ids, tokens := st.names.count(), st.holders.tokens.count()
	if err := st.applyRecord(rec, true); err != nil {
		return fail(err)
	}
	if st.names.count() != ids {
		b.names = st.names.shared()
	}
	if st.holders.tokens.count() != tokens {
		b.tokens = st.holders.tokens.shared()
	}
	enc := appendRecord(l.scratch[:0], rec)
	l.scratch = enc
	st.head = recordHash(enc)
	b.add(rec.seq, enc)
	b.recs = append(b.recs, rec)
	b.head = st.head
	return result{receipt: receipt(o.id, rec.seq, rec.time)}
}

func receipt(id string, seq uint64, t int64) Receipt {
	return Receipt{OpID: id, Seq: seq, Time: time.Unix(0, t)}
}

// resolve turns account ids into numbers and builds the record to apply.
func (s *state) resolve(o *op) (*record, error) {
	r := &record{typ: o.typ, opID: o.id}
	switch o.typ {
	case opOpen:
		if !validID(string(o.spec.ID)) {
			return nil, broken(ErrInvalidAccountID, "%q", o.spec.ID)
		}
		r.acct, r.kind, r.accountID = uint32(len(s.accounts)), o.spec.Kind, o.spec.ID
		if o.spec.Intermediary != "" {
			n, err := s.lookup(o.spec.Intermediary)
			if err != nil {
				return nil, err
			}
			if n == 0 { // number 0 in a record means "no intermediary"
				return nil, broken(ErrWrongKind, "the issuance account serves no accounts")
			}
			r.tag = n
		}
		if !validHolder(o.spec.Holder) {
			return nil, broken(ErrInvalidHolder, "%q", o.spec.Holder)
		}
		r.holder, r.limits = o.spec.Holder, o.spec.Limits
		return r, nil
	case opClose, opLimits:
		n, err := s.lookup(o.spec.ID)
		r.acct, r.limits = n, o.spec.Limits
		return r, err
	}
	if o.typ == opBatch && (len(o.transfers) == 0 || len(o.transfers) > MaxBatchTransfers) {
		return nil, broken(ErrBatchSize, "got %d", len(o.transfers))
	}
	r.postings = r.postBuf[:0]
	if len(o.transfers) > 1 {
		r.postings = make([]posting, 0, len(o.transfers))
	}
	for _, t := range o.transfers {
		from, err := s.lookup(t.From)
		if err != nil {
			return nil, err
		}
		to, err := s.lookup(t.To)
		if err != nil {
			return nil, err
		}
		r.postings = append(r.postings, posting{from: from, to: to, amount: t.Amount})
	}
	return r, nil
}

// originOf finds the intermediary an operation comes from; 0 is the
// central bank. The rules for what it may do are in checkOrigin.
func (s *state) originOf(o *op) (uint32, error) {
	if o.origin == "" {
		return 0, nil
	}
	n, err := s.lookup(o.origin)
	if err == nil && n == 0 {
		err = broken(ErrWrongKind, "operations come from intermediaries, not the issuance account")
	}
	return n, err
}

func (s *state) lookup(id AccountID) (uint32, error) {
	if n, ok := s.names.lookup(id); ok {
		return n, nil
	}
	if !validID(string(id)) { // only ids that are valid are ever stored
		return 0, broken(ErrInvalidAccountID, "%q", id)
	}
	return 0, broken(ErrUnknownAccount, "%s", id)
}

// commit is the committer goroutine.
func (l *Ledger) commit() {
	defer close(l.done)
	defer l.finalCheckpoint()
	if l.repl.rep != nil {
		l.commitReplicated()
		return
	}
	for b := range l.commits {
		err := l.failed()
		if err == nil && len(b.chunks) > 0 {
			start := time.Now()
			if werr := appendChunks(l.db, b.keys, b.chunks, b.recs[len(b.recs)-1].seq, b.head); werr != nil {
				l.fail(werr)
				err = l.failed()
			} else if on := l.onCommit; on != nil {
				on(len(b.recs), b.bytes, time.Since(start))
			}
		}
		if err != nil {
			l.answer(b, err)
			continue
		}
		l.publish(b)
		l.durable.notify()
		l.answer(b, nil)
		l.noteCommitted(b)
	}
}

// answer tells a batch's callers their results, or err when the batch
// was not made durable.
func (l *Ledger) answer(b *batch, err error) {
	for _, w := range b.waiters {
		if err != nil {
			w.req.done <- result{err: &OpError{Op: w.req.op.typ.String(), ID: w.req.op.id, Err: err}}
		} else {
			w.req.done <- w.res
		}
	}
}

// noteCommitted extends the id index kept for the next checkpoint and
// hands a snapshot to the checkpointer when one is due and it is idle.
func (l *Ledger) noteCommitted(b *batch) {
	for _, r := range b.recs {
		l.pendingOps = append(l.pendingOps, opEntry{r.key, opRef{r.seq, r.time, r.digest}})
	}
	if len(l.pendingOps) < l.cpEvery {
		return
	}
	select {
	case <-l.cp.idle:
		l.cp.in <- l.snapshot()
	default: // still writing the previous one: keep accumulating
	}
}

// snapshot copies the read view; only the committer writes it, so it
// needs no lock.
func (l *Ledger) snapshot() *snapshot {
	v := l.view
	s := &snapshot{seq: v.seq, head: v.head, accounts: slices.Clone(v.accounts), ops: l.pendingOps,
		names: v.names.frozen(), exts: slices.Clone(v.exts), tokens: v.holders.tokens.frozen()}
	// The next one grows as long: reserving it now spares copying tens
	// of megabytes as it grows.
	l.pendingOps = make([]opEntry, 0, len(s.ops))
	return s
}

// finalCheckpoint writes what is left at close, so the next open replays nothing.
func (l *Ledger) finalCheckpoint() {
	if len(l.pendingOps) > 0 {
		<-l.cp.idle
		l.cp.in <- l.snapshot()
	}
	close(l.cp.in)
	<-l.cp.done
}

// publish applies a durable batch to the read view and tells subscribers.
func (l *Ledger) publish(b *batch) {
	events, err := l.toView(b)
	if err != nil {
		// The sequencer applied the same rules; disagreement is a bug.
		panic("ledger: read view refused a committed record: " + err.Error())
	}
	if events != nil {
		l.subs.send(events)
	}
}

// toView applies a batch to the read view and returns its events for the
// subscribers, if any. A record the view refuses stops it there.
func (l *Ledger) toView(b *batch) ([]Event, error) {
	l.viewMu.Lock()
	defer l.viewMu.Unlock()
	v := l.view
	v.names.ahead, v.holders.tokens.ahead = b.names, b.tokens
	defer func() { v.names.ahead, v.holders.tokens.ahead = nameBytes{}, nameBytes{} }()
	for _, r := range b.recs {
		if err := v.applyRecord(r, b.sequenced); err != nil {
			return nil, err
		}
	}
	if len(b.recs) > 0 {
		l.view.head = b.head
	}
	for _, r := range b.recs {
		l.recent[r.seq%recentRecords] = r
	}
	var events []Event
	if l.subs.active() {
		events = make([]Event, len(b.recs))
		for i, r := range b.recs {
			events[i] = l.view.event(r)
		}
	}
	return events, nil
}
