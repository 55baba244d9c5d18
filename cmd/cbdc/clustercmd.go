package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/digital-yen/cbdc-sandbox/demo"
	"github.com/digital-yen/cbdc-sandbox/sandbox"
)

// clusterConfig is `cbdc cluster`'s settings.
type clusterConfig struct {
	DataDir  string
	Replicas int
	Banks    int
	Float    int64
	Ledger   string // the replicas' HTTP addresses: the first (the others take the next ports) or one per replica
	Raft     string // their Raft addresses, likewise
	Listen   string // the first bank's address; the others take the next ports
	Demo     string // the demo page's address; "" for none
	Origins  string
	Every    time.Duration
}

func (c clusterConfig) Validate() error {
	if c.Replicas < sandbox.MinReplicas || c.Replicas > sandbox.MaxReplicas {
		return fmt.Errorf("cluster: -replicas must be %d to %d, got %d", sandbox.MinReplicas, sandbox.MaxReplicas, c.Replicas)
	}
	if c.Every <= 0 {
		return fmt.Errorf("cluster: -every must be positive, got %s", c.Every)
	}
	if _, err := addressList("-ledger", c.Ledger, c.Replicas); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	if _, err := addressList("-raft", c.Raft, c.Replicas); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	return checkLedgerFlags("cluster", c.DataDir, 1, c.Banks, c.Float, c.Listen)
}

// addressList is n addresses from flag value v: one per replica,
// comma-separated, or the first, the others taking the ports after it.
func addressList(name, v string, n int) ([]string, error) {
	list := splitList(v)
	if len(list) == n {
		for _, a := range list {
			if _, _, err := net.SplitHostPort(a); err != nil {
				return nil, fmt.Errorf("%s: %q is not host:port", name, a)
			}
		}
		return list, nil
	}
	if len(list) != 1 {
		return nil, fmt.Errorf("%s takes one host:port (the others take the next ports) or %d, one per replica; got %d", name, n, len(list))
	}
	host, port, err := net.SplitHostPort(list[0])
	p, perr := strconv.Atoi(port)
	switch {
	case err != nil || perr != nil || p <= 0:
		return nil, fmt.Errorf("%s: %q is not host:port with a port from 1 on", name, list[0])
	case p+n-1 > 65535:
		return nil, fmt.Errorf("%s: %d replicas from port %d would run past port 65535; give a lower first port, or one address per replica", name, n, p)
	}
	out := make([]string, n)
	for i := range out {
		out[i] = net.JoinHostPort(host, strconv.Itoa(p+i))
	}
	return out, nil
}

// runCluster is `cbdc cluster`.
func runCluster(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runCommand(ctx, &ClusterCommand{stdout: stdout, stderr: stderr}, args)
}

// ClusterCommand runs the central ledger as replica processes (cbdc
// ledger -replica, started from this binary), and the banks and the demo
// in this process, reaching the replicas over HTTP as they would from
// other machines. The demo's stop control kills the leader's process.
type ClusterCommand struct {
	stdout, stderr io.Writer
	cfg            clusterConfig
	service        serviceFlags
	flags          *flag.FlagSet
}

func (c *ClusterCommand) flagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.StringVar(&c.cfg.DataDir, "data", "data/cluster", "data directory: replica N in DATA/replica-N (its log in DATA/replica-N.log), the shared credentials in DATA/credentials, each bank in DATA/<bank>, the demo's room in DATA/demo")
	fs.IntVar(&c.cfg.Replicas, "replicas", 3, fmt.Sprintf("replica processes of the central ledger (%d to %d)", sandbox.MinReplicas, sandbox.MaxReplicas))
	fs.IntVar(&c.cfg.Banks, "banks", 2, "intermediaries to run")
	fs.Int64Var(&c.cfg.Float, "float", 100_000_000, "yen issued to each intermediary when it is first opened")
	fs.StringVar(&c.cfg.Ledger, "ledger", "127.0.0.1:7601", "the replicas' HTTP addresses: the first, the others taking the next ports, or one per replica, comma-separated")
	fs.StringVar(&c.cfg.Raft, "raft", "127.0.0.1:7611", "the replicas' Raft addresses, likewise")
	fs.StringVar(&c.cfg.Listen, "listen", "127.0.0.1:7501", "the first bank's address; the others take the next ports (port 0: any free ports)")
	fs.StringVar(&c.cfg.Demo, "demo", "127.0.0.1:7500", "address of the demo page (empty: no demo page)")
	fs.StringVar(&c.cfg.Origins, "origins", "", "comma-separated browser origins allowed to open wallet sessions, besides a bank's own reached by IP address or localhost (its wallet app)")
	fs.DurationVar(&c.cfg.Every, "every", 5*time.Second, "how often to print the money by tier")
	c.service.register(fs, slog.LevelWarn)
	return fs
}

// ParseFlags reads the settings from flags, the environment and -config.
func (c *ClusterCommand) ParseFlags(args []string) error {
	c.flags = c.flagSet()
	if err := parseSettings(c.flags, "cluster", &c.service, args); err != nil {
		return err
	}
	return c.cfg.Validate()
}

