package intermediary_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/digital-yen/cbdc-sandbox/bankadmin"
	"github.com/digital-yen/cbdc-sandbox/intermediary"
	"github.com/digital-yen/cbdc-sandbox/intermediary/gateway"
	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/ledger/replica"
	"github.com/digital-yen/cbdc-sandbox/protocol"
)

// payNet is a benchmark population: a durable ledger, banks in this
// process serving real websockets on loopback, registered wallets and the
// connected ones. It is built once per size and reused by every b.N.
type payNet struct {
	dir      string
	ledger   *ledger.Ledger     // the lone ledger, or the replicas' leader
	replicas []*replica.Replica // a replicated ledger's group; none for a lone one
	banks    []*intermediary.Bank
	servers  []*httptest.Server
	wallets  *walletsProc                   // the connected wallets, in their own process
	sigs     *intermediary.SignatureChecker // shared by the banks, as in a sandbox
}

var (
	payNetsMu sync.Mutex
	payNets   = map[string]*payNet{}
)

func TestMain(m *testing.M) {
	if os.Getenv(benchWalletsEnv) != "" {
		os.Exit(walletsProcess())
	}
	code := m.Run()
	for _, n := range payNets {
		n.close()
	}
	os.Exit(code)
}

// BenchmarkPayments is signed payments per second end to end: wallets send
// presigned pay instructions over websockets to their banks, which check
// the signature, the payer's limits and rate, and settle each payment
// durably on the central ledger before answering; payees at any bank get
// notifications. The wallets run in a process of their own on the same
// cores (see bench_wallets_test.go), so that what this process uses is the
// banks' and the ledger's.
//
// load=closed keeps one payment in flight per connected wallet: the most
// the system does, with latency as long as that queue makes it. rate=N
// sends N payments a second from random connected wallets whether or not
// earlier ones were answered (open loop), and measures each latency from
// when it was due, so a system that falls behind shows it. replicas=3
// runs the closed loop against a central ledger of three replicas in this
// process (Raft on loopback, every replica's files on the one disk), the
// banks calling its leader. Beside the rate and latency, each run reports
// µs-cpu/payment (the CPU of this process, the banks' and the ledger's,
// over the payments made), µs-cpu/payment-wallets (the wallets' process),
// heap-MB (this process's live heap after a collection, every wallet
// still connected) and goroutines (this process's); B/op and allocs/op
// are this process's allocations a payment.
func BenchmarkPayments(b *testing.B) {
	for _, s := range []struct{ wallets, banks, connected int }{{100_000, 5, 5_000}} {
		name := fmt.Sprintf("wallets=%d,banks=%d,connected=%d", s.wallets, s.banks, s.connected)
		b.Run(name+",load=closed", func(b *testing.B) {
			getPayNet(b, s.wallets, s.banks, s.connected, 1).runClosed(b)
		})
		b.Run(name+",replicas=3,load=closed", func(b *testing.B) {
			getPayNet(b, s.wallets, s.banks, s.connected, 3).runClosed(b)
		})
		for _, rate := range []int{10_000, 15_000} {
			b.Run(fmt.Sprintf("%s,rate=%d", name, rate), func(b *testing.B) {
				getPayNet(b, s.wallets, s.banks, s.connected, 1).runOpen(b, rate)
			})
		}
	}
}

func getPayNet(b *testing.B, wallets, banks, connected, replicas int) *payNet {
	key := fmt.Sprint(wallets, banks, connected, replicas)
	payNetsMu.Lock()
	defer payNetsMu.Unlock()
	if n := payNets[key]; n != nil {
		return n
	}
	// One population at a time: two hold twice the connections, more
	// than a process may open.
	for k, n := range payNets {
		n.close()
		delete(payNets, k)
	}
	start := time.Now()
	n, err := newPayNet(wallets, banks, connected, replicas)
	if err != nil {
		b.Fatal(err)
	}
	payNets[key] = n
	b.Logf("set up %d wallets at %d banks, %d connected, in %s", wallets, banks, connected, time.Since(start).Round(time.Millisecond))
	return n
}

func newPayNet(wallets, banks, connected, replicas int) (*payNet, error) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "bench-payments-")
	if err != nil {
		return nil, err
	}
	n := &payNet{dir: dir, sigs: intermediary.NewSignatureChecker()}
	if replicas > 1 {
		err = n.openReplicas(replicas)
	} else {
		n.ledger, err = ledger.Open(filepath.Join(dir, "ledger"), ledger.Options{})
	}
	if err != nil {
		return nil, err
	}
	keys := make([]ed25519.PrivateKey, wallets)
	for i := range keys {
		keys[i] = benchKey(i)
	}
	perBank := wallets / banks
	for i := range banks {
		if err := n.addBank(ctx, ledger.AccountID(benchBankID(i)), keys[i*perBank:(i+1)*perBank]); err != nil {
			return nil, err
		}
	}
	urls := make([]string, len(n.servers))
	for i, s := range n.servers {
		urls[i] = s.URL
	}
	if n.wallets, err = startWallets(urls, wallets, banks, connected); err != nil {
		return nil, err
	}
	return n, nil
}

