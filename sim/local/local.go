// Package local runs the simulator's sandbox in this process: the
// central ledger, its settlement and the banks, which a run reaches
// directly. It is apart from package sim so that what drives running
// processes (the soak) need not build the banks.
package local

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/digital-yen/cbdc-sandbox/bankadmin"
	"github.com/digital-yen/cbdc-sandbox/intermediary"
	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/ledger/settlement"
	"github.com/digital-yen/cbdc-sandbox/offline"
	"github.com/digital-yen/cbdc-sandbox/protocol"
	"github.com/digital-yen/cbdc-sandbox/sandbox"
	"github.com/digital-yen/cbdc-sandbox/sim"
)

var _ sim.Sandbox = (*Sandbox)(nil)

// Sandbox is a sandbox in this process: the central ledger, its
// settlement, and the banks serving wallets on loopback.
type Sandbox struct {
	sb    *sandbox.Sandbox
	banks []sim.Bank
	// ahead moves settlement's clock past real time, so a run can close
	// its books as if every offline deadline had passed.
	ahead atomic.Int64

	parties   []sim.Party
	customers []string // each party's customer id at its bank
}

// Open opens a sandbox for the scenario in dir: its banks, on free
// ports, under the scenario's offline policy, and letting a simulated
// wallet send as fast as the scenario asks.
func Open(ctx context.Context, sc *sim.Scenario, dir string, log *slog.Logger) (*Sandbox, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pol := sim.Policy{}
	if sc.Offline != nil {
		pol = sc.Offline.Policy
	}
	policy, err := pol.DecodePolicy()
	if err != nil {
		return nil, err
	}
	s := &Sandbox{}
	cfg := sandbox.Defaults()
	cfg.Dir, cfg.Banks, cfg.Float, cfg.Listen, cfg.Policy, cfg.Logger = dir, sc.Banks, intermediary.DefaultFloatTarget, "127.0.0.1:0", policy, log
	cfg.Rate, cfg.Burst = 1000, 1000
	cfg.Now = func() time.Time { return time.Now().Add(time.Duration(s.ahead.Load())) }
	if s.sb, err = sandbox.Open(ctx, cfg); err != nil {
		return nil, err
	}
	for _, b := range s.sb.Banks {
		s.banks = append(s.banks, sim.Bank{ID: string(b.ID()), WalletURL: b.WalletURL()})
	}
	return s, nil
}

// OpenWorld builds the scenario's world in dir: opens the ledger and its
// banks, onboards every party with a key drawn from the seed, funds the
// starting balances and opens up to sessions payer sessions.
func OpenWorld(ctx context.Context, sc *sim.Scenario, dir string, sessions int, log *slog.Logger) (*sim.World, error) {
	s, err := Open(ctx, sc, dir, log)
	if err != nil {
		return nil, err
	}
	return sim.NewWorld(ctx, sc, s, nil, sessions)
}

// Ledger is the central ledger.
func (s *Sandbox) Ledger() *ledger.Ledger { return s.sb.Ledger }

func (s *Sandbox) Banks() []sim.Bank         { return s.banks }
func (s *Sandbox) Dialer() *websocket.Dialer { return nil }

// IssueFloat issues the float at the ledger directly, once per bank.
func (s *Sandbox) IssueFloat(ctx context.Context, bank int, amount int64) error {
	id := ledger.AccountID(s.banks[bank].ID)
	_, err := s.sb.Ledger.Issue(ctx, "float-"+string(id), id, amount)
	return err
}

// Onboard onboards each bank's parties a thousand at a time and pays
// their starting balances into their wallets at the ledger.
func (s *Sandbox) Onboard(ctx context.Context, parties []sim.Party) error {
	s.parties = parties
	s.customers = make([]string, len(parties))
	for b, bank := range s.sb.Banks {
		var mine []sim.Party
		for i := b; i < len(parties); i += len(s.banks) {
			mine = append(mine, parties[i])
		}
		if err := s.onboard(ctx, bank.Bank, bank.ID(), mine); err != nil {
			return err
		}
	}
	return nil
}

