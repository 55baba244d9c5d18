package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/ledgerhttp"
	"github.com/digital-yen/cbdc-sandbox/sandbox"
	"github.com/digital-yen/cbdc-sandbox/sim"
	"github.com/digital-yen/cbdc-sandbox/sim/local"
)

// runSim is `cbdc sim SCENARIO.json`.
func runSim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runCommand(ctx, &SimCommand{stdout: stdout, stderr: stderr}, args)
}

// SimCommand is `cbdc sim`: it builds the scenario's sandbox in this
// process, or reaches running banks, makes its payments and prints the
// report; a run in this process also audits the ledger it ends with.
type SimCommand struct {
	stdout, stderr   io.Writer
	scenario         string // the file the argument names
	data             string
	sessions         int
	jsonOut, htmlOut string
	quiet            bool
	banks, tokens    string // running banks to run against, and their admin tokens
	ledgerURL        string
	ledgerKey        string
	ledgerID         string
	tls              tlsFlags
}

func (c *SimCommand) flagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.StringVar(&c.data, "data", "", "directory for the run's ledger and banks (default: a new temporary directory, removed afterwards)")
	fs.IntVar(&c.sessions, "sessions", sim.DefaultSessions, "wallets that hold a session and pay; every party can be paid")
	fs.StringVar(&c.jsonOut, "json", "", "also write the report as JSON to this file")
	fs.StringVar(&c.htmlOut, "html", "", "also write the report as a self-contained HTML page with charts to this file")
	fs.BoolVar(&c.quiet, "quiet", false, "no progress bar or lines")
	fs.StringVar(&c.banks, "banks", "", "run against running banks instead: their addresses, comma-separated, such as http://127.0.0.1:7401,http://127.0.0.1:7402")
	fs.StringVar(&c.tokens, "admin-tokens", "", "with -banks: each bank's admin token file, comma-separated in the same order (one file serves all)")
	fs.StringVar(&c.ledgerURL, "ledger", "", "with -banks: the central ledger's address, to watch money by tier and check conservation")
	fs.StringVar(&c.ledgerKey, "ledger-key", "", "with -ledger: a bank credential written by cbdc ledger (DATA/credentials/bank-1.key); the run signs in as that bank")
	fs.StringVar(&c.ledgerID, "ledger-id", "", "with -ledger-key: the bank the credential is for (default: the key file's name, such as bank-1)")
	c.tls.registerClient(fs, "https:// banks and ledger given by -banks and -ledger")
	fs.Usage = func() {
		fmt.Fprintln(c.stderr, "Usage: cbdc sim [flags] SCENARIO.json\n\nRuns a scenario (docs/scenarios.md; examples in scenarios/) and prints its report.\n\nFlags:")
		fs.PrintDefaults()
	}
	return fs
}

// ParseFlags takes the flags and the scenario file's name.
func (c *SimCommand) ParseFlags(args []string) error {
	fs := c.flagSet()
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	if c.sessions < 1 {
		return fmt.Errorf("sim: -sessions must be at least 1, got %d", c.sessions)
	}
	c.scenario = fs.Arg(0)
	return nil
}

// Run reads the scenario and runs it here or against the running banks.
func (c *SimCommand) Run(ctx context.Context) error {
	raw, err := os.ReadFile(c.scenario)
	if err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	sc, err := sim.ParseScenario(c.scenario, raw)
	if err != nil {
		return err
	}
	switch {
	case c.banks != "":
		return c.runRemote(ctx, sc)
	case c.tokens != "" || c.ledgerURL != "" || c.ledgerKey != "" || c.ledgerID != "" || c.tls.ca != "":
		return errors.New("sim: -admin-tokens, -ledger, -ledger-key, -ledger-id and -ca go with -banks")
	}
	return c.runHere(ctx, sc)
}

