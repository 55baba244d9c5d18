package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/ledger/settlement"
	"github.com/digital-yen/cbdc-sandbox/metrics"
)

// openCentral opens the central ledger in dir with its intermediaries
// seeded, and its offline settlement; closeAll closes both, settlement first.
func openCentral(ctx context.Context, dir string, banks int, float int64, o *offlineFlags, m *metrics.Metrics, log *slog.Logger, stdout io.Writer) (
	l *ledger.Ledger, st *settlement.Settler, closeAll func() error, err error) {
	if l, err = openSeeded(ctx, dir, banks, float, m, log, stdout); err != nil {
		return nil, nil, nil, err
	}
	st, stop, err := startSettlement(ctx, l, o, log)
	if err != nil {
		l.Close()
		return nil, nil, nil, err
	}
	m.WatchLedger(l)
	m.WatchSettlement(st)
	return l, st, func() error { return errors.Join(stop(), l.Close()) }, nil
}

// startSettlement opens offline settlement beside the ledger and closes
// its window on the -offline-window timer; stop ends both.
func startSettlement(ctx context.Context, l *ledger.Ledger, o *offlineFlags, log *slog.Logger) (st *settlement.Settler, stop func() error, err error) {
	p, err := o.Policy()
	if err != nil {
		return nil, nil, err
	}
	st, err = settlement.Open(ctx, l, settlement.Config{Policy: p, GuaranteeFund: o.guarantee, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	windows, stopWindows := context.WithCancel(ctx)
	var done sync.WaitGroup
	done.Go(func() { closeWindows(windows, st, o.window, log) })
	return st, func() error {
		stopWindows()
		done.Wait()
		return st.Close()
	}, nil
}

// closeWindows closes the settlement window every o.window until ctx ends,
// and says what each close did when it did anything.
func closeWindows(ctx context.Context, st *settlement.Settler, every time.Duration, log *slog.Logger) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
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

// openSeeded opens the ledger in dir and seeds its intermediaries.
func openSeeded(ctx context.Context, dir string, banks int, float int64, m *metrics.Metrics, log *slog.Logger, stdout io.Writer) (*ledger.Ledger, error) {
	l, err := ledger.Open(dir, ledger.Options{Logger: log, OnCommit: m.OnCommit})
	if err != nil {
		return nil, err
	}
	if err := seedBanks(ctx, l, banks, float, stdout); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// seedBanks opens the intermediaries and issues their first float. The
// operation ids are fixed, so a restart finds them done and changes nothing;
// a restart with another float leaves the floats already issued alone.
func seedBanks(ctx context.Context, l *ledger.Ledger, banks int, float int64, stdout io.Writer) error {
	for i := 1; i <= banks; i++ {
		bank := ledger.AccountID(fmt.Sprintf("bank-%d", i))
		spec := ledger.AccountSpec{ID: bank, Kind: ledger.KindIntermediary}
		if _, err := l.OpenAccount(ctx, "sandbox:open:"+string(bank), spec); err != nil {
			return err
		}
		_, err := l.Issue(ctx, "sandbox:issue:"+string(bank), bank, float)
		if errors.Is(err, ledger.ErrOpIDReused) {
			fmt.Fprintf(stdout, "cbdc: %s received its first float with another -float earlier; -float applies to new intermediaries\n", bank)
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
}
