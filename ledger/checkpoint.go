package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/digital-yen/cbdc-sandbox/boltfile"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// A checkpoint is the read view at one journal sequence, in a second bbolt
// file: every account and the whole operation-id index. Opening the ledger
// loads it and replays only the journal after it. The journal stays the
// truth: a checkpoint that is missing, unreadable or disagrees with the
// journal is set aside and the journal is replayed from genesis.
//
// It is written off the hot path by its own goroutine: accounts are
// rewritten as a whole, the id index is appended to, so each checkpoint
// costs the accounts plus the operations since the one before.

// CheckpointFileName is the checkpoint's bbolt file inside the data directory.
const CheckpointFileName = "checkpoint.db"

// DefaultCheckpointEvery is how many journal records pass between checkpoints.
const DefaultCheckpointEvery = 1_000_000

var (
	cpBucketMeta = []byte("meta")
	cpBucketOps  = []byte("ops")
	cpKeyState   = []byte("state")
)

// cpAccountsBucket names the bucket of one generation of accounts. A new
// generation is written beside the current one, a few chunks per
// transaction, and the last transaction switches over: each fsync stays
// small, so a checkpoint never holds up the journal's fsyncs for long.
func cpAccountsBucket(gen uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte("accounts-"), gen)
}

const (
	cpChunk       = 64 << 10
	cpChunksPerTx = 32 // about 2 MiB written and fsynced at a time
	cpPause       = 2 * time.Millisecond
)

// opEntry is one entry of the operation-id index.
type opEntry struct {
	key opKey
	ref opRef
}

const opEntryLen = 16 + 8 + 8 + 8

// snapshot is what one checkpoint writes.
type snapshot struct {
	seq      uint64
	head     [32]byte
	accounts []account
	names    names // shares the view's arena: bytes below its length never change
	exts     []walletExt
	tokens   names     // holder tokens, shared like names
	ops      []opEntry // committed since the previous checkpoint, in order
}

// cpFormat numbers the checkpoint's layout. A checkpoint of another format
// is set aside and the journal replayed, never misread.
const cpFormat = 2

// errOldCheckpoint means the checkpoint was written in another format.
var errOldCheckpoint = errors.New("checkpoint is of another format")

// cpState is the checkpoint's meta record.
type cpState struct {
	seq         uint64
	head        [32]byte
	accounts    uint64
	ops         uint64
	accountsSum [32]byte // SHA-256 over the account chunks in key order
	opsSum      [32]byte // SHA-256 over every id-index chunk up to seq, in key order
	gen         uint64   // which accounts bucket is current
	format      uint64   // cpFormat
}

// cpStateLen is the length of an encoded cpState; format 1 had no format field.
const cpStateLen = 136

func (s *cpState) encode() []byte {
	b := binary.BigEndian.AppendUint64(nil, s.seq)
	b = append(b, s.head[:]...)
	b = binary.BigEndian.AppendUint64(b, s.accounts)
	b = binary.BigEndian.AppendUint64(b, s.ops)
	b = append(b, s.accountsSum[:]...)
	b = append(b, s.opsSum[:]...)
	b = binary.BigEndian.AppendUint64(b, s.gen)
	return binary.BigEndian.AppendUint64(b, cpFormat)
}

func decodeCPState(b []byte) (*cpState, error) {
	d := decoder{b: b}
	s := &cpState{seq: d.u64()}
	copy(s.head[:], d.take(32))
	s.accounts, s.ops = d.u64(), d.u64()
	copy(s.accountsSum[:], d.take(32))
	copy(s.opsSum[:], d.take(32))
	s.gen = d.u64()
	if len(b) == cpStateLen-8 {
		return nil, errOldCheckpoint
	}
	s.format = d.u64()
	if d.bad || len(d.b) != 0 {
		return nil, broken(ErrCorrupt, "checkpoint state record is %d bytes", len(b))
	}
	if s.format != cpFormat {
		return nil, fmt.Errorf("%w: format %d, want %d", errOldCheckpoint, s.format, cpFormat)
	}
	return s, nil
}