// runHere runs the scenario in a sandbox in this process and audits the
// ledger it leaves.
func (c *SimCommand) runHere(ctx context.Context, sc *sim.Scenario) (err error) {
	dir := c.data
	if dir == "" {
		if dir, err = os.MkdirTemp("", "cbdc-sim-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	rep, err := simulate(ctx, sc, dir, c.sessions, c.progress(), c.stderr)
	if err != nil {
		return err
	}
	if err := writeReports(rep, c.stdout, c.jsonOut, c.htmlOut); err != nil {
		return err
	}
	return auditRun(dir, c.stdout)
}

// runRemote runs the scenario against running banks; their ledger is
// audited by whoever runs it, once it stops.
func (c *SimCommand) runRemote(ctx context.Context, sc *sim.Scenario) error {
	rm, err := c.remote()
	if err != nil {
		return err
	}
	rep, err := simulateRemote(ctx, sc, rm, c.sessions, c.progress(), c.stderr)
	if err != nil {
		return err
	}
	if err := writeReports(rep, c.stdout, c.jsonOut, c.htmlOut); err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, "  audit       run `cbdc audit DATA_DIR` on the ledger's data directory once it stops")
	return nil
}

// progress shows the run's ticks on stderr, or nothing with -quiet.
func (c *SimCommand) progress() func(sim.Tick) {
	if c.quiet {
		return nil
	}
	return newProgress(c.stderr)
}

// writeReports prints the report as a table and writes it as JSON and
// HTML where asked.
func writeReports(rep *sim.Report, stdout io.Writer, jsonOut, htmlOut string) error {
	rep.WriteTable(stdout)
	if jsonOut != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(jsonOut, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("sim: write the report: %w", err)
		}
	}
	if htmlOut != "" {
		var page bytes.Buffer
		if err := rep.WriteHTML(&page); err != nil {
			return err
		}
		if err := os.WriteFile(htmlOut, page.Bytes(), 0o644); err != nil {
			return fmt.Errorf("sim: write the report: %w", err)
		}
	}
	return nil
}

// remote reads the flags of a run against running banks.
func (c *SimCommand) remote() (sim.Remote, error) {
	var rm sim.Remote
	if c.data != "" {
		return rm, errors.New("sim: -data is for a run in this process; running banks keep their own data")
	}
	var err error
	if rm.TLS, err = c.tls.clientConfig(); err != nil {
		return rm, fmt.Errorf("sim: %w", err)
	}
	hc, err := c.tls.httpClient(10 * time.Second)
	if err != nil {
		return rm, fmt.Errorf("sim: %w", err)
	}
	urls, files := splitList(c.banks), splitList(c.tokens)
	if len(files) != 1 && len(files) != len(urls) {
		return rm, fmt.Errorf("sim: -banks names %d banks; -admin-tokens needs one token file for each, or one for all, got %d", len(urls), len(files))
	}
	for i, u := range urls {
		f := files[min(i, len(files)-1)]
		tok, err := os.ReadFile(f)
		if err != nil {
			return rm, fmt.Errorf("sim: admin token of %s: %w", u, err)
		}
		rm.Banks = append(rm.Banks, sim.RemoteBank{URL: u, AdminToken: strings.TrimSpace(string(tok))})
	}
	if (c.ledgerURL == "") != (c.ledgerKey == "") {
		return rm, errors.New("sim: -ledger and -ledger-key go together")
	}
	if len(urls) == 0 {
		return rm, errors.New("sim: -banks names no bank")
	}
	if c.ledgerURL != "" {
		key, err := sandbox.ReadBankKey(c.ledgerKey)
		if err != nil {
			return rm, err
		}
		id := c.ledgerID
		if id == "" {
			id = strings.TrimSuffix(filepath.Base(c.ledgerKey), filepath.Ext(c.ledgerKey))
		}
		rm.Ledger = ledgerhttp.NewClient(c.ledgerURL, ledger.AccountID(id), key, hc)
	}
	return rm, nil
}

func simulateRemote(ctx context.Context, sc *sim.Scenario, rm sim.Remote, sessions int, progress func(sim.Tick), stderr io.Writer) (rep *sim.Report, err error) {
	fmt.Fprintf(stderr, "cbdc sim: %s: onboarding %d wallets and %d merchants at %d running banks\n", sc.Name, sc.Wallets, sc.Merchants, len(rm.Banks))
	w, err := sim.OpenRemote(ctx, sc, rm, sessions)
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

func simulate(ctx context.Context, sc *sim.Scenario, dir string, sessions int, progress func(sim.Tick), stderr io.Writer) (rep *sim.Report, err error) {
	fmt.Fprintf(stderr, "cbdc sim: %s: opening %d banks with %d wallets and %d merchants\n", sc.Name, sc.Banks, sc.Wallets, sc.Merchants)
	w, err := local.OpenWorld(ctx, sc, dir, sessions, nil)
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
