package sim

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/digital-yen/cbdc-sandbox/protocol"
	"github.com/digital-yen/cbdc-sandbox/wallet"
)

// ErrNotRunnable means the scenario asks for something this simulator
// does not run yet.
var ErrNotRunnable = errors.New("sim: scenario not runnable yet")

// outcome is what became of one payment.
type outcome struct {
	at      time.Duration // due (open loop) or sent (closed loop), from the start
	latency time.Duration // from due or sent to the answer
	code    string        // "" when paid
	offline bool          // made with a voucher
	local   bool          // failed before leaving the payer: no latency to measure
	cut     bool          // a scripted outage had cut off the payer or the payee when it was due
}

// Tick is the state of a run, once a second, for a progress display.
type Tick struct {
	Elapsed    time.Duration `json:"elapsed"`  // nanoseconds in JSON, as Duration
	Answered   int           `json:"answered"` // payments answered so far
	Planned    int           `json:"planned"`  // payments planned; 0 for a closed loop that runs for a duration
	Duration   time.Duration `json:"duration"`
	LastSecond int           `json:"last_second"` // payments answered in the last second
	Failed     int           `json:"failed"`      // of those, failed
	Offline    int           `json:"offline"`     // of those, paid with vouchers
	Phase      string        `json:"phase"`
}

// Phases of a run, as ticks name them.
const (
	PhaseRunning     = "running"
	PhaseReconciling = "reconciling"
)

// Run makes the scenario's payments in the world and reports them. Open
// loops send each payment when it is due, whether or not earlier ones were
// answered; closed loops keep Concurrency payments in flight. progress,
// if not nil, gets a tick a second and one when reconciliation starts.
func Run(ctx context.Context, w *World, progress func(Tick)) (*Report, error) {
	sc := w.sc
	plan, err := drawPlan(sc)
	if err != nil {
		return nil, err
	}
	attacks := planAttacks(sc)
	r := &runner{w: w, plan: plan, planDigest: digestPlan(plan, attacks)}
	if sc.Offline != nil || len(sc.Outages) > 0 {
		if r.off, err = openOffline(ctx, w); err != nil {
			return nil, err
		}
		defer r.off.close()
	}
	if err := w.topUp(ctx, plan); err != nil {
		return nil, err
	}
	r.signAhead(ctx)
	r.start = time.Now()
	sides, stopSides := context.WithCancel(ctx)
	var wg sync.WaitGroup
	if r.off != nil {
		r.off.start = r.start
	}
	if sc.Offline != nil {
		wg.Go(func() { r.off.syncLoop(sides) })
		wg.Go(func() { r.off.attackLoop(sides, attacks) })
	}
	stop := r.report(progress)
	if sc.Arrival.Process == ArrivalClosed {
		r.closed(ctx)
	} else {
		r.open(ctx)
	}
	elapsed := time.Since(r.start)
	stopSides()
	wg.Wait()
	if r.off != nil {
		t := Tick{Elapsed: elapsed, Answered: len(r.out), Duration: sc.Duration.D(), Phase: PhaseReconciling}
		if sc.Arrival.Process != ArrivalClosed || sc.Payments > 0 {
			t.Planned = len(r.plan)
		}
		r.tick(progress, t)
		if err := r.off.reconcile(ctx); err != nil {
			stop()
			return nil, err
		}
	}
	stop()
	return r.build(ctx, elapsed)
}

type runner struct {
	w     *World
	start time.Time
	off   *offlineRun // nil for a run without purses or outages

	planDigest string
	signed     [][]byte      // each planned payment signed and encoded ahead, until sent; nil for a plan too long
	signing    time.Duration // the time signing ahead took
	sentSigned atomic.Int64  // payments sent as signed ahead

	progressMu  sync.Mutex // one tick at a time; none of the running phase once reconciling
	reconciling bool

	plan []Payment
	next atomic.Int64 // the next payment a closed-loop payer takes

	mu    sync.Mutex // protects out and money
	out   []outcome
	money []MoneySample
	sent  int
}