// openReplicas starts a group of replicas on loopback and waits for its
// leader, whose ledger the banks call.
func (n *payNet) openReplicas(count int) error {
	var peers []replica.Peer
	var held []net.Listener // until every port is chosen, so no two are the same
	for i := range count {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		held = append(held, ln)
		peers = append(peers, replica.Peer{ID: fmt.Sprintf("ledger-%d", i+1), Addr: ln.Addr().String()})
	}
	for _, ln := range held {
		ln.Close()
	}
	for _, p := range peers {
		r, err := replica.Open(replica.Config{ID: p.ID, Dir: filepath.Join(n.dir, p.ID), Bind: p.Addr, Peers: peers})
		if err != nil {
			return err
		}
		n.replicas = append(n.replicas, r)
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for _, r := range n.replicas {
			if r.Ledger().Leading() {
				n.ledger = r.Ledger()
				return nil
			}
		}
	}
	return errors.New("bench: no replica leads after 30 s")
}

// addBank opens a bank, onboards its wallets in bulk and gives each 10,000
// yen from the bank's float.
func (n *payNet) addBank(ctx context.Context, id ledger.AccountID, keys []ed25519.PrivateKey) error {
	if err := n.central(func(l *ledger.Ledger) (ledger.Receipt, error) {
		return l.OpenAccount(ctx, "open-"+string(id), ledger.AccountSpec{ID: id, Kind: ledger.KindIntermediary})
	}); err != nil {
		return err
	}
	if err := n.central(func(l *ledger.Ledger) (ledger.Receipt, error) {
		return l.Issue(ctx, "float-"+string(id), id, 10_000_000_000)
	}); err != nil {
		return err
	}
	var bl intermediary.Ledger = n.ledger.Intermediary(id)
	if len(n.replicas) > 0 {
		bl = followLeader{n.replicas, id}
	}
	bank, err := intermediary.Open(ctx, intermediary.Config{ID: id, Ledger: bl,
		Path: filepath.Join(n.dir, string(id)+".db"), HolderKey: testHolderKey, AdminToken: testAdminToken, SignatureChecker: n.sigs})
	if err != nil {
		return err
	}
	n.banks = append(n.banks, bank)
	n.servers = append(n.servers, httptest.NewServer(gateway.New(bank).Handler()))
	for start := 0; start < len(keys); start += 1000 {
		chunk := keys[start:min(start+1000, len(keys))]
		specs := make([]bankadmin.CustomerSpec, len(chunk))
		var funding []ledger.Transfer
		for i, k := range chunk {
			pub := k.Public().(ed25519.PublicKey)
			specs[i] = bankadmin.CustomerSpec{Name: "wallet", PersonID: fmt.Sprintf("%s-%d", id, start+i), PublicKeys: []ed25519.PublicKey{pub}}
			addr := protocol.WalletAddress(pub, string(id))
			funding = append(funding, ledger.Transfer{From: id, To: ledger.AccountID(addr), Amount: 10_000})
		}
		if _, err := bank.OnboardMany(ctx, specs); err != nil {
			return err
		}
		if err := n.central(func(l *ledger.Ledger) (ledger.Receipt, error) {
			return l.Batch(ctx, fmt.Sprintf("fund-%s-%d", id, start), funding)
		}); err != nil {
			return err
		}
	}
	return nil
}

func (n *payNet) close() {
	if n.wallets != nil {
		n.wallets.close()
	}
	for i, b := range n.banks {
		n.servers[i].CloseClientConnections()
		b.Close()
		n.servers[i].Close()
	}
	if len(n.replicas) > 0 {
		for _, r := range n.replicas {
			r.Close()
		}
	} else {
		n.ledger.Close()
	}
	os.RemoveAll(n.dir)
}

// runClosed makes b.N payments, one in flight per connected wallet.
func (n *payNet) runClosed(b *testing.B) { n.run(b, true, 0) }

// runOpen sends b.N payments at rate a second, each when it is due.
func (n *payNet) runOpen(b *testing.B, rate int) {
	n.run(b, false, rate)
	b.ReportMetric(float64(rate), "target/s")
}

// run has the wallets presign b.N payments, then make them while it
// measures; every payment must be made.
func (n *payNet) run(b *testing.B, closed bool, rate int) {
	b.ReportAllocs() // this process's: the banks' and the ledger's, a payment
	if _, err := n.wallets.call(walletsCommand{Op: "sign", Count: b.N, Closed: closed}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	cpu0 := processCPU()
	a, err := n.wallets.call(walletsCommand{Op: "go", Rate: rate})
	cpu := processCPU() - cpu0
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if a.Failed > 0 {
		b.Fatalf("%d of %d payments failed; first: %v", a.Failed, b.N, a.First)
	}
	b.ReportMetric(float64(b.N)/a.Elapsed.Seconds(), "payments/s")
	b.ReportMetric(a.P50, "p50-ms")
	b.ReportMetric(a.P99, "p99-ms")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "µs-cpu/payment")
	b.ReportMetric(float64(a.CPU.Microseconds())/float64(b.N), "µs-cpu/payment-wallets")
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "heap-MB")
	b.ReportMetric(float64(runtime.NumGoroutine()), "goroutines")
	b.ReportMetric(0, "ns/op")
}

