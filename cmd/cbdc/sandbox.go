package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/digital-yen/cbdc-sandbox/demo"
	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/ledger/settlement"
	"github.com/digital-yen/cbdc-sandbox/metrics"
	"github.com/digital-yen/cbdc-sandbox/sandbox"
)

// sandboxConfig is the sandbox's settings; its flags give the embedded defaults.
type sandboxConfig struct {
	DataDir string
	Banks   int
	Float   int64
	Every   time.Duration
	Listen  string // the first bank's address; the others take the ports after it
	Demo    string // the demo page's address; "" for none
	Origins string
	Offline offlineFlags
	// Replicas: 1 runs one lone ledger; more run it as that many replicas
	// kept in step by Raft, in this process.
	Replicas int
	// Room serves the banks (and their wallet app) and the demo over
	// HTTPS on RoomHost, this machine's LAN address unless given, for
	// phones in the room.
	Room     bool
	RoomHost string
}

func (c sandboxConfig) Validate() error {
	if c.Every <= 0 {
		return fmt.Errorf("sandbox: -every must be positive, got %s", c.Every)
	}
	if c.Replicas != 1 && (c.Replicas < sandbox.MinReplicas || c.Replicas > sandbox.MaxReplicas) {
		return fmt.Errorf("sandbox: -replicas must be 1 (one lone ledger) or %d to %d (a replicated ledger, a majority of which keeps running while one is stopped), got %d",
			sandbox.MinReplicas, sandbox.MaxReplicas, c.Replicas)
	}
	if _, err := c.Offline.Policy(); err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	return checkLedgerFlags("sandbox", c.DataDir, 1, c.Banks, c.Float, c.Listen)
}

// checkLedgerFlags checks the flags `cbdc sandbox` and `cbdc ledger` share.
func checkLedgerFlags(cmd, dataDir string, minBanks, banks int, float int64, listen string) error {
	switch {
	case dataDir == "":
		return fmt.Errorf("%s: -data must name a directory", cmd)
	case banks < minBanks || banks > 50:
		return fmt.Errorf("%s: -banks must be %d to 50, got %d", cmd, minBanks, banks)
	case float <= 0:
		return fmt.Errorf("%s: -float must be a positive number of yen, got %d", cmd, float)
	}
	if _, _, err := net.SplitHostPort(listen); err != nil {
		return fmt.Errorf("%s: -listen must be host:port, got %q", cmd, listen)
	}
	return nil
}

// runSandbox runs the central ledger and its banks in this process.
func runSandbox(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runCommand(ctx, &SandboxCommand{stdout: stdout, stderr: stderr}, args)
}

// SandboxCommand is `cbdc sandbox`.
type SandboxCommand struct {
	stdout, stderr io.Writer
	cfg            sandboxConfig
	room           *room // with -room
	service        serviceFlags
	flags          *flag.FlagSet // kept to log where each setting came from
}

