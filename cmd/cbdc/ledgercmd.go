package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/ledgerhttp"
	"github.com/digital-yen/cbdc-sandbox/metrics"
	"github.com/digital-yen/cbdc-sandbox/sandbox"
)

type ledgerConfig struct {
	DataDir     string
	Credentials string // where the banks' credentials are; DATA/credentials when empty
	Listen      string
	Banks       int
	Float       int64
	Offline     offlineFlags
	Replica     replicaFlags
}

func (c ledgerConfig) Validate() error {
	if _, err := c.Offline.Policy(); err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	if err := c.Replica.check(); err != nil {
		return err
	}
	if c.Replica.on() && c.Credentials == "" {
		return fmt.Errorf("ledger: -replica needs -credentials: the replicas of one ledger must hold the same banks' keys, so give them one directory (or copies of it)")
	}
	return checkLedgerFlags("ledger", c.DataDir, 0, c.Banks, c.Float, c.Listen)
}

// credentials is the directory of the banks' credentials.
func (c ledgerConfig) credentials() string {
	if c.Credentials != "" {
		return c.Credentials
	}
	return filepath.Join(c.DataDir, "credentials")
}

// runLedger serves the central ledger to intermediaries over HTTP.
func runLedger(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runCommand(ctx, &LedgerCommand{stdout: stdout, stderr: stderr}, args)
}

// LedgerCommand is `cbdc ledger`. It opens bank-1 … bank-N (once) and
// issues each a first float, and gives each a credential: an ed25519 key
// whose private half it writes to DATA/credentials/<bank>.key for the
// bank's operator and whose public half it registers. Only registered
// banks can sign in.
type LedgerCommand struct {
	stdout, stderr io.Writer
	cfg            ledgerConfig
	tls            tlsFlags
	service        serviceFlags
	flags          *flag.FlagSet // kept to log where each setting came from
}

func (c *LedgerCommand) flagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("ledger", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.StringVar(&c.cfg.DataDir, "data", "data", "data directory; the ledger lives in DATA/ledger, bank credentials in DATA/credentials")
	fs.StringVar(&c.cfg.Credentials, "credentials", "", "directory of the banks' credentials, DATA/credentials when empty; the replicas of one ledger share them")
	c.cfg.Replica.register(fs)
	fs.StringVar(&c.cfg.Listen, "listen", "127.0.0.1:7400", "address to serve intermediaries on")
	fs.IntVar(&c.cfg.Banks, "banks", 3, "intermediaries bank-1 … bank-N to open and give credentials")
	fs.Int64Var(&c.cfg.Float, "float", 100_000_000, "yen issued to each intermediary when it is first opened")
	c.cfg.Offline.register(fs)
	c.tls.registerServer(fs)
	c.service.register(fs, slog.LevelInfo)
	return fs
}

// ParseFlags reads the settings from flags, the environment and -config.
func (c *LedgerCommand) ParseFlags(args []string) error {
	c.flags = c.flagSet()
	if err := parseSettings(c.flags, "ledger", &c.service, args); err != nil {
		return err
	}
	return c.cfg.Validate()
}

// Run opens the ledger and its banks' credentials, then serves the banks
// until ctx ends.
func (c *LedgerCommand) Run(ctx context.Context) (err error) {
	tlsCfg, err := c.tls.serverConfig()
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	log := c.service.logger(c.stderr)
	c.service.logSettings(log, c.flags)
	if c.cfg.Replica.on() {
		return c.runReplica(ctx, tlsCfg, log)
	}
	dir := filepath.Join(c.cfg.DataDir, "ledger")
	m := metrics.New()
	central, err := openCentral(ctx, dir, c.cfg.Banks, c.cfg.Float, &c.cfg.Offline, m, log, c.stdout)
	if err != nil {
		return explainStorage(err, "ledger", ledgerHolder)
	}
	defer func() {
		if cerr := central.Close(); err == nil {
			err = cerr
		}
	}()
	return c.serveLedger(ctx, central.Ledger, ledgerhttp.ServerOptions{Logger: log, Settler: central.Settler}, m, tlsCfg, log)
}

// serveLedger gives the banks their credentials and serves l to them
// until ctx ends.
func (c *LedgerCommand) serveLedger(ctx context.Context, l *ledger.Ledger, opts ledgerhttp.ServerOptions, m *metrics.Metrics,
	tlsCfg *tls.Config, log *slog.Logger) error {
	// The operator's token, beside the banks' credentials: it reads the
	// whole ledger (its journal, an audit) and changes a group.
	token, err := operatorToken(c.cfg.credentials())
	if err != nil {
		return err
	}
	opts.OperatorToken = token
	keys, err := ledgerhttp.OpenKeys(l.Dir())
	if err != nil {
		return explainStorage(err, "ledger", ledgerHolder)
	}
	defer keys.Close()
	if err := issueCredentials(keys, c.cfg); err != nil {
		return err
	}
	all, err := keys.All()
	if err != nil {
		return err
	}
	ln, err := sandbox.ListenRetry(ctx, c.cfg.Listen, tlsCfg, sandbox.BindWait, log)
	if err != nil {
		return stopping(ctx, c.stdout, "ledger", fmt.Errorf("ledger: listen on %s: %w", c.cfg.Listen, err))
	}
	scheme := "http"
	if tlsCfg != nil {
		scheme = "https"
	}
	h := sandbox.WithMetrics(ledgerhttp.NewServer(l, all, opts), m)
	return c.serve(ctx, ln, scheme, h, len(all))
}

// serve serves the banks on ln until ctx ends or serving fails.
func (c *LedgerCommand) serve(ctx context.Context, ln net.Listener, scheme string, h http.Handler, banks int) error {
	requests, endRequests := context.WithCancel(context.Background())
	defer endRequests()
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return requests }}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	if r := c.cfg.Replica; r.on() {
		fmt.Fprintf(c.stdout, "cbdc ledger: replica %s of %d, its Raft transport at %s\n", r.ID, len(r.peers), r.Raft)
	}
	fmt.Fprintf(c.stdout, "cbdc ledger: serving %d intermediaries at %s://%s (credentials in %s)\n",
		banks, scheme, ln.Addr(), c.cfg.credentials())
	select {
	case <-ctx.Done():
	case err := <-done:
		return err
	}
	fmt.Fprintln(c.stdout, "cbdc ledger: stopping")
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
	creds, err := bankCredentials(cfg)
	if err != nil {
		return err
	}
	for _, id := range slices.Sorted(maps.Keys(creds)) {
		if err := keys.Add(id, creds[id]); err != nil {
			return err
		}
	}
	return nil
}