// appendAccount appends one account: its id and fields, then 0, or 1 and
// its holder token and limits.
func appendAccount(b []byte, id []byte, a *account, e *walletExt, token []byte) []byte {
	b = append(b, byte(len(id)))
	b = append(b, id...)
	b = append(b, byte(a.kind))
	b = binary.BigEndian.AppendUint32(b, a.tag)
	closed := byte(0)
	if a.closed {
		closed = 1
	}
	b = append(b, closed)
	b = binary.BigEndian.AppendUint32(b, uint32(a.served))
	b = binary.BigEndian.AppendUint64(b, uint64(a.bal))
	b = binary.BigEndian.AppendUint64(b, a.opened)
	b = binary.BigEndian.AppendUint64(b, a.last)
	if e == nil {
		return append(b, 0)
	}
	b = append(b, 1, byte(len(token)))
	b = append(b, token...)
	return appendLimits(b, Limits{Holding: e.limit, Sweep: e.sweep})
}

// loadedTerms is a holder and limits read from a checkpoint, for account n.
type loadedTerms struct {
	n      uint32
	holder HolderID
	limits Limits
}

// loadedAccounts is what the account chunks of a checkpoint hold.
type loadedAccounts struct {
	accounts []account
	ids      []AccountID
	terms    []loadedTerms
}

// decodeAccounts parses one chunk of accounts, appending to into.
func decodeAccounts(chunk []byte, into *loadedAccounts) error {
	d := decoder{b: chunk}
	for len(d.b) > 0 && !d.bad {
		into.ids = append(into.ids, AccountID(d.str()))
		a := account{kind: Kind(d.u8()), tag: d.u32()}
		a.closed = d.u8() == 1
		a.served = int32(d.u32())
		a.bal, a.opened, a.last = int64(d.u64()), d.u64(), d.u64()
		if d.flag() {
			t := loadedTerms{n: uint32(len(into.accounts)), holder: HolderID(d.str())}
			t.limits = d.limits()
			into.terms = append(into.terms, t)
		}
		into.accounts = append(into.accounts, a)
	}
	if d.bad {
		return broken(ErrCorrupt, "checkpoint account chunk is truncated or malformed")
	}
	return nil
}

func appendOpEntry(b []byte, e *opEntry) []byte {
	b = append(b, e.key[:]...)
	b = binary.BigEndian.AppendUint64(b, e.ref.seq)
	b = binary.BigEndian.AppendUint64(b, uint64(e.ref.time))
	return binary.BigEndian.AppendUint64(b, e.ref.digest)
}

// decodeOps parses one chunk of the id index into x. The entries are in
// journal order, one for each record.
func decodeOps(chunk []byte, x *opIndex) error {
	if len(chunk)%opEntryLen != 0 {
		return broken(ErrCorrupt, "checkpoint id-index chunk is %d bytes", len(chunk))
	}
	for ; len(chunk) > 0; chunk = chunk[opEntryLen:] {
		k := opKey(chunk[:16])
		ref := opRef{
			seq:    binary.BigEndian.Uint64(chunk[16:]),
			time:   int64(binary.BigEndian.Uint64(chunk[24:])),
			digest: binary.BigEndian.Uint64(chunk[32:]),
		}
		if !x.add(&k, ref) {
			return broken(ErrCorrupt, "checkpoint id index has the operation at %d after %d, or twice", ref.seq, x.len())
		}
	}
	return nil
}

// checkpointer owns the checkpoint file and writes snapshots handed to it.
type checkpointer struct {
	db      *bolt.DB
	path    string
	log     *slog.Logger
	opsHash hash.Hash      // running SHA-256 of the id-index chunks on disk
	ops     uint64         // entries in the id index on disk
	seq     uint64         // sequence of the checkpoint on disk; 0 for none
	gen     uint64         // its accounts generation
	in      chan *snapshot // buffered 1; send only after taking the idle token
	idle    chan struct{}  // holds a token while no snapshot is being written
	done    chan struct{}
}

