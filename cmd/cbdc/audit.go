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
	data := fs.String("data", "", "the data directory, as the other commands take it (or give it as the argument)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: cbdc audit DATA_DIR (or -data DATA_DIR)\n\nReplays the central ledger's journal in DATA_DIR (or DATA_DIR/ledger),\nverifies its hash chain and every rule, recomputes every balance and checks\nthat money is conserved; checks what offline settlement's index says it\nmoved against what the journal's settlement operations moved. Exits 0 when\nsound, 1 on a discrepancy in data it could read, 3 when data is damaged\n(bytes altered, missing or cut short).")
	}
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	dir := *data
	switch {
	case dir == "" && fs.NArg() == 1:
		dir = fs.Arg(0)
	case dir == "" || fs.NArg() != 0:
		fs.Usage()
		return errUsage
	}
	rep, in, err := settlement.Audit(ledgerDir(dir))
	if err != nil {
		return explainStorage(err, "audit", auditHolder)
	}
	rep.WriteText(stdout)
	if in != nil {
		in.WriteText(stdout)
	}
	return auditVerdict(rep, stderr)
}

// auditVerdict is the audit's exit status: exitDamaged when bytes were
// altered, lost or cut short (with what to do about it on stderr),
// exitFailed for a discrepancy in data that could be read.
func auditVerdict(rep *ledger.AuditReport, stderr io.Writer) error {
	switch {
	case rep.Damaged():
		for _, d := range rep.Damage {
			if filepath.Base(d.Path) != ledger.CheckpointFileName {
				fmt.Fprintln(stderr, "cbdc audit: the data is damaged.", damageAdvice("audit", d.Path))
				break
			}
		}
		return exitError(exitDamaged)
	case !rep.OK():
		return exitError(exitFailed)
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
