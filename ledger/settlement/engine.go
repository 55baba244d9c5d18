package settlement

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/offline"
)

// The settler's state has one owner: the goroutine running loop. Every
// change is a job it runs in a round, in four phases, as the ledger's
// sequencer and committer do:
//
//   - decide: each job of the round changes the state (a voucher judged, a
//     device registered) and the clearing plans the ledger operations that
//     follow, all with s.mu held;
//   - book: what was decided, with the planned operations, is written to
//     the index, durably, before any operation is sent;
//   - settle: the operations run on the ledger at once, sharing its group
//     commits; their answers are applied, and what they credited is tried
//     again, until nothing more moves;
//   - reply: the jobs build their answers and the round's last changes are
//     written before anyone hears of them.
//
// Readers (Summary, Device, Revocations, ...) take s.mu for reading; only
// the owner takes it for writing, and never while it waits for the disk or
// the ledger.

// job is one request the owner runs in a round.
type job struct {
	decide func(r *round) error // with s.mu held
	finish func(r *round)       // after the round's operations, with s.mu held
	err    error
	done   chan struct{}
}

// round is one pass of the owner over the jobs that were waiting.
type round struct {
	now     time.Time
	w       writes           // to make durable before the next operations run
	ops     []*op            // planned, not yet sent
	work    map[*device]bool // devices whose open vouchers may now settle
	freed   []*entry         // vouchers of earlier uploads settled in this round
	closing bool             // the round closes the settlement window
	steps   int              // closing steps taken, to bound the loop

	conflicts []Conflict       // found while deciding the job at hand, or while settling
	revoked   []offline.Serial // devices revoked likewise
}

func (r *round) try(d *device) {
	if d != nil && d.escrow != "" {
		r.work[d] = true
	}
}

// maxJobsPerRound bounds a round, so one busy spell cannot starve the
// disk write that answers the first job.
const maxJobsPerRound = 64

// batchTimeout bounds the wait for the ledger's answer to settlement
// operations; an operation not answered in time stays in doubt and is sent
// again when the window closes or the service reopens.
const batchTimeout = 30 * time.Second

