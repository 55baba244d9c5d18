package sandbox

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/digital-yen/cbdc-sandbox/internal/atomicfile"
	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/ledger/replica"
	"github.com/digital-yen/cbdc-sandbox/ledger/settlement"
	"github.com/digital-yen/cbdc-sandbox/ledgerhttp"
	"github.com/digital-yen/cbdc-sandbox/offline"
)

// A replicated central ledger in one process: the replicas of a group,
// each with its own directory, its own Raft transport and its own HTTP
// server on loopback, and banks that reach them over HTTP through a
// ledgerhttp.Client given every replica's URL, as banks in processes of
// their own do. A replica can be stopped (closed, as if its machine
// failed) and started again from its directory, where it catches up.

// ReplicasFile, in the sandbox's data directory, keeps each replica's id
// and Raft address: a group's members and addresses are fixed when it is
// first started (its Raft log records them), so a restarted sandbox
// takes the same ones.
const ReplicasFile = "replicas.json"

// MinReplicas and MaxReplicas bound a replicated sandbox: three is the
// fewest of which a majority still runs while one is stopped.
const (
	MinReplicas = 3
	MaxReplicas = 9
)

// ReplicaID names replica i (1-based), as `cbdc cluster` does.
func ReplicaID(i int) string { return fmt.Sprintf("ledger-%d", i) }

// ReplicaDir is replica i's data directory (1-based) in the sandbox's
// directory: its journal in ledger/, its Raft log in raft/.
func ReplicaDir(dir string, i int) string { return filepath.Join(dir, fmt.Sprintf("replica-%d", i)) }

// CredentialsDir holds the banks' ledger credentials of a replicated
// sandbox, bank-N.key, which every replica accepts.
func CredentialsDir(dir string) string { return filepath.Join(dir, "credentials") }

// Errors of stopping and starting replicas.
var (
	ErrNoSuchReplica  = errors.New("sandbox: no such replica")
	ErrReplicaStopped = errors.New("sandbox: the replica is stopped already")
	ErrReplicaRunning = errors.New("sandbox: the replica is running already")
	ErrNoLeader       = errors.New("sandbox: no replica leads just now")
	ErrNoMajority     = errors.New("sandbox: too few replicas would be left to elect a leader")
	ErrClusterClosed  = errors.New("sandbox: the replicated ledger is closed")
)

// ClusterConfig is a replicated central ledger in this process.
type ClusterConfig struct {
	Dir      string // the sandbox's data directory: replica i in ReplicaDir(Dir, i)
	Replicas int    // MinReplicas to MaxReplicas
	Banks    int    // intermediaries bank-1 … bank-N, opened and given Float on first start
	Float    int64

	// Offline settlement, which the leader runs: the policy (the
	// default when zero), the
	// guarantee fund (settlement.DefaultGuaranteeFund when 0) and how
	// often the leader closes the settlement window (DefaultWindow when
	// 0). The root key sits with the banks' credentials, shared by every
	// replica.
	Policy        offline.Policy
	GuaranteeFund int64
	Window        time.Duration

	// Raft's timeouts; the replica package's defaults when zero.
	HeartbeatTimeout time.Duration
	ElectionTimeout  time.Duration

	Logger *slog.Logger
}

// Cluster is a replicated central ledger running in this process.
type Cluster struct {
	cfg   ClusterConfig
	log   *slog.Logger
	peers []replica.Peer
	keys  map[ledger.AccountID]ed25519.PublicKey  // what the replicas' servers accept
	creds map[ledger.AccountID]ed25519.PrivateKey // the banks' credentials
	// EarlierFloat are the intermediaries whose first float an earlier
	// start issued with another amount; Float applies to new ones only.
	EarlierFloat []ledger.AccountID

	ops sync.Mutex // one stop, start or close at a time

	stopWindows context.CancelFunc
	windows     sync.WaitGroup

	mu     sync.Mutex // protects the nodes' running parts, last and closed
	nodes  []*node
	last   *ledger.Ledger // the ledger Live gave last
	closed bool
}

// node is one replica of the cluster, running or stopped.
type node struct {
	id   string
	dir  string
	raft string // its Raft address, fixed for the group's life
	http string // its HTTP server's address, fixed for the process's life

	r           *replica.Replica // nil while stopped
	srv         *http.Server
	stoppedAt   time.Time
	stoppedHead uint64 // its journal's last record when it stopped
}

