package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/digital-yen/cbdc-sandbox/internal/childproc"
	"github.com/digital-yen/cbdc-sandbox/ledgerhttp"
	"github.com/digital-yen/cbdc-sandbox/sandbox"
)

// replicaSupervisor runs a replicated central ledger's replicas as child
// processes of this one: it starts them, kills one as a failed machine
// would be (SIGKILL), starts it again from its directory, and stops them
// all. It is what the demo stops and starts (demo.Replicas).
type replicaSupervisor struct {
	exe         string
	credentials string
	op          *ledgerhttp.Operator
	log         *slog.Logger
	nodes       []*childReplica // fixed at the start; each guards its own process

	ops    sync.Mutex // one stop, start or close at a time; protects closed
	closed bool
}

// childReplica is one replica process.
type childReplica struct {
	id, http, raft string
	dir, logPath   string
	args           []string

	mu          sync.Mutex // protects the fields below
	cmd         *exec.Cmd  // nil while stopped
	exited      chan struct{}
	killing     bool // the supervisor is stopping it
	stoppedAt   time.Time
	stoppedHead uint64
	lastHead    uint64 // the journal's last record at its last look
}

func newReplicaSupervisor(exe string, cfg clusterConfig, credentials string, httpAddrs, raftAddrs []string, token string, log *slog.Logger) *replicaSupervisor {
	s := &replicaSupervisor{exe: exe, credentials: credentials, log: log}
	var peers, urls []string
	for i := range httpAddrs {
		peers = append(peers, fmt.Sprintf("ledger-%d=%s", i+1, raftAddrs[i]))
		urls = append(urls, "http://"+httpAddrs[i])
	}
	s.op = &ledgerhttp.Operator{URLs: urls, Token: token}
	for i := range httpAddrs {
		id := fmt.Sprintf("ledger-%d", i+1)
		dir := filepath.Join(cfg.DataDir, "replica-"+strconv.Itoa(i+1))
		n := &childReplica{id: id, http: httpAddrs[i], raft: raftAddrs[i], dir: dir, logPath: dir + ".log",
			args: []string{"ledger", "-replica", id, "-raft", raftAddrs[i], "-peers", strings.Join(peers, ","),
				"-data", dir, "-credentials", credentials, "-listen", httpAddrs[i],
				"-banks", strconv.Itoa(cfg.Banks), "-float", strconv.FormatInt(cfg.Float, 10)}}
		s.nodes = append(s.nodes, n)
	}
	return s
}

// urls are the replicas' HTTP servers, comma-separated, as banks take them.
func (s *replicaSupervisor) urls() string { return strings.Join(s.op.URLs, ",") }

// startAll starts every replica and waits until one leads.
func (s *replicaSupervisor) startAll(ctx context.Context) error {
	for _, n := range s.nodes {
		if err := n.start(s.exe, s.log); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		if s.leader() != "" {
			return nil
		}
		for _, n := range s.nodes {
			if !n.running() {
				return fmt.Errorf("cluster: %s exited as it started; see %s", n.id, n.logPath)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: no replica led within a minute; see the logs in %s", filepath.Dir(s.nodes[0].logPath))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// start starts the replica's process, its output appended to its log.
func (n *childReplica) start(exe string, log *slog.Logger) error {
	if err := os.MkdirAll(filepath.Dir(n.logPath), 0o755); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	out, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("cluster: %s's log: %w", n.id, err)
	}
	cmd := exec.Command(exe, n.args...)
	cmd.Stdout, cmd.Stderr = out, out
	// The terminal's Ctrl-C reaches this process alone, which stops the
	// replicas after the banks.
	childproc.Detach(cmd)
	if err := cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("cluster: start %s: %w", n.id, err)
	}
	exited := make(chan struct{})
	n.mu.Lock()
	n.cmd, n.exited = cmd, exited
	n.mu.Unlock()
	go func() {
		err := cmd.Wait()
		out.Close()
		n.mu.Lock()
		if n.cmd == cmd {
			n.cmd = nil
			if !n.killing { // it failed by itself
				n.stoppedAt, n.stoppedHead = time.Now(), n.lastHead
				log.Warn("cluster: a replica exited", "replica", n.id, "err", err, "log", n.logPath)
			}
			n.killing = false
		}
		n.mu.Unlock()
		close(exited)
	}()
	return nil
}

func (n *childReplica) running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd != nil
}

func (n *childReplica) pid() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return 0
	}
	return n.cmd.Process.Pid
}

