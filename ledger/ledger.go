package ledger

import (
	"context"
	"fmt"
	"log/slog"
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
}

// Ledger is the central ledger. It is safe for concurrent use.
type Ledger struct {
	dir      string
	db       *bolt.DB
	log      *slog.Logger
	now      func() time.Time
	maxBatch int

	mu       sync.RWMutex // held shared while sending on requests
	closed   bool
	requests chan *request

	commits chan *batch   // sequencer to committer
	done    chan struct{} // closed when the committer has finished

	work *state // owned by the sequencer goroutine

	viewMu sync.RWMutex // protects view
	view   *state       // as of the last durable commit

	failMu  sync.Mutex // protects failure
	failure error

	subs subscribers
}

// Open opens the ledger in dir, creating it with its genesis record when
// dir holds none, and recovers its state by replaying the journal.
func Open(dir string, opts Options) (*Ledger, error) {
	l := &Ledger{dir: dir, log: opts.Logger, now: opts.Now, maxBatch: opts.MaxBatch}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.maxBatch <= 0 {
		l.maxBatch = DefaultMaxBatch
	}
	db, err := openDB(dir, false)
	if err != nil {
		return nil, err
	}
	l.db = db
	start := time.Now()
	if err := initJournal(db, l.now()); err != nil {
		db.Close()
		return nil, fmt.Errorf("ledger: initialise %s: %w", dir, err)
	}
	st, err := replayJournal(db, true)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("ledger: recover %s: %w", dir, err)
	}
	l.log.Info("ledger recovered", "dir", dir, "records", st.seq, "accounts", len(st.accounts),
		"took", time.Since(start).Round(time.Millisecond))
	l.work, l.view = st, st.clone()
	l.requests = make(chan *request, 4096)
	l.commits = make(chan *batch)
	l.done = make(chan struct{})
	go l.sequence()
	go l.commit()
	return l, nil
}

// replayJournal rebuilds the state from every record, checking the hash
// chain and every ledger rule on the way.
func replayJournal(db *bolt.DB, trackOps bool) (*state, error) {
	st := newState(trackOps)
	err := db.View(func(tx *bolt.Tx) error {
		if err := scanJournal(tx, 1, st.replay); err != nil {
			return err
		}
		return checkHead(tx, st.seq, st.head)
	})
	if err != nil {
		return nil, err
	}
	if st.seq == 0 {
		return nil, broken(ErrCorrupt, "journal is empty")
	}
	return st, nil
}

// replay applies one encoded record read back from the journal.
func (s *state) replay(enc []byte) error {
	r, err := decodeRecord(enc)
	if err != nil {
		return fmt.Errorf("after record %d: %w", s.seq, err)
	}
	if r.prev != s.head {
		return broken(ErrCorrupt, "hash chain broken: record %d does not hash to the prev of record %d (one of them was changed)", s.seq, r.seq)
	}
	if err := s.apply(r); err != nil {
		return fmt.Errorf("record %d (%s %q): %w", r.seq, r.typ, r.opID, err)
	}
	s.head = recordHash(enc)
	return nil
}

// Close stops taking operations, waits for those already taken to be
// committed and answered, and closes the file.
func (l *Ledger) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.requests)
	l.mu.Unlock()
	<-l.done
	l.subs.closeAll()
	if err := l.db.Close(); err != nil {
		return fmt.Errorf("ledger: close: %w", err)
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
	return l.submit(ctx, &op{typ: opOpen, id: opID, spec: spec})
}

// CloseAccount closes an account that holds no money. A closed account's id
// is never reused.
func (l *Ledger) CloseAccount(ctx context.Context, opID string, id AccountID) (Receipt, error) {
	return l.submit(ctx, &op{typ: opClose, id: opID, spec: AccountSpec{ID: id}})
}

// Issue creates amount yen of CBDC and credits it to an intermediary.
func (l *Ledger) Issue(ctx context.Context, opID string, intermediary AccountID, amount int64) (Receipt, error) {
	return l.submit(ctx, &op{typ: opIssue, id: opID, transfers: []Transfer{{IssuanceAccount, intermediary, amount}}})
}

// Redeem takes amount yen of CBDC back from an intermediary out of circulation.
func (l *Ledger) Redeem(ctx context.Context, opID string, intermediary AccountID, amount int64) (Receipt, error) {
	return l.submit(ctx, &op{typ: opRedeem, id: opID, transfers: []Transfer{{intermediary, IssuanceAccount, amount}}})
}

// Transfer moves amount yen between two accounts other than the issuance account.
func (l *Ledger) Transfer(ctx context.Context, opID string, from, to AccountID, amount int64) (Receipt, error) {
	return l.submit(ctx, &op{typ: opTransfer, id: opID, transfers: []Transfer{{from, to, amount}}})
}

// Batch applies up to MaxBatchTransfers transfers in order, all or none.
func (l *Ledger) Batch(ctx context.Context, opID string, transfers []Transfer) (Receipt, error) {
	return l.submit(ctx, &op{typ: opBatch, id: opID, transfers: append([]Transfer(nil), transfers...)})
}
