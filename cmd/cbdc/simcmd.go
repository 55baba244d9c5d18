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
	quiet := fs.Bool("quiet", false, "no progress lines")
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
	progress := stderr
	if *quiet {
		progress = nil
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

func simulate(ctx context.Context, sc *sim.Scenario, dir string, sessions int, progress, stderr io.Writer) (rep *sim.Report, err error) {
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