// Replicas says where each replica stands, each asked at once and briefly:
// one that does not answer in time is shown running, role unknown.
func (s *replicaSupervisor) Replicas() []sandbox.ReplicaStatus {
	out := make([]sandbox.ReplicaStatus, len(s.nodes))
	var wg sync.WaitGroup
	for i, n := range s.nodes {
		wg.Go(func() { out[i] = s.status(n) })
	}
	wg.Wait()
	return out
}

func (s *replicaSupervisor) status(n *childReplica) sandbox.ReplicaStatus {
	st := sandbox.ReplicaStatus{ID: n.id, URL: "http://" + n.http, Raft: n.raft, Role: "stopped"}
	n.mu.Lock()
	running := n.cmd != nil
	st.StoppedAt, st.Head = n.stoppedAt, n.stoppedHead
	n.mu.Unlock()
	if !running {
		return st
	}
	st.Running, st.Role, st.StoppedAt = true, "unknown", time.Time{}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	rs, err := s.op.Standing(ctx, st.URL)
	if err != nil {
		return st
	}
	st.Role, st.Term, st.Commit, st.Applied, st.Head, st.Leader = rs.Role, rs.Term, rs.CommitIndex, rs.AppliedIndex, rs.Head, rs.Leader
	n.mu.Lock()
	n.lastHead = rs.Head
	n.mu.Unlock()
	return st
}

// leader is the id of the replica that leads now, "" when none does.
func (s *replicaSupervisor) leader() string {
	for _, r := range s.Replicas() {
		if r.Running && r.Role == "leader" {
			return r.ID
		}
	}
	return ""
}

// StopLeader kills the leader's process.
// With too few replicas running to stop one, it says so whether or not a
// leader happens to be elected at that moment.
func (s *replicaSupervisor) StopLeader() (sandbox.Stopped, error) {
	s.ops.Lock()
	closed := s.closed
	s.ops.Unlock()
	if closed {
		return sandbox.Stopped{}, sandbox.ErrClusterClosed
	}
	running, id := 0, ""
	for _, r := range s.Replicas() { // one round of status calls for both
		if r.Running {
			running++
			if r.Role == "leader" {
				id = r.ID
			}
		}
	}
	if err := sandbox.TooFewLeft("the leader", running, len(s.nodes)); err != nil {
		return sandbox.Stopped{}, err
	}
	if id == "" {
		return sandbox.Stopped{}, fmt.Errorf("%w (an election is under way)", sandbox.ErrNoLeader)
	}
	return s.Stop(id)
}

