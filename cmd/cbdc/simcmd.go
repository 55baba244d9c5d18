package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/sim"
)

// runSim is `cbdc sim SCENARIO.json`: it builds the scenario's sandbox in
// this process, makes its payments, prints the report and audits the
// ledger it ends with.
func runSim(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "", "directory for the run's ledger and banks (default: a new temporary directory, removed afterwards)")
	sessions := fs.Int("sessions", sim.DefaultSessions, "wallets that hold a session and pay; every party can be paid")
	jsonOut := fs.String("json", "", "also write the report as JSON to this file")
	htmlOut := fs.String("html", "", "also write the report as a self-contained HTML page with charts to this file")
	quiet := fs.Bool("quiet", false, "no progress bar or lines")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: cbdc sim [flags] SCENARIO.json\n\nRuns a scenario (docs/scenarios.md; examples in scenarios/) and prints its report.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	if *sessions < 1 {
		return fmt.Errorf("sim: -sessions must be at least 1, got %d", *sessions)
	}
	raw, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	sc, err := sim.ParseScenario(fs.Arg(0), raw)
	if err != nil {
		return err
	}
	dir := *data
	if dir == "" {
		if dir, err = os.MkdirTemp("", "cbdc-sim-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	var progress func(sim.Tick)
	if !*quiet {
		progress = newProgress(stderr)
	}
	rep, err := simulate(ctx, sc, dir, *sessions, progress, stderr)
	if err != nil {
		return err
	}
	rep.WriteTable(stdout)
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("sim: write the report: %w", err)
		}
	}
	if *htmlOut != "" {
		var page bytes.Buffer
		if err := rep.WriteHTML(&page); err != nil {
			return err
		}
		if err := os.WriteFile(*htmlOut, page.Bytes(), 0o644); err != nil {
			return fmt.Errorf("sim: write the report: %w", err)
		}
	}
	return auditRun(dir, stdout)
}

func simulate(ctx context.Context, sc *sim.Scenario, dir string, sessions int, progress func(sim.Tick), stderr io.Writer) (rep *sim.Report, err error) {
	fmt.Fprintf(stderr, "cbdc sim: %s: opening %d banks with %d wallets and %d merchants\n", sc.Name, sc.Banks, sc.Wallets, sc.Merchants)
	w, err := sim.OpenWorld(ctx, sc, dir, sessions, nil)
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := w.Close(); err == nil {
			err = cerr
		}
	}()
	fmt.Fprintf(stderr, "cbdc sim: %s: running\n", sc.Name)
	return sim.Run(ctx, w, progress)
}

// auditRun replays the run's journal, as `cbdc audit` does, and fails the
// command if anything is off.
func auditRun(dir string, stdout io.Writer) error {
	rep, err := ledger.Audit(filepath.Join(dir, "ledger"))
	if err != nil {
		return err
	}
	if !rep.OK() {
		rep.WriteText(stdout)
		return exitError(1)
	}
	fmt.Fprintln(stdout, "  audit       OK: hash chain intact, every rule holds, money is conserved")
	return nil
}

// newProgress shows a run's ticks: a progress bar with the live rate on a
// terminal, a line a second otherwise (as in CI logs).
func newProgress(w io.Writer) func(sim.Tick) {
	if f, ok := w.(*os.File); !ok || !isTerminal(f) {
		return func(t sim.Tick) {
			if t.Phase == sim.PhaseReconciling {
				fmt.Fprintln(w, "  reconciling: every purse syncs, the settlement window closes, every purse syncs again")
				return
			}
			fmt.Fprintf(w, "  %5.0fs  answered %8d  last second %6d/s  offline %5d  failed %d\n",
				t.Elapsed.Seconds(), t.Answered, t.LastSecond, t.Offline, t.Failed)
		}
	}
	var bar *progressbar.ProgressBar
	return func(t sim.Tick) {
		if bar == nil {
			max, unit := int64(t.Planned), "payments"
			if max == 0 {
				max, unit = int64(t.Duration/time.Second), "s"
			}
			bar = progressbar.NewOptions64(max, progressbar.OptionSetWriter(w), progressbar.OptionSetWidth(30),
				progressbar.OptionShowCount(), progressbar.OptionSetItsString(unit), progressbar.OptionSetPredictTime(true),
				progressbar.OptionClearOnFinish())
		}
		if t.Phase == sim.PhaseReconciling {
			bar.Finish()
			fmt.Fprintln(w, "reconciling: every purse syncs, the settlement window closes, every purse syncs again")
			return
		}
		now := int64(t.Answered)
		if t.Planned == 0 {
			now = int64(t.Elapsed / time.Second)
		}
		bar.Describe(fmt.Sprintf("%6d/s  offline %4d/s  failed %d/s", t.LastSecond, t.Offline, t.Failed))
		bar.Set64(now)
	}
}

// isTerminal says whether f is a character device, as a terminal is.
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
