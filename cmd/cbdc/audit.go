package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/ledger/settlement"
)

func runAudit(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: cbdc audit DATA_DIR\n\nReplays the central ledger's journal in DATA_DIR (or DATA_DIR/ledger),\nverifies its hash chain and every rule, recomputes every balance and checks\nthat money is conserved; checks what offline settlement's index says it\nmoved against what the journal's settlement operations moved. Exits 0 when\nsound, 1 on any discrepancy.")
	}
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	rep, in, err := settlement.Audit(ledgerDir(fs.Arg(0)))
	if err != nil {
		return err
	}
	rep.WriteText(stdout)
	if in != nil {
		in.WriteText(stdout)
	}
	if !rep.OK() {
		return exitError(1)
	}
	return nil
}

// ledgerDir accepts a sandbox data directory as well as a ledger's own.
func ledgerDir(dir string) string {
	if _, err := os.Stat(filepath.Join(dir, ledger.FileName)); err == nil {
		return dir
	}
	return filepath.Join(dir, "ledger")
}
