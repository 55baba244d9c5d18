package main

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/ledger/replica"
	"github.com/digital-yen/cbdc-sandbox/ledger/settlement"
	"github.com/digital-yen/cbdc-sandbox/ledgerhttp"
	"github.com/digital-yen/cbdc-sandbox/metrics"
	"github.com/digital-yen/cbdc-sandbox/sandbox"
)

// replicaFlags make `cbdc ledger` one replica of a replicated ledger.
type replicaFlags struct {
	ID    string
	Raft  string
	Peers string
	Join  bool

	peers []replica.Peer // Peers, parsed by check
}

func (r *replicaFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&r.ID, "replica", "", "run as this replica of a replicated ledger (such as ledger-1); needs -raft and -peers")
	fs.StringVar(&r.Raft, "raft", "", "address the replica's Raft transport listens on (host:port)")
	fs.StringVar(&r.Peers, "peers", "", "every replica of the group, this one too, as id=host:port of its Raft transport, comma-separated")
	fs.BoolVar(&r.Join, "join", false, "start as a new replica of a running group, without -peers, and wait for the operator to add it (cbdc replicas add)")
}

func (r *replicaFlags) on() bool { return r.ID != "" }

// check parses -peers and says what is missing or wrong.
func (r *replicaFlags) check() error {
	if !r.on() {
		if r.Raft != "" || r.Peers != "" || r.Join {
			return fmt.Errorf("ledger: -raft, -peers and -join go with -replica, which names this replica")
		}
		return nil
	}
	if _, _, err := net.SplitHostPort(r.Raft); err != nil {
		return fmt.Errorf("ledger: -raft must be host:port, got %q", r.Raft)
	}
	r.peers = nil
	if r.Join {
		if r.Peers != "" {
			return fmt.Errorf("ledger: -join starts a replica outside the group, which its leader adds: leave out -peers")
		}
		return nil
	}
	self := false
	for _, p := range strings.Split(r.Peers, ",") {
		id, addr, ok := strings.Cut(strings.TrimSpace(p), "=")
		if _, _, err := net.SplitHostPort(addr); !ok || id == "" || err != nil {
			return fmt.Errorf("ledger: -peers must list id=host:port, comma-separated; %q is not one", p)
		}
		r.peers = append(r.peers, replica.Peer{ID: id, Addr: addr})
		if id == r.ID && addr != r.Raft {
			return fmt.Errorf("ledger: -peers gives %s the Raft address %s, but -raft says %s", id, addr, r.Raft)
		}
		self = self || id == r.ID
	}
	if !self {
		return fmt.Errorf("ledger: -peers must include this replica, %q", r.ID)
	}
	return nil
}

// runReplica serves the banks as one replica of a replicated ledger. The
// journal and the settlement index are replicated; the leader settles
// offline vouchers with the root key in the credentials directory, which
// every replica shares. Whichever replica leads opens the banks and
// issues their first float, under fixed operation ids.
func (c *LedgerCommand) runReplica(ctx context.Context, tlsCfg *tls.Config, log *slog.Logger) (err error) {
	if err := c.cfg.Replica.check(); err != nil { // Validate checked a copy
		return err
	}
	m := metrics.New()
	pol, err := c.cfg.Offline.Policy()
	if err != nil {
		return err
	}
	off := &replica.Offline{RootKey: filepath.Join(c.cfg.credentials(), settlement.RootKeyFile),
		Settlement: settlement.Config{Policy: pol, GuaranteeFund: c.cfg.Offline.guarantee, Logger: log}}
	r, err := replica.Open(replica.Config{ID: c.cfg.Replica.ID, Dir: c.cfg.DataDir, Bind: c.cfg.Replica.Raft, Peers: c.cfg.Replica.peers, Join: c.cfg.Replica.Join,
		Ledger: ledger.Options{Logger: log, OnCommit: m.OnCommit}, Offline: off, Logger: log})
	if err != nil {
		return explainStorage(err, "ledger", ledgerHolder)
	}
	defer func() {
		if cerr := r.Close(); err == nil {
			err = cerr
		}
	}()
	m.WatchLedger(r.Ledger())
	m.WatchReplica(r)
	m.WatchSettlers(r.Settler)
	leaderWork, stopLeaderWork := context.WithCancel(ctx)
	defer stopLeaderWork()
	creds, err := bankCredentials(c.cfg)
	if err != nil {
		return err
	}
	go seedWhenLeading(leaderWork, r.Ledger(), c.cfg.Banks, c.cfg.Float, creds, log)
	go sandbox.CloseWindows(leaderWork, r.Settler, c.cfg.Offline.window, log)
	return c.serveLedger(ctx, r.Ledger(), ledgerhttp.ServerOptions{Logger: log, Replica: r, Offline: r.Settler,
		Members: sandbox.Membership(r)}, m, tlsCfg, log)
}

// seedWhenLeading opens the banks and their first float once this replica
// leads, and registers their keys in the group's registry; the ids are
// fixed and a registration of the same key changes nothing, so it is done
// once whichever replica does it.
func seedWhenLeading(ctx context.Context, l *ledger.Ledger, banks int, float int64, keys map[ledger.AccountID]ed25519.PublicKey, log *slog.Logger) {
	for ctx.Err() == nil {
		if l.Leading() {
			err := seed(ctx, l, banks, float, keys)
			if err == nil {
				return
			}
			log.Warn("opening the banks at the ledger; trying again", "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func seed(ctx context.Context, l *ledger.Ledger, banks int, float int64, keys map[ledger.AccountID]ed25519.PublicKey) error {
	if _, err := sandbox.SeedBanks(ctx, l, banks, float); err != nil {
		return err
	}
	for _, id := range slices.Sorted(maps.Keys(keys)) {
		if err := l.RegisterKey(ctx, id, keys[id]); err != nil {
			return fmt.Errorf("register %s's key: %w", id, err)
		}
	}
	return nil
}

// bankCredentials reads (or makes) every bank's credential in the
// credentials directory and returns their public keys.
func bankCredentials(cfg ledgerConfig) (map[ledger.AccountID]ed25519.PublicKey, error) {
	out := map[ledger.AccountID]ed25519.PublicKey{}
	for i := 1; i <= cfg.Banks; i++ {
		id := sandbox.BankID(i)
		key, err := sandbox.LoadOrCreateBankKey(filepath.Join(cfg.credentials(), string(id)+".key"))
		if err != nil {
			return nil, err
		}
		out[id] = key.Public().(ed25519.PublicKey)
	}
	return out, nil
}
