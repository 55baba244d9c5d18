package sandbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/ledger/settlement"
	"github.com/digital-yen/cbdc-sandbox/metrics"
	"github.com/digital-yen/cbdc-sandbox/offline"
)

// Defaults of the central ledger as the sandbox opens it.
const (
	DefaultBanks  = 3
	DefaultFloat  = 100_000_000 // yen issued to each intermediary when it is first opened
	DefaultWindow = 24 * time.Hour
)

// CentralConfig is the central ledger and its offline settlement.
type CentralConfig struct {
	Dir   string // the ledger's directory
	Banks int    // intermediaries bank-1 … bank-N, opened and given Float on first start
	Float int64

	Policy        offline.Policy
	GuaranteeFund int64         // settlement.DefaultGuaranteeFund when 0
	Window        time.Duration // how often the settlement window closes; DefaultWindow when 0
	Now           func() time.Time

	Logger  *slog.Logger
	Metrics *metrics.Metrics // nil: none
}

// Central is the central ledger with its offline settlement running.
type Central struct {
	Ledger  *ledger.Ledger
	Settler *settlement.Settler
	// EarlierFloat are the intermediaries whose first float an earlier
	// start issued with another amount; Float applies to new ones only.
	EarlierFloat []ledger.AccountID

	stopWindows context.CancelFunc
	windows     sync.WaitGroup
}

// OpenCentral opens the central ledger in cfg.Dir with its intermediaries
// seeded, and its offline settlement, whose window it closes every
// cfg.Window.
func OpenCentral(ctx context.Context, cfg CentralConfig) (*Central, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Window == 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.GuaranteeFund == 0 {
		cfg.GuaranteeFund = settlement.DefaultGuaranteeFund
	}
	l, err := ledger.Open(cfg.Dir, ledger.Options{Logger: cfg.Logger, OnCommit: cfg.Metrics.OnCommit})
	if err != nil {
		return nil, err
	}
	earlier, err := SeedBanks(ctx, l, cfg.Banks, cfg.Float)
	if err != nil {
		l.Close()
		return nil, err
	}
	st, err := settlement.Open(ctx, l, settlement.Config{Policy: cfg.Policy, GuaranteeFund: cfg.GuaranteeFund, Logger: cfg.Logger, Now: cfg.Now})
	if err != nil {
		l.Close()
		return nil, err
	}
	cfg.Metrics.WatchLedger(l)
	cfg.Metrics.WatchSettlement(st)
	c := &Central{Ledger: l, Settler: st, EarlierFloat: earlier}
	var windows context.Context
	windows, c.stopWindows = context.WithCancel(context.Background())
	c.windows.Go(func() { CloseWindows(windows, func() *settlement.Settler { return st }, cfg.Window, cfg.Logger) })
	return c, nil
}

// Close stops settlement, then the ledger.
func (c *Central) Close() error {
	c.stopWindows()
	c.windows.Wait()
	return errors.Join(c.Settler.Close(), c.Ledger.Close())
}

// CloseWindows closes the settlement window every so often until ctx
// ends, on the settler of the moment (a replicated ledger's leader has
// one; nil skips a turn), and says what each close did when it did
// anything.
func CloseWindows(ctx context.Context, settler func() *settlement.Settler, every time.Duration, log *slog.Logger) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		st := settler()
		if st == nil {
			continue
		}
		rep, err := st.CloseWindow(ctx)
		if err != nil {
			if ctx.Err() == nil {
				log.Error("closing the offline settlement window", "err", err)
			}
			continue
		}
		if len(rep.Vouchers) > 0 || len(rep.Conflicts) > 0 {
			log.Warn("offline settlement window closed", "settled", rep.Settled, "still_pending", rep.Pending,
				"settled_yen", rep.SettledAmount, "conflicts", len(rep.Conflicts))
		}
	}
}

// BankID names the sandbox's i-th intermediary (1-based).
func BankID(i int) ledger.AccountID { return ledger.AccountID(fmt.Sprintf("bank-%d", i)) }

// SeedBanks opens the intermediaries bank-1 … bank-N and issues their
// first float. The operation ids are fixed, so a restart (or another
// replica that comes to lead) finds them done and changes nothing; a
// restart with another float leaves the floats already issued alone, and
// names those banks.
func SeedBanks(ctx context.Context, l *ledger.Ledger, banks int, float int64) (earlier []ledger.AccountID, err error) {
	for i := 1; i <= banks; i++ {
		bank := BankID(i)
		spec := ledger.AccountSpec{ID: bank, Kind: ledger.KindIntermediary}
		if _, err := l.OpenAccount(ctx, "sandbox:open:"+string(bank), spec); err != nil {
			return nil, err
		}
		_, err := l.Issue(ctx, "sandbox:issue:"+string(bank), bank, float)
		if ledger.OutcomeOf(err) == ledger.IDTaken {
			earlier = append(earlier, bank)
			continue
		}
		if err != nil {
			return nil, err
		}
	}
	return earlier, nil
}
