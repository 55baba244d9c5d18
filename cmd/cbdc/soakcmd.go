package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/digital-yen/cbdc-sandbox/scenarios"
	"github.com/digital-yen/cbdc-sandbox/sim"
	"github.com/digital-yen/cbdc-sandbox/soak"
)

// runSoak is `cbdc soak`: the ledger and the banks as processes of this
// binary, killed with SIGKILL under load and started again, then every
// answered payment checked against the books.
func runSoak(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	scenario := fs.String("scenario", "", "scenario file giving the banks, wallets, arrivals and amounts (default: the embedded scenarios/soak.json)")
	duration := fs.Duration("duration", 5*time.Minute, "how long payments arrive")
	kills := fs.Int("kills", 5, "SIGKILLs of the ledger, and as many of the banks (taken in turn)")
	down := fs.Duration("down", 2*time.Second, "how long a killed process stays down before it is started again")
	workers := fs.Int("workers", 64, "payments in flight at most")
	data := fs.String("data", "", "a new directory for the run's ledger, banks and logs (default: a new temporary directory, kept for inspection)")
	jsonOut := fs.String("json", "", "also write the report as JSON to this file")
	quiet := fs.Bool("quiet", false, "no progress lines")
	overTLS := fs.Bool("tls", false, "run every connection over TLS, with certificates cbdc certs makes in the data directory")
	only := fs.String("only", "", "fault only the \"ledger\" or only the \"banks\" (-kills times); both in turn when empty")
	freeze := fs.Bool("freeze", false, "stop processes with SIGSTOP for -down and continue them with SIGCONT, instead of killing and restarting them")
	ledgerListen := fs.String("ledger-listen", "127.0.0.1:0", "the ledger's address")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: cbdc soak [flags]\n\nRuns the central ledger and the banks as separate processes under a scenario's\npayments, kills each with SIGKILL several times and starts it again, then\nchecks that no payment answered as made was lost or applied twice, that every\nwallet holds what its answers say, and that the ledger's audit passes.\nExit status 1 when anything is off.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return errUsage
	}
	if *duration <= 0 || *down <= 0 || *workers < 1 || *kills < 0 {
		return errors.New("soak: -duration and -down must be above zero, -workers at least 1 and -kills 0 or more")
	}
	name, raw := "scenarios/soak.json", []byte(nil)
	var err error
	if *scenario != "" {
		name = *scenario
		raw, err = os.ReadFile(*scenario)
	} else {
		raw, err = scenarios.Files.ReadFile("soak.json")
	}
	if err != nil {
		return fmt.Errorf("soak: %w", err)
	}
	sc, err := sim.ParseScenario(name, raw)
	if err != nil {
		return err
	}
	bin, err := os.Executable()
	if err != nil {
		return fmt.Errorf("soak: finding this binary to run the services with: %w", err)
	}
	dir := *data
	if dir == "" {
		if dir, err = os.MkdirTemp("", "cbdc-soak-"); err != nil {
			return err
		}
	}
	fault, whom := "SIGKILLs", "of the ledger and as many of the banks"
	if *freeze {
		fault = "SIGSTOPs"
	}
	if *only != "" {
		whom = "of the " + *only
	}
	fmt.Fprintf(stderr, "cbdc soak: %s for %s with %d %s %s; data and logs in %s\n", sc.Name, *duration, *kills, fault, whom, dir)
	cfg := soak.Config{Binary: bin, Dir: dir, Scenario: sc, Duration: *duration, Kills: *kills, Down: *down, Workers: *workers, TLS: *overTLS,
		Only: *only, Freeze: *freeze, LedgerListen: *ledgerListen,
		Log: slog.New(slog.NewTextHandler(stderr, nil))}
	if !*quiet {
		cfg.Progress = func(p soak.Progress) {
			down := ""
			if p.Killed != "" {
				down = ", " + p.Killed + " down"
			}
			fmt.Fprintf(stderr, "  %4.0fs of %s  made %7d  refused %5d  in doubt %4d  retries %6d  kills %d%s\n",
				p.Elapsed.Seconds(), p.Duration, p.Paid, p.Refused, p.InDoubt, p.Retries, p.Kills, down)
		}
	}
	rep, err := soak.Run(ctx, cfg)
	if err != nil {
		return fmt.Errorf("%w (data and logs in %s)", err, dir)
	}
	rep.Print(stdout)
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("soak: write the report: %w", err)
		}
	}
	if !rep.OK() {
		fmt.Fprintf(stdout, "  data and logs in %s\n", dir)
		return exitError(1)
	}
	return nil
}