// ReplicaStatus is where one replica stands.
type ReplicaStatus struct {
	ID        string
	URL       string // its HTTP server, where the banks reach it
	Raft      string // its Raft transport
	Running   bool
	Role      string // leader, follower, candidate, or stopped
	Term      uint64 // the Raft term it is in
	Commit    uint64 // the last Raft entry it knows committed
	Applied   uint64 // the last Raft entry it applied to its journal
	Head      uint64 // its journal's last record (when it stopped, for a stopped one)
	Leader    string // the leader it knows; "" when none
	StoppedAt time.Time
}

// Stopped is a replica the cluster stopped: when, and the last journal
// record it held, which is the last it can have acknowledged, so any
// record after it was committed under another leader.
type Stopped struct {
	ID   string
	At   time.Time // just before it was closed
	Head uint64
	Led  bool // it led when it was stopped, as far as the group knew
}

// CheckLayout says whether the sandbox's data directory can hold the kind
// of central ledger asked for: a lone ledger (replicas ≤ 1) in Dir/ledger,
// or replicas in Dir/replica-N. The banks' books in a directory follow
// one ledger's journal, so one kind never starts where the other was.
func CheckLayout(dir string, replicas int) error {
	_, loneErr := os.Stat(filepath.Join(dir, "ledger"))
	peers, replErr := readReplicas(dir)
	switch {
	case replicas <= 1 && replErr == nil:
		return fmt.Errorf("%s holds a replicated central ledger of %d replicas (%s): start it with %d replicas, or use another data directory",
			dir, len(peers), filepath.Join(dir, ReplicasFile), len(peers))
	case replicas > 1 && loneErr == nil:
		return fmt.Errorf("%s holds a lone central ledger (%s), whose journal its banks' books follow: a replicated one cannot start there; use another data directory",
			dir, filepath.Join(dir, "ledger"))
	case replicas > 1 && replErr == nil && len(peers) != replicas:
		return fmt.Errorf("%s holds a replicated central ledger of %d replicas, not %d: a group's size is fixed when it first starts; start it with %d replicas, or use another data directory",
			dir, len(peers), replicas, len(peers))
	case replErr != nil && !errors.Is(replErr, fs.ErrNotExist):
		return replErr
	}
	return nil
}

// replicaAddr is one entry of ReplicasFile.
type replicaAddr struct {
	ID   string `json:"id"`
	Raft string `json:"raft"`
}

func readReplicas(dir string) ([]replica.Peer, error) {
	path := filepath.Join(dir, ReplicasFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f struct {
		Replicas []replicaAddr `json:"replicas"`
	}
	if err := json.Unmarshal(b, &f); err != nil || len(f.Replicas) == 0 {
		return nil, fmt.Errorf("%s: not a list of replicas (%v); it names each replica's Raft address", path, err)
	}
	var peers []replica.Peer
	for _, a := range f.Replicas {
		if _, _, err := net.SplitHostPort(a.Raft); a.ID == "" || err != nil {
			return nil, fmt.Errorf("%s: replica %q at %q is not an id and a host:port", path, a.ID, a.Raft)
		}
		peers = append(peers, replica.Peer{ID: a.ID, Addr: a.Raft})
	}
	return peers, nil
}

// loadOrChoosePeers reads the group's addresses, or on a first start
// picks a free loopback port for each replica's Raft transport and
// records them.
func loadOrChoosePeers(dir string, n int) ([]replica.Peer, error) {
	peers, err := readReplicas(dir)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return peers, err
	}
	f := struct {
		Replicas []replicaAddr `json:"replicas"`
	}{}
	for i := 1; i <= n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("sandbox: a port for %s's Raft transport: %w", ReplicaID(i), err)
		}
		// Held until every replica has its port: the kernel picks free
		// ports at random, so ports closed one by one can repeat.
		defer ln.Close()
		addr := ln.Addr().String()
		f.Replicas = append(f.Replicas, replicaAddr{ID: ReplicaID(i), Raft: addr})
		peers = append(peers, replica.Peer{ID: ReplicaID(i), Addr: addr})
	}
	b, _ := json.MarshalIndent(f, "", "  ")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := atomicfile.WriteNew(filepath.Join(dir, ReplicasFile), append(b, '\n'), 0o600); err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	return peers, nil
}

