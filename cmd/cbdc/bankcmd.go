package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/digital-yen/cbdc-sandbox/intermediary"
	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/ledgerhttp"
	"github.com/digital-yen/cbdc-sandbox/metrics"
	"github.com/digital-yen/cbdc-sandbox/sandbox"
)

type bankConfig struct {
	ID        string
	Ledger    string
	KeyFile   string
	DataDir   string
	Listen    string
	HolderKey string
	Origins   string
	Waiting   int
}

func (c bankConfig) Validate() error {
	switch {
	case c.ID == "":
		return fmt.Errorf("bank: -id must name the intermediary, such as bank-1")
	case !strings.HasPrefix(c.Ledger, "http://") && !strings.HasPrefix(c.Ledger, "https://"):
		return fmt.Errorf("bank: -ledger must be the ledger's http:// address, got %q", c.Ledger)
	case c.KeyFile == "":
		return fmt.Errorf("bank: -key must name the credential the ledger issued (DATA/credentials/<bank>.key)")
	case c.DataDir == "" || c.HolderKey == "":
		return fmt.Errorf("bank: -data and -holder-key must name files")
	case c.Waiting < 1:
		return fmt.Errorf("bank: -max-waiting must be at least 1, got %d", c.Waiting)
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("bank: -listen must be host:port, got %q", c.Listen)
	}
	return nil
}

// runBank runs one intermediary against a ledger reached over the network.
func runBank(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runCommand(ctx, &BankCommand{stdout: stdout, stderr: stderr}, args)
}

// BankCommand is `cbdc bank`.
type BankCommand struct {
	stdout, stderr io.Writer
	cfg            bankConfig
	tls            tlsFlags
	service        serviceFlags
	flags          *flag.FlagSet // kept to log where each setting came from
}

func (c *BankCommand) flagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("bank", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.StringVar(&c.cfg.ID, "id", "", "the intermediary's account at the ledger, such as bank-1")
	fs.StringVar(&c.cfg.Ledger, "ledger", "http://127.0.0.1:7400", "the central ledger's address; a replicated ledger's replicas as comma-separated addresses")
	fs.StringVar(&c.cfg.KeyFile, "key", "", "the bank's ledger credential (written by cbdc ledger)")
	fs.StringVar(&c.cfg.DataDir, "data", "", "the bank's data directory (default data/<id>)")
	fs.StringVar(&c.cfg.Listen, "listen", "127.0.0.1:7501", "address to serve wallets and the admin API on")
	fs.StringVar(&c.cfg.HolderKey, "holder-key", "holder.key", "the holder-token key the banks share (created if missing)")
	fs.StringVar(&c.cfg.Origins, "origins", "", "comma-separated browser origins allowed to open wallet sessions, besides a bank's own reached by IP address or localhost (its wallet app)")
	fs.IntVar(&c.cfg.Waiting, "max-waiting", intermediary.DefaultMaxWaitingPerAddress, "wallet connections one address (an IPv6 /64) may hold open before signing in; raise it behind a reverse proxy")
	c.tls.registerServer(fs)
	c.tls.registerClient(fs, "the ledger")
	c.service.register(fs, slog.LevelInfo)
	return fs
}

// ParseFlags reads the settings from flags, the environment and -config.
func (c *BankCommand) ParseFlags(args []string) error {
	c.flags = c.flagSet()
	if err := parseSettings(c.flags, "bank", &c.service, args); err != nil {
		return err
	}
	if c.cfg.DataDir == "" && c.cfg.ID != "" {
		c.cfg.DataDir = "data/" + c.cfg.ID
	}
	return c.cfg.Validate()
}

