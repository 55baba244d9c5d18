// Package replica runs the central ledger as one replica of a group kept
// in step by Raft (github.com/hashicorp/raft, its log in bbolt through
// raft-boltdb). The leader's group commits are the Raft entries, so
// replication costs one consensus round per batch; an operation is
// answered once a majority holds its batch durably. Every replica writes
// the same entries to its own journal, which therefore has the same hash
// chain everywhere.
package replica

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/ledger/settlement"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// Peer is one replica of the group: its id and its Raft address.
type Peer struct {
	ID   string
	Addr string // host:port of its Raft transport
}

// Timing defaults. Followers start an election after HeartbeatTimeout
// without a leader's word; on one machine or a LAN a leader's heartbeat
// takes well under a millisecond, so 500 ms leaves room for a loaded
// machine's pauses (fsyncs, GC) without electing on every hiccup, and a
// failover costs about that plus an election.
const (
	DefaultHeartbeatTimeout = 500 * time.Millisecond
	DefaultElectionTimeout  = 500 * time.Millisecond
	DefaultApplyTimeout     = 10 * time.Second
)

// Config describes one replica.
type Config struct {
	ID    string // this replica's id, one of Peers
	Dir   string // its data: the ledger's files in Dir/ledger, Raft's in Dir/raft
	Bind  string // where its Raft transport listens (host:port)
	Peers []Peer // the whole group, this replica too; used to start a new group
	// Join starts a replica that is not in the group yet and waits for
	// its leader to add it (AddReplica); Peers is then not used.
	Join bool

	// Ledger tunes the ledger; Replicator and GenesisTime are set here.
	Ledger ledger.Options

	// GenesisTime stamps the journal's first record. Every replica of a
	// group must be given the same; the Unix epoch when zero.
	GenesisTime time.Time

	// Offline, when set, has the leader settle offline vouchers. Every
	// replica keeps a copy of the settlement index either way, so that
	// any of them can take over.
	Offline *Offline

	HeartbeatTimeout time.Duration // DefaultHeartbeatTimeout when zero
	ElectionTimeout  time.Duration // DefaultElectionTimeout when zero
	Logger           *slog.Logger

	// Snapshots and log compaction (see snapshot.go): a snapshot is taken
	// once SnapshotThreshold entries are in the log after the last one,
	// Raft looking about every SnapshotInterval, and TrailingLogs entries
	// are kept behind it for followers that were briefly away;
	// DefaultSnapshotThreshold, DefaultSnapshotInterval and
	// DefaultTrailingLogs when zero.
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	TrailingLogs      uint64
}

// Offline is how the leader settles offline vouchers.
type Offline struct {
	Settlement settlement.Config // its Replicated is set here
	// RootKey is the file of the central bank's root key, which certifies
	// banks and signs receipts: every replica must be given the same, so
	// that purses trust whichever leads.
	RootKey string
}

// Replica is one running replica: its ledger and its place in the group.
type Replica struct {
	cfg    Config
	led    *ledger.Ledger
	index  *settlement.Index // this replica's copy of the settlement index
	raft   *raft.Raft
	logs   *raftboltdb.BoltStore
	trans  *raft.NetworkTransport
	log    *slog.Logger
	notify chan bool
	wg     sync.WaitGroup

	leaderChanges atomic.Uint64 // this replica's gains and losses of leadership

	settler    atomic.Pointer[settlement.Settler] // the leader's, while it settles
	kick       chan struct{}                      // wakes settle when the ledger's leadership changes
	quit       chan struct{}                      // closed by Close: settle stops
	settleDone chan struct{}                      // closed when settle has returned
	indexErr   atomic.Pointer[error]              // a failed write of the index's copy

	closeOnce sync.Once
	closeErr  error
}

