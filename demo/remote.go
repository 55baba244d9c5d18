package demo

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/ledger/settlement"
	"github.com/digital-yen/cbdc-sandbox/ledgerhttp"
	"github.com/digital-yen/cbdc-sandbox/offline"
)

// RemoteLedger is a central ledger in other processes, lone or
// replicated, as the demo reads it: with the operator's reads, at
// whichever replica answers (ledgerhttp.Operator). While no replica
// answers, the overview shows the last figures read, and the log says
// when reading fails and when it works again.
type RemoteLedger struct {
	ctx context.Context
	op  *ledgerhttp.Operator
	log *slog.Logger

	mu               sync.Mutex // protects the fields below
	totals           ledger.Totals
	running, counted ledger.Totals
	offline          *OfflineState
	handedIn         map[offline.Hash]bool // vouchers known to be handed in: they stay so
	failing          bool
}

const (
	journalWait = time.Second             // how long a journal read waits at the ledger for the next operation
	lookupTime  = 1500 * time.Millisecond // a voucher's or a purse's look-up, at every replica it tries
)

// NewRemoteLedger reads the ledger op reaches until ctx ends.
func NewRemoteLedger(ctx context.Context, op *ledgerhttp.Operator, log *slog.Logger) *RemoteLedger {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &RemoteLedger{ctx: ctx, op: op, log: log, handedIn: map[offline.Hash]bool{}}
}

// noted logs the first of a run of failed reads, and the read that ends
// it; r.mu is held.
func (r *RemoteLedger) noted(what string, err error) {
	switch {
	case err != nil && !r.failing && r.ctx.Err() == nil:
		r.log.Warn("demo: cannot read the central ledger; showing the last figures read", "read", what, "err", err)
	case err == nil && r.failing:
		r.log.Info("demo: reading the central ledger again", "read", what)
	}
	r.failing = err != nil
}

func (r *RemoteLedger) Totals() ledger.Totals {
	t, err := r.op.Totals(r.ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.noted("totals", err)
	if err == nil {
		r.totals = t
	}
	return r.totals
}

func (r *RemoteLedger) Recount() (running, counted ledger.Totals) {
	a, err := r.op.Audit(r.ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.noted("audit", err)
	if err == nil {
		r.running, r.counted = a.Running, a.Counted
	}
	return r.running, r.counted
}

// Head is the journal's last record at the replica that answers.
func (r *RemoteLedger) Head() (uint64, error) {
	t, err := r.op.Totals(r.ctx)
	return t.Seq, err
}

func (r *RemoteLedger) WaitEvents(from uint64, limit int) ([]ledger.Event, error) {
	p, err := r.op.Journal(r.ctx, from, limit, journalWait)
	return p.Events, err
}

// Summary is settlement's figures at the leader; while no replica leads,
// the last read.
func (r *RemoteLedger) Summary() (*OfflineState, bool) {
	sum, err := r.op.OfflineSummary(r.ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case errors.Is(err, settlement.ErrOfflineDisabled):
		r.offline = nil
	case err == nil:
		r.offline = &OfflineState{Vouchers: sum.Vouchers, Settled: sum.Settled, Pending: sum.Pending, PendingAmount: sum.PendingAmount,
			Rejected: sum.Rejected, Devices: sum.Devices, RevokedDevices: sum.RevokedDevices, Conflicts: sum.Conflicts,
			LossByBearer: sum.LossByBearer, LossByPayees: sum.LossByPayees,
			Policy: PolicyView{Mode: sum.Policy.Mode, PaymentCap: sum.Policy.PaymentCap, PurseCap: sum.Policy.PurseCap,
				PaymentsBeforeSync: sum.Policy.PaymentsBeforeSync, LossBearer: sum.Policy.LossBearer}}
	default:
		r.noted("offline settlement", err)
	}
	return r.offline, r.offline != nil
}

// HandedIn is false only when the ledger says it holds no such voucher:
// while it cannot be asked, a voucher is not counted as still on a device
// (where it may already be settled, and counted there).
func (r *RemoteLedger) HandedIn(h offline.Hash) bool {
	r.mu.Lock()
	known := r.handedIn[h]
	r.mu.Unlock()
	if known {
		return true
	}
	ctx, cancel := context.WithTimeout(r.ctx, lookupTime)
	defer cancel()
	_, err := r.op.OfflineVoucher(ctx, h)
	var re *ledgerhttp.RemoteError
	if errors.As(err, &re) && re.Code == "unknown_voucher" {
		return false
	}
	if err == nil {
		r.mu.Lock()
		r.handedIn[h] = true
		r.mu.Unlock()
	}
	return true
}

func (r *RemoteLedger) Purse(sn offline.Serial) (int64, bool, bool) {
	ctx, cancel := context.WithTimeout(r.ctx, lookupTime)
	defer cancel()
	d, err := r.op.OfflineDevice(ctx, sn)
	if err != nil {
		return 0, false, false
	}
	return d.EscrowBalance, d.Revoked != "", true
}
