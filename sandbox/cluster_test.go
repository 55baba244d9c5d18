package sandbox

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/bankadmin"
	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/protocol"
	"github.com/digital-yen/cbdc-sandbox/wallet"
)

func openTestCluster(t *testing.T, dir string, float int64) *Cluster {
	t.Helper()
	c, err := OpenCluster(context.Background(), ClusterConfig{Dir: dir, Replicas: 3, Banks: 2, Float: float,
		HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitConverged waits until every running replica's journal ends at the
// same record, and returns it.
func waitConverged(t *testing.T, c *Cluster) uint64 {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var heads []uint64
		for _, s := range c.Replicas() {
			if s.Running {
				heads = append(heads, s.Head)
			}
		}
		if len(heads) > 0 && slices.Min(heads) == slices.Max(heads) {
			return heads[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replicas' journals end at different records: %v", heads)
		}
	}
}

// A replicated sandbox in one process: its banks pay through the
// replicas' HTTP servers; the leader stopped, a new one is elected and
// payments go on; stopping what would leave no majority, or what is
// stopped already, is refused; the stopped replica started again catches
// up; and the whole sandbox started again on its directory finds the
// same books.
func TestCluster_StopTheLeaderAndCarryOn(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	c := openTestCluster(t, dir, DefaultFloat)
	defer func() { c.Close() }()
	cfg := Defaults()
	cfg.Dir, cfg.Banks, cfg.Listen = dir, 2, "127.0.0.1:0"
	banks, err := c.StartBanks(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, b := range banks {
			b.Stop()
		}
	}()
	var ws []*wallet.Client
	for i, b := range banks {
		pub, key, _ := ed25519.GenerateKey(nil)
		if _, err := b.Onboard(ctx, bankadmin.CustomerSpec{Name: "party", PersonID: fmt.Sprint("p-", i), Tier: "standard",
			Deposit: 50_000, PublicKeys: []ed25519.PublicKey{pub}}); err != nil {
			t.Fatal(err)
		}
		w, err := wallet.Dial(ctx, b.WalletURL(), key, wallet.DialOptions{Bank: string(b.ID())})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		ws = append(ws, w)
	}
	if _, err := ws[0].Withdraw(ctx, "charge", 10_000); err != nil {
		t.Fatal(err)
	}
	paid := 0
	pay := func() {
		t.Helper()
		id := fmt.Sprint("pay-", paid)
		for {
			_, err := ws[0].Pay(ctx, id, ws[1].Address(), 10)
			if err == nil {
				paid++
				return
			}
			var pe *protocol.Error
			if !errors.As(err, &pe) || pe.Code != protocol.CodeUnavailable || ctx.Err() != nil {
				t.Fatalf("%s: %v", id, err)
			}
			time.Sleep(max(pe.RetryAfter(), 50*time.Millisecond))
		}
	}
	pay()

	stopped, err := c.StopLeader()
	if err != nil {
		t.Fatal(err)
	}
	if stopped.ID == "" || stopped.Head == 0 || stopped.At.IsZero() || !stopped.Led {
		t.Errorf("stopped: %+v", stopped)
	}
	pay() // a new leader takes it
	if l := c.Leader(); l == "" || l == stopped.ID {
		t.Errorf("leader after the stop: %q (stopped %s)", l, stopped.ID)
	}
	if _, err := c.Stop(stopped.ID); !errors.Is(err, ErrReplicaStopped) {
		t.Errorf("stopping the stopped replica: %v", err)
	}
	var follower string
	for _, s := range c.Replicas() {
		if s.Running && s.Role != "leader" {
			follower = s.ID
		}
		if s.ID == stopped.ID && (s.Running || s.Role != "stopped" || s.StoppedAt.IsZero() || s.Head != stopped.Head) {
			t.Errorf("the stopped replica's status: %+v", s)
		}
	}
	if _, err := c.Stop(follower); !errors.Is(err, ErrNoMajority) || !strings.Contains(err.Error(), "start a stopped one again") {
		t.Errorf("stopping a second of three: %v", err)
	}
	if _, err := c.StopLeader(); !errors.Is(err, ErrNoMajority) || !strings.Contains(err.Error(), "stopping the leader would leave 1 of 3") {
		t.Errorf("stopping the leader, a second of three: %v", err)
	}
	if _, err := c.Stop("ledger-9"); !errors.Is(err, ErrNoSuchReplica) || !strings.Contains(err.Error(), "ledger-1, ledger-2, ledger-3") {
		t.Errorf("stopping a replica that is not one: %v", err)
	}
	if err := c.Start(ctx, follower); !errors.Is(err, ErrReplicaRunning) {
		t.Errorf("starting a running replica: %v", err)
	}
	for range 5 {
		pay()
	}
	if err := c.Start(ctx, stopped.ID); err != nil {
		t.Fatal(err)
	}
	pay()
	head := waitConverged(t, c)
	for _, s := range c.Replicas() {
		if !s.Running || s.Head != head {
			t.Errorf("after its restart: %+v, want running at record %d", s, head)
		}
	}
	if tot := c.Totals(); !tot.Conserved() || tot.Wallets != 10_000 {
		t.Errorf("books: %+v", tot)
	}

	for _, b := range banks {
		if err := b.Stop(); err != nil {
			t.Error(err)
		}
	}
	banks = nil
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Stop("ledger-1"); !errors.Is(err, ErrClusterClosed) {
		t.Errorf("stopping a replica of a closed cluster: %v", err)
	}
	for i := 1; i <= 3; i++ {
		if rep, err := ledger.Audit(filepath.Join(ReplicaDir(dir, i), "ledger")); err != nil || !rep.OK() {
			t.Errorf("%s audit: %v %v", ReplicaID(i), err, rep)
		}
	}
	c = openTestCluster(t, dir, 5) // asked for another float: the first one stands
	if len(c.EarlierFloat) != 2 {
		t.Errorf("EarlierFloat after a restart = %v, want both banks", c.EarlierFloat)
	}
	if tot := c.Totals(); tot.Wallets != 10_000 || tot.Seq < head {
		t.Errorf("books after a restart: %+v, before at record %d", tot, head)
	}
}

// A data directory holds one kind of central ledger; the other kind, or
// a group of another size, is refused with what to do.
func TestCheckLayout(t *testing.T) {
	lone, repl := t.TempDir(), t.TempDir()
	if err := os.Mkdir(filepath.Join(lone, "ledger"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := loadOrChoosePeers(repl, 3); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		dir      string
		replicas int
		want     string
	}{
		{lone, 1, ""},
		{lone, 3, "holds a lone central ledger"},
		{repl, 1, "start it with 3 replicas"},
		{repl, 3, ""},
		{repl, 5, "of 3 replicas, not 5"},
		{t.TempDir(), 3, ""},
	} {
		err := CheckLayout(c.dir, c.replicas)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%d replicas in %s: %v, want %q", c.replicas, c.dir, err, c.want)
		}
	}
	if _, err := OpenCluster(context.Background(), ClusterConfig{Dir: t.TempDir(), Replicas: 2, Banks: 1, Float: 1}); err == nil ||
		!strings.Contains(err.Error(), "3 to 9 replicas, not 2") {
		t.Errorf("two replicas: %v", err)
	}
}

// A group's first start gives every replica a Raft address of its own,
// however the kernel hands out ports.
func TestLoadOrChoosePeers_DistinctAddresses(t *testing.T) {
	for i := range 300 {
		peers, err := loadOrChoosePeers(filepath.Join(t.TempDir(), "replicas"), MaxReplicas)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]string{}
		for _, p := range peers {
			if other, ok := seen[p.Addr]; ok {
				t.Fatalf("start %d: %s and %s were both given %s", i, other, p.ID, p.Addr)
			}
			seen[p.Addr] = p.ID
		}
	}
}