func (c *SandboxCommand) flagSet() *flag.FlagSet {
	d := sandbox.Defaults()
	fs := flag.NewFlagSet("sandbox", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.StringVar(&c.cfg.DataDir, "data", d.Dir, "data directory: the ledger in DATA/ledger, each bank in DATA/<bank>, the demo's room in DATA/demo")
	fs.IntVar(&c.cfg.Banks, "banks", d.Banks, "intermediaries to run")
	fs.Int64Var(&c.cfg.Float, "float", d.Float, "yen issued to each intermediary when it is first opened")
	fs.DurationVar(&c.cfg.Every, "every", 5*time.Second, "how often to print the money by tier")
	fs.StringVar(&c.cfg.Listen, "listen", d.Listen, "the first bank's address; the others take the next ports (port 0: any free ports)")
	fs.StringVar(&c.cfg.Origins, "origins", "", "comma-separated browser origins allowed to open wallet sessions, besides a bank's own reached by IP address or localhost (its wallet app)")
	fs.StringVar(&c.cfg.Demo, "demo", "127.0.0.1:7500", "address of the demo page (empty: no demo page)")
	fs.IntVar(&c.cfg.Replicas, "replicas", 1, fmt.Sprintf("run the central ledger as this many replicas kept in step by Raft (%d to %d), in this process, each in DATA/replica-N, the banks failing over between them and the demo showing them; 1: one lone ledger in DATA/ledger",
		sandbox.MinReplicas, sandbox.MaxReplicas))
	fs.BoolVar(&c.cfg.Room, "room", false, "serve the banks, their wallet app for phones (/wallet/) and the demo over HTTPS on this machine's LAN address, for a room to join; certificates are made once in DATA/room-certs, and the demo's /join page shows phones how to trust them")
	fs.StringVar(&c.cfg.RoomHost, "room-host", "", "with -room, the address phones reach this machine at (default: its first LAN address)")
	c.cfg.Offline.register(fs)
	c.service.register(fs, slog.LevelWarn)
	return fs
}

// ParseFlags reads the settings from flags, the environment and -config.
func (c *SandboxCommand) ParseFlags(args []string) error {
	c.flags = c.flagSet()
	if err := parseSettings(c.flags, "sandbox", &c.service, args); err != nil {
		return err
	}
	return c.cfg.Validate()
}

// Run opens the ledger, starts the banks and the demo page, and prints
// the money by tier until ctx ends.
func (c *SandboxCommand) Run(ctx context.Context) (err error) {
	log := c.service.logger(c.stderr)
	c.service.logSettings(log, c.flags)
	m := metrics.New()
	if c.cfg.Room {
		if c.room, err = openRoom(c.cfg.DataDir, c.cfg.RoomHost, c.stdout, c.stderr); err != nil {
			return err
		}
		c.cfg.Listen = c.room.at(c.cfg.Listen)
		if c.cfg.Demo != "" {
			c.cfg.Demo = c.room.at(c.cfg.Demo)
		}
	}
	if c.cfg.Replicas > 1 {
		return c.runReplicated(ctx, m, log)
	}
	if err := sandbox.CheckLayout(c.cfg.DataDir, 1); err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	dir := filepath.Join(c.cfg.DataDir, "ledger")
	central, err := openCentral(ctx, dir, c.cfg.Banks, c.cfg.Float, &c.cfg.Offline, m, log, c.stdout)
	if err != nil {
		return explainStorage(err, "sandbox", ledgerHolder)
	}
	defer func() {
		if cerr := central.Close(); err == nil {
			err = cerr
		}
	}()
	banks, err := sandbox.StartBanks(ctx, central, c.banksConfig(log, m))
	if err != nil {
		return explainStorage(err, "sandbox", sandboxHolder)
	}
	defer func() {
		if serr := stopBanks(banks); err == nil {
			err = serr
		}
	}()
	stopDemo, demoURL, err := startDemo(c.demoConfig(demo.Config{Ledger: central.Ledger, Offline: demo.Settling(func() *settlement.Settler { return central.Settler })}),
		banks, c.cfg.Demo, filepath.Join(c.cfg.DataDir, "demo"), c.demoTLS(), log)
	if err != nil {
		return err
	}
	defer stopDemo()
	printSandbox(c.stdout, c.cfg, dir, banks, c.demoLines(demoURL, ""))
	printTotalsEvery(ctx, c.stdout, "sandbox", c.cfg.Every, central.Ledger)
	return nil
}

// runReplicated runs the central ledger as -replicas replicas in this
// process, the banks reaching them over HTTP as separate processes
// would, and the demo showing them; the leader settles offline vouchers.
func (c *SandboxCommand) runReplicated(ctx context.Context, m *metrics.Metrics, log *slog.Logger) (err error) {
	pol, err := c.cfg.Offline.Policy()
	if err != nil {
		return err
	}
	cluster, err := sandbox.OpenCluster(ctx, sandbox.ClusterConfig{Dir: c.cfg.DataDir, Replicas: c.cfg.Replicas, Banks: c.cfg.Banks,
		Float: c.cfg.Float, Policy: pol, GuaranteeFund: c.cfg.Offline.guarantee, Window: c.cfg.Offline.window, Logger: log})
	if err != nil {
		return explainStorage(fmt.Errorf("sandbox: %w", err), "sandbox", ledgerHolder)
	}
	defer func() {
		if cerr := cluster.Close(); err == nil {
			err = cerr
		}
	}()
	sayEarlierFloat(c.stdout, cluster.EarlierFloat)
	banks, err := cluster.StartBanks(ctx, c.banksConfig(log, m))
	if err != nil {
		return explainStorage(err, "sandbox", sandboxHolder)
	}
	defer func() {
		if serr := stopBanks(banks); err == nil {
			err = serr
		}
	}()
	stopDemo, demoURL, err := startDemo(c.demoConfig(demo.Config{Ledger: cluster, Offline: demo.Settling(cluster.Settler), Replicas: cluster}),
		banks, c.cfg.Demo, filepath.Join(c.cfg.DataDir, "demo"), c.demoTLS(), log)
	if err != nil {
		return err
	}
	defer stopDemo()
	printReplicatedSandbox(c.stdout, c.cfg, cluster, banks, c.demoLines(demoURL, "; its overview shows the replicas and stops the leader"))
	printTotalsEvery(ctx, c.stdout, "sandbox", c.cfg.Every, cluster)
	return nil
}

// demoConfig adds the room, with -room, to the demo's config.
func (c *SandboxCommand) demoConfig(cfg demo.Config) demo.Config {
	if c.room != nil {
		cfg.Room = &demo.Room{CA: c.room.caPEM}
	}
	return cfg
}

// demoTLS is what the demo serves TLS with: the room's, or none.
func (c *SandboxCommand) demoTLS() *tls.Config {
	if c.room == nil {
		return nil
	}
	return c.room.tls
}

// demoLines tell where the demo is, with more said of it, and where the
// room's phones join; none without a demo.
func (c *SandboxCommand) demoLines(demoURL, more string) []string {
	if demoURL == "" {
		return nil
	}
	lines := []string{fmt.Sprintf("Demo: open %s in a browser%s", demoURL, more)}
	if c.room != nil {
		lines = append(lines, fmt.Sprintf("Room: phones on this network join at %sjoin (it shows how to trust the room's authority, %s, and each bank's wallet app as a QR code)",
			demoURL, filepath.Join(c.room.dir, caCertFile)))
	}
	return lines
}

// banksConfig is how the sandbox serves its banks, whichever ledger they
// reach.
func (c *SandboxCommand) banksConfig(log *slog.Logger, m *metrics.Metrics) sandbox.Config {
	cfg := sandbox.Config{Dir: c.cfg.DataDir, Banks: c.cfg.Banks, Listen: c.cfg.Listen,
		Origins: splitList(c.cfg.Origins), Logger: log, Metrics: m}
	if c.room != nil {
		cfg.TLS = c.room.tls
	}
	return cfg
}

// stopBanks stops every bank and returns the first error.
func stopBanks(banks []*sandbox.Bank) error {
	var first error
	for _, b := range banks {
		if err := b.Stop(); first == nil {
			first = err
		}
	}
	return first
}

// printTotalsEvery prints the money by tier every so often until ctx
// ends, then says the command is stopping.
func printTotalsEvery(ctx context.Context, w io.Writer, cmd string, every time.Duration, l interface{ Totals() ledger.Totals }) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		printTotals(w, l.Totals())
		select {
		case <-ctx.Done():
			fmt.Fprintf(w, "cbdc %s: stopping\n", cmd)
			return
		case <-tick.C:
		}
	}
}

