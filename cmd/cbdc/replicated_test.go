package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/internal/freeport"
	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/protocol"
	"github.com/digital-yen/cbdc-sandbox/wallet"
)

// replicaProcs is a replicated ledger of three `cbdc ledger -replica`
// processes on fixed loopback addresses, so each can be killed and started
// again where it was.
type replicaProcs struct {
	dir   string
	raft  []string
	http  []string
	procs []*proc
}

func startReplicas(t *testing.T, dir string, banks int) *replicaProcs {
	t.Helper()
	g := &replicaProcs{dir: dir, procs: make([]*proc, 3)}
	addrs := freeport.Loopback(t, 6)
	g.raft, g.http = addrs[:3:3], addrs[3:]
	for i := range 3 {
		g.start(t, i, banks)
	}
	return g
}

func (g *replicaProcs) start(t *testing.T, i, banks int) {
	t.Helper()
	var peers []string
	for j, a := range g.raft {
		peers = append(peers, fmt.Sprintf("ledger-%d=%s", j+1, a))
	}
	g.procs[i] = startProc(t, fmt.Sprintf("ledger-%d", i+1), "ledger", "-replica", fmt.Sprintf("ledger-%d", i+1), "-raft", g.raft[i],
		"-peers", strings.Join(peers, ","), "-data", filepath.Join(g.dir, fmt.Sprintf("replica-%d", i+1)),
		"-credentials", filepath.Join(g.dir, "credentials"), "-listen", g.http[i], "-banks", fmt.Sprint(banks), "-float", "50000000")
	g.procs[i].waitFor(t, ledgerServing)
}

func (g *replicaProcs) urls() string {
	var u []string
	for _, a := range g.http {
		u = append(u, "http://"+a)
	}
	return strings.Join(u, ",")
}

// probeClient asks a replica's /readyz; a frozen replica accepts the
// connection and never answers, so each look has a deadline.
var probeClient = &http.Client{Timeout: 500 * time.Millisecond}

// leader asks each replica's /readyz which one leads.
func (g *replicaProcs) leader(t *testing.T, within time.Duration) int {
	t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for i, a := range g.http {
			resp, err := probeClient.Get("http://" + a + "/readyz")
			if err != nil {
				continue
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.HasPrefix(string(body), "ready: leader") {
				return i
			}
		}
	}
	t.Fatalf("no replica says it leads within %v", within)
	return -1
}

// replicatedRig is three replica processes, bank-1 given all their
// addresses, and two wallets at it.
type replicatedRig struct {
	t          *testing.T
	ctx        context.Context
	dir        string
	g          *replicaProcs
	bank       *proc
	alice, bob *wallet.Client
	n          int // payments of 10 yen from alice to bob made so far
}