// processCPU is the CPU time this process has used, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// central runs a central bank's operation at the lone ledger or at
// whichever replica leads, asking again under its id while not_leader.
func (n *payNet) central(op func(l *ledger.Ledger) (ledger.Receipt, error)) error {
	for {
		l := n.ledger
		for _, r := range n.replicas {
			if r.Ledger().Leading() {
				l = r.Ledger()
			}
		}
		_, err := op(l)
		if !errors.Is(err, ledger.ErrNotLeader) {
			return err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// followLeader is a bank's way to a replicated ledger in this process: it
// calls whichever replica leads, and asks again under the same id while an
// answer is not_leader (in doubt), as a ledgerhttp.Client does over the
// network.
type followLeader struct {
	replicas []*replica.Replica
	id       ledger.AccountID
}

func (f followLeader) leader() *ledger.Intermediary {
	for {
		for _, r := range f.replicas {
			if r.Ledger().Leading() {
				return r.Ledger().Intermediary(f.id)
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// again runs call at the leader until its answer is not not_leader.
func again[T any](f followLeader, call func(l *ledger.Intermediary) (T, error)) (T, error) {
	for {
		v, err := call(f.leader())
		if !errors.Is(err, ledger.ErrNotLeader) {
			return v, err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (f followLeader) ID() ledger.AccountID { return f.id }
func (f followLeader) OpenAccount(ctx context.Context, op string, s ledger.AccountSpec) (ledger.Receipt, error) {
	return again(f, func(l *ledger.Intermediary) (ledger.Receipt, error) { return l.OpenAccount(ctx, op, s) })
}
func (f followLeader) CloseAccount(ctx context.Context, op string, id ledger.AccountID) (ledger.Receipt, error) {
	return again(f, func(l *ledger.Intermediary) (ledger.Receipt, error) { return l.CloseAccount(ctx, op, id) })
}
func (f followLeader) SetLimits(ctx context.Context, op string, id ledger.AccountID, lim ledger.Limits) (ledger.Receipt, error) {
	return again(f, func(l *ledger.Intermediary) (ledger.Receipt, error) { return l.SetLimits(ctx, op, id, lim) })
}
func (f followLeader) Issue(ctx context.Context, op string, amount int64) (ledger.Receipt, error) {
	return again(f, func(l *ledger.Intermediary) (ledger.Receipt, error) { return l.Issue(ctx, op, amount) })
}
func (f followLeader) Redeem(ctx context.Context, op string, amount int64) (ledger.Receipt, error) {
	return again(f, func(l *ledger.Intermediary) (ledger.Receipt, error) { return l.Redeem(ctx, op, amount) })
}
func (f followLeader) Transfer(ctx context.Context, op string, from, to ledger.AccountID, amount int64) (ledger.Receipt, error) {
	return again(f, func(l *ledger.Intermediary) (ledger.Receipt, error) { return l.Transfer(ctx, op, from, to, amount) })
}
func (f followLeader) Batch(ctx context.Context, op string, ts []ledger.Transfer) (ledger.Receipt, error) {
	return again(f, func(l *ledger.Intermediary) (ledger.Receipt, error) { return l.Batch(ctx, op, ts) })
}
func (f followLeader) Account(ctx context.Context, id ledger.AccountID) (ledger.Account, error) {
	return again(f, func(l *ledger.Intermediary) (ledger.Account, error) { return l.Account(ctx, id) })
}
func (f followLeader) Holder(ctx context.Context, h ledger.HolderID) (ledger.Holding, error) {
	return again(f, func(l *ledger.Intermediary) (ledger.Holding, error) { return l.Holder(ctx, h) })
}
func (f followLeader) History(ctx context.Context, id ledger.AccountID, cursor uint64, limit int) ([]ledger.Event, uint64, error) {
	var next uint64
	evs, err := again(f, func(l *ledger.Intermediary) (evs []ledger.Event, err error) {
		evs, next, err = l.History(ctx, id, cursor, limit)
		return evs, err
	})
	return evs, next, err
}
func (f followLeader) Totals(ctx context.Context) (ledger.Totals, error) {
	return again(f, func(l *ledger.Intermediary) (ledger.Totals, error) { return l.Totals(ctx) })
}
func (f followLeader) Feed(ctx context.Context, from uint64, limit int) ([]ledger.Event, uint64, error) {
	var next uint64
	evs, err := again(f, func(l *ledger.Intermediary) (evs []ledger.Event, err error) {
		evs, next, err = l.Feed(ctx, from, limit)
		return evs, err
	})
	return evs, next, err
}
func (f followLeader) Send(ctx context.Context, to ledger.AccountID, body []byte) error {
	_, err := again(f, func(l *ledger.Intermediary) (struct{}, error) { return struct{}{}, l.Send(ctx, to, body) })
	return err
}
func (f followLeader) Receive(ctx context.Context, max int) ([]ledger.Message, error) {
	return again(f, func(l *ledger.Intermediary) ([]ledger.Message, error) { return l.Receive(ctx, max) })
}