func openCheckpointer(dir string, log *slog.Logger, readOnly bool) (*checkpointer, error) {
	path := filepath.Join(dir, CheckpointFileName)
	opts := bolt.Options{Timeout: time.Second, ReadOnly: readOnly, NoFreelistSync: true, FreelistType: bolt.FreelistMapType}
	db, err := boltfile.Open(path, opts, nil)
	if errors.Is(err, boltfile.ErrDamaged) && !readOnly {
		// The journal is the truth: keep the damaged file for whoever
		// wants to look at it, and start the checkpoint anew.
		aside := path + ".damaged"
		log.Warn("ledger checkpoint file damaged; set aside, replaying the whole journal", "err", err, "aside", aside)
		if err := os.Rename(path, aside); err != nil {
			return nil, fmt.Errorf("ledger: set the damaged checkpoint aside: %w", err)
		}
		db, err = boltfile.Open(path, opts, nil)
	}
	if d, ok := damageOf(err); ok {
		return nil, d
	}
	if err != nil {
		return nil, fmt.Errorf("ledger: open checkpoint: %w", err)
	}
	if !readOnly {
		if err := syncDirs(dir); err != nil {
			db.Close()
			return nil, err
		}
	}
	c := &checkpointer{db: db, path: path, log: log, opsHash: sha256.New(),
		in: make(chan *snapshot, 1), idle: make(chan struct{}, 1), done: make(chan struct{})}
	c.idle <- struct{}{}
	return c, nil
}

// load reads the checkpoint into a state with its id index, or returns an
// error saying why it cannot be used.
func (c *checkpointer) load() (*state, error) {
	st := newState(true)
	var meta *cpState
	var loaded *loadedAccounts
	err := c.db.View(func(tx *bolt.Tx) error {
		mb, ob := tx.Bucket(cpBucketMeta), tx.Bucket(cpBucketOps)
		if mb == nil || mb.Get(cpKeyState) == nil || ob == nil {
			return errNoCheckpoint
		}
		var err error
		if meta, err = decodeCPState(mb.Get(cpKeyState)); err != nil {
			return err
		}
		ab := tx.Bucket(cpAccountsBucket(meta.gen))
		if ab == nil {
			return broken(ErrCorrupt, "checkpoint accounts generation %d is missing", meta.gen)
		}
		if loaded, err = c.loadAccounts(ab, meta); err != nil {
			return err
		}
		return c.loadOps(ob, st, meta)
	})
	if err != nil {
		return nil, err
	}
	st.seq, st.head, st.accounts = meta.seq, meta.head, loaded.accounts
	for n, id := range loaded.ids {
		if err := st.checkLoaded(uint32(n), id); err != nil {
			return nil, err
		}
		st.names.add(id)
		st.totals[st.accounts[n].kind] += st.accounts[n].bal
	}
	for _, t := range loaded.terms {
		if err := checkTerms(st.accounts[t.n].kind, t.holder, t.limits); err != nil {
			return nil, broken(ErrCorrupt, "checkpoint account %d: %s", t.n, strings.TrimPrefix(err.Error(), "ledger: "))
		}
		st.setTerms(t.n, t.holder, t.limits)
	}
	rep := &AuditReport{Totals: st.totalsView()}
	if checkBalances(st, rep); !rep.OK() {
		return nil, broken(ErrCorrupt, "checkpoint fails the audit's balance checks: %s", rep.Problems[0])
	}
	if st.ops.len() != st.seq {
		return nil, broken(ErrCorrupt, "checkpoint at record %d indexes %d operations", st.seq, st.ops.len())
	}
	return st, nil
}

// checkLoaded refuses an account read from a checkpoint that no journal
// could have produced; the checksums guard against accidents, this against
// bytes that would crash the ledger.
func (s *state) checkLoaded(n uint32, id AccountID) error {
	a := &s.accounts[n]
	_, dup := s.names.lookup(id)
	switch {
	case !a.kind.valid() || (a.kind == KindIssuance) != (n == 0):
		return broken(ErrCorrupt, "checkpoint account %d has kind %d", n, a.kind)
	case !validID(string(id)) || dup:
		return broken(ErrCorrupt, "checkpoint account %d has a bad or repeated id", n)
	case a.tag != 0 && (a.tag >= n || s.accounts[a.tag].kind != KindIntermediary):
		return broken(ErrCorrupt, "checkpoint account %d is served by account %d", n, a.tag)
	case a.served < 0 || (a.bal < 0 && n != 0) || a.opened > s.seq || a.last > s.seq:
		return broken(ErrCorrupt, "checkpoint account %d has impossible figures", n)
	}
	return nil
}

var errNoCheckpoint = errors.New("no checkpoint yet")

