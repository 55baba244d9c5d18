package ledger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// DefaultMaxBatch bounds the operations in one group commit.
const DefaultMaxBatch = 8192

// Options tune a Ledger. The zero value is ready to use.
type Options struct {
	// MaxBatch bounds the operations sequenced into one group commit;
	// DefaultMaxBatch when zero.
	MaxBatch int

	// Logger receives start-up and failure messages; none when nil.
	Logger *slog.Logger

	// Now stamps records; time.Now when nil.
	Now func() time.Time

	// CheckpointEvery is how many journal records pass between checkpoints;
	// DefaultCheckpointEvery when zero.
	CheckpointEvery int

	// OnCommit, if set, is told of every group commit made durable: its
	// records, its encoded bytes and how long the append and fsync took.
	// It runs on the committer and must not block.
	OnCommit func(records, bytes int, took time.Duration)

	// Replicator, when set, makes the ledger one replica of a consensus
	// group: it starts following (refusing operations with ErrNotLeader)
	// until Lead, and its journal grows only through Apply.
	Replicator Replicator

	// GenesisTime stamps the genesis record of a new journal; the time of
	// opening when zero. Replicas of one ledger must share it, so that
	// their hash chains are the same from the first record.
	GenesisTime time.Time
}

// Ledger is the central ledger. It is safe for concurrent use.
type Ledger struct {
	dir      string
	db       *bolt.DB
	log      *slog.Logger
	now      func() time.Time
	maxBatch int
	onCommit func(records, bytes int, took time.Duration)

	mu       sync.RWMutex // held shared while sending on requests
	closed   bool
	requests chan *request

	closeOnce sync.Once
	closeErr  error

	commits chan *batch   // sequencer to committer
	done    chan struct{} // closed when the committer has finished

	work    *state // owned by the sequencer goroutine, with scratch
	scratch []byte // the record being encoded

	viewMu sync.RWMutex // protects view and recent
	view   *state       // as of the last durable commit
	recent []*record    // the last recentRecords committed, by seq modulo its length

	failMu  sync.Mutex // protects failure
	failure error

	cp         *checkpointer
	cpEvery    int
	pendingOps []opEntry // owned by the committer: the id index since the last checkpoint

	subs subscribers

	durable commitSignal // wakes feeds at each durable commit
	relay   relay        // messages between intermediaries, in memory
	keys    bankKeys     // a replicated ledger's registry of intermediaries' keys

	repl  replication      // when one replica of a group
	snaps snapshotCounters // what snapshots did; see snapshot.go
}

