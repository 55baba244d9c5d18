package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
)

// group is a test's replicas on loopback, each restartable on its own
// directory and address.
type group struct {
	t        *testing.T
	peers    []Peer
	dirs     []string
	mu       sync.Mutex
	replicas []*Replica    // nil while one is down
	tune     func(*Config) // when set, changes every replica's config
}

func newGroup(t *testing.T, n int) *group {
	t.Helper()
	return newTunedGroup(t, n, nil)
}

// newGroupWith starts a group whose replicas settle offline vouchers.
func newGroupWith(t *testing.T, n int, off *Offline) *group {
	t.Helper()
	return newTunedGroup(t, n, func(c *Config) { c.Offline = off })
}

// newTunedGroup starts a group whose replicas' configs tune changes.
func newTunedGroup(t *testing.T, n int, tune func(*Config)) *group {
	t.Helper()
	g := &group{t: t, replicas: make([]*Replica, n), tune: tune}
	var held []net.Listener // until every port is chosen, so that no two are the same
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, ln)
		g.peers = append(g.peers, Peer{ID: fmt.Sprintf("ledger-%d", i+1), Addr: ln.Addr().String()})
		g.dirs = append(g.dirs, t.TempDir())
	}
	for _, ln := range held {
		ln.Close()
	}
	for i := range n {
		g.start(i)
	}
	t.Cleanup(func() {
		for i := range g.replicas {
			g.stop(i)
		}
	})
	return g
}

func (g *group) start(i int) {
	g.t.Helper()
	cfg := Config{ID: g.peers[i].ID, Dir: g.dirs[i], Bind: g.peers[i].Addr, Peers: g.peers,
		HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond, Logger: testLogger(g.t)}
	if g.tune != nil {
		g.tune(&cfg)
	}
	r, err := Open(cfg)
	if err != nil {
		g.t.Fatalf("start %s: %v", g.peers[i].ID, err)
	}
	g.mu.Lock()
	g.replicas[i] = r
	g.mu.Unlock()
}

func (g *group) stop(i int) {
	g.mu.Lock()
	r := g.replicas[i]
	g.replicas[i] = nil
	g.mu.Unlock()
	if r != nil {
		if err := r.Close(); err != nil {
			g.t.Errorf("close %s: %v", r.ID(), err)
		}
	}
}

// leader waits for a replica whose ledger takes operations.
func (g *group) leader(within time.Duration) (int, *Replica) {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		g.mu.Lock()
		for i, r := range g.replicas {
			if r != nil && r.Ledger().Leading() {
				g.mu.Unlock()
				return i, r
			}
		}
		g.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	return -1, nil
}

