package soak

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/digital-yen/cbdc-sandbox/protocol"
	"github.com/digital-yen/cbdc-sandbox/sim"
	"github.com/digital-yen/cbdc-sandbox/wallet"
)

// Config is one soak run.
type Config struct {
	Binary   string        // the cbdc binary that runs the ledger and the banks
	Dir      string        // the run's data: DIR/ledger (or DIR/replica-N), DIR/bank-N, DIR/logs; must be new or empty
	Scenario *sim.Scenario // the load: banks, parties, starting balances, arrivals and amounts
	Duration time.Duration // how long payments arrive; the scenario's length when 0
	Kills    int           // SIGKILLs of the ledger, and as many of the banks (taken in turn)
	Down     time.Duration // how long a killed process stays down; 2s when 0
	Freezes  int           // SIGSTOPs of the ledger, and as many of the banks, each followed by SIGCONT
	// Only chooses the processes the faults hit: "" for the ledger and
	// the banks in turn, "ledger" or "banks" for those alone (then Kills
	// and Freezes count faults in all, not per side).
	Only string
	// Replicas, at 3 or more (odd), runs the ledger as that many replica
	// processes kept in step by Raft, and gives the banks every replica's
	// URL; the ledger side's kills, and its freezes, then take the replica
	// that leads at the time and a follower in turn. 0 or 1: the lone
	// ledger.
	Replicas int
	Frozen   time.Duration // how long a frozen process stays stopped; 5s when 0
	// FrozenLedgerBound is the longest a wallet may wait for an answer to
	// a request sent while the ledger is frozen: the banks must answer
	// `unavailable` within their bound. DefaultFrozenLedgerBound when 0.
	FrozenLedgerBound time.Duration
	// Ports, when not 0, puts the ledger on 127.0.0.1:Ports and bank N on
	// 127.0.0.1:Ports+N; at 0 each takes a free port when first started
	// and keeps it across restarts. With Replicas R, replica N's HTTP is
	// on Ports+banks+N and its Raft transport on Ports+banks+R+N (Ports
	// itself unused); at 0 they are free ports below the ephemeral range,
	// chosen before the first start.
	Ports   int
	Workers int // payments in flight at most; 64 when 0
	// TLS runs every connection, wallet to bank and bank to ledger, over
	// TLS with certificates `cbdc certs` makes in DIR/certs.
	TLS bool
	// Settle bounds how long, after the load ends, payments still in doubt
	// are retried before the run gives up on them; 3 minutes when 0.
	Settle   time.Duration
	Log      *slog.Logger
	Progress func(Progress) // called about every 5 seconds, may be nil
}

// Progress is a look at a run under way.
type Progress struct {
	Elapsed  time.Duration
	Paid     int
	Refused  int
	InDoubt  int // sent and not yet answered for sure
	Retries  int
	Kills    int
	Killed   string // the process down now, if any
	Freezes  int
	Frozen   string // the process stopped now, if any
	Duration time.Duration
}

// retryable are the answers that say "nothing was decided; send the same
// request id again".
var retryable = map[string]bool{
	protocol.CodeUnavailable: true, protocol.CodeInternal: true, protocol.CodeBusy: true, protocol.CodeRateLimited: true,
}

