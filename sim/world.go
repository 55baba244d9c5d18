package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/digital-yen/cbdc-sandbox/bankadmin"
	"github.com/digital-yen/cbdc-sandbox/intermediary"
	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/ledger/settlement"
	"github.com/digital-yen/cbdc-sandbox/ledgerhttp"
	"github.com/digital-yen/cbdc-sandbox/sandbox"
	"github.com/digital-yen/cbdc-sandbox/wallet"
)

// World is a sandbox the simulator runs in its own process: the central
// ledger, its settlement, the banks serving wallets on loopback, and every
// party of the scenario onboarded and funded.
type World struct {
	sc      *Scenario
	ledger  *ledger.Ledger      // nil when the banks run in other processes
	settler *settlement.Settler // likewise
	// ahead moves settlement's clock past real time, so a run can close
	// its books as if every offline deadline had passed.
	ahead   atomic.Int64
	sandbox *sandbox.Sandbox // nil when the banks run in other processes
	banks   []*intermediary.Bank
	urls    []string // each bank's wallet websocket
	bankIDs []string // each bank's account at the ledger

	remote       bool
	remoteLedger *ledgerhttp.Client // a remote run's view of the ledger, if it was given one
	salt         []byte             // a remote run's parties are new to the banks: their keys also draw on this
	dialer       *websocket.Dialer  // a remote run's, for wss:// banks; nil for the default
	parties      []Party
	customers    []string // each party's customer id at its bank, in process

	sessions []*wallet.Client // the payers: wallets 0 … len-1
}

// DepositAccount is what each party holds in its bank deposit account.
// Paying wallets have auto-charge on, so a payment above the wallet's
// balance tops up from the deposit account, as the two-tier design means
// retail wallets to work.
const DepositAccount = 1_000_000

// DefaultSessions bounds the wallets that hold a session and pay; every
// wallet and merchant can be paid. Each session is a websocket, and a
// machine has only so many.
const DefaultSessions = 4000

// OpenWorld builds the scenario's world in dir: opens the ledger and its
// banks, onboards every party with a key drawn from the seed, funds the
// starting balances and opens up to sessions payer sessions.
func OpenWorld(ctx context.Context, sc *Scenario, dir string, sessions int, log *slog.Logger) (_ *World, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &World{sc: sc}
	defer func() {
		if err != nil {
			w.Close() // what was opened before the failure
		}
	}()
	pol := Policy{}
	if sc.Offline != nil {
		pol = sc.Offline.Policy
	}
	policy, err := pol.DecodePolicy()
	if err != nil {
		return nil, err
	}
	// The world is a sandbox of its own, its banks on free ports; a
	// simulated wallet may send as fast as the scenario asks.
	cfg := sandbox.Defaults()
	cfg.Dir, cfg.Banks, cfg.Float, cfg.Listen, cfg.Policy, cfg.Logger = dir, sc.Banks, intermediary.DefaultFloatTarget, "127.0.0.1:0", policy, log
	cfg.Rate, cfg.Burst = 1000, 1000
	cfg.Now = func() time.Time { return time.Now().Add(time.Duration(w.ahead.Load())) }
	if w.sandbox, err = sandbox.Open(ctx, cfg); err != nil {
		return nil, err
	}
	w.ledger, w.settler = w.sandbox.Ledger, w.sandbox.Settler
	for _, b := range w.sandbox.Banks {
		w.bankIDs = append(w.bankIDs, string(b.ID()))
		w.banks = append(w.banks, b.Bank)
		w.urls = append(w.urls, b.WalletURL())
	}
	w.drawParties()
	for b := range sc.Banks {
		if err := w.openBank(ctx, b); err != nil {
			return nil, err
		}
	}
	if err := w.connect(ctx, min(sessions, sc.Wallets)); err != nil {
		return nil, err
	}
	return w, nil
}

// drawParties derives every party from the seed.
func (w *World) drawParties() {
	w.parties = DrawParties(w.sc, w.bankIDs, w.salt)
	w.customers = make([]string, len(w.parties))
}

// openBank issues bank b enough float for its parties' starting balances
// on top of its first float, onboards its parties (merchants at the
// merchant tier) and funds them.
func (w *World) openBank(ctx context.Context, b int) error {
	id := ledger.AccountID(w.bankIDs[b])
	var need int64
	var parties []Party
	for i := b; i < len(w.parties); i += w.sc.Banks {
		parties = append(parties, w.parties[i])
		need += w.parties[i].Start
	}
	if need > 0 {
		if _, err := w.ledger.Issue(ctx, "float-"+string(id), id, need); err != nil {
			return err
		}
	}
	return w.onboard(ctx, w.banks[b], id, parties)
}