// submit hands a job to the owner and waits for it.
func (s *Settler) submit(ctx context.Context, j *job) error {
	j.done = make(chan struct{})
	select {
	case s.jobs <- j:
	case <-s.quit:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once handed over, a job runs to its end even if the caller goes
	// away: a settlement decided must be booked and answered.
	<-j.done
	return j.err
}

func (s *Settler) loop() {
	defer close(s.stopped)
	for {
		var first *job
		select {
		case first = <-s.jobs:
		case <-s.quit:
			return
		}
		jobs := []*job{first}
	gather:
		for len(jobs) < maxJobsPerRound {
			select {
			case j := <-s.jobs:
				jobs = append(jobs, j)
			default:
				break gather
			}
		}
		s.runRound(jobs, false)
	}
}

// runRound decides the jobs, books and settles what they decided, and
// answers them.
func (s *Settler) runRound(jobs []*job, closing bool) {
	r := &round{now: s.cfg.Now(), work: map[*device]bool{}, closing: closing}
	s.mu.Lock()
	for _, j := range jobs {
		if s.failure != nil {
			j.err = s.stoppedErr()
			continue
		}
		j.err = j.decide(r)
	}
	s.settleWork(r)
	s.mu.Unlock()
	err := s.flush(r)
	s.mu.Lock()
	for _, j := range jobs {
		if j.err == nil && err == nil && j.finish != nil {
			j.finish(r)
		}
	}
	final := r.w.encode()
	s.mu.Unlock()
	if err == nil {
		if werr := s.write(final); werr != nil {
			err = s.fail(werr)
		}
	}
	for _, j := range jobs {
		if j.err == nil {
			j.err = err
		}
		close(j.done)
	}
}

// flush books what the round decided and runs its ledger operations, then
// settles what their credits free, until nothing more moves.
func (s *Settler) flush(r *round) error {
	for {
		s.mu.Lock()
		if len(r.ops) == 0 && r.closing {
			s.closeStep(r)
		}
		if len(r.ops) == 0 {
			s.mu.Unlock()
			return nil
		}
		book, ops := r.w.encode(), r.ops
		r.w, r.ops = writes{}, nil
		for _, o := range ops {
			o.running = true
		}
		s.mu.Unlock()
		if err := s.write(book); err != nil {
			return s.fail(err)
		}
		seqs, errs := s.runOps(ops)
		s.mu.Lock()
		for i, o := range ops {
			s.answered(r, o, seqs[i], errs[i])
		}
		s.settleWork(r)
		s.mu.Unlock()
	}
}

// runOps sends operations to the ledger together, so they share its group
// commits. Called without s.mu.
func (s *Settler) runOps(ops []*op) ([]uint64, []error) {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	batch := make([]ledger.BatchOp, len(ops))
	for i, o := range ops {
		batch[i] = ledger.BatchOp{ID: o.id, Transfers: o.transfers}
	}
	receipts, errs := s.l.Batches(ctx, batch)
	seqs := make([]uint64, len(ops))
	for i, rc := range receipts {
		seqs[i] = rc.Seq
	}
	return seqs, errs
}

// answered applies the ledger's answer to an operation.
func (s *Settler) answered(r *round, o *op, seq uint64, err error) {
	o.running = false
	switch {
	case err == nil:
		s.confirmed(r, o, seq)
	case refused(err):
		s.refusedOp(r, o, err)
	default:
		// In doubt: it stays stored and reserved, its vouchers wait, and it
		// is sent again when the window closes or the service reopens.
		s.cfg.Logger.Warn("offline settlement operation in doubt", "op", o.id, "err", err)
	}
}

func (s *Settler) confirmed(r *round, o *op, seq uint64) {
	for _, f := range o.effects {
		e := s.vouchers[f.hash]
		if e == nil || e.inflight != o.id {
			continue
		}
		e.fromEscrow, e.fromBearer, e.bearer, e.payeeLoss, e.closed = f.fromEscrow, f.fromBearer, f.bearer, f.payeeLoss, f.closed
		e.inflight, e.seq, e.reason = "", seq, ""
		e.netted = e.netted || strings.HasPrefix(o.id, "net:")
		s.placed(e)
		r.w.entry(e)
		r.try(s.devices[e.v.Payer])
		if e.outcome() == offline.Settled {
			r.freed = append(r.freed, e)
		}
	}
	if d := s.devices[o.release]; d != nil && !o.release.IsZero() {
		d.release++
		d.released += o.released
		r.w.device(d)
	}
	s.unreserve(o)
	for _, sn := range o.credits {
		r.try(s.devices[sn])
	}
	delete(s.ops, o.id)
	r.w.doneOps = append(r.w.doneOps, o.id)
}

// refusedOp undoes an operation the ledger refused outright: nothing
// moved, and its vouchers wait for the next window.
func (s *Settler) refusedOp(r *round, o *op, err error) {
	s.cfg.Logger.Warn("ledger refused an offline settlement operation", "op", o.id, "err", err)
	for _, f := range o.effects {
		if e := s.vouchers[f.hash]; e != nil && e.inflight == o.id {
			e.inflight, e.refused = "", true
			e.reason = "refused_by_ledger: " + ledger.ErrorCode(err)
			r.w.entry(e)
		}
	}
	s.unreserve(o)
	delete(s.ops, o.id)
	r.w.doneOps = append(r.w.doneOps, o.id)
}

func (s *Settler) unreserve(o *op) {
	for a, v := range o.reserve {
		if s.reserved[a] -= v; s.reserved[a] == 0 {
			delete(s.reserved, a)
		}
	}
}

// plan records an operation to run in this round: its entries wait on it
// and the escrow it debits is held.
func (s *Settler) plan(r *round, o *op) {
	for _, f := range o.effects {
		e := s.vouchers[f.hash]
		e.inflight = o.id
		e.ops++
		r.w.entry(e)
	}
	for a, v := range o.reserve {
		s.reserved[a] += v
	}
	s.ops[o.id] = o
	r.ops = append(r.ops, o)
	r.w.ops = append(r.w.ops, o)
}

// refused reports whether settlement may decide an operation again: the
// ledger refused it by a rule (ledger.Refused).
//
// A taken id (ledger.IDTaken) is not such a refusal. Settlement derives
// each op id from what the op settles, so another operation under its id
// means the index lost the write that recorded it: that operation may
// have moved the money this one would, and deciding again could move it
// twice. It stays in doubt, as an unanswered one does, for an operator.
func refused(err error) bool { return ledger.OutcomeOf(err) == ledger.Refused }

// fail records a failed write of the index; from then on every request gets
// ErrStopped, so memory and disk cannot drift apart.
func (s *Settler) fail(err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failure == nil {
		s.failure = err
		s.cfg.Logger.Error("settlement index write failed; refusing work until reopened", "err", err)
	}
	return s.stoppedErr()
}

func (s *Settler) stoppedErr() error { return &detailed{ErrStopped, s.failure.Error()} }

// Err is nil while the settler takes work, and ErrStopped with its cause
// once a write of its index has failed: it then refuses work until it is
// reopened. Health checks ask it.
func (s *Settler) Err() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.failure == nil {
		return nil
	}
	return s.stoppedErr()
}

// inDoubt returns the operations decided whose answer never came.
func (s *Settler) inDoubt() []*op {
	var ops []*op
	for _, id := range slices.Sorted(maps.Keys(s.ops)) {
		if o := s.ops[id]; !o.running {
			ops = append(ops, o)
		}
	}
	return ops
}

// run submits a job that only decides, and waits for it.
func (s *Settler) run(ctx context.Context, decide func(r *round) error) error {
	return s.submit(ctx, &job{decide: decide})
}

func sortedAccounts(m map[ledger.AccountID]int64) []ledger.AccountID {
	return slices.Sorted(maps.Keys(m))
}
