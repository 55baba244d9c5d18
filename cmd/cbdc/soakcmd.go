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

// runSoak is `cbdc soak`.
func runSoak(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runCommand(ctx, &SoakCommand{stdout: stdout, stderr: stderr}, args)
}

// SoakCommand is `cbdc soak`: the ledger and the banks as processes of
// this binary, killed with SIGKILL under load and started again, then
// every answered payment checked against the books.
type SoakCommand struct {
	stdout, stderr io.Writer
	cfg            soak.Config // the faults, ports, workers and TLS; Run adds the rest
	scenario       string
	data           string
	jsonOut        string
	quiet          bool
}

func (c *SoakCommand) flagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.StringVar(&c.scenario, "scenario", "", "scenario file giving the banks, wallets, arrivals and amounts (default: the embedded scenarios/soak.json)")
	fs.DurationVar(&c.cfg.Duration, "duration", 5*time.Minute, "how long payments arrive")
	fs.IntVar(&c.cfg.Kills, "kills", 5, "SIGKILLs of the ledger, and as many of the banks (taken in turn)")
	fs.DurationVar(&c.cfg.Down, "down", 2*time.Second, "how long a killed process stays down before it is started again")
	fs.IntVar(&c.cfg.Freezes, "freezes", 0, "SIGSTOPs of the ledger, and as many of the banks (taken in turn), each continued with SIGCONT")
	fs.DurationVar(&c.cfg.Frozen, "frozen", 5*time.Second, "how long a frozen process stays stopped")
	fs.DurationVar(&c.cfg.FrozenLedgerBound, "frozen-ledger-bound", soak.DefaultFrozenLedgerBound, "longest a wallet may wait for an answer while the ledger is frozen")
	fs.StringVar(&c.cfg.Only, "only", "", "fault only the \"ledger\" or only the \"banks\" (then -kills and -freezes count faults in all); both in turn when empty")
	fs.IntVar(&c.cfg.Replicas, "replicas", 0, "run the ledger as this many replicas (3 or 5) kept in step by Raft, the banks given every one's URL; the ledger's faults then take its leader and a follower in turn (0: the lone ledger)")
	fs.IntVar(&c.cfg.Ports, "ports", 0, "put the ledger on 127.0.0.1:PORTS and bank N on PORTS+N; with -replicas R, replica N's HTTP on PORTS+banks+N and its Raft on PORTS+banks+R+N (default: free ports, kept across restarts)")
	fs.IntVar(&c.cfg.Workers, "workers", 64, "payments in flight at most")
	fs.StringVar(&c.data, "data", "", "a new directory for the run's ledger, banks and logs (default: a new temporary directory, kept for inspection)")
	fs.StringVar(&c.jsonOut, "json", "", "also write the report as JSON to this file")
	fs.BoolVar(&c.quiet, "quiet", false, "no progress lines")
	fs.BoolVar(&c.cfg.TLS, "tls", false, "run every connection over TLS, with certificates cbdc certs makes in the data directory")
	fs.Usage = func() {
		fmt.Fprintln(c.stderr, "Usage: cbdc soak [flags]\n\nRuns the central ledger and the banks as separate processes under a scenario's\npayments, kills each with SIGKILL several times and starts it again, freezes\neach with SIGSTOP and continues it, then checks that no payment answered as made was lost or applied twice, that every\nwallet holds what its answers say, and that the ledger's audit passes.\nWith -replicas, the ledger runs as a group of replicas whose leader and\nfollowers are killed and frozen in turn, and every replica is audited and\nmust end at the same journal head.\nExit status 1 when anything is off.\n\nFlags:")
		fs.PrintDefaults()
	}
	return fs
}

// ParseFlags takes the flags; soak takes no arguments.
func (c *SoakCommand) ParseFlags(args []string) error {
	fs := c.flagSet()
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return errUsage
	}
	f := c.cfg
	if f.Duration <= 0 || f.Down <= 0 || f.Frozen <= 0 || f.FrozenLedgerBound <= 0 || f.Workers < 1 || f.Kills < 0 || f.Freezes < 0 {
		return errors.New("soak: -duration, -down, -frozen and -frozen-ledger-bound must be above zero, -workers at least 1, -kills and -freezes 0 or more")
	}
	if err := soak.CheckReplicas(f.Replicas); err != nil {
		return fmt.Errorf("%w (-replicas)", err)
	}
	return nil
}

// Run runs the soak and reports it; exit status 1 when anything is off.
func (c *SoakCommand) Run(ctx context.Context) error {
	sc, err := c.loadScenario()
	if err != nil {
		return err
	}
	bin, err := os.Executable()
	if err != nil {
		return fmt.Errorf("soak: finding this binary to run the services with: %w", err)
	}
	dir := c.data
	if dir == "" {
		if dir, err = os.MkdirTemp("", "cbdc-soak-"); err != nil {
			return err
		}
	}
	c.announce(sc, dir)
	cfg := c.cfg
	cfg.Binary, cfg.Dir, cfg.Scenario, cfg.Log = bin, dir, sc, slog.New(slog.NewTextHandler(c.stderr, nil))
	if !c.quiet {
		cfg.Progress = c.printProgress
	}
	rep, err := soak.Run(ctx, cfg)
	if err != nil {
		return fmt.Errorf("%w (data and logs in %s)", err, dir)
	}
	return c.report(rep, dir)
}

// loadScenario reads -scenario, or the embedded soak scenario.
func (c *SoakCommand) loadScenario() (*sim.Scenario, error) {
	name, raw := "scenarios/soak.json", []byte(nil)
	var err error
	if c.scenario != "" {
		name = c.scenario
		raw, err = os.ReadFile(c.scenario)
	} else {
		raw, err = scenarios.Files.ReadFile("soak.json")
	}
	if err != nil {
		return nil, fmt.Errorf("soak: %w", err)
	}
	return sim.ParseScenario(name, raw)
}

// announce says what the run will do and where its data and logs go.
func (c *SoakCommand) announce(sc *sim.Scenario, dir string) {
	whom := "of the ledger and as many of the banks"
	if c.cfg.Only != "" {
		whom = "of the " + c.cfg.Only
	}
	if c.cfg.Replicas > 1 {
		whom += fmt.Sprintf(" (the ledger as %d replicas: its leader and a follower in turn)", c.cfg.Replicas)
	}
	fmt.Fprintf(c.stderr, "cbdc soak: %s for %s with %d SIGKILLs and %d SIGSTOPs %s; data and logs in %s\n",
		sc.Name, c.cfg.Duration, c.cfg.Kills, c.cfg.Freezes, whom, dir)
}

func (c *SoakCommand) printProgress(p soak.Progress) {
	down := ""
	if p.Killed != "" {
		down = ", " + p.Killed + " down"
	}
	if p.Frozen != "" {
		down = ", " + p.Frozen + " frozen"
	}
	fmt.Fprintf(c.stderr, "  %4.0fs of %s  made %7d  refused %5d  in doubt %4d  retries %6d  kills %d  freezes %d%s\n",
		p.Elapsed.Seconds(), p.Duration, p.Paid, p.Refused, p.InDoubt, p.Retries, p.Kills, p.Freezes, down)
}

// report prints the report, writes it as JSON where asked, and fails the
// command if anything is off.
func (c *SoakCommand) report(rep *soak.Report, dir string) error {
	rep.Print(c.stdout)
	if c.jsonOut != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(c.jsonOut, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("soak: write the report: %w", err)
		}
	}
	if !rep.OK() {
		fmt.Fprintf(c.stdout, "  data and logs in %s\n", dir)
		return exitError(1)
	}
	return nil
}