func (c *Config) check() error {
	switch {
	case c.Binary == "":
		return errors.New("soak: no cbdc binary to run the services with")
	case c.Scenario == nil:
		return errors.New("soak: no scenario")
	case c.Scenario.Offline != nil || len(c.Scenario.Outages) > 0 || len(c.Scenario.Attacks) > 0:
		return fmt.Errorf("soak: scenario %q has offline purses, outages or attacks; the soak makes its own outages and drives online payments only, so give it a scenario without them (scenarios/soak.json)", c.Scenario.Name)
	case c.Only != "" && c.Only != "ledger" && c.Only != "banks":
		return fmt.Errorf("soak: only is \"ledger\", \"banks\" or empty, got %q", c.Only)
	case c.Kills < 0 || c.Freezes < 0:
		return fmt.Errorf("soak: kills and freezes must be 0 or more, got %d and %d", c.Kills, c.Freezes)
	case c.Duration < 0 || c.Down < 0 || c.Frozen < 0 || c.Settle < 0 || c.FrozenLedgerBound < 0:
		return errors.New("soak: durations must not be negative")
	}
	if err := CheckReplicas(c.Replicas); err != nil {
		return err
	}
	last := c.Ports + c.Scenario.Banks
	if c.replicated() {
		last += 2 * c.Replicas
	}
	if c.Ports != 0 && (c.Ports < 1024 || last > 65535) {
		return fmt.Errorf("soak: ports %d to %d are not all between 1024 and 65535", c.Ports, last)
	}
	if c.Duration == 0 {
		c.Duration = c.Scenario.Duration.D()
	}
	if c.Duration == 0 {
		return fmt.Errorf("soak: scenario %q gives a payment count, not a duration; give the soak a duration", c.Scenario.Name)
	}
	if c.Down == 0 {
		c.Down = 2 * time.Second
	}
	if c.Frozen == 0 {
		c.Frozen = 5 * time.Second
	}
	if c.FrozenLedgerBound == 0 {
		c.FrozenLedgerBound = DefaultFrozenLedgerBound
	}
	if c.Workers <= 0 {
		c.Workers = 64
	}
	if c.Settle == 0 {
		c.Settle = 3 * time.Minute
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return nil
}

// party is one wallet of the run, with the session it pays from.
type party struct {
	n       int
	bank    int
	key     ed25519.PrivateKey
	address string
	start   int64 // wallet plus deposit once registered and funded

	mu sync.Mutex // protects c
	c  *wallet.Client
}

// acked is a payment the bank answered as made.
type acked struct {
	id       string
	from, to int
	amount   int64
	seq      uint64
}

// run is a soak under way.
type run struct {
	cfg      Config
	ledger   *service   // the lone ledger; nil when replicated
	replicas []*service // the replicated ledger's replicas, ledger-1 …
	banks    []*service
	tls      *tls.Config        // trusts DIR/certs/ca.pem; nil without TLS
	probe    *http.Client       // asks replicas' /readyz and /metrics
	follower int                // follower faults made, to take the followers in turn
	sandbox  *sim.RemoteSandbox // the banks' admin API, and how wallets reach them
	parties  []*party

	mu        sync.Mutex // protects the counters below
	paid      []acked
	refused   map[string]int
	inDoubt   int
	retries   int
	redials   int
	cut       int           // payments whose connection was lost after they were sent
	slowest   time.Duration // the longest a payment waited for the bank's answer
	timeouts  int           // attempts given up on after attemptWait without an answer
	kills     []string
	down      string
	freezes   []string
	frozen    string                 // the process stopped now, if any
	frozenAs  string                 // what its answers are counted under in waits
	waits     map[string]*FrozenWait // answers to requests sent while a process was stopped, by process (or role)
	unsettled []string               // payments still in doubt when the run gave up on them
	faultLog  []Fault                // the faults made, in order
	failing   []pendingFailover      // leaders' kills with no payment made since
}

// Run starts the ledger and the scenario's banks as processes of
// cfg.Binary, onboards the scenario's parties, makes its payments while
// killing the ledger and the banks with SIGKILL and starting them again,
// retries every payment in doubt with its request id until it is answered,
// then checks every wallet's history and holdings against the answers,
// stops the services and audits the ledger.
func Run(ctx context.Context, cfg Config) (rep *Report, err error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if err := prepareDir(cfg.Dir); err != nil {
		return nil, err
	}
	r := &run{cfg: cfg, refused: map[string]int{}, waits: map[string]*FrozenWait{}}
	started := time.Now()
	defer r.killAll()
	if err := r.startServices(ctx); err != nil {
		return nil, err
	}
	if err := r.onboard(ctx); err != nil {
		return nil, err
	}
	cfg.Log.Info("soak: load starts", "parties", len(r.parties), "duration", cfg.Duration, "kills", cfg.Kills, "freezes", cfg.Freezes)
	loadStart := time.Now()
	// A failed kill, freeze or restart ends the run at once: there is no
	// point in paying into a service that is gone.
	runCtx, abort := context.WithCancel(ctx)
	defer abort()
	loadCtx, endLoad := context.WithTimeout(runCtx, cfg.Duration)
	defer endLoad()
	killErr := make(chan error, 1)
	go func() {
		err := r.faultLoop(runCtx, loadCtx, loadStart)
		if err != nil {
			abort()
		}
		killErr <- err
	}()
	stopProgress := r.report(loadStart)
	r.load(runCtx, loadCtx)
	stopProgress()
	if err := <-killErr; err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	rep = r.newReport(time.Since(loadStart))
	for _, s := range r.services() {
		if err := s.running(); err != nil {
			return nil, err
		}
	}
	r.waitForIntents(ctx, rep)
	if err := r.verify(ctx, rep); err != nil {
		return nil, err
	}
	r.closeSessions()
	for _, s := range r.banks {
		if err := s.stop(); err != nil {
			rep.problem("%v", err)
		}
	}
	if !cfg.replicated() {
		if err := r.ledger.stop(); err != nil {
			rep.problem("%v", err)
		}
		r.audit(ctx, rep)
		rep.Took = time.Since(started)
		return rep, nil
	}
	r.waitForSameHead(ctx, rep, headWait)
	for _, s := range r.replicas {
		if err := s.stop(); err != nil {
			rep.problem("%v", err)
		}
	}
	r.auditReplicas(ctx, rep)
	rep.Took = time.Since(started)
	return rep, nil
}

// prepareDir makes the run's directory, which must not hold an earlier
// run: the same wallets would find themselves registered.
func prepareDir(dir string) error {
	if dir == "" {
		return errors.New("soak: no data directory")
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("soak: %s is not empty; give the soak a new directory", dir)
	}
	return os.MkdirAll(filepath.Join(dir, "logs"), 0o700)
}

// services are the ledger's processes, then the banks'.
func (r *run) services() []*service {
	if r.cfg.replicated() {
		return append(slices.Clone(r.replicas), r.banks...)
	}
	return append([]*service{r.ledger}, r.banks...)
}

// startServices starts the ledger (every replica of it, until one leads),
// then each bank.
func (r *run) startServices(ctx context.Context) error {
	dir, bin := r.cfg.Dir, r.cfg.Binary
	banks := r.cfg.Scenario.Banks
	var serveTLS, trustTLS []string
	if r.cfg.TLS {
		certs := filepath.Join(dir, "certs")
		if out, err := exec.CommandContext(ctx, bin, "certs", "-dir", certs).CombinedOutput(); err != nil {
			return fmt.Errorf("soak: cbdc certs: %v\n%s", err, out)
		}
		serveTLS = []string{"-tls-cert", filepath.Join(certs, "server.pem"), "-tls-key", filepath.Join(certs, "server-key.pem")}
		trustTLS = []string{"-ca", filepath.Join(certs, "ca.pem")}
		pemBytes, err := os.ReadFile(filepath.Join(certs, "ca.pem"))
		if err != nil {
			return fmt.Errorf("soak: %w", err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pemBytes)
		r.tls = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	r.probe = &http.Client{Transport: &http.Transport{TLSClientConfig: r.tls, DisableKeepAlives: true}}
	if r.cfg.replicated() {
		if err := r.startReplicas(ctx, serveTLS); err != nil {
			return err
		}
	} else if err := r.startLedger(ctx, serveTLS); err != nil {
		return err
	}
	// Banks start one after the other: the first creates the holder key
	// the others read.
	ledgerURLs := r.ledgerURLs()
	for b := 1; b <= banks; b++ {
		id := fmt.Sprintf("bank-%d", b)
		s := &service{name: id, binary: bin, serving: bankServing, logPath: logPathIn(dir, id), listen: r.listenAddr(b),
			args: func(listen string) []string {
				args := []string{"bank", "-id", id, "-ledger", ledgerURLs, "-key", filepath.Join(dir, "credentials", id+".key"),
					"-data", filepath.Join(dir, id), "-listen", listen, "-holder-key", filepath.Join(dir, "holder.key")}
				return append(append(args, serveTLS...), trustTLS...)
			}}
		start := s.start
		if r.cfg.replicated() {
			start = s.startOpened
		}
		if err := start(ctx); err != nil {
			return err
		}
		r.banks = append(r.banks, s)
	}
	return nil
}

// startLedger starts the lone ledger.
func (r *run) startLedger(ctx context.Context, serveTLS []string) error {
	dir, banks := r.cfg.Dir, r.cfg.Scenario.Banks
	r.ledger = &service{name: "ledger", binary: r.cfg.Binary, serving: ledgerServing, logPath: logPathIn(dir, "ledger"), listen: r.listenAddr(0),
		args: func(listen string) []string {
			return append([]string{"ledger", "-data", dir, "-listen", listen, "-banks", strconv.Itoa(banks)}, serveTLS...)
		}}
	return r.ledger.start(ctx)
}

// listenAddr is where service n (0 the ledger, N bank-N) listens first.
func (r *run) listenAddr(n int) string {
	if r.cfg.Ports == 0 {
		return "127.0.0.1:0"
	}
	return "127.0.0.1:" + strconv.Itoa(r.cfg.Ports+n)
}

// killAll ends whatever still runs when the soak returns early.
func (r *run) killAll() {
	r.closeSessions()
	for _, s := range r.services() {
		if s != nil && s.running() == nil {
			s.kill()
		}
	}
}

func (r *run) closeSessions() {
	for _, p := range r.parties {
		p.mu.Lock()
		if p.c != nil {
			p.c.Close()
			p.c = nil
		}
		p.mu.Unlock()
	}
}

// onboard reaches the banks through their admin API, onboards every
// party at its bank (party n at bank n mod banks) as sim does, with its
// starting balance on deposit, then opens its session, which turns on the
// waterfall and auto-charge and withdraws the balance into its wallet, 32
// parties at a time.
func (r *run) onboard(ctx context.Context) error {
	sc := r.cfg.Scenario
	rm := sim.Remote{TLS: r.tls}
	for _, s := range r.banks {
		token, err := os.ReadFile(filepath.Join(r.cfg.Dir, s.name, "admin.token"))
		if err != nil {
			return fmt.Errorf("soak: %s's admin token: %w", s.name, err)
		}
		scheme := "http://"
		if r.cfg.TLS {
			scheme = "https://"
		}
		rm.Banks = append(rm.Banks, sim.RemoteBank{URL: scheme + s.listen, AdminToken: string(token)})
	}
	sb, err := sim.ConnectRemote(ctx, rm)
	if err != nil {
		return err
	}
	r.sandbox = sb
	var bankIDs []string
	for _, b := range sb.Banks() {
		bankIDs = append(bankIDs, b.ID)
	}
	parties := sim.DrawParties(sc, bankIDs, nil)
	if err := sb.Onboard(ctx, parties); err != nil {
		return err
	}
	r.parties = make([]*party, len(parties))
	sem := make(chan struct{}, 32)
	errs := make(chan error, len(parties))
	var wg sync.WaitGroup
	for n, sp := range parties {
		p := &party{n: n, bank: sp.Bank, key: sp.Key}
		r.parties[n] = p
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := r.open(ctx, p, sp); err != nil {
				errs <- fmt.Errorf("soak: onboarding party %d at %s: %w", n, r.banks[p.bank].name, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// open opens the onboarded party's session and checks it holds what it
// was onboarded with: sim.DepositAccount besides its starting balance,
// which keeps payers paying through a long soak once their wallets run
// dry.
func (r *run) open(ctx context.Context, p *party, sp sim.Party) error {
	c, err := sim.Session(ctx, r.sandbox, sp, 0)
	if err != nil {
		return err
	}
	p.c, p.address = c, c.Address()
	b, err := c.Balance(ctx)
	if err != nil {
		return err
	}
	p.start = b.Balance + b.Deposit
	if p.start != sim.DepositAccount+sp.Start {
		return fmt.Errorf("onboarded with %d yen on deposit and withdrew %d, it holds %d", sim.DepositAccount+sp.Start, sp.Start, p.start)
	}
	return nil
}

// waitForIntents waits, up to a minute, until no bank has an operation
// in doubt with the ledger, so the books are read when they are final.
func (r *run) waitForIntents(ctx context.Context, rep *Report) {
	deadline := time.Now().Add(time.Minute)
	for b, s := range r.banks {
		for {
			st, err := r.sandbox.Admin(b).Status(ctx)
			if err == nil && st.PendingIntents == 0 {
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				rep.problem("%s still has %d operations in doubt with the ledger a minute after the load (%v)", s.name, st.PendingIntents, err)
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

// session returns the party's open session, dialling again after its bank
// went away; it keeps trying until ctx ends.
func (r *run) session(ctx context.Context, p *party) (*wallet.Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.c != nil && p.c.Err() == nil {
		return p.c, nil
	}
	if p.c != nil {
		p.c.Close()
		p.c = nil
	}
	wait := 100 * time.Millisecond
	for {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		c, err := wallet.Dial(dctx, r.banks[p.bank].url(), p.key, wallet.DialOptions{Dialer: r.sandbox.Dialer()})
		cancel()
		if err == nil {
			p.c = c
			r.count(func() { r.redials++ })
			return c, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

func (r *run) count(f func()) {
	r.mu.Lock()
	f()
	r.mu.Unlock()
}

// load makes the scenario's payments until loadCtx ends, and waits for
// every payment sent to be answered for sure (or for the settle time).
func (r *run) load(ctx, loadCtx context.Context) {
	sc := *r.cfg.Scenario
	sc.Duration, sc.Payments = sim.Duration(r.cfg.Duration), 0
	plan := sim.NewPlanner(&sc)
	settleCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	type job struct {
		sim.Payment
		id string
	}
	work := make(chan job)
	var wg sync.WaitGroup
	for range r.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				r.pay(settleCtx, j.Payment, j.id)
			}
		}()
	}
	start := time.Now()
	for n := 0; ; n++ {
		p, ok := plan.Next()
		if !ok {
			break
		}
		if wait := time.Until(start.Add(p.At)); wait > 0 {
			select {
			case <-loadCtx.Done():
			case <-time.After(wait):
			}
		}
		if loadCtx.Err() != nil {
			break
		}
		select {
		case work <- job{p, "soak-" + strconv.Itoa(n)}:
		case <-loadCtx.Done():
		}
		if loadCtx.Err() != nil {
			break
		}
	}
	close(work)
	// Payments still in doubt get the settle time to be answered.
	timer := time.AfterFunc(r.cfg.Settle, cancel)
	defer timer.Stop()
	wg.Wait()
}

// pay makes one payment, retrying it with the same request id through
// lost connections and "try again" answers until the bank answers it for
// sure.
func (r *run) pay(ctx context.Context, p sim.Payment, id string) {
	from, to := r.parties[p.From], r.parties[p.To]
	r.count(func() { r.inDoubt++ })
	defer r.count(func() { r.inDoubt-- })
	wait := 100 * time.Millisecond
	cut := false
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			r.count(func() { r.retries++ })
			select {
			case <-ctx.Done():
				r.count(func() { r.unsettled = append(r.unsettled, id) })
				return
			case <-time.After(wait):
			}
			wait = min(2*wait, 2*time.Second)
		}
		c, err := r.session(ctx, from)
		if err != nil {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, attemptWait)
		frozen, sent := r.frozenNow(), time.Now()
		paid, err := c.Pay(cctx, id, to.address, p.Amount)
		cancel()
		r.timed(ctx, time.Since(sent), err)
		if frozen != "" {
			r.noteFrozenAnswer(frozen, time.Since(sent), err)
		}
		var perr *protocol.Error
		switch {
		case err == nil:
			answered := time.Now()
			r.count(func() {
				r.paid = append(r.paid, acked{id: id, from: p.From, to: p.To, amount: p.Amount, seq: paid.Seq})
				r.paidAfter(sent, answered)
			})
			return
		case errors.As(err, &perr) && !retryable[perr.Code]:
			var n int
			r.count(func() {
				r.refused[perr.Code]++
				for _, k := range r.refused {
					n += k
				}
			})
			// Refusals are rare under the soak's load (its payers are
			// topped up from deposit), so the first are told, to be
			// looked into in the banks' logs.
			if n <= maxToldRefusals {
				r.cfg.Log.Info("soak: payment refused", "id", id, "code", perr.Code, "message", perr.Message,
					"payer", from.address, "payee", to.address, "amount", p.Amount, "attempt", attempt+1, "sent", sent.Format(time.RFC3339Nano))
			}
			return
		case errors.Is(err, wallet.ErrClosed) && !cut:
			cut = true
			r.count(func() { r.cut++ })
		case errors.As(err, &perr):
			wait = max(wait, perr.RetryAfter())
		}
	}
}

// maxToldRefusals is how many refused payments the log tells of.
const maxToldRefusals = 20

// attemptWait is how long a wallet waits for the answer to one attempt.
const attemptWait = 30 * time.Second

// timed counts how long an attempt waited: for an answer of the bank's,
// towards the slowest; for none within attemptWait, as a timeout.
func (r *run) timed(ctx context.Context, took time.Duration, err error) {
	var perr *protocol.Error
	switch {
	case err == nil || errors.As(err, &perr):
		r.count(func() { r.slowest = max(r.slowest, took) })
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		r.count(func() { r.timeouts++ })
	}
}

// report calls Progress every 5 seconds until stopped.
func (r *run) report(start time.Time) (stop func()) {
	if r.cfg.Progress == nil {
		return func() {}
	}
	t := time.NewTicker(5 * time.Second)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			r.mu.Lock()
			p := Progress{Elapsed: time.Since(start), Paid: len(r.paid), InDoubt: r.inDoubt, Retries: r.retries,
				Kills: len(r.kills), Killed: r.down, Freezes: len(r.freezes), Frozen: r.frozen, Duration: r.cfg.Duration}
			for _, n := range r.refused {
				p.Refused += n
			}
			r.mu.Unlock()
			r.cfg.Progress(p)
		}
	}()
	return func() { t.Stop(); close(done) }
}