func (r *runner) open(ctx context.Context) {
	var wg sync.WaitGroup
	for n, p := range r.plan {
		if ctx.Err() != nil {
			break
		}
		due := r.start.Add(p.At)
		if d := time.Until(due); d > time.Millisecond {
			select {
			case <-time.After(d):
			case <-ctx.Done():
			}
		}
		wg.Go(func() { r.pay(ctx, n, p, due) })
	}
	wg.Wait()
}

func (r *runner) closed(ctx context.Context) {
	var wg sync.WaitGroup
	for range r.w.sc.Arrival.Concurrency {
		wg.Go(func() {
			for ctx.Err() == nil {
				n := int(r.next.Add(1)) - 1
				if n >= len(r.plan) || (r.w.sc.Duration > 0 && time.Since(r.start) >= r.w.sc.Duration.D()) {
					return
				}
				r.pay(ctx, n, r.plan[n], time.Now())
			}
		})
	}
	wg.Wait()
}

// MaxPlan bounds the payments a run draws ahead; a closed loop limited only
// by its duration draws this many.
const MaxPlan = 5_000_000

// drawPlan draws every payment of the run before it starts, so the payers
// can be topped up for what they will pay and the run spends no time
// drawing.
func drawPlan(sc *Scenario) ([]Payment, error) {
	var plan []Payment
	for p := NewPlanner(sc); len(plan) < MaxPlan; {
		pay, ok := p.Next()
		if !ok {
			return plan, nil
		}
		plan = append(plan, pay)
	}
	if sc.Arrival.Process == ArrivalClosed && sc.Payments == 0 {
		return plan, nil // the duration ends the run first
	}
	return nil, fmt.Errorf("%w: more than %d payments; shorten the run", ErrNotRunnable, MaxPlan)
}

// maxSignedAhead bounds the payments signed before a run starts (about
// 250 bytes each while they wait to be sent): a plan longer than this,
// such as a closed loop bounded by its duration, signs each payment as it
// is made.
var maxSignedAhead = 500_000

// signAhead signs the plan's payments before the run starts, on every
// core, as each payer's phone would on its own: the run then times the
// sandbox, not the wallets sharing its machine. A payment the run sends
// offline leaves its signature unused.
func (r *runner) signAhead(ctx context.Context) {
	if len(r.plan) > maxSignedAhead {
		return
	}
	start := time.Now()
	r.signed = make([][]byte, len(r.plan))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for n := int(next.Add(1)) - 1; n < len(r.plan) && ctx.Err() == nil; n = int(next.Add(1)) - 1 {
				s, _, to := r.parties(r.plan[n])
				// One that cannot be encoded now is signed when it is
				// made, and that reports the error as the payment's.
				if msg, err := s.SignedPay(payID(n), r.w.parties[to].Address, r.plan[n].Amount); err == nil {
					r.signed[n] = msg
				}
			}
		})
	}
	wg.Wait()
	r.signing = time.Since(start)
}

func payID(n int) string { return "sim-" + strconv.Itoa(n) }

// parties returns a planned payment's payer session, its number and its
// payee's number. Payers are the wallets with sessions: the plan's payer n
// pays from session n modulo their number; a payer drawn to pay itself
// pays the next party instead.
func (r *runner) parties(p Payment) (s *wallet.Client, from, to int) {
	from = p.From % len(r.w.sessions)
	s, to = r.w.sessions[from], p.To
	if r.w.parties[to].Address == s.Address() {
		to = (to + 1) % len(r.w.parties)
	}
	return s, from, to
}