// printSandbox prints the sandbox's banner, then more (the demo's and the
// room's lines), then how to stop it: the banner ends with that line once
// everything in it serves.
func printSandbox(w io.Writer, cfg sandboxConfig, dir string, banks []*sandbox.Bank, more []string) {
	fmt.Fprintf(w, "cbdc sandbox: the central ledger is running in %s with %d intermediaries:\n", dir, len(banks))
	for i, rb := range banks {
		fmt.Fprintf(w, "  bank-%d  wallets %s  admin %s (token in %s)\n", i+1, rb.WalletURL(), rb.AdminURL(),
			filepath.Join(cfg.DataDir, fmt.Sprintf("bank-%d", i+1), "admin.token"))
	}
	fmt.Fprintf(w, "Try: cbdc wallet new, then cbdc wallet register -bank %s -name NAME -person ID\n", banks[0].WalletURL())
	fmt.Fprintf(w, "Offline: cbdc wallet purse-provision, purse-fund, purse-request, purse-pay, purse-accept, purse-sync (policy: %s)\n", cfg.Offline.summary())
	for _, l := range more {
		fmt.Fprintln(w, l)
	}
	fmt.Fprintf(w, "Press Ctrl-C to stop; then 'cbdc audit %s' checks the journal.\n", cfg.DataDir)
}

