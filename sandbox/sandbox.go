package sandbox

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/digital-yen/cbdc-sandbox/intermediary"
	"github.com/digital-yen/cbdc-sandbox/ledger"
	"github.com/digital-yen/cbdc-sandbox/ledgerhttp"
	"github.com/digital-yen/cbdc-sandbox/metrics"
	"github.com/digital-yen/cbdc-sandbox/offline"
)

// DefaultListen is the first bank's address; the others take the ports
// after it.
const DefaultListen = "127.0.0.1:7501"

// Config is a whole sandbox in one process.
type Config struct {
	// Dir holds the ledger in Dir/ledger, each bank in Dir/bank-N (its
	// bank.db, admin.token and offline.key) and the key the banks derive
	// holder tokens with in Dir/holder.key.
	Dir   string
	Banks int
	Float int64

	Policy        offline.Policy
	GuaranteeFund int64
	Window        time.Duration
	Now           func() time.Time // offline settlement's clock; time.Now when nil

	// Listen is the first bank's address; the others take the ports after
	// it, or any free ports when its port is 0.
	Listen  string
	TLS     *tls.Config
	Origins []string
	Rate    float64 // instructions a second a wallet may send; the bank's default when 0
	Burst   int

	Logger  *slog.Logger
	Metrics *metrics.Metrics
}

// Defaults are the sandbox `cbdc sandbox` runs when no flag says otherwise.
func Defaults() Config {
	return Config{Dir: "data", Banks: DefaultBanks, Float: DefaultFloat, Policy: offline.DefaultPolicy(), Window: DefaultWindow, Listen: DefaultListen}
}

// BankListen is the address of bank i (1-based).
func (c Config) BankListen(i int) string {
	host, port, _ := net.SplitHostPort(c.Listen)
	p, _ := strconv.Atoi(port)
	if p == 0 {
		return net.JoinHostPort(host, "0")
	}
	return net.JoinHostPort(host, strconv.Itoa(p+i-1))
}

// Sandbox is the central ledger, its offline settlement and its banks,
// running in this process.
type Sandbox struct {
	*Central
	Banks []*Bank
}

// Open starts the sandbox: the central ledger with its banks seeded, then
// each bank serving on its address. What it started is stopped again when
// a later step fails.
func Open(ctx context.Context, cfg Config) (_ *Sandbox, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	central, err := OpenCentral(ctx, CentralConfig{Dir: filepath.Join(cfg.Dir, "ledger"), Banks: cfg.Banks, Float: cfg.Float,
		Policy: cfg.Policy, GuaranteeFund: cfg.GuaranteeFund, Window: cfg.Window, Now: cfg.Now, Logger: cfg.Logger, Metrics: cfg.Metrics})
	if err != nil {
		return nil, err
	}
	s := &Sandbox{Central: central}
	if s.Banks, err = StartBanks(ctx, central, cfg); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	return s, nil
}

// StartBanks starts the sandbox's banks against the central ledger in
// this process. What it started is stopped again when a later bank fails.
func StartBanks(ctx context.Context, central *Central, cfg Config) ([]*Bank, error) {
	return startBanks(ctx, cfg, func(id ledger.AccountID, dir string) (bankLedger, error) {
		offlineKey, err := LoadOrCreateBankKey(filepath.Join(dir, "offline.key"))
		return bankLedger{central.Ledger.Intermediary(id), central.Settler.ForBank(id), offlineKey}, err
	})
}

// bankLedger is how one bank reaches the central ledger: its operations,
// offline settlement, and the key the bank certifies purses with.
type bankLedger struct {
	ledger     intermediary.Ledger
	offline    intermediary.Offline
	offlineKey ed25519.PrivateKey
}

// startBanks starts bank-1 … bank-N, each reaching the ledger as reach
// says; it stops what it started when a later bank fails.
func startBanks(ctx context.Context, cfg Config, reach func(id ledger.AccountID, dir string) (bankLedger, error)) (banks []*Bank, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	defer func() {
		if err != nil {
			for _, b := range banks {
				err = errors.Join(err, b.Stop())
			}
			banks = nil
		}
	}()
	holderKey, err := LoadHolderKey(filepath.Join(cfg.Dir, "holder.key"))
	if err != nil {
		return nil, err
	}
	sigs := intermediary.NewSignatureChecker()
	for i := 1; i <= cfg.Banks; i++ {
		id := BankID(i)
		dir := filepath.Join(cfg.Dir, string(id))
		bl, err := reach(id, dir)
		if err != nil {
			return banks, err
		}
		b, err := StartBank(ctx, BankConfig{ID: id, Ledger: bl.ledger, DataDir: dir, HolderKey: holderKey,
			Offline: bl.offline, OfflineKey: bl.offlineKey, Listen: cfg.BankListen(i), TLS: cfg.TLS,
			Origins: cfg.Origins, Rate: cfg.Rate, Burst: cfg.Burst, SignatureChecker: sigs, Logger: cfg.Logger, Metrics: cfg.Metrics})
		if err != nil {
			return banks, err
		}
		banks = append(banks, b)
	}
	return banks, nil
}

// Close stops the banks, then settlement and the ledger.
func (s *Sandbox) Close() error {
	var errs []error
	for _, b := range s.Banks {
		errs = append(errs, b.Stop())
	}
	errs = append(errs, s.Central.Close())
	return errors.Join(errs...)
}

// StartBanksAt starts the sandbox's banks against a central ledger in
// other processes, at the comma-separated URLs of its replicas (one for a
// lone ledger), each signing in with its key from the ledger's
// credentials directory (bank-N.key) as `cbdc bank` would, offline
// settlement included.
func StartBanksAt(ctx context.Context, urls, credentials string, cfg Config) ([]*Bank, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return startBanksThroughElections(ctx, cfg, func(id ledger.AccountID, _ string) (bankLedger, error) {
		key, err := ReadBankKey(filepath.Join(credentials, string(id)+".key"))
		if err != nil {
			return bankLedger{}, err
		}
		client := ledgerhttp.NewClientWith(urls, id, key, ledgerhttp.ClientOptions{Logger: log.With("bank", string(id))})
		// The ledger certifies the key a bank signs in with, and no other.
		return bankLedger{ledger: client, offline: client, offlineKey: key}, nil
	})
}
