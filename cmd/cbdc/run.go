package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/digital-yen/cbdc-sandbox/boltfile"
)

// errUsage means the command line was wrong and usage was printed.
var errUsage = errors.New("usage")

// exitError ends the program with a status after the command said why.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// The statuses the program ends with.
const (
	exitOK      = 0
	exitFailed  = 1 // anything else, and a discrepancy the audit found in data it could read
	exitUsage   = 2 // a bad command line
	exitDamaged = 3 // data damaged: bytes altered, missing or cut short
)

// exitStatus is the status the program ends with after Run returned err,
// and whether main should print err first (a command that chose its
// status with exitError, or printed usage, has said why already).
func exitStatus(err error) (code int, say bool) {
	var exit exitError
	switch {
	case err == nil:
		return exitOK, false
	case errors.As(err, &exit):
		return int(exit), false
	case errors.Is(err, errUsage):
		return exitUsage, false
	case errors.Is(err, boltfile.ErrDamaged):
		return exitDamaged, true
	}
	return exitFailed, true
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands = []command{
	{"sandbox", "run the central ledger and its banks in one process, with embedded defaults", runSandbox},
	{"cluster", "run the central ledger as replica processes, with banks and the demo pointed at them", runCluster},
	{"ledger", "serve the central ledger to intermediaries over the network", runLedger},
	{"bank", "run one intermediary against a ledger address", runBank},
	{"wallet", "a command-line wallet: keys, register, balance, pay, request, history", runWallet},
	{"sim", "run a scenario of simulated payments and report rates, latency and errors", runSim},
	{"soak", "kill the ledger and banks with SIGKILL under load and check no payment was lost or doubled", runSoak},
	{"certs", "make a local certificate authority and server certificate for TLS between the services", runCerts},
	{"audit", "check a ledger data directory: hash chain, rules, conservation", runAudit},
	{"replicas", "list a replicated ledger's replicas, add one or remove one", runReplicas},
}

// A subcommand holds its flags' values: ParseFlags sets and checks them,
// then Run does the work.
type subcommand interface {
	ParseFlags(args []string) error
	Run(ctx context.Context) error
}

// runCommand parses c's command line, then runs it.
func runCommand(ctx context.Context, c subcommand, args []string) error {
	if err := c.ParseFlags(args); err != nil {
		return err
	}
	return c.Run(ctx)
}

// stopping is the result of a service whose start failed with err: if
// ctx ended meanwhile, the failure came from being stopped, so it says
// it is stopping and ends without error.
func stopping(ctx context.Context, stdout io.Writer, cmd string, err error) error {
	if ctx.Err() != nil {
		fmt.Fprintf(stdout, "cbdc %s: stopping\n", cmd)
		return nil
	}
	return err
}

// Run runs the subcommand named by args[0].
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stderr)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "cbdc: unknown command %q\n\n", args[0])
	usage(stderr)
	return errUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "cbdc: the digital-yen CBDC sandbox\n\nUsage: cbdc COMMAND [flags]\n\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'cbdc COMMAND -h' for a command's flags.")
	fmt.Fprintln(w, "Exit status: 0 done, 1 failed, 2 bad command line, 3 data damaged (nothing was changed).")
}