// Run starts the replicas, then the banks once a leader has opened their
// accounts, then the demo, and stops them all when ctx ends.
func (c *ClusterCommand) Run(ctx context.Context) (err error) {
	log := c.service.logger(c.stderr)
	c.service.logSettings(log, c.flags)
	if err := checkClusterLayout(c.cfg.DataDir); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("cluster: find this program to start the replicas with: %w", err)
	}
	credentials := filepath.Join(c.cfg.DataDir, "credentials")
	if err := os.MkdirAll(credentials, 0o700); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	// Made before the replicas start, so they all read the same one.
	token, err := operatorToken(credentials)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	httpAddrs, _ := addressList("-ledger", c.cfg.Ledger, c.cfg.Replicas)
	raftAddrs, _ := addressList("-raft", c.cfg.Raft, c.cfg.Replicas)
	sup := newReplicaSupervisor(exe, c.cfg, credentials, httpAddrs, raftAddrs, token, log)
	defer func() { err = errors.Join(err, sup.Close()) }()
	if err := sup.startAll(ctx); err != nil {
		return stopping(ctx, c.stdout, "cluster", err)
	}
	cfg := sandbox.Config{Dir: c.cfg.DataDir, Banks: c.cfg.Banks, Listen: c.cfg.Listen, Origins: splitList(c.cfg.Origins), Logger: log}
	banks, err := startBanksWhenOpen(ctx, sup, credentials, cfg)
	if err != nil {
		return stopping(ctx, c.stdout, "cluster", err)
	}
	defer func() { err = errors.Join(err, stopBanks(banks)) }()
	remote := demo.NewRemoteLedger(ctx, sup.op, log)
	stopDemo, demoURL, err := startDemo(demo.Config{Ledger: remote, Offline: remote, Replicas: sup},
		banks, c.cfg.Demo, filepath.Join(c.cfg.DataDir, "demo"), nil, log)
	if err != nil {
		return err
	}
	defer stopDemo()
	c.printBanner(sup, banks, demoURL)
	printTotalsEvery(ctx, c.stdout, "cluster", c.cfg.Every, remote)
	return nil
}

// checkClusterLayout refuses a directory that holds a sandbox's ledger,
// lone or replicated in one process: its banks' books follow that
// ledger's journal.
func checkClusterLayout(dir string) error {
	for _, name := range []string{"ledger", sandbox.ReplicasFile} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return fmt.Errorf("cluster: %s holds the central ledger of a cbdc sandbox (%s), whose journal its banks' books follow: use another data directory",
				dir, filepath.Join(dir, name))
		}
	}
	return nil
}

// startBanksWhenOpen starts the banks once the replicas have a leader
// that has opened their accounts, asking again for a minute.
func startBanksWhenOpen(ctx context.Context, sup *replicaSupervisor, credentials string, cfg sandbox.Config) ([]*sandbox.Bank, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		var err error
		if t, terr := sup.op.Totals(ctx); terr != nil {
			err = terr
		} else if t.Accounts < cfg.Banks+1 {
			err = fmt.Errorf("the leader has opened %d of the %d banks' accounts", max(t.Accounts-1, 0), cfg.Banks)
		} else {
			var banks []*sandbox.Bank
			if banks, err = sandbox.StartBanksAt(ctx, sup.urls(), credentials, cfg); err == nil {
				return banks, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("cluster: the banks did not start within a minute: %w", err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (c *ClusterCommand) printBanner(sup *replicaSupervisor, banks []*sandbox.Bank, demoURL string) {
	w := c.stdout
	fmt.Fprintf(w, "cbdc cluster: the central ledger is running as %d replica processes kept in step by Raft, with %d intermediaries in this process:\n", len(sup.nodes), len(banks))
	for _, n := range sup.nodes {
		fmt.Fprintf(w, "  %s  pid %d  http://%s  raft %s  data %s  log %s\n", n.id, n.pid(), n.http, n.raft, n.dir, n.logPath)
	}
	for i, rb := range banks {
		fmt.Fprintf(w, "  bank-%d  wallets %s  admin %s (token in %s)\n", i+1, rb.WalletURL(), rb.AdminURL(),
			filepath.Join(c.cfg.DataDir, fmt.Sprintf("bank-%d", i+1), "admin.token"))
	}
	fmt.Fprintf(w, "Operator: cbdc replicas -ledger %s -token %s list\n", sup.urls(), filepath.Join(sup.credentials, OperatorTokenFile))
	if demoURL != "" {
		fmt.Fprintf(w, "Demo: open %s in a browser; its overview shows the replicas and stops the leader's process\n", demoURL)
	}
	var dirs []string
	for _, n := range sup.nodes {
		dirs = append(dirs, n.dir)
	}
	fmt.Fprintf(w, "Press Ctrl-C to stop; then 'cbdc audit %s' checks the journals and compares their heads.\n", strings.Join(dirs, " "))
}
