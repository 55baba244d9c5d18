package sim

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/digital-yen/cbdc-sandbox/offline"
	"github.com/digital-yen/cbdc-sandbox/protocol"
	"github.com/digital-yen/cbdc-sandbox/wallet"
)

// Streams of the seed used by the offline side of a run.
const (
	streamPurses    = 3
	streamOutages   = 4
	streamRoute     = 5
	streamAttacker  = 7
	streamSyncPhase = 8
	streamVictims   = 1 << 20 // plus the attack's index: each attack picks its victims from its own stream
)

// holder is a party carrying a purse. Paying wallets use their payer
// session; merchants get a session of their own for the purse.
type holder struct {
	party    int
	merchant bool
	c        *wallet.Client
	own      bool // the session was opened for the purse and closes with it

	mu       sync.Mutex // protects p, nextSync and syncing
	p        *offline.Purse
	nextSync time.Duration
	syncing  bool
	attacker atomic.Bool // committed an attack: stops syncing
	// reserved for an attack (as attacker, or as the honest payer a
	// tampered or replayed voucher needs): pays and is paid online only,
	// so its purse holds what it was funded with when the attack comes
	reserved bool
}

// voucherRecord is one voucher the run made, by its hash.
type voucherRecord struct {
	hash   offline.Hash
	at     time.Duration // when it was made, from the start
	amount int64
	settle time.Duration            // when the run saw it settled; 0 until then
	done   bool                     // settled or rejected
	last   *protocol.VoucherOutcome // what the latest sync answer said of it
}

// offlineRun plays the offline side of a scenario: who carries a purse,
// who is cut off when, payments made with vouchers, syncs, attacks and the
// reconciliation at the end.
type offlineRun struct {
	w     *World
	sc    *Scenario
	start time.Time
	lim   offline.Limits

	holders []*holder // by party; nil for a party without a purse
	serials map[offline.Serial]int
	cuts    []cut

	mu       sync.Mutex                // protects what follows
	vouchers map[string]*voucherRecord // by hex hash, as sync answers name them
	rep      OfflineReport
	outVal   int64 // value of vouchers made and not yet settled or rejected
	exposure []ExposureSample
	attacks  []*attackRecord
	closedAt time.Duration // when the last settlement window closed
	reserved []*holder     // for attacks, in the order they are used
	victims  []*holder     // purse holders that take no part in an attack but as victims
	answered []Conflict    // conflicts sync answers reported
}

// cut is an outage: parties it covers have no connectivity from from to to.
type cut struct {
	from, to time.Duration
	bank     int // -1 for a share of the wallets
	share    float64
	k        int
}

// route is how one payment goes.
type route int

const (
	routeOnline route = iota
	routeOffline
	routeUnreachable
)