// Open opens (or creates) the replica's files, recovers its ledger from
// its own journal, and joins the group. A replica with no Raft state yet
// starts the group from Peers; the others find it.
func Open(cfg Config) (*Replica, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Replica{cfg: cfg, log: cfg.Logger.With("replica", cfg.ID), notify: make(chan bool, 16),
		kick: make(chan struct{}, 1), quit: make(chan struct{}), settleDone: make(chan struct{})}
	raftDir := filepath.Join(cfg.Dir, "raft")
	if err := os.MkdirAll(raftDir, 0o700); err != nil {
		return nil, fmt.Errorf("replica: %w", err)
	}
	opts := cfg.Ledger
	opts.Replicator, opts.GenesisTime = r, cfg.GenesisTime
	if opts.GenesisTime.IsZero() {
		opts.GenesisTime = time.Unix(0, 0).UTC()
	}
	if opts.Logger == nil {
		opts.Logger = r.log
	}
	led, err := ledger.Open(filepath.Join(cfg.Dir, "ledger"), opts)
	if err != nil {
		return nil, err
	}
	r.led = led
	if r.index, err = settlement.OpenIndex(led.Dir()); err != nil {
		led.Close()
		return nil, err
	}
	if err := r.start(raftDir); err != nil {
		r.index.Close()
		led.Close()
		return nil, err
	}
	r.wg.Go(r.followLeadership)
	go r.settle()
	return r, nil
}

func (c *Config) check() error {
	var bad []string
	if c.ID == "" {
		bad = append(bad, "a replica needs an id")
	}
	if c.Dir == "" {
		bad = append(bad, "a replica needs a data directory")
	}
	if _, _, err := net.SplitHostPort(c.Bind); err != nil {
		bad = append(bad, fmt.Sprintf("the Raft address %q is not host:port", c.Bind))
	}
	seen, self := map[string]bool{}, false
	for _, p := range c.Peers {
		if p.ID == "" || p.Addr == "" || seen[p.ID] {
			bad = append(bad, fmt.Sprintf("peer %q at %q: every peer needs an id of its own and an address", p.ID, p.Addr))
		}
		seen[p.ID], self = true, self || p.ID == c.ID
	}
	if len(c.Peers) > 0 && !self && !c.Join {
		bad = append(bad, fmt.Sprintf("the peers do not include this replica, %q", c.ID))
	}
	if c.Offline != nil && c.Offline.RootKey == "" {
		bad = append(bad, "offline settlement needs the root key's file, the same for every replica")
	}
	if len(bad) > 0 {
		return fmt.Errorf("replica: %s", strings.Join(bad, "; "))
	}
	if c.HeartbeatTimeout <= 0 {
		c.HeartbeatTimeout = DefaultHeartbeatTimeout
	}
	if c.ElectionTimeout <= 0 {
		c.ElectionTimeout = DefaultElectionTimeout
	}
	return nil
}

// logCacheEntries is how many of the latest Raft entries a replica keeps
// in memory as well as in its log: the ones a leader is sending to
// followers that keep up (two group commits in consensus at once), with
// room for a follower a few entries behind. An entry can be a group
// commit of up to 16 MiB, so the cache is kept small.
const logCacheEntries = 16

func (r *Replica) start(dir string) error {
	hl := hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Warn, Output: slogWriter{r.log}})
	// Compaction frees the pages of many old entries at once; a freelist
	// written with every append would cost more than the append, so bbolt
	// rebuilds it at open instead (as the ledger's journal does).
	logs, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft.db"),
		BoltOptions: &bolt.Options{Timeout: time.Second, NoFreelistSync: true, FreelistType: bolt.FreelistMapType}})
	if err != nil {
		return fmt.Errorf("replica: raft log: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, snapshotsRetained, hl)
	if err != nil {
		logs.Close()
		return fmt.Errorf("replica: snapshots: %w", err)
	}
	trans, err := raft.NewTCPTransportWithLogger(r.cfg.Bind, nil, 4, 10*time.Second, hl)
	if err != nil {
		logs.Close()
		return fmt.Errorf("replica: listen on %s: %w", r.cfg.Bind, err)
	}
	conf := raft.DefaultConfig()
	conf.LocalID = raft.ServerID(r.cfg.ID)
	conf.Logger = hl
	conf.HeartbeatTimeout, conf.ElectionTimeout = r.cfg.HeartbeatTimeout, r.cfg.ElectionTimeout
	conf.LeaderLeaseTimeout = r.cfg.HeartbeatTimeout / 2
	conf.NotifyCh = r.notify
	// The snapshot is the ledger's journal; see snapshot.go.
	conf.SnapshotThreshold, conf.SnapshotInterval, conf.TrailingLogs = r.cfg.snapshotSettings()
	has, err := raft.HasExistingState(logs, logs, snaps)
	if err == nil && !has && len(r.cfg.Peers) > 0 && !r.cfg.Join {
		var servers []raft.Server
		for _, p := range r.cfg.Peers {
			servers = append(servers, raft.Server{ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.Addr)})
		}
		err = raft.BootstrapCluster(conf, logs, logs, snaps, trans, raft.Configuration{Servers: servers})
	}
	var cached raft.LogStore
	if err == nil {
		// Raft reads each entry back to send it to every follower; the
		// cache hands them the entry just written, not a decoded copy.
		cached, err = raft.NewLogCache(logCacheEntries, logs)
	}
	if err == nil {
		r.raft, err = raft.NewRaft(conf, fsm{r}, cached, logs, snaps, trans)
	}
	if err != nil {
		trans.Close()
		logs.Close()
		return fmt.Errorf("replica: start raft: %w", err)
	}
	r.logs, r.trans = logs, trans
	return nil
}

