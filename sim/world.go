package sim

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/digital-yen/cbdc-sandbox/wallet"
)

// World is a scenario's parties onboarded and funded in a sandbox, with
// sessions open for its payers.
type World struct {
	sc       *Scenario
	sb       Sandbox
	bankIDs  []string // each bank's account at the ledger
	parties  []Party
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

// NewWorld builds the scenario's world in sb: draws every party from the
// seed (and salt, if not empty), issues each bank the float its parties'
// starting balances need on top of its first float, onboards and funds
// the parties, and opens up to sessions payer sessions. The world owns
// sb: closing the world, or failing to build it, closes sb.
func NewWorld(ctx context.Context, sc *Scenario, sb Sandbox, salt []byte, sessions int) (_ *World, err error) {
	w := &World{sc: sc, sb: sb}
	defer func() {
		if err != nil {
			w.Close() // what was opened before the failure
		}
	}()
	for _, b := range sb.Banks() {
		w.bankIDs = append(w.bankIDs, b.ID)
	}
	if len(w.bankIDs) != sc.Banks {
		return nil, fmt.Errorf("sim: the scenario has %d banks and the sandbox %d", sc.Banks, len(w.bankIDs))
	}
	w.parties = DrawParties(sc, w.bankIDs, salt)
	for b := range sc.Banks {
		var need int64
		for i := b; i < len(w.parties); i += sc.Banks {
			need += w.parties[i].Start
		}
		if need > 0 {
			if err := sb.IssueFloat(ctx, b, need); err != nil {
				return nil, err
			}
		}
	}
	if err := sb.Onboard(ctx, w.parties); err != nil {
		return nil, err
	}
	if err := w.connect(ctx, min(sessions, sc.Wallets)); err != nil {
		return nil, err
	}
	return w, nil
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
			w.sessions[i], errs[i] = Session(ctx, w.sb, w.parties[i], 16)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Holdings reads what every party holds: the CBDC in its wallet at the
// ledger plus its deposit at its bank; nil when the sandbox cannot read
// other banks' wallets.
func (w *World) Holdings(ctx context.Context) ([]int64, error) { return w.sb.Holdings(ctx) }

// Close ends the sessions and the sandbox.
func (w *World) Close() error {
	for _, c := range w.sessions {
		if c != nil {
			c.Close()
		}
	}
	return w.sb.Close()
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
