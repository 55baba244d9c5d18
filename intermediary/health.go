package intermediary

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
)

// A bank is ready (/readyz) when its central ledger takes operations: it
// answers, and it commits. /readyz answers from what the bank already
// knows, without a call of its own: whether its ledger client's circuit
// is closed, what the ledger's own /readyz said at the last look (every
// ReadyEvery), and whether the latest operation the ledger refused for
// want of storage has been followed by one it committed.

// readyProber is a ledger that can be asked whether it takes operations
// and can tell, without a call, whether it is reachable at all:
// ledgerhttp.Client. A ledger in the bank's own process is neither asked
// nor ever out of reach.
type readyProber interface {
	Ready(ctx context.Context) error
	Reachable() error
}

// ledgerHealth is what the bank knows of its ledger's ability to commit.
type ledgerHealth struct {
	mu        sync.Mutex // protects the fields below
	probeErr  error      // the ledger's /readyz at the last look; nil: ready
	commitErr error      // the latest failure to commit, until a commit or a look says otherwise
	notReady  error      // what the watcher last reported, to log changes
}

// committed records the outcome of an operation at the ledger: a failure
// of its storage (or a ledger closing) makes the bank unready at once; a
// commit, or a refusal by the ledger's rules, shows it commits again.
// Other errors (no answer) are the circuit's to judge.
func (h *ledgerHealth) committed(err error) {
	outcome := ledger.OutcomeOf(err)
	if outcome == ledger.InDoubt && ledger.ErrorCode(err) == "" {
		return // no answer: the circuit's to judge
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if outcome == ledger.InDoubt { // the ledger answered that it stopped or is damaged
		h.commitErr = err
	} else {
		h.commitErr = nil
	}
}

// probed records what the ledger's /readyz said. A ledger that says it is
// ready again also clears an earlier failed commit: when the bank is not
// ready no wallet sends it operations, so a commit cannot.
func (h *ledgerHealth) probed(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.probeErr = err
	if err == nil {
		h.commitErr = nil
	}
}

func (h *ledgerHealth) err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.commitErr != nil:
		return fmt.Errorf("the central ledger cannot commit: %w", h.commitErr)
	case h.probeErr != nil:
		return fmt.Errorf("the central ledger is not ready: %w", h.probeErr)
	}
	return nil
}

// readiness is nil when the bank can serve wallets, or why it cannot.
func (b *Bank) readiness() error {
	if p, ok := b.cfg.Ledger.(readyProber); ok {
		if err := p.Reachable(); err != nil {
			return fmt.Errorf("the central ledger does not answer: %w", err)
		}
	}
	return b.health.err()
}

// Ready is nil when the bank can take traffic now, for /readyz: its file
// works and its central ledger answers and commits; otherwise it says
// why not. It answers from what the bank knows already, at once.
func (b *Bank) Ready() error {
	if err := b.Err(); err != nil {
		return err
	}
	return b.readiness()
}

// Healthy reports whether the bank's process can do its job, for
// /healthz: its file works. The central ledger is not part of it (that is
// /readyz): a bank whose ledger is gone is healthy, and restarting it
// would not help.
func (b *Bank) Healthy() error {
	return b.Err()
}

// watchLedger asks the ledger whether it takes operations every
// ReadyEvery, logs each change of the bank's readiness, and has the rate
// limiter report the lines it held back.
func (b *Bank) watchLedger() {
	p, probes := b.cfg.Ledger.(readyProber)
	tick := time.NewTicker(b.cfg.ReadyEvery)
	defer tick.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-tick.C:
		}
		if probes {
			ctx, cancel := context.WithTimeout(b.ctx, 2*b.cfg.ReadyEvery+time.Second)
			err := p.Ready(ctx)
			cancel()
			if b.ctx.Err() != nil {
				return
			}
			b.health.probed(err)
		}
		b.reportReadiness()
		b.logs.Flush()
	}
}

// reportReadiness logs the bank's readiness when it changes.
func (b *Bank) reportReadiness() {
	err := b.readiness()
	h := &b.health
	h.mu.Lock()
	was := h.notReady
	h.notReady = err
	h.mu.Unlock()
	// One cause for both directions: when the limiter holds lines back,
	// the one it writes for them is the latest change, the state now.
	switch {
	case err != nil && was == nil:
		b.logs.Logf(slog.LevelWarn, "readiness", "bank not ready", "reason", err)
	case err == nil && was != nil:
		b.logs.Logf(slog.LevelWarn, "readiness", "bank ready again")
	}
}

// commitWatch is the bank's ledger, with the outcome of every operation
// told to the bank's health.
type commitWatch struct {
	Ledger
	h *ledgerHealth
}

func (w commitWatch) seen(rc ledger.Receipt, err error) (ledger.Receipt, error) {
	w.h.committed(err)
	return rc, err
}

func (w commitWatch) OpenAccount(ctx context.Context, opID string, spec ledger.AccountSpec) (ledger.Receipt, error) {
	return w.seen(w.Ledger.OpenAccount(ctx, opID, spec))
}

func (w commitWatch) CloseAccount(ctx context.Context, opID string, id ledger.AccountID) (ledger.Receipt, error) {
	return w.seen(w.Ledger.CloseAccount(ctx, opID, id))
}

func (w commitWatch) SetLimits(ctx context.Context, opID string, id ledger.AccountID, lim ledger.Limits) (ledger.Receipt, error) {
	return w.seen(w.Ledger.SetLimits(ctx, opID, id, lim))
}

func (w commitWatch) Issue(ctx context.Context, opID string, amount int64) (ledger.Receipt, error) {
	return w.seen(w.Ledger.Issue(ctx, opID, amount))
}

func (w commitWatch) Redeem(ctx context.Context, opID string, amount int64) (ledger.Receipt, error) {
	return w.seen(w.Ledger.Redeem(ctx, opID, amount))
}

func (w commitWatch) Transfer(ctx context.Context, opID string, from, to ledger.AccountID, amount int64) (ledger.Receipt, error) {
	return w.seen(w.Ledger.Transfer(ctx, opID, from, to, amount))
}

func (w commitWatch) Batch(ctx context.Context, opID string, transfers []ledger.Transfer) (ledger.Receipt, error) {
	return w.seen(w.Ledger.Batch(ctx, opID, transfers))
}