// followLeadership lets the ledger take operations while this replica
// leads: once it has applied everything committed before (a barrier), and
// no longer the moment it does not. It looks again every heartbeat too:
// a ledger that stopped leading while Raft still leads (a proposal of its
// refused) leads again after a new barrier, and one whose storage failed
// hands the leadership on.
func (r *Replica) followLeadership() {
	tick := time.NewTicker(r.cfg.HeartbeatTimeout)
	defer tick.Stop()
	for {
		select {
		case <-r.quit:
			return
		case leader := <-r.notify:
			r.leaderChanges.Add(1)
			if !leader {
				r.led.Follow()
				r.wakeSettle()
				continue
			}
		case <-tick.C:
		}
		r.keepLeading()
	}
}

func (r *Replica) keepLeading() {
	leads := r.raft.State() == raft.Leader
	switch {
	case !leads && r.led.Leading():
		r.led.Follow()
	case !leads || r.led.Leading():
	case r.Err() != nil:
		r.log.Warn("handing the leadership on: this replica's storage has failed", "err", r.Err())
		r.raft.LeadershipTransfer()
	default:
		if err := r.raft.Barrier(r.cfg.ElectionTimeout * 4).Error(); err != nil {
			r.log.Warn("leadership without a barrier yet", "err", err)
			return
		}
		if r.raft.State() == raft.Leader {
			r.led.Lead()
			r.wakeSettle()
		}
	}
}

// Err is nil while the replica's storage works: the ledger's journal and
// the settlement index's copy.
func (r *Replica) Err() error {
	if err := r.led.Err(); err != nil {
		return err
	}
	if p := r.indexErr.Load(); p != nil {
		return *p
	}
	return nil
}

// Replicate proposes a group commit and waits until a majority holds it
// and this replica has applied it.
func (r *Replica) Replicate(entry []byte) error { return r.Propose(entry)() }

// Propose queues a group commit behind those proposed before it; wait
// returns once a majority holds it and this replica has applied it.
func (r *Replica) Propose(entry []byte) (wait func() error) {
	f := r.raft.Apply(entry, DefaultApplyTimeout)
	return func() error {
		if err := r.wait(f); err != nil {
			return err
		}
		if err, ok := f.Response().(error); ok && err != nil {
			return err
		}
		return nil
	}
}

// wait waits for a proposal's outcome. Raft answers every proposal its
// loops take, but one still queued when Raft shuts down (at Close, or by
// itself once this replica is removed from the group) is never answered:
// that wait ends at Close or when Raft is seen shut down, in doubt.
func (r *Replica) wait(f raft.ApplyFuture) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	tick := time.NewTicker(r.cfg.HeartbeatTimeout)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-r.quit:
			return raft.ErrRaftShutdown
		case <-tick.C:
			if r.raft.State() == raft.Shutdown {
				select {
				case err := <-done:
					return err
				default:
					return raft.ErrRaftShutdown
				}
			}
		}
	}
}

// Ledger is the replica's ledger: reads anywhere, operations at the leader.
func (r *Replica) Ledger() *ledger.Ledger { return r.led }

// ID is the replica's id.
func (r *Replica) ID() string { return r.cfg.ID }

// Role says what the replica is now: leader, follower, candidate or
// shutdown.
func (r *Replica) Role() string { return strings.ToLower(r.raft.State().String()) }

// Leader returns the leader's id and Raft address, empty when none is known.
func (r *Replica) Leader() (id, addr string) {
	a, i := r.raft.LeaderWithID()
	return string(i), string(a)
}

