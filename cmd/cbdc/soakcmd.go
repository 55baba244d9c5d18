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
	freezes := fs.Int("freezes", 0, "SIGSTOPs of the ledger, and as many of the banks (taken in turn), each continued with SIGCONT")
	frozen := fs.Duration("frozen", 5*time.Second, "how long a frozen process stays stopped")
	bound := fs.Duration("frozen-ledger-bound", soak.DefaultFrozenLedgerBound, "longest a wallet may wait for an answer while the ledger is frozen")
	only := fs.String("only", "", "fault only the \"ledger\" or only the \"banks\" (then -kills and -freezes count faults in all); both in turn when empty")
	ports := fs.Int("ports", 0, "put the ledger on 127.0.0.1:PORTS and bank N on PORTS+N (default: free ports, kept across restarts)")
	workers := fs.Int("workers", 64, "payments in flight at most")
	data := fs.String("data", "", "a new directory for the run's ledger, banks and logs (default: a new temporary directory, kept for inspection)")
	jsonOut := fs.String("json", "", "also write the report as JSON to this file")
	quiet := fs.Bool("quiet", false, "no progress lines")
	overTLS := fs.Bool("tls", false, "run every connection over TLS, with certificates cbdc certs makes in the data directory")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: cbdc soak [flags]\n\nRuns the central ledger and the banks as separate processes under a scenario's\npayments, kills each with SIGKILL several times and starts it again, freezes\neach with SIGSTOP and continues it, then checks that no payment answered as made was lost or applied twice, that every\nwallet holds what its answers say, and that the ledger's audit passes.\nExit status 1 when anything is off.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return errUsage
	}
	if *duration <= 0 || *down <= 0 || *frozen <= 0 || *bound <= 0 || *workers < 1 || *kills < 0 || *freezes < 0 {
		return errors.New("soak: -duration, -down, -frozen and -frozen-ledger-bound must be above zero, -workers at least 1, -kills and -freezes 0 or more")
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
	whom := "of the ledger and as many of the banks"
	if *only != "" {
		whom = "of the " + *only
	}
	fmt.Fprintf(stderr, "cbdc soak: %s for %s with %d SIGKILLs and %d SIGSTOPs %s; data and logs in %s\n",
		sc.Name, *duration, *kills, *freezes, whom, dir)
	cfg := soak.Config{Binary: bin, Dir: dir, Scenario: sc, Duration: *duration, Kills: *kills, Down: *down, Freezes: *freezes, Frozen: *frozen,
		FrozenLedgerBound: *bound, Ports: *ports, Only: *only, Workers: *workers, TLS: *overTLS, Log: slog.New(slog.NewTextHandler(stderr, nil))}
	if !*quiet {
		cfg.Progress = func(p soak.Progress) {
			down := ""
			if p.Killed != "" {
				down = ", " + p.Killed + " down"
			}
			if p.Frozen != "" {
				down = ", " + p.Frozen + " frozen"
			}
			fmt.Fprintf(stderr, "  %4.0fs of %s  made %7d  refused %5d  in doubt %4d  retries %6d  kills %d  freezes %d%s\n",
				p.Elapsed.Seconds(), p.Duration, p.Paid, p.Refused, p.InDoubt, p.Retries, p.Kills, p.Freezes, down)
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
