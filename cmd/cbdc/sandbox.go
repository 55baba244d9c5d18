package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
)

// sandboxConfig is the sandbox's embedded defaults, changed by flags.
type sandboxConfig struct {
	DataDir string
	Banks   int
	Float   int64
	Every   time.Duration
}

func (c sandboxConfig) Validate() error {
	switch {
	case c.DataDir == "":
		return fmt.Errorf("sandbox: -data must name a directory")
	case c.Banks < 1 || c.Banks > 50:
		return fmt.Errorf("sandbox: -banks must be 1 to 50, got %d", c.Banks)
	case c.Float <= 0:
		return fmt.Errorf("sandbox: -float must be a positive number of yen, got %d", c.Float)
	case c.Every <= 0:
		return fmt.Errorf("sandbox: -every must be positive, got %s", c.Every)
	}
	return nil
}

func runSandbox(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	cfg := sandboxConfig{DataDir: "data", Banks: 3, Float: 100_000_000, Every: 5 * time.Second}
	fs := flag.NewFlagSet("sandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.DataDir, "data", cfg.DataDir, "data directory; the ledger lives in DATA/ledger")
	fs.IntVar(&cfg.Banks, "banks", cfg.Banks, "intermediaries to open at the ledger")
	fs.Int64Var(&cfg.Float, "float", cfg.Float, "yen issued to each intermediary when it is first opened")
	fs.DurationVar(&cfg.Every, "every", cfg.Every, "how often to print the money by tier")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	dir := filepath.Join(cfg.DataDir, "ledger")
	l, err := ledger.Open(dir, ledger.Options{Logger: log})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := l.Close(); err == nil {
			err = cerr
		}
	}()
	if err := seedBanks(ctx, l, cfg, stdout); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "cbdc sandbox: the central ledger is running in %s with %d intermediaries.\n", dir, cfg.Banks)
	fmt.Fprintln(stdout, "This release has the central ledger only: banks, wallets, offline purses and the web demo come next.")
	fmt.Fprintf(stdout, "Press Ctrl-C to stop; then 'cbdc audit %s' checks the journal.\n", cfg.DataDir)
	tick := time.NewTicker(cfg.Every)
	defer tick.Stop()
	for {
		printTotals(stdout, l.Totals())
		select {
		case <-ctx.Done():
			fmt.Fprintln(stdout, "cbdc sandbox: stopping")
			return nil
		case <-tick.C:
		}
	}
}

// seedBanks opens the intermediaries and issues their first float. The
// operation ids are fixed, so a restart finds them done and changes nothing;
// a restart with another -float leaves the floats already issued alone.
func seedBanks(ctx context.Context, l *ledger.Ledger, cfg sandboxConfig, stdout io.Writer) error {
	for i := 1; i <= cfg.Banks; i++ {
		bank := ledger.AccountID(fmt.Sprintf("bank-%d", i))
		spec := ledger.AccountSpec{ID: bank, Kind: ledger.KindIntermediary}
		if _, err := l.OpenAccount(ctx, "sandbox:open:"+string(bank), spec); err != nil {
			return err
		}
		_, err := l.Issue(ctx, "sandbox:issue:"+string(bank), bank, cfg.Float)
		if errors.Is(err, ledger.ErrOpIDReused) {
			fmt.Fprintf(stdout, "cbdc sandbox: %s received its first float with another -float earlier; -float applies to new intermediaries\n", bank)
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func printTotals(w io.Writer, t ledger.Totals) {
	fmt.Fprintf(w, "seq %d  circulation %d yen = intermediaries %d + wallets %d + escrow %d + loss %d\n",
		t.Seq, t.Circulation, t.Intermediaries, t.Wallets, t.Escrow, t.Loss)
}
