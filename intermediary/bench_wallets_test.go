package intermediary_test

import (
	"bufio"
	"bytes"
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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/digital-yen/cbdc-sandbox/protocol"
	"github.com/digital-yen/cbdc-sandbox/wallet"
	"github.com/gorilla/websocket"
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
// Each is a lean client: the websocket, signed in, and one goroutine that
// reads it. The reader finds an answer's type and id where the bank's
// encoder puts them (the envelope's first members) instead of decoding
// the JSON, skips notifications, and in the closed loop sends the
// wallet's next payment itself; so the wallets' process spends its CPU
// on what a phone would: sending, and reading what arrives.
type benchWallets struct {
	conns     []*leanWallet
	addresses []string  // every registered wallet
	pays      []payment // in the closed loop connection c makes c, c+N, c+2N, … of N connections
	closed    bool
	runs      int
}

// payment is one presigned instruction of a connected wallet.
type payment struct {
	conn int
	msg  []byte
}

// leanWallet is one connected wallet.
type leanWallet struct {
	conn *websocket.Conn
	key  ed25519.PrivateKey
	addr string
	wmu  sync.Mutex // writes: the reader's (closed loop) and the scheduler's (open loop)
	run  atomic.Pointer[benchRun]
}

// benchRun is one run's book: when each payment was sent or due, its
// latency once answered, and what failed.
type benchRun struct {
	ws      *benchWallets
	prefix  string // the request ids' "b<run>-"
	closed  bool
	start   time.Time
	every   time.Duration   // open loop: payment i is due at start + i×every
	sent    []atomic.Int64  // closed loop: when payment i was sent, ns since start
	lat     []time.Duration // written once, by the reader that saw the answer
	next    []atomic.Int32  // closed loop: how many payments each connection has sent
	pending sync.WaitGroup
	f       failures
}

func (ws *benchWallets) do(c walletsCommand) (walletsAnswer, error) {
	switch c.Op {
	case "connect":
		return walletsAnswer{}, ws.connect(c)
	case "sign":
		return walletsAnswer{}, ws.presign(c.Count, c.Closed)
	case "go":
		return ws.run(c.Rate), nil
	}
	return walletsAnswer{}, fmt.Errorf("no command %q", c.Op)
}

func (ws *benchWallets) connect(c walletsCommand) error {
	perBank := c.Wallets / c.Banks
	ws.addresses = make([]string, perBank*c.Banks) // the wallets the banks registered
	for i := range ws.addresses {
		ws.addresses[i] = protocol.WalletAddress(benchKey(i).Public().(ed25519.PublicKey), benchBankID(i/perBank))
	}
	ws.conns = make([]*leanWallet, c.Connected)
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
			lw, err := dialLean(url, benchKey(w))
			mu.Lock()
			defer mu.Unlock()
			if err != nil && first == nil {
				first = err
			}
			ws.conns[i] = lw
		})
	}
	wg.Wait()
	if first != nil {
		return first
	}
	for _, lw := range ws.conns {
		go lw.read()
	}
	return nil
}

// dialLean opens a wallet's session, which the wallets' process then
// reads and writes itself.
func dialLean(url string, key ed25519.PrivateKey) (*leanWallet, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, welcome, err := wallet.OpenSession(ctx, url, key, wallet.DialOptions{})
	if err != nil {
		return nil, err
	}
	return &leanWallet{conn: conn, key: key, addr: welcome.Wallet}, nil
}

func (lw *leanWallet) send(msg []byte) error {
	lw.wmu.Lock()
	defer lw.wmu.Unlock()
	return lw.conn.WriteMessage(websocket.TextMessage, msg)
}

var answerHead = fmt.Appendf(nil, `{"v":%d,"type":"`, protocol.Version)

// answerTo finds an answer's type and id at the head of what the bank's
// encoder writes, {"v":1,"type":"T","id":"I",...}; ok is false for a
// message without an id (a notification).
func answerTo(data []byte) (typ, id string, ok bool) {
	rest, found := bytes.CutPrefix(data, answerHead)
	if !found {
		return "", "", false
	}
	i := bytes.IndexByte(rest, '"')
	if i < 0 {
		return "", "", false
	}
	typ, rest = string(rest[:i]), rest[i+1:]
	if rest, found = bytes.CutPrefix(rest, []byte(`,"id":"`)); !found {
		return "", "", false
	}
	if i = bytes.IndexByte(rest, '"'); i < 0 {
		return "", "", false
	}
	return typ, string(rest[:i]), true
}

// read takes what the bank sends until the connection ends.
func (lw *leanWallet) read() {
	for {
		_, data, err := lw.conn.ReadMessage()
		if err != nil {
			return
		}
		typ, id, ok := answerTo(data)
		r := lw.run.Load()
		if !ok || r == nil || !strings.HasPrefix(id, r.prefix) {
			continue // a notification, or an answer from before this run
		}
		i, err := strconv.Atoi(id[len(r.prefix):])
		if err != nil || i < 0 || i >= len(r.lat) {
			continue
		}
		r.answered(i, typ, data)
	}
}