// loadAccounts reads the accounts and checks them against their checksum.
// A mismatch is damage, and is reported before any chunk that does not
// decode, since altered bytes explain both.
func (c *checkpointer) loadAccounts(b *bolt.Bucket, meta *cpState) (*loadedAccounts, error) {
	sum := sha256.New()
	into := &loadedAccounts{accounts: make([]account, 0, min(meta.accounts, 1<<20))} // the count is checked after reading
	var decodeErr error
	b.ForEach(func(_, v []byte) error {
		sum.Write(v)
		if decodeErr == nil {
			decodeErr = decodeAccounts(v, into)
		}
		return nil
	})
	if !bytes.Equal(sum.Sum(nil), meta.accountsSum[:]) {
		return nil, c.damaged("its accounts do not match their checksum")
	}
	if decodeErr != nil {
		return nil, decodeErr
	}
	if uint64(len(into.accounts)) != meta.accounts {
		return nil, broken(ErrCorrupt, "checkpoint holds %d accounts, its state says %d", len(into.accounts), meta.accounts)
	}
	return into, nil
}

func (c *checkpointer) loadOps(b *bolt.Bucket, st *state, meta *cpState) error {
	h := sha256.New()
	st.ops = newOpIndex()
	end := seqKey(meta.seq)
	cur := b.Cursor()
	var decodeErr error
	// Chunks after the checkpoint's sequence are left from a write that
	// did not finish; the next write removes them.
	for k, v := cur.First(); k != nil && bytes.Compare(k, end) <= 0; k, v = cur.Next() {
		h.Write(v)
		if decodeErr == nil {
			decodeErr = decodeOps(v, st.ops)
		}
	}
	if !bytes.Equal(h.Sum(nil), meta.opsSum[:]) {
		return c.damaged("its operation-id index does not match its checksum")
	}
	if decodeErr != nil {
		return decodeErr
	}
	if st.ops.len() != meta.ops {
		return broken(ErrCorrupt, "checkpoint indexes %d operations, its state says %d", st.ops.len(), meta.ops)
	}
	c.opsHash, c.ops, c.seq, c.gen = h, meta.ops, meta.seq, meta.gen
	return nil
}

// damaged is damage to the checkpoint: set aside, never served.
func (c *checkpointer) damaged(detail string) error {
	return &DamageError{Path: c.path, Kind: boltfile.Altered, Detail: detail}
}

// reset empties the checkpoint file so the next snapshot starts it anew.
func (c *checkpointer) reset() error {
	c.opsHash, c.ops, c.seq, c.gen = sha256.New(), 0, 0, 0
	return c.db.Update(func(tx *bolt.Tx) error {
		var names [][]byte
		tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			names = append(names, append([]byte(nil), name...))
			return nil
		})
		for _, name := range names {
			if err := tx.DeleteBucket(name); err != nil {
				return err
			}
		}
		return nil
	})
}

// run writes snapshots until in is closed. After a failed write it writes
// no more: the checkpoint on disk stays whole at its older sequence.
func (c *checkpointer) run() {
	defer close(c.done)
	failed := false
	for s := range c.in {
		start := time.Now()
		if failed {
			// skip
		} else if err := c.write(s); err != nil {
			failed = true
			c.log.Error("ledger checkpoint failed; recovery will replay more journal", "seq", s.seq, "err", err)
		} else {
			c.log.Debug("ledger checkpoint", "seq", s.seq, "accounts", len(s.accounts), "ops", len(s.ops), "took", time.Since(start))
		}
		c.idle <- struct{}{}
	}
}