// openOffline chooses the purse holders, opens merchants' sessions,
// provisions every purse and funds the wallets' purses.
func openOffline(ctx context.Context, w *World) (*offlineRun, error) {
	sc := w.sc
	var pp Policy
	if sc.Offline != nil {
		pp = sc.Offline.Policy
	}
	pol, err := pp.DecodePolicy()
	if err != nil {
		return nil, err
	}
	o := &offlineRun{w: w, sc: sc, lim: pol.Limits, holders: make([]*holder, len(w.parties)),
		serials: map[offline.Serial]int{}, vouchers: map[string]*voucherRecord{}}
	o.rep.RefusedByLimits = map[string]int{}
	o.rep.Failed = map[string]int{}
	o.rep.SyncErrors = map[string]int{}
	o.rep.RejectedBy = map[string]int{}
	for k, c := range sc.Outages {
		cu := cut{from: c.At.D(), to: c.At.D() + c.For.D(), bank: -1, share: c.Wallets, k: k}
		if c.Bank != "" {
			if cu.bank = slices.Index(w.bankIDs, c.Bank); cu.bank < 0 {
				return nil, fmt.Errorf("sim: outages[%d].bank: %q is none of the run's banks %v", k, c.Bank, w.bankIDs)
			}
		}
		o.cuts = append(o.cuts, cu)
	}
	if sc.Offline == nil {
		return o, nil // outages without purses: payments across a cut fail
	}
	for i := range w.parties {
		merchant := i >= sc.Wallets
		if unit(sc.Seed, streamPurses, uint64(i)) >= sc.Offline.Share || (!merchant && i >= len(w.sessions)) {
			continue // only wallets that pay, and merchants, carry purses
		}
		h := &holder{party: i, merchant: merchant}
		if !merchant {
			h.c = w.sessions[i]
		}
		h.nextSync = time.Duration(unit(sc.Seed, streamSyncPhase, uint64(i)) * float64(sc.Offline.SyncEvery.D()))
		o.holders[i] = h
	}
	o.reserve(planAttacks(sc))
	if err := o.each(func(h *holder) error { return o.provision(ctx, h) }); err != nil {
		o.close()
		return nil, fmt.Errorf("sim: provisioning purses: %w", err)
	}
	for i, h := range o.holders {
		if h != nil {
			o.serials[h.p.Serial()] = i
			o.rep.Purses++
		}
	}
	return o, nil
}

