package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

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

func loopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startReplicas(t *testing.T, dir string, banks int) *replicaProcs {
	t.Helper()
	g := &replicaProcs{dir: dir, procs: make([]*proc, 3)}
	for range 3 {
		g.raft = append(g.raft, loopbackAddr(t))
		g.http = append(g.http, loopbackAddr(t))
	}
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

// leader asks each replica's /readyz which one leads.
func (g *replicaProcs) leader(t *testing.T, within time.Duration) int {
	t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for i, a := range g.http {
			resp, err := http.Get("http://" + a + "/readyz")
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
	dir := t.TempDir()
	g := startReplicas(t, dir, 1)
	g.leader(t, 10*time.Second)
	var bank *proc
	var bankURL string
	for try := 0; ; try++ { // the leader opens bank-1 at the ledger just after it is elected
		bank = startProc(t, "bank-1", "bank", "-id", "bank-1", "-ledger", g.urls(), "-key", filepath.Join(dir, "credentials", "bank-1.key"),
			"-data", filepath.Join(dir, "bank-1"), "-listen", "127.0.0.1:0", "-holder-key", filepath.Join(dir, "holder.key"))
		if m, err := bank.stdout.waitFor(bankServing, bank.done, startWait); err == nil {
			bankURL = m[2]
			break
		}
		if try == 20 {
			t.Fatalf("bank-1 did not start: %s", bank.exit())
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, aliceKey, _ := ed25519.GenerateKey(nil)
	_, bobKey, _ := ed25519.GenerateKey(nil)
	alice := registerWhileUnavailable(t, ctx, bankURL, aliceKey, "Alice", "P-ALICE")
	bob := registerWhileUnavailable(t, ctx, bankURL, bobKey, "Bob", "P-BOB")
	for {
		if _, err := alice.Withdraw(ctx, "start", 50_000); err == nil {
			break
		} else if ctx.Err() != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// payOnce pays under one request id, asking again while the outcome
	// is in doubt, and says how long that took.
	n := 0
	payOnce := func() time.Duration {
		n++
		id, start := fmt.Sprintf("pay-%d", n), time.Now()
		for {
			_, err := alice.Pay(ctx, id, bob.Address(), 10)
			if err == nil {
				return time.Since(start)
			}
			var pe *protocol.Error
			if !errors.As(err, &pe) || pe.Code != protocol.CodeUnavailable && pe.Code != protocol.CodeRateLimited || ctx.Err() != nil {
				t.Fatalf("%s: %v", id, err)
			}
			time.Sleep(max(pe.RetryAfter(), 50*time.Millisecond))
		}
	}
	var failovers []time.Duration
	for k := range kills {
		for range 5 {
			payOnce()
		}
		i := g.leader(t, 10*time.Second)
		g.procs[i].cmd.Process.Kill()
		<-g.procs[i].done
		failovers = append(failovers, payOnce()) // from the kill to the first payment the new leader made
		g.start(t, i, 1)
		if k == kills-1 {
			for range 5 {
				payOnce()
			}
		}
	}
	slices.Sort(failovers)
	t.Logf("%d payments; from a leader's SIGKILL to the next payment made: p50 %v, max %v over %d kills",
		n, failovers[len(failovers)/2].Round(time.Millisecond), failovers[len(failovers)-1].Round(time.Millisecond), kills)
	if got := walletBalance(t, ctx, bob); got != int64(10*n) {
		t.Errorf("bob holds %d after %d payments of 10: a payment was lost or made twice", got, n)
	}
	if got := walletBalance(t, ctx, alice); got != 50_000-int64(10*n) {
		t.Errorf("alice holds %d after paying %d", got, 10*n)
	}
	if worst := failovers[len(failovers)-1]; worst > 10*time.Second {
		t.Errorf("a failover took %v, more than 10 s", worst)
	}

	// Every replica caught up and stopped: the same head, audits clean.
	time.Sleep(time.Second)
	bank.interrupt(t)
	var heads []string
	for i, p := range g.procs {
		p.interrupt(t)
		ldir := filepath.Join(dir, fmt.Sprintf("replica-%d", i+1), "ledger")
		rep, err := ledger.Audit(ldir)
		if err != nil || !rep.OK() {
			t.Errorf("replica %d audit: %v %v", i+1, err, rep.Problems)
		}
		l, err := ledger.Open(ldir, ledger.Options{})
		if err != nil {
			t.Fatal(err)
		}
		seq, h := l.Head()
		l.Close()
		heads = append(heads, fmt.Sprintf("%d:%x", seq, h[:8]))
	}
	if heads[0] != heads[1] || heads[1] != heads[2] {
		t.Errorf("the replicas' journals end differently: %v", heads)
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
