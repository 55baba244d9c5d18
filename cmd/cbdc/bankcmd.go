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
	cfg := bankConfig{Ledger: "http://127.0.0.1:7400", Listen: "127.0.0.1:7501", HolderKey: "holder.key", Waiting: intermediary.DefaultMaxWaitingPerAddress}
	fs := flag.NewFlagSet("bank", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.ID, "id", cfg.ID, "the intermediary's account at the ledger, such as bank-1")
	fs.StringVar(&cfg.Ledger, "ledger", cfg.Ledger, "the central ledger's address")
	fs.StringVar(&cfg.KeyFile, "key", cfg.KeyFile, "the bank's ledger credential (written by cbdc ledger)")
	fs.StringVar(&cfg.DataDir, "data", cfg.DataDir, "the bank's data directory (default data/<id>)")
	fs.StringVar(&cfg.Listen, "listen", cfg.Listen, "address to serve wallets and the admin API on")
	fs.StringVar(&cfg.HolderKey, "holder-key", cfg.HolderKey, "the holder-token key the banks share (created if missing)")
	fs.StringVar(&cfg.Origins, "origins", cfg.Origins, "comma-separated browser origins allowed to open wallet sessions")
	fs.IntVar(&cfg.Waiting, "max-waiting", cfg.Waiting, "wallet connections one address (an IPv6 /64) may hold open before signing in; raise it behind a reverse proxy")
	var tf tlsFlags
	tf.registerServer(fs)
	tf.registerClient(fs, "the ledger")
	var sf serviceFlags
	sf.register(fs, slog.LevelInfo)
	if err := parseSettings(fs, "bank", &sf, args); err != nil {
		return err
	}
	if cfg.DataDir == "" && cfg.ID != "" {
		cfg.DataDir = "data/" + cfg.ID
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	tlsCfg, err := tf.serverConfig()
	if err != nil {
		return fmt.Errorf("bank: %w", err)
	}
	ledgerTLS, err := tf.clientConfig()
	if err != nil {
		return fmt.Errorf("bank: %w", err)
	}
	log := sf.logger(stderr)
	sf.logSettings(log, fs)
	key, err := sandbox.ReadBankKey(cfg.KeyFile)
	if err != nil {
		return err
	}
	_, statErr := os.Stat(cfg.HolderKey)
	holderKey, err := sandbox.LoadHolderKey(cfg.HolderKey)
	if err != nil {
		return err
	}
	if statErr != nil {
		fmt.Fprintf(stdout, "cbdc bank: created a new holder key in %s; give this same file to every bank, or one person's wallets at two banks are not held to one limit\n", cfg.HolderKey)
	}
	// Each call to the ledger has its own deadline; the HTTP client has
	// none, which would cut the long polls short.
	client := ledgerhttp.NewClientWith(cfg.Ledger, ledger.AccountID(cfg.ID), key, ledgerhttp.ClientOptions{
		HTTP: &http.Client{Transport: ledgerhttp.NewTransport(ledgerTLS)}, Logger: log.With("ledger", cfg.Ledger)})
	if err := waitForLedger(ctx, client, log); err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(stdout, "cbdc bank: stopping")
			return nil
		}
		return err
	}
	rb, err := sandbox.StartBank(ctx, sandbox.BankConfig{ID: ledger.AccountID(cfg.ID), Ledger: client, DataDir: cfg.DataDir,
		HolderKey: holderKey, Listen: cfg.Listen, BindWait: sandbox.BindWait, TLS: tlsCfg, Origins: splitList(cfg.Origins),
		Waiting: cfg.Waiting, Logger: log, Offline: client, OfflineKey: key, Metrics: metrics.New()})
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(stdout, "cbdc bank: stopping")
			return nil
		}
		return explainStorage(err, "bank", bankHolder)
	}
	// The address ends at a space, so scripts can take it from the line.
	fmt.Fprintf(stdout, "cbdc bank: %s serving wallets at %s (admin API at %s, token in %s)\n",
		cfg.ID, rb.WalletURL(), rb.AdminURL(), filepath.Join(cfg.DataDir, "admin.token"))
	select {
	case <-ctx.Done():
	case <-rb.Served():
		return rb.Stop() // says why serving ended
	}
	fmt.Fprintln(stdout, "cbdc bank: stopping")
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
