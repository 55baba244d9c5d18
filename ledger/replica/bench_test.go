package replica

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/internal/childproc"
	"github.com/digital-yen/cbdc-sandbox/internal/freeport"
	"github.com/digital-yen/cbdc-sandbox/ledger"
)

// BenchmarkReplicatedTransfers measures transfers made durable at a
// majority of three replicas on this machine (all on one disk, the hard
// case), beside a lone ledger in the same run: 2,000 callers, each
// transfer answered only once committed. Each size is set up anew for
// every run (opening a million accounts through the group takes about
// half a minute), so run it with a fixed -benchtime: 2400000x, as make
// bench-replicas does, holds the checkpoints a million records apart
// that a day's work sees; a short run is dominated by the one the
// setup's two million operations start, and reads about a third lower.
// not-leader-retries counts the operations a change of leader sent to the
// new one during the measured run (see benchLedger).
//
// processes=3 runs the two followers as processes of their own, as
// cbdc cluster and separate machines do (though they wait 10 s for a
// silent leader, not 500 ms; see benchFollower); without it all three
// replicas share this process, and its Go scheduler, with the 2,000
// callers.
func BenchmarkReplicatedTransfers(b *testing.B) {
	for _, accounts := range []int{10_000, 1_000_000} {
		for _, g := range []struct{ replicas, processes int }{{1, 1}, {3, 1}, {3, 3}} {
			name := fmt.Sprintf("replicas=%d,accounts=%d", g.replicas, accounts)
			if g.processes > 1 {
				name = fmt.Sprintf("replicas=%d,processes=%d,accounts=%d", g.replicas, g.processes, accounts)
			}
			b.Run(name, func(b *testing.B) {
				led := benchGroup(b, g.replicas, g.processes > 1, accounts)
				runTransfers(b, led, accounts)
				b.ReportMetric(float64(led.retries.Load()), "not-leader-retries")
			})
		}
	}
}

// benchLedger is what the benchmark calls: a lone ledger, or a group's
// leader, followed as a bank's client follows it. A machine loaded by all
// three replicas can delay a heartbeat past an election; an operation
// answered not_leader is then asked again of the new leader under the
// same id, and counted.
type benchLedger struct {
	lone    *ledger.Ledger
	group   []*Replica
	ids     []ledger.AccountID // made once, so the callers measure the ledger, not fmt
	retries atomic.Int64
}

func (g *benchLedger) do(op func(*ledger.Ledger) error) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := op(g.leader(deadline))
		if !errors.Is(err, ledger.ErrNotLeader) || time.Now().After(deadline) {
			return err
		}
		g.retries.Add(1)
		time.Sleep(10 * time.Millisecond)
	}
}