// do runs one operation at whichever replica leads, asking again under
// the same id while its outcome is in doubt, as a bank does.
func (g *group) do(ctx context.Context, op func(l *ledger.Ledger) (ledger.Receipt, error)) (ledger.Receipt, error) {
	for {
		_, r := g.leader(10 * time.Second)
		if r == nil {
			return ledger.Receipt{}, errors.New("no leader within 10 s")
		}
		rc, err := op(r.Ledger())
		if ledger.OutcomeOf(err) != ledger.InDoubt {
			return rc, err
		}
		if ctx.Err() != nil {
			return rc, ctx.Err()
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Payments keep flowing while the leader is stopped again and again and
// started again: every acknowledged transfer is in the books exactly
// once, the replicas' journals end with the same head, and each one's
// audit is clean.
func TestReplicas_LeaderStoppedUnderLoad(t *testing.T) {
	kills := 8
	if testing.Short() {
		kills = 3
	}
	g := newGroup(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const float = 1_000_000_000
	g.openBanks(ctx, float)

	var (
		mu    sync.Mutex
		acked []payment
	)
	stop := g.payUnderLoad(ctx, 4, func(p payment) {
		mu.Lock()
		acked = append(acked, p)
		mu.Unlock()
	})

	var failovers []time.Duration
	for k := range kills {
		time.Sleep(300 * time.Millisecond) // let payments flow under this leader
		i, r := g.leader(10 * time.Second)
		if r == nil {
			t.Fatalf("kill %d: no leader", k)
		}
		stopped := time.Now()
		g.stop(i)
		if j, _ := g.leader(10 * time.Second); j < 0 {
			t.Fatalf("kill %d: no new leader within 10 s of stopping %s", k, g.peers[i].ID)
		}
		failovers = append(failovers, time.Since(stopped))
		g.start(i)
	}
	time.Sleep(300 * time.Millisecond)
	stop()
	if t.Failed() {
		return
	}
	slices.Sort(failovers)
	t.Logf("%d transfers acknowledged; failover p50 %v, max %v over %d stops", len(acked), failovers[len(failovers)/2], failovers[len(failovers)-1], kills)

	// Exactly once: asking again under each id returns its first receipt.
	for _, d := range acked[:min(len(acked), 200)] {
		rc, err := g.do(ctx, func(l *ledger.Ledger) (ledger.Receipt, error) {
			to := d.to
			return l.Transfer(ctx, d.id, d.from, to, d.amount)
		})
		if err != nil || rc.Seq != d.seq {
			t.Errorf("%s asked again: seq %d, %v; first answered at %d", d.id, rc.Seq, err, d.seq)
		}
	}
	want := map[ledger.AccountID]int64{"bank-a": float, "bank-b": float}
	for _, d := range acked {
		want[d.from] -= d.amount
		want[d.to] += d.amount
	}
	g.converge(10 * time.Second)
	for i, r := range g.replicas {
		for id, bal := range want {
			if got, err := r.Ledger().Balance(id); err != nil || got != bal {
				t.Errorf("%s: %s holds %d (%v), want %d from the acknowledged transfers", g.peers[i].ID, id, got, err, bal)
			}
		}
	}
	for i := range g.replicas {
		g.stop(i)
		rep, err := ledger.Audit(filepath.Join(g.dirs[i], "ledger"))
		if err != nil || !rep.OK() {
			t.Errorf("%s audit: %v %+v", g.peers[i].ID, err, rep)
		}
	}
}

// converge waits until every replica's journal ends at the same record.
func (g *group) converge(within time.Duration) {
	g.t.Helper()
	deadline := time.Now().Add(within)
	for {
		var heads []string
		for _, r := range g.replicas {
			seq, h := r.Ledger().Head()
			heads = append(heads, fmt.Sprintf("%d:%x", seq, h[:6]))
		}
		if slices.Equal(heads[1:], heads[:len(heads)-1]) {
			return
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("replicas' heads differ after %v: %v", within, heads)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A follower refuses operations as not the leader, before sequencing
// anything, and its journal still follows the leader's.
func TestReplicas_FollowerRefusesAndFollows(t *testing.T) {
	g := newGroup(t, 3)
	ctx := context.Background()
	i, r := g.leader(10 * time.Second)
	if r == nil {
		t.Fatal("no leader")
	}
	if _, err := r.Ledger().OpenAccount(ctx, "open-bank", ledger.AccountSpec{ID: "bank", Kind: ledger.KindIntermediary}); err != nil {
		t.Fatal(err)
	}
	f := g.replicas[(i+1)%3]
	_, err := f.Ledger().OpenAccount(ctx, "open-other", ledger.AccountSpec{ID: "other", Kind: ledger.KindIntermediary})
	if !errors.Is(err, ledger.ErrNotLeader) || ledger.OutcomeOf(err) != ledger.InDoubt {
		t.Fatalf("a follower answered %v, want not_leader (in doubt: ask the leader)", err)
	}
	g.converge(5 * time.Second)
	if _, err := f.Ledger().Account("bank"); err != nil {
		t.Errorf("the follower does not hold the leader's account: %v", err)
	}
	if _, err := f.Ledger().Account("other"); err == nil {
		t.Error("the follower applied an operation it refused")
	}
	if id, _ := f.Leader(); id != g.peers[i].ID {
		t.Errorf("the follower names %q as leader, want %q", id, g.peers[i].ID)
	}
}

func TestConfig_SaysWhatIsWrong(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Dir: "d", Bind: "127.0.0.1:1"}, "needs an id"},
		{Config{ID: "a", Bind: "127.0.0.1:1"}, "data directory"},
		{Config{ID: "a", Dir: "d", Bind: "nowhere"}, "not host:port"},
		{Config{ID: "a", Dir: "d", Bind: "127.0.0.1:1", Peers: []Peer{{"b", "x:1"}}}, "do not include this replica"},
		{Config{ID: "a", Dir: "d", Bind: "127.0.0.1:1", Peers: []Peer{{"a", "x:1"}, {"a", "x:2"}}}, "id of its own"},
	} {
		_, err := Open(c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error saying %q", c.cfg, err, c.want)
		}
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// A replica whose data directory is lost (a disk replaced) is started
// again empty: it catches up from the others' Raft log, which still holds
// every entry (the group took far fewer than a snapshot's threshold), and
// its journal ends at their head with a clean audit.
func TestReplicas_WipedReplicaRebuiltFromTheLog(t *testing.T) {
	g := newGroup(t, 3)
	ctx := context.Background()
	g.openBank(ctx, "bank", 1_000)
	i, _ := g.leader(10 * time.Second)
	wiped := (i + 1) % 3
	g.stop(wiped)
	if err := os.RemoveAll(g.dirs[wiped]); err != nil {
		t.Fatal(err)
	}
	for n := range 50 { // the group goes on while the replica is away
		id := fmt.Sprintf("redeem-%d", n)
		if _, err := g.do(ctx, func(l *ledger.Ledger) (ledger.Receipt, error) { return l.Redeem(ctx, id, "bank", 1) }); err != nil {
			t.Fatal(err)
		}
	}
	g.start(wiped)
	g.converge(10 * time.Second)
	if b, err := g.replicas[wiped].Ledger().Balance("bank"); err != nil || b != 950 {
		t.Errorf("the rebuilt replica's bank holds %d (%v), want 950", b, err)
	}
	g.stop(wiped)
	if rep, err := ledger.Audit(filepath.Join(g.dirs[wiped], "ledger")); err != nil || !rep.OK() {
		t.Errorf("the rebuilt replica's audit: %v %v", err, rep)
	}
}

// payment is a transfer between the test's two banks that a replica
// acknowledged.
type payment struct {
	id       string
	from, to ledger.AccountID
	amount   int64
	seq      uint64
}

// payUnderLoad has workers pay between bank-a and bank-b (half each way)
// through whichever replica leads, each payment asked again while in
// doubt, and hands each acknowledged one to acked; stop ends them and
// waits.
func (g *group) payUnderLoad(ctx context.Context, workers int, acked func(payment)) (stop func()) {
	var (
		stopped atomic.Bool
		wg      sync.WaitGroup
	)
	for w := range workers {
		wg.Go(func() {
			from, to := ledger.AccountID("bank-a"), ledger.AccountID("bank-b")
			if w%2 == 1 {
				from, to = to, from
			}
			for n := 0; !stopped.Load(); n++ {
				id, amount := fmt.Sprintf("t-%d-%d", w, n), int64(n%7+1)
				rc, err := g.do(ctx, func(l *ledger.Ledger) (ledger.Receipt, error) { return l.Transfer(ctx, id, from, to, amount) })
				if err != nil {
					g.t.Errorf("%s: %v", id, err)
					return
				}
				acked(payment{id: id, from: from, to: to, amount: amount, seq: rc.Seq})
			}
		})
	}
	return func() {
		stopped.Store(true)
		wg.Wait()
	}
}