func newReplicatedRig(t *testing.T, ctx context.Context) *replicatedRig {
	t.Helper()
	r := &replicatedRig{t: t, ctx: ctx, dir: t.TempDir()}
	r.g = startReplicas(t, r.dir, 1)
	r.g.leader(t, 10*time.Second)
	var bankURL string
	for try := 0; ; try++ { // the leader opens bank-1 at the ledger just after it is elected
		r.bank = startProc(t, "bank-1", "bank", "-id", "bank-1", "-ledger", r.g.urls(), "-key", filepath.Join(r.dir, "credentials", "bank-1.key"),
			"-data", filepath.Join(r.dir, "bank-1"), "-listen", "127.0.0.1:0", "-holder-key", filepath.Join(r.dir, "holder.key"))
		if m, err := r.bank.stdout.waitFor(bankServing, r.bank.done, startWait); err == nil {
			bankURL = m[2]
			break
		}
		if try == 20 {
			t.Fatalf("bank-1 did not start: %s", r.bank.exit())
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, aliceKey, _ := ed25519.GenerateKey(nil)
	_, bobKey, _ := ed25519.GenerateKey(nil)
	r.alice = registerWhileUnavailable(t, ctx, bankURL, aliceKey, "Alice", "P-ALICE")
	r.bob = registerWhileUnavailable(t, ctx, bankURL, bobKey, "Bob", "P-BOB")
	for {
		if _, err := r.alice.Withdraw(ctx, "start", 50_000); err == nil {
			break
		} else if ctx.Err() != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return r
}

// payOnce pays 10 yen under a new request id, asking again while the
// outcome is in doubt, and says how long that took.
func (r *replicatedRig) payOnce() time.Duration {
	t := r.t
	t.Helper()
	r.n++
	id, start := fmt.Sprintf("pay-%d", r.n), time.Now()
	for {
		_, err := r.alice.Pay(r.ctx, id, r.bob.Address(), 10)
		if err == nil {
			return time.Since(start)
		}
		var pe *protocol.Error
		if !errors.As(err, &pe) || pe.Code != protocol.CodeUnavailable && pe.Code != protocol.CodeRateLimited || r.ctx.Err() != nil {
			t.Fatalf("%s: %v", id, err)
		}
		time.Sleep(max(pe.RetryAfter(), 50*time.Millisecond))
	}
}

// checkBalances holds the wallets to the payments made: each once.
func (r *replicatedRig) checkBalances() {
	t := r.t
	t.Helper()
	if got := walletBalance(t, r.ctx, r.bob); got != int64(10*r.n) {
		t.Errorf("bob holds %d after %d payments of 10: a payment was lost or made twice", got, r.n)
	}
	if got := walletBalance(t, r.ctx, r.alice); got != 50_000-int64(10*r.n) {
		t.Errorf("alice holds %d after paying %d", got, 10*r.n)
	}
}

// stopAndAudit stops the bank and every replica once they have caught up,
// and audits the replicas: each sound, all at the same head.
func (r *replicatedRig) stopAndAudit() {
	t := r.t
	t.Helper()
	time.Sleep(time.Second)
	r.bank.interrupt(t)
	var dirs []string
	for i, p := range r.g.procs {
		p.interrupt(t)
		dirs = append(dirs, filepath.Join(r.dir, fmt.Sprintf("replica-%d", i+1)))
	}
	out, stderr, code := cli(t, nil, append([]string{"audit"}, dirs...)...)
	if code != 0 || !strings.Contains(out, "all at the same head") {
		t.Errorf("cbdc audit of the replicas exited %d:\n%s%s", code, out, stderr)
	}
}

// The central ledger as three replica processes, a bank given all three
// addresses, and wallets paying while the leader is SIGKILLed again and
// again and started again: each time a new leader takes over within
// seconds, a payment asked again under its request id while the bank
// answers unavailable is made once, and at the end every replica's
// journal has the same head and passes its audit.
func TestMultiProcess_ReplicatedLedgerLeaderKilled(t *testing.T) {
	kills := 20
	if testing.Short() {
		kills = 10
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	r := newReplicatedRig(t, ctx)
	var failovers []time.Duration
	for k := range kills {
		for range 5 {
			r.payOnce()
		}
		i := r.g.leader(t, 10*time.Second)
		r.g.procs[i].cmd.Process.Kill()
		<-r.g.procs[i].done
		failovers = append(failovers, r.payOnce()) // from the kill to the first payment the new leader made
		r.g.start(t, i, 1)
		if k == kills-1 {
			for range 5 {
				r.payOnce()
			}
		}
	}
	slices.Sort(failovers)
	t.Logf("%d payments; from a leader's SIGKILL to the next payment made: p50 %v, max %v over %d kills",
		r.n, failovers[len(failovers)/2].Round(time.Millisecond), failovers[len(failovers)-1].Round(time.Millisecond), kills)
	if worst := failovers[len(failovers)-1]; worst > 10*time.Second {
		t.Errorf("a failover took %v, more than 10 s", worst)
	}
	r.checkBalances()
	r.stopAndAudit()
}

// The leader frozen (SIGSTOP) for longer than an election, as a partition
// would cut it off: the others elect a leader and payments go on; when it
// is continued it steps down and writes nothing of its own, and the
// replicas end at the same head.
func TestMultiProcess_ReplicatedLeaderFrozen(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r := newReplicatedRig(t, ctx)
	for range 5 {
		r.payOnce()
	}
	i := r.g.leader(t, 10*time.Second)
	frozen := r.g.procs[i].cmd.Process
	if err := frozen.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	continued := false
	defer func() {
		if !continued {
			frozen.Signal(syscall.SIGCONT)
		}
	}()
	took := r.payOnce()
	for range 10 {
		r.payOnce()
	}
	if j := r.g.leader(t, 10*time.Second); j == i {
		t.Fatalf("the frozen replica %d still answers that it leads", i+1)
	}
	frozen.Signal(syscall.SIGCONT)
	continued = true
	time.Sleep(2 * time.Second)
	resp, err := probeClient.Get("http://" + r.g.http[i] + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasPrefix(string(body), "ready: follower") {
		t.Errorf("the continued replica's /readyz: %q, want a follower", body)
	}
	for range 5 {
		r.payOnce()
	}
	t.Logf("the first payment after the leader froze was made after %v", took.Round(time.Millisecond))
	r.checkBalances()
	r.stopAndAudit()
}

// cbdc audit given several replicas' directories tells replicas whose
// journals end differently.
func TestAudit_ComparesReplicasHeads(t *testing.T) {
	ctx := context.Background()
	var dirs []string
	for i := range 2 {
		dir := t.TempDir()
		l, err := ledger.Open(filepath.Join(dir, "ledger"), ledger.Options{GenesisTime: time.Unix(0, 0)})
		if err != nil {
			t.Fatal(err)
		}
		for j := range i + 1 {
			id := ledger.AccountID(fmt.Sprintf("bank-%d", j))
			if _, err := l.OpenAccount(ctx, "open-"+string(id), ledger.AccountSpec{ID: id, Kind: ledger.KindIntermediary}); err != nil {
				t.Fatal(err)
			}
		}
		l.Close()
		dirs = append(dirs, dir)
	}
	out, _, code := cli(t, nil, "audit", dirs[0], dirs[1])
	if code != exitFailed || !strings.Contains(out, "2 different heads") {
		t.Errorf("replicas at different heads: exit %d\n%s", code, out)
	}
	out, _, code = cli(t, nil, "audit", dirs[1], dirs[1])
	if code != 0 || !strings.Contains(out, "same head") {
		t.Errorf("one journal twice: exit %d\n%s", code, out)
	}
}

// registerWhileUnavailable registers a wallet, trying again while the
// bank answers unavailable (its first call may meet a follower).
func registerWhileUnavailable(t *testing.T, ctx context.Context, url string, key ed25519.PrivateKey, name, person string) *wallet.Client {
	t.Helper()
	for {
		c, err := wallet.Register(ctx, url, key, name, person, wallet.DialOptions{})
		if err == nil {
			t.Cleanup(func() { c.Close() })
			return c
		}
		var pe *protocol.Error
		if !errors.As(err, &pe) || pe.Code != protocol.CodeUnavailable || ctx.Err() != nil {
			t.Fatalf("register %s: %v", name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