// write stores one snapshot: the new accounts generation and the new
// id-index chunks in small transactions, then the switch-over in one more.
// Until that last commit the checkpoint on disk is the previous one.
func (c *checkpointer) write(s *snapshot) error {
	h, err := cloneHash(c.opsHash)
	if err != nil {
		return err
	}
	gen := c.gen + 1
	meta := &cpState{seq: s.seq, head: s.head, accounts: uint64(len(s.accounts)), ops: c.ops + uint64(len(s.ops)), gen: gen}
	if err := c.clearUnfinished(); err != nil {
		return err
	}
	accounts, sum := encodeAccounts(s)
	copy(meta.accountsSum[:], sum)
	if err := c.putPaced(cpAccountsBucket(gen), accounts); err != nil {
		return err
	}
	if err := c.putPaced(cpBucketOps, encodeOps(s.ops, h)); err != nil {
		return err
	}
	copy(meta.opsSum[:], h.Sum(nil))
	err = c.db.Update(func(tx *bolt.Tx) error {
		mb, err := tx.CreateBucketIfNotExists(cpBucketMeta)
		if err != nil {
			return err
		}
		if err := mb.Put(cpKeyState, meta.encode()); err != nil {
			return err
		}
		return deleteIfExists(tx, cpAccountsBucket(c.gen))
	})
	if err != nil {
		return err
	}
	c.opsHash, c.ops, c.seq, c.gen = h, meta.ops, meta.seq, gen
	return nil
}

// clearUnfinished removes what a write that did not finish left behind:
// an accounts generation never switched to, id-index chunks past the
// checkpoint's sequence.
func (c *checkpointer) clearUnfinished() error {
	return c.db.Update(func(tx *bolt.Tx) error {
		if err := deleteIfExists(tx, cpAccountsBucket(c.gen+1)); err != nil {
			return err
		}
		b := tx.Bucket(cpBucketOps)
		if b == nil {
			return nil
		}
		cur := b.Cursor()
		for k, _ := cur.Seek(seqKey(c.seq + 1)); k != nil; k, _ = cur.Seek(seqKey(c.seq + 1)) {
			if err := cur.Delete(); err != nil {
				return err
			}
		}
		return nil
	})
}

func deleteIfExists(tx *bolt.Tx, name []byte) error {
	if err := tx.DeleteBucket(name); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
		return err
	}
	return nil
}

// chunk is one keyed value of the checkpoint file.
type chunk struct{ key, value []byte }

// putPaced writes chunks into a bucket a few per transaction, pausing
// between transactions so the journal's fsyncs are not starved.
func (c *checkpointer) putPaced(bucket []byte, chunks []chunk) error {
	for len(chunks) > 0 {
		n := min(len(chunks), cpChunksPerTx)
		err := c.db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists(bucket)
			if err != nil {
				return err
			}
			b.FillPercent = 1
			for _, ch := range chunks[:n] {
				if err := b.Put(ch.key, ch.value); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		chunks = chunks[n:]
		time.Sleep(cpPause)
	}
	return nil
}

// encodeAccounts lays the accounts out in chunks and sums them.
func encodeAccounts(s *snapshot) ([]chunk, []byte) {
	sum := sha256.New()
	var chunks []chunk
	buf := make([]byte, 0, cpChunk+256)
	flush := func() {
		sum.Write(buf)
		chunks = append(chunks, chunk{binary.BigEndian.AppendUint32(nil, uint32(len(chunks)+1)), buf})
		buf = make([]byte, 0, cpChunk+256)
	}
	for i := range s.accounts {
		var e *walletExt
		var token []byte
		if x := s.accounts[i].ext; x != 0 {
			e = &s.exts[x]
			if e.holder != 0 {
				token = s.tokens.bytes(e.holder - 1)
			}
		}
		buf = appendAccount(buf, s.names.bytes(uint32(i)), &s.accounts[i], e, token)
		if len(buf) >= cpChunk {
			flush()
		}
	}
	if len(buf) > 0 {
		flush()
	}
	return chunks, sum.Sum(nil)
}

// encodeOps lays id-index entries out in chunks keyed by their first
// sequence, extending the running sum h.
func encodeOps(ops []opEntry, h hash.Hash) []chunk {
	var chunks []chunk
	for len(ops) > 0 {
		n := min(len(ops), cpChunk/opEntryLen)
		buf := make([]byte, 0, n*opEntryLen)
		for i := range ops[:n] {
			buf = appendOpEntry(buf, &ops[i])
		}
		h.Write(buf)
		chunks = append(chunks, chunk{seqKey(ops[0].ref.seq), buf})
		ops = ops[n:]
	}
	return chunks
}

func cloneHash(h hash.Hash) (hash.Hash, error) {
	state, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return nil, err
	}
	c := sha256.New()
	return c, c.(encoding.BinaryUnmarshaler).UnmarshalBinary(state)
}