// Stop kills a replica's process with SIGKILL, as its machine failing
// would, and waits for it to be gone. The stop is dated after that, so no
// record stamped later can be the stopped replica's.
func (s *replicaSupervisor) Stop(id string) (sandbox.Stopped, error) {
	s.ops.Lock()
	defer s.ops.Unlock()
	n, err := s.node(id)
	if err != nil {
		return sandbox.Stopped{}, err
	}
	running := 0
	for _, x := range s.nodes {
		if x.running() {
			running++
		}
	}
	switch {
	case s.closed:
		return sandbox.Stopped{}, sandbox.ErrClusterClosed
	case !n.running():
		return sandbox.Stopped{}, fmt.Errorf("%w: %s", sandbox.ErrReplicaStopped, id)
	}
	if err := sandbox.TooFewLeft(id, running, len(s.nodes)); err != nil {
		return sandbox.Stopped{}, err
	}
	st := s.status(n)
	led := st.Role == "leader"
	if st.Role == "unknown" { // too busy to answer: the others know whom they follow
		for _, x := range s.nodes {
			if x != n && x.running() && s.status(x).Leader == id {
				led = true
			}
		}
	}
	n.mu.Lock()
	head := max(st.Head, n.lastHead) // the last record it is known to hold
	cmd, exited := n.cmd, n.exited
	if cmd == nil {
		n.mu.Unlock()
		return sandbox.Stopped{}, fmt.Errorf("%w: %s", sandbox.ErrReplicaStopped, id)
	}
	n.killing = true
	n.mu.Unlock()
	if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		n.mu.Lock()
		n.killing = false
		n.mu.Unlock()
		return sandbox.Stopped{}, fmt.Errorf("kill %s (pid %d): %w", id, cmd.Process.Pid, err)
	}
	<-exited
	at := time.Now()
	n.mu.Lock()
	n.stoppedAt, n.stoppedHead = at, head
	n.mu.Unlock()
	return sandbox.Stopped{ID: id, At: at, Head: head, Led: led}, nil
}

// Start starts a stopped replica's process again from its directory and
// waits until it answers; it rejoins the group and catches up.
func (s *replicaSupervisor) Start(ctx context.Context, id string) error {
	s.ops.Lock()
	defer s.ops.Unlock()
	n, err := s.node(id)
	if err != nil {
		return err
	}
	switch {
	case s.closed:
		return sandbox.ErrClusterClosed
	case n.running():
		return fmt.Errorf("%w: %s", sandbox.ErrReplicaRunning, id)
	}
	if err := n.start(s.exe, s.log); err != nil {
		return err
	}
	for {
		cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		_, err := s.op.Standing(cctx, "http://"+n.http)
		cancel()
		if err == nil {
			n.mu.Lock()
			n.stoppedAt, n.stoppedHead = time.Time{}, 0
			n.mu.Unlock()
			return nil
		}
		if !n.running() {
			return fmt.Errorf("%s exited as it started; see %s", id, n.logPath)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s started but did not answer: %w", id, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// awaitOneHead waits up to wait for every running replica to answer at
// the same journal head.
func (s *replicaSupervisor) awaitOneHead(wait time.Duration) {
	for deadline := time.Now().Add(wait); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		heads, answered := map[uint64]bool{}, true
		for _, r := range s.Replicas() {
			if r.Running {
				heads[r.Head] = true
				answered = answered && r.Role != "unknown"
			}
		}
		if answered && len(heads) <= 1 {
			return
		}
	}
}

func (s *replicaSupervisor) node(id string) (*childReplica, error) {
	for _, n := range s.nodes {
		if n.id == id {
			return n, nil
		}
	}
	var ids []string
	for _, n := range s.nodes {
		ids = append(ids, n.id)
	}
	return nil, fmt.Errorf("%w: %q; the replicas are %s", sandbox.ErrNoSuchReplica, id, strings.Join(ids, ", "))
}

// Close stops every replica with SIGTERM, as Ctrl-C would, once the
// followers hold what the leader committed (for up to 5 seconds), so
// their journals end at one head; it kills one that has not exited after
// 20 seconds.
func (s *replicaSupervisor) Close() error {
	s.ops.Lock()
	defer s.ops.Unlock()
	s.closed = true
	s.awaitOneHead(5 * time.Second)
	var mu sync.Mutex // protects errs
	var errs []error
	var wg sync.WaitGroup
	for _, n := range s.nodes {
		n.mu.Lock()
		cmd, exited := n.cmd, n.exited
		n.killing = cmd != nil
		n.mu.Unlock()
		if cmd == nil {
			continue
		}
		cmd.Process.Signal(syscall.SIGTERM)
		wg.Go(func() {
			select {
			case <-exited:
			case <-time.After(20 * time.Second):
				cmd.Process.Kill()
				<-exited
				mu.Lock()
				errs = append(errs, fmt.Errorf("cluster: %s did not stop within 20 s and was killed; see %s", n.id, n.logPath))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
