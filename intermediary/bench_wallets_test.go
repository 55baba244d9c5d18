package intermediary_test

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/digital-yen/cbdc-sandbox/protocol"
	"github.com/digital-yen/cbdc-sandbox/wallet"
)

// The payments benchmark's wallets run in a process of their own: the
// test binary started again with benchWalletsEnv set. What the benchmark
// process then uses (CPU, heap, goroutines) is the banks' and the
// ledger's alone, as it would be with wallets on phones. The two talk in
// JSON lines: the benchmark sends a command on the wallets' stdin and
// reads one answer from their stdout.
const benchWalletsEnv = "CBDC_BENCH_WALLETS_PROCESS"

// benchKey is wallet i's key, derived from its number so that both
// processes know every wallet without sending keys between them.
func benchKey(i int) ed25519.PrivateKey {
	seed := sha256.Sum256(fmt.Appendf(nil, "cbdc-sandbox payments benchmark wallet %d", i))
	return ed25519.NewKeyFromSeed(seed[:])
}

// benchBankID names bank b (from 0) as the benchmark opens it.
func benchBankID(b int) string { return fmt.Sprintf("bank-%d", b+1) }

// connected is the wallet that connection i uses: connections go round
// the banks, each bank's first wallets first.
func connectedWallet(i, banks, perBank int) (wallet, bank int) {
	bank = i % banks
	return bank*perBank + i/banks, bank
}

type walletsCommand struct {
	Op        string   `json:"op"` // connect, sign, go
	URLs      []string `json:"urls,omitempty"`
	Wallets   int      `json:"wallets,omitempty"`
	Banks     int      `json:"banks,omitempty"`
	Connected int      `json:"connected,omitempty"`
	Count     int      `json:"count,omitempty"`
	Closed    bool     `json:"closed,omitempty"`
	Rate      int      `json:"rate,omitempty"`
}

type walletsAnswer struct {
	Error   string        `json:"error,omitempty"`
	Elapsed time.Duration `json:"elapsed,omitempty"`
	CPU     time.Duration `json:"cpu,omitempty"` // the wallets' own
	P50     float64       `json:"p50_ms,omitempty"`
	P99     float64       `json:"p99_ms,omitempty"`
	Failed  int64         `json:"failed,omitempty"`
	First   string        `json:"first,omitempty"`
}

// walletsProc is the benchmark's side of the wallets' process.
type walletsProc struct {
	cmd  *exec.Cmd
	in   *json.Encoder
	out  *json.Decoder
	stop io.Closer
}

func startWallets(urls []string, wallets, banks, connected int) (*walletsProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), benchWalletsEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	w := &walletsProc{cmd: cmd, in: json.NewEncoder(stdin), out: json.NewDecoder(bufio.NewReader(stdout)), stop: stdin}
	if _, err := w.call(walletsCommand{Op: "connect", URLs: urls, Wallets: wallets, Banks: banks, Connected: connected}); err != nil {
		w.close()
		return nil, err
	}
	return w, nil
}

func (w *walletsProc) call(c walletsCommand) (walletsAnswer, error) {
	var a walletsAnswer
	if err := w.in.Encode(c); err != nil {
		return a, fmt.Errorf("bench: to the wallets' process: %w", err)
	}
	if err := w.out.Decode(&a); err != nil {
		return a, fmt.Errorf("bench: from the wallets' process: %w", err)
	}
	if a.Error != "" {
		return a, errors.New("bench: the wallets' process: " + a.Error)
	}
	return a, nil
}

// close ends the wallets' process: its stdin closes, it hangs up and exits.
func (w *walletsProc) close() {
	w.stop.Close()
	done := make(chan struct{})
	go func() { w.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		w.cmd.Process.Kill()
		<-done
	}
}

// walletsProcess runs the wallets' side until its stdin closes.
func walletsProcess() int {
	in := json.NewDecoder(bufio.NewReader(os.Stdin))
	out := json.NewEncoder(os.Stdout)
	var ws benchWallets
	defer ws.close()
	for {
		var c walletsCommand
		if err := in.Decode(&c); err != nil {
			if errors.Is(err, io.EOF) {
				return 0
			}
			fmt.Fprintln(os.Stderr, "bench wallets:", err)
			return 1
		}
		a, err := ws.do(c)
		if err != nil {
			a.Error = err.Error()
		}
		if err := out.Encode(a); err != nil {
			fmt.Fprintln(os.Stderr, "bench wallets:", err)
			return 1
		}
	}
}

// benchWallets are the connected wallets and what they are to pay next.
type benchWallets struct {
	clients   []*wallet.Client
	addresses []string // every registered wallet
	pays      []payment
	closed    bool
	runs      int
}

// payment is one presigned instruction of a connected wallet.
type payment struct {
	client int
	id     string
	msg    []byte
}