// each runs f for every holder, 32 at a time.
func (o *offlineRun) each(f func(*holder) error) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	sem := make(chan struct{}, 32)
	for _, h := range o.holders {
		if h == nil {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := f(h); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (o *offlineRun) provision(ctx context.Context, h *holder) error {
	w := o.w
	if h.c == nil {
		c, err := dial(ctx, w.sb, w.parties[h.party], 4)
		if err != nil {
			return err
		}
		h.c, h.own = c, true
	}
	p, err := offline.NewPurse(nil)
	if err != nil {
		return err
	}
	if _, err := h.c.ProvisionPurse(ctx, fmt.Sprintf("sim-purse-%d", h.party), p); err != nil {
		return err
	}
	h.p = p
	if h.merchant || o.sc.Offline.Fund == 0 {
		return nil
	}
	return o.fund(ctx, h, o.sc.Offline.Fund, "start")
}

// fund charges the purse with amount from the wallet's deposit account,
// as a wallet app would.
func (o *offlineRun) fund(ctx context.Context, h *holder, amount int64, why string) error {
	id := fmt.Sprintf("sim-fund-%d-%s-%d", h.party, why, h.p.Counter())
	if _, err := h.c.Withdraw(ctx, id+"-w", amount); err != nil {
		return err
	}
	_, err := h.c.FundPurse(ctx, id, h.p, amount)
	return err
}

// close ends the sessions opened for purses.
func (o *offlineRun) close() {
	for _, h := range o.holders {
		if h != nil && h.own && h.c != nil {
			h.c.Close()
		}
	}
}

// connected says whether party i has connectivity at time at.
func (o *offlineRun) connected(i int, at time.Duration) bool {
	for _, c := range o.cuts {
		if at < c.from || at >= c.to {
			continue
		}
		if c.bank >= 0 && i%o.sc.Banks == c.bank {
			return false
		}
		if c.bank < 0 && i < o.sc.Wallets && unit(o.sc.Seed, streamOutages, uint64(c.k)<<32|uint64(i)) < c.share {
			return false
		}
	}
	return true
}

// cutOff says whether an outage has cut off party a or b at time at.
func (o *offlineRun) cutOff(a, b int, at time.Duration) bool {
	return !o.connected(a, at) || !o.connected(b, at)
}

// waitConnected waits until parties a and b both have connectivity.
func (o *offlineRun) waitConnected(ctx context.Context, a, b int) {
	for {
		at := time.Since(o.start)
		if o.connected(a, at) && o.connected(b, at) {
			return
		}
		until := at + 10*time.Millisecond
		for _, c := range o.cuts {
			if at >= c.from && at < c.to {
				until = max(until, c.to)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(until - at):
		}
	}
}

// route decides how payment n goes: online when both sides are connected
// (unless the scenario sends this one offline anyway), offline when a side
// is cut off and both carry purses, and nowhere otherwise.
func (o *offlineRun) route(n, from, to int, at time.Duration) route {
	payer, payee := o.holders[from], o.holders[to]
	both := payer != nil && payee != nil && !payer.reserved && !payee.reserved
	if o.cutOff(from, to, at) {
		if both {
			return routeOffline
		}
		return routeUnreachable
	}
	if both && unit(o.sc.Seed, streamRoute, uint64(n)) < o.sc.Offline.OfflineShare {
		return routeOffline
	}
	return routeOnline
}

// pay makes one honest offline payment: the payee's purse asks, the
// payer's pays, the payee's accepts. It returns "" or the error code.
func (o *offlineRun) pay(from, to int, amount int64, at time.Duration) string {
	o.mu.Lock()
	o.rep.Payments++
	o.mu.Unlock()
	made, code := o.transfer(o.holders[from], nil, o.holders[to], amount, at)
	o.mu.Lock()
	defer o.mu.Unlock()
	if code == "" {
		o.rep.Paid++
		return ""
	}
	o.rep.Failed[code]++
	if made {
		o.rep.MadeButRefused++
	}
	switch code {
	case "offline_payment_cap", "offline_purse_cap", "offline_sync_required", "offline_insufficient_funds":
		o.rep.RefusedByLimits[code]++
	}
	return code
}

// transfer moves amount from payer's purse (or from p when not nil: a
// copy the payer keeps, whose lock the caller holds) to payee's. It says
// whether a voucher was made, and "" or the error code. A voucher the
// payer made is recorded even when the payee then refuses it: the payer's
// next sync settles it all the same. No two purse locks are held at once
// but the attacker's, which only the attack loop takes with another.
func (o *offlineRun) transfer(payer *holder, p *offline.Purse, payee *holder, amount int64, at time.Duration) (bool, string) {
	now := time.Now()
	payee.mu.Lock()
	q, err := payee.p.Request(amount, now)
	payee.mu.Unlock()
	if err != nil {
		return false, offlineCode(err)
	}
	var v offline.Voucher
	if p == nil {
		payer.mu.Lock()
		v, err = payer.p.Pay(q, now)
		payer.mu.Unlock()
	} else {
		v, err = p.Pay(q, now)
	}
	if err != nil {
		payee.mu.Lock()
		payee.p.CancelRequest(q.Nonce)
		payee.mu.Unlock()
		return false, offlineCode(err)
	}
	o.made(v, at)
	payee.mu.Lock()
	err = payee.p.Accept(v, now)
	if err != nil {
		payee.p.CancelRequest(q.Nonce)
	}
	payee.mu.Unlock()
	if err != nil {
		return true, offlineCode(err)
	}
	return true, ""
}

func offlineCode(err error) string {
	var oe *offline.Error
	if errors.As(err, &oe) {
		return "offline_" + oe.Code
	}
	return "offline_error"
}

func (o *offlineRun) made(v offline.Voucher, at time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	h := v.Hash()
	o.vouchers[h.String()] = &voucherRecord{hash: h, at: at, amount: v.Amount}
	o.rep.Vouchers++
	o.outVal += v.Amount
}

// noteSynced records what a sync answer says of the run's vouchers.
func (o *offlineRun) noteSynced(answers []*protocol.PurseSynced, at time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, a := range answers {
		for _, c := range a.Conflicts {
			o.answered = append(o.answered, Conflict{Kind: c.Kind, Device: c.Device})
		}
		for _, vo := range a.Vouchers {
			r := o.vouchers[vo.Hash]
			if r != nil && vo.Outcome != string(offline.Duplicate) {
				r.last = &vo
			}
			if r != nil && !r.done {
				switch vo.Outcome {
				case string(offline.Settled):
					r.done, r.settle = true, at
					o.outVal -= r.amount
				case string(offline.Rejected):
					r.done = true
					o.outVal -= r.amount
				}
			}
		}
	}
}

// syncLoop syncs each connected purse every sync_every, 16 at a time,
// until ctx ends.
func (o *offlineRun) syncLoop(ctx context.Context) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	defer wg.Wait()
	every := o.sc.Offline.SyncEvery.D()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		at := time.Since(o.start)
		for _, h := range o.holders {
			if h == nil || h.attacker.Load() || !o.connected(h.party, at) {
				continue
			}
			h.mu.Lock()
			due := !h.syncing && h.nextSync <= at
			if due {
				h.syncing = true
				for h.nextSync <= at {
					h.nextSync += every
				}
			}
			h.mu.Unlock()
			if !due {
				continue
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			wg.Go(func() {
				defer func() { <-sem }()
				o.sync(ctx, h)
			})
		}
	}
}

// sync uploads a purse's vouchers, then keeps it useful: a wallet's purse
// running low is charged again to its starting amount; in intermittent
// mode a purse holding more than that hands the rest back to its wallet.
func (o *offlineRun) sync(ctx context.Context, h *holder) {
	h.mu.Lock()
	defer func() { h.syncing = false; h.mu.Unlock() }()
	if h.attacker.Load() {
		return // it turned attacker since the sync was due
	}
	answers, err := h.c.SyncPurse(ctx, h.p)
	o.noteSynced(answers, time.Since(o.start))
	if err == nil && !h.attacker.Load() {
		fund := o.sc.Offline.Fund
		if h.merchant {
			fund = 0
		}
		switch bal := h.p.Balance(); {
		case !h.merchant && bal < fund/2:
			err = o.fund(ctx, h, fund-bal, "top")
		case o.lim.Mode == offline.Intermittent && bal > fund:
			var a *protocol.PurseSynced
			a, err = h.c.DefundPurse(ctx, h.p, bal-fund)
			if a != nil {
				o.noteSynced([]*protocol.PurseSynced{a}, time.Since(o.start))
			}
		}
	}
	if err != nil && ctx.Err() == nil {
		o.mu.Lock()
		o.rep.SyncErrors[errorCode(err)]++
		o.mu.Unlock()
	}
}

// sample records the value outstanding in vouchers, and the escrow.
func (o *offlineRun) sample(t int, escrow int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.exposure = append(o.exposure, ExposureSample{T: t, Unsettled: o.outVal, Escrow: escrow})
}

// reconcile is the end of the run: every honest purse syncs, the
// settlement window closes, and every purse hands its value back to its
// wallet and syncs again, so the final balances are the parties' whole
// holdings and the purses learn the latest revocations.
func (o *offlineRun) reconcile(ctx context.Context) error {
	round := func(defund bool) error {
		return o.each(func(h *holder) error {
			if h.attacker.Load() {
				return nil
			}
			h.mu.Lock()
			defer h.mu.Unlock()
			answers, err := h.c.SyncPurse(ctx, h.p)
			o.noteSynced(answers, time.Since(o.start))
			if err == nil && defund && h.p.Balance() > 0 {
				var a *protocol.PurseSynced
				a, err = h.c.DefundPurse(ctx, h.p, h.p.Balance())
				if a != nil {
					o.noteSynced([]*protocol.PurseSynced{a}, time.Since(o.start))
				}
			}
			if err != nil {
				return fmt.Errorf("sim: final sync of party %d: %w", h.party, err)
			}
			return nil
		})
	}
	if err := round(false); err != nil {
		return err
	}
	if err := o.w.sb.CloseWindow(ctx); err != nil {
		return err
	}
	if err := round(true); err != nil {
		return err
	}
	err := o.w.sb.CloseWindow(ctx)
	if err == nil {
		// The end of the run is the end of the offline period: every
		// voucher has been handed in, so the books close as if every
		// deadline had passed.
		err = o.w.sb.EndOfflinePeriod(ctx)
	}
	o.mu.Lock()
	o.closedAt = time.Since(o.start)
	o.mu.Unlock()
	return err
}

// unit is a number in [0, 1) fixed by the seed, a stream and i, for
// choices that must not depend on the order goroutines run in.
func unit(seed int64, stream, i uint64) float64 {
	x := uint64(seed) ^ stream*0x9e3779b97f4a7c15 ^ (i+1)*0xbf58476d1ce4e5b9
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return float64(x>>11) / (1 << 53)
}

// finish fills the offline part of the report from the ledger's
// settlement, which is the authority on every voucher.
func (o *offlineRun) finish() *OfflineReport {
	o.mu.Lock()
	defer o.mu.Unlock()
	rep := o.rep
	rep.Exposure = o.exposure
	rep.RejectedBy = maps.Clone(o.rep.RejectedBy)
	rep.LossByBearer = map[string]int64{}
	books, ok := o.w.sb.Settlement()
	if !ok {
		books = heard{o.vouchers, o.answered} // the ledger's word as sync answers gave it
	}
	var delays []time.Duration
	for _, r := range o.vouchers {
		vo, ok := books.Voucher(r.hash)
		switch {
		case !ok:
			rep.NotUploaded++
		case vo.Outcome == string(offline.Settled):
			rep.Settled++
			rep.SettledAmount += vo.FromEscrow + vo.FromBearer
			at := r.settle
			if at == 0 {
				at = o.closedAt // settled by another upload, or when the window closed: the run saw it by then
			}
			delays = append(delays, at-r.at)
		case vo.Outcome == string(offline.Rejected):
			rep.Rejected++
			rep.RejectedBy[vo.Reason]++
		default:
			rep.Pending++
		}
	}
	slices.Sort(delays)
	rep.SettleP50, rep.SettleP99 = quantile(delays, 0.5)/1000, quantile(delays, 0.99)/1000
	byBearer, payees := books.Losses()
	for acc, v := range byBearer {
		rep.LossByBearer[acc] += v
	}
	rep.LossByPayees = payees
	rep.Conflicts = map[string]int{}
	attackers := map[string]bool{}
	for _, a := range o.attacks {
		attackers[a.serial.String()] = true
	}
	caught := map[string]string{}
	for _, c := range books.Conflicts() {
		rep.Conflicts[c.Kind]++
		if _, ok := caught[c.Device]; ok {
			continue
		}
		caught[c.Device] = c.Kind
		if sn, err := offline.ParseSerial(c.Device); err == nil {
			if _, ours := o.serials[sn]; ours && !attackers[c.Device] {
				rep.HonestRevoked++
			}
		}
	}
	rep.Attacks = o.attackSummary(caught)
	return &rep
}

// heard is what sync answers told the run of settlement: a running
// ledger's settlement answers only the purses that sync with it.
type heard struct {
	vouchers  map[string]*voucherRecord
	conflicts []Conflict
}

func (h heard) Voucher(hash offline.Hash) (protocol.VoucherOutcome, bool) {
	r := h.vouchers[hash.String()]
	if r == nil || r.last == nil {
		return protocol.VoucherOutcome{}, false
	}
	return *r.last, true
}

func (h heard) Losses() (map[string]int64, int64) {
	byBearer := map[string]int64{}
	var payees int64
	for _, r := range h.vouchers {
		if vo := r.last; vo != nil && vo.Outcome == string(offline.Settled) {
			if vo.FromBearer > 0 {
				byBearer[vo.Bearer] += vo.FromBearer
			}
			payees += vo.PayeeLoss
		}
	}
	return byBearer, payees
}

func (h heard) Conflicts() []Conflict { return h.conflicts }
