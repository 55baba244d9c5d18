package replica

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
)

// BenchmarkReplicatedTransfers measures transfers made durable at a
// majority of three replicas on this machine (all on one disk, the hard
// case), beside a lone ledger in the same run: 2,000 callers, each
// transfer answered only once committed. Each size is set up anew for
// every run (opening a million accounts through the group takes about
// half a minute), so run it with a fixed -benchtime such as 300000x.
func BenchmarkReplicatedTransfers(b *testing.B) {
	for _, accounts := range []int{10_000, 1_000_000} {
		for _, replicas := range []int{1, 3} {
			b.Run(fmt.Sprintf("replicas=%d,accounts=%d", replicas, accounts), func(b *testing.B) {
				led, stop := benchGroup(b, replicas, accounts)
				defer stop()
				runTransfers(b, led, accounts)
			})
		}
	}
}

// benchGroup opens a lone ledger (replicas=1) or a group and its
// accounts, each funded, and returns the ledger that takes operations.
func benchGroup(b *testing.B, replicas, accounts int) (*ledger.Ledger, func()) {
	b.Helper()
	dir, err := os.MkdirTemp("", "bench-replicas-")
	if err != nil {
		b.Fatal(err)
	}
	var led *ledger.Ledger
	var closers []func() error
	if replicas == 1 {
		if led, err = ledger.Open(filepath.Join(dir, "ledger"), ledger.Options{}); err != nil {
			b.Fatal(err)
		}
		closers = append(closers, led.Close)
	} else {
		var peers []Peer
		for i := range replicas {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			peers = append(peers, Peer{ID: fmt.Sprintf("ledger-%d", i+1), Addr: ln.Addr().String()})
			ln.Close()
		}
		var group []*Replica
		for i, p := range peers {
			r, err := Open(Config{ID: p.ID, Dir: filepath.Join(dir, p.ID), Bind: p.Addr, Peers: peers})
			if err != nil {
				b.Fatal(err)
			}
			group = append(group, r)
			closers = append(closers, group[i].Close)
		}
		for deadline := time.Now().Add(10 * time.Second); led == nil; {
			for _, r := range group {
				if r.Ledger().Leading() {
					led = r.Ledger()
				}
			}
			if time.Now().After(deadline) {
				b.Fatal("no leader within 10 s")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	var failed atomic.Value
	for w := range setupCallers {
		wg.Go(func() {
			for i := w; i < accounts; i += setupCallers {
				id := benchAccount(i)
				if _, err := led.OpenAccount(ctx, "open-"+string(id), ledger.AccountSpec{ID: id, Kind: ledger.KindIntermediary}); err != nil {
					failed.Store(err)
					return
				}
				if _, err := led.Issue(ctx, "issue-"+string(id), id, 1_000_000_000); err != nil {
					failed.Store(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	return led, func() {
		for _, c := range slices.Backward(closers) {
			c()
		}
		os.RemoveAll(dir)
	}
}

// setupCallers open and fund the accounts: enough at once to fill group
// commits, or a million accounts take minutes to open.
const setupCallers = 2000

func benchAccount(i int) ledger.AccountID { return ledger.AccountID(fmt.Sprintf("bank-%d", i)) }

func runTransfers(b *testing.B, led *ledger.Ledger, accounts int) {
	const callers = 2000
	ctx := context.Background()
	var next atomic.Int64
	lat := make([][]time.Duration, callers)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for c := range callers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(c), 7))
			for {
				n := next.Add(1)
				if n > int64(b.N) {
					return
				}
				from := rng.IntN(accounts)
				to := (from + 1 + rng.IntN(accounts-1)) % accounts
				t0 := time.Now()
				if _, err := led.Transfer(ctx, fmt.Sprintf("t-%d", n), benchAccount(from), benchAccount(to), 1); err != nil {
					b.Error(err)
					return
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) > 0 {
		b.ReportMetric(float64(len(all))/took.Seconds(), "transfers/s")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
	}
	b.ReportMetric(0, "ns/op")
}