// OpenCluster starts every replica of the group from its directory, each
// with an HTTP server on a free loopback port, waits for a leader, and
// opens the banks' accounts with their first float (fixed operation ids:
// done once, whichever replica leads). What it started is closed again
// when a later step fails.
func OpenCluster(ctx context.Context, cfg ClusterConfig) (_ *Cluster, err error) {
	switch {
	case cfg.Replicas < MinReplicas || cfg.Replicas > MaxReplicas:
		return nil, fmt.Errorf("sandbox: a replicated ledger has %d to %d replicas, not %d", MinReplicas, MaxReplicas, cfg.Replicas)
	case cfg.Dir == "":
		return nil, errors.New("sandbox: a replicated ledger needs a data directory")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Window == 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.GuaranteeFund == 0 {
		cfg.GuaranteeFund = settlement.DefaultGuaranteeFund
	}
	if cfg.Policy == (offline.Policy{}) {
		cfg.Policy = offline.DefaultPolicy()
	}
	if cfg.Policy.UploadGrace == 0 {
		cfg.Policy.UploadGrace = offline.DefaultUploadGrace
	}
	if err := cfg.Policy.Validate(); err != nil {
		return nil, fmt.Errorf("sandbox: offline policy: %w", err)
	}
	if err := CheckLayout(cfg.Dir, cfg.Replicas); err != nil {
		return nil, err
	}
	peers, err := loadOrChoosePeers(cfg.Dir, cfg.Replicas)
	if err != nil {
		return nil, err
	}
	c := &Cluster{cfg: cfg, log: cfg.Logger, peers: peers, keys: map[ledger.AccountID]ed25519.PublicKey{}, creds: map[ledger.AccountID]ed25519.PrivateKey{}}
	for i := 1; i <= cfg.Banks; i++ {
		id := BankID(i)
		key, err := LoadOrCreateBankKey(filepath.Join(CredentialsDir(cfg.Dir), string(id)+".key"))
		if err != nil {
			return nil, err
		}
		c.creds[id], c.keys[id] = key, key.Public().(ed25519.PublicKey)
	}
	for i, p := range peers {
		c.nodes = append(c.nodes, &node{id: p.ID, dir: ReplicaDir(cfg.Dir, i+1), raft: p.Addr, http: "127.0.0.1:0"})
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.Close())
		}
	}()
	for _, n := range c.nodes {
		if err := c.start(ctx, n, 0); err != nil {
			return nil, err
		}
	}
	if err := c.seed(ctx); err != nil {
		return nil, err
	}
	if err := c.waitSettler(ctx); err != nil {
		return nil, err
	}
	var windows context.Context
	windows, c.stopWindows = context.WithCancel(context.Background())
	c.windows.Go(func() { CloseWindows(windows, c.Settler, cfg.Window, c.log) })
	return c, nil
}