func (s *Sandbox) onboard(ctx context.Context, bank *intermediary.Bank, id ledger.AccountID, parties []sim.Party) error {
	for start := 0; start < len(parties); start += 1000 {
		chunk := parties[start:min(start+1000, len(parties))]
		specs := make([]bankadmin.CustomerSpec, len(chunk))
		var funding []ledger.Transfer
		for j, p := range chunk {
			specs[j] = p.Customer(sim.DepositAccount)
			if p.Start > 0 {
				funding = append(funding, ledger.Transfer{From: id, To: ledger.AccountID(p.Address), Amount: p.Start})
			}
		}
		ids, err := bank.OnboardMany(ctx, specs)
		if err != nil {
			return fmt.Errorf("sim: onboard at %s: %w", id, err)
		}
		for j, p := range chunk {
			s.customers[p.N] = ids[j]
		}
		if len(funding) > 0 {
			if _, err := s.sb.Ledger.Batch(ctx, fmt.Sprintf("start-%s-%d", id, start), funding); err != nil {
				return fmt.Errorf("sim: starting balances at %s: %w", id, err)
			}
		}
	}
	return nil
}

// StartOnDeposit is false: the ledger pays starting balances into wallets.
func (s *Sandbox) StartOnDeposit() bool { return false }

func (s *Sandbox) Totals(context.Context) (ledger.Totals, bool) { return s.sb.Ledger.Totals(), true }

// Holdings reads each party's wallet at the ledger and its deposit at its
// bank. Which of the two pays (auto-charge, a purse charged from the
// deposit) depends on timing; their sum does not.
func (s *Sandbox) Holdings(context.Context) ([]int64, error) {
	out := make([]int64, len(s.parties))
	for i, p := range s.parties {
		b, err := s.sb.Ledger.Balance(ledger.AccountID(p.Address))
		if err != nil {
			return nil, err
		}
		c, err := s.sb.Banks[p.Bank].Customer(s.customers[i])
		if err != nil {
			return nil, err
		}
		out[i] = b + c.Deposit
	}
	return out, nil
}

func (s *Sandbox) CloseWindow(ctx context.Context) error {
	_, err := s.sb.Settler.CloseWindow(ctx)
	return err
}

// EndOfflinePeriod moves settlement's clock past every deadline a
// voucher of the run could have, and closes the window: what only a
// deadline decides (an intermittent purse that spent beyond its value
// and never synced) is decided now.
func (s *Sandbox) EndOfflinePeriod(ctx context.Context) error {
	pol := s.sb.Settler.Policy()
	s.ahead.Store(int64(2*pol.CertLifetime + pol.UploadGrace + time.Hour))
	return s.CloseWindow(ctx)
}

func (s *Sandbox) Settlement() (sim.Settlement, bool) { return settled{s.sb.Settler}, true }

// Close ends the banks, settlement and the ledger.
func (s *Sandbox) Close() error { return s.sb.Close() }

// settled reads settlement in process.
type settled struct{ st *settlement.Settler }

func (v settled) Voucher(h offline.Hash) (protocol.VoucherOutcome, bool) {
	_, res, ok := v.st.Voucher(h)
	return protocol.VoucherOutcome{Outcome: string(res.Outcome), Reason: res.Reason, FromEscrow: res.FromEscrow,
		FromBearer: res.FromBearer, Bearer: string(res.Bearer), PayeeLoss: res.PayeeLoss}, ok
}

func (v settled) Losses() (map[string]int64, int64) {
	sum := v.st.Summary()
	byBearer := map[string]int64{}
	for acc, l := range sum.LossByBearer {
		byBearer[string(acc)] += l.Clamp()
	}
	return byBearer, sum.LossByPayees.Clamp()
}

func (v settled) Conflicts() []sim.Conflict {
	var out []sim.Conflict
	for _, c := range v.st.Conflicts() {
		out = append(out, sim.Conflict{Kind: string(c.Kind), Device: c.Device.String()})
	}
	return out
}