func (ws *benchWallets) do(c walletsCommand) (walletsAnswer, error) {
	switch c.Op {
	case "connect":
		return walletsAnswer{}, ws.connect(c)
	case "sign":
		return walletsAnswer{}, ws.presign(c.Count, c.Closed)
	case "go":
		if ws.closed {
			return ws.runClosed(), nil
		}
		return ws.runOpen(c.Rate), nil
	}
	return walletsAnswer{}, fmt.Errorf("no command %q", c.Op)
}

func (ws *benchWallets) connect(c walletsCommand) error {
	perBank := c.Wallets / c.Banks
	ws.addresses = make([]string, perBank*c.Banks) // the wallets the banks registered
	for i := range ws.addresses {
		ws.addresses[i] = protocol.WalletAddress(benchKey(i).Public().(ed25519.PublicKey), benchBankID(i/perBank))
	}
	ws.clients = make([]*wallet.Client, c.Connected)
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	sem := make(chan struct{}, 64)
	for i := range c.Connected {
		w, bank := connectedWallet(i, c.Banks, perBank)
		url := "ws" + strings.TrimPrefix(c.URLs[bank], "http") + protocol.Path
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			cl, err := wallet.Dial(ctx, url, benchKey(w), wallet.DialOptions{Events: 16})
			mu.Lock()
			defer mu.Unlock()
			if err != nil && first == nil {
				first = err
			}
			ws.clients[i] = cl
		})
	}
	wg.Wait()
	return first
}

// presign signs count payments to random wallets at any bank; closed
// spreads them evenly over the connected wallets, otherwise each payer is
// random.
func (ws *benchWallets) presign(count int, closed bool) error {
	ws.runs++
	rng := rand.New(rand.NewPCG(uint64(ws.runs), 1))
	ws.pays, ws.closed = make([]payment, count), closed
	for i := range ws.pays {
		ci := i % len(ws.clients)
		if !closed {
			ci = rng.IntN(len(ws.clients))
		}
		c := ws.clients[ci]
		to := ws.addresses[rng.IntN(len(ws.addresses))]
		for to == c.Address() {
			to = ws.addresses[rng.IntN(len(ws.addresses))]
		}
		id := fmt.Sprintf("b%d-%d", ws.runs, i)
		msg, err := c.SignedPay(id, to, 1)
		if err != nil {
			return err
		}
		ws.pays[i] = payment{ci, id, msg}
	}
	return nil
}

// runClosed makes the presigned payments, one in flight per connected
// wallet.
func (ws *benchWallets) runClosed() walletsAnswer {
	lat := make([][]time.Duration, len(ws.clients))
	var f failures
	cpu0, start := processCPU(), time.Now()
	var wg sync.WaitGroup
	for ci := range ws.clients {
		wg.Go(func() {
			for i := ci; i < len(ws.pays); i += len(ws.clients) {
				t0 := time.Now()
				f.note(ws.pay(ws.pays[i]))
				lat[ci] = append(lat[ci], time.Since(t0))
			}
		})
	}
	wg.Wait()
	return answerOf(time.Since(start), processCPU()-cpu0, slices.Concat(lat...), &f)
}

// runOpen makes the presigned payments at rate a second, each when it is
// due, and measures each latency from then.
func (ws *benchWallets) runOpen(rate int) walletsAnswer {
	lat := make([]time.Duration, len(ws.pays))
	var f failures
	interval := time.Second / time.Duration(rate)
	cpu0, start := processCPU(), time.Now()
	var wg sync.WaitGroup
	for i := range ws.pays {
		due := start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > time.Millisecond {
			time.Sleep(d)
		}
		wg.Go(func() {
			f.note(ws.pay(ws.pays[i]))
			lat[i] = time.Since(due)
		})
	}
	wg.Wait()
	return answerOf(time.Since(start), processCPU()-cpu0, lat, &f)
}

func (ws *benchWallets) pay(p payment) error {
	return ws.clients[p.client].CallRaw(context.Background(), p.id, p.msg, protocol.TypePaid, nil)
}

func answerOf(elapsed, cpu time.Duration, lat []time.Duration, f *failures) walletsAnswer {
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / 1e6 }
	a := walletsAnswer{Elapsed: elapsed, CPU: cpu, P50: q(0.50), P99: q(0.99), Failed: f.count.Load()}
	a.First, _ = f.first.Load().(string)
	return a
}

func (ws *benchWallets) close() {
	for _, c := range ws.clients {
		if c != nil {
			c.Close()
		}
	}
}

type failures struct {
	count atomic.Int64
	first atomic.Value
}

func (f *failures) note(err error) {
	if err != nil {
		f.count.Add(1)
		f.first.CompareAndSwap(nil, err.Error())
	}
}