// Open opens the ledger in dir, creating it with its genesis record when
// dir holds none, and recovers its state by replaying the journal.
func Open(dir string, opts Options) (*Ledger, error) {
	l := &Ledger{dir: dir, log: opts.Logger, now: opts.Now, maxBatch: opts.MaxBatch, cpEvery: opts.CheckpointEvery, onCommit: opts.OnCommit}
	if l.cpEvery <= 0 {
		l.cpEvery = DefaultCheckpointEvery
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.maxBatch <= 0 {
		l.maxBatch = DefaultMaxBatch
	}
	db, err := openDB(dir, false, verifyChain(filepath.Join(dir, FileName)))
	if err != nil {
		return nil, err
	}
	l.db = db
	start := time.Now()
	l.repl.rep = opts.Replicator
	l.repl.leads = make(chan chan uint64)
	genesis := opts.GenesisTime
	if genesis.IsZero() {
		genesis = l.now()
	}
	if err := initJournal(db, genesis); err != nil {
		db.Close()
		return nil, fmt.Errorf("ledger: initialise %s: %w", dir, err)
	}
	if l.cp, err = openCheckpointer(dir, l.log, false); err != nil {
		db.Close()
		return nil, err
	}
	st, replayed, err := l.recoverState()
	if err != nil {
		db.Close()
		l.cp.db.Close()
		return nil, fmt.Errorf("ledger: recover %s: %w", dir, err)
	}
	l.log.Info("ledger recovered", "dir", dir, "records", st.seq, "replayed", replayed,
		"accounts", len(st.accounts), "took", time.Since(start).Round(time.Millisecond))
	l.work, l.view = st, st.clone()
	if l.repl.rep != nil {
		// A replica that comes to lead sequences from its view, so the
		// view keeps the operation index that recognises a retry.
		l.view = st.cloneWithOps()
	}
	l.recent = make([]*record, recentRecords)
	go l.cp.run()
	l.requests = make(chan *request, 4096)
	l.commits = make(chan *batch)
	l.done = make(chan struct{})
	go l.sequence()
	go l.commit()
	return l, nil
}

// recoverState loads the checkpoint and replays the journal after it, or,
// when there is no usable checkpoint, replays the whole journal and starts
// the checkpoint anew. It returns how many records it replayed.
func (l *Ledger) recoverState() (*state, uint64, error) {
	st, err := l.cp.load()
	if err == nil {
		from := st.seq
		if err = l.replayTail(st); err == nil {
			return st, st.seq - from, nil
		}
	}
	if !errors.Is(err, errNoCheckpoint) {
		l.log.Warn("ledger checkpoint set aside; replaying the whole journal", "err", err)
	}
	st = newState(true)
	if err := l.replayTail(st); err != nil {
		return nil, 0, err
	}
	if err := l.cp.reset(); err != nil {
		return nil, 0, fmt.Errorf("reset checkpoint: %w", err)
	}
	l.pendingOps = st.opEntries()
	return st, st.seq, nil
}

// replayTail replays the journal after st.seq, checking the hash chain and
// every rule, and that st starts where the journal says it should.
func (l *Ledger) replayTail(st *state) error {
	l.pendingOps = l.pendingOps[:0]
	return l.db.View(func(tx *bolt.Tx) error {
		if st.seq > 0 {
			enc, err := readRecord(tx, st.seq)
			if err != nil {
				return err
			}
			if recordHash(enc) != st.head {
				return broken(ErrCorrupt, "checkpoint at record %d does not match the journal", st.seq)
			}
		}
		err := scanJournal(tx, st.seq+1, func(enc []byte) error {
			r, err := st.replay(enc)
			if err == nil {
				l.pendingOps = append(l.pendingOps, opEntry{r.key, opRef{r.seq, r.time, r.digest}})
			}
			return err
		})
		if err != nil {
			return err
		}
		if st.seq == 0 {
			return broken(ErrCorrupt, "journal is empty")
		}
		return checkHead(tx, st.seq, st.head)
	})
}

// opEntries lists the id index in journal order.
func (s *state) opEntries() []opEntry {
	return slices.AppendSeq(make([]opEntry, 0, s.ops.len()), s.ops.all())
}

// replay applies one encoded record read back from the journal.
func (s *state) replay(enc []byte) (*record, error) {
	r, err := decodeRecord(enc)
	if err != nil {
		return nil, fmt.Errorf("after record %d: %w", s.seq, err)
	}
	if r.prev != s.head {
		return nil, broken(ErrCorrupt, "hash chain broken: record %d does not hash to the prev of record %d (one of them was changed)", s.seq, r.seq)
	}
	if err := s.apply(r); err != nil {
		if errors.Is(err, ErrCorrupt) {
			return nil, fmt.Errorf("record %d (%s %q): %w", r.seq, r.typ, r.opID, err)
		}
		return nil, broken(ErrCorrupt, "record %d (%s %q) breaks a ledger rule: %s", r.seq, r.typ, r.opID, strings.TrimPrefix(err.Error(), "ledger: "))
	}
	s.head = recordHash(enc)
	return r, nil
}

// Close stops taking operations, waits for those already taken to be
// committed and answered, writes a checkpoint and closes the files. Every
// call returns once that is done.
func (l *Ledger) Close() error {
	l.closeOnce.Do(func() { l.closeErr = l.close() })
	return l.closeErr
}

func (l *Ledger) close() error {
	l.repl.applyMu.Lock() // no entry is applied under the final checkpoint
	l.repl.closed = true
	l.repl.applyMu.Unlock()
	l.mu.Lock()
	l.closed = true
	close(l.requests)
	l.mu.Unlock()
	<-l.done
	l.subs.closeAll()
	l.durable.close()
	l.relay.close()
	cerr := l.cp.db.Close()
	if err := l.db.Close(); err != nil {
		return fmt.Errorf("ledger: close: %w", err)
	}
	if cerr != nil {
		return fmt.Errorf("ledger: close checkpoint: %w", cerr)
	}
	return nil
}

// Dir is the data directory the ledger was opened in.
func (l *Ledger) Dir() string { return l.dir }

func (l *Ledger) fail(err error) {
	l.failMu.Lock()
	defer l.failMu.Unlock()
	if l.failure == nil {
		l.failure = err
		l.log.Error("ledger storage failed; refusing operations until reopened", "err", err)
	}
}

// Err is nil while the ledger takes operations, and ErrStorage with its
// cause once a commit has failed (it then refuses every operation until
// reopened). Health and readiness checks ask it.
func (l *Ledger) Err() error { return l.failed() }

// failed returns ErrStorage with its cause once a commit has failed.
func (l *Ledger) failed() error {
	l.failMu.Lock()
	defer l.failMu.Unlock()
	if l.failure == nil {
		return nil
	}
	return &ruleError{err: ErrStorage, detail: l.failure.Error()}
}

// Receipt is the result of an acknowledged operation. A retry with the same
// operation id returns the receipt of the first.
type Receipt struct {
	OpID string
	Seq  uint64    // journal sequence number of the operation
	Time time.Time // when the ledger sequenced it
}

// Transfer moves Amount yen from one account to another.
type Transfer struct {
	From, To AccountID
	Amount   int64
}

// OpenAccount opens an account. The issuance account exists from the start.
func (l *Ledger) OpenAccount(ctx context.Context, opID string, spec AccountSpec) (Receipt, error) {
	r := newRequest(opOpen, opID)
	r.op.spec = spec
	return l.submit(ctx, r)
}

// CloseAccount closes an account that holds no money. A closed account's id
// is never reused.
func (l *Ledger) CloseAccount(ctx context.Context, opID string, id AccountID) (Receipt, error) {
	r := newRequest(opClose, opID)
	r.op.spec.ID = id
	return l.submit(ctx, r)
}

// SetLimits sets an open wallet's holding limit and waterfall. Lowering the
// limit below what its holder holds takes nothing away; later credits are
// swept or refused until the holdings are back under it.
func (l *Ledger) SetLimits(ctx context.Context, opID string, id AccountID, lim Limits) (Receipt, error) {
	r := newRequest(opLimits, opID)
	r.op.spec = AccountSpec{ID: id, Limits: lim}
	return l.submit(ctx, r)
}

// Issue creates amount yen of CBDC and credits it to an intermediary.
func (l *Ledger) Issue(ctx context.Context, opID string, intermediary AccountID, amount int64) (Receipt, error) {
	return l.submit(ctx, newRequest(opIssue, opID).single(Transfer{IssuanceAccount, intermediary, amount}))
}

// Redeem takes amount yen of CBDC back from an intermediary out of circulation.
func (l *Ledger) Redeem(ctx context.Context, opID string, intermediary AccountID, amount int64) (Receipt, error) {
	return l.submit(ctx, newRequest(opRedeem, opID).single(Transfer{intermediary, IssuanceAccount, amount}))
}

// Transfer moves amount yen between two accounts other than the issuance account.
func (l *Ledger) Transfer(ctx context.Context, opID string, from, to AccountID, amount int64) (Receipt, error) {
	return l.submit(ctx, newRequest(opTransfer, opID).single(Transfer{from, to, amount}))
}

// Batch applies up to MaxBatchTransfers transfers in order, all or none.
func (l *Ledger) Batch(ctx context.Context, opID string, transfers []Transfer) (Receipt, error) {
	r := newRequest(opBatch, opID)
	r.op.transfers = append([]Transfer(nil), transfers...)
	return l.submit(ctx, r)
}

// BatchOp is one operation of Batches: its id and its transfers.
type BatchOp struct {
	ID        string
	Transfers []Transfer
}

// Batches applies operations as Batch applies each: each under its own id,
// all or none of its transfers, with its own receipt or error at its index.
// They reach the sequencer together, so they share group commits: a caller
// with many operations ready at once (offline settlement's rounds) pays one
// fsync for up to the batch limit of them, where operations sent one by one
// from as many goroutines trickle in and are committed a few at a time.
// Once ctx is done no more of them are handed in; those already handed in
// may still be applied, as with any operation whose caller gave up.
func (l *Ledger) Batches(ctx context.Context, ops []BatchOp) ([]Receipt, []error) {
	receipts, errs := make([]Receipt, len(ops)), make([]error, len(ops))
	reqs := make([]*request, len(ops))
	for i, o := range ops {
		reqs[i] = newRequest(opBatch, o.ID)
		reqs[i].op.transfers = append([]Transfer(nil), o.Transfers...)
	}
	for start := 0; start < len(reqs); {
		end, transfers := start+1, len(reqs[start].op.transfers)
		for end < len(reqs) && end-start < l.maxBatch && transfers+len(reqs[end].op.transfers) <= maxGroupTransfers {
			transfers += len(reqs[end].op.transfers)
			end++
		}
		group := reqs[start:end]
		group[0].rest = group[1:]
		if err := l.enqueue(ctx, group[0]); err != nil {
			for i, r := range group {
				errs[start+i] = err
				if errors.Is(err, ErrClosed) {
					errs[start+i] = &OpError{Op: r.op.typ.String(), ID: r.op.id, Err: ErrClosed}
				}
			}
		} else {
			for i, r := range group {
				receipts[start+i], errs[start+i] = l.await(ctx, r)
			}
		}
		start = end
	}
	return receipts, errs
}

// maxGroupTransfers bounds the transfers Batches sequences together, so a
// group's commit stays within a few megabytes.
const maxGroupTransfers = 1 << 16