func (w *World) onboard(ctx context.Context, bank *intermediary.Bank, id ledger.AccountID, parties []Party) error {
	for start := 0; start < len(parties); start += 1000 {
		chunk := parties[start:min(start+1000, len(parties))]
		specs := make([]bankadmin.CustomerSpec, len(chunk))
		var funding []ledger.Transfer
		for j, p := range chunk {
			specs[j] = p.Customer(DepositAccount)
			if p.Start > 0 {
				funding = append(funding, ledger.Transfer{From: id, To: ledger.AccountID(p.Address), Amount: p.Start})
			}
		}
		ids, err := bank.OnboardMany(ctx, specs)
		if err != nil {
			return fmt.Errorf("sim: onboard at %s: %w", id, err)
		}
		for j, p := range chunk {
			w.customers[p.N] = ids[j]
		}
		if len(funding) > 0 {
			if _, err := w.ledger.Batch(ctx, fmt.Sprintf("start-%s-%d", id, start), funding); err != nil {
				return fmt.Errorf("sim: starting balances at %s: %w", id, err)
			}
		}
	}
	return nil
}

// connect opens sessions for the first n wallets.
func (w *World) connect(ctx context.Context, n int) error {
	w.sessions = make([]*wallet.Client, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			p := w.parties[i]
			c, err := wallet.Dial(ctx, w.urls[p.Bank], p.Key, wallet.DialOptions{Bank: w.bankIDs[p.Bank], Events: 16, Dialer: w.dialer})
			if err == nil {
				_, err = c.SetSettings(ctx, "", true, true)
			}
			if start := w.startInDeposit(i); err == nil && start > 0 {
				_, err = c.Withdraw(ctx, "sim-start", start)
			}
			w.sessions[i], errs[i] = c, err
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Ledger is the world's central ledger; nil when the banks run elsewhere.
func (w *World) Ledger() *ledger.Ledger { return w.ledger }

// Remote says whether the world's banks run in other processes.
func (w *World) Remote() bool { return w.remote }

// totals reads the ledger's totals; false when the run cannot see the
// ledger (a remote run not given a ledger credential).
func (w *World) totals(ctx context.Context) (ledger.Totals, bool) {
	switch {
	case w.ledger != nil:
		return w.ledger.Totals(), true
	case w.remoteLedger != nil:
		t, err := w.remoteLedger.Totals(ctx)
		return t, err == nil
	}
	return ledger.Totals{}, false
}

// startInDeposit is what party i's session withdraws as its starting
// balance: a remote run puts starting balances in deposit accounts, since
// only the bank can move CBDC to its wallets.
func (w *World) startInDeposit(i int) int64 {
	if !w.remote {
		return 0
	}
	return w.parties[i].Start
}

// Holdings reads what every party holds: the CBDC in its wallet at the
// ledger plus its deposit at its bank. Which of the two pays (auto-charge,
// a purse charged from the deposit) depends on timing; their sum does not.
// Nil in a remote run, which cannot read other banks' wallets.
func (w *World) Holdings() ([]int64, error) {
	if w.ledger == nil {
		return nil, nil
	}
	out := make([]int64, len(w.parties))
	for i, p := range w.parties {
		b, err := w.ledger.Balance(ledger.AccountID(p.Address))
		if err != nil {
			return nil, err
		}
		c, err := w.banks[i%w.sc.Banks].Customer(w.customers[i])
		if err != nil {
			return nil, err
		}
		out[i] = b + c.Deposit
	}
	return out, nil
}

// Close ends the sessions, the banks, settlement and the ledger.
func (w *World) Close() error {
	for _, c := range w.sessions {
		if c != nil {
			c.Close()
		}
	}
	if w.sandbox != nil {
		return w.sandbox.Close()
	}
	return nil
}

// topUp has each paying wallet withdraw from its deposit account what the
// plan will make it pay beyond its balance, as people charge their wallets
// before they shop, within the holding limit: a run measures payments, not
// the reverse waterfall under load.
func (w *World) topUp(ctx context.Context, plan []Payment) error {
	need := make([]int64, len(w.sessions))
	for _, p := range plan {
		need[p.From%len(w.sessions)] += p.Amount
	}
	errs := make([]error, len(w.sessions))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i, c := range w.sessions {
		start := w.parties[i].Start
		amount := min(need[i]-start, topUpLimit-start)
		if amount <= 0 {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			_, errs[i] = c.Withdraw(ctx, "sim-top-up", amount)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// topUpLimit keeps a topped-up wallet under its tier's holding limit
// (standard: 500,000 yen) with room for what it is paid.
const topUpLimit = 300_000