// printReplicatedSandbox is printSandbox for a sandbox of replicas.
func printReplicatedSandbox(w io.Writer, cfg sandboxConfig, cluster *sandbox.Cluster, banks []*sandbox.Bank, more []string) {
	reps := cluster.Replicas()
	fmt.Fprintf(w, "cbdc sandbox: the central ledger is running as %d replicas kept in step by Raft, with %d intermediaries:\n", len(reps), len(banks))
	var dirs []string
	for i, r := range reps {
		dir := sandbox.ReplicaDir(cfg.DataDir, i+1)
		dirs = append(dirs, dir)
		fmt.Fprintf(w, "  %s  %s  raft %s  data %s\n", r.ID, r.URL, r.Raft, dir)
	}
	for i, rb := range banks {
		fmt.Fprintf(w, "  bank-%d  wallets %s  admin %s (token in %s)\n", i+1, rb.WalletURL(), rb.AdminURL(),
			filepath.Join(cfg.DataDir, fmt.Sprintf("bank-%d", i+1), "admin.token"))
	}
	fmt.Fprintf(w, "Try: cbdc wallet new, then cbdc wallet register -bank %s -name NAME -person ID\n", banks[0].WalletURL())
	fmt.Fprintf(w, "Offline: the leader settles purses' vouchers (policy: %s)\n", cfg.Offline.summary())
	for _, l := range more {
		fmt.Fprintln(w, l)
	}
	fmt.Fprintf(w, "Press Ctrl-C to stop; then 'cbdc audit %s' checks the journals and compares their heads.\n", strings.Join(dirs, " "))
}

func printTotals(w io.Writer, t ledger.Totals) {
	fmt.Fprintf(w, "seq %d  circulation %d yen = intermediaries %d + wallets %d + offline escrow %d + guarantee fund %d\n",
		t.Seq, t.Circulation, t.Intermediaries, t.Wallets, t.Escrow, t.Loss)
}

// startDemo serves the demo page at addr, showing the ledger (and
// settlement, and replicas) cfg names; an empty addr serves none. The
// demo keeps its room (wallets, keys, purses) in dir.
func startDemo(cfg demo.Config, banks []*sandbox.Bank, addr, dir string, tlsCfg *tls.Config, log *slog.Logger) (stop func(), url string, err error) {
	if addr == "" {
		return func() {}, "", nil
	}
	cfg.Log, cfg.Dir = log, dir
	for _, rb := range banks {
		cfg.Banks = append(cfg.Banks, demo.Bank{Bank: rb.Bank, WalletURL: rb.WalletURL(), Phones: rb.AppWallets})
	}
	d, err := demo.New(cfg)
	if err != nil {
		return nil, "", err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		d.Close()
		return nil, "", fmt.Errorf("sandbox: demo page: listen on %s: %w", addr, err)
	}
	scheme := "http://"
	if tlsCfg != nil {
		ln, scheme = tls.NewListener(ln, tlsCfg), "https://"
	}
	srv := &http.Server{Handler: d.Handler(), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)} // failed handshakes, such as plain HTTP to the room's TLS
	go srv.Serve(ln)
	stop = func() {
		// Stop taking requests and let those under way finish before the demo closes.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			srv.Close()
		}
		d.Close()
	}
	return stop, scheme + ln.Addr().String() + "/", nil
}