// pay sends one planned payment from the payer's session.
func (r *runner) pay(ctx context.Context, n int, p Payment, due time.Time) {
	s, from, to := r.parties(p)
	o := outcome{at: due.Sub(r.start)}
	way := routeOnline
	if r.off != nil {
		way = r.off.route(n, from, to, o.at)
		o.cut = r.off.cutOff(from, to, o.at)
	}
	switch way {
	case routeOnline:
		var err error
		if r.signed != nil && r.signed[n] != nil {
			err = s.CallRaw(ctx, payID(n), r.signed[n], protocol.TypePaid, nil)
			r.signed[n] = nil // sent: the run need not hold it (only this payer sends n)
			r.sentSigned.Add(1)
		} else {
			_, err = s.Pay(ctx, payID(n), r.w.parties[to].Address, p.Amount)
		}
		if err != nil {
			o.code = errorCode(err)
		}
	case routeOffline:
		o.offline = true
		o.code = r.off.pay(from, to, p.Amount, o.at)
	case routeUnreachable:
		o.code, o.local = "no_connection", true
		if r.w.sc.Arrival.Process == ArrivalClosed {
			r.off.waitConnected(ctx, from, to) // a payer cut off tries again when it is back
		}
	}
	o.latency = time.Since(due)
	r.mu.Lock()
	r.out = append(r.out, o)
	r.mu.Unlock()
}

func errorCode(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return "cancelled"
	}
	return "connection"
}

// report samples the money by tier once a second, and ticks progress when
// it is not nil, until the returned stop is called.
func (r *runner) report(progress func(Tick)) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		every := time.NewTicker(time.Second)
		defer every.Stop()
		last := 0
		for {
			select {
			case <-done:
				return
			case <-every.C:
			}
			t, seen := r.w.sb.Totals(context.Background())
			sec := int(time.Since(r.start).Round(time.Second) / time.Second)
			if r.off != nil {
				r.off.sample(sec, t.Escrow)
			}
			r.mu.Lock()
			if seen {
				r.money = append(r.money, MoneySample{T: sec,
					Intermediaries: t.Intermediaries, Wallets: t.Wallets, Escrow: t.Escrow, Loss: t.Loss})
			}
			tick := Tick{Elapsed: time.Since(r.start), Answered: len(r.out), LastSecond: len(r.out) - last,
				Duration: r.w.sc.Duration.D(), Phase: PhaseRunning}
			for _, o := range r.out[last:] {
				switch {
				case o.code != "":
					tick.Failed++
				case o.offline:
					tick.Offline++
				}
			}
			r.mu.Unlock()
			if r.w.sc.Arrival.Process != ArrivalClosed || r.w.sc.Payments > 0 {
				tick.Planned = len(r.plan)
			}
			r.tick(progress, tick)
			last = tick.Answered
		}
	})
	return func() { close(done); wg.Wait() }
}

// tick hands progress a tick, keeping ticks of the running phase from
// following the one that says reconciliation started.
func (r *runner) tick(progress func(Tick), t Tick) {
	if progress == nil {
		return
	}
	r.progressMu.Lock()
	defer r.progressMu.Unlock()
	if r.reconciling {
		return
	}
	r.reconciling = t.Phase == PhaseReconciling
	progress(t)
}

// digestPlan names the planned payments and attacks.
func digestPlan(plan []Payment, attacks []*attackRecord) string {
	h := sha256.New()
	var b []byte
	for _, p := range plan {
		b = binary.BigEndian.AppendUint64(b[:0], uint64(p.At))
		b = binary.BigEndian.AppendUint64(b, uint64(p.From))
		b = binary.BigEndian.AppendUint64(b, uint64(p.To))
		b = binary.BigEndian.AppendUint64(b, uint64(p.Amount))
		h.Write(b)
	}
	for _, a := range attacks {
		fmt.Fprintf(h, "%s@%d;", a.kind, a.at)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// balancesDigest names the final balances, so two runs can be compared.
func balancesDigest(bal []int64) string {
	h := sha256.New()
	for _, b := range bal {
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(b)))
	}
	return hex.EncodeToString(h.Sum(nil))
}

func quantile(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return float64(sorted[int(q*float64(len(sorted)-1))]) / float64(time.Millisecond)
}