// Run waits for the ledger, then serves wallets until ctx ends.
func (c *BankCommand) Run(ctx context.Context) error {
	tlsCfg, err := c.tls.serverConfig()
	if err != nil {
		return fmt.Errorf("bank: %w", err)
	}
	ledgerTLS, err := c.tls.clientConfig()
	if err != nil {
		return fmt.Errorf("bank: %w", err)
	}
	log := c.service.logger(c.stderr)
	c.service.logSettings(log, c.flags)
	key, err := sandbox.ReadBankKey(c.cfg.KeyFile)
	if err != nil {
		return err
	}
	holderKey, err := c.holderKey()
	if err != nil {
		return err
	}
	// Each call to the ledger has its own deadline; the HTTP client has
	// none, which would cut the long polls short.
	client := ledgerhttp.NewClientWith(c.cfg.Ledger, ledger.AccountID(c.cfg.ID), key, ledgerhttp.ClientOptions{
		HTTP: &http.Client{Transport: ledgerhttp.NewTransport(ledgerTLS)}, Logger: log.With("ledger", c.cfg.Ledger)})
	if err := waitForLedger(ctx, client, log); err != nil {
		return stopping(ctx, c.stdout, "bank", err)
	}
	rb, err := sandbox.StartBank(ctx, sandbox.BankConfig{ID: ledger.AccountID(c.cfg.ID), Ledger: client, DataDir: c.cfg.DataDir,
		HolderKey: holderKey, Listen: c.cfg.Listen, BindWait: sandbox.BindWait, TLS: tlsCfg, Origins: splitList(c.cfg.Origins),
		Waiting: c.cfg.Waiting, Logger: log, Offline: client, OfflineKey: key, Metrics: metrics.New()})
	if err != nil {
		return stopping(ctx, c.stdout, "bank", explainStorage(err, "bank", bankHolder))
	}
	return c.serve(ctx, rb)
}

// holderKey loads the holder-token key, creating it if missing. A new one
// is worth a warning: the banks must share one.
func (c *BankCommand) holderKey() ([]byte, error) {
	_, statErr := os.Stat(c.cfg.HolderKey)
	key, err := sandbox.LoadHolderKey(c.cfg.HolderKey)
	if err != nil {
		return nil, err
	}
	if statErr != nil {
		fmt.Fprintf(c.stdout, "cbdc bank: created a new holder key in %s; give this same file to every bank, or one person's wallets at two banks are not held to one limit\n", c.cfg.HolderKey)
	}
	return key, nil
}

// serve says where the bank serves, then waits for ctx to end or serving
// to fail, and stops the bank.
func (c *BankCommand) serve(ctx context.Context, rb *sandbox.Bank) error {
	// The address ends at a space, so scripts can take it from the line.
	fmt.Fprintf(c.stdout, "cbdc bank: %s serving wallets at %s (admin API at %s, token in %s)\n",
		c.cfg.ID, rb.WalletURL(), rb.AdminURL(), filepath.Join(c.cfg.DataDir, "admin.token"))
	select {
	case <-ctx.Done():
	case <-rb.Served():
		return rb.Stop() // says why serving ended
	}
	fmt.Fprintln(c.stdout, "cbdc bank: stopping")
	return rb.Stop()
}

// waitForLedger asks the ledger for the bank's account until it answers,
// so that a bank started while its ledger is down or restarting waits for
// it rather than exit. Each try that gets no answer is logged, and the
// next waits longer (jittered, 250 ms doubling up to 10 s, or the
// client's retry hint). Any answer ends the wait, a refusal too: opening
// the bank reports it. Only ctx ends it otherwise.
func waitForLedger(ctx context.Context, led *ledgerhttp.Client, log *slog.Logger) error {
	backoff := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		_, err := led.Account(ctx, led.ID())
		var ue *ledgerhttp.UnreachableError
		if !errors.As(err, &ue) || ctx.Err() != nil {
			return ctx.Err()
		}
		wait := max(backoff/2+rand.N(backoff/2+1), ue.RetryAfter())
		log.Warn("waiting for the central ledger", "attempt", attempt, "retry_in", wait.Round(time.Millisecond), "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
