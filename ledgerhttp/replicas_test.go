package ledgerhttp_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/internal/freeport"
	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/ledger/replica"
	"github.com/digital-yen/cbdc-sandbox/ledgerhttp"
)

// replicatedLedger is three ledger replicas, each served over HTTP on an
// address of its own that stays the same across restarts.
type replicatedLedger struct {
	t     *testing.T
	peers []replica.Peer
	http  []string
	dirs  []string
	keys  map[ledger.AccountID]ed25519.PublicKey

	mu   sync.Mutex
	reps []*replica.Replica
	srvs []*http.Server
}

func newReplicatedLedger(t *testing.T, keys map[ledger.AccountID]ed25519.PublicKey) *replicatedLedger {
	g := &replicatedLedger{t: t, keys: keys, reps: make([]*replica.Replica, 3), srvs: make([]*http.Server, 3)}
	addrs := freeport.Loopback(t, 6)
	for i := range 3 {
		g.peers = append(g.peers, replica.Peer{ID: fmt.Sprintf("ledger-%d", i+1), Addr: addrs[i]})
		g.http = append(g.http, addrs[3+i])
		g.dirs = append(g.dirs, t.TempDir())
	}
	for i := range 3 {
		g.start(i)
	}
	t.Cleanup(func() {
		for i := range 3 {
			g.stop(i)
		}
	})
	return g
}

func (g *replicatedLedger) start(i int) {
	g.t.Helper()
	r, err := replica.Open(replica.Config{ID: g.peers[i].ID, Dir: g.dirs[i], Bind: g.peers[i].Addr, Peers: g.peers,
		HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond})
	if err != nil {
		g.t.Fatal(err)
	}
	var ln net.Listener
	for try := 0; ; try++ { // the address was this replica's before it stopped
		if ln, err = net.Listen("tcp", g.http[i]); err == nil || try == 50 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		g.t.Fatal(err)
	}
	srv := &http.Server{Handler: ledgerhttp.NewServer(r.Ledger(), g.keys, ledgerhttp.ServerOptions{Replica: r})}
	go srv.Serve(ln)
	g.mu.Lock()
	g.reps[i], g.srvs[i] = r, srv
	g.mu.Unlock()
}

func (g *replicatedLedger) stop(i int) {
	g.mu.Lock()
	r, srv := g.reps[i], g.srvs[i]
	g.reps[i], g.srvs[i] = nil, nil
	g.mu.Unlock()
	if r == nil {
		return
	}
	srv.Close()
	if err := r.Close(); err != nil {
		g.t.Error(err)
	}
}

func (g *replicatedLedger) leader(within time.Duration) int {
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		g.mu.Lock()
		for i, r := range g.reps {
			if r != nil && r.Ledger().Leading() {
				g.mu.Unlock()
				return i
			}
		}
		g.mu.Unlock()
	}
	return -1
}

func (g *replicatedLedger) urls() string {
	var u []string
	for _, a := range g.http {
		u = append(u, "http://"+a)
	}
	return strings.Join(u, ",")
}

// A bank given every replica's address follows the leader: while the
// leader is stopped and started again, its operations, each asked again
// under its id while in doubt, are applied exactly once.
func TestClient_FollowsTheLeaderOfAReplicatedLedger(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	g := newReplicatedLedger(t, map[ledger.AccountID]ed25519.PublicKey{"bank-1": pub})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	i := g.leader(10 * time.Second)
	if i < 0 {
		t.Fatal("no leader")
	}
	l := g.reps[i].Ledger()
	if _, err := l.OpenAccount(ctx, "open-bank-1", ledger.AccountSpec{ID: "bank-1", Kind: ledger.KindIntermediary}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Issue(ctx, "issue-1", "bank-1", 1_000_000); err != nil {
		t.Fatal(err)
	}
	c := ledgerhttp.NewClientWith(g.urls(), "bank-1", key, ledgerhttp.ClientOptions{
		Breaker: ledgerhttp.BreakerOptions{BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond}})
	// asked runs an operation as a bank does: again, under the same id,
	// while its outcome is in doubt.
	asked := func(op func() (ledger.Receipt, error)) (ledger.Receipt, error) {
		for {
			rc, err := op()
			if ledger.OutcomeOf(err) != ledger.InDoubt || ctx.Err() != nil {
				return rc, err
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	for w := range 3 {
		id := ledger.AccountID(fmt.Sprintf("w-%d", w))
		if _, err := asked(func() (ledger.Receipt, error) {
			return c.OpenAccount(ctx, "open-"+string(id), ledger.AccountSpec{ID: id, Kind: ledger.KindWallet, Intermediary: "bank-1"})
		}); err != nil {
			t.Fatal(err)
		}
	}
	paid := map[ledger.AccountID]int64{}
	seqs := map[string]uint64{}
	stops := 4
	if testing.Short() {
		stops = 2
	}
	n := 0
	for s := 0; s <= stops; s++ {
		for range 40 {
			n++
			to, amount, op := ledger.AccountID(fmt.Sprintf("w-%d", n%3)), int64(n), fmt.Sprintf("pay-%d", n)
			rc, err := asked(func() (ledger.Receipt, error) { return c.Transfer(ctx, op, "bank-1", to, amount) })
			if err != nil {
				t.Fatalf("%s: %v", op, err)
			}
			paid[to] += amount
			seqs[op] = rc.Seq
		}
		if at := g.leader(10 * time.Second); c.Replica() != "http://"+g.http[at] {
			t.Errorf("after %d payments the bank calls %s, but %s leads", n, c.Replica(), g.http[at])
		}
		if s == stops {
			break
		}
		i := g.leader(10 * time.Second)
		g.stop(i)
		g.start(i)
	}
	for op, seq := range seqs {
		var k int
		fmt.Sscanf(op, "pay-%d", &k)
		rc, err := asked(func() (ledger.Receipt, error) {
			return c.Transfer(ctx, op, "bank-1", ledger.AccountID(fmt.Sprintf("w-%d", k%3)), int64(k))
		})
		if err != nil || rc.Seq != seq {
			t.Errorf("%s asked again: seq %d, %v; first at %d", op, rc.Seq, err, seq)
		}
	}
	for id, want := range paid {
		a, err := c.Account(ctx, id)
		if err != nil || a.Balance != want {
			t.Errorf("%s holds %d (%v), want %d: each payment once", id, a.Balance, err, want)
		}
	}
	if _, err := c.Transfer(ctx, "pay-1", "bank-1", "w-1", 999); !errors.Is(err, ledger.ErrOpIDReused) {
		t.Errorf("an id reused for other contents after failovers: %v", err)
	}
}