// waitSettler waits until the leader settles offline vouchers, so the
// banks starting next certify their offline keys at once.
func (c *Cluster) waitSettler(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for c.Settler() == nil {
		select {
		case <-ctx.Done():
			return fmt.Errorf("sandbox: the leader did not open offline settlement within a minute: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// start opens a replica from its directory and serves it over HTTP on
// its address, waiting up to wait for an address still held (a port a
// stopped replica just left, or a client's connection to itself on it).
func (c *Cluster) start(ctx context.Context, n *node, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	var r *replica.Replica
	for {
		var err error
		r, err = replica.Open(replica.Config{ID: n.id, Dir: n.dir, Bind: n.raft, Peers: c.peers,
			Ledger: ledger.Options{Logger: c.log}, Offline: c.offline(), HeartbeatTimeout: c.cfg.HeartbeatTimeout, ElectionTimeout: c.cfg.ElectionTimeout, Logger: c.log})
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			return fmt.Errorf("sandbox: start %s: %w", n.id, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	ln, err := ListenRetry(ctx, n.http, nil, max(time.Until(deadline), 0), c.log)
	// A free port the kernel picks may be the one chosen for the Raft
	// transport of a replica not started yet, which could then never
	// start.
	for err == nil && strings.HasSuffix(n.http, ":0") && c.isRaftAddr(ln.Addr().String()) {
		ln.Close()
		ln, err = ListenRetry(ctx, n.http, nil, 0, c.log)
	}
	if err != nil {
		return errors.Join(fmt.Errorf("sandbox: serve %s: %w", n.id, err), r.Close())
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: ledgerhttp.NewServer(r.Ledger(), c.keys,
		ledgerhttp.ServerOptions{Replica: r, Offline: r.Settler, Members: Membership(r), Logger: c.log.With("replica", n.id)})}
	go srv.Serve(ln)
	c.mu.Lock()
	n.r, n.srv, n.http, n.stoppedAt = r, srv, ln.Addr().String(), time.Time{}
	c.mu.Unlock()
	return nil
}

// isRaftAddr says whether addr is a replica's Raft address.
func (c *Cluster) isRaftAddr(addr string) bool {
	return slices.ContainsFunc(c.peers, func(p replica.Peer) bool { return p.Addr == addr })
}

// offline is how every replica settles offline vouchers when it leads.
func (c *Cluster) offline() *replica.Offline {
	return &replica.Offline{RootKey: filepath.Join(CredentialsDir(c.cfg.Dir), settlement.RootKeyFile),
		Settlement: settlement.Config{Policy: c.cfg.Policy, GuaranteeFund: c.cfg.GuaranteeFund, Logger: c.log}}
}

// seed waits for a leader and opens the banks' accounts and first float
// there, asking again while the outcome is in doubt (a leader lost).
func (c *Cluster) seed(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		if l := c.leading(); l != nil {
			earlier, err := SeedBanks(ctx, l, c.cfg.Banks, c.cfg.Float)
			for _, id := range slices.Sorted(maps.Keys(c.keys)) {
				if err == nil {
					err = l.RegisterKey(ctx, id, c.keys[id])
				}
			}
			if err == nil {
				c.EarlierFloat = earlier
				return nil
			}
			if ledger.OutcomeOf(err) != ledger.InDoubt || ctx.Err() != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sandbox: no replica of the central ledger came to lead within a minute: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// leading is the ledger of the replica that takes operations now, or nil.
func (c *Cluster) leading() *ledger.Ledger {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.nodes {
		if n.r != nil && n.r.Ledger().Leading() {
			return n.r.Ledger()
		}
	}
	return nil
}

// URLs are every replica's HTTP server, comma-separated, as a bank's
// ledgerhttp.Client takes them.
func (c *Cluster) URLs() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var us []string
	for _, n := range c.nodes {
		us = append(us, "http://"+n.http)
	}
	return strings.Join(us, ",")
}

// Client is a bank's connection to the replicated ledger: every
// replica's URL, signed in with the bank's credential. It finds the
// leader, and asks the next replica under the same id when one does not
// answer or no longer leads.
func (c *Cluster) Client(bank ledger.AccountID) (*ledgerhttp.Client, error) {
	key, ok := c.creds[bank]
	if !ok {
		return nil, fmt.Errorf("sandbox: %s has no credential at the replicated ledger", bank)
	}
	return ledgerhttp.NewClientWith(c.URLs(), bank, key, ledgerhttp.ClientOptions{Logger: c.log.With("bank", string(bank))}), nil
}

// StartBanks starts the sandbox's banks against the replicated ledger,
// each through its own Client, as `cbdc bank` would, offline settlement
// included: the leader settles their purses' vouchers.
func (c *Cluster) StartBanks(ctx context.Context, cfg Config) ([]*Bank, error) {
	return startBanksThroughElections(ctx, cfg, func(id ledger.AccountID, _ string) (bankLedger, error) {
		client, err := c.Client(id)
		if err != nil {
			return bankLedger{}, err
		}
		// The ledger certifies the key a bank signs in with, and no other.
		return bankLedger{ledger: client, offline: client, offlineKey: c.creds[id]}, nil
	})
}

// electionWait is how long banks starting against a replicated ledger ask
// again while no replica leads (an election under way).
const electionWait = 30 * time.Second

// startBanksThroughElections is startBanks against a replicated ledger:
// while every replica answers that it does not lead (an election is
// under way), it asks again, for up to electionWait.
func startBanksThroughElections(ctx context.Context, cfg Config, reach func(id ledger.AccountID, dir string) (bankLedger, error)) ([]*Bank, error) {
	deadline := time.Now().Add(electionWait)
	for {
		banks, err := startBanks(ctx, cfg, reach)
		if err == nil || !errors.Is(err, ledger.ErrNotLeader) || time.Now().After(deadline) {
			return banks, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Replicas says where each replica stands, in order.
func (c *Cluster) Replicas() []ReplicaStatus {
	type part struct {
		id, raft, http string
		r              *replica.Replica
		stoppedAt      time.Time
		stoppedHead    uint64
	}
	c.mu.Lock()
	var parts []part
	for _, n := range c.nodes {
		parts = append(parts, part{n.id, n.raft, n.http, n.r, n.stoppedAt, n.stoppedHead})
	}
	c.mu.Unlock()
	var out []ReplicaStatus
	for _, p := range parts {
		s := ReplicaStatus{ID: p.id, URL: "http://" + p.http, Raft: p.raft, Role: "stopped", StoppedAt: p.stoppedAt, Head: p.stoppedHead}
		if p.r != nil {
			st := p.r.Stats()
			s.Running, s.Role, s.Term, s.Commit, s.Applied = true, st.Role, st.Term, st.CommitIndex, st.AppliedIndex
			s.Head, _ = p.r.Ledger().Head()
			s.Leader, _ = p.r.Leader()
			if s.Role == "shutdown" { // being stopped
				s.Running, s.Role = false, "stopped"
			}
		}
		out = append(out, s)
	}
	return out
}

// Leader is the id of the replica that leads now, "" when none does.
func (c *Cluster) Leader() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.nodes {
		if n.r != nil && n.r.Role() == "leader" {
			return n.id
		}
	}
	return ""
}

// StopLeader stops the replica that leads now, as Stop does. With too
// few replicas running to stop one, it says so whether or not a leader
// happens to be elected at that moment.
func (c *Cluster) StopLeader() (Stopped, error) {
	c.ops.Lock()
	defer c.ops.Unlock()
	c.mu.Lock()
	var leader *node
	running := 0
	for _, n := range c.nodes {
		if n.r != nil {
			running++
			if n.r.Role() == "leader" {
				leader = n
			}
		}
	}
	total, closed := len(c.nodes), c.closed
	c.mu.Unlock()
	if closed {
		return Stopped{}, ErrClusterClosed
	}
	if err := TooFewLeft("the leader", running, total); err != nil {
		return Stopped{}, err
	}
	if leader == nil {
		return Stopped{}, fmt.Errorf("%w (an election is under way)", ErrNoLeader)
	}
	return c.stop(leader)
}

// TooFewLeft is the refusal to stop one of running replicas of total
// when Raft could then elect no leader; nil when the stop may go ahead.
func TooFewLeft(which string, running, total int) error {
	if majority := total/2 + 1; running-1 < majority {
		return fmt.Errorf("%w: stopping %s would leave %d of %d replicas running, and Raft needs %d to elect a leader; start a stopped one again first",
			ErrNoMajority, which, running-1, total, majority)
	}
	return nil
}

// Stop stops a replica as if its machine failed: its HTTP server closes
// and the replica leaves the group without handing anything on. If it
// led, the others elect a leader among themselves. A replica whose stop
// would leave fewer than a majority running is not stopped.
func (c *Cluster) Stop(id string) (Stopped, error) {
	c.ops.Lock()
	defer c.ops.Unlock()
	n, err := c.node(id)
	if err != nil {
		return Stopped{}, err
	}
	return c.stop(n)
}

func (c *Cluster) stop(n *node) (Stopped, error) {
	c.mu.Lock()
	running := 0
	for _, x := range c.nodes {
		if x.r != nil {
			running++
		}
	}
	switch {
	case c.closed:
		c.mu.Unlock()
		return Stopped{}, ErrClusterClosed
	case n.r == nil:
		c.mu.Unlock()
		return Stopped{}, fmt.Errorf("%w: %s", ErrReplicaStopped, n.id)
	}
	if err := TooFewLeft(n.id, running, len(c.nodes)); err != nil {
		c.mu.Unlock()
		return Stopped{}, err
	}
	r, srv, at := n.r, n.srv, time.Now()
	led := r.Role() == "leader"
	n.r, n.srv, n.stoppedAt = nil, nil, at
	c.mu.Unlock()
	srv.Close()
	err := r.Close()
	head, _ := r.Ledger().Head()
	c.mu.Lock()
	n.stoppedHead = head
	c.mu.Unlock()
	c.log.Warn("replica stopped", "replica", n.id)
	return Stopped{ID: n.id, At: at, Head: head, Led: led}, err
}

// Start starts a stopped replica again from its directory, on the same
// addresses: it rejoins the group and catches up from the leader's log.
func (c *Cluster) Start(ctx context.Context, id string) error {
	c.ops.Lock()
	defer c.ops.Unlock()
	n, err := c.node(id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	closed, running := c.closed, n.r != nil
	c.mu.Unlock()
	switch {
	case closed:
		return ErrClusterClosed
	case running:
		return fmt.Errorf("%w: %s", ErrReplicaRunning, id)
	}
	if err := c.start(ctx, n, 30*time.Second); err != nil {
		return err
	}
	c.log.Warn("replica started again", "replica", id)
	return nil
}

func (c *Cluster) node(id string) (*node, error) {
	for _, n := range c.nodes {
		if n.id == id {
			return n, nil
		}
	}
	var ids []string
	for _, n := range c.nodes {
		ids = append(ids, n.id)
	}
	return nil, fmt.Errorf("%w %q: the replicas are %s", ErrNoSuchReplica, id, strings.Join(ids, ", "))
}

// Close stops every replica and its server.
func (c *Cluster) Close() error {
	if c.stopWindows != nil {
		c.stopWindows()
		c.windows.Wait()
	}
	c.ops.Lock()
	defer c.ops.Unlock()
	c.mu.Lock()
	c.closed = true
	type running struct {
		r   *replica.Replica
		srv *http.Server
	}
	var all []running
	for _, n := range c.nodes {
		if n.r != nil {
			all = append(all, running{n.r, n.srv})
			n.r, n.srv = nil, nil
		}
	}
	c.mu.Unlock()
	var errs []error
	for _, x := range all {
		x.srv.Close()
		errs = append(errs, x.r.Close())
	}
	return errors.Join(errs...)
}

// Live is the ledger of a running replica, the leader's when one leads;
// when none runs (the cluster closed), the last one it gave. The demo
// reads the books through it (Totals, Recount, Subscribe, Events).
func (c *Cluster) Live() *ledger.Ledger {
	c.mu.Lock()
	defer c.mu.Unlock()
	var pick *ledger.Ledger
	for _, n := range c.nodes {
		if n.r == nil {
			continue
		}
		if n.r.Role() == "leader" {
			pick = n.r.Ledger()
			break
		}
		if pick == nil {
			pick = n.r.Ledger()
		}
	}
	if pick != nil {
		c.last = pick
	}
	return c.last
}

// Totals are the money by tier, as a live replica holds it.
func (c *Cluster) Totals() ledger.Totals { return c.Live().Totals() }

// Recount counts every account afresh at a live replica.
func (c *Cluster) Recount() (running, counted ledger.Totals) { return c.Live().Recount() }

// Subscribe follows the operations a live replica commits from now on.
// The subscription ends when that replica stops; subscribe again, and
// catch up from the journal with Events.
func (c *Cluster) Subscribe(buffer int) *ledger.Subscription { return c.Live().Subscribe(buffer) }

// Events reads committed operations from a live replica's journal.
func (c *Cluster) Events(from uint64, limit int) ([]ledger.Event, error) {
	return c.Live().Events(from, limit)
}

// Settler is the leader's offline settlement, nil while no replica leads
// or the new leader is still opening it.
func (c *Cluster) Settler() *settlement.Settler {
	c.mu.Lock()
	defer c.mu.Unlock()
	var any *settlement.Settler
	for _, n := range c.nodes {
		if n.r == nil {
			continue
		}
		if st := n.r.Settler(); st != nil && n.r.Role() == "leader" {
			return st
		} else if st != nil {
			any = st // a leader deposed an instant ago, until it closes its own
		}
	}
	return any
}