// answered books payment i's answer and, in the closed loop, sends its
// connection's next payment.
func (r *benchRun) answered(i int, typ string, data []byte) {
	now := time.Since(r.start)
	if r.closed {
		r.lat[i] = now - time.Duration(r.sent[i].Load())
	} else {
		r.lat[i] = now - time.Duration(i)*r.every
	}
	if typ != protocol.TypePaid {
		r.f.note(fmt.Errorf("payment %d answered %s", i, data))
	}
	if r.closed {
		r.sendNext(r.ws.pays[i].conn)
	}
	r.pending.Done()
}

// sendNext sends connection c's next payment in the closed loop, if any.
func (r *benchRun) sendNext(c int) {
	n := len(r.ws.conns)
	i := c + n*(int(r.next[c].Add(1))-1)
	if i >= len(r.ws.pays) {
		return
	}
	r.sent[i].Store(int64(time.Since(r.start)))
	if err := r.ws.conns[c].send(r.ws.pays[i].msg); err != nil {
		// This connection's payments cannot be made: fail them all.
		for ; i < len(r.ws.pays); i = c + n*(int(r.next[c].Add(1))-1) {
			r.f.note(err)
			r.pending.Done()
		}
	}
}

// presign signs count payments to random wallets at any bank; closed
// spreads them evenly over the connected wallets, otherwise each payer is
// random.
func (ws *benchWallets) presign(count int, closed bool) error {
	ws.runs++
	rng := rand.New(rand.NewPCG(uint64(ws.runs), 1))
	ws.pays, ws.closed = make([]payment, count), closed
	for i := range ws.pays {
		ci := i % len(ws.conns)
		if !closed {
			ci = rng.IntN(len(ws.conns))
		}
		lw := ws.conns[ci]
		to := ws.addresses[rng.IntN(len(ws.addresses))]
		for to == lw.addr {
			to = ws.addresses[rng.IntN(len(ws.addresses))]
		}
		id := fmt.Sprintf("b%d-%d", ws.runs, i)
		msg, err := wallet.SignPay(lw.key, lw.addr, id, to, 1)
		if err != nil {
			return err
		}
		ws.pays[i] = payment{ci, msg}
	}
	return nil
}

// run makes the presigned payments: in the closed loop one in flight per
// connected wallet, each sent by the reader that saw the one before
// answered; in the open loop at rate a second, each when it is due, its
// latency measured from then.
func (ws *benchWallets) run(rate int) walletsAnswer {
	r := &benchRun{ws: ws, prefix: fmt.Sprintf("b%d-", ws.runs), closed: ws.closed,
		lat: make([]time.Duration, len(ws.pays))}
	if rate > 0 {
		r.every = time.Second / time.Duration(rate)
	}
	if r.closed {
		r.sent = make([]atomic.Int64, len(ws.pays))
		r.next = make([]atomic.Int32, len(ws.conns))
	}
	r.pending.Add(len(ws.pays))
	for _, lw := range ws.conns {
		lw.run.Store(r)
	}
	cpu0 := processCPU()
	r.start = time.Now()
	if r.closed {
		for c := range ws.conns {
			r.sendNext(c)
		}
	} else {
		for i, p := range ws.pays {
			due := r.start.Add(time.Duration(i) * r.every)
			if d := time.Until(due); d > time.Millisecond {
				time.Sleep(d)
			}
			if err := ws.conns[p.conn].send(p.msg); err != nil {
				r.f.note(err)
				r.pending.Done()
			}
		}
	}
	done := make(chan struct{})
	go func() { r.pending.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute + time.Duration(len(ws.pays))*r.every):
		// A connection that ended takes its unanswered payments with it.
		r.f.note(errors.New("bench: payments unanswered a minute after the last was due"))
		r.f.count.Add(int64(len(ws.pays))) // the run is void; its figures are not reported
		return walletsAnswer{Failed: r.f.count.Load(), First: r.f.first.Load().(string)}
	}
	return answerOf(time.Since(r.start), processCPU()-cpu0, r.lat, &r.f)
}

func answerOf(elapsed, cpu time.Duration, lat []time.Duration, f *failures) walletsAnswer {
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / 1e6 }
	a := walletsAnswer{Elapsed: elapsed, CPU: cpu, P50: q(0.50), P99: q(0.99), Failed: f.count.Load()}
	a.First, _ = f.first.Load().(string)
	return a
}

func (ws *benchWallets) close() {
	for _, lw := range ws.conns {
		if lw != nil {
			lw.conn.Close()
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