// Stats is where the replica stands in its group, for metrics.
type Stats struct {
	Role          string // leader, follower, candidate or shutdown
	Term          uint64 // the Raft term it is in
	CommitIndex   uint64 // the last entry it knows committed
	AppliedIndex  uint64 // the last entry it has applied to its ledger
	LastLogIndex  uint64 // the last entry in its Raft log
	LeaderChanges uint64 // times it has gained or lost the leadership since it started
}

// Stats reads the replica's standing from Raft.
func (r *Replica) Stats() Stats {
	st := r.raft.Stats()
	num := func(k string) uint64 {
		n, _ := strconv.ParseUint(st[k], 10, 64)
		return n
	}
	return Stats{Role: r.Role(), Term: num("term"), CommitIndex: num("commit_index"), AppliedIndex: num("applied_index"),
		LastLogIndex: num("last_log_index"), LeaderChanges: r.leaderChanges.Load()}
}

// Progress is the Raft term the replica is in, the last entry it knows
// committed and the last it has applied.
func (r *Replica) Progress() (term, commit, applied uint64) {
	st := r.Stats()
	return st.Term, st.CommitIndex, st.AppliedIndex
}

// Close leaves the group (the others elect a leader among themselves if
// it led) and closes the ledger.
func (r *Replica) Close() error {
	r.closeOnce.Do(func() {
		r.led.Follow()
		close(r.quit)
		<-r.settleDone
		// Raft may still send on notify (it never blocks doing so), so
		// it is not closed: followLeadership returns at quit.
		err := r.raft.Shutdown().Error()
		r.wg.Wait()
		err = errors.Join(err, r.trans.Close(), r.logs.Close(), r.index.Close(), r.led.Close())
		if err != nil {
			r.closeErr = fmt.Errorf("replica %s: close: %w", r.cfg.ID, err)
		}
	})
	return r.closeErr
}

// fsm applies committed entries: the ledger's batches to its journal,
// the settlement index's writes to this replica's copy.
type fsm struct{ r *Replica }

func (f fsm) Apply(l *raft.Log) any { return f.ApplyBatch([]*raft.Log{l})[0] }

// ApplyBatch applies the entries Raft commits together: the ledger's
// batches among them are written to its journal in one transaction.
func (f fsm) ApplyBatch(logs []*raft.Log) []any {
	r := f.r
	out := make([]any, len(logs))
	var run []int // ledger entries not yet applied
	flush := func() {
		if len(run) == 0 {
			return
		}
		entries := make([][]byte, len(run))
		for j, i := range run {
			entries[j] = logs[i].Data
		}
		for j, err := range r.led.ApplyEntries(entries) {
			out[run[j]] = r.noteLedgerApply(logs[run[j]], err)
		}
		run = run[:0]
	}
	for i, l := range logs {
		switch {
		case l.Type != raft.LogCommand:
		case settlement.IsIndexEntry(l.Data):
			flush()
			out[i] = r.applyIndex(l)
		default:
			run = append(run, i)
		}
	}
	flush()
	return out
}

func (r *Replica) applyIndex(l *raft.Log) any {
	err := r.index.Apply(l.Data)
	if err != nil {
		// The copy now lacks a committed write: this replica stops
		// leading and serving offline settlement until it is rebuilt.
		err = fmt.Errorf("replica: settlement index entry %d not applied: %w", l.Index, err)
		r.indexErr.CompareAndSwap(nil, &err)
		r.log.Error("committed entry not applied", "index", l.Index, "term", l.Term, "err", err)
		return err
	}
	return nil
}

// noteLedgerApply logs the outcome of a ledger entry and returns it as
// the entry's response.
func (r *Replica) noteLedgerApply(l *raft.Log, err error) any {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ledger.ErrNotLeader), ledger.OutcomeOf(err) == ledger.Refused:
		// Replayed after a restart (the journal has it), sequenced under
		// an earlier leadership, or a message refused by its full
		// mailbox: every replica decides it alike.
		r.log.Debug("committed entry skipped", "index", l.Index, "term", l.Term, "err", err)
	default:
		r.log.Error("committed entry not applied", "index", l.Index, "term", l.Term, "err", err)
	}
	return err
}

// Snapshot and Restore ship the ledger's journal; see snapshot.go.
func (f fsm) Snapshot() (raft.FSMSnapshot, error) { return f.snapshot() }

func (f fsm) Restore(rc io.ReadCloser) error { return f.restore(rc) }

// slogWriter carries Raft's own log lines into the replica's log.
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.log.Warn("raft", "line", strings.TrimSpace(string(p)))
	return len(p), nil
}
