package replica

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
)

// A replica started to join is added by the leader and catches up; then
// the leader removes itself, the others elect a new leader, and the group
// of three (the newcomer among them) goes on taking operations.
func TestMembers_AddThenRemoveTheLeader(t *testing.T) {
	g := newGroup(t, 3)
	ctx := context.Background()
	redeem := func(from, to int) {
		t.Helper()
		for n := from; n < to; n++ {
			id := fmt.Sprintf("redeem-%d", n)
			if _, err := g.do(ctx, func(l *ledger.Ledger) (ledger.Receipt, error) { return l.Redeem(ctx, id, "bank", 1) }); err != nil {
				t.Fatal(err)
			}
		}
	}
	g.openBank(ctx, "bank", 1_000)
	redeem(0, 20)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	newcomer, err := Open(Config{ID: "ledger-4", Dir: t.TempDir(), Bind: addr, Join: true,
		HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	g.mu.Lock()
	g.replicas = append(g.replicas, newcomer)
	g.peers = append(g.peers, Peer{ID: "ledger-4", Addr: addr})
	g.dirs = append(g.dirs, filepath.Dir(newcomer.Ledger().Dir()))
	g.mu.Unlock()

	i, leader := g.leader(10 * time.Second)
	follower := g.replicas[(i+1)%3]
	if err := follower.AddReplica("ledger-4", addr); !errors.Is(err, ledger.ErrNotLeader) || !strings.Contains(err.Error(), g.peers[i].ID) {
		t.Errorf("a follower asked to add: %v, want not_leader naming %s", err, g.peers[i].ID)
	}
	// A follower's view of the group may be out of date: it answers for
	// none of it, even where its view says there is nothing to do.
	if err := follower.AddReplica(g.peers[i].ID, g.peers[i].Addr); !errors.Is(err, ledger.ErrNotLeader) {
		t.Errorf("a follower asked to add a member it knows: %v, want not_leader", err)
	}
	if err := follower.RemoveReplica("ledger-9"); !errors.Is(err, ledger.ErrNotLeader) {
		t.Errorf("a follower asked to remove: %v, want not_leader", err)
	}
	if err := leader.AddReplica("ledger-4", addr); err != nil {
		t.Fatal(err)
	}
	if err := leader.AddReplica("ledger-4", addr); err != nil {
		t.Errorf("adding the same replica again: %v", err)
	}
	if err := leader.AddReplica("ledger-4", "127.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "remove it first") {
		t.Errorf("adding ledger-4 at another address: %v", err)
	}
	if err := leader.AddReplica("ledger-5", g.peers[i].Addr); err == nil || !strings.Contains(err.Error(), "already listens") {
		t.Errorf("adding a replica at the leader's address: %v", err)
	}
	if err := leader.AddReplica("ledger-5", "nowhere"); err == nil {
		t.Error("a replica without host:port was added")
	}
	redeem(20, 40)
	g.converge(10 * time.Second)

	if err := leader.RemoveReplica("ledger-9"); err == nil || !strings.Contains(err.Error(), "no replica") {
		t.Errorf("removing an unknown replica: %v", err)
	}
	gone := g.peers[i].ID
	if err := leader.RemoveReplica(gone); err != nil {
		t.Fatalf("the leader removes itself: %v", err)
	}
	g.stop(i)
	redeem(40, 60) // by the new leader, among the three left
	j, now := g.leader(10 * time.Second)
	if now == nil || j == i {
		t.Fatalf("no new leader after %s left", gone)
	}
	members, err := now.Members()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range members {
		ids = append(ids, m.ID)
		if !m.Voter {
			t.Errorf("%s is not a voter", m.ID)
		}
	}
	slices.Sort(ids)
	if want := slices.DeleteFunc([]string{"ledger-1", "ledger-2", "ledger-3", "ledger-4"}, func(s string) bool { return s == gone }); !slices.Equal(ids, want) {
		t.Errorf("members %v, want %v", ids, want)
	}
	g.mu.Lock()
	g.replicas = slices.Delete(g.replicas, i, i+1)
	g.mu.Unlock()
	g.converge(10 * time.Second)
	if b, err := newcomer.Ledger().Balance("bank"); err != nil || b != 940 {
		t.Errorf("the newcomer's bank holds %d (%v), want 940", b, err)
	}
}