// leader is the ledger that takes operations now: the lone one, or the
// replica that leads (the last one asked while none does yet).
func (g *benchLedger) leader(deadline time.Time) *ledger.Ledger {
	if g.lone != nil {
		return g.lone
	}
	for {
		for _, r := range g.group {
			if r.Ledger().Leading() {
				return r.Ledger()
			}
		}
		if time.Now().After(deadline) {
			return g.group[0].Ledger()
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// benchGroup opens a lone ledger (replicas=1) or a group and its
// accounts, each funded, closed when the benchmark's run ends (or fails
// in the middle of opening it). With followersApart, the group's first
// replica runs here and the others in child processes (see
// benchFollower).
func benchGroup(b *testing.B, replicas int, followersApart bool, accounts int) *benchLedger {
	b.Helper()
	dir, err := os.MkdirTemp("", "bench-replicas-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	closing := func(close func() error) {
		b.Cleanup(func() {
			if err := close(); err != nil {
				b.Error(err)
			}
		})
	}
	led := &benchLedger{ids: make([]ledger.AccountID, accounts)}
	for i := range led.ids {
		led.ids[i] = ledger.AccountID("bank-" + strconv.Itoa(i))
	}
	if replicas == 1 {
		if led.lone, err = ledger.Open(filepath.Join(dir, "ledger"), ledger.Options{}); err != nil {
			b.Fatal(err)
		}
		closing(led.lone.Close)
	} else {
		var peers []Peer
		for i, addr := range freeport.Loopback(b, replicas) {
			peers = append(peers, Peer{ID: fmt.Sprintf("ledger-%d", i+1), Addr: addr})
		}
		for i, p := range peers {
			if followersApart && i > 0 {
				closing(startBenchFollower(b, benchFollower{ID: p.ID, Dir: filepath.Join(dir, p.ID), Bind: p.Addr, Peers: peers}))
				continue
			}
			r, err := Open(Config{ID: p.ID, Dir: filepath.Join(dir, p.ID), Bind: p.Addr, Peers: peers})
			if err != nil {
				b.Fatal(err)
			}
			led.group = append(led.group, r)
			closing(r.Close)
		}
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	var failed atomic.Value
	for w := range setupCallers {
		wg.Go(func() {
			for i := w; i < accounts; i += setupCallers {
				id := led.ids[i]
				err := led.do(func(l *ledger.Ledger) error {
					_, err := l.OpenAccount(ctx, "open-"+string(id), ledger.AccountSpec{ID: id, Kind: ledger.KindIntermediary})
					return err
				})
				if err == nil {
					err = led.do(func(l *ledger.Ledger) error {
						_, err := l.Issue(ctx, "issue-"+string(id), id, 1_000_000_000)
						return err
					})
				}
				if err != nil {
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
	led.retries.Store(0)
	return led
}

// setupCallers open and fund the accounts: enough at once to fill group
// commits, or a million accounts take minutes to open.
const setupCallers = 2000

func runTransfers(b *testing.B, led *benchLedger, accounts int) {
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
				id := "t-" + strconv.FormatInt(n, 36)
				err := led.do(func(l *ledger.Ledger) error {
					_, err := l.Transfer(ctx, id, led.ids[from], led.ids[to], 1)
					return err
				})
				if err != nil {
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

// benchFollower is a replica the benchmark runs in a child process: the
// test binary again, with the replica's settings in benchFollowerEnv.
// It waits benchFollowerPatience without a leader's word before it
// stands for election itself, so that leadership stays with the replica
// in the benchmark's process, which its callers call: a leader that
// steps down there, its followers out of reach for a moment, is elected
// again within a second. Should a child come to lead all the same (this
// process stalled past 10 s), the callers, which know only the replica
// here, fail the run after 30 s rather than measure it.
type benchFollower struct {
	ID    string
	Dir   string
	Bind  string
	Peers []Peer
}

const (
	benchFollowerEnv      = "CBDC_BENCH_FOLLOWER"
	benchFollowerPatience = 10 * time.Second
)

func TestMain(m *testing.M) {
	if s := os.Getenv(benchFollowerEnv); s != "" {
		os.Exit(runBenchFollower(s))
	}
	os.Exit(m.Run())
}

// runBenchFollower runs one follower until its standard input closes:
// when the benchmark is done with it, or dies.
func runBenchFollower(settings string) int {
	var f benchFollower
	if err := json.Unmarshal([]byte(settings), &f); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", benchFollowerEnv, err)
		return 2
	}
	r, err := Open(Config{ID: f.ID, Dir: f.Dir, Bind: f.Bind, Peers: f.Peers,
		HeartbeatTimeout: benchFollowerPatience, ElectionTimeout: benchFollowerPatience})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	if err := r.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "close %s: %v\n", f.ID, err)
		return 1
	}
	return 0
}

// startBenchFollower starts f in a child process and returns what stops
// it.
func startBenchFollower(b *testing.B, f benchFollower) func() error {
	b.Helper()
	settings, err := json.Marshal(f)
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), benchFollowerEnv+"="+string(settings))
	cmd.Stderr = os.Stderr
	childproc.Detach(cmd)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	stop := func() error {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			return fmt.Errorf("%s: %w", f.ID, err)
		}
		return nil
	}
	if line, err := bufio.NewReader(stdout).ReadString('\n'); line != "ready\n" {
		stop()
		b.Fatalf("%s did not start: %q, %v", f.ID, line, err)
	}
	return stop
}
