package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/ledger/settlement"
)

// runAudit is `cbdc audit DATA_DIR`.
func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runCommand(ctx, &AuditCommand{stdout: stdout, stderr: stderr}, args)
}

// AuditCommand is `cbdc audit`: it checks a stopped ledger's files.
type AuditCommand struct {
	stdout, stderr io.Writer
	dir            string   // from -data or the argument
	replicas       []string // more arguments: replicas of one ledger, compared
}

func (c *AuditCommand) flagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.StringVar(&c.dir, "data", "", "the data directory, as the other commands take it (or give it as the argument)")
	fs.Usage = func() {
		fmt.Fprintln(c.stderr, "Usage: cbdc audit DATA_DIR (or -data DATA_DIR) [REPLICA_DIR ...]\n\nReplays the central ledger's journal in DATA_DIR (or DATA_DIR/ledger),\nverifies its hash chain and every rule, recomputes every balance and checks\nthat money is conserved; checks what offline settlement's index says it\nmoved against what the journal's settlement operations moved. Exits 0 when\nsound, 1 on a discrepancy in data it could read, 3 when data is damaged\n(bytes altered, missing or cut short). Given the data directories of\nseveral replicas of one ledger, audits each and compares their heads:\nreplicas that have caught up end at the same record with the same hash.")
	}
	return fs
}

// ParseFlags takes the data directory from -data or the one argument.
func (c *AuditCommand) ParseFlags(args []string) error {
	fs := c.flagSet()
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	args = fs.Args()
	if c.dir == "" && len(args) > 0 {
		c.dir, args = args[0], args[1:]
	}
	if c.dir == "" {
		fs.Usage()
		return errUsage
	}
	c.replicas = args
	return nil
}

// Run audits the ledger and prints the reports.
func (c *AuditCommand) Run(ctx context.Context) error {
	if len(c.replicas) > 0 {
		return c.compareReplicas()
	}
	rep, in, err := settlement.Audit(ledgerDir(c.dir))
	if err != nil {
		return explainStorage(err, "audit", auditHolder)
	}
	rep.WriteText(c.stdout)
	if in != nil {
		in.WriteText(c.stdout)
	}
	return auditVerdict(rep, c.stderr)
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

// compareReplicas audits each replica's journal and compares their heads.
func (c *AuditCommand) compareReplicas() error {
	var worst error
	heads := map[string][]string{} // head -> replicas ending there
	for _, dir := range append([]string{c.dir}, c.replicas...) {
		rep, err := ledger.Audit(ledgerDir(dir))
		if err != nil {
			return explainStorage(err, "audit", auditHolder)
		}
		verdict := "OK"
		if err := auditVerdict(rep, c.stderr); err != nil {
			verdict, worst = "FAILED", cmp.Or(worst, err)
		}
		head := fmt.Sprintf("record %d, hash %s", rep.Totals.Seq, rep.Totals.Head)
		heads[head] = append(heads[head], dir)
		fmt.Fprintf(c.stdout, "%s: %s; head %s\n", dir, verdict, head)
	}
	if len(heads) > 1 {
		fmt.Fprintf(c.stdout, "verdict: the replicas' journals end at %d different heads; one that is behind catches up from the leader, one that differs must be rebuilt\n", len(heads))
		return cmp.Or(worst, error(exitError(exitFailed)))
	}
	if worst == nil {
		fmt.Fprintln(c.stdout, "verdict: OK: every replica sound, all at the same head")
	}
	return worst
}
