package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/ledgerhttp"
	"github.com/digital-yen/cbdc-sandbox/metrics"
	"github.com/digital-yen/cbdc-sandbox/sandbox"
)

type ledgerConfig struct {
	DataDir string
	Listen  string
	Banks   int
	Float   int64
	Offline offlineFlags
}

func (c ledgerConfig) Validate() error {
	if _, err := c.Offline.Policy(); err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	return checkLedgerFlags("ledger", c.DataDir, 0, c.Banks, c.Float, c.Listen)
}

// runLedger serves the central ledger to intermediaries over HTTP. It opens
// bank-1 … bank-N (once) and issues each a first float, and gives each a
// credential: an ed25519 key whose private half it writes to
// DATA/credentials/<bank>.key for the bank's operator and whose public half
// it registers. Only registered banks can sign in.
func runLedger(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	cfg := ledgerConfig{DataDir: "data", Listen: "127.0.0.1:7400", Banks: 3, Float: 100_000_000}
	fs := flag.NewFlagSet("ledger", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.DataDir, "data", cfg.DataDir, "data directory; the ledger lives in DATA/ledger, bank credentials in DATA/credentials")
	fs.StringVar(&cfg.Listen, "listen", cfg.Listen, "address to serve intermediaries on")
	fs.IntVar(&cfg.Banks, "banks", cfg.Banks, "intermediaries bank-1 … bank-N to open and give credentials")
	fs.Int64Var(&cfg.Float, "float", cfg.Float, "yen issued to each intermediary when it is first opened")
	cfg.Offline.register(fs)
	var tf tlsFlags
	tf.registerServer(fs)
	var sf serviceFlags
	sf.register(fs, slog.LevelInfo)
	if err := parseSettings(fs, "ledger", &sf, args); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	tlsCfg, err := tf.serverConfig()
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	log := sf.logger(stderr)
	sf.logSettings(log, fs)
	dir := filepath.Join(cfg.DataDir, "ledger")
	m := metrics.New()
	central, err := openCentral(ctx, dir, cfg.Banks, cfg.Float, &cfg.Offline, m, log, stdout)
	if err != nil {
		return explainStorage(err, "ledger", ledgerHolder)
	}
	defer func() {
		if cerr := central.Close(); err == nil {
			err = cerr
		}
	}()
	l, st := central.Ledger, central.Settler
	keys, err := ledgerhttp.OpenKeys(dir)
	if err != nil {
		return explainStorage(err, "ledger", ledgerHolder)
	}
	defer keys.Close()
	if err := issueCredentials(keys, cfg); err != nil {
		return err
	}
	all, err := keys.All()
	if err != nil {
		return err
	}
	ln, err := sandbox.ListenRetry(ctx, cfg.Listen, tlsCfg, sandbox.BindWait, log)
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(stdout, "cbdc ledger: stopping")
			return nil
		}
		return fmt.Errorf("ledger: listen on %s: %w", cfg.Listen, err)
	}
	scheme := "http"
	if tlsCfg != nil {
		scheme = "https"
	}
	requests, endRequests := context.WithCancel(context.Background())
	defer endRequests()
	srv := &http.Server{Handler: sandbox.WithMetrics(ledgerhttp.NewServer(l, all, ledgerhttp.ServerOptions{Logger: log, Settler: st}), m), ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return requests }}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "cbdc ledger: serving %d intermediaries at %s://%s (credentials in %s)\n",
		len(all), scheme, ln.Addr(), filepath.Join(cfg.DataDir, "credentials"))
	select {
	case <-ctx.Done():
	case err := <-done:
		return err
	}
	fmt.Fprintln(stdout, "cbdc ledger: stopping")
	return shutdownLedgerServer(srv, endRequests)
}

// pollGrace is how long a stopping ledger lets requests finish before it
// ends the ones still running. Operations take milliseconds; the banks'
// long polls (GET /v1/feed, /v1/messages) would hold the server for up to
// 30 seconds, longer than any shutdown should take. A bank whose request
// is cut short learns the outcome by retrying with the same operation id.
const pollGrace = 2 * time.Second

// shutdownLedgerServer stops taking connections, lets requests under way
// finish for pollGrace, then ends the rest through endRequests and waits
// for their handlers to return before the ledger is closed under them.
func shutdownLedgerServer(srv *http.Server, endRequests context.CancelFunc) error {
	grace := time.AfterFunc(pollGrace, endRequests)
	defer grace.Stop()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		srv.Close()
		return fmt.Errorf("ledger: stop serving: %w", err)
	}
	return nil
}

// issueCredentials gives every bank without a registered key one.
func issueCredentials(keys *ledgerhttp.Keys, cfg ledgerConfig) error {
	for i := 1; i <= cfg.Banks; i++ {
		id := ledger.AccountID(fmt.Sprintf("bank-%d", i))
		key, err := sandbox.LoadOrCreateBankKey(credentialPath(cfg.DataDir, id))
		if err != nil {
			return err
		}
		if err := keys.Add(id, key.Public().(ed25519.PublicKey)); err != nil {
			return err
		}
	}
	return nil
}

func credentialPath(dataDir string, id ledger.AccountID) string {
	return filepath.Join(dataDir, "credentials", string(id)+".key")
}
