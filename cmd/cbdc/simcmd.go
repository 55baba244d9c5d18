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
	banks := fs.String("banks", "", "run against running banks instead: their addresses, comma-separated, such as http://127.0.0.1:7401,http://127.0.0.1:7402")
	tokens := fs.String("admin-tokens", "", "with -banks: each bank's admin token file, comma-separated in the same order (one file serves all)")
	ledgerURL := fs.String("ledger", "", "with -banks: the central ledger's address, to watch money by tier and check conservation")
	ledgerKey := fs.String("ledger-key", "", "with -ledger: a bank credential written by cbdc ledger (DATA/credentials/bank-1.key); the run signs in as that bank")
	ledgerID := fs.String("ledger-id", "", "with -ledger-key: the bank the credential is for (default: the key file's name, such as bank-1)")
	var tf tlsFlags
	tf.registerClient(fs, "https:// banks and ledger given by -banks and -ledger")
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
	var progress func(sim.Tick)
	if !*quiet {
		progress = newProgress(stderr)
	}
	if *banks != "" {
		rm, err := remoteFlags(*banks, *tokens, *ledgerURL, *ledgerKey, *ledgerID, *data, &tf)
		if err != nil {
			return err
		}
		rep, err := simulateRemote(ctx, sc, rm, *sessions, progress, stderr)
		if err != nil {
			return err
		}
		if err := writeReports(rep, stdout, *jsonOut, *htmlOut); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "  audit       run `cbdc audit DATA_DIR` on the ledger's data directory once it stops")
		return nil
	} else if *tokens != "" || *ledgerURL != "" || *ledgerKey != "" || *ledgerID != "" || tf.ca != "" {
		return errors.New("sim: -admin-tokens, -ledger, -ledger-key, -ledger-id and -ca go with -banks")
	}
	dir := *data
	if dir == "" {
		if dir, err = os.MkdirTemp("", "cbdc-sim-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	rep, err := simulate(ctx, sc, dir, *sessions, progress, stderr)
	if err != nil {
		return err
	}
	if err := writeReports(rep, stdout, *jsonOut, *htmlOut); err != nil {
		return err
	}
	return auditRun(dir, stdout)
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

// remoteFlags reads the flags of a run against running banks.
func remoteFlags(banks, tokens, ledgerURL, ledgerKey, ledgerID, data string, tf *tlsFlags) (sim.Remote, error) {
	var rm sim.Remote
	if data != "" {
		return rm, errors.New("sim: -data is for a run in this process; running banks keep their own data")
	}
	var err error
	if rm.TLS, err = tf.clientConfig(); err != nil {
		return rm, fmt.Errorf("sim: %w", err)
	}
	hc, err := tf.httpClient(10 * time.Second)
	if err != nil {
		return rm, fmt.Errorf("sim: %w", err)
	}
	urls, files := splitList(banks), splitList(tokens)
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
	if (ledgerURL == "") != (ledgerKey == "") {
		return rm, errors.New("sim: -ledger and -ledger-key go together")
	}
	if len(urls) == 0 {
		return rm, errors.New("sim: -banks names no bank")
	}
	if ledgerURL != "" {
		key, err := sandbox.ReadBankKey(ledgerKey)
		if err != nil {
			return rm, err
		}
		id := ledgerID
		if id == "" {
			id = strings.TrimSuffix(filepath.Base(ledgerKey), filepath.Ext(ledgerKey))
		}
		rm.Ledger = ledgerhttp.NewClient(ledgerURL, ledger.AccountID(id), key, hc)
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
